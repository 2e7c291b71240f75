package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/audit"
)

// AuditOptions are the inputs of `elevate audit`.
type AuditOptions struct {
	F       *Factory
	Since   time.Duration
	Format  string
	Branch  string
	Offline bool
	Dir     string
}

// NewCmdAudit builds `elevate audit`.
func NewCmdAudit(f *Factory, runF func(context.Context, *AuditOptions) error) *cobra.Command {
	opts := &AuditOptions{F: f}
	cmd := &cobra.Command{
		Use:   "audit [--since 720h] [--format table|csv|json|html]",
		Short: "Who had which access, when, for how long, approved by whom",
		Long: "Reads the merged history of the local checkout (and, unless --offline, the PRs' reviews on\n" +
			"GitHub): every grant with its window and approvers, emergency grants without an owner's\n" +
			"review within 24h, and totals per account and role.",
		Example: "  elevate audit --since 2160h --format html > audit.html\n  elevate audit --offline --format csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch opts.Format {
			case "table", "csv", "json", "html":
			default:
				return flagErrorf("--format must be table, csv, json or html, not %q", opts.Format)
			}
			if opts.Since <= 0 {
				return flagErrorf("--since must be positive, e.g. 720h")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return auditRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Since, "since", 720*time.Hour, "how far back to look")
	cmd.Flags().StringVar(&opts.Format, "format", "table", "table, csv, json or html")
	cmd.Flags().StringVar(&opts.Branch, "branch", "main", "the branch that holds grants")
	cmd.Flags().BoolVar(&opts.Offline, "offline", false, "read only the local checkout (no approvers)")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "the access repository checkout (default: the one you are in)")
	return cmd
}

func auditRun(ctx context.Context, opts *AuditOptions) error {
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = opts.F.checkout(ctx); err != nil {
			return err
		}
	}
	o := audit.Options{Dir: dir, Branch: opts.Branch, Since: opts.Since, Now: opts.F.Now()}
	if !opts.Offline {
		repo, err := opts.F.Repo(ctx)
		if err != nil {
			return err
		}
		o.GitHub = repo
	}
	report, err := audit.Build(ctx, o)
	if err != nil {
		return err
	}
	out := opts.F.IO.Out
	switch opts.Format {
	case "csv":
		return report.CSV(out)
	case "json":
		return report.JSON(out)
	case "html":
		return report.HTML(out)
	}
	return report.Table(out)
}
