package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/githubapi"
)

// ConsoleOptions are the inputs of `elevate console`.
type ConsoleOptions struct {
	IO      IOStreams
	Broker  func(context.Context) (*brokerClient, error)
	Browser func(url string) error
	Repo    func(context.Context) (*githubapi.Repo, error) // to say what else may be requested
	Request string
	Account string
	Role    string
	Open    bool
}

// NewCmdConsole builds `elevate console`.
func NewCmdConsole(f *Factory, runF func(context.Context, *ConsoleOptions) error) *cobra.Command {
	opts := &ConsoleOptions{IO: f.IO, Broker: f.broker, Browser: f.Browser, Repo: f.Repo}
	cmd := &cobra.Command{
		Use:     "console (--request ID | --account A --role R) [--open]",
		Short:   "Print (or open) an AWS console sign-in URL for an active grant",
		Example: "  elevate console --account prod --role Admin --open",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := grantFlags(opts.Request, opts.Account, opts.Role); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return consoleRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Request, "request", "", "request id, or an unambiguous suffix of it")
	cmd.Flags().StringVar(&opts.Account, "account", "", "account name (with --role)")
	cmd.Flags().StringVar(&opts.Role, "role", "", "role name (with --account)")
	cmd.Flags().BoolVar(&opts.Open, "open", false, "open the URL in your browser")
	return cmd
}

func consoleRun(ctx context.Context, opts *ConsoleOptions) error {
	b, err := opts.Broker(ctx)
	if err != nil {
		return err
	}
	var got brokerapi.Console
	if err := b.do(ctx, "POST", brokerapi.PathConsole, brokerapi.GrantRequest{Request: opts.Request, Account: opts.Account, Role: opts.Role}, &got); err != nil {
		return whatMayBeRequested(ctx, opts.Repo, err, opts.Account, opts.Role, opts.Request)
	}
	if opts.Open {
		if err := opts.Browser(got.URL); err == nil {
			fmt.Fprintln(opts.IO.ErrOut, "Opened the AWS console in your browser (the link works once, for 15 minutes).")
			return nil
		} else {
			fmt.Fprintf(opts.IO.ErrOut, "elevate: %v\n", err)
		}
	}
	_, err = fmt.Fprintln(opts.IO.Out, got.URL)
	return err
}
