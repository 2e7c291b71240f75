package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/audit"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/prcomment"
)

// AuditOptions are the inputs of `elevate audit`.
type AuditOptions struct {
	IO       IOStreams
	Now      func() time.Time
	Repo     func(context.Context) (*githubapi.Repo, error)
	Checkout func(context.Context) (string, error) // the checkout around the working directory
	Since    time.Duration
	Format   string
	Branch   string
	Offline  bool
	Dir      string
	Verify   bool
	From     string // with Verify: the reviewed commit to verify from (--from)
	// StateKey (ELEVATE_STATE_KEY) verifies the broker's PR comments: how
	// grants were used and whether their sessions were ended.
	StateKey string
}

// NewCmdAudit builds `elevate audit`.
func NewCmdAudit(f *Factory, runF func(context.Context, *AuditOptions) error) *cobra.Command {
	opts := &AuditOptions{IO: f.IO, Now: f.Now, Repo: f.Repo, Checkout: f.checkout, StateKey: f.Getenv("ELEVATE_STATE_KEY")}
	cmd := &cobra.Command{
		Use:   "audit [--since 720h] [--format table|csv|json|html]",
		Short: "Who had which access, when, for how long, approved by whom",
		Long: "Reads the merged history of the local checkout (and, unless --offline, the PRs' reviews on\n" +
			"GitHub): every grant with its window and approvers, emergency grants without an owner's\n" +
			"review within 24h, and totals per account and role.",
		Example: "  elevate audit --since 2160h --format html > audit.html\n  elevate audit --offline --format csv",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch opts.Format {
			case "table", "csv", "json", "html":
			default:
				return flagErrorf("--format must be table, csv, json or html, not %q", opts.Format)
			}
			if opts.Since <= 0 {
				return flagErrorf("--since must be positive, e.g. 720h")
			}
			if opts.Verify && opts.Offline {
				return flagErrorf("--verify asks GitHub about every merge: it cannot run --offline")
			}
			if opts.From != "" && !opts.Verify {
				return flagErrorf("--from goes with --verify")
			}
			if opts.From != "" && !fullSHA(opts.From) {
				return flagErrorf("--from %q: give the full 40-character SHA of a commit you have reviewed", opts.From)
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
	cmd.Flags().BoolVar(&opts.Verify, "verify", false, "run the broker's chain-of-custody checks; exit 1 if anything does not verify")
	cmd.Flags().StringVar(&opts.From, "from", "", "with --verify: a commit you have reviewed (full SHA); lists and verifies every change since it, as a broker anchored there would (default: the branch's first commit)")
	cmd.Flags().StringVar(&opts.From, "trust-anchor", "", "the same as --from")
	_ = cmd.Flags().MarkHidden("trust-anchor")
	return cmd
}

func auditRun(ctx context.Context, opts *AuditOptions) error {
	err := writeAudit(ctx, opts)
	if !opts.Offline && !opts.Verify && needsGitHub(err) {
		return &HintError{After: "or add --offline to read the local history alone (without approvers)", Err: err}
	}
	return err
}

func writeAudit(ctx context.Context, opts *AuditOptions) error {
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = opts.Checkout(ctx); err != nil {
			return err
		}
	}
	o := audit.Options{Dir: dir, Branch: opts.Branch, Since: opts.Since, Now: opts.Now()}
	if opts.From != "" {
		o.Since = 0 // every change since the reviewed commit
	}
	if !opts.Offline {
		repo, err := opts.Repo(ctx)
		if err != nil {
			return err
		}
		o.GitHub = repo
		members := &githubapi.MembershipCache{Inner: repo, TTL: time.Minute}
		o.Members, o.CommentKey = members, prcomment.NewKey([]byte(opts.StateKey))
		if opts.Verify {
			git, err := gitlog.Open(dir)
			if err != nil {
				return err
			}
			anchor := opts.From
			if anchor == "" {
				if anchor, err = firstCommit(ctx, git, dir, opts.Branch); err != nil {
					return err
				}
			}
			o.Verify = &custody.Checker{GitHub: repo, Git: git, Members: members, Branch: opts.Branch, Anchor: anchor, Now: opts.Now,
				Comments: repo, CommentKey: o.CommentKey}
			o.Anchor = anchor
		}
	}
	report, err := audit.Build(ctx, o)
	if err != nil {
		return err
	}
	if err := writeReport(opts.IO.Out, report, opts.Format); err != nil {
		return err
	}
	if n := report.Failures(); opts.Verify && n > 0 {
		return fmt.Errorf("the chain of custody does not verify: %d failure(s), each named in the report above", n)
	}
	return nil
}

func writeReport(out io.Writer, report *audit.Report, format string) error {
	switch format {
	case "csv":
		return report.CSV(out)
	case "json":
		return report.JSON(out)
	case "html":
		return report.HTML(out)
	}
	return report.Table(out)
}

// firstCommit is the first commit of branch (local, else origin's): the
// default trust anchor of an audit.
func firstCommit(ctx context.Context, git *gitlog.Repo, dir, branch string) (string, error) {
	for _, ref := range []string{"refs/heads/" + branch, "refs/remotes/origin/" + branch} {
		if sha, err := git.Ref(ctx, ref); err == nil && sha != "" {
			return git.Root(ctx, sha)
		}
	}
	return "", fmt.Errorf("branch %s not found in %s: check --branch", branch, dir)
}

// fullSHA reports whether s is a full commit SHA.
func fullSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
