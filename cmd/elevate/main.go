// Command elevate is the CLI for people: request access, fetch credentials,
// open the console, revoke, audit. Commands live in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/elevate-gitops/elevate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	wd, _ := os.Getwd()
	f := cli.NewFactory(cli.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Getenv, wd)
	code := cli.Main(ctx, f, os.Args[1:])
	stop()
	os.Exit(code)
}
