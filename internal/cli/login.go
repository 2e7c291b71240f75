package cli

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/githubapi"
)

// LoginOptions are the inputs of `elevate login`.
type LoginOptions struct {
	IO         IOStreams
	APIURL     string // GITHUB_API_URL; "" is github.com
	HTTP       func() *http.Client
	TokenStore func() (*ghauth.Store, error)
	ClientID   string
}

// NewCmdLogin builds `elevate login`.
func NewCmdLogin(f *Factory, runF func(context.Context, *LoginOptions) error) *cobra.Command {
	opts := &LoginOptions{IO: f.IO, APIURL: f.APIURL(), HTTP: f.githubHTTP, TokenStore: f.TokenStore}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to GitHub with the device flow and store the token for elevate",
		Long: "Signs in through GitHub's device flow with the OAuth app whose client id is in\n" +
			"ELEVATE_GITHUB_CLIENT_ID (GitHub Enterprise: set GITHUB_API_URL). The token is stored with mode\n" +
			"0600 in your config directory. GH_TOKEN or GITHUB_TOKEN, when set, take precedence.",
		Example: "  ELEVATE_GITHUB_CLIENT_ID=Iv1.0123456789abcdef elevate login",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.ClientID == "" {
				opts.ClientID = f.Getenv("ELEVATE_GITHUB_CLIENT_ID")
			}
			if opts.ClientID == "" {
				return flagErrorf("set ELEVATE_GITHUB_CLIENT_ID to your organisation's elevate OAuth app (ask your platform team), or use GH_TOKEN")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return loginRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.ClientID, "client-id", "", "OAuth app client id (default: ELEVATE_GITHUB_CLIENT_ID)")
	return cmd
}

func loginRun(ctx context.Context, opts *LoginOptions) error {
	hc := opts.HTTP()
	token, err := ghauth.DeviceLogin(ctx, ghauth.DeviceOptions{
		APIURL: opts.APIURL, ClientID: opts.ClientID, HTTPClient: hc,
		Prompt: ghauth.PromptTo(opts.IO.ErrOut),
	})
	if err != nil {
		return err
	}
	gh, err := githubapi.NewClient(opts.APIURL, token, hc)
	if err != nil {
		return err
	}
	me, _, err := gh.Users.Get(ctx, "")
	if err != nil {
		return fmt.Errorf("the new token does not work: %w", err)
	}
	host, err := ghauth.HostFor(opts.APIURL)
	if err != nil {
		return err
	}
	store, err := opts.TokenStore()
	if err != nil {
		return err
	}
	if err := store.Save(host, token); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Logged in to %s as %s.\n", host, me.GetLogin())
	return nil
}
