// Command elevate-sandbox runs the sandbox (make sandbox, make
// sandbox-stop): the demo's stand-ins for GitHub and AWS and a real broker,
// left running so that a person can try every command by hand; approve
// and merge play GitHub's buttons.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/elevate-gitops/elevate/internal/demo"
)

const usage = `usage:
  elevate-sandbox start [--dir .sandbox] [--bin bin]   start it, detached, and print what to try
  elevate-sandbox stop [--dir .sandbox]                end it
  elevate-sandbox approve N --as bob                    bob approves pull request #N
  elevate-sandbox merge N                               merge #N (the elevate check must pass)
  elevate-sandbox check N                               the elevate check of #N`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "elevate-sandbox:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("a command, please\n%s", usage)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".sandbox", "the sandbox's directory")
	bin := fs.String("bin", "bin", "directory holding elevate, elevate-action and elevate-broker")
	as := fs.String("as", "bob", "who approves")
	cmd, rest := args[0], args[1:]
	var pr string
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		pr, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	base := os.Getenv("ELEVATE_SANDBOX_URL")
	var out string
	var err error
	switch cmd {
	case "start":
		self, err := os.Executable()
		if err != nil {
			return err
		}
		return demo.StartSandbox(self, *bin, *dir, os.Stdout)
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return demo.Sandbox(ctx, demo.SandboxOptions{Out: os.Stdout, BinDir: *bin, Dir: *dir})
	case "stop":
		return demo.StopSandbox(*dir, os.Stdout)
	case "approve":
		out, err = demo.SandboxCall(base, "POST", "/approve", url.Values{"pr": {pr}, "as": {*as}})
	case "merge":
		out, err = demo.SandboxCall(base, "POST", "/merge", url.Values{"pr": {pr}})
	case "check":
		out, err = demo.SandboxCall(base, "GET", "/pulls/"+url.PathEscape(pr), nil)
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	if err != nil {
		return err
	}
	fmt.Println(out)
	return nil
}
