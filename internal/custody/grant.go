package custody

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/approval"
)

// Grant is a request file on the branch, as the ledger found it.
type Grant struct {
	ID          string
	Path        string
	Commit      string // the first-parent commit that last added or changed it
	Parent      string // that commit's first parent
	CommittedAt time.Time
	Digest      [sha256.Size]byte // of the file's bytes on the branch
}

// Verification is the chain's word on a grant.
type Verification struct {
	OK          bool
	Reason      string // why not, when !OK
	PR          int
	AuthorID    int64 // the grant belongs to this GitHub user
	AuthorLogin string
	MergedAt    time.Time // authoritative start of the window
	// Untrusted is set when the policy at the merge's first parent is not
	// trusted: the grant is refused as untrusted history.
	Untrusted *UntrustedError
}

// Grant re-verifies g: its commit is the merge of a PR into the branch that
// approval.Decide approved at its merge time, judged against eligibility.yaml
// and CODEOWNERS at the merge's first parent, which st (the trust before
// the commit) must show trusted; the PR added exactly the bytes on the
// branch. An error means "could not verify now": ask again later.
func (c *Checker) Grant(ctx context.Context, st State, g Grant) (*Verification, error) {
	if st.Pending != nil {
		return nil, st.Pending
	}
	if st.Untrusted != nil {
		return &Verification{Reason: "the policy it was judged under is not trusted: " + st.Untrusted.Error(), Untrusted: st.Untrusted}, nil
	}
	c.calls.Add(1)
	prs, err := c.GitHub.PullsWithCommit(ctx, g.Commit)
	if err != nil {
		return nil, fmt.Errorf("find the PR of commit %s: %w", g.Commit, err)
	}
	var found *github.PullRequest
	for _, pr := range prs {
		if pr.MergedAt != nil && pr.GetMergeCommitSHA() == g.Commit && pr.GetBase().GetRef() == c.Branch {
			found = pr
			break
		}
	}
	if found == nil {
		if c.now().Sub(g.CommittedAt) < linkDelay {
			return nil, fmt.Errorf("GitHub lists no merged pull request for commit %.12s yet; asking again shortly", g.Commit)
		}
		return &Verification{Reason: fmt.Sprintf("commit %.12s did not come from a merged pull request into %s (a direct push grants nothing)", g.Commit, c.Branch)}, nil
	}
	pr, err := c.GitHub.PullRequest(ctx, found.GetNumber())
	if err != nil {
		return nil, err
	}
	out := &Verification{PR: pr.GetNumber(), AuthorID: pr.GetUser().GetID(), AuthorLogin: pr.GetUser().GetLogin(), MergedAt: pr.GetMergedAt().Time}
	if pr.MergedAt == nil || pr.GetMergeCommitSHA() != g.Commit {
		out.Reason = fmt.Sprintf("PR #%d is not merged as %.12s", pr.GetNumber(), g.Commit)
		return out, nil
	}
	facts, err := approval.Gather(ctx, c.GitHub, pr)
	if err != nil {
		return nil, err
	}
	// The branch as it was when the PR merged (its first parent), not the
	// PR's base.sha, which may be older and looser. st is trusted, so the
	// last trusted version of each policy file is the one at g.Parent.
	if facts.Base, err = approval.PolicyAt(ctx, st.Reader(c), g.Parent); err != nil {
		return nil, err
	}
	facts.Base.Ref = g.Parent
	verdict, err := approval.Decide(ctx, facts, c.Members, out.MergedAt)
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
