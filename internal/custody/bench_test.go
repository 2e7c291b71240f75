package custody_test

import (
	"context"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

var benchNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func benchLedger(b *testing.B, w *ledgertest.World) (*ledger.Ledger, *custody.Checker) {
	b.Helper()
	now := func() time.Time { return benchNow }
	git, err := gitlog.Open(w.Dir)
	if err != nil {
		b.Fatal(err)
	}
	checker := &custody.Checker{GitHub: w.GitHub, Git: git, Members: w.GitHub, Branch: "main", Anchor: w.Anchor(), Now: now}
	l, err := ledger.New(ledger.Config{History: git, Branch: "main", Anchor: w.Anchor(), Verifier: checker, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	return l, checker
}

// BenchmarkColdStartChain verifies, from cold, a ledger of 10,000 grants
// with 200 policy changes between them: reading GitHub's record of the
// branch costs a call per 100 moves, the policy chain GitHub calls in
// proportion to the policy changes, once; then issuing makes none.
func BenchmarkColdStartChain(b *testing.B) {
	w := ledgertest.NewWorld(b, ledgertest.Shape{Merges: benchGrants + benchPolicies, Policies: benchPolicies, End: benchNow})
	var chainCalls, grantCalls int
	var chainTime, grantTime time.Duration
	for b.Loop() {
		l, _ := benchLedger(b, w)
		before := w.Fake.TotalCalls()
		t0 := time.Now()
		if err := l.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		chainTime, chainCalls = time.Since(t0), w.Fake.TotalCalls()-before
		if err := l.Index().Chain.Head().Err(); err != nil || l.Index().Chain.Len() != benchPolicies {
			b.Fatalf("chain of %d commits: %v", l.Index().Chain.Len(), err)
		}
		t1 := time.Now()
		if err := l.VerifyAll(context.Background()); err != nil {
			b.Fatal(err)
		}
		grantTime, grantCalls = time.Since(t1), w.Fake.TotalCalls()-before-chainCalls
		issue := w.Fake.TotalCalls()
		for range 10 {
			if _, err := l.Find(context.Background(), ledger.Ask{UserID: ledgertest.Alice.GetID(), Login: "alice", Account: ledgertest.WorldAccount(0), Role: "Admin"}); err != nil {
				if _, expired := err.(*ledger.ExpiredError); !expired {
					b.Fatal(err)
				}
			}
		}
		if n := w.Fake.TotalCalls() - issue; n != 0 {
			b.Fatalf("issuing after warm-up made %d GitHub calls, want 0", n)
		}
	}
	b.ReportMetric(float64(chainCalls), "chain-calls")
	b.ReportMetric(float64(chainCalls)/float64(benchPolicies), "calls/policy-commit")
	b.ReportMetric(chainTime.Seconds()*1000, "chain-ms")
	b.ReportMetric(float64(grantCalls), "grant-calls")
	b.ReportMetric(grantTime.Seconds()*1000, "grants-ms")
}

// The size of BenchmarkColdStartChain's ledger (the issue's numbers).
var benchGrants, benchPolicies = 10_000, 200
