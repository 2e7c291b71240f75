package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
)

var adminAsk = Ask{UserID: alice, Login: "alice", Account: "prod", Role: "Admin"}

// A commit whose committer date is years old, pushed on top of live grants,
// hides none of them: the walk is bounded by commits, and only a merge that
// GitHub dates before the horizon ends it early.
func TestOldDatedCommitHidesNothing(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	old := r.Commit(t0.AddDate(-3, 0, 0), "pushed with an old date", map[string]string{"requests/README.md": "old\n"})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}, mergedAt: map[string]time.Time{}}
	now := t0
	l := newLedger(t, r, v, &now)
	if f, err := l.Find(context.Background(), adminAsk); err != nil || f.Grant.Commit != g {
		t.Fatalf("Find = %+v, %v: the grant behind %.7s must stay visible", f, err, old)
	}
	if v.cutCalls == 0 {
		t.Error("the old-dated commit was not checked with GitHub before the walk went on")
	}
}

// A merge GitHub dates before the horizon ends the walk: nothing older is read.
func TestConfirmedCutBoundsTheWalk(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	older := r.Commit(t0.Add(-80*24*time.Hour), "older", map[string]string{"requests/prod/2026-09/older.yaml": requestYAML("alice", "prod", "2h", "")})
	cut := r.Commit(t0.Add(-70*24*time.Hour), "cut", map[string]string{"requests/prod/2026-09/cut.yaml": requestYAML("alice", "prod", "2h", "")})
	r.Commit(t0.Add(-time.Hour), "live", map[string]string{"requests/prod/2026-11/live.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{}, mergedAt: map[string]time.Time{cut: t0.Add(-70 * 24 * time.Hour)}}
	now := t0
	l := newLedger(t, r, v, &now)
	commits, c, err := l.window(context.Background(), l.Index().Head, now.Add(-lookBack(l.Index().Policy)))
	if err != nil || c != cut {
		t.Fatalf("cut = %.7s, %v; want %.7s", c, err, cut)
	}
	for _, cm := range commits {
		if cm.SHA == older || cm.SHA == cut {
			t.Errorf("the walk read past the confirmed cut: %.7s", cm.SHA)
		}
	}
	if len(commits) != 1 {
		t.Errorf("the window holds %d commits, want the live one", len(commits))
	}
}

// A direct push that turns an approved request into a symlink is a type
// change: the grant now rests on the unverified push and is invalid.
func TestSymlinkSwapOfApprovedRequest(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	path := "requests/prod/2026-11/a.yaml"
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{path: requestYAML("alice", "prod", "2h", "")})
	r.Commit(t0.Add(-time.Hour), "long", map[string]string{"long.yaml": requestYAML("alice", "prod", "720h", "")})
	if err := os.Remove(filepath.Join(r.Dir, path)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../long.yaml", filepath.Join(r.Dir, path)); err != nil {
		t.Fatal(err)
	}
	r.Git(t0.Add(-30*time.Minute), "add", "-A")
	r.Git(t0.Add(-30*time.Minute), "commit", "-q", "-m", "swap")
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}}
	now := t0
	l := newLedger(t, r, v, &now)
	got, _ := l.Index().Grant("a")
	if got == nil || got.Commit == g || got.Request != nil || got.Invalid == "" {
		t.Fatalf("grant after the swap = %+v: want it invalid and no longer resting on %.7s", got, g)
	}
	if _, err := l.Find(context.Background(), adminAsk); err == nil {
		t.Fatal("a symlinked request issued credentials")
	}
}

// One grant GitHub cannot verify now does not block the caller's other grant
// for the same account and role.
func TestUnverifiableGrantBesideValidOne(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	bad := r.Commit(t0.Add(-2*time.Hour), "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "4h", "")})
	good := r.Commit(t0.Add(-time.Hour), "b", map[string]string{"requests/prod/2026-11/b.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{
		by:      map[string]*Verification{good: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}},
		failing: map[string]error{bad: errors.New("github: 502")},
	}
	now := t0
	l := newLedger(t, r, v, &now)
	f, err := l.Find(context.Background(), adminAsk)
	if err != nil || f.Grant.Commit != good {
		t.Fatalf("Find = %+v, %v; want the verifiable grant", f, err)
	}
	v.mu.Lock()
	delete(v.by, good)
	v.failing[good] = errors.New("github: 502")
	v.mu.Unlock()
	l2 := newLedger(t, r, v, &now)
	var ve *VerifyError
	if _, err := l2.Find(context.Background(), adminAsk); !errors.As(err, &ve) {
		t.Fatalf("with nothing verifiable: %v, want *VerifyError (try again)", err)
	}
}

// A force push that drops a revocation is caught by the running ledger (the
// new head does not descend from the last one) and after a restart (the
// last head is kept in the clone); only a new anchor clears it.
func TestForcePushDroppingRevocation(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	r.Commit(t0.Add(-30*time.Minute), "revoke", map[string]string{"requests/prod/2026-11/a.yaml": ""})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}}
	now := t0
	l := newLedger(t, r, v, &now)
	var revoked *RevokedError
	if _, err := l.Find(context.Background(), adminAsk); !errors.As(err, &revoked) {
		t.Fatalf("before the force push: %v, want revoked", err)
	}
	r.Git(time.Time{}, "reset", "-q", "--hard", g)
	var rw *custody.RewrittenError
	if err := l.Sync(context.Background()); !errors.As(err, &rw) {
		t.Fatalf("sync after the force push = %v, want *custody.RewrittenError", err)
	}
	if _, err := l.Find(context.Background(), adminAsk); !errors.As(err, &rw) {
		t.Fatalf("Find after the force push = %v, want history rewritten", err)
	}
	restarted, err := New(Config{Dir: r.Dir, Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Sync(context.Background()); !errors.As(err, &rw) {
		t.Fatalf("restart with the same anchor = %v, want history rewritten", err)
	}
	reviewed, err := New(Config{Dir: r.Dir, Branch: "main", Anchor: g, Verifier: v, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := reviewed.Sync(context.Background()); err != nil {
		t.Fatalf("restart with a reviewed anchor: %v", err)
	}
	if _, err := reviewed.Find(context.Background(), adminAsk); err == nil {
		t.Fatal("a grant at the anchor itself issued: only grants after the anchor count")
	}
}

// A force push GitHub's activity records stops everything, and stays so.
func TestForcePushFromActivityIsSticky(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}},
		rewritten: &custody.RewrittenError{After: g, Why: "GitHub's activity shows a force push after the trust anchor"}}
	now := t0
	l, err := New(Config{Dir: r.Dir, Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var rw *custody.RewrittenError
	if err := l.Sync(context.Background()); !errors.As(err, &rw) {
		t.Fatalf("sync = %v", err)
	}
	v.mu.Lock()
	v.rewritten = nil
	v.mu.Unlock()
	if err := l.Sync(context.Background()); !errors.As(err, &rw) {
		t.Fatalf("a later sync cleared the rewrite: %v", err)
	}
}

// A clone that cannot sync past MaxStaleness refuses: an old index would
// serve revoked grants forever.
func TestStaleLedgerRefuses(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}}
	now := t0
	l, err := New(Config{Dir: r.Dir, Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return now }, MaxStaleness: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Find(context.Background(), adminAsk); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(r.Dir, ".git")); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(6 * time.Minute)
	if err := l.Sync(context.Background()); err == nil {
		t.Fatal("sync of a broken clone succeeded")
	}
	var stale *StaleError
	if _, err := l.Find(context.Background(), adminAsk); !errors.As(err, &stale) {
		t.Fatalf("Find = %v, want *StaleError", err)
	}
}

// A restart on the same machine starts from the saved state: the index and
// the verdicts come back without asking the verifier again, and a merge
// made while it was down is read incrementally.
func TestRestartFromSavedState(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}}
	now := t0
	state := filepath.Join(t.TempDir(), "state", "ledger.json")
	open := func() *Ledger {
		l, err := New(Config{Dir: r.Dir, Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return now }, StatePath: state})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	first := open()
	if err := first.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := first.VerifyAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved state: %v %v", fi, err)
	}
	g2 := r.Commit(t0.Add(-30*time.Minute), "grant while down", map[string]string{"requests/prod/2026-11/b.yaml": requestYAML("alice", "prod", "2h", "")})
	v.set(g2, &Verification{OK: true, AuthorID: alice, MergedAt: t0.Add(-30 * time.Minute)})
	calls := v.calls
	second := open()
	if err := second.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := second.Index().Grant("b"); !ok {
		t.Fatal("the merge made while the broker was down is not indexed")
	}
	if _, err := second.Find(context.Background(), Ask{UserID: alice, Login: "alice", RequestID: "a"}); err != nil {
		t.Fatal(err)
	}
	if v.calls != calls {
		t.Errorf("the restart asked the verifier %d times about a grant it had verified", v.calls-calls)
	}
}
