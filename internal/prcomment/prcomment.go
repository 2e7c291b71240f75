// Package prcomment holds the comments the broker leaves on a grant's pull
// requests — how its sessions were used, and that they were ended — as one
// format the broker writes and the audit reads. Each carries its facts in a
// hidden JSON line beside the text people read, so that every replica adds
// to one count and the audit needs no parsing of prose.
package prcomment

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// SessionsMarker marks the sticky comment about one grant's sessions.
func SessionsMarker(grant string) string { return "<!-- elevate:sessions " + grant + " -->" }

// EndedMarker marks the comment about one grant's ended sessions.
func EndedMarker(grant string) string { return "<!-- elevate:ended-sessions " + grant + " -->" }

// Session is one issuance, as its PR is told of it.
type Session struct {
	Login, Via    string // who, and how they proved it ("a GitHub user token", "GitHub Actions workflow …")
	Account, Role string
	At, Until     time.Time
}

// Sessions is what the sessions comment says of a grant's use.
type Sessions struct {
	Count      int       `json:"count"`
	First      time.Time `json:"first"`
	FirstBy    string    `json:"first_by"`
	FirstVia   string    `json:"first_via"`
	Role       string    `json:"role"`
	Account    string    `json:"account"`
	FirstUntil time.Time `json:"first_until"`
	Last       time.Time `json:"last"`
	LastBy     string    `json:"last_by"`
}

// Add counts s; sessions told late or out of order keep the earliest first.
func (st *Sessions) Add(s Session) {
	if st.Count == 0 || s.At.Before(st.First) {
		st.First, st.FirstBy, st.FirstVia, st.FirstUntil = s.At, s.Login, s.Via, s.Until
	}
	st.Role, st.Account = s.Role, s.Account
	st.Count++
	if !s.At.Before(st.Last) {
		st.Last, st.LastBy = s.At, s.Login
	}
}

// The hidden state is a line of its own; the last one counts, so that text
// above it (a workflow's name, a login) cannot stand in for it.
var (
	sessionsState = regexp.MustCompile(`(?m)^<!-- elevate:sessions-state (\{.*\}) -->$`)
	endedState    = regexp.MustCompile(`(?m)^<!-- elevate:ended-state (\{.*\}) -->$`)
)

// lastMatch is the first group of re's last match in body.
func lastMatch(re *regexp.Regexp, body string) (string, bool) {
	all := re.FindAllStringSubmatch(body, -1)
	if len(all) == 0 {
		return "", false
	}
	return all[len(all)-1][1], true
}

// plain keeps a value from others (a login, a workflow's name) from
// opening HTML comments or markup in the comment's text.
var plain = strings.NewReplacer("<", "‹", ">", "›", "\n", " ", "\r", " ")

// ParseSessions reads the state of a sessions comment; ok is false when body
// is not one (or is damaged: it then counts from zero again).
func ParseSessions(body string) (st Sessions, ok bool) {
	m, ok := lastMatch(sessionsState, body)
	if !ok || json.Unmarshal([]byte(m), &st) != nil {
		return Sessions{}, false
	}
	return st, true
}

// SessionsBody is the sessions comment of grant.
func SessionsBody(grant string, st Sessions) string {
	state, _ := json.Marshal(st)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n🔑 **elevate: first used** %s by @%s (%s): role `%s` in %s, session until %s.\n\n",
		SessionsMarker(grant), stamp(st.First), plain.Replace(st.FirstBy), plain.Replace(st.FirstVia), plain.Replace(st.Role), plain.Replace(st.Account), stamp(st.FirstUntil))
	if st.Count == 1 {
		b.WriteString("Sessions so far: **1**.\n")
	} else {
		fmt.Fprintf(&b, "Sessions so far: **%d**, the last at %s by @%s.\n", st.Count, stamp(st.Last), plain.Replace(st.LastBy))
	}
	fmt.Fprintf(&b, "<!-- elevate:sessions-state %s -->\n", state)
	return b.String()
}

// Ended is what the ended-sessions comment says.
type Ended struct {
	Login     string    `json:"login,omitempty"` // "" for everyone's
	AccountID string    `json:"account_id"`
	Role      string    `json:"role"`
	Before    time.Time `json:"before"` // sessions issued before this are denied
	Reason    string    `json:"reason"` // revoked, not_eligible, untrusted
	Policy    string    `json:"policy"` // the role's inline policy that denies them
}

// EndedBody is the ended-sessions comment of grant.
func EndedBody(grant string, e Ended) string {
	who := "@" + e.Login
	if e.Login == "" {
		who = "everyone"
	}
	why := map[string]string{
		"revoked":      "the grant was revoked",
		"not_eligible": "the requester is no longer eligible under eligibility.yaml at the branch head",
		"untrusted":    "the branch's policy history is no longer trusted",
	}[e.Reason]
	state, _ := json.Marshal(e)
	return fmt.Sprintf("%s\n🛑 **elevate: sessions ended.** AWS sessions issued to %s for `%s` in account %s before %s were ended (%s): role `%s` now denies them through its inline policy `%s`, within IAM's propagation time.\n<!-- elevate:ended-state %s -->\n",
		EndedMarker(grant), who, grant, e.AccountID, stamp(e.Before), why, e.Role, e.Policy, state)
}

// ParseEnded reads an ended-sessions comment.
func ParseEnded(body string) (e Ended, ok bool) {
	m, ok := lastMatch(endedState, body)
	if !ok || json.Unmarshal([]byte(m), &e) != nil {
		return Ended{}, false
	}
	return e, true
}

// Find returns the first of bodies that carries marker.
func Find(bodies []string, marker string) (string, bool) {
	for _, b := range bodies {
		if strings.Contains(b, marker) {
			return b, true
		}
	}
	return "", false
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
