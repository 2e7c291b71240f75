// Command elevate-broker is the federation endpoint: it issues AWS
// credentials for merged, approved, unexpired grants. Logic lives in
// internal/broker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "elevate-broker:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	if slices.Contains(os.Args[1:], "--version") || slices.Contains(os.Args[1:], "-version") {
		fmt.Println(version.Read().String("elevate-broker"))
		return nil
	}
	cfg, err := broker.ParseConfig(os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	return broker.Run(ctx, cfg, logger, os.Getenv)
}
