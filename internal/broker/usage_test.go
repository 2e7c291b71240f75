package broker

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/claim"
	"github.com/elevate-gitops/elevate/internal/endsession"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/prcomment"
)

// stickyComments is a PR's comments as UpdateComment keeps them, with a
// gate that holds every call until opened and a number of failures first.
type stickyComments struct {
	mu         sync.Mutex
	gate       chan struct{}
	fail       int
	failCreate int // creations that fail (after their claim), first
	calls      int
	created    int
	comments   []*github.IssueComment
}

func (c *stickyComments) UpdateCommentWhere(ctx context.Context, _ int, mine func(*github.IssueComment) bool, update func(string) string, create func(context.Context) (bool, error)) (string, error) {
	<-c.gate
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls <= c.fail {
		return "", errors.New("502 Bad Gateway")
	}
	for _, cm := range c.comments {
		if mine(cm) {
			cm.Body = github.String(update(cm.GetBody()))
			return "", nil
		}
	}
	if create != nil {
		if ok, err := create(ctx); err != nil || !ok {
			return "", cmp.Or(err, githubapi.ErrNotCreated)
		}
	}
	if c.failCreate > 0 {
		c.failCreate--
		return "", errors.New("502 Bad Gateway")
	}
	c.created++
	c.comments = append(c.comments, &github.IssueComment{Body: github.String(update("")), User: &github.User{Login: github.String("elevate-app[bot]")}})
	return "", nil
}

// body is the last comment carrying marker.
func (c *stickyComments) body(marker string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := ""
	for _, cm := range c.comments {
		if strings.Contains(cm.GetBody(), marker) {
			out = cm.GetBody()
		}
	}
	return out
}

func TestUsageNeverWaitsAndKeepsOneComment(t *testing.T) {
	gh := &stickyComments{gate: make(chan struct{}), fail: 1}
	// A look-alike a writer posted first, claiming a hundred sessions: it
	// is neither edited nor counted.
	forged := prcomment.SessionsMarker("2026-12-02-alice-admin") + "\n<!-- elevate:sessions-state {\"count\":100} mac=" + strings.Repeat("a", 64) + " -->\n"
	gh.comments = append(gh.comments, &github.IssueComment{Body: github.String(forged), User: &github.User{Login: github.String("mallory")}})
	key := commentKey("usage-test-state-key-0123456789abcdef")
	u := newUsage(t.Context(), gh, nil, key, nil, func(pr int) string { return "" }, slog.New(slog.DiscardHandler))
	u.backoff = time.Millisecond
	at := time.Date(2026, 12, 2, 14, 2, 11, 0, time.UTC)
	begin := time.Now()
	for i := range 10 {
		u.Record(session{Grant: "2026-12-02-alice-admin", PR: 7, Session: prcomment.Session{Account: "prod", Role: "Admin", Login: "alice", Via: "a GitHub user token",
			At: at.Add(time.Duration(i) * time.Minute), Until: at.Add(time.Duration(i)*time.Minute + time.Hour)}})
	}
	if d := time.Since(begin); d > 100*time.Millisecond {
		t.Fatalf("recording 10 sessions while GitHub hangs took %v", d)
	}
	close(gh.gate) // GitHub answers again: first a 502, then the update.
	marker := prcomment.SessionsMarker("2026-12-02-alice-admin")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(gh.body(marker), "**10**") && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	want := marker + "\n🔑 **elevate: first used** 2026-12-02T14:02:11Z by @alice (a GitHub user token): role `Admin` in prod, session until 2026-12-02T15:02:11Z.\n\n" +
		"Sessions so far: **10**, the last at 2026-12-02T14:11:11Z by @alice.\n"
	if got := gh.body(marker); !strings.HasPrefix(got, want) {
		t.Fatalf("comment =\n%s\nwant it to start with\n%s", got, want)
	}
	if gh.created != 1 {
		t.Errorf("%d comments created, want 1", gh.created)
	}
	if gh.comments[0].GetBody() != forged {
		t.Error("the broker edited a comment someone else wrote")
	}
	st, _ := key.ParseSessions("2026-12-02-alice-admin", gh.body(marker))
	if st.Count != 10 || !st.First.Equal(at) || st.FirstBy != "alice" {
		t.Errorf("state read back = %+v", st)
	}
}

// The replica that claimed a comment's creation and failed to create it
// (GitHub's 502) creates it on its next try: its claim is its own.
func TestUsageCreatesAfterAFailedCreateItClaimed(t *testing.T) {
	gh := &stickyComments{gate: make(chan struct{}), failCreate: 1}
	close(gh.gate)
	u := newUsage(t.Context(), gh, &onceAcross{claims: claim.NewMemory(nil)}, commentKey("usage-test-state-key-0123456789abcdef"), nil,
		func(int) string { return "" }, slog.New(slog.DiscardHandler))
	u.backoff = time.Millisecond
	u.Record(session{Grant: "g", PR: 7, Session: prcomment.Session{Account: "prod", Role: "Admin", Login: "alice", At: time.Now(), Until: time.Now().Add(time.Hour)}})
	for deadline := time.Now().Add(5 * time.Second); gh.body(prcomment.SessionsMarker("g")) == "" && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if gh.created != 1 {
		t.Fatalf("%d comments created after one failed create, want 1", gh.created)
	}
}

// An end is named the same on every replica: a revocation seen live and
// one found at a cold start (no person's id), a role's end for untrusted
// history whichever grant names it; distinct incidents differ.
func TestEndedIDIsTheSameOnEveryReplica(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 20, 0, 0, time.UTC)
	live := endsession.Ended{AccountID: "111", Role: "Admin", Scope: endsession.ScopeGrant, Grant: "g", UserID: 42, Login: "alice", PR: 2, Reason: "revoked", Commit: "c1", Before: at}
	cold := live
	cold.UserID, cold.PR, cold.Before = 0, 0, at.Add(time.Second)
	if endedID(live) != endedID(cold) {
		t.Errorf("one revocation, two ids: %s and %s", endedID(live), endedID(cold))
	}
	roleA := endsession.Ended{AccountID: "111", Role: "Admin", Scope: endsession.ScopeRole, Grant: "g1", Reason: "untrusted", Before: at}
	roleB := roleA
	roleB.Grant, roleB.Before = "g2", at.Add(30*time.Second)
	if endedID(roleA) != endedID(roleB) {
		t.Errorf("one untrusted role, two ids: %s and %s", endedID(roleA), endedID(roleB))
	}
	again := roleA
	again.Before = at.Add(3 * time.Hour)
	if endedID(roleA) == endedID(again) {
		t.Error("two incidents hours apart share an id: the second would never be announced")
	}
	other := live
	other.Commit = "c2"
	if endedID(live) == endedID(other) {
		t.Error("two revocations share an id")
	}
}
