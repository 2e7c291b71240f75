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

// Commit and Change are first-parent history as the ledger and the audit
// read it from git.
type (
	Commit = gitlog.Commit
	Change = gitlog.Change
)

// Verdict is the chain's word on one policy commit.
type Verdict struct {
	Commit
	// Checked is false while the commit could not be verified (GitHub
	// unreachable, or not yet linked to its PR): it is asked again, and
	// nothing after it is trusted meanwhile.
	Checked bool
	OK      bool
	PR      int
	Reason  string // why not, when Checked and !OK
	Err     error  // why not checked
}

// UntrustedError names the policy file whose last change did not verify.
type UntrustedError struct {
	Path   string
	Commit string
	Reason string
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("%s was last changed by commit %.12s, which is not trusted: %s", e.Path, e.Commit, e.Reason)
}

// PendingError says a policy commit could not be verified yet.
type PendingError struct {
	Commit string
	Err    error
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("policy commit %.12s could not be verified yet: %v", e.Commit, e.Err)
}

func (e *PendingError) Unwrap() error { return e.Err }

// Chain is the verified history of the policy files after the anchor.
type Chain struct {
	Anchor   string
	Verdicts []Verdict // oldest first
	states   []State   // states[n]: after the first n verdicts
}

// State is the trust of the policy files after some prefix of the chain.
type State struct {
	// Untrusted is set when a policy file's last change did not verify.
	Untrusted *UntrustedError
	// Pending is set when a commit of the prefix is not checked yet.
	Pending *PendingError
	anchor  string
	refs    map[string]string // path -> commit holding its last trusted version; absent: the anchor's
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
		next := State{anchor: anchor, refs: cur.refs, Pending: cur.Pending}
		switch {
		case next.Pending != nil:
		case !v.Checked:
			next.Pending = &PendingError{Commit: v.SHA, Err: v.Err}
		default:
			next.refs = cloneRefs(cur.refs)
			for _, ch := range v.Changes {
				if !IsPolicyPath(ch.Path) {
					continue
				}
				if v.OK {
					next.refs[ch.Path] = v.SHA
					delete(untrusted, ch.Path)
				} else {
					untrusted[ch.Path] = &UntrustedError{Path: ch.Path, Commit: v.SHA, Reason: v.Reason}
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

// Len is the number of policy commits after the anchor.
func (c *Chain) Len() int { return len(c.Verdicts) }

// At is the state after the first n policy commits (0: the anchor's).
func (c *Chain) At(n int) State { return c.states[max(0, min(n, len(c.states)-1))] }

// Head is the state after every policy commit: the branch head's.
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
