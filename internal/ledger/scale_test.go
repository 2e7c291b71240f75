package ledger_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/elevate-gitops/elevate/internal/checkpoint"
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

// scaleLedger is a broker's ledger over w's repository.
func scaleLedger(b *testing.B, w *ledgertest.World, cfg ledger.Config) *ledger.Ledger {
	b.Helper()
	git, err := gitlog.Open(w.Dir)
	if err != nil {
		b.Fatal(err)
	}
	return newOn(b, w, git, cfg)
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

// heapAfter is the live heap once fn has run, with what fn returns kept
// alive: what a broker holds after its start.
func heapAfter(fn func() any) (uint64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := fn()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(kept)
	return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc), kept
}

// coldStart starts a ledger on w with nothing saved and answers once; it
// reports the GitHub calls and the activities read.
func coldStart(b *testing.B, w *ledgertest.World, cfg ledger.Config) (l *ledger.Ledger, calls, activities int) {
	b.Helper()
	c0, a0 := w.Fake.TotalCalls(), w.Fake.Calls("GET /repos/{owner}/{repo}/activity")
	l = scaleLedger(b, w, cfg)
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	answer(b, l)
	pages := w.Fake.Calls("GET /repos/{owner}/{repo}/activity") - a0
	return l, w.Fake.TotalCalls() - c0, min(pages*100, len(w.SHAs))
}

var scaleKey = []byte("0123456789abcdef0123456789abcdef")

// BenchmarkScale reads the 100,000-merge ledger as a broker does, beside
// git: a cold start (no checkpoint, the anchor at the first commit: every
// recorded move is read) against git log over the issuing window; a
// restart from the state directory; a new instance that clones over smart
// HTTP, from the fleet's checkpoint and from nothing, against git clone
// --bare and go-git's own clone of the same URL; and the memory held per
// windowed grant, as the slope between ledgers of 20,000 and 100,000
// merges. The GitHub fake answers each call after scaleLatency.
func BenchmarkScale(b *testing.B) {
	w := scaleWorld(b, 100_000)
	window := 24*time.Hour + 30*24*time.Hour + time.Hour
	cut := windowStart(w, window)
	var gitLog time.Duration
	b.Run("git-log-of-the-window", func(b *testing.B) {
		for b.Loop() {
			t0 := time.Now()
			out, err := exec.Command("git", "-C", w.Dir, "log", "--first-parent", "--no-renames", "--raw", "--no-abbrev", "-z", "main", "^"+cut, "--", "requests/").Output()
			if err != nil || len(out) == 0 {
				b.Fatal(err)
			}
			gitLog = time.Since(t0)
		}
	})
	b.Run("cold-start", func(b *testing.B) {
		var calls, activities, grants int
		var took time.Duration
		for b.Loop() {
			t0 := time.Now()
			var l *ledger.Ledger
			l, calls, activities = coldStart(b, w, ledger.Config{})
			took, grants = time.Since(t0), l.Index().Len()
		}
		b.ReportMetric(float64(grants), "grants")
		b.ReportMetric(float64(calls), "github-calls")
		b.ReportMetric(float64(calls)/float64(activities)*100, "calls/100-activities")
		b.ReportMetric(took.Seconds()/gitLog.Seconds(), "x-git-log")
	})
	b.Run("issuance-after-warm-up", func(b *testing.B) {
		l, _, _ := coldStart(b, w, ledger.Config{})
		if err := l.VerifyAll(context.Background()); err != nil {
			b.Fatal(err)
		}
		c0 := w.Fake.TotalCalls()
		for b.Loop() {
			answer(b, l)
		}
		calls := w.Fake.TotalCalls() - c0
		if calls != 0 {
			b.Fatalf("issuing after warm-up made %d GitHub calls", calls)
		}
		b.ReportMetric(float64(calls)/float64(b.N), "github-calls/op")
	})
	state := filepath.Join(b.TempDir(), "checkpoint")
	saved := ledger.Config{Checkpoints: []ledger.Checkpoints{checkpoint.File{Path: state}}, StateKey: scaleKey}
	written := sync.OnceFunc(func() {
		l, _, _ := coldStart(b, w, saved)
		if err := l.VerifyAll(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("restart-from-saved-state", func(b *testing.B) {
		written()
		for b.Loop() {
			c0 := w.Fake.TotalCalls()
			l := scaleLedger(b, w, saved)
			if err := l.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			answer(b, l)
			if l.Index().Len() == 0 || len(l.CheckpointProblems()) != 0 {
				b.Fatalf("not restarted from the checkpoint: %q", l.CheckpointProblems())
			}
			b.ReportMetric(float64(w.Fake.TotalCalls()-c0), "github-calls")
		}
	})
	b.Run("new-instance-over-smart-http", func(b *testing.B) {
		written()
		url := ledgertest.NewGitServer(b, false, "tok").Publish(b, ledgertest.Open(b, w.Dir), "acme", "access")
		timed := func(name string, fn func(dir string)) time.Duration {
			dir := filepath.Join(b.TempDir(), "clone")
			t0 := time.Now()
			fn(dir)
			d := time.Since(t0)
			b.Logf("%s: %s", name, d.Round(time.Millisecond))
			return d
		}
		for b.Loop() {
			gitClone := timed("git clone --bare", func(dir string) {
				cmd := exec.Command("git", "clone", "-q", "--bare", "http://x-access-token:tok@"+strings.TrimPrefix(url, "http://"), dir)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("git clone: %v %s", err, out)
				}
			})
			goGitClone := timed("go-git clone", func(dir string) {
				_, err := git.PlainClone(dir, true, &git.CloneOptions{URL: url, Auth: &githttp.BasicAuth{Username: "x-access-token", Password: "tok"}, SingleBranch: true, ReferenceName: plumbing.NewBranchReferenceName("main"), Tags: git.NoTags})
				if err != nil {
					b.Fatal(err)
				}
			})
			var cloned time.Duration
			fromCheckpoint := timed("new instance from the checkpoint", func(dir string) {
				t0 := time.Now()
				repo, err := gitlog.Clone(context.Background(), url, dir, func(context.Context) (string, error) { return "tok", nil })
				if err != nil {
					b.Fatal(err)
				}
				if _, err := repo.Head(context.Background(), "main"); err != nil {
					b.Fatal(err)
				}
				cloned = time.Since(t0)
				l := newOn(b, w, repo, saved)
				if err := l.Sync(context.Background()); err != nil {
					b.Fatal(err)
				}
				answer(b, l)
			})
			fromNothing := timed("new instance from nothing", func(dir string) {
				repo, err := gitlog.Clone(context.Background(), url, dir, func(context.Context) (string, error) { return "tok", nil })
				if err != nil {
					b.Fatal(err)
				}
				l := newOn(b, w, repo, ledger.Config{})
				if err := l.Sync(context.Background()); err != nil {
					b.Fatal(err)
				}
				answer(b, l)
			})
			b.ReportMetric(gitClone.Seconds(), "git-clone-s")
			b.ReportMetric(goGitClone.Seconds(), "go-git-clone-s")
			b.ReportMetric(fromCheckpoint.Seconds(), "from-checkpoint-s")
			b.ReportMetric((fromCheckpoint - cloned).Seconds(), "from-checkpoint-after-clone-s")
			b.ReportMetric(fromCheckpoint.Seconds()/gitClone.Seconds(), "from-checkpoint-x-git-clone")
			b.ReportMetric(fromNothing.Seconds()/gitClone.Seconds(), "from-nothing-x-git-clone")
		}
	})
}

// newOn is a ledger of w read from repo (a clone of it).
func newOn(b *testing.B, w *ledgertest.World, repo *gitlog.Repo, cfg ledger.Config) *ledger.Ledger {
	b.Helper()
	now := func() time.Time { return scaleNow }
	cfg.History, cfg.Branch, cfg.Anchor, cfg.Now = repo, "main", w.Anchor(), now
	cfg.Verifier = &custody.Checker{GitHub: w.GitHub, Git: repo, Members: w.GitHub, Branch: "main", Anchor: w.Anchor(), Now: now}
	l, err := ledger.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkScaleMemory is the heap a started ledger holds per windowed
// grant: the slope between ledgers of 20,000 and 100,000 merges (the
// window of the larger holds about 44,700 grants), so what does not grow
// with grants (caches, the policy) cancels out.
func BenchmarkScaleMemory(b *testing.B) {
	type point struct {
		cold, restored uint64
		grants         int
	}
	var points []point
	for _, merges := range []int{20_000, 100_000} {
		w := scaleWorld(b, merges)
		w.Fake.Latency(0)
		saved := ledger.Config{Checkpoints: []ledger.Checkpoints{checkpoint.File{Path: filepath.Join(b.TempDir(), "checkpoint")}}, StateKey: scaleKey}
		cold, kept := heapAfter(func() any { l, _, _ := coldStart(b, w, saved); return l })
		restored, _ := heapAfter(func() any {
			l := scaleLedger(b, w, saved)
			if err := l.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			answer(b, l)
			return l
		})
		points = append(points, point{cold, restored, kept.(*ledger.Ledger).Index().Len()})
		b.Logf("%d merges: %d grants, %d MiB held after a cold start, %d MiB after a start from the checkpoint", merges, points[len(points)-1].grants, cold>>20, restored>>20)
	}
	for b.Loop() {
	}
	grants := float64(points[1].grants - points[0].grants)
	b.ReportMetric(float64(int64(points[1].cold)-int64(points[0].cold))/grants, "B/windowed-grant-cold")
	b.ReportMetric(float64(int64(points[1].restored)-int64(points[0].restored))/grants, "B/windowed-grant-from-checkpoint")
}
