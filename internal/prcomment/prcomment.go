// Package prcomment holds the comments the broker leaves on a grant's pull
// requests — how its sessions were used, and that they were ended — as one
// format the broker writes and the audit reads. Each carries its facts in a
// hidden JSON line beside the text people read, so that every replica adds
// to one count and the audit needs no parsing of prose.
//
// Anyone with write access can post or edit a comment, so the hidden state
// carries a MAC under a Key only elevate holds, and a comment counts only
// when it verifies and was not written by github-actions[bot], which every
// workflow of the repository shares.
package prcomment

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/githubapi"
)

// Key authenticates the hidden state of elevate's comments. A nil Key seals
// nothing and verifies nothing: without it no comment counts as evidence.
type Key struct {
	mac []byte
	// author, when set, names the only login whose comments count; while it
	// names none (an App not found yet), no comment counts.
	author func() string
}

// By is k counting only the comments of the App whose bot is login
// (<slug>[bot]); "" leaves k as it is.
func (k *Key) By(login string) *Key {
	if k == nil || login == "" {
		return k
	}
	return &Key{mac: k.mac, author: func() string { return login }}
}

// ByApp is k counting only the comments of the App whose bot bot names
// when asked, and none while it names none (the App not found yet).
func (k *Key) ByApp(bot func() string) *Key {
	if k == nil {
		return k
	}
	return &Key{mac: k.mac, author: bot}
}

// NewKey derives the comments' key from secret (the broker's state key), so
// a comment's MAC can never stand for a saved state's or the other way
// round. An empty secret gives nil.
func NewKey(secret []byte) *Key {
	if len(secret) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("elevate pull request comment state v1"))
	return &Key{mac: m.Sum(nil)}
}

// sum is the MAC of one state line: its kind and grant are bound in, so a
// state cannot be moved to another grant's comment or read as another kind.
func (k *Key) sum(kind, grant string, state []byte) string {
	m := hmac.New(sha256.New, k.mac)
	fmt.Fprintf(m, "%s\x00%s\x00", kind, grant)
	m.Write(state)
	return hex.EncodeToString(m.Sum(nil))
}

// seal is the hidden line holding state.
func (k *Key) seal(kind, grant string, state any) string {
	data, _ := json.Marshal(state)
	mac := "none"
	if k != nil {
		mac = k.sum(kind, grant, data)
	}
	return fmt.Sprintf("<!-- elevate:%s-state %s mac=%s -->", kind, data, mac)
}

// stateLine matches a hidden state line; the last one in a body counts, so
// that text above it (a workflow's name, a login) cannot stand in for it.
var stateLine = regexp.MustCompile(`(?m)^<!-- elevate:([a-z-]+)-state (\{.*\}) mac=([0-9a-f]{64}) -->$`)

// open reads the state of kind for grant from body into v, when the last
// state line of body is of that kind and its MAC verifies.
func (k *Key) open(kind, grant, body string, v any) bool {
	if k == nil {
		return false
	}
	all := stateLine.FindAllStringSubmatch(body, -1)
	if len(all) == 0 {
		return false
	}
	m := all[len(all)-1]
	if m[1] != kind || !hmac.Equal([]byte(m[3]), []byte(k.sum(kind, grant, []byte(m[2])))) {
		return false
	}
	return json.Unmarshal([]byte(m[2]), v) == nil
}

// SharedBot is the login of the token every workflow run of a repository
// gets: what it wrote is anybody's word.
const SharedBot = githubapi.SharedBot

// Trusted reports whether c may carry elevate's evidence at all: an App
// wrote it (a Bot account, which no person can post as), and not the
// workflows' shared bot. Its state must still verify.
func Trusted(c *github.IssueComment) bool { return c != nil && githubapi.IsApp(c.GetUser()) }

// trusted is Trusted, and by k's App when k names one.
func (k *Key) trusted(c *github.IssueComment) bool {
	if !Trusted(c) {
		return false
	}
	if k.author == nil {
		return true
	}
	author := k.author()
	return author != "" && strings.EqualFold(c.GetUser().GetLogin(), author)
}

// SessionsMarker marks the sticky comment about one grant's sessions.
func SessionsMarker(grant string) string { return "<!-- elevate:sessions " + grant + " -->" }

// EndedMarker marks the comment about one grant's ended sessions.
func EndedMarker(grant string) string { return "<!-- elevate:ended-sessions " + grant + " -->" }

// ActivityMarker marks the comment about what one grant's sessions did.
func ActivityMarker(grant string) string { return "<!-- elevate:activity " + grant + " -->" }

// maxComment is what elevate writes in one comment at most, under
// GitHub's 65,536 characters.
const maxComment = 60000

// ActivityBody is the activity comment of grant: the summary for people,
// and the same summary sealed for the audit. A summary too long for a
// comment loses rows of its lists, the longest first, until it fits.
func (k *Key) ActivityBody(grant string, s *activity.Summary) string {
	for {
		body := ActivityMarker(grant) + "\n" + s.Markdown() + k.seal(kindActivity, grant, s) + "\n"
		if len(body) <= maxComment || !s.Shorten() {
			return body
		}
	}
}

// ParseActivity reads the state of grant's activity comment, when it
// verifies under k.
func (k *Key) ParseActivity(grant, body string) (s activity.Summary, ok bool) {
	if !k.open(kindActivity, grant, body, &s) {
		return activity.Summary{}, false
	}
	return s, true
}

// ActivityOf is the verified activity summary of grant among comments.
func (k *Key) ActivityOf(comments []*github.IssueComment, grant string) (activity.Summary, bool) {
	return first(k, comments, func(body string) (activity.Summary, bool) { return k.ParseActivity(grant, body) })
}

// MineActivity matches grant's activity comment that elevate wrote.
func (k *Key) MineActivity(grant string) func(*github.IssueComment) bool {
	return k.mine(kindActivity, grant, ActivityMarker(grant))
}

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

// plain keeps a value from others (a login, a workflow's name) from
// opening HTML comments or markup in the comment's text.
var plain = strings.NewReplacer("<", "‹", ">", "›", "\n", " ", "\r", " ")

// ParseSessions reads the state of grant's sessions comment; ok is false
// when body is not one, or its state does not verify under k (it then
// counts from zero again).
func (k *Key) ParseSessions(grant, body string) (st Sessions, ok bool) {
	if !k.open(kindSessions, grant, body, &st) {
		return Sessions{}, false
	}
	return st, true
}

// The kinds of state line.
const (
	kindSessions = "sessions"
	kindEnded    = "ended"
	kindMerge    = "merge"
	kindActivity = "activity"
)

// SessionsBody is the sessions comment of grant.
func (k *Key) SessionsBody(grant string, st Sessions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n🔑 **elevate: first used** %s by @%s (%s): role `%s` in %s, session until %s.\n\n",
		SessionsMarker(grant), stamp(st.First), plain.Replace(st.FirstBy), plain.Replace(st.FirstVia), plain.Replace(st.Role), plain.Replace(st.Account), stamp(st.FirstUntil))
	if st.Count == 1 {
		b.WriteString("Sessions so far: **1**.\n")
	} else {
		fmt.Fprintf(&b, "Sessions so far: **%d**, the last at %s by @%s.\n", st.Count, stamp(st.Last), plain.Replace(st.LastBy))
	}
	b.WriteString(k.seal(kindSessions, grant, st) + "\n")
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
func (k *Key) EndedBody(grant string, e Ended) string {
	who := "@" + e.Login
	if e.Login == "" {
		who = "everyone"
	}
	why := map[string]string{
		"revoked":      "the grant was revoked",
		"not_eligible": "the requester is no longer eligible under eligibility.yaml at the branch head",
		"untrusted":    "the branch's policy history is no longer trusted",
	}[e.Reason]
	return fmt.Sprintf("%s\n🛑 **elevate: sessions ended.** AWS sessions issued to %s for `%s` in account %s before %s were ended (%s): role `%s` now denies them through its inline policy `%s`, within IAM's propagation time.\n%s\n",
		EndedMarker(grant), who, grant, e.AccountID, stamp(e.Before), why, e.Role, e.Policy, k.seal(kindEnded, grant, e))
}

// ParseEnded reads the state of grant's ended-sessions comment, when it
// verifies under k.
func (k *Key) ParseEnded(grant, body string) (e Ended, ok bool) {
	if !k.open(kindEnded, grant, body, &e) {
		return Ended{}, false
	}
	return e, true
}

// MergeRecord is what the Action saw when a request PR merged: the file's
// requester was the PR's author, whose numeric id it names. A login renamed
// since then still matches the file through it.
type MergeRecord struct {
	Request   string `json:"request"`
	Requester string `json:"requester"`
	AuthorID  int64  `json:"author_id"`
}

// MergeRecordLine is the hidden line of the Action's merge comment.
func (k *Key) MergeRecordLine(r MergeRecord) string { return k.seal(kindMerge, r.Request, r) }

// Sessions is the verified state of grant's sessions among comments.
func (k *Key) Sessions(comments []*github.IssueComment, grant string) (Sessions, bool) {
	return first(k, comments, func(body string) (Sessions, bool) { return k.ParseSessions(grant, body) })
}

// EndedOf is the verified state of grant's ended-sessions comment.
func (k *Key) EndedOf(comments []*github.IssueComment, grant string) (Ended, bool) {
	return first(k, comments, func(body string) (Ended, bool) { return k.ParseEnded(grant, body) })
}

// MergeRecordOf is the verified merge record of request among comments.
func (k *Key) MergeRecordOf(comments []*github.IssueComment, request string) (MergeRecord, bool) {
	return first(k, comments, func(body string) (MergeRecord, bool) {
		var r MergeRecord
		ok := k.open(kindMerge, request, body, &r) && r.Request == request
		return r, ok
	})
}

// MineSessions matches grant's sessions comment that elevate wrote:
// trusted, and its state verifies. The broker edits only that one.
func (k *Key) MineSessions(grant string) func(*github.IssueComment) bool {
	return k.mine(kindSessions, grant, SessionsMarker(grant))
}

// MineEnded matches grant's ended-sessions comment that elevate wrote.
func (k *Key) MineEnded(grant string) func(*github.IssueComment) bool {
	return k.mine(kindEnded, grant, EndedMarker(grant))
}

func (k *Key) mine(kind, grant, marker string) func(*github.IssueComment) bool {
	return func(c *github.IssueComment) bool {
		var v json.RawMessage
		return k != nil && k.trusted(c) && strings.Contains(c.GetBody(), marker) && k.open(kind, grant, c.GetBody(), &v)
	}
}

// first is parse's answer for the first trusted comment it accepts.
func first[T any](k *Key, comments []*github.IssueComment, parse func(body string) (T, bool)) (T, bool) {
	for _, c := range comments {
		if k == nil || !k.trusted(c) {
			continue
		}
		if v, ok := parse(c.GetBody()); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
