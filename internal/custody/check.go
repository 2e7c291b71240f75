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
	"github.com/elevate-gitops/elevate/internal/prcomment"
)

// prefetch is how many policy changes are read from GitHub at once.
const prefetch = 4

// GitHub is what the chain asks GitHub (githubapi.Repo serves it).
type GitHub interface {
	approval.Source
	Activity
	Pulls
}

// CommentReader lists a PR's first comments and looks up who holds a
// login now (githubapi.Repo serves it).
type CommentReader interface {
	FirstComments(ctx context.Context, number int) ([]*github.IssueComment, bool, error)
	UserID(ctx context.Context, login string) (int64, error)
}

// Checker verifies the branch's recorded moves against GitHub. Definitive
// verdicts on policy changes are cached by step: what GitHub recorded does
// not change, so each costs its GitHub calls once.
type Checker struct {
	GitHub  GitHub
	Git     approval.FileReader
	Members eligibility.Membership // team look-ups (cached by the caller)
	Branch  string
	Anchor  string
	Now     func() time.Time // default time.Now
	// Comments and CommentKey read elevate's merge records: a merged
	// request whose author was renamed since matches its file's requester
	// only through one. Without them, a rename refuses the grant.
	Comments   CommentReader
	CommentKey *prcomment.Key

	mu       sync.Mutex
	verdicts map[string]Verdict // by Step.Key
	files    map[string]fileRead
	calls    atomic.Int64
}

type fileRead struct {
	data []byte
	err  error
}

// FileAt reads a policy file from the clone, remembering each version: the
// policy before every grant is one of the few versions the chain names, so
// thousands of verifications read git a handful of times.
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

// Calls counts the verifications that asked GitHub (policy changes and grants).
func (c *Checker) Calls() int64 { return c.calls.Load() }

// Chain verifies steps (the steps after the anchor that changed policy
// files, oldest first, with those changes) and derives the trust of every
// prefix. A step GitHub cannot answer for now is recorded unchecked and
// asked again next time.
func (c *Checker) Chain(ctx context.Context, steps []Step) *Chain {
	verdicts := make([]Verdict, len(steps))
	todo := make([]int, 0)
	c.mu.Lock()
	for i, st := range steps {
		if v, ok := c.verdicts[st.Key()]; ok {
			verdicts[i] = v
		} else {
			todo = append(todo, i)
		}
	}
	c.mu.Unlock()

	// What GitHub says about each step does not depend on the others, so
	// it is read in parallel; the decisions, which do, run in order.
	read := make([]*merged, len(steps))
	var g errgroup.Group
	g.SetLimit(prefetch)
	for _, i := range todo {
		g.Go(func() error { read[i] = c.readMerge(ctx, steps[i].Move); return nil })
	}
	_ = g.Wait()

	// A verdict is final only when every one before it is: one judged under
	// a refusal that may still turn (a merge GitHub has not linked yet) is
	// judged again with it.
	settled := true
	for i := range steps {
		if m := read[i]; m != nil {
			st := Build(c.Anchor, verdicts[:i]).Head()
			verdicts[i] = c.decide(ctx, steps[i], m, st)
			if settled && verdicts[i].final() {
				c.mu.Lock()
				if c.verdicts == nil {
					c.verdicts = map[string]Verdict{}
				}
				c.verdicts[steps[i].Key()] = verdicts[i]
				c.mu.Unlock()
			}
		}
		settled = settled && verdicts[i].final()
	}
	return Build(c.Anchor, verdicts)
}

// merged is what GitHub says about the merge a move made.
type merged struct {
	pr     *github.PullRequest
	facts  *approval.Facts
	reason string // set when GitHub shows no merged PR there: a refusal
	retry  bool   // the refusal is asked again next time
	err    error  // GitHub could not answer: ask again
}

// unlisted answers for a move GitHub does not show as the merge of a pull
// request: "not yet" for a merge it recorded (or a head it has not
// recorded) within ListingDelay of when it was first seen, then a refusal;
// at once for a push, whose activity already says who made it.
func (c *Checker) unlisted(m Move, firstSeen time.Time) *merged {
	since := m.At
	if !firstSeen.IsZero() && firstSeen.Before(since) {
		since = firstSeen
	}
	waiting := c.now().Sub(since) < ListingDelay
	switch {
	case m.Type == MoveUnrecorded && waiting:
		return &merged{err: fmt.Errorf("GitHub's activity does not list the move of %s to %.12s yet: %w", c.Branch, m.After, ErrNotRecorded)}
	case m.Type == MoveUnrecorded:
		return &merged{retry: true, reason: fmt.Sprintf("GitHub's activity has not recorded the move of %s to %.12s for %s", c.Branch, m.After, ListingDelay)}
	case m.merged() && waiting:
		return &merged{err: fmt.Errorf("GitHub lists no merged pull request for %.12s yet: %w", m.After, ErrNotRecorded)}
	case m.merged():
		return &merged{retry: true, reason: fmt.Sprintf("GitHub recorded a merge to %.12s but lists no pull request merged there", m.After)}
	}
	who := ""
	if m.Actor != "" {
		who = " by " + m.Actor
	}
	return &merged{reason: fmt.Sprintf("commit %.12s was pushed to %s%s, not merged from an approved pull request (a direct push or an admin bypass changes no trusted policy and grants nothing)", m.After, c.Branch, who)}
}

// readMerge finds the merged PR into the branch whose merge commit is the
// move's after: only the states at merge count, never a commit between.
func (c *Checker) readMerge(ctx context.Context, m Move) *merged {
	if m.Type == MoveUnrecorded {
		return c.unlisted(m, m.At)
	}
	c.calls.Add(1)
	found, err := MergeOf(ctx, c.GitHub, c.Branch, m.After)
	if errors.Is(err, ErrAmbiguousMerge) {
		return &merged{reason: err.Error()}
	}
	if err != nil {
		return &merged{err: err}
	}
	if found == nil {
		return c.unlisted(m, time.Time{})
	}
	pr, err := c.GitHub.PullRequest(ctx, found.GetNumber())
	if err != nil {
		return &merged{err: err}
	}
	facts, err := approval.Gather(ctx, c.GitHub, pr)
	if err != nil {
		return &merged{err: err}
	}
	return &merged{pr: pr, facts: facts}
}

// decide judges one policy step against st, the trust before it: the PR
// merged exactly at its after must be a change PR whose verdict held at its
// merge time, and the step's changes to policy files must be exactly the
// PR's (by blob), whatever a rebase put between.
func (c *Checker) decide(ctx context.Context, step Step, m *merged, st State) Verdict {
	v := Verdict{Step: step}
	refuse := func(format string, args ...any) Verdict {
		v.Checked, v.Reason = true, fmt.Sprintf(format, args...)
		return v
	}
	for _, ch := range step.Changes {
		if IsPolicyPath(ch.Path) && !ch.Regular() {
			return refuse("%s became a symlink or a submodule (mode %s): policy files must be regular files", ch.Path, ch.Mode)
		}
	}
	switch {
	case m.err != nil:
		v.Err = m.err
		return v
	case m.reason != "":
		v.Retry = m.retry
		return refuse("%s", m.reason)
	case st.Pending != nil:
		v.Err = st.Pending
		return v
	}
	pr, facts := m.pr, m.facts
	v.PR = pr.GetNumber()
	base, err := approval.PolicyAt(ctx, st.Reader(c), step.Before)
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
	for _, ch := range step.Changes {
		if !IsPolicyPath(ch.Path) {
			continue
		}
		fc, ok := listed[ch.Path]
		switch {
		case !ok:
			return refuse("the merge %.12s changes %s, which PR #%d does not (a merge that adds its own changes)", step.After, ch.Path, v.PR)
		case ch.Status == 'D':
			if fc.Status != "removed" {
				return refuse("the merge %.12s deletes %s, which PR #%d does not", step.After, ch.Path, v.PR)
			}
		case fc.Blob == "" || fc.Blob != ch.Blob:
			return refuse("%s at %.12s differs from what PR #%d had approved", ch.Path, step.After, v.PR)
		}
	}
	v.Checked, v.OK = true, true
	return v
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
		if v.final() {
			c.verdicts[v.Key()] = v
		}
	}
}
