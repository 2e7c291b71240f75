package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/credcache"
	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/githubapi"
)

// CredentialsOptions are the inputs of `elevate credentials`.
type CredentialsOptions struct {
	IO      IOStreams
	Broker  func(context.Context) (*brokerClient, error)
	Cache   func() (*credcache.Cache, error)
	Repo    func(context.Context) (*githubapi.Repo, error) // to say what else may be requested
	Request string
	Account string
	Role    string
	Format  string // process, env, json
	NoCache bool
}

// NewCmdCredentials builds `elevate credentials`.
func NewCmdCredentials(f *Factory, runF func(context.Context, *CredentialsOptions) error) *cobra.Command {
	opts := &CredentialsOptions{IO: f.IO, Broker: f.broker, Cache: f.Cache, Repo: f.Repo}
	cmd := &cobra.Command{
		Use:   "credentials (--request ID | --account A --role R) [--format process|env|json]",
		Short: "Print AWS credentials for an active grant",
		Long: "Print AWS credentials for one of your active grants. They are cached until 5 minutes before\n" +
			"they expire, so the AWS CLI can call this as a credential_process as often as it likes.",
		Example: "  # ~/.aws/config\n  [profile prod-admin]\n  credential_process = elevate credentials --account prod --role Admin\n\n" +
			"  eval \"$(elevate credentials --request alice-admin-inc4821 --format env)\"",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := grantFlags(opts.Request, opts.Account, opts.Role); err != nil {
				return err
			}
			switch opts.Format {
			case "process", "env", "json":
			default:
				return flagErrorf("--format must be process, env or json, not %q", opts.Format)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return credentialsRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Request, "request", "", "request id, or an unambiguous suffix of it")
	cmd.Flags().StringVar(&opts.Account, "account", "", "account name (with --role)")
	cmd.Flags().StringVar(&opts.Role, "role", "", "role name (with --account)")
	cmd.Flags().StringVar(&opts.Format, "format", "process", "process (credential_process JSON), env (export lines) or json")
	cmd.Flags().BoolVar(&opts.NoCache, "no-cache", false, "always ask the broker")
	return cmd
}

// grantFlags checks --request versus --account/--role.
func grantFlags(request, account, role string) error {
	switch {
	case (account == "") != (role == ""):
		return flagErrorf("give --account and --role together (with --request, they choose one target of a grant of several)")
	case request == "" && account == "":
		return flagErrorf("give --request ID, or both --account and --role, or all three")
	}
	return nil
}

func credentialsRun(ctx context.Context, opts *CredentialsOptions) error {
	b, err := opts.Broker(ctx)
	if err != nil {
		return err
	}
	key := credcache.Key{Broker: b.url, UserHint: b.user, Request: opts.Request, Account: opts.Account, Role: opts.Role}
	var cache *credcache.Cache
	// With --no-cache the cache is not read, but what the broker says still
	// updates it: a grant it calls over is forgotten.
	if opts.Cache != nil {
		if c, err := opts.Cache(); err == nil {
			cache = c
		} else if !opts.NoCache {
			fmt.Fprintf(opts.IO.ErrOut, "elevate: credential cache unavailable (%v); asking the broker every time\n", err)
		}
	}
	if cache != nil && !opts.NoCache {
		if e, ok := cache.Get(key); ok {
			return writeCredentials(opts, e.Credentials, e.Request, e.WindowEnd)
		}
	}
	var got brokerapi.Credentials
	if err := b.do(ctx, "POST", brokerapi.PathCredentials, brokerapi.GrantRequest{Request: opts.Request, Account: opts.Account, Role: opts.Role}, &got); err != nil {
		if cache != nil && grantOver(err) {
			forget(opts.IO.ErrOut, cache, key, opts.Request)
		}
		return whatMayBeRequested(ctx, opts.Repo, err, opts.Account, opts.Role, opts.Request)
	}
	creds := awscreds.Credentials{AccessKeyID: got.AccessKeyID, SecretAccessKey: got.SecretAccessKey, SessionToken: got.SessionToken, Expiration: got.Expiration}
	if cache != nil {
		if err := cache.Put(key, credcache.Entry{Credentials: creds, Request: got.Request, WindowEnd: got.WindowEnd}); err != nil {
			fmt.Fprintf(opts.IO.ErrOut, "elevate: could not cache credentials: %v\n", err)
		}
	}
	return writeCredentials(opts, creds, got.Request, got.WindowEnd)
}

// grantOver reports whether the broker said the grant is over for good.
func grantOver(err error) bool {
	var be *BrokerError
	return errors.As(err, &be) && (be.Code == brokerapi.CodeRevoked || be.Code == brokerapi.CodeExpired)
}

// forget drops what the cache holds of a grant that is over: the entry under
// key, and, when the grant's id is known, every entry of that grant.
func forget(errOut io.Writer, cache *credcache.Cache, key credcache.Key, id string) {
	if err := cache.Delete(key); err != nil {
		fmt.Fprintf(errOut, "elevate: %v\n", err)
	}
	if _, err := cache.DropRequest(id); err != nil {
		fmt.Fprintf(errOut, "elevate: %v\n", err)
	}
}

// userHint keeps two people's cache entries apart without storing their
// token: the GitHub user the login is for, which a renewal keeps (a login
// stored before elevate recorded the user: the token itself).
func userHint(login ghauth.Token) string {
	who := login.Access
	if login.UserID != 0 {
		who = "github-user:" + strconv.FormatInt(login.UserID, 10)
	}
	sum := sha256.Sum256([]byte(who))
	return hex.EncodeToString(sum[:8])
}

// writeCredentials prints creds in the chosen format.
func writeCredentials(opts *CredentialsOptions, creds awscreds.Credentials, request string, windowEnd time.Time) error {
	out := opts.IO.Out
	var data []byte
	var err error
	switch opts.Format {
	case "env":
		_, err := fmt.Fprint(out, awscreds.EnvLines(creds))
		return err
	case "json":
		data, err = json.MarshalIndent(brokerapi.Credentials{
			Version: 1, AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken,
			Expiration: creds.Expiration.UTC(), Request: request, WindowEnd: windowEnd.UTC(),
		}, "", "  ")
	default:
		data, err = awscreds.ProcessJSON(creds)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(data))
	return err
}
