// Package endsession ends AWS sessions that elevate issued before a grant
// ended early (its revocation merged, its requester no longer eligible, its
// history no longer trusted): it keeps, on each target role, an inline
// policy that denies everything to the grant's sessions (or the person's,
// or every elevate session of the role) whose token was issued before the
// end. IAM evaluates a role's policies on every call, so those sessions
// stop working within IAM's propagation time (seconds to minutes), not at
// their expiry.
//
// A Deny names sessions by the tags the broker set on them at issuance
// (awscreds.TagRequest, awscreds.TagGitHubID), never by a login: a login
// can change between issuance and the end, a request id and a numeric
// GitHub id cannot.
package endsession

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/elevate-gitops/elevate/internal/awscreds"
)

// PolicyName is the role's inline policy elevate writes.
const PolicyName = "elevate-ended-sessions"

// MaxPolicySize is IAM's limit on all of a role's inline policies together,
// in characters of the policies without white space.
const MaxPolicySize = 10240

// sidPrefix starts the Sid of elevate's statements. A Sid is a name, not a
// proof: statements are recognised by their content.
const sidPrefix = "ElevateEnded"

// Scope is whose sessions a Deny ends.
type Scope int

const (
	// ScopeGrant ends one grant's sessions: those tagged elevate-request
	// with its request id. The person's other grants keep working.
	ScopeGrant Scope = iota + 1
	// ScopePerson ends every session of one person on the role: those
	// tagged elevate-github-id with their numeric GitHub id.
	ScopePerson
	// ScopeRole ends every session elevate issued on the role: those that
	// carry an elevate-request tag at all.
	ScopeRole
)

// Ended is a grant whose sessions must stop working.
type Ended struct {
	AccountID string
	Role      string
	Scope     Scope
	Grant     string    // the request id: the elevate-request tag of its sessions
	UserID    int64     // the person's numeric GitHub id (elevate-github-id), for ScopePerson
	Login     string    // for people to read (comments, notices), never in a Deny; "" with ScopeRole
	Before    time.Time // sessions issued before this stop working
	Reason    string    // revoked, not_eligible, untrusted
	Commit    string    // the commit that ended it (a revocation's), when there is one
	PR        int       // the grant's PR, where no commit is named
}

// Document is an IAM policy document, as IAM's grammar spells it.
type Document struct {
	Version   string      `json:"Version"`
	ID        string      `json:"Id,omitempty"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document. Fields other than Sid,
// Effect, Action, Resource and Condition only carry what someone else
// wrote back unchanged; values keep the shapes IAM allows (a string or a
// list, a condition value a string, list or boolean).
type Statement struct {
	Sid          string                    `json:"Sid,omitempty"`
	Effect       string                    `json:"Effect"`
	Principal    any                       `json:"Principal,omitempty"`
	NotPrincipal any                       `json:"NotPrincipal,omitempty"`
	Action       any                       `json:"Action,omitempty"`
	NotAction    any                       `json:"NotAction,omitempty"`
	Resource     any                       `json:"Resource,omitempty"`
	NotResource  any                       `json:"NotResource,omitempty"`
	Condition    map[string]map[string]any `json:"Condition,omitempty"`
}

// UnmarshalJSON reads a document whose Statement is a list or, as IAM
// also allows, a single statement; numbers are kept as written.
func (d *Document) UnmarshalJSON(b []byte) error {
	var raw struct {
		Version   string          `json:"Version"`
		ID        string          `json:"Id"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := decode(b, &raw); err != nil {
		return err
	}
	d.Version, d.ID, d.Statement = raw.Version, raw.ID, nil
	s := bytes.TrimSpace(raw.Statement)
	switch {
	case len(s) == 0 || bytes.Equal(s, []byte("null")):
		return nil
	case s[0] == '{':
		var one Statement
		if err := decode(s, &one); err != nil {
			return err
		}
		d.Statement = []Statement{one}
		return nil
	}
	return decode(s, &d.Statement)
}

func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// StatementFor is the Deny that ends e's sessions: every action, for the
// sessions e's scope names whose token was issued before e.Before. The
// tag keys are the ones the broker sets at issuance; a request id and a
// numeric id are already in STS's tag alphabet, so the values match the
// tags as issued.
func StatementFor(e Ended) (Statement, error) {
	cond := map[string]map[string]any{
		"DateLessThan": {"aws:TokenIssueTime": e.Before.UTC().Format(time.RFC3339)},
	}
	switch e.Scope {
	case ScopeGrant:
		if e.Grant == "" {
			return Statement{}, errors.New("a grant's Deny needs its request id")
		}
		cond["StringEquals"] = map[string]any{"aws:PrincipalTag/" + awscreds.TagRequest: e.Grant}
	case ScopePerson:
		if e.UserID <= 0 {
			return Statement{}, fmt.Errorf("a person's Deny needs their numeric GitHub id (grant %s)", e.Grant)
		}
		cond["StringEquals"] = map[string]any{"aws:PrincipalTag/" + awscreds.TagGitHubID: strconv.FormatInt(e.UserID, 10)}
	case ScopeRole:
		// Every session the broker issues carries elevate-request; the
		// role's other users (pipelines, break-glass) do not, and keep
		// working. A SourceIdentity pattern would name logins, which
		// anyone assuming the role may set.
		cond["Null"] = map[string]any{"aws:PrincipalTag/" + awscreds.TagRequest: "false"}
	default:
		return Statement{}, fmt.Errorf("grant %s: no scope says whose sessions end", e.Grant)
	}
	s := Statement{Effect: "Deny", Action: "*", Resource: "*", Condition: cond}
	sum := sha256.Sum256([]byte(contentKey(s)))
	s.Sid = sidPrefix + hex.EncodeToString(sum[:8])
	return s, nil
}

// ParseDocument reads a policy as GetRolePolicy returns it: URL-encoded
// (RFC 3986) JSON; plain JSON is accepted too.
func ParseDocument(text string) (*Document, error) {
	text, err := decodePolicy(text)
	if err != nil {
		return nil, err
	}
	var d Document
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		return nil, fmt.Errorf("read the role policy %s: %w", PolicyName, err)
	}
	return &d, nil
}

func decodePolicy(text string) (string, error) {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "%7B") || strings.HasPrefix(t, "%7b") {
		decoded, err := url.PathUnescape(t)
		if err != nil {
			return "", fmt.Errorf("decode the role policy: %w", err)
		}
		return decoded, nil
	}
	return text, nil
}

// TextSize is a policy's size as IAM counts it against MaxPolicySize:
// its characters without white space (outside its strings).
func TextSize(text string) int {
	text, err := decodePolicy(text)
	var b bytes.Buffer
	if err == nil && json.Compact(&b, []byte(text)) == nil {
		return utf8.RuneCount(b.Bytes())
	}
	n := 0
	for _, r := range text {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// Inline is a role's inline policies as read: elevate's own, parsed, and
// the size of each other one.
type Inline struct {
	Ours   *Document      // nil: none yet
	Others map[string]int // policy name -> characters (TextSize)
}

func (in Inline) othersSize() int {
	n := 0
	for _, size := range in.Others {
		n += size
	}
	return n
}

// TooLargeError says the role's inline policies would pass IAM's size
// limit even after every expired statement was dropped: the Deny cannot be
// written, and nothing that still ends live sessions is dropped to make
// room.
type TooLargeError struct {
	Size, Limit int
	Ours        int            // characters of elevate-ended-sessions as it would be
	Live        int            // its statements, none of them expired
	Others      map[string]int // the role's other inline policies and their sizes
}

func (e *TooLargeError) Error() string {
	names := make([]string, 0, len(e.Others))
	for name := range e.Others {
		names = append(names, name)
	}
	slices.Sort(names)
	others := "none"
	if len(names) > 0 {
		parts := make([]string, len(names))
		for i, name := range names {
			parts[i] = fmt.Sprintf("%s %d", name, e.Others[name])
		}
		others = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("the role's inline policies would hold %d characters, over IAM's %d for all of a role's inline policies together (%s %d in %d statements still ending live sessions; others: %s): make room in the role's other inline policies, or review its ended sessions by hand",
		e.Size, e.Limit, PolicyName, e.Ours, e.Live, others)
}

// Merge is elevate's policy with add in it: every statement of the
// ended-sessions shape whose cut-off is older than maxSession ago is
// dropped, whoever wrote it (no session issued before then can still be
// alive: the role's maximum session duration bounds them); statements are
// kept once each by content, whatever their Sid; every other statement is
// kept as it is. It refuses a result that would take the role's inline
// policies together over MaxPolicySize, and returns how many statements it
// dropped.
func Merge(in Inline, add []Statement, now time.Time, maxSession time.Duration) (*Document, int, error) {
	horizon := now.Add(-maxSession)
	out := &Document{Version: "2012-10-17"}
	if in.Ours != nil && in.Ours.ID != "" {
		out.ID = in.Ours.ID
	}
	have := map[string]bool{}
	sids := map[string]bool{}
	dropped := 0
	keep := func(s Statement, ours bool) {
		if Expired(s, horizon) {
			dropped++
			return
		}
		k := contentKey(s)
		if have[k] {
			if !ours {
				dropped++ // the same Deny twice
			}
			return
		}
		have[k] = true
		if ours {
			// A statement someone else wrote may carry our Sid with other
			// content; IAM wants a policy's Sids unique.
			base := s.Sid
			for i := 2; sids[s.Sid]; i++ {
				s.Sid = base + "n" + strconv.Itoa(i)
			}
		}
		if s.Sid != "" {
			sids[s.Sid] = true
		}
		out.Statement = append(out.Statement, s)
	}
	if in.Ours != nil {
		for _, s := range in.Ours.Statement {
			keep(s, false)
		}
	}
	for _, s := range add {
		keep(s, true)
	}
	dropped += subsume(out)
	slices.SortStableFunc(out.Statement, func(a, b Statement) int { return strings.Compare(a.Sid, b.Sid) })
	ours := Size(out)
	if total := ours + in.othersSize(); total > MaxPolicySize {
		return nil, dropped, &TooLargeError{Size: total, Limit: MaxPolicySize, Ours: ours, Live: len(out.Statement), Others: in.Others}
	}
	return out, dropped, nil
}

// Expired reports whether s is a statement of the ended-sessions shape (a
// Deny of every action on every resource for sessions whose token was
// issued before a time, with any further condition) whose time is before
// horizon: it can no longer deny anything.
func Expired(s Statement, horizon time.Time) bool {
	cut, ok := cutoff(s)
	return ok && cut.Before(horizon)
}

// cutoff is the DateLessThan aws:TokenIssueTime of a statement of the
// ended-sessions shape.
func cutoff(s Statement) (time.Time, bool) {
	if s.Effect != "Deny" || !every(s.Action) || !every(s.Resource) ||
		s.NotAction != nil || s.NotResource != nil || s.Principal != nil || s.NotPrincipal != nil {
		return time.Time{}, false
	}
	var latest time.Time
	found := false
	for key, v := range s.Condition["DateLessThan"] {
		if !strings.EqualFold(key, "aws:TokenIssueTime") {
			continue
		}
		// Several values are alternatives: the latest one bounds them.
		for _, text := range values(v) {
			t, err := parseTime(text)
			if err != nil {
				return time.Time{}, false
			}
			if !found || t.After(latest) {
				latest, found = t, true
			}
		}
	}
	return latest, found
}

// every reports whether an Action or Resource element covers everything.
func every(v any) bool {
	for _, s := range values(v) {
		if s == "*" {
			return true
		}
	}
	return false
}

// values is a policy element's string values (a string or a list).
func values(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// parseTime reads a condition's date as IAM accepts it: ISO 8601, with or
// without the time of day.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time", s)
}

// contentKey is what a statement does: everything but its Sid, as JSON
// (maps in key order).
// subsume keeps, of the ended-sessions statements that name the same
// sessions (all but the time alike), the one with the latest cut-off: it
// denies every session the others do. Each process that starts writes the
// ends it cannot tell apart from its own again, at its own time; without
// this they would fill the role's budget. It returns how many it dropped.
func subsume(d *Document) int {
	latest := map[string]int{} // subject -> index of the latest
	for i, s := range d.Statement {
		k, ok := subject(s)
		if !ok {
			continue
		}
		j, seen := latest[k]
		if !seen {
			latest[k] = i
			continue
		}
		a, _ := cutoff(d.Statement[j])
		b, _ := cutoff(s)
		if b.After(a) {
			latest[k] = i
		}
	}
	kept := d.Statement[:0]
	dropped := 0
	for i, s := range d.Statement {
		if k, ok := subject(s); ok && latest[k] != i {
			dropped++
			continue
		}
		kept = append(kept, s)
	}
	d.Statement = kept
	return dropped
}

// subject is what an ended-sessions statement with one cut-off denies,
// without its time.
func subject(s Statement) (string, bool) {
	if _, ok := cutoff(s); !ok || len(s.Condition["DateLessThan"]) != 1 || len(values(s.Condition["DateLessThan"]["aws:TokenIssueTime"])) != 1 {
		return "", false
	}
	cond := map[string]map[string]any{}
	for op, m := range s.Condition {
		if op != "DateLessThan" {
			cond[op] = m
		}
	}
	s.Condition = cond
	return contentKey(s), true
}

func contentKey(s Statement) string {
	s.Sid = ""
	b, err := Marshal(s)
	if err != nil {
		return "unreadable:" + s.Effect
	}
	return string(b)
}

// Marshal is compact JSON without HTML escapes, as IAM and Identity Center
// policies are written: the statements of others keep their characters
// (and their size).
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Size is the document's length as IAM counts it: JSON without white space.
func Size(d *Document) int {
	b, err := Marshal(d)
	if err != nil {
		return MaxPolicySize + 1
	}
	return utf8.RuneCount(b)
}

// JSON is the document as PutRolePolicy takes it.
func JSON(d *Document) string {
	b, _ := Marshal(d)
	return string(b)
}

// Holds reports whether doc has every statement of want, by content: a
// statement that only shares a Sid is not one of them.
func Holds(doc *Document, want []Statement) bool {
	have := map[string]bool{}
	if doc != nil {
		for _, s := range doc.Statement {
			have[contentKey(s)] = true
		}
	}
	for _, s := range want {
		if !have[contentKey(s)] {
			return false
		}
	}
	return true
}
