package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/audit"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	"github.com/elevate-gitops/elevate/internal/prcomment"
)

// Online, the audit reads the broker's comments: bob's revoked grant was
// used three times, first by bob at 09:10, and its sessions were ended on
// the revocation's PR.
func TestAuditTellsHowAGrantWasUsedAndEnded(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	f, repo := gitHub(t, h)
	bob := &github.User{Login: github.String("bob")}
	for number, sha := range map[int]string{15: h.sha["bob-admin"], 16: h.sha["bob-admin-rm"]} {
		f.AddPull(&github.PullRequest{
			Number: github.Int(number), State: github.String("closed"), Merged: github.Bool(true), User: bob,
			MergedAt: &github.Timestamp{Time: now.Add(-3 * hour)}, MergeCommitSHA: github.String(sha),
			Head: &github.PullRequestBranch{Ref: github.String("r"), SHA: github.String(strings.Repeat("f", 40))},
			Base: &github.PullRequestBranch{Ref: github.String("main")},
		}, nil)
	}
	// The PR of bob-admin merged at -3h (GitHub's time): -3h is its start.
	id := "prod/2026-11/bob-admin"
	var st prcomment.Sessions
	first := now.Add(-3*hour + 10*time.Minute)
	for i := range 3 {
		st.Add(prcomment.Session{Login: "bob", Via: "a GitHub user token", Account: "prod", Role: "Admin", At: first.Add(time.Duration(i) * 5 * time.Minute), Until: first.Add(hour)})
	}
	ctx := context.Background()
	if _, err := repo.UpsertComment(ctx, 15, prcomment.SessionsMarker(id), prcomment.SessionsBody(id, st)); err != nil {
		t.Fatal(err)
	}
	ended := now.Add(-2*hour + 10*time.Second)
	if _, err := repo.UpsertComment(ctx, 16, prcomment.EndedMarker(id), prcomment.EndedBody(id, prcomment.Ended{Login: "bob", AccountID: "111111111111", Role: "Admin", Before: ended, Reason: "revoked", Policy: "elevate-ended-sessions"})); err != nil {
		t.Fatal(err)
	}
	// Another grant's comment on the same PR is not bob's story.
	if _, err := repo.UpsertComment(ctx, 15, prcomment.SessionsMarker("prod/2026-11/other"), prcomment.SessionsBody("prod/2026-11/other", st)); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Build(ctx, audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: repo})
	if err != nil {
		t.Fatal(err)
	}
	var got *audit.Entry
	for i := range rep.Entries {
		if rep.Entries[i].ID == id {
			got = &rep.Entries[i]
		}
	}
	if got == nil || got.Sessions != 3 || !got.FirstUsed.Equal(first) || got.FirstUsedBy != "bob" || !got.SessionsEnded.Equal(ended) {
		t.Fatalf("bob's grant = %+v", got)
	}
	for i := range rep.Entries {
		if e := &rep.Entries[i]; e.ID != id && (e.Sessions != 0 || !e.SessionsEnded.IsZero()) {
			t.Errorf("%s has a story it did not live: %d sessions, ended %v", e.ID, e.Sessions, e.SessionsEnded)
		}
	}
	var table bytes.Buffer
	if err := rep.Table(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"first used 2026-11-25 09:10 UTC by bob, 3 session(s)", "sessions issued before 2026-11-25 10:00 UTC ended"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table does not say %q:\n%s", want, table.String())
		}
	}
	var page bytes.Buffer
	if err := rep.HTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "first used 2026-11-25 09:10 UTC by bob, 3 session(s)") {
		t.Error("the HTML page does not tell the first use")
	}
}

// A grant and the extensions that continue it without a gap take one line
// of the table; CSV and JSON keep one row each and say what extends what.
func TestExtensionsAreOneLineOfTheTable(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	r.Commit(now.Add(-70*day), "init", map[string]string{"eligibility.yaml": "version: 1\n"})
	merged := now.Add(-3 * hour)
	r.Commit(merged, "first", map[string]string{"requests/prod/2026-11/alice-db.yaml": "requester: alice\naccount: prod\nrole: Admin\nduration: 2h\nreason: Migrate the orders database\n"})
	r.Commit(merged.Add(time.Hour), "ext", map[string]string{"requests/prod/2026-11/alice-db-ext-1.yaml": "requester: alice\naccount: prod\nrole: Admin\nduration: 1h\nreason: Migrate the orders database\nnot_before: " + merged.Add(2*hour).Format(time.RFC3339) + "\n"})
	r.Commit(merged.Add(90*time.Minute), "ext2", map[string]string{"requests/prod/2026-11/alice-db-ext-2.yaml": "requester: alice\naccount: prod\nrole: Admin\nduration: 2h\nreason: Migrate the orders database\nnot_before: " + merged.Add(3*hour).Format(time.RFC3339) + "\n"})
	// Same window end, another role: not a chain.
	r.Commit(merged.Add(100*time.Minute), "other", map[string]string{"requests/prod/2026-11/alice-ro.yaml": "requester: alice\naccount: prod\nrole: ReadOnly\nduration: 1h\nreason: Read the orders dashboards\nnot_before: " + merged.Add(2*hour).Format(time.RFC3339) + "\n"})
	rep, err := audit.Build(context.Background(), audit.Options{Dir: r.Dir, Since: 720 * hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	extends := map[string]string{}
	for _, e := range rep.Entries {
		extends[e.ID] = e.Extends
	}
	want := map[string]string{"prod/2026-11/alice-db": "", "prod/2026-11/alice-db-ext-1": "prod/2026-11/alice-db", "prod/2026-11/alice-db-ext-2": "prod/2026-11/alice-db-ext-1", "prod/2026-11/alice-ro": ""}
	for id, w := range want {
		if extends[id] != w {
			t.Errorf("%s extends %q, want %q", id, extends[id], w)
		}
	}
	var table bytes.Buffer
	if err := rep.Table(&table); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(table.String(), "\n") {
		if strings.Contains(l, "prod/2026-11/alice-db") && !strings.HasPrefix(l, "prod ") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 1 || !strings.Contains(rows[0], "extended by prod/2026-11/alice-db-ext-1 (expired, 1h, until 2026-11-25 12:00 UTC) then prod/2026-11/alice-db-ext-2 (active, 2h, until 2026-11-25 14:00 UTC)") {
		t.Errorf("the chain takes %d lines:\n%s", len(rows), table.String())
	}
	var js bytes.Buffer
	if err := rep.JSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"extends": "prod/2026-11/alice-db-ext-1"`) {
		t.Errorf("JSON lacks the chain:\n%s", js.String())
	}
}
