package ledger

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/checkpoint"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

// benchNow is the "now" of the synthetic history: its last merge.
var benchNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var (
	bigOnce sync.Once
	bigDir  string
	bigErr  error
)

// TestMain removes the benchmarks' shared repository when the binary ends:
// it outlives any one benchmark, so no b.TempDir holds it.
func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// bigLedger builds, once per test binary, a repository of merges first-parent
// commits, each adding one request file in a month folder, one every 30
// minutes up to benchNow (100,000 merges span about 5.7 years).
func bigLedger(b *testing.B, merges int) string {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "elevate-ledger-bench")
		if err != nil {
			bigErr = err
			return
		}
		bigDir = dir
		bigErr = fastImport(dir, merges)
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigDir
}

func fastImport(dir string, merges int) error {
	if out, err := exec.Command("git", "init", "-q", "-b", "main", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("git init: %v: %s", err, out)
	}
	cmd := exec.Command("git", "-C", dir, "fast-import", "--quiet")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	start := benchNow.Add(-time.Duration(merges) * 30 * time.Minute)
	data := func(s string) { fmt.Fprintf(w, "data %d\n%s\n", len(s), s) }
	fmt.Fprintf(w, "commit refs/heads/main\nmark :1\ncommitter t <t@example.com> %d +0000\n", start.Unix())
	data("policy")
	fmt.Fprintf(w, "M 100644 inline eligibility.yaml\n")
	data(policy)
	for i := 1; i <= merges; i++ {
		at := start.Add(time.Duration(i) * 30 * time.Minute)
		account := []string{"prod", "staging"}[i%2]
		requester := []string{"alice", "bob"}[i%2]
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter t <t@example.com> %d +0000\n", i+1, at.Unix())
		data(fmt.Sprintf("Merge pull request #%d", i))
		fmt.Fprintf(w, "from :%d\nM 100644 inline requests/%s/%s/r%d.yaml\n", i, account, at.Format("2006-01"), i)
		data(requestYAML(requester, account, "2h", fmt.Sprintf("ticket: INC-%d\n", i)))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	stdin.Close()
	return cmd.Wait()
}

// bigChain is GitHub's record of the big ledger: every first-parent commit
// a merge at its commit time, oldest first.
type bigChain struct {
	moves []custody.Move
	root  string
}

var (
	chainOnce sync.Once
	chain     bigChain
)

func bigHistory(b *testing.B, dir string) bigChain {
	chainOnce.Do(func() {
		g, err := gitlog.Open(dir)
		if err != nil {
			return
		}
		head, _ := g.Ref(context.Background(), "refs/heads/main")
		_ = g.FirstParents(context.Background(), head, nil, func(sha string, at time.Time) bool {
			chain.moves = append(chain.moves, custody.Move{Type: custody.MovePRMerge, After: sha, At: at})
			return true
		})
		slices.Reverse(chain.moves)
		chain.root = chain.moves[0].After
		chain.moves = chain.moves[1:]
		for i := range chain.moves {
			chain.moves[i].ID = int64(i + 1)
			chain.moves[i].Before = chain.root
			if i > 0 {
				chain.moves[i].Before = chain.moves[i-1].After
			}
		}
	})
	if len(chain.moves) == 0 {
		b.Fatal("no history")
	}
	return chain
}

// BenchmarkIndexColdStart100k indexes, from cold, the 100,000-merge ledger
// (5.7 years of merges, every one recorded as a move), the trust anchor at
// the look-back horizon (a recent reviewed anchor) and at the first commit
// (every move's policy files compared); beside them the same window read by
// git log alone, and a restart from the saved state. GitHub's record comes
// from memory here: the listing's own cost is the fake's, not the ledger's.
func BenchmarkIndexColdStart100k(b *testing.B) {
	dir := bigLedger(b, 100_000)
	ch := bigHistory(b, dir)
	now := benchNow
	horizon := now.Add(-lookBack(nil)).Add(-time.Hour)
	atHorizon := ch.root
	for _, m := range slices.Backward(ch.moves) {
		if m.At.Before(horizon) {
			atHorizon = m.After
			break
		}
	}
	cut := ""
	for _, m := range slices.Backward(ch.moves) {
		if m.At.Before(now.Add(-lookBack(mustPolicy(b)))) {
			cut = m.After
			break
		}
	}
	git, err := gitlog.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("git-log-of-the-window", func(b *testing.B) {
		for b.Loop() {
			out, err := exec.Command("git", "-C", dir, "log", "--first-parent", "--no-renames", "--raw", "--no-abbrev", "-z", "main", "^"+cut, "--", "requests/").Output()
			if err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
	for _, tt := range []struct {
		name   string
		anchor string
	}{
		{"anchor-at-horizon", atHorizon},
		{"anchor-at-first-commit", ch.root},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var grants int
			var retained uint64
			for b.Loop() {
				// The heap is measured outside the timed part: a GC of it
				// is not a cost of the cold start.
				b.StopTimer()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				l, err := New(Config{History: git, Branch: "main", Anchor: tt.anchor, Verifier: &verifier{moves: ch.moves}, Now: func() time.Time { return now }})
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Sync(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.StartTimer()
				grants = l.Index().Len()
				retained = after.HeapAlloc - before.HeapAlloc
				runtime.KeepAlive(l)
			}
			b.ReportMetric(float64(grants), "grants")
			b.ReportMetric(float64(retained)/float64(grants), "B/grant")
		})
	}
	b.Run("restart-from-saved-state", func(b *testing.B) {
		state := filepath.Join(b.TempDir(), "state.json")
		open := func() *Ledger {
			l, err := New(Config{History: git, Branch: "main", Anchor: atHorizon, Verifier: &verifier{moves: ch.moves}, Now: func() time.Time { return now },
				Checkpoints: []Checkpoints{checkpoint.File{Path: state}}, StateKey: []byte("0123456789abcdef0123456789abcdef")})
			if err != nil {
				b.Fatal(err)
			}
			return l
		}
		if err := open().Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			l := open()
			if err := l.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			if l.Index().Len() == 0 {
				b.Fatal("nothing restored")
			}
		}
	})
}

func mustPolicy(b *testing.B) *eligibility.Policy {
	p, err := eligibility.Parse(eligibility.File, []byte(policy))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkWebhookSync measures one new merge becoming visible: the sync a
// verified push webhook triggers, on top of the 100,000-merge ledger.
func BenchmarkWebhookSync(b *testing.B) {
	src := bigLedger(b, 100_000)
	ch := bigHistory(b, src)
	dir := b.TempDir()
	if out, err := exec.Command("git", "clone", "-q", "--local", "--branch", "main", src, dir).CombinedOutput(); err != nil {
		b.Fatalf("clone: %v %s", err, out)
	}
	r := ledgertest.Open(b, dir)
	// The clone has a remote: make the ledger read the local branch by removing it.
	r.Git(time.Time{}, "remote", "remove", "origin")
	now := benchNow.Add(time.Minute)
	v := &verifier{moves: slices.Clone(ch.moves)}
	l, err := New(Config{History: history(b, r), Branch: "main", Anchor: ch.root, Verifier: v, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		now = now.Add(time.Minute)
		before := v.moves[len(v.moves)-1].After
		after := r.Commit(now, "merge", map[string]string{fmt.Sprintf("requests/prod/2026-11/new-%d.yaml", i): requestYAML("alice", "prod", "1h", "")})
		v.moves = append(v.moves, custody.Move{ID: int64(len(v.moves) + 1), Type: custody.MovePRMerge, Before: before, After: after, At: now})
		b.StartTimer()
		if err := l.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		if _, ok := l.Index().Grant(fmt.Sprintf("new-%d", i)); !ok {
			b.Fatal("new merge not visible")
		}
	}
}
