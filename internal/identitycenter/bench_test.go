package identitycenter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/identitycenter"
	"github.com/elevate-gitops/elevate/internal/identitycenter/icfake"
)

// scale is a fake Identity Center with 200 open grants over 20 accounts
// and 2 permission sets: in each account one person holds 5 overlapping
// grants of each set (40 assignments, 20 Denies per set's policy).
func scale(b *testing.B) (*icfake.Server, *identitycenter.Reconciler, []identitycenter.Target) {
	b.Helper()
	fake := icfake.New(b)
	cfg := identitycenter.Config{
		InstanceARN: fake.InstanceARN, IdentityStoreID: fake.IdentityStoreID,
		PermissionSets: map[string]string{}, Users: map[int64]string{},
	}
	sets := []string{"PaymentsAdmin", "ReadOnly"}
	for _, name := range sets {
		cfg.PermissionSets[name] = fake.AddPermissionSet(name)
	}
	var targets []identitycenter.Target
	for a := range 20 {
		id := int64(5000 + a)
		userName := fmt.Sprintf("user%02d@example.com", a)
		fake.AddUser(userName)
		cfg.Users[id] = userName
		for _, ps := range sets {
			for j := range 5 {
				targets = append(targets, identitycenter.Target{
					Request: fmt.Sprintf("acct%02d/2026-12/%s-%d", a, ps, j), PR: len(targets) + 1, GitHubID: id, Login: fmt.Sprintf("user%02d", a),
					AccountName: fmt.Sprintf("acct%02d", a), AccountID: fmt.Sprintf("%012d", 100000000000+a), PermissionSet: ps,
					Start: t0.Add(-time.Duration(j) * time.Hour), End: t0.Add(time.Duration(j+1) * time.Hour),
				})
			}
		}
	}
	r := identitycenter.New(fake.SSOAdmin(), fake.IdentityStore(), cfg, identitycenter.Options{
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	})
	return fake, r, targets
}

// BenchmarkReconcile measures a first Reconcile of 200 open grants (every
// Deny written and provisioned, every assignment created and polled) and
// a steady one (nothing to change), against the fake over HTTP with
// SigV4: calls/op is the AWS calls of one Reconcile.
func BenchmarkReconcile(b *testing.B) {
	ctx := context.Background()
	b.Run("first", func(b *testing.B) {
		var calls int64
		for b.Loop() {
			b.StopTimer()
			fake, r, targets := scale(b)
			b.StartTimer()
			if err := r.Reconcile(ctx, targets, t0); err != nil {
				b.Fatal(err)
			}
			calls += r.Calls()
			b.StopTimer()
			if n := len(fake.Assignments()); n != 40 {
				b.Fatalf("%d assignments, want 40", n)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
	})
	b.Run("steady", func(b *testing.B) {
		fake, r, targets := scale(b)
		if err := r.Reconcile(ctx, targets, t0); err != nil {
			b.Fatal(err)
		}
		fake.ResetCalls()
		before := r.Calls()
		now := t0.Add(time.Minute)
		for b.Loop() {
			if err := r.Reconcile(ctx, targets, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(r.Calls()-before)/float64(b.N), "calls/op")
		for _, c := range fake.Calls() {
			if c.Op != "ListAccountAssignments" && c.Op != "ListAccountsForProvisionedPermissionSet" && c.Op != "GetInlinePolicyForPermissionSet" {
				b.Fatalf("a steady Reconcile called %s", c.Op)
			}
		}
	})
}
