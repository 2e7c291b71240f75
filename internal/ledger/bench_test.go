package ledger

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

// benchNow is the "now" of the synthetic history: its last merge.
var benchNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var (
	bigOnce sync.Once
	bigDir  string
	bigErr  error
)

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

// BenchmarkIndexColdStart100k indexes, from cold, a ledger of 100,000 merges.
func BenchmarkIndexColdStart100k(b *testing.B) {
	dir := bigLedger(b, 100_000)
	now := benchNow
	var grants int
	var retained uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l, err := New(Config{Dir: dir, Branch: "main", Anchor: ledgertest.Open(b, dir).Root(), Verifier: &verifier{}, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		grants = l.Index().Len()
		retained = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(l)
	}
	b.ReportMetric(float64(grants), "grants")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(grants), "ns/grant")
	b.ReportMetric(float64(retained)/float64(grants), "B/grant")
}

// BenchmarkWebhookSync measures one new merge becoming visible: the sync a
// verified push webhook triggers, on top of the 100,000-merge ledger.
func BenchmarkWebhookSync(b *testing.B) {
	src := bigLedger(b, 100_000)
	dir := b.TempDir()
	if out, err := exec.Command("git", "clone", "-q", "--shared", "--branch", "main", src, dir).CombinedOutput(); err != nil {
		b.Fatalf("clone: %v %s", err, out)
	}
	r := ledgertest.Open(b, dir)
	now := benchNow.Add(time.Minute)
	l, err := New(Config{Dir: dir, Branch: "main", Anchor: ledgertest.Open(b, dir).Root(), Verifier: &verifier{}, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	// The clone has a remote: make the ledger read the local branch by removing it.
	r.Git(time.Time{}, "remote", "remove", "origin")
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		now = now.Add(time.Minute)
		r.Commit(now, "merge", map[string]string{fmt.Sprintf("requests/prod/2026-11/new-%d.yaml", i): requestYAML("alice", "prod", "1h", "")})
		b.StartTimer()
		if err := l.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		if _, ok := l.Index().Grant(fmt.Sprintf("new-%d", i)); !ok {
			b.Fatal("new merge not visible")
		}
	}
}
