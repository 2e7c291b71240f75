package audit

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/gitlog"
)

// Verifier is the broker's chain of custody (custody.Checker serves it):
// `elevate audit --verify` asks the very same checks.
type Verifier interface {
	Chain(ctx context.Context, head string, commits []custody.Commit) *custody.Chain
	Grant(ctx context.Context, st custody.State, g custody.Grant) (*custody.Verification, error)
	Rewritten(ctx context.Context) (*custody.RewrittenError, error)
}

// Verification states of an entry.
const (
	Verified     = "verified"      // the broker would issue under it
	Unverified   = "unverified"    // the chain of custody refuses it
	BeforeAnchor = "before-anchor" // at or before the trust anchor: nothing after it vouches for it
)

// PolicyChange is a commit after the anchor that changed eligibility.yaml or
// CODEOWNERS, with the chain's verdict on it.
type PolicyChange struct {
	Commit   string
	At       time.Time // committer date
	Paths    []string
	PR       int
	Verified bool
	Reason   string // why not, when !Verified
}

// Failures counts what did not verify: grants, policy changes, a rewrite.
func (r *Report) Failures() int {
	n := 0
	for i := range r.Entries {
		if r.Entries[i].Verification == Unverified {
			n++
		}
	}
	for _, p := range r.Policy {
		if !p.Verified {
			n++
		}
	}
	if r.Rewritten != "" {
		n++
	}
	return n
}

// verify runs the chain of custody over the report: every policy change
// since the anchor, and every valid entry. GitHub being unreachable is an
// error: an audit is never silently partial.
func (r *reader) verify(ctx context.Context, rep *Report, v Verifier, anchor string, versions []*version) error {
	if rw, err := v.Rewritten(ctx); err != nil {
		return fmt.Errorf("read the branch's force pushes: %w", err)
	} else if rw != nil {
		rep.Rewritten = rw.Error()
	}
	// The first-parent chain from the head to the anchor orders grants
	// against policy commits, and gives each commit its first parent.
	seq := map[string]int64{}
	parent := map[string]string{}
	var order []string
	if err := r.git.FirstParents(ctx, r.head, []string{anchor}, func(sha string, _ time.Time) bool {
		order = append(order, sha)
		return true
	}); err != nil {
		return err
	}
	for i, sha := range order {
		seq[sha] = int64(len(order) - i)
		if i+1 < len(order) {
			parent[sha] = order[i+1]
		} else {
			parent[sha] = anchor
		}
	}
	pols, err := r.git.Log(ctx, gitlog.Query{Head: r.head, Exclude: []string{anchor}, Paths: custody.PolicyPaths, Max: r.max})
	if err != nil {
		return fmt.Errorf("read the policy history: %w", err)
	}
	slices.Reverse(pols)
	chain := v.Chain(ctx, r.head, pols)
	if err := chain.Head().Pending; err != nil {
		return err
	}
	polSeq := make([]int64, len(pols))
	for i, c := range pols {
		polSeq[i] = seq[c.SHA]
	}
	for _, verdict := range chain.Verdicts {
		if !verdict.OK || rep.Since.IsZero() || !verdict.At.Before(rep.Since) {
			pc := PolicyChange{Commit: verdict.SHA, At: verdict.At, PR: verdict.PR, Verified: verdict.OK, Reason: verdict.Reason}
			for _, ch := range verdict.Changes {
				pc.Paths = append(pc.Paths, ch.Path)
			}
			rep.Policy = append(rep.Policy, pc)
		}
	}
	slices.SortStableFunc(rep.Policy, func(a, b PolicyChange) int { return b.At.Compare(a.At) })
	for _, ver := range versions {
		if ver.req == nil || ver.Commit == "" {
			continue
		}
		s, after := seq[ver.Commit]
		if !after {
			ver.Verification, ver.VerifyReason = BeforeAnchor, fmt.Sprintf("merged at or before the trust anchor %.12s", anchor)
			continue
		}
		n := sort.Search(len(polSeq), func(i int) bool { return polSeq[i] >= s })
		got, err := v.Grant(ctx, chain.At(n), custody.Grant{ID: ver.ID, Path: ver.Path, Commit: ver.Commit, Parent: parent[ver.Commit], CommittedAt: ver.MergedAt, Digest: ver.digest})
		if err != nil {
			return fmt.Errorf("verify %s: %w", ver.ID, err)
		}
		switch {
		case got.OK:
			ver.Verification = Verified
		case got.Untrusted != nil:
			ver.Verification, ver.VerifyReason, ver.VerifyCommit = Unverified, got.Reason, got.Untrusted.Commit
		default:
			ver.Verification, ver.VerifyReason, ver.VerifyCommit = Unverified, got.Reason, ver.Commit
		}
	}
	return nil
}
