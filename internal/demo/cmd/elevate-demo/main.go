// Command elevate-demo runs the local demo (make demo): the whole elevate
// story on this machine, against local stand-ins for GitHub and AWS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/elevate-gitops/elevate/internal/demo"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding elevate, elevate-action and elevate-broker")
	requireAWS := flag.Bool("require-aws-cli", false, "fail when no AWS CLI is installed")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	start := time.Now()
	err := demo.Run(ctx, demo.Options{Out: os.Stdout, BinDir: *bin, RequireAWSCLI: *requireAWS})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
	fmt.Printf("Done in %s.\n", time.Since(start).Round(100*time.Millisecond))
}
