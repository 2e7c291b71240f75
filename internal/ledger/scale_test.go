package ledger_test

import (
	"context"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

// The shape of the ledger the scale benchmarks read: merges one a minute
// over 15 accounts (month folders of about 3,000 files), a 24-hour
// max_duration (a window of 31 days and an hour: about 44,700 requests),
// and a few policy changes among them.
var (
	scaleNow      = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	scaleLatency  = 2 * time.Millisecond // each GitHub call of the fake
	scaleAccounts = 15
	scalePolicies = 10
)

func scaleWorld(b *testing.B, merges int) *ledgertest.World {
	b.Helper()
	t0 := time.Now()
	w := ledgertest.NewWorld(b, ledgertest.Shape{Merges: merges, Policies: scalePolicies, Accounts: scaleAccounts, MaxDuration: "24h", End: scaleNow})
	w.Fake.Latency(scaleLatency)
	b.Logf("a ledger of %d merges written in %s", merges, time.Since(t0).Round(time.Millisecond))
	return w
}

// scaleLedger is a broker's ledger over w's repository, with nothing saved.
func scaleLedger(b *testing.B, w *ledgertest.World, cfg ledger.Config) *ledger.Ledger {
	b.Helper()
	git, err := gitlog.Open(w.Dir)
	if err != nil {
		b.Fatal(err)
	}
	now := func() time.Time { return scaleNow }
	cfg.History, cfg.Branch, cfg.Anchor, cfg.Now = git, "main", w.Anchor(), now
	cfg.Verifier = &custody.Checker{GitHub: w.GitHub, Git: git, Members: w.GitHub, Branch: "main", Anchor: w.Anchor(), Now: now}
	l, err := ledger.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// answer asks for the newest grant, as the broker's first answer does: it
// is verified on use.
func answer(b *testing.B, l *ledger.Ledger) {
	b.Helper()
	if _, err := l.Find(context.Background(), ledger.Ask{UserID: ledgertest.Alice.GetID(), Login: "alice", Account: ledgertest.WorldAccount(0), Role: "Admin"}); err != nil {
		b.Fatal(err)
	}
}

// windowStart is the last commit before the issuing window: git log from
// the head down to it reads what the window holds.
func windowStart(w *ledgertest.World, window time.Duration) string {
	for i := len(w.At) - 1; i >= 0; i-- {
		if w.At[i].Before(scaleNow.Add(-window)) {
			return w.SHAs[i]
		}
	}
	return w.Anchor()
}

// BenchmarkScale reads the 100,000-merge ledger as a broker does at a cold
// start, beside git log over the issuing window.
func BenchmarkScale(b *testing.B) {
	w := scaleWorld(b, 100_000)
	window := 24*time.Hour + 30*24*time.Hour + time.Hour
	cut := windowStart(w, window)
	b.Run("git-log-of-the-window", func(b *testing.B) {
		for b.Loop() {
			out, err := exec.Command("git", "-C", w.Dir, "log", "--first-parent", "--no-renames", "--raw", "--no-abbrev", "-z", "main", "^"+cut, "--", "requests/").Output()
			if err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold-start", func(b *testing.B) {
		var grants int
		var retained uint64
		var calls int
		for b.Loop() {
			b.StopTimer()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c0 := w.Fake.TotalCalls()
			b.StartTimer()
			l := scaleLedger(b, w, ledger.Config{})
			if err := l.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			answer(b, l)
			b.StopTimer()
			calls = w.Fake.TotalCalls() - c0
			runtime.GC()
			runtime.ReadMemStats(&after)
			grants = l.Index().Len()
			retained = after.HeapAlloc - before.HeapAlloc
			runtime.KeepAlive(l)
			b.StartTimer()
		}
		b.ReportMetric(float64(grants), "grants")
		b.ReportMetric(float64(calls), "github-calls")
		b.ReportMetric(float64(retained)/float64(grants), "B/grant")
	})
}
