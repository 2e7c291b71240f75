package custody

import (
	"context"
	"fmt"
	"slices"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/codeowners"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/gitlog"
)

// PolicyPaths are the files whose every change the chain verifies:
// eligibility.yaml and each place GitHub looks for CODEOWNERS.
var PolicyPaths = append([]string{eligibility.File}, codeowners.Locations...)

// IsPolicyPath reports whether path is one of PolicyPaths.
func IsPolicyPath(path string) bool { return slices.Contains(PolicyPaths, path) }

// Change is one file a step changed, compared by trees.
type Change = gitlog.Change

// Step is a move of the branch head as GitHub recorded it (or one merge of
// a merge-queue batch), with the changes it made to the ledger's files,
// found by comparing the trees at its two ends.
type Step struct {
	Move
	Changes []Change
}

// Policy is the step with only its changes to policy files; false when it
// changed none.
func (s Step) Policy() (Step, bool) {
	var changes []Change
	for _, ch := range s.Changes {
		if IsPolicyPath(ch.Path) {
			changes = append(changes, ch)
		}
	}
	return Step{Move: s.Move, Changes: changes}, len(changes) > 0
}

// Key names the step by its two ends.
func (s Step) Key() string { return s.Before + ".." + s.After }

// Verdict is the chain's word on one step that changed policy files.
type Verdict struct {
	Step
	// Checked is false while the step could not be verified (GitHub
	// unreachable, or the merge not listed yet): it is asked again, and
	// nothing after it is trusted meanwhile.
	Checked bool
	OK      bool
	// Retry marks a refusal that is asked again next time: a merge GitHub
	// recorded but has not linked to its pull request yet.
	Retry  bool   `json:",omitempty"`
	PR     int    `json:",omitempty"`
	Reason string `json:",omitempty"` // why not, when Checked and !OK
	Err    error  `json:"-"`          // why not checked
}

// UntrustedError names the policy file whose last change did not verify.
type UntrustedError struct {
	Path   string
	Commit string // the step's after
	Reason string
	// Retry is set when that refusal is asked again (a merge GitHub has
	// not linked to its PR yet): what is judged under it is not final.
	Retry bool
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("%s was last changed by commit %.12s, which is not trusted: %s", e.Path, e.Commit, e.Reason)
}

// PendingError says a policy change could not be verified yet.
type PendingError struct {
	Commit string
	Err    error
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("the policy change at %.12s could not be verified yet: %v", e.Commit, e.Err)
}

func (e *PendingError) Unwrap() error { return e.Err }

// Chain is the verified history of the policy files after the anchor.
type Chain struct {
	Anchor   string
	Verdicts []Verdict // oldest first, one per step that changed a policy file
	states   []State   // states[n]: after the first n verdicts
}

// State is the trust of the policy files after some prefix of the chain.
type State struct {
	// Untrusted is set when a policy file's last change did not verify.
	Untrusted *UntrustedError
	// Pending is set when a commit of the prefix is not checked yet.
	Pending *PendingError
	// unsettled is set when a verdict of the prefix may still turn (a
	// refusal asked again): what is judged under this state is not final.
	unsettled bool
	anchor    string
	refs      map[string]string // path -> commit holding its last trusted version; absent: the anchor's
}

// Err is the first reason the state cannot be trusted, or nil.
func (s State) Err() error {
	switch {
	case s.Pending != nil:
		return s.Pending
	case s.Untrusted != nil:
		return s.Untrusted
	}
	return nil
}

// Build derives the trust states of verdicts (oldest first) after anchor.
func Build(anchor string, verdicts []Verdict) *Chain {
	c := &Chain{Anchor: anchor, Verdicts: verdicts, states: make([]State, 0, len(verdicts)+1)}
	cur := State{anchor: anchor, refs: map[string]string{}}
	untrusted := map[string]*UntrustedError{}
	c.states = append(c.states, cur)
	for _, v := range verdicts {
		next := State{anchor: anchor, refs: cur.refs, Pending: cur.Pending, unsettled: cur.unsettled || (v.Checked && v.Retry)}
		switch {
		case next.Pending != nil:
		case !v.Checked:
			next.Pending = &PendingError{Commit: v.After, Err: v.Err}
		default:
			next.refs = cloneRefs(cur.refs)
			for _, ch := range v.Changes {
				if !IsPolicyPath(ch.Path) {
					continue
				}
				if v.OK {
					next.refs[ch.Path] = v.After
					delete(untrusted, ch.Path)
				} else {
					untrusted[ch.Path] = &UntrustedError{Path: ch.Path, Commit: v.After, Reason: v.Reason, Retry: v.Retry}
				}
			}
		}
		for _, p := range PolicyPaths { // the same order every time
			if u := untrusted[p]; u != nil {
				next.Untrusted = u
				break
			}
		}
		c.states = append(c.states, next)
		cur = next
	}
	return c
}

func cloneRefs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Settled is the verdicts up to the first one that may still change (not
// checked, or a refusal asked again): what comes after was judged under a
// trust that is not final, so it is neither cached nor saved.
func (c *Chain) Settled() []Verdict {
	for i, v := range c.Verdicts {
		if !v.final() {
			return c.Verdicts[:i]
		}
	}
	return c.Verdicts
}

func (v Verdict) final() bool { return v.Checked && !v.Retry }

// Len is the number of policy changes after the anchor.
func (c *Chain) Len() int { return len(c.Verdicts) }

// At is the state after the first n policy changes (0: the anchor's).
func (c *Chain) At(n int) State { return c.states[max(0, min(n, len(c.states)-1))] }

// Head is the state after every policy change: the branch head's.
func (c *Chain) Head() State { return c.states[len(c.states)-1] }

// Reader reads the last trusted version of each policy file, so a change PR
// after an untrusted push is judged by the owners the trusted CODEOWNERS
// names, not by whoever the push added. ref is ignored.
func (s State) Reader(git approval.FileReader) approval.FileReader {
	return trustedView{git: git, s: s}
}

type trustedView struct {
	git approval.FileReader
	s   State
}

func (v trustedView) FileAt(ctx context.Context, path, _ string, maxBytes int64) ([]byte, error) {
	if !IsPolicyPath(path) {
		return nil, fmt.Errorf("the trusted view holds only the policy files, not %s", path)
	}
	at, ok := v.s.refs[path]
	if !ok {
		at = v.s.anchor
	}
	return v.git.FileAt(ctx, path, at, maxBytes)
}
