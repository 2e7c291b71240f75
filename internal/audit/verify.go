package audit

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
)

// Verifier is the broker's chain of custody (custody.Checker serves it):
// `elevate audit --verify` asks the very same checks of the very same
// recorded steps.
type Verifier interface {
	Chain(ctx context.Context, steps []custody.Step) *custody.Chain
	Grant(ctx context.Context, st custody.State, g custody.Grant) (*custody.Verification, error)
}

// Verification states of an entry.
const (
	Verified     = "verified"      // the broker would issue under it
	Unverified   = "unverified"    // the chain of custody refuses it
	BeforeAnchor = "before-anchor" // at or before the trust anchor: nothing after it vouches for it
)

// PolicyChange is a recorded step after the anchor that changed
// eligibility.yaml or CODEOWNERS, with the chain's verdict on it.
type PolicyChange struct {
	Commit   string    // where the step left the branch
	At       time.Time // GitHub's time of the move
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
// since the anchor, and every valid entry, each judged at the step GitHub
// recorded for it. GitHub being unreachable is an error: an audit is never
// silently partial.
func (r *reader) verify(ctx context.Context, rep *Report, v Verifier, versions []*version) error {
	switch {
	case r.rewrite != nil:
		rep.Rewritten = r.rewrite.Error()
	case r.reachErr != nil:
		rep.Rewritten = fmt.Sprintf("GitHub's activity of %s does not reach back to the trust anchor %.12s, so what happened between them is unknown; audit --verify --from a later commit you have reviewed", rep.Branch, rep.Anchor)
	}
	seq := make(map[string]int, len(r.steps))
	var pols []custody.Step
	var polSeq []int
	for i, st := range r.steps {
		seq[st.After] = i + 1
		if pol, ok := st.Policy(); ok {
			pols = append(pols, pol)
			polSeq = append(polSeq, i+1)
		}
	}
	chain := v.Chain(ctx, pols)
	if err := chain.Head().Pending; err != nil {
		return err
	}
	for _, verdict := range chain.Verdicts {
		if !verdict.OK || rep.Since.IsZero() || !verdict.At.Before(rep.Since) {
			pc := PolicyChange{Commit: verdict.After, At: verdict.At, PR: verdict.PR, Verified: verdict.OK, Reason: verdict.Reason}
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
		step, after := r.stepOf[ver.Commit]
		if !after {
			ver.Verification, ver.VerifyReason = BeforeAnchor, fmt.Sprintf("merged at or before the trust anchor %.12s", rep.Anchor)
			continue
		}
		n := sort.Search(len(polSeq), func(i int) bool { return polSeq[i] >= seq[ver.Commit] })
		got, err := v.Grant(ctx, chain.At(n), custody.Grant{ID: ver.ID, Path: ver.Path, Step: step, Digest: ver.digest})
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
