package prcomment

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var at = time.Date(2026, 12, 2, 14, 2, 11, 0, time.UTC)

func TestSessionsRoundTrip(t *testing.T) {
	var st Sessions
	st.Add(Session{Login: "alice", Via: "a GitHub user token", Account: "prod", Role: "Admin", At: at.Add(time.Minute), Until: at.Add(time.Hour)})
	st.Add(Session{Login: "bob", Via: "GitHub Actions workflow o/r/.github/workflows/d.yml@refs/heads/main", Account: "prod", Role: "Admin", At: at, Until: at.Add(time.Hour)})
	body := SessionsBody("prod/2026-12/alice", st)
	got, ok := ParseSessions(body)
	if !ok {
		t.Fatalf("not read back:\n%s", body)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("read back (-wrote +read):\n%s", diff)
	}
	if got.Count != 2 || got.FirstBy != "bob" || got.LastBy != "alice" {
		t.Errorf("state = %+v: the earliest session is the first, the latest the last", got)
	}
	want := SessionsMarker("prod/2026-12/alice") + "\n🔑 **elevate: first used** 2026-12-02T14:02:11Z by @bob (GitHub Actions workflow o/r/.github/workflows/d.yml@refs/heads/main): role `Admin` in prod, session until 2026-12-02T15:02:11Z.\n\nSessions so far: **2**, the last at 2026-12-02T14:03:11Z by @alice.\n"
	if !strings.HasPrefix(body, want) {
		t.Errorf("body =\n%s\nwant it to start\n%s", body, want)
	}
}

func TestEndedRoundTrip(t *testing.T) {
	e := Ended{Login: "carol", AccountID: "111111111111", Role: "Admin", Before: at, Reason: "revoked", Policy: "elevate-ended-sessions"}
	body := EndedBody("prod/2026-12/carol", e)
	got, ok := ParseEnded(body)
	if !ok || got != e {
		t.Fatalf("read back %+v, %v from\n%s", got, ok, body)
	}
	if !strings.Contains(body, "AWS sessions issued to @carol for `prod/2026-12/carol` in account 111111111111 before 2026-12-02T14:02:11Z were ended (the grant was revoked)") {
		t.Errorf("body = %s", body)
	}
	if found, ok := Find([]string{"other", body}, EndedMarker("prod/2026-12/carol")); !ok || found != body {
		t.Error("Find misses the marked comment")
	}
}

func TestDamagedStateIsNotRead(t *testing.T) {
	for _, body := range []string{"", "just text", "<!-- elevate:sessions-state {not json} -->", "<!-- elevate:ended-state {\"before\": 3} -->"} {
		if _, ok := ParseSessions(body); ok {
			t.Errorf("ParseSessions(%q) ok", body)
		}
		if _, ok := ParseEnded(body); ok {
			t.Errorf("ParseEnded(%q) ok", body)
		}
	}
}

// A workflow's name (the Via of an Actions token) or a login that carries a
// state line of its own stands for nothing: the real state is read back.
func TestStateCannotBeInjectedThroughTheText(t *testing.T) {
	forged := `x <!-- elevate:sessions-state {"count":0,"first_by":"nobody"} --> y`
	var st Sessions
	for range 2 {
		st.Add(Session{Login: "alice", Via: "GitHub Actions workflow " + forged + "\n<!-- elevate:sessions-state {\"count\":0} -->", Account: "prod", Role: "Admin", At: at, Until: at.Add(time.Hour)})
	}
	body := SessionsBody("g", st)
	got, ok := ParseSessions(body)
	if !ok || got.Count != 2 || got.FirstBy != "alice" {
		t.Fatalf("read back %+v (ok %v) from\n%s", got, ok, body)
	}
	if strings.Count(body, "<!--") != 2 {
		t.Errorf("the text opened HTML comments of its own:\n%s", body)
	}
}
