package validate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/sethvargo/go-githubactions"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/prcomment"
	"github.com/elevate-gitops/elevate/internal/request"
)

// MaxEventSize bounds the event payload: GitHub caps webhook payloads at 25 MB.
const MaxEventSize = 25 << 20

// Markers identify elevate's own comments so they are edited, not repeated.
const (
	VerdictMarker = "<!-- elevate:verdict -->"
	MergedMarker  = "<!-- elevate:merged -->"
)

// ReviewWorkflow is the name of the workflow that review events trigger
// (.github/workflows/elevate-review.yml). It holds no secret and judges
// nothing; its completion triggers the judge through workflow_run, which
// GitHub runs from the default branch.
const ReviewWorkflow = "elevate-review"

// maxJudgeAttempts bounds how often a PR whose head moves while it is read
// is read again.
const maxJudgeAttempts = 3

// GitHub is what the Action needs from the repository's API.
type GitHub interface {
	eligibility.Membership
	approval.Source
	PullsForHead(ctx context.Context, owner, branch string) ([]*github.PullRequest, error)
	SetStatus(ctx context.Context, sha, state, description, targetURL string) error
	UpsertComment(ctx context.Context, number int, marker, body string) (string, error)
	RequestReviewers(ctx context.Context, number int, users, teams []string) error
	RecentlyMerged(ctx context.Context, base string, pages int) ([]*github.PullRequest, error)
}

// Input is what the workflow hands the Action.
type Input struct {
	EventName string
	EventPath string
	RunURL    string // link for the commit status; "" for none
	Now       func() time.Time
	// CommentKey seals the merge record of a merged request (the broker's
	// state key, from the elevate environment); nil writes none, and a
	// requester renamed after such a merge then loses the grant.
	CommentKey *prcomment.Key
}

// RejectedError is returned when the verdict is rejected, so the job fails.
type RejectedError struct{ Summary string }

func (e *RejectedError) Error() string { return "rejected: " + e.Summary }

// InputFromAction reads the standard Actions environment.
func InputFromAction(a *githubactions.Action) (Input, error) {
	ctx, err := a.Context()
	if err != nil {
		return Input{}, fmt.Errorf("read the Actions environment: %w", err)
	}
	in := Input{EventName: ctx.EventName, EventPath: ctx.EventPath, Now: time.Now,
		CommentKey: prcomment.NewKey([]byte(cmp.Or(a.GetInput("state-key"), a.Getenv("ELEVATE_STATE_KEY"))))}
	if ctx.RunID != 0 && ctx.Repository != "" {
		in.RunURL = fmt.Sprintf("%s/%s/actions/runs/%d", ctx.ServerURL, ctx.Repository, ctx.RunID)
	}
	if in.EventName == "" || in.EventPath == "" {
		return in, errors.New("GITHUB_EVENT_NAME and GITHUB_EVENT_PATH must be set: run this from a workflow")
	}
	return in, nil
}

// event is the part of a pull_request_target, pull_request_review or
// workflow_run event we use.
type event struct {
	action string
	number int                 // the PR the event names; 0 for workflow_run
	run    *github.WorkflowRun // workflow_run events only
}

func readEvent(name, path string) (*event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open event payload: %w", err)
	}
	defer f.Close()
	payload, err := io.ReadAll(io.LimitReader(f, MaxEventSize+1))
	if err != nil {
		return nil, fmt.Errorf("read event payload: %w", err)
	}
	if len(payload) > MaxEventSize {
		return nil, fmt.Errorf("event payload %s is over %d bytes", path, MaxEventSize)
	}
	parsed, err := github.ParseWebHook(name, payload)
	if err != nil {
		return nil, fmt.Errorf("parse %s event: %w", name, err)
	}
	switch e := parsed.(type) {
	case *github.PullRequestTargetEvent:
		return &event{action: e.GetAction(), number: e.GetPullRequest().GetNumber()}, nil
	case *github.PullRequestEvent:
		return &event{action: e.GetAction(), number: e.GetPullRequest().GetNumber()}, nil
	case *github.PullRequestReviewEvent:
		return &event{action: "review_" + e.GetAction(), number: e.GetPullRequest().GetNumber()}, nil
	case *github.WorkflowRunEvent:
		if e.WorkflowRun == nil {
			return nil, errors.New("the workflow_run event carries no workflow run")
		}
		run := e.WorkflowRun
		if run.GetName() == "" { // older payloads name the workflow only beside the run
			run.Name = e.GetWorkflow().Name
		}
		return &event{action: "workflow_run_" + e.GetAction(), run: run}, nil
	}
	return nil, fmt.Errorf("event %q is not handled: run elevate on pull_request_target and on workflow_run of %s", name, ReviewWorkflow)
}

// Run judges the PR of the event and reports the verdict. It returns a
// *RejectedError when the PR is rejected.
func Run(ctx context.Context, a *githubactions.Action, gh GitHub, in Input) error {
	ev, err := readEvent(in.EventName, in.EventPath)
	if err != nil {
		return err
	}
	number := ev.number
	switch ev.action {
	case "opened", "synchronize", "reopened", "closed", "review_submitted", "review_dismissed":
	case "workflow_run_completed":
		if number, err = reviewedPull(ctx, a, gh, ev.run); err != nil || number == 0 {
			return err
		}
	default:
		a.Infof("elevate: nothing to do for %s/%s", in.EventName, ev.action)
		return nil
	}
	if number <= 0 {
		return errors.New("the event carries no pull request number")
	}
	now := in.Now
	if now == nil {
		now = time.Now
	}
	return judge(ctx, a, gh, number, in.RunURL, in.CommentKey, now)
}

// reviewedPull finds the PR a run of the review workflow was about: the one
// the run lists (GitHub lists none for a PR from a fork), else the open PR
// from the run's head branch, preferring the one whose head is the run's
// head SHA. If that branch has moved on, its PR is judged at its current
// head: judge reads the PR again anyway. It returns 0 when there is nothing
// to judge: a run of another workflow, or no open PR from that branch.
func reviewedPull(ctx context.Context, a *githubactions.Action, gh GitHub, run *github.WorkflowRun) (int, error) {
	if run.GetName() != ReviewWorkflow {
		a.Infof("elevate: the workflow_run is of %q, not %s: not judged", run.GetName(), ReviewWorkflow)
		return 0, nil
	}
	headSHA := run.GetHeadSHA()
	candidates := run.PullRequests
	if len(candidates) == 0 {
		owner, branch := run.GetHeadRepository().GetOwner().GetLogin(), run.GetHeadBranch()
		if owner == "" || branch == "" {
			return 0, fmt.Errorf("the %s run %d names no head repository owner or branch", ReviewWorkflow, run.GetID())
		}
		prs, err := gh.PullsForHead(ctx, owner, branch)
		if err != nil {
			return 0, err
		}
		for _, pr := range prs {
			// Grants live on the default branch only; judge re-checks this
			// on the PR it reads.
			if def := pr.GetBase().GetRepo().GetDefaultBranch(); def == "" || pr.GetBase().GetRef() == def {
				candidates = append(candidates, pr)
			}
		}
		if len(candidates) == 0 {
			a.Infof("elevate: no open pull request into the default branch from %s:%s", owner, branch)
			return 0, nil
		}
	}
	for _, pr := range candidates {
		if pr.GetHead().GetSHA() == headSHA {
			return pr.GetNumber(), nil
		}
	}
	if len(candidates) == 1 {
		a.Infof("elevate: #%d moved on from %.12s since the review; judging its current head", candidates[0].GetNumber(), headSHA)
		return candidates[0].GetNumber(), nil
	}
	return 0, fmt.Errorf("the %s run %d matches %d pull requests and none at %.12s", ReviewWorkflow, run.GetID(), len(candidates), headSHA)
}

// judge reads PR number and judges it. The verdict is posted on the head
// whose files were judged: if the head moves while the PR is read
// (*approval.HeadMovedError), the PR is read and judged again, at most
// maxJudgeAttempts times.
func judge(ctx context.Context, a *githubactions.Action, gh GitHub, number int, runURL string, key *prcomment.Key, now func() time.Time) error {
	for attempt := 1; ; attempt++ {
		// The payload may be stale (a review event races a push): ask for the PR now.
		pr, err := gh.PullRequest(ctx, number)
		if err != nil {
			return err
		}
		r := &reporter{a: a, gh: gh, pr: pr, runURL: runURL, key: key}
		// Grants live on the default branch only: a PR into another branch is
		// not judged, so no status it could share with a PR into the default
		// branch (statuses belong to commits) is ever posted.
		if def := pr.GetBase().GetRepo().GetDefaultBranch(); def != "" && pr.GetBase().GetRef() != def {
			a.Infof("elevate: #%d targets %s, not the default branch %s: not judged", number, pr.GetBase().GetRef(), def)
			return nil
		}
		if pr.GetState() == "closed" {
			if !pr.GetMerged() {
				a.Infof("elevate: #%d was closed without merging; nothing is granted", number)
				return nil
			}
			return r.merged(ctx)
		}
		facts, err := gather(ctx, gh, pr, now())
		var moved *approval.HeadMovedError
		if errors.As(err, &moved) && attempt < maxJudgeAttempts {
			a.Infof("elevate: %v (attempt %d of %d)", moved, attempt, maxJudgeAttempts)
			continue
		}
		if err != nil {
			r.internalError(ctx)
			return err
		}
		v, err := approval.Decide(ctx, facts, gh, now())
		if err != nil {
			r.internalError(ctx)
			return err
		}
		return r.verdict(ctx, facts, v)
	}
}

// gather reads the PR's facts and the policy at its base commit, never
// at the head: a PR must not judge itself by the policy it brings.
func gather(ctx context.Context, gh GitHub, pr *github.PullRequest, now time.Time) (*approval.Facts, error) {
	facts, err := approval.Gather(ctx, gh, pr)
	if err != nil {
		return nil, err
	}
	if facts.Base, err = approval.PolicyAt(ctx, gh, facts.BaseSHA); err != nil {
		return nil, err
	}
	if len(facts.Files) != 1 || facts.Added == nil {
		return facts, nil
	}
	if req, err := request.Parse(facts.Files[0].Path, facts.Added); err == nil && req.Emergency {
		if facts.UnreviewedEmergencies, err = unreviewedEmergencies(ctx, gh, pr, now); err != nil {
			return nil, err
		}
	}
	return facts, nil
}

// mergedPages is how many pages of the newest closed PRs the judge reads
// for the requester's earlier emergencies; the broker checks every one in
// its issuing window.
const mergedPages = 3

// unreviewedEmergencies lists the emergency requests that pr's author
// merged recently and that none of their owners has approved yet.
func unreviewedEmergencies(ctx context.Context, gh GitHub, pr *github.PullRequest, now time.Time) ([]string, error) {
	merged, err := gh.RecentlyMerged(ctx, pr.GetBase().GetRef(), mergedPages)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range merged {
		if m.GetNumber() == pr.GetNumber() || m.GetUser().GetID() != pr.GetUser().GetID() || !m.GetMergedAt().Before(now) {
			continue
		}
		files, err := gh.PullRequestFiles(ctx, m.GetNumber())
		if err != nil {
			return nil, err
		}
		if len(files) != 1 || files[0].GetStatus() != "added" || !request.IsRequestPath(files[0].GetFilename()) {
			continue
		}
		path := files[0].GetFilename()
		data, err := gh.FileAt(ctx, path, m.GetMergeCommitSHA(), request.MaxSize)
		if err != nil {
			continue // not on the branch as merged: no grant to review
		}
		req, err := request.Parse(path, data)
		if err != nil || !req.Emergency {
			continue
		}
		reviews, err := gh.Reviews(ctx, m.GetNumber())
		if err != nil {
			return nil, err
		}
		by, err := approval.ReviewedEmergency(ctx, gh, gh, m, path, m.GetBase().GetSHA(), reviews, now)
		if err != nil {
			return nil, err
		}
		if len(by) == 0 {
			p, _ := request.ParsePath(path)
			out = append(out, p.ID())
		}
	}
	return out, nil
}

// merged re-judges a merged PR as the broker will and comments its window.
func (r *reporter) merged(ctx context.Context) error {
	facts, err := gather(ctx, r.gh, r.pr, r.pr.GetMergedAt().Time)
	if err != nil {
		return err
	}
	mergedAt := r.pr.GetMergedAt().Time
	v, err := approval.Decide(ctx, facts, r.gh, mergedAt)
	if err != nil {
		return err
	}
	r.outputs(v)
	body := mergedComment(v, mergedAt)
	r.a.AddStepSummary(body)
	if v.State == approval.Approved && v.Kind == approval.KindRequest && r.key != nil {
		// The requester matched the author's login now; the record names
		// the author's id, so a rename later still matches the file.
		body += r.key.MergeRecordLine(prcomment.MergeRecord{Request: v.ID, Requester: v.Request.Requester, AuthorID: r.pr.GetUser().GetID()}) + "\n"
	}
	if _, err := r.gh.UpsertComment(ctx, r.pr.GetNumber(), MergedMarker, body); err != nil {
		return err
	}
	if v.State != approval.Approved {
		r.a.Errorf("#%d was merged without a passing elevate verdict; it grants nothing: %s", r.pr.GetNumber(), v.Summary())
		return &RejectedError{Summary: "merged without approval: " + v.Summary()}
	}
	return nil
}

type reporter struct {
	a      *githubactions.Action
	gh     GitHub
	pr     *github.PullRequest
	runURL string
	key    *prcomment.Key
}

func (r *reporter) outputs(v *approval.Verdict) {
	r.a.SetOutput("verdict", string(v.State))
	r.a.SetOutput("request", v.ID)
}

func (r *reporter) verdict(ctx context.Context, facts *approval.Facts, v *approval.Verdict) error {
	r.outputs(v)
	state := map[approval.State]string{approval.Approved: "success", approval.Pending: "pending", approval.Rejected: "failure"}[v.State]
	// The status goes on the head whose files were judged, never on a head
	// read later.
	if err := r.gh.SetStatus(ctx, facts.HeadSHA, state, v.Summary(), r.runURL); err != nil {
		return err
	}
	if v.State == approval.Pending && len(v.AskReviews) > 0 {
		r.askReviews(ctx, v.AskReviews)
	}
	var change *eligibility.Change
	if facts.PolicyAtHead != nil && facts.Policy != nil {
		before, errB := eligibility.Parse(eligibility.File, facts.Policy)
		after, errA := eligibility.Parse(eligibility.File, facts.PolicyAtHead)
		if errB == nil && errA == nil {
			c := eligibility.Diff(before, after)
			change = &c
		}
	}
	body := verdictComment(v, change, r.pr.GetNumber())
	if _, err := r.gh.UpsertComment(ctx, r.pr.GetNumber(), VerdictMarker, body); err != nil {
		return err
	}
	r.a.AddStepSummary(body)
	annotate(r.a, v)
	if v.State == approval.Rejected {
		return &RejectedError{Summary: v.Summary()}
	}
	return nil
}

// askReviews asks GitHub for the reviews of approvers it does not ask on
// its own: a rule's approvers, the owners of another account's folder.
// GitHub can ask only teams of the repository's organisation; a refusal
// is a warning, never a verdict.
func (r *reporter) askReviews(ctx context.Context, owners []string) {
	var users, teams []string
	org := r.pr.GetBase().GetRepo().GetOwner().GetLogin()
	for _, o := range owners {
		o = strings.TrimPrefix(o, "@")
		if teamOrg, slug, ok := strings.Cut(o, "/"); ok {
			if strings.EqualFold(teamOrg, org) {
				teams = append(teams, slug)
			}
			continue
		}
		users = append(users, o)
	}
	if len(users)+len(teams) == 0 {
		return
	}
	if err := r.gh.RequestReviewers(ctx, r.pr.GetNumber(), users, teams); err != nil {
		r.a.Warningf("could not ask %s for a review: %v", strings.Join(owners, ", "), err)
	}
}

// internalError marks the head as errored so the PR cannot merge on a stale
// success; failing to say so is only logged.
func (r *reporter) internalError(ctx context.Context) {
	r.a.SetOutput("verdict", "error")
	if serr := r.gh.SetStatus(ctx, r.pr.GetHead().GetSHA(), "error", "elevate could not judge this PR: see the workflow run", r.runURL); serr != nil {
		r.a.Warningf("could not post the error status: %v", serr)
	}
}

// annotate places each located reason on its file and line; emergencies are
// announced loudly.
func annotate(a *githubactions.Action, v *approval.Verdict) {
	for _, reason := range v.Reasons {
		fields := map[string]string{"title": "elevate"}
		if reason.File != "" {
			fields["file"] = reason.File
		}
		if reason.Line > 0 {
			fields["line"] = strconv.Itoa(reason.Line)
		}
		a.WithFieldsMap(fields).Errorf("%s", reason.String())
	}
	if v.Request != nil && v.Request.Emergency && v.State != approval.Rejected {
		a.WithFieldsMap(map[string]string{"title": "EMERGENCY access", "file": v.Path}).
			Warningf("break-glass request %s by %s: no approval needed to merge; its owners must review it within 24h", v.ID, v.Request.Requester)
	}
}
