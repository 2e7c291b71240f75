package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/codeowners"
	"github.com/elevate-gitops/elevate/internal/eligibility"
)

// PolicyLintOptions are the inputs of `elevate policy lint`.
type PolicyLintOptions struct {
	IO       IOStreams
	Checkout func(context.Context) (string, error) // the checkout around the working directory
	Dir      string                                // the checkout; "" = Checkout's
}

// NewCmdPolicy builds `elevate policy` and its `lint` subcommand.
func NewCmdPolicy(f *Factory, runF func(context.Context, *PolicyLintOptions) error) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Work with eligibility.yaml"}
	opts := &PolicyLintOptions{IO: f.IO, Checkout: f.checkout}
	lint := &cobra.Command{
		Use:   "lint",
		Short: "Check eligibility.yaml against CODEOWNERS and the requests/ folders (offline)",
		Long: "Reports unknown accounts, duplicate rule names, rules that can never be approved (no\n" +
			"code owner other than the requester) and requests/<account>/ folders without CODEOWNERS.\nExit 1 when something is wrong.",
		Example: "  elevate policy lint",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return policyLintRun(cmd.Context(), opts)
		},
	}
	lint.Flags().StringVar(&opts.Dir, "dir", "", "the access repository checkout (default: the one you are in)")
	cmd.AddCommand(lint)
	return cmd
}

func policyLintRun(ctx context.Context, opts *PolicyLintOptions) error {
	dir, data, err := checkoutPolicy(ctx, opts.Dir, opts.Checkout)
	if err != nil {
		return err
	}
	policy, err := eligibility.Parse(eligibility.File, data)
	if err != nil {
		fmt.Fprintln(opts.IO.Out, err)
		return SilentError
	}
	owners, err := codeowners.Load(ctx, func(_ context.Context, p string) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(dir, p))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, codeowners.ErrNotFound
		}
		return data, err
	})
	if err != nil {
		fmt.Fprintln(opts.IO.Out, err)
		return SilentError
	}
	var dirs []string
	entries, err := os.ReadDir(filepath.Join(dir, "requests"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	for _, w := range eligibility.Warnings(policy) {
		fmt.Fprintln(opts.IO.ErrOut, "warning:", w)
	}
	problems := eligibility.Lint(policy, owners, dirs)
	for _, p := range problems {
		fmt.Fprintln(opts.IO.Out, p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "%d problem(s)\n", len(problems))
		return SilentError
	}
	fmt.Fprintln(opts.IO.ErrOut, "eligibility.yaml: no problems")
	return nil
}

// checkoutPolicy is the access repository's checkout (dir, else the one
// checkout finds) and the eligibility.yaml in it.
func checkoutPolicy(ctx context.Context, dir string, checkout func(context.Context) (string, error)) (string, []byte, error) {
	if dir == "" {
		var err error
		if dir, err = checkout(ctx); err != nil {
			return "", nil, err
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, eligibility.File))
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", eligibility.File, err)
	}
	return dir, data, nil
}
