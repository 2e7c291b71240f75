package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/version"
)

// NewCmdRoot builds the elevate command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "elevate",
		Short: "Temporary elevated access to AWS, run as GitOps",
		Long: "elevate opens access requests as pull requests, and fetches AWS credentials for the ones\n" +
			"that were approved and merged.\n\n" +
			"Configuration: ELEVATE_BROKER_URL (the broker), ELEVATE_REPO (owner/name; default: the origin\n" +
			"of the checkout you are in), GITHUB_API_URL (GitHub Enterprise). The broker accepts only the\n" +
			"token `elevate login` stores; GH_TOKEN or GITHUB_TOKEN, when set, serve elevate's own GitHub\n" +
			"calls only.",
		SilenceUsage:               true,
		SilenceErrors:              true,
		DisableSuggestions:         true, // Main suggests, on one line
		SuggestionsMinimumDistance: 2,
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &FlagError{Err: err} })
	root.AddCommand(
		NewCmdRequest(f, nil),
		NewCmdStatus(f, nil),
		NewCmdCredentials(f, nil),
		NewCmdConsole(f, nil),
		NewCmdRevoke(f, nil),
		NewCmdPolicy(f, nil),
		NewCmdAudit(f, nil),
		NewCmdLogin(f, nil),
		NewCmdExtend(f, nil),
		NewCmdConfigure(f, nil),
		NewCmdVersion(f, nil),
		NewCmdInit(f, nil),
		NewCmdActivity(f, nil),
	)
	root.Version = version.Read().String("elevate")
	root.SetVersionTemplate("{{.Version}}\n")
	return root
}

// Main runs the CLI with args and returns the exit code; errors are printed
// as one line that says what happened and what to do next.
func Main(ctx context.Context, f *Factory, args []string) int {
	root := NewCmdRoot(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if !errors.Is(err, SilentError) {
		var fe *FlagError
		if errors.As(err, &fe) || isCobraUsage(err) {
			if cmd == nil {
				cmd = root
			}
			msg := err.Error()
			if strings.HasPrefix(msg, "unknown command") {
				msg = unknownCommand(root, args)
			}
			fmt.Fprintf(f.IO.ErrOut, "elevate: %s\nRun '%s --help' for usage.\n", msg, cmd.CommandPath())
			return ExitUsage
		}
		fmt.Fprintf(f.IO.ErrOut, "elevate: %s\n", describe(err))
	}
	return ExitCode(err)
}

// unknownCommand is one line for a first argument that names no command,
// with the nearest commands when there are some.
func unknownCommand(root *cobra.Command, args []string) string {
	name := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			name = a
			break
		}
	}
	msg := fmt.Sprintf("%q is not an elevate command", name)
	if s := root.SuggestionsFor(name); len(s) > 0 {
		msg += ": did you mean " + strings.Join(s, " or ") + "?"
	}
	return msg
}

// noArgs is the Args of commands that take flags only.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return flagErrorf("%s takes flags only, not %q", cmd.Name(), args[0])
	}
	return nil
}

// oneID is the Args of commands that take one request id; usage is how to
// call the command.
func oneID(usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return flagErrorf("%s takes one request id: %s", cmd.Name(), usage)
		}
		return nil
	}
}

// isCobraUsage recognises cobra's own argument errors (unknown command, arg counts).
func isCobraUsage(err error) bool {
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "unknown shorthand"} {
		if strings.Contains(err.Error(), p) {
			return true
		}
	}
	return false
}
