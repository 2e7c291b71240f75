// Package endsession ends AWS sessions that elevate issued before a grant
// ended early (its revocation merged, its requester no longer eligible, its
// history no longer trusted): it keeps, on each target role, an inline
// policy that denies everything to sessions whose SourceIdentity is the
// person's and whose token was issued before the end. IAM evaluates a
// role's policies on every call, so those sessions stop working within
// IAM's propagation time (seconds to minutes), not at their expiry.
package endsession

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// PolicyName is the role's inline policy elevate writes.
const PolicyName = "elevate-ended-sessions"

// MaxPolicySize is IAM's limit on a role's inline policies, in characters
// of the policy without white space.
const MaxPolicySize = 10240

// sidPrefix marks elevate's own statements; any other is left alone.
const sidPrefix = "ElevateEnded"

// Ended is a grant whose sessions must stop working.
type Ended struct {
	AccountID string
	Role      string
	Login     string    // GitHub login of SourceIdentity gh-<login>; "" for every elevate session of the role
	Before    time.Time // sessions issued before this stop working
	Grant     string    // the request id
	Reason    string    // revoked, not_eligible, untrusted
	Commit    string    // the commit that ended it (a revocation's), when there is one
	PR        int       // the grant's PR, where no commit is named
}

// SourceIdentity is what the broker set on the sessions of login.
func SourceIdentity(login string) string { return "gh-" + login }

// Document is an IAM policy document, as IAM's grammar spells it.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document.
type Statement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Action    any                          `json:"Action"`
	Resource  any                          `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// StatementFor is the Deny that ends e's sessions.
func StatementFor(e Ended) Statement {
	cond := map[string]map[string]string{
		"DateLessThan": {"aws:TokenIssueTime": e.Before.UTC().Format(time.RFC3339)},
	}
	who := SourceIdentity(e.Login)
	if e.Login == "" {
		cond["StringLike"] = map[string]string{"aws:SourceIdentity": SourceIdentity("*")}
		who = "*"
	} else {
		cond["StringEquals"] = map[string]string{"aws:SourceIdentity": who}
	}
	sum := sha256.Sum256([]byte(who + "|" + e.Before.UTC().Format(time.RFC3339)))
	return Statement{Sid: sidPrefix + hex.EncodeToString(sum[:8]), Effect: "Deny", Action: "*", Resource: "*", Condition: cond}
}

// ParseDocument reads a policy as GetRolePolicy returns it: URL-encoded
// (RFC 3986) JSON; plain JSON is accepted too.
func ParseDocument(text string) (*Document, error) {
	if strings.HasPrefix(strings.TrimSpace(text), "%7B") || strings.HasPrefix(strings.TrimSpace(text), "%7b") {
		decoded, err := url.PathUnescape(text)
		if err != nil {
			return nil, fmt.Errorf("decode the role policy: %w", err)
		}
		text = decoded
	}
	var d Document
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		return nil, fmt.Errorf("read the role policy %s: %w", PolicyName, err)
	}
	return &d, nil
}

// TooLargeError says the merged policy would pass IAM's size limit: elevate
// refuses to drop statements that still end live sessions.
type TooLargeError struct {
	Size, Limit int
	Live        int // statements that cannot be dropped
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the policy %s would be %d characters, over IAM's %d for a role's inline policies, with %d statements still ending live sessions: raise nothing, review the role's ended sessions by hand", PolicyName, e.Size, e.Limit, e.Live)
}

// Merge adds statements to doc (nil: none yet), once each by Sid; drops
// elevate's statements whose cut-off is older than maxSession ago (no
// session issued before then can still be alive: the role's maximum
// session duration bounds them), and keeps every other statement as is.
// It refuses a result over MaxPolicySize.
func Merge(doc *Document, add []Statement, now time.Time, maxSession time.Duration) (*Document, int, error) {
	out := &Document{Version: "2012-10-17"}
	seen := map[string]bool{}
	dropped := 0
	keep := func(s Statement) {
		if s.Sid != "" && seen[s.Sid] {
			return
		}
		if strings.HasPrefix(s.Sid, sidPrefix) {
			if cut, ok := cutoff(s); ok && cut.Before(now.Add(-maxSession)) {
				dropped++
				return
			}
		}
		seen[s.Sid] = true
		out.Statement = append(out.Statement, s)
	}
	if doc != nil {
		for _, s := range doc.Statement {
			keep(s)
		}
	}
	for _, s := range add {
		keep(s)
	}
	slices.SortStableFunc(out.Statement, func(a, b Statement) int { return strings.Compare(a.Sid, b.Sid) })
	size := Size(out)
	if size > MaxPolicySize {
		return nil, dropped, &TooLargeError{Size: size, Limit: MaxPolicySize, Live: len(out.Statement)}
	}
	return out, dropped, nil
}

// cutoff is the DateLessThan aws:TokenIssueTime of an elevate statement.
func cutoff(s Statement) (time.Time, bool) {
	v, ok := s.Condition["DateLessThan"]["aws:TokenIssueTime"]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil
}

// Size is the document's length as IAM counts it: JSON without white space.
func Size(d *Document) int {
	b, err := json.Marshal(d)
	if err != nil {
		return MaxPolicySize + 1
	}
	return len(b)
}

// JSON is the document as PutRolePolicy takes it.
func JSON(d *Document) string {
	b, _ := json.Marshal(d)
	return string(b)
}

// Holds reports whether doc has every statement of want (by Sid).
func Holds(doc *Document, want []Statement) bool {
	have := map[string]bool{}
	if doc != nil {
		for _, s := range doc.Statement {
			have[s.Sid] = true
		}
	}
	for _, s := range want {
		if !have[s.Sid] {
			return false
		}
	}
	return true
}
