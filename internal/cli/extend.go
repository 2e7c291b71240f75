package cli

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/request"
)

// ExtendOptions are the inputs of `elevate extend`.
type ExtendOptions struct {
	IO       IOStreams
	Now      func() time.Time
	Repo     func(context.Context) (*githubapi.Repo, error)
	Broker   func(context.Context) (*brokerClient, error)
	ID       string
	Duration time.Duration
	Reason   string
	Ticket   string
	Name     string
	DryRun   bool
}

// NewCmdExtend builds `elevate extend`.
func NewCmdExtend(f *Factory, runF func(context.Context, *ExtendOptions) error) *cobra.Command {
	opts := &ExtendOptions{IO: f.IO, Now: f.Now, Repo: f.Repo, Broker: f.broker}
	cmd := &cobra.Command{
		Use:   "extend ID --duration D [--reason \"…\"] [--ticket T] [--dry-run]",
		Short: "Ask for more time: opens a request whose window opens when ID's ends",
		Long: "Opens a request PR for the same account and role as the grant ID, whose not_before is ID's\n" +
			"window end: no gap and no overlap. It reuses ID's reason and ticket unless you give others,\n" +
			"links ID's PR, and is checked against eligibility.yaml first, as `elevate request` is.",
		Example: "  elevate extend prod/2026-11/alice-admin-inc4821 --duration 2h\n" +
			"  elevate extend alice-admin-inc4821 --duration 1h --reason \"The migration is still running\"",
		Args: oneID("elevate extend ID --duration D"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = strings.TrimSuffix(strings.TrimPrefix(args[0], "requests/"), ".yaml")
			switch {
			case opts.Duration == 0:
				return flagErrorf("--duration is required: how much longer, e.g. --duration 2h")
			case opts.Duration < 0:
				return flagErrorf("--duration must be positive")
			case opts.Name != "" && !request.ValidName(opts.Name):
				return flagErrorf("--name must be 1-80 lowercase letters, digits and -")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return extendRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&opts.Duration, "duration", 0, "how long the new window lasts, e.g. 2h")
	fl.StringVar(&opts.Reason, "reason", "", "why (default: the reason of ID)")
	fl.StringVar(&opts.Ticket, "ticket", "", "ticket id (default: the ticket of ID)")
	fl.StringVar(&opts.Name, "name", "", "file name (default: ID's name with -ext-<window start>)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "check and print the path and YAML; open nothing")
	return cmd
}

func extendRun(ctx context.Context, opts *ExtendOptions) error {
	id, err := resolveID(ctx, opts.Broker, opts.ID)
	if err != nil {
		return err
	}
	g, err := grantOf(ctx, opts.Broker, id)
	if err != nil {
		return err
	}
	switch g.State {
	case brokerapi.StateActive, brokerapi.StateScheduled:
	default:
		ask := "--account " + g.Account + " --role " + g.Role
		if strings.HasPrefix(g.Role, request.PermissionSetPrefix) || len(g.Targets) > 1 {
			ask = ""
			for _, t := range g.Targets {
				ask += " --target " + request.Target{Account: t.Account, Role: t.Role, PermissionSet: t.PermissionSet}.String()
			}
			ask = strings.TrimSpace(ask)
		}
		return fmt.Errorf("%s is %s: there is no window to extend; ask anew with elevate request %s", id, g.State, ask)
	}
	repo, err := opts.Repo(ctx)
	if err != nil {
		return err
	}
	_, baseSHA, err := repo.DefaultBranch(ctx)
	if err != nil {
		return err
	}
	path := "requests/" + id + ".yaml"
	data, err := repo.FileAt(ctx, path, baseSHA, request.MaxSize)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	orig, err := request.Parse(path, data)
	if err != nil {
		return err
	}
	p, err := request.ParsePath(path)
	if err != nil {
		return err
	}
	name := opts.Name
	if name == "" {
		name = extensionName(p.Name, g.End)
	}
	ro := &RequestOptions{
		IO: opts.IO, Now: opts.Now, Repo: opts.Repo, Account: orig.Account, Role: orig.Role, PermissionSet: orig.PermissionSet,
		Targets: orig.Targets, Duration: opts.Duration,
		Reason: cmp.Or(opts.Reason, orig.Reason), Ticket: cmp.Or(opts.Ticket, orig.Ticket),
		NotBefore: g.End.UTC(), Name: name, DryRun: opts.DryRun,
	}
	link := fmt.Sprintf("Extends `%s`", id)
	if g.PR > 0 {
		link += fmt.Sprintf(" (#%d)", g.PR)
	}
	link += fmt.Sprintf(" without a gap: this window opens at %s, when that one ends.", g.End.UTC().Format(time.RFC3339))
	return openRequest(ctx, ro, link)
}

// grantOf is the caller's grant id as the broker sees it.
func grantOf(ctx context.Context, broker func(context.Context) (*brokerClient, error), id string) (*brokerapi.Grant, error) {
	b, err := broker(ctx)
	if err != nil {
		return nil, err
	}
	var got brokerapi.Grants
	if err := b.do(ctx, "GET", brokerapi.PathGrants, nil, &got); err != nil {
		return nil, err
	}
	for i := range got.Grants {
		if got.Grants[i].ID == id {
			return &got.Grants[i], nil
		}
	}
	return nil, fmt.Errorf("none of your grants is %s: elevate status lists them", id)
}

// extensionName names the follow-on file after the original and the time
// its window opens, so that a chain of extensions never collides.
func extensionName(name string, start time.Time) string {
	tail := "-ext-" + start.UTC().Format("20060102-1504")
	if len(name)+len(tail) > 80 {
		name = strings.TrimRight(name[:80-len(tail)], "-")
	}
	return name + tail
}
