package ledger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/checkpoint"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

var adminAsk = Ask{UserID: alice, Login: "alice", Account: "prod", Role: "Admin"}

// recorded is GitHub's record of r's first-parent commits since its root,
// each a merge at the time given (the commits' own dates play no part).
func recorded(t *testing.T, r *repo, at ...time.Time) []custody.Move {
	t.Helper()
	shas := strings.Fields(r.Git(time.Time{}, "rev-list", "--first-parent", "--reverse", "main"))
	if len(shas)-1 != len(at) {
		t.Fatalf("%d commits after the root, %d times", len(shas)-1, len(at))
	}
	moves := make([]custody.Move, len(at))
	for i := range at {
		moves[i] = custody.Move{ID: int64(i + 1), Type: custody.MovePRMerge, Before: shas[i], After: shas[i+1], At: at[i]}
	}
	return moves
}

// The window is read by GitHub's times: a merge whose commit claims to be
// three years old is in it, and one recorded two months ago whose commit
// claims to be new is not.
func TestWindowByGitHubTimesNotCommitDates(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	stale := r.Commit(t0, "recorded two months ago, dated now", map[string]string{"requests/prod/2026-09/stale.yaml": requestYAML("alice", "prod", "2h", "")})
	g := r.Commit(t0.AddDate(-3, 0, 0), "recorded an hour ago, dated three years ago", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}, stale: {OK: true, AuthorID: alice, MergedAt: t0.Add(-60 * 24 * time.Hour)}}}
	v.moves = recorded(t, r, t0.Add(-60*24*time.Hour), t0.Add(-time.Hour))
	now := t0
	l := newLedger(t, r, v, &now)
	if f, err := l.Find(context.Background(), adminAsk); err != nil || f.Grant.Commit() != g {
		t.Fatalf("Find = %+v, %v: the grant merged an hour ago must be visible whatever its commit says", f, err)
	}
	if _, ok := l.Index().Grant("stale"); ok {
		t.Error("a merge GitHub recorded two months ago was indexed because its commit claims to be new")
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
	if got == nil || got.Commit() == g || got.Request != nil || got.Invalid == "" {
		t.Fatalf("grant after the swap = %+v: want it invalid and no longer resting on %.7s", got, g)
	}
	if _, err := l.Find(context.Background(), adminAsk); err == nil {
		t.Fatal("a symlinked request issued credentials")
	}
}

// A verdict that names no GitHub user grants nobody: the check of whose
// grant it is never falls open.
func TestVerdictNamingNobodyGrantsNothing(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{g: {OK: true, MergedAt: t0.Add(-time.Hour)}}}
	now := t0
	l := newLedger(t, r, v, &now)
	var none *NoActiveGrantError
	if _, err := l.Find(context.Background(), adminAsk); !errors.As(err, &none) || !strings.Contains(err.Error(), "names no GitHub user") {
		t.Fatalf("Find = %v, want no grant: the verdict names nobody", err)
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
	if err != nil || f.Grant.Commit() != good {
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

// A force push that drops a revocation is caught by the running ledger and
// after a restart (GitHub's activity records it); only a new anchor clears
// it, and a grant at the anchor itself never counts.
func TestForcePushDroppingRevocation(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	rv := r.Commit(t0.Add(-30*time.Minute), "revoke", map[string]string{"requests/prod/2026-11/a.yaml": ""})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}}
	v.moves = recorded(t, r, t0.Add(-time.Hour), t0.Add(-30*time.Minute))
	now := t0
	l := newLedger(t, r, v, &now)
	var revoked *RevokedError
	if _, err := l.Find(context.Background(), adminAsk); !errors.As(err, &revoked) {
		t.Fatalf("before the force push: %v, want revoked", err)
	}
	r.Git(time.Time{}, "reset", "-q", "--hard", g)
	v.mu.Lock()
	v.moves = append(v.moves, custody.Move{ID: 3, Type: custody.MoveForcePush, Before: rv, After: g, At: t0.Add(-time.Minute), Actor: "mallory"})
	v.mu.Unlock()
	var rw *custody.RewrittenError
	if err := l.Sync(context.Background()); !errors.As(err, &rw) || !strings.Contains(rw.Error(), "mallory") {
		t.Fatalf("sync after the force push = %v, want *custody.RewrittenError naming who", err)
	}
	if _, err := l.Find(context.Background(), adminAsk); !errors.As(err, &rw) {
		t.Fatalf("Find after the force push = %v, want history rewritten", err)
	}
	restarted, err := New(Config{History: history(t, r), Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Sync(context.Background()); !errors.As(err, &rw) {
		t.Fatalf("restart with the same anchor = %v, want history rewritten", err)
	}
	// The branch came back to g by a force push: anchoring there does not
	// say which of its two times was reviewed. A commit the branch reached
	// afterwards does.
	again, err := New(Config{History: history(t, r), Branch: "main", Anchor: g, Verifier: v, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	after := r.Commit(t0.Add(-time.Minute), "after the force push", map[string]string{"README.md": "reviewed\n"})
	v.mu.Lock()
	v.moves = append(v.moves, custody.Move{ID: 4, Type: custody.MovePRMerge, Before: g, After: after, At: t0.Add(-time.Minute)})
	v.mu.Unlock()
	if err := again.Sync(context.Background()); !errors.As(err, &rw) {
		t.Fatalf("anchored where a force push landed: %v, want history rewritten", err)
	}
	reviewed, err := New(Config{History: history(t, r), Branch: "main", Anchor: after, Verifier: v, Now: func() time.Time { return now }})
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

// A rewrite GitHub's activity records stops everything, and stays so even
// if a later listing no longer shows it.
func TestRewriteIsSticky(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}}
	v.moves = recorded(t, r, t0.Add(-time.Hour))
	v.moves[0].Type = custody.MoveBranchCreation
	now := t0
	l, err := New(Config{History: history(t, r), Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var rw *custody.RewrittenError
	if err := l.Sync(context.Background()); !errors.As(err, &rw) {
		t.Fatalf("sync = %v", err)
	}
	v.mu.Lock()
	v.moves[0].Type = custody.MovePRMerge
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
	v.repo = r
	l, err := New(Config{History: history(t, r), Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return now }, MaxStaleness: 5 * time.Minute})
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
// made while it was down is read incrementally. The state is a cache, not
// evidence: without the key, with another key, or edited, it is ignored.
func TestRestartFromSavedState(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "grant", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}, repo: r}
	now := t0
	state := filepath.Join(t.TempDir(), "state", "ledger.json")
	key := []byte("0123456789abcdef0123456789abcdef")
	open := func(key []byte) *Ledger {
		l, err := New(Config{History: history(t, r), Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return now }, Checkpoints: []Checkpoints{checkpoint.File{Path: state}}, StateKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	first := open(key)
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
	second := open(key)
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

	// An edit of the saved state (a verdict turned to OK) is refused.
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	forged := ledgertest.EditCheckpoint(t, data, func(s []byte) []byte { return bytes.Replace(s, []byte(`"AuthorID":1`), []byte(`"AuthorID":2`), 1) })
	if err := os.WriteFile(state, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string][]byte{"edited": key, "another key": []byte("another key of thirty-two bytes!")} {
		calls := v.calls
		l := open(k)
		if err := l.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p := l.CheckpointProblems(); len(p) != 1 || !strings.Contains(p[0], "MAC does not hold") {
			t.Errorf("%s state: the ignored checkpoint is reported as %q", name, p)
		}
		if _, err := l.Find(context.Background(), Ask{UserID: bob, Login: "bob", RequestID: "a"}); err == nil {
			t.Fatalf("%s state: a forged verdict issued", name)
		}
		if v.calls == calls {
			t.Errorf("%s state: the grant was not verified again", name)
		}
	}
}
