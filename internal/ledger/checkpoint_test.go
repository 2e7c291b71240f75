package ledger

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/checkpoint"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

var checkpointKey = []byte("0123456789abcdef0123456789abcdef")

func checkpointed(t *testing.T, r *repo, v *verifier, path string, now *time.Time) *Ledger {
	t.Helper()
	l, err := New(Config{History: history(t, r), Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return *now }, MaxStaleness: 365 * 24 * time.Hour,
		Checkpoints: []Checkpoints{checkpoint.File{Path: path}}, StateKey: checkpointKey})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A checkpoint holds only what GitHub recorded: a head its activity does
// not list yet may still turn out to be a rewrite, and is never written,
// even when verifying in the background saves.
func TestCheckpointIsWhatGitHubRecorded(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g1 := r.Commit(t0.Add(-time.Hour), "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{g1: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}, repo: r}
	v.moves = recorded(t, r, t0.Add(-time.Hour))
	now := t0
	path := filepath.Join(t.TempDir(), "checkpoint")
	l := checkpointed(t, r, v, path, &now)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	g2 := r.Commit(t0.Add(-time.Minute), "b", map[string]string{"requests/prod/2026-11/b.yaml": requestYAML("alice", "prod", "2h", "")})
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !l.Index().Unrecorded() || l.Index().Head != g2 {
		t.Fatal("the test needs a head GitHub has not recorded")
	}
	v.set(g2, &Verification{OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Minute)})
	if err := l.VerifyAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.open(data)
	if err != nil {
		t.Fatal(err)
	}
	if st.Head != g1 || st.Judged.Head != g1 {
		t.Errorf("the checkpoint is at %.12s (recorded %.12s), want the recorded head %.12s", st.Head, st.Judged.Head, g1)
	}
}

// A checkpoint's MAC is checked before anything is decompressed: a small
// file that would inflate to hundreds of megabytes costs nothing.
func TestCheckpointMACBeforeDecompressing(t *testing.T) {
	r := newRepo(t)
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range 400 {
		zw.Write(zero)
	}
	zw.Close()
	path := filepath.Join(t.TempDir(), "checkpoint")
	if err := os.WriteFile(path, append([]byte(checkpointMagic+strings.Repeat("\x00", 32)), bomb.Bytes()...), 0o600); err != nil {
		t.Fatal(err)
	}
	now := t0
	l := checkpointed(t, r, &verifier{by: map[string]*Verification{}, repo: r}, path, &now)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if x := l.restore(context.Background()); x != nil {
		t.Fatal("a checkpoint with no valid MAC was restored")
	}
	runtime.ReadMemStats(&after)
	if p := l.CheckpointProblems(); len(p) != 1 || !strings.Contains(p[0], "MAC does not hold") {
		t.Errorf("problems = %q", p)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Errorf("rejecting a %d KiB checkpoint allocated %d MiB", bomb.Len()>>10, n>>20)
	}
}

// A policy that allows longer requests widens the look-back; a start from
// a checkpoint still reads only what GitHub recorded since it, where the
// activity may no longer reach back to the anchor.
func TestLongerLookBackKeepsTheCheckpoint(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.Commit(t0.Add(-3*time.Hour), "other", map[string]string{"requests/prod/2026-11/other.yaml": requestYAML("bob", "prod", "2h", "")})
	g1 := r.Commit(t0.Add(-2*time.Hour), "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "3h", "")})
	v := &verifier{by: map[string]*Verification{g1: {OK: true, AuthorID: alice, MergedAt: t0.Add(-2 * time.Hour)}}, repo: r}
	v.moves = recorded(t, r, t0.Add(-3*time.Hour), t0.Add(-2*time.Hour))
	now := t0
	path := filepath.Join(t.TempDir(), "checkpoint")
	if err := checkpointed(t, r, v, path, &now).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Commit(t0.Add(-time.Hour), "longer", map[string]string{"eligibility.yaml": strings.Replace(policy, "max_duration: 4h", "max_duration: 720h", 1)})
	moves := recorded(t, r, t0.Add(-3*time.Hour), t0.Add(-2*time.Hour), t0.Add(-time.Hour))
	v.moves = moves[1:] // the activity no longer lists the first merge, so not the anchor
	l := checkpointed(t, r, v, path, &now)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatalf("a start from the checkpoint after the look-back grew: %v", err)
	}
	if _, err := l.Find(context.Background(), Ask{UserID: alice, Login: "alice", RequestID: "a"}); err != nil {
		t.Fatal(err)
	}
	cold := checkpointed(t, r, v, filepath.Join(t.TempDir(), "none"), &now)
	if err := cold.Sync(context.Background()); err == nil {
		t.Fatal("without the checkpoint, an activity that does not reach the anchor is no rewrite")
	}
}

// A cold start over thousands of recorded moves compares them on every
// core and while the activity is listed: the index is the same as one
// read move by move.
func TestColdStartOnEveryCore(t *testing.T) {
	t.Parallel()
	w := ledgertest.NewWorld(t, ledgertest.Shape{Merges: 2500, Accounts: 3, End: t0, NoGitHub: true})
	var moves []custody.Move
	for i := 1; i < len(w.SHAs); i++ {
		moves = append(moves, custody.Move{ID: int64(i), Type: custody.MovePRMerge, Before: w.SHAs[i-1], After: w.SHAs[i], At: w.At[i]})
	}
	git, err := gitlog.Open(w.Dir)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	l, err := New(Config{History: git, Branch: "main", Anchor: w.Anchor(), Verifier: &verifier{by: map[string]*Verification{}, moves: moves}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	x := l.Index()
	if x.Len() != 2500 {
		t.Fatalf("%d grants, want 2500", x.Len())
	}
	for _, i := range []int{1, 1234, 2500} {
		id := strings.TrimSuffix(strings.TrimPrefix(w.Paths[i-1], "requests/"), ".yaml")
		g, ok := x.Grant(id)
		if !ok || g.Step.After != w.SHAs[i] || g.Step.Before != w.SHAs[i-1] {
			t.Errorf("grant %s: %+v", id, g)
		}
	}
}

// What is past the look-back is forgotten, verdicts and revocations
// alike: neither memory nor checkpoints grow with history.
func TestForgetsWhatIsPastTheHorizon(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	g := r.Commit(t0.Add(-time.Hour), "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	r.Commit(t0.Add(-30*time.Minute), "revoke b", map[string]string{"requests/prod/2026-11/b.yaml": requestYAML("bob", "prod", "2h", "")})
	r.Commit(t0.Add(-20*time.Minute), "revoke b", map[string]string{"requests/prod/2026-11/b.yaml": ""})
	v := &verifier{by: map[string]*Verification{g: {OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)}}, repo: r}
	now := t0
	l := newLedger(t, r, v, &now)
	if err := l.VerifyAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Index().Removed("b"); !ok || len(l.verified) != 1 {
		t.Fatalf("the test needs a verdict and a revocation: %d verdicts", len(l.verified))
	}
	now = t0.Add(40 * 24 * time.Hour)
	r.Commit(now.Add(-time.Minute), "later", map[string]string{"requests/staging/2027-01/c.yaml": requestYAML("alice", "staging", "2h", "")})
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Index().Removed("b"); ok {
		t.Error("a revocation from before the look-back is still held")
	}
	if n := len(l.verified); n != 0 {
		t.Errorf("%d verdicts of grants past the look-back are still held", n)
	}
}
