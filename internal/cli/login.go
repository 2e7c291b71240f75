package cli

import (
	"context"
	"fmt"
	"net/http"
	"time"

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
	Now        func() time.Time
	ClientID   string
}

// NewCmdLogin builds `elevate login`.
func NewCmdLogin(f *Factory, runF func(context.Context, *LoginOptions) error) *cobra.Command {
	opts := &LoginOptions{IO: f.IO, APIURL: f.APIURL(), HTTP: f.githubHTTP, TokenStore: f.TokenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to GitHub with the device flow and store the token the broker accepts",
		Long: "Signs in through GitHub's device flow with elevate's app, whose client id is in\n" +
			"ELEVATE_GITHUB_CLIENT_ID (GitHub Enterprise: set GITHUB_API_URL). The token is stored with mode\n" +
			"0600 in your config directory, with its refresh token when the app's tokens expire; elevate\n" +
			"renews it by itself. It is the only token the broker accepts: GH_TOKEN, GITHUB_TOKEN and\n" +
			"`gh auth token` are refused there, and serve only elevate's own GitHub calls (request,\n" +
			"revoke, extend, audit), where they take precedence over the stored token.",
		Example: "  ELEVATE_GITHUB_CLIENT_ID=Iv1.0123456789abcdef elevate login",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.ClientID == "" {
				opts.ClientID = f.Getenv("ELEVATE_GITHUB_CLIENT_ID")
			}
			if opts.ClientID == "" {
				return flagErrorf("set ELEVATE_GITHUB_CLIENT_ID to the client id of your organisation's elevate app (ask your platform team)")
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
		Prompt: ghauth.PromptTo(opts.IO.ErrOut), Now: opts.Now,
	})
	if err != nil {
		return err
	}
	gh, err := githubapi.NewClient(opts.APIURL, token.Access, hc)
	if err != nil {
		return err
	}
	me, _, err := gh.Users.Get(ctx, "")
	if err != nil {
		return fmt.Errorf("the new token does not work: %w", err)
	}
	token.UserID = me.GetID()
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
