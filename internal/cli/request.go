package cli

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/request"
)

// RequestOptions are the inputs of `elevate request`.
type RequestOptions struct {
	IO      IOStreams
	Now     func() time.Time
	Repo    func(context.Context) (*githubapi.Repo, error)
	Account string
	Role    string
	// PermissionSet, instead of Role, asks for an Identity Center set.
	PermissionSet string
	// Targets, instead of Account and Role, lists several targets.
	Targets   []request.Target
	Duration  time.Duration
	Reason    string
	Ticket    string
	NotBefore time.Time
	Emergency bool
	Name      string
	DryRun    bool
}

// NewCmdRequest builds `elevate request`.
func NewCmdRequest(f *Factory, runF func(context.Context, *RequestOptions) error) *cobra.Command {
	opts := &RequestOptions{IO: f.IO, Now: f.Now, Repo: f.Repo}
	var notBefore string
	var targets []string
	cmd := &cobra.Command{
		Use:   "request (--account A (--role R | --permission-set P) | --target A:R …) --duration D --reason \"…\" [--ticket T] [--not-before T] [--emergency] [--dry-run]",
		Short: "Ask for temporary access: opens the pull request that adds your request file",
		Long: "Writes requests/<account>/<yyyy-mm>/<name>.yaml on a new branch and opens the pull request.\n" +
			"The request is first checked against eligibility.yaml with the same decision the elevate check\n" +
			"runs, so a request it would reject is refused before any PR exists.",
		Example: "  elevate request --account prod --role Admin --duration 2h --ticket INC-4821 \\\n" +
			"    --reason \"Rotate the TLS certificate on the payments load balancer\"\n" +
			"  elevate request --target prod:Admin --target payments:ps/PaymentsAdmin --duration 2h \\\n" +
			"    --ticket INC-4821 --reason \"Fail over the payments database\"",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.readTargets(targets); err != nil {
				return err
			}
			switch {
			case opts.Duration == 0 || opts.Reason == "":
				return flagErrorf("--duration and --reason are required")
			case opts.Duration < 0:
				return flagErrorf("--duration must be positive")
			case opts.Name != "" && !request.ValidName(opts.Name):
				return flagErrorf("--name must be 1-80 lowercase letters, digits and -")
			}
			if notBefore != "" {
				t, err := time.Parse(time.RFC3339, notBefore)
				if err != nil {
					return flagErrorf("--not-before must be an RFC 3339 time like 2026-11-25T10:00:00Z")
				}
				opts.NotBefore = t.UTC()
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return requestRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Account, "account", "", "account name from eligibility.yaml")
	fl.StringVar(&opts.Role, "role", "", "IAM role name in that account")
	fl.StringVar(&opts.PermissionSet, "permission-set", "", "IAM Identity Center permission set, instead of --role")
	fl.StringArrayVar(&targets, "target", nil, "ACCOUNT:ROLE or ACCOUNT:ps/PERMISSION_SET; repeat for several targets of one window (instead of --account)")
	fl.DurationVar(&opts.Duration, "duration", 0, "how long sessions may be started, e.g. 2h")
	fl.StringVar(&opts.Reason, "reason", "", "why (10-1000 characters)")
	fl.StringVar(&opts.Ticket, "ticket", "", "ticket id, where the rule requires one")
	fl.StringVar(&notBefore, "not-before", "", "open the window no earlier than this RFC 3339 time")
	fl.BoolVar(&opts.Emergency, "emergency", false, "break-glass: no approval, where a rule allows it")
	fl.StringVar(&opts.Name, "name", "", "file name (default: <login>-<role>-<ticket or time>)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "check and print the path and YAML; open nothing")
	return cmd
}

// readTargets checks the target flags: --account with one of --role and
// --permission-set, or --target (1 to request.MaxTargets of them, each once).
func (opts *RequestOptions) readTargets(flags []string) error {
	if len(flags) > 0 {
		if opts.Account != "" || opts.Role != "" || opts.PermissionSet != "" {
			return flagErrorf("give --target, or --account with --role or --permission-set, not both")
		}
		if len(flags) > request.MaxTargets {
			return flagErrorf("at most %d --target in one request", request.MaxTargets)
		}
		opts.Targets = nil
		for _, f := range flags {
			t, err := request.ParseTarget(f)
			if err != nil {
				return flagErrorf("--target: %v", err)
			}
			if slices.Contains(opts.Targets, t) {
				return flagErrorf("--target %s is given twice", t)
			}
			opts.Targets = append(opts.Targets, t)
		}
		return nil
	}
	switch {
	case opts.Account == "" || (opts.Role == "" && opts.PermissionSet == ""):
		return flagErrorf("give --account with --role (or --permission-set), or --target ACCOUNT:ROLE")
	case opts.Role != "" && opts.PermissionSet != "":
		return flagErrorf("give --role or --permission-set, not both")
	}
	return nil
}

// request is the request file opts describe, for requester. One --target
// is written as account and role (or permission_set), several as a list.
func (opts *RequestOptions) request(requester string) *request.Request {
	req := &request.Request{
		Requester: requester, Account: opts.Account, Role: opts.Role, PermissionSet: opts.PermissionSet, Duration: opts.Duration,
		Reason: strings.TrimSpace(opts.Reason), Ticket: opts.Ticket, NotBefore: opts.NotBefore, Emergency: opts.Emergency,
	}
	switch {
	case len(opts.Targets) == 1:
		t := opts.Targets[0]
		req.Account, req.Role, req.PermissionSet = t.Account, t.Role, t.PermissionSet
	case len(opts.Targets) > 1:
		req.Account, req.Targets = opts.Targets[0].Account, slices.Clone(opts.Targets)
	}
	return req
}

// what names the targets for a title: "Admin in prod", or a count.
func what(req *request.Request) string {
	targets := req.AllTargets()
	if len(targets) > 1 {
		return fmt.Sprintf("%d targets (%s, …)", len(targets), targets[0])
	}
	return targets[0].Name() + " in " + targets[0].Account
}

var nameJunk = regexp.MustCompile(`[^a-z0-9]+`)

// RequestName suggests a file name: alice-admin-inc4821.
func RequestName(login, role, ticket string, now time.Time) string {
	tail := strings.ToLower(ticket)
	if tail == "" {
		tail = now.UTC().Format("20060102-1504")
	}
	name := strings.Trim(nameJunk.ReplaceAllString(strings.ToLower(login+"-"+role+"-"+tail), "-"), "-")
	if len(name) > 80 {
		name = strings.TrimRight(name[:80], "-")
	}
	return name
}

// PlannedRequest is a request file to open, checked against the base.
type PlannedRequest struct {
	Path    request.Path
	YAML    []byte
	Verdict *approval.Verdict
	Base    string // default branch
	BaseSHA string
}

// planRequest writes the file and judges it as the Action would at the base.
func planRequest(ctx context.Context, repo *githubapi.Repo, me approval.User, opts *RequestOptions) (*PlannedRequest, error) {
	now := opts.Now()
	req := opts.request(me.Login)
	name := opts.Name
	if name == "" {
		name = RequestName(me.Login, req.AllTargets()[0].Name(), opts.Ticket, now)
	}
	p := request.PathFor(req.Account, now, name)
	data := request.Marshal(req)
	base, baseSHA, err := repo.DefaultBranch(ctx)
	if err != nil {
		return nil, err
	}
	facts := &approval.Facts{
		Author: me, HeadSHA: "unpushed", BaseSHA: baseSHA,
		Files: []approval.FileChange{{Path: p.String(), Status: "added"}},
		Added: data,
	}
	if facts.Base, err = approval.PolicyAt(ctx, repo, baseSHA); err != nil {
		return nil, err
	}
	verdict, err := approval.Decide(ctx, facts, repo, now)
	if err != nil {
		return nil, err
	}
	if existing, err := optionalFile(ctx, repo, p.String(), baseSHA, request.MaxSize); err != nil {
		return nil, err
	} else if existing != nil {
		return nil, fmt.Errorf("%s already exists on %s: choose another --name", p, base)
	}
	return &PlannedRequest{Path: p, YAML: data, Verdict: verdict, Base: base, BaseSHA: baseSHA}, nil
}

func optionalFile(ctx context.Context, repo *githubapi.Repo, path, ref string, max int64) ([]byte, error) {
	data, err := repo.FileAt(ctx, path, ref, max)
	if errors.Is(err, githubapi.ErrNotFound) {
		return nil, nil
	}
	return data, err
}

// RejectedError carries the decision's reasons to the user.
type RejectedError struct{ Reasons []approval.Reason }

func (e *RejectedError) Error() string {
	reasons := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		reasons[i] = r.String()
	}
	return "the elevate check would reject this request, so nothing was opened: " + strings.Join(reasons, "; ")
}

func requestRun(ctx context.Context, opts *RequestOptions) error {
	err := openRequest(ctx, opts, "")
	if opts.DryRun && needsGitHub(err) {
		return &HintError{Before: "--dry-run reads eligibility.yaml and the teams it names from GitHub", Err: err}
	}
	return err
}

// needsGitHub reports whether err is a missing GitHub token or GitHub out of reach.
func needsGitHub(err error) bool {
	var nt *ghauth.NoTokenError
	return errors.As(err, &nt) || isNetworkError(err)
}

// openRequest checks the request as the Action would and opens its PR; note,
// when set, is a line of the PR body (an extension's link to what it extends).
func openRequest(ctx context.Context, opts *RequestOptions, note string) error {
	repo, err := opts.Repo(ctx)
	if err != nil {
		return err
	}
	u, err := repo.Me(ctx)
	if err != nil {
		return err
	}
	me := approval.User{ID: u.GetID(), Login: u.GetLogin()}
	plan, err := planRequest(ctx, repo, me, opts)
	if err != nil {
		return err
	}
	if plan.Verdict.State == approval.Rejected {
		return &RejectedError{Reasons: plan.Verdict.Reasons}
	}
	out, errOut := opts.IO.Out, opts.IO.ErrOut
	if opts.DryRun {
		fmt.Fprintf(out, "# %s\n%s", plan.Path, plan.YAML)
		fmt.Fprintf(errOut, "dry run: %s; nothing was opened\n", nextStep(plan.Verdict))
		return nil
	}
	branch := "elevate/" + plan.Path.Name
	if err := repo.CreateBranch(ctx, branch, plan.BaseSHA); err != nil {
		return err
	}
	title := fmt.Sprintf("elevate: %s requests %s for %s", me.Login, what(plan.Verdict.Request), opts.Duration)
	if opts.Emergency {
		title = "EMERGENCY " + title
	}
	if err := repo.CreateFile(ctx, branch, plan.Path.String(), title, plan.YAML); err != nil {
		return err
	}
	body := fmt.Sprintf("%s\n\nTicket: %s\n\n", strings.TrimSpace(opts.Reason), orNone(opts.Ticket))
	if note != "" {
		body += note + "\n\n"
	}
	body += "Opened with `elevate request`. The `elevate` check judges this request; merging grants it."
	pr, err := repo.CreatePull(ctx, branch, plan.Base, title, body)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, pr.GetHTMLURL())
	fmt.Fprintf(errOut, "Opened #%d for %s: %s\n", pr.GetNumber(), plan.Path.ID(), nextStep(plan.Verdict))
	return nil
}

func nextStep(v *approval.Verdict) string {
	if len(v.Waiting) > 0 {
		var parts []string
		for _, w := range v.Waiting {
			part := fmt.Sprintf("needs %d approval(s) from %s", w.Missing, strings.Join(w.Owners, ", "))
			if len(v.Waiting) > 1 || len(v.Targets) > 1 {
				part = w.Target + " " + part
			}
			parts = append(parts, part)
		}
		return strings.Join(parts, "; ")
	}
	if v.Request != nil && v.Request.Emergency {
		return "EMERGENCY: no approval needed; merge it, and its owners must review it within 24h"
	}
	return "no approval needed: merge it to get access"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
