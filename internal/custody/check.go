package custody

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v60/github"
	"golang.org/x/sync/errgroup"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/fileerr"
	"github.com/elevate-gitops/elevate/internal/githubapi"
)

// linkDelay is how long after a merge GitHub may still not list the PR of
// its commit: until then "no PR" is an error (asked again), not a verdict.
const linkDelay = 10 * time.Minute

// prefetch is how many policy commits are read from GitHub at once.
const prefetch = 4

// GitHub is what the chain asks GitHub (githubapi.Repo serves it).
type GitHub interface {
	approval.Source
	PullsWithCommit(ctx context.Context, sha string) ([]*github.PullRequest, error)
	ForcePushes(ctx context.Context, branch string) ([]githubapi.Activity, error)
}

// Git is what the chain reads from the clone.
type Git interface {
	approval.FileReader
	// IsAncestor reports whether ancestor is an ancestor of (or equal to)
	// commit; an unknown commit is an error.
	IsAncestor(ctx context.Context, ancestor, commit string) (bool, error)
	// CommitTime is the committer date of commit.
	CommitTime(ctx context.Context, commit string) (time.Time, error)
}

// Checker verifies policy commits and grants against GitHub. Definitive
// verdicts on policy commits are cached by commit: history does not change,
// so each costs its GitHub calls once.
type Checker struct {
	GitHub  GitHub
	Git     Git
	Members eligibility.Membership // team look-ups (cached by the caller)
	Branch  string
	Anchor  string
	Now     func() time.Time // default time.Now

	mu       sync.Mutex
	verdicts map[string]Verdict
	files    map[string]fileRead // policy files by path@commit: few versions, read by every verification
	calls    atomic.Int64
}

type fileRead struct {
	data []byte
	err  error
}

// FileAt reads a policy file from the clone, remembering each version: the
// policy at every grant's first parent is one of the few versions the chain
// names, so thousands of verifications read git a handful of times.
func (c *Checker) FileAt(ctx context.Context, path, commit string, maxBytes int64) ([]byte, error) {
	key := path + "@" + commit
	c.mu.Lock()
	r, ok := c.files[key]
	c.mu.Unlock()
	if ok {
		return r.data, r.err
	}
	data, err := c.Git.FileAt(ctx, path, commit, maxBytes)
	if err != nil && !errors.Is(err, fileerr.ErrNotExist) && !errors.Is(err, fileerr.ErrNotRegular) && !errors.Is(err, fileerr.ErrTooLarge) {
		return nil, err // an outage: not remembered
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]fileRead{}
	}
	if len(c.files) < maxRememberedFiles {
		c.files[key] = fileRead{data, err}
	}
	return data, err
}

// maxRememberedFiles bounds the policy-file memo.
const maxRememberedFiles = 4096

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Calls counts the verifications that asked GitHub (policy commits and grants).
func (c *Checker) Calls() int64 { return c.calls.Load() }

// Chain verifies commits (the policy commits after the anchor up to head,
// oldest first) and derives the trust of every prefix. A commit GitHub
// cannot answer for now is recorded unchecked and asked again next time.
func (c *Checker) Chain(ctx context.Context, head string, commits []Commit) *Chain {
	verdicts := make([]Verdict, len(commits))
	todo := make([]int, 0)
	c.mu.Lock()
	for i, cm := range commits {
		if v, ok := c.verdicts[cm.SHA]; ok {
			verdicts[i] = v
		} else {
			todo = append(todo, i)
		}
	}
	c.mu.Unlock()

	// What GitHub says about each commit does not depend on the others, so
	// it is read in parallel; the decisions, which do, run in order.
	read := make([]*merged, len(commits))
	var g errgroup.Group
	g.SetLimit(prefetch)
	for _, i := range todo {
		g.Go(func() error { read[i] = c.readMerge(ctx, commits[i], head); return nil })
	}
	_ = g.Wait()

	for i := range commits {
		if m := read[i]; m != nil {
			st := Build(c.Anchor, verdicts[:i]).Head()
			verdicts[i] = c.decide(ctx, commits[i], m, st)
			if verdicts[i].Checked {
				c.mu.Lock()
				if c.verdicts == nil {
					c.verdicts = map[string]Verdict{}
				}
				c.verdicts[commits[i].SHA] = verdicts[i]
				c.mu.Unlock()
			}
		}
	}
	return Build(c.Anchor, verdicts)
}

// merged is what GitHub says about the merge a commit belongs to.
type merged struct {
	pr     *github.PullRequest
	facts  *approval.Facts
	exact  bool   // the commit is the PR's merge commit (merge or squash), not one of a rebase
	reason string // set when GitHub shows no merged PR: a refusal
	err    error  // GitHub could not answer: ask again
}

// readMerge finds the merged PR into the branch that commit belongs to: as
// its merge commit, or as one of the commits a rebase merge put on the
// branch before the PR's merge commit.
func (c *Checker) readMerge(ctx context.Context, cm Commit, head string) *merged {
	c.calls.Add(1)
	prs, err := c.GitHub.PullsWithCommit(ctx, cm.SHA)
	if err != nil {
		return &merged{err: fmt.Errorf("find the PR of commit %.12s: %w", cm.SHA, err)}
	}
	var found *github.PullRequest
	exact := false
	for _, pr := range prs {
		if pr.MergedAt == nil || pr.GetBase().GetRef() != c.Branch || pr.GetMergeCommitSHA() == "" {
			continue
		}
		if pr.GetMergeCommitSHA() == cm.SHA {
			found, exact = pr, true
			break
		}
		// A rebase merge: the PR's merge commit is a later commit of the
		// first-parent chain, so this one came with it.
		later, err := c.Git.IsAncestor(ctx, cm.SHA, pr.GetMergeCommitSHA())
		if err != nil || !later {
			continue
		}
		if onBranch, err := c.Git.IsAncestor(ctx, pr.GetMergeCommitSHA(), head); err == nil && onBranch {
			found = pr
		}
	}
	if found == nil {
		if c.now().Sub(cm.At) < linkDelay {
			return &merged{err: fmt.Errorf("GitHub lists no merged pull request for commit %.12s yet; asking again shortly", cm.SHA)}
		}
		return &merged{reason: fmt.Sprintf("commit %.12s did not come from a pull request merged into %s (a direct push or an admin bypass changes no trusted policy)", cm.SHA, c.Branch)}
	}
	pr, err := c.GitHub.PullRequest(ctx, found.GetNumber())
	if err != nil {
		return &merged{err: err}
	}
	facts, err := approval.Gather(ctx, c.GitHub, pr)
	if err != nil {
		return &merged{err: err}
	}
	return &merged{pr: pr, facts: facts, exact: exact}
}

// decide judges one policy commit against st, the trust before it.
func (c *Checker) decide(ctx context.Context, cm Commit, m *merged, st State) Verdict {
	v := Verdict{Commit: cm}
	refuse := func(format string, args ...any) Verdict {
		v.Checked, v.Reason = true, fmt.Sprintf(format, args...)
		return v
	}
	for _, ch := range cm.Changes {
		if IsPolicyPath(ch.Path) && !ch.Regular() {
			return refuse("%s became a symlink or a submodule (mode %s): policy files must be regular files", ch.Path, ch.Mode)
		}
	}
	switch {
	case m.err != nil:
		v.Err = m.err
		return v
	case m.reason != "":
		return refuse("%s", m.reason)
	case st.Pending != nil:
		v.Err = st.Pending
		return v
	}
	pr, facts := m.pr, m.facts
	v.PR = pr.GetNumber()
	base, err := approval.PolicyAt(ctx, st.Reader(c), cm.Parent)
	if err != nil {
		v.Err = err
		return v
	}
	facts.Base = base
	verdict, err := approval.Decide(ctx, facts, c.Members, pr.GetMergedAt().Time)
	if err != nil {
		v.Err = err
		return v
	}
	if verdict.State != approval.Approved || verdict.Kind != approval.KindChange {
		return refuse("PR #%d was merged without a passing verdict: %s", v.PR, verdict.Summary())
	}
	listed := map[string]approval.FileChange{}
	for _, fc := range facts.Files {
		listed[fc.Path] = fc
		if fc.PreviousPath != "" {
			listed[fc.PreviousPath] = fc
		}
	}
	for _, ch := range cm.Changes {
		if !IsPolicyPath(ch.Path) {
			continue
		}
		fc, ok := listed[ch.Path]
		switch {
		case !ok:
			return refuse("commit %.12s changes %s, which PR #%d does not (a merge that adds its own changes)", cm.SHA, ch.Path, v.PR)
		case !m.exact:
			// One commit of a rebase: the PR approved the files as a whole.
		case ch.Status == 'D':
			if fc.Status != "removed" {
				return refuse("commit %.12s deletes %s, which PR #%d does not", cm.SHA, ch.Path, v.PR)
			}
		case fc.Blob == "" || fc.Blob != ch.Blob:
			return refuse("%s at commit %.12s differs from what PR #%d had approved", ch.Path, cm.SHA, v.PR)
		}
	}
	v.Checked, v.OK = true, true
	return v
}

// MergedAt returns GitHub's merge time of the PR merged into the branch as
// commit sha; ok is false when no such PR exists.
func (c *Checker) MergedAt(ctx context.Context, sha string) (at time.Time, ok bool, err error) {
	prs, err := c.GitHub.PullsWithCommit(ctx, sha)
	if err != nil {
		return time.Time{}, false, err
	}
	for _, pr := range prs {
		if pr.MergedAt != nil && pr.GetMergeCommitSHA() == sha && pr.GetBase().GetRef() == c.Branch {
			return pr.GetMergedAt().Time, true, nil
		}
	}
	return time.Time{}, false, nil
}

// RewrittenError says the branch's history was rewritten after the anchor.
type RewrittenError struct {
	Before, After string
	At            time.Time
	Actor         string
	Why           string
}

func (e *RewrittenError) Error() string {
	msg := fmt.Sprintf("the branch was rewritten: %s", e.Why)
	if e.Before != "" || e.After != "" {
		msg += fmt.Sprintf(" (%.12s -> %.12s", e.Before, e.After)
		if e.Actor != "" {
			msg += " by " + e.Actor
		}
		if !e.At.IsZero() {
			msg += " at " + e.At.UTC().Format(time.RFC3339)
		}
		msg += ")"
	}
	return msg + "; review the branch and restart the broker with --trust-anchor set to a commit you have reviewed"
}

// Rewritten asks GitHub's repository activity for force pushes to the
// branch and reports one made after the anchor: one whose result descends
// from the anchor, or, when its result is not in the clone, one made later
// than the anchor's commit. A force push whose result is the anchor itself
// is the state an operator reviewed.
func (c *Checker) Rewritten(ctx context.Context) (*RewrittenError, error) {
	pushes, err := c.GitHub.ForcePushes(ctx, c.Branch)
	if err != nil {
		return nil, err
	}
	var anchorAt time.Time
	for _, p := range pushes {
		if p.After == c.Anchor {
			continue
		}
		rewritten := &RewrittenError{Before: p.Before, After: p.After, At: p.Timestamp.Time, Actor: p.Actor.GetLogin(), Why: "GitHub's activity shows a force push after the trust anchor"}
		if after, err := c.Git.IsAncestor(ctx, c.Anchor, p.After); err == nil {
			if after {
				return rewritten, nil
			}
			if before, err := c.Git.IsAncestor(ctx, p.After, c.Anchor); err == nil && before {
				continue // history before the anchor: the anchor vouches for what came of it
			}
		}
		if anchorAt.IsZero() {
			if anchorAt, err = c.Git.CommitTime(ctx, c.Anchor); err != nil {
				return nil, err
			}
		}
		if p.Timestamp.After(anchorAt) {
			return rewritten, nil
		}
	}
	return nil, nil
}

// Remember takes definitive verdicts saved by an earlier run, so that a
// restart asks GitHub nothing it already answered.
func (c *Checker) Remember(verdicts []Verdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.verdicts == nil {
		c.verdicts = map[string]Verdict{}
	}
	for _, v := range verdicts {
		if v.Checked {
			c.verdicts[v.SHA] = v
		}
	}
}
