package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/eligibility"
)

// Verification is GitHub's word on a grant's commit.
type Verification struct {
	OK          bool
	Reason      string // why not, when !OK
	PR          int
	AuthorID    int64 // the grant belongs to this GitHub user
	AuthorLogin string
	MergedAt    time.Time // authoritative start of the window
}

// Verifier re-checks a grant against GitHub. An error means "could not
// verify" (GitHub unreachable): the grant is not usable and is asked again later.
type Verifier interface {
	Verify(ctx context.Context, g *Grant) (*Verification, error)
}

// PullSource is what GitHubVerifier reads through the GitHub API.
type PullSource interface {
	eligibility.Membership
	PullsWithCommit(ctx context.Context, sha string) ([]*github.PullRequest, error)
	PullRequest(ctx context.Context, number int) (*github.PullRequest, error)
	Facts(ctx context.Context, pr *github.PullRequest) (*approval.Facts, error)
}

// GitHubVerifier checks that a grant's commit is the merge of a PR that the
// approval decision approved at its merge time, into Branch, adding exactly
// the bytes on the branch. Admin pushes and bypass merges grant nothing.
type GitHubVerifier struct {
	GitHub  PullSource
	Members eligibility.Membership // team look-ups (cached by the caller)
	Branch  string
	Now     func() time.Time // default time.Now
}

// linkDelay is how long after a merge GitHub may still not list the PR of
// its commit: until then "no PR" is an error (asked again), not a verdict.
const linkDelay = 10 * time.Minute

// Verify implements Verifier.
func (v *GitHubVerifier) Verify(ctx context.Context, g *Grant) (*Verification, error) {
	prs, err := v.GitHub.PullsWithCommit(ctx, g.Commit)
	if err != nil {
		return nil, fmt.Errorf("find the PR of commit %s: %w", g.Commit, err)
	}
	var merged *github.PullRequest
	for _, pr := range prs {
		if pr.GetMerged() || pr.MergedAt != nil {
			if pr.GetMergeCommitSHA() == g.Commit && pr.GetBase().GetRef() == v.Branch {
				merged = pr
				break
			}
		}
	}
	if merged == nil {
		now := time.Now
		if v.Now != nil {
			now = v.Now
		}
		if now().Sub(g.CommittedAt) < linkDelay {
			return nil, fmt.Errorf("GitHub lists no merged pull request for commit %.12s yet; asking again shortly", g.Commit)
		}
		return &Verification{Reason: fmt.Sprintf("commit %.12s did not come from a merged pull request into %s (a direct push grants nothing)", g.Commit, v.Branch)}, nil
	}
	pr, err := v.GitHub.PullRequest(ctx, merged.GetNumber())
	if err != nil {
		return nil, err
	}
	out := &Verification{PR: pr.GetNumber(), AuthorID: pr.GetUser().GetID(), AuthorLogin: pr.GetUser().GetLogin(), MergedAt: pr.GetMergedAt().Time}
	if pr.MergedAt == nil || pr.GetMergeCommitSHA() != g.Commit {
		out.Reason = fmt.Sprintf("PR #%d is not merged as %.12s", pr.GetNumber(), g.Commit)
		return out, nil
	}
	facts, err := v.GitHub.Facts(ctx, pr)
	if err != nil {
		return nil, err
	}
	verdict, err := approval.Decide(ctx, facts, v.Members, out.MergedAt)
	if err != nil {
		return nil, err
	}
	switch {
	case verdict.State != approval.Approved:
		out.Reason = fmt.Sprintf("PR #%d was merged without a passing verdict: %s", pr.GetNumber(), verdict.Summary())
	case verdict.Kind != approval.KindRequest || verdict.Path != g.Path:
		out.Reason = fmt.Sprintf("PR #%d did not add %s", pr.GetNumber(), g.Path)
	case sha256.Sum256(facts.Added) != g.Digest:
		out.Reason = fmt.Sprintf("%s on the branch differs from what PR #%d had approved", g.Path, pr.GetNumber())
	default:
		out.OK = true
	}
	return out, nil
}

// verify returns the cached verdict on g, asking the verifier once.
func (l *Ledger) verify(ctx context.Context, g *Grant) (*Verification, error) {
	key := g.Commit + ":" + g.Path
	l.stateMu.Lock()
	v, ok := l.verified[key]
	l.stateMu.Unlock()
	if ok {
		return v, nil
	}
	l.verifyCall.Add(1)
	v, err := l.cfg.Verifier.Verify(ctx, g)
	if err != nil {
		return nil, err
	}
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	l.verified[key] = v
	if v.OK && g.Request != nil {
		k := userKey{v.AuthorID, g.Request.Account, g.Request.Role}
		l.byUser[k] = appendUnique(l.byUser[k], g.ID)
	}
	if !v.OK {
		l.cfg.Logger.Warn("grant refused by re-verification", "request", g.ID, "commit", g.Commit, "reason", v.Reason)
	}
	return v, nil
}

// VerifyAll verifies every grant of the current index not yet verified, a
// few at a time, so issuing later needs no GitHub call. It returns the first
// error; the grants it could not verify are asked again on use.
func (l *Ledger) VerifyAll(ctx context.Context) error {
	x := l.Index()
	if x == nil {
		return nil
	}
	var todo []*Grant
	l.stateMu.Lock()
	for _, g := range x.grants {
		if _, ok := l.verified[g.Commit+":"+g.Path]; !ok && g.Request != nil {
			todo = append(todo, g)
		}
	}
	l.stateMu.Unlock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 4)
	for _, g := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := l.verify(ctx, g); err != nil {
				mu.Lock()
				first = errors.Join(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// VerifyCalls counts calls made to the verifier (for tests and metrics).
func (l *Ledger) VerifyCalls() int64 { return l.verifyCall.Load() }
