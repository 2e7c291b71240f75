package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/request"
)

// RevokeOptions are the inputs of `elevate revoke`.
type RevokeOptions struct {
	IO     IOStreams
	Repo   func(context.Context) (*githubapi.Repo, error)
	Broker func(context.Context) (*brokerClient, error) // completes a suffix of an id
	ID     string
	Reason string
}

// NewCmdRevoke builds `elevate revoke`.
func NewCmdRevoke(f *Factory, runF func(context.Context, *RevokeOptions) error) *cobra.Command {
	opts := &RevokeOptions{IO: f.IO, Repo: f.Repo, Broker: f.broker}
	cmd := &cobra.Command{
		Use:   "revoke ID [--reason \"…\"]",
		Short: "End a grant early: opens the pull request that deletes its request file",
		Long: "Opens a pull request that deletes the request file. Its requester or any of its code owners\n" +
			"may open it and it needs no approval; once merged, the broker refuses new credentials.",
		Example: "  elevate revoke prod/2026-11/alice-admin-inc4821 --reason \"done\"\n  elevate revoke alice-admin-inc4821",
		Args:    oneID("elevate revoke ID [--reason \"…\"]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = strings.TrimSuffix(strings.TrimPrefix(args[0], "requests/"), ".yaml")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return revokeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Reason, "reason", "", "why the grant ends early")
	return cmd
}

// resolveID turns a suffix into a full id through the caller's grants.
func resolveID(ctx context.Context, broker func(context.Context) (*brokerClient, error), id string) (string, error) {
	if strings.Count(id, "/") == 2 {
		return id, nil
	}
	b, err := broker(ctx)
	if err != nil {
		return "", fmt.Errorf("%q is not a full request id (account/yyyy-mm/name), and the broker that could complete it is not configured: %w", id, err)
	}
	var got brokerapi.Grants
	if err := b.do(ctx, "GET", brokerapi.PathGrants, nil, &got); err != nil {
		return "", err
	}
	var matches []string
	for _, g := range got.Grants {
		if g.ID == id || strings.HasSuffix(g.ID, "/"+id) {
			matches = append(matches, g.ID)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", fmt.Errorf("none of your grants is %q: give the full id (account/yyyy-mm/name); elevate status lists them", id)
	}
	return "", fmt.Errorf("%q could be %s: give the full id", id, strings.Join(matches, ", "))
}

func revokeRun(ctx context.Context, opts *RevokeOptions) error {
	id, err := resolveID(ctx, opts.Broker, opts.ID)
	if err != nil {
		return err
	}
	path := "requests/" + id + ".yaml"
	p, err := request.ParsePath(path)
	if err != nil {
		return err
	}
	repo, err := opts.Repo(ctx)
	if err != nil {
		return err
	}
	base, baseSHA, err := repo.DefaultBranch(ctx)
	if err != nil {
		return err
	}
	content, err := optionalFile(ctx, repo, path, baseSHA, request.MaxSize)
	if err != nil {
		return err
	}
	if content == nil {
		return fmt.Errorf("%s is not on %s: it was never merged, or is already revoked", path, base)
	}
	branch := "elevate/revoke-" + p.Name
	if err := repo.CreateBranch(ctx, branch, baseSHA); err != nil {
		return err
	}
	title := "elevate: revoke " + id
	if err := repo.DeleteFile(ctx, branch, path, title, content); err != nil {
		return err
	}
	body := "Revokes `" + id + "`."
	if opts.Reason != "" {
		body += "\n\nReason: " + opts.Reason
	}
	pr, err := repo.CreatePull(ctx, branch, base, title, body)
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.Out, pr.GetHTMLURL())
	fmt.Fprintf(opts.IO.ErrOut, "Opened #%d: once merged, the broker refuses new credentials for %s.\n", pr.GetNumber(), id)
	return nil
}
