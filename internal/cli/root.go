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
			"of the checkout you are in), GITHUB_API_URL (GitHub Enterprise), GH_TOKEN or GITHUB_TOKEN\n" +
			"(or `elevate login`).",
		SilenceUsage:  true,
		SilenceErrors: true,
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
		NewCmdVersion(f, nil),
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
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if !errors.Is(err, SilentError) {
		var fe *FlagError
		if errors.As(err, &fe) || isCobraUsage(err) {
			fmt.Fprintf(f.IO.ErrOut, "elevate: %v\nRun 'elevate --help' for usage.\n", err)
			return ExitUsage
		}
		fmt.Fprintf(f.IO.ErrOut, "elevate: %v\n", err)
	}
	return ExitCode(err)
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
