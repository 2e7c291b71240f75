package prcomment

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"
)

var at = time.Date(2026, 12, 2, 14, 2, 11, 0, time.UTC)

var key = NewKey([]byte("prcomment-test-state-key-0123456789abcdef"))

func TestSessionsRoundTrip(t *testing.T) {
	var st Sessions
	st.Add(Session{Login: "alice", Via: "a GitHub user token", Account: "prod", Role: "Admin", At: at.Add(time.Minute), Until: at.Add(time.Hour)})
	st.Add(Session{Login: "bob", Via: "GitHub Actions workflow o/r/.github/workflows/d.yml@refs/heads/main", Account: "prod", Role: "Admin", At: at, Until: at.Add(time.Hour)})
	body := key.SessionsBody("prod/2026-12/alice", st)
	got, ok := key.ParseSessions("prod/2026-12/alice", body)
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
	body := key.EndedBody("prod/2026-12/carol", e)
	got, ok := key.ParseEnded("prod/2026-12/carol", body)
	if !ok || got != e {
		t.Fatalf("read back %+v, %v from\n%s", got, ok, body)
	}
	if !strings.Contains(body, "AWS sessions issued to @carol for `prod/2026-12/carol` in account 111111111111 before 2026-12-02T14:02:11Z were ended (the grant was revoked)") {
		t.Errorf("body = %s", body)
	}
	if found, ok := key.EndedOf([]*github.IssueComment{comment("elevate[bot]", "other"), comment("elevate[bot]", body)}, "prod/2026-12/carol"); !ok || found != e {
		t.Error("EndedOf misses the marked comment")
	}
}

func TestDamagedStateIsNotRead(t *testing.T) {
	for _, body := range []string{"", "just text", "<!-- elevate:sessions-state {not json} -->", "<!-- elevate:ended-state {\"before\": 3} -->"} {
		if _, ok := key.ParseSessions("g", body); ok {
			t.Errorf("ParseSessions(%q) ok", body)
		}
		if _, ok := key.ParseEnded("g", body); ok {
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
	body := key.SessionsBody("g", st)
	got, ok := key.ParseSessions("g", body)
	if !ok || got.Count != 2 || got.FirstBy != "alice" {
		t.Fatalf("read back %+v (ok %v) from\n%s", got, ok, body)
	}
	if strings.Count(body, "<!--") != 2 {
		t.Errorf("the text opened HTML comments of its own:\n%s", body)
	}
}

// comment is body posted by login: an App's bot when login ends in [bot],
// else a person.
func comment(login, body string) *github.IssueComment {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return &github.IssueComment{Body: github.String(body), User: &github.User{Login: github.String(login), Type: github.String(typ)}}
}

// Evidence counts only when elevate's key verifies it: a state line anyone
// posts or edits, one moved from another grant's comment, one from the
// workflows' shared bot, and everything without a key are read as nothing.
func TestOnlyElevatesStateCounts(t *testing.T) {
	e := Ended{Login: "carol", AccountID: "111111111111", Role: "Admin", Before: at, Reason: "revoked", Policy: "elevate-ended-sessions"}
	real := key.EndedBody("prod/2026-12/carol", e)
	other := NewKey([]byte("another-key-0123456789abcdef-0123456789"))
	edited := strings.Replace(real, `"before":"2026-12-02T14:02:11Z"`, `"before":"2026-12-09T14:02:11Z"`, 1)
	if edited == real {
		t.Fatal("the edit did not apply")
	}
	tests := []struct {
		name     string
		comments []*github.IssueComment
		key      *Key
		want     bool
	}{
		{"elevate's own", []*github.IssueComment{comment("elevate[bot]", real)}, key, true},
		{"forged by a writer, unsigned", []*github.IssueComment{comment("mallory", EndedMarker("prod/2026-12/carol")+"\n<!-- elevate:ended-state {\"before\":\"2026-12-09T00:00:00Z\"} -->")}, key, false},
		{"sealed with the key by a person who holds it", []*github.IssueComment{comment("mallory", real)}, key, false},
		{"forged under another key", []*github.IssueComment{comment("mallory", other.EndedBody("prod/2026-12/carol", e))}, key, false},
		{"elevate's, edited by a writer", []*github.IssueComment{comment("elevate[bot]", edited)}, key, false},
		{"moved from another grant", []*github.IssueComment{comment("elevate[bot]", key.EndedBody("prod/2026-12/dave", e))}, key, false},
		{"by the workflows' shared bot", []*github.IssueComment{comment(SharedBot, real)}, key, false},
		{"no key", []*github.IssueComment{comment("elevate[bot]", real)}, nil, false},
		{"elevate's App named: its own", []*github.IssueComment{comment("elevate[bot]", real)}, key.By("elevate[bot]"), true},
		{"elevate's App named: another App holding the key", []*github.IssueComment{comment("other-app[bot]", real)}, key.By("elevate[bot]"), false},
		{"elevate's App not found yet: nothing counts", []*github.IssueComment{comment("elevate[bot]", real)}, key.ByApp(func() string { return "" }), false},
		{"elevate's App found: its own", []*github.IssueComment{comment("elevate[bot]", real)}, key.ByApp(func() string { return "elevate[bot]" }), true},
		{"elevate's App found: another App's", []*github.IssueComment{comment("other-app[bot]", real)}, key.ByApp(func() string { return "elevate[bot]" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := tt.key.EndedOf(tt.comments, "prod/2026-12/carol")
			if ok != tt.want {
				t.Errorf("counted = %v, want %v", ok, tt.want)
			}
			if got := len(tt.comments) > 0 && tt.key.MineEnded("prod/2026-12/carol")(tt.comments[0]); got != tt.want {
				t.Errorf("MineEnded = %v, want %v: the broker would edit a comment it did not write", got, tt.want)
			}
		})
	}
}

func TestMergeRecord(t *testing.T) {
	r := MergeRecord{Request: "prod/2026-12/alice", Requester: "alice", AuthorID: 42}
	body := "merged\n" + key.MergeRecordLine(r) + "\n"
	if got, ok := key.MergeRecordOf([]*github.IssueComment{comment("elevate[bot]", body)}, r.Request); !ok || got != r {
		t.Fatalf("read back %+v, %v", got, ok)
	}
	if _, ok := key.MergeRecordOf([]*github.IssueComment{comment("elevate[bot]", body)}, "prod/2026-12/bob"); ok {
		t.Error("a record of another request counted")
	}
	forged := strings.Replace(body, `"author_id":42`, `"author_id":666`, 1)
	if _, ok := key.MergeRecordOf([]*github.IssueComment{comment("elevate[bot]", forged)}, r.Request); ok {
		t.Error("an edited record counted")
	}
}
