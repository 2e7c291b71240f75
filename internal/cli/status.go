package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/credcache"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/request"
)

// StatusOptions are the inputs of `elevate status`.
type StatusOptions struct {
	IO     IOStreams
	Now    func() time.Time
	Repo   func(context.Context) (*githubapi.Repo, error)
	Broker func(context.Context) (*brokerClient, error)
	Cache  func() (*credcache.Cache, error)
	All    bool
}

// NewCmdStatus builds `elevate status`.
func NewCmdStatus(f *Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{IO: f.IO, Now: f.Now, Repo: f.Repo, Broker: f.broker, Cache: f.Cache}
	cmd := &cobra.Command{
		Use:     "status [--all]",
		Short:   "List your requests and their states",
		Long:    "Lists your open request PRs (pending, approved, rejected) and your grants (active, scheduled;\nwith --all also expired and revoked).",
		Example: "  elevate status\n  elevate status --all",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "include expired and revoked grants")
	return cmd
}

// StatusRow is one line of `elevate status`.
type StatusRow struct {
	ID, State, Account, Role, Detail string
	PR                               int
	// Targets name each target of a grant of several, or of a permission
	// set, with its assignment's state.
	Targets []string
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	var rows []StatusRow
	repo, err := opts.Repo(ctx)
	if err != nil {
		return err
	}
	me, err := repo.Me(ctx)
	if err != nil {
		return err
	}
	prs, err := repo.OpenPulls(ctx)
	if err != nil {
		return err
	}
	for _, pr := range prs {
		if pr.GetUser().GetID() != me.GetID() {
			continue
		}
		files, err := repo.PullRequestFiles(ctx, pr.GetNumber())
		if err != nil {
			return err
		}
		p, ok := addedRequest(files)
		if !ok {
			continue // not a request PR
		}
		state, desc, err := repo.Status(ctx, pr.GetHead().GetSHA(), githubapi.StatusContext)
		if err != nil {
			return err
		}
		rows = append(rows, RequestRow(pr.GetNumber(), p, state, desc))
	}
	b, err := opts.Broker(ctx)
	switch {
	case errors.Is(err, ErrNoBroker):
		fmt.Fprintln(opts.IO.ErrOut, "elevate: ELEVATE_BROKER_URL is not set: showing open requests only")
	case err != nil:
		return err
	default:
		var got brokerapi.Grants
		if err := b.do(ctx, "GET", brokerapi.PathGrants, nil, &got); err != nil {
			return err
		}
		rows = append(rows, GrantRows(got.Grants, opts.All, opts.Now())...)
		dropEnded(opts.Cache, opts.IO.ErrOut, got.Grants)
	}
	return writeStatus(opts.IO, rows)
}

// addedRequest is the request file a pull request adds, if any.
func addedRequest(files []*github.CommitFile) (request.Path, bool) {
	var found request.Path
	var ok bool
	for _, cf := range files {
		if p, err := request.ParsePath(cf.GetFilename()); err == nil && cf.GetStatus() == "added" {
			found, ok = p, true
		}
	}
	return found, ok
}

// RequestRow is the row of the open pull request number that adds the
// request file p, from the state and description of its elevate check.
func RequestRow(number int, p request.Path, state, desc string) StatusRow {
	row := StatusRow{ID: p.ID(), Account: p.Account, PR: number, State: "pending", Detail: desc}
	switch state {
	case "success":
		row.State, row.Detail = "approved", "merge to grant"
	case "failure", "error":
		row.State = "rejected"
	}
	return row
}

// GrantRows turns the broker's grants into rows, newest window first.
func GrantRows(grants []brokerapi.Grant, all bool, now time.Time) []StatusRow {
	sorted := slices.Clone(grants)
	slices.SortFunc(sorted, func(a, b brokerapi.Grant) int { return b.End.Compare(a.End) })
	var rows []StatusRow
	for _, g := range sorted {
		if !all && (g.State == brokerapi.StateExpired || g.State == brokerapi.StateRevoked) {
			continue
		}
		row := StatusRow{ID: g.ID, State: string(g.State), Account: g.Account, Role: g.Role, PR: g.PR}
		if len(g.Targets) > 1 || (len(g.Targets) == 1 && g.Targets[0].PermissionSet != "") {
			for _, t := range g.Targets {
				row.Targets = append(row.Targets, targetText(t))
			}
		}
		switch g.State {
		case brokerapi.StateActive:
			row.Detail = fmt.Sprintf("until %s (%s left)", g.End.UTC().Format(time.RFC3339), request.FormatDuration(g.End.Sub(now).Round(time.Minute)))
		case brokerapi.StateScheduled:
			row.Detail = "from " + g.Start.UTC().Format(time.RFC3339)
		case brokerapi.StateExpired:
			row.Detail = "ended " + g.End.UTC().Format(time.RFC3339)
		case brokerapi.StateRevoked:
			row.Detail = "revoked " + g.End.UTC().Format(time.RFC3339)
		}
		if prev := extended(grants, g); prev != "" {
			row.Detail += ", extends " + prev
		}
		if g.Emergency {
			row.Detail += " EMERGENCY"
		}
		rows = append(rows, row)
	}
	return rows
}

// dropEnded forgets the cached credentials of grants the broker lists as
// revoked or expired, so that nothing serves them again.
func dropEnded(openCache func() (*credcache.Cache, error), errOut io.Writer, grants []brokerapi.Grant) {
	if openCache == nil {
		return
	}
	cache, err := openCache()
	if err != nil {
		return
	}
	for _, g := range grants {
		if g.State == brokerapi.StateRevoked || g.State == brokerapi.StateExpired {
			if _, err := cache.DropRequest(g.ID); err != nil {
				fmt.Fprintf(errOut, "elevate: %v\n", err)
			}
		}
	}
}

// extended is the grant that g extends: the one of the same account and role
// whose window ends exactly where g's opens (elevate extend writes them so).
func extended(grants []brokerapi.Grant, g brokerapi.Grant) string {
	if g.Start.IsZero() {
		return ""
	}
	for _, o := range grants {
		if o.ID != g.ID && o.Account == g.Account && o.Role == g.Role && o.End.Equal(g.Start) && o.State != brokerapi.StateRevoked {
			return o.ID
		}
	}
	return ""
}

func writeStatus(ios IOStreams, rows []StatusRow) error {
	if len(rows) == 0 {
		fmt.Fprintln(ios.ErrOut, "No open requests or grants. Ask for access with: elevate request --account A --role R --duration 1h --reason \"…\"")
		return nil
	}
	w := tabwriter.NewWriter(ios.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REQUEST\tSTATE\tACCOUNT/ROLE\tPR\tDETAIL")
	for _, r := range rows {
		pr := "-"
		if r.PR > 0 {
			pr = fmt.Sprintf("#%d", r.PR)
		}
		what := r.Account
		if r.Role != "" {
			what += "/" + r.Role
		}
		if len(r.Targets) > 0 {
			what = strings.Join(r.Targets, ", ")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, strings.ToUpper(r.State[:1])+r.State[1:], what, pr, r.Detail)
	}
	return w.Flush()
}

// targetText is one target in a status row: account/role, or
// account/ps/NAME with its assignment's state.
func targetText(t brokerapi.Target) string {
	if t.PermissionSet == "" {
		return t.Account + "/" + t.Role
	}
	text := t.Account + "/" + request.PermissionSetPrefix + t.PermissionSet
	if t.Assignment != "" {
		text += " (" + t.Assignment + ")"
	}
	return text
}
