package identitycenter_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/identitycenter"
	"github.com/elevate-gitops/elevate/internal/identitycenter/icfake"
)

// index is the position of the first call of op (about account, when
// given) at or after from; -1 if none.
func index(calls []icfake.Call, from int, op, account string) int {
	for i := from; i < len(calls); i++ {
		if calls[i].Op == op && calls[i].Err == "" && (account == "" || calls[i].AccountID == account) {
			return i
		}
	}
	return -1
}

// A grant's Deny is written to the inline policy and provisioned to the
// account before its assignment is created; the target is active only
// after AWS said SUCCEEDED; a second Reconcile changes nothing.
func TestDenyProvisionedBeforeAssignment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(4*time.Hour))
	e.mustReconcile(t, t0.Add(time.Minute), g)

	calls := e.fake.Calls()
	put := index(calls, 0, "PutInlinePolicyToPermissionSet", "")
	prov := index(calls, put, "ProvisionPermissionSet", payments)
	provDone := index(calls, prov, "DescribePermissionSetProvisioningStatus", "")
	create := index(calls, 0, "CreateAccountAssignment", payments)
	if put < 0 || prov < 0 || provDone < 0 || create < provDone {
		t.Fatalf("want Put, Provision, its status, then Create; got %v", ops(calls))
	}
	want := map[string]time.Time{e.user["alice"] + "@" + payments: g.End}
	if diff := cmp.Diff(want, denies(t, e.fake.InlinePolicy(e.ps["PaymentsAdmin"]))); diff != "" {
		t.Errorf("the inline policy's Denies (-want +got):\n%s", diff)
	}
	provisioned, ok := e.fake.ProvisionedPolicy(e.ps["PaymentsAdmin"], payments)
	if diff := cmp.Diff(want, denies(t, provisioned)); !ok || diff != "" {
		t.Errorf("the Denies provisioned to %s (-want +got):\n%s", payments, diff)
	}
	if !e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("alice is not assigned: %+v", e.fake.Assignments())
	}
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateActive {
		t.Errorf("State = %q, want active", got)
	}

	e.fake.ResetCalls()
	e.mustReconcile(t, t0.Add(2*time.Minute), g)
	for _, c := range e.fake.Calls() {
		if !strings.HasPrefix(c.Op, "List") && !strings.HasPrefix(c.Op, "Get") {
			t.Errorf("a second Reconcile wrote: %v", ops(e.fake.Calls()))
			break
		}
	}
	if n := len(e.takeNotices()); n != 0 {
		t.Errorf("%d notices, want none", n)
	}
}

// A grant of two targets in two accounts creates both, each after its
// own provisioning.
func TestTwoTargetsTwoAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gs := []identitycenter.Target{
		grant("payments/2026-12/bob-two", "bob", payments, "PaymentsAdmin", t0, t0.Add(time.Hour)),
		grant("payments/2026-12/bob-two", "bob", ledger, "ReadOnly", t0, t0.Add(time.Hour)),
	}
	e.mustReconcile(t, t0, gs...)
	for _, g := range gs {
		if !e.assigned("bob", g.PermissionSet, g.AccountID) {
			t.Errorf("bob has no %s in %s", g.PermissionSet, g.AccountID)
		}
		if got := e.r.State(g.Request, g.AccountName, g.PermissionSet); got != identitycenter.StateActive {
			t.Errorf("%s:%s State = %q", g.AccountName, g.PermissionSet, got)
		}
		p, _ := e.fake.ProvisionedPolicy(e.ps[g.PermissionSet], g.AccountID)
		if _, ok := denies(t, p)[e.user["bob"]+"@"+g.AccountID]; !ok {
			t.Errorf("%s in %s: no Deny provisioned", g.PermissionSet, g.AccountID)
		}
	}
}

// IN_PROGRESS is polled, with backoff, and the target is active only
// once AWS said SUCCEEDED; a creation still IN_PROGRESS after PollLimit
// polls is looked at again on the next Reconcile, never issued twice.
func TestInProgressPolledUntilSucceeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *identitycenter.Options) { o.PollLimit = 4 })
	g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	e.fake.Script("CreateAccountAssignment", icfake.Outcome{Pending: 6})

	if err := e.reconcile(t, t0, g); err != nil {
		t.Fatalf("still IN_PROGRESS is not an error: %v", err)
	}
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StatePending {
		t.Errorf("IN_PROGRESS: State = %q, want pending", got)
	}
	if e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("the fake applied a write before SUCCEEDED")
	}
	e.mustReconcile(t, t0.Add(time.Minute), g)
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateActive {
		t.Errorf("after SUCCEEDED: State = %q, want active", got)
	}
	if n := e.fake.Count("CreateAccountAssignment"); n != 1 {
		t.Errorf("%d creations, want 1: %v", n, ops(e.fake.Calls()))
	}
	if n := e.fake.Count("DescribeAccountAssignmentCreationStatus"); n != 7 {
		t.Errorf("%d polls, want 7 (4, then 3 more: the last one SUCCEEDED)", n)
	}
	waits := e.takeSleeps()
	// Rand is 0.5: each wait is 3/4 of Backoff doubled, at most 20 s.
	want := []time.Duration{375 * time.Millisecond, // the provisioning's poll
		375 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, // 4 polls
		375 * time.Millisecond, 750 * time.Millisecond} // one look at once, then 2 more
	if diff := cmp.Diff(want, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

// IN_PROGRESS then FAILED: never shown active, announced with AWS's
// reason, and created again on the next Reconcile.
func TestInProgressThenFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	e.fake.Script("CreateAccountAssignment", icfake.Outcome{Pending: 2, Fail: "Received a 403 status error: the role cannot be created"})

	if err := e.reconcile(t, t0, g); err != nil {
		t.Fatalf("a FAILED assignment is announced, not an error: %v", err)
	}
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateFailed {
		t.Errorf("State = %q, want failed", got)
	}
	want := []identitycenter.Notice{{Kind: identitycenter.NoticeFailed, Request: g.Request, PR: g.PR,
		Target: "payments:ps/PaymentsAdmin", Reason: "Received a 403 status error: the role cannot be created"}}
	if diff := cmp.Diff(want, e.takeNotices()); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
	e.mustReconcile(t, t0.Add(time.Minute), g)
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateActive || !e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("retried: State = %q, assigned %v", got, e.assigned("alice", "PaymentsAdmin", payments))
	}
	if n := e.fake.Count("CreateAccountAssignment"); n != 2 {
		t.Errorf("%d creations, want 2", n)
	}
}

// ConflictException and throttling are tried again after growing,
// jittered waits; other errors, and tries past Attempts, fail the round
// (the next one tries again).
func TestRetries(t *testing.T) {
	t.Parallel()
	const w = 375 * time.Millisecond // Rand 0.5: 3/4 of Backoff, doubling with each try
	for _, tc := range []struct {
		name, op, code string
		n              int
		ok             bool
		// Every wait of the round: the tries again, and the polls of
		// the provisioning and the creation (the fake succeeds on the
		// first poll, after w).
		waits []time.Duration
	}{
		{"conflict on create", "CreateAccountAssignment", "ConflictException", 2, true, []time.Duration{w, w, 2 * w, w}},
		{"throttled put", "PutInlinePolicyToPermissionSet", "ThrottlingException", 2, true, []time.Duration{w, 2 * w, w, w}},
		{"throttled list", "ListAccountAssignments", "ThrottlingException", 3, true, []time.Duration{w, 2 * w, 4 * w, w, w}},
		{"conflict on provision", "ProvisionPermissionSet", "ConflictException", 1, true, []time.Duration{w, w, w}},
		{"too many requests", "DescribeAccountAssignmentCreationStatus", "TooManyRequestsException", 1, true, []time.Duration{w, w, w}},
		{"conflict past Attempts", "CreateAccountAssignment", "ConflictException", 6, false, []time.Duration{w, w, 2 * w, 4 * w, 8 * w, 16 * w}},
		{"access denied", "CreateAccountAssignment", "AccessDeniedException", 1, false, []time.Duration{w}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
			e.fake.Fail(tc.op, tc.n, tc.code)
			err := e.reconcile(t, t0, g)
			if tc.ok != (err == nil) {
				t.Fatalf("Reconcile: %v, want ok %v", err, tc.ok)
			}
			var rerr *identitycenter.ReconcileError
			if err != nil && (!errors.As(err, &rerr) || !strings.Contains(err.Error(), tc.code)) {
				t.Errorf("the error does not say what failed: %v", err)
			}
			if diff := cmp.Diff(tc.waits, e.takeSleeps()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			state := e.r.State(g.Request, "payments", "PaymentsAdmin")
			if tc.ok != (state == identitycenter.StateActive) {
				t.Errorf("State = %q", state)
			}
			if !tc.ok {
				if k := kinds(e.takeNotices()); !slices.Equal(k, []string{identitycenter.NoticeFailed}) {
					t.Errorf("notices %v, want one assignment_failed", k)
				}
				e.mustReconcile(t, t0.Add(time.Minute), g)
				if !e.assigned("alice", "PaymentsAdmin", payments) {
					t.Errorf("not created on the next Reconcile")
				}
			}
		})
	}
}

// Jitter: the same try waits differently as Rand differs, within
// [w/2, w).
func TestBackoffJittered(t *testing.T) {
	t.Parallel()
	var first []time.Duration
	for _, r := range []float64{0, 0.5, 0.999} {
		e := newEnv(t, func(o *identitycenter.Options) { o.Rand = func() float64 { return r } })
		e.fake.Fail("ListAccountsForProvisionedPermissionSet", 1, "ThrottlingException")
		e.mustReconcile(t, t0, grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour)))
		d := e.takeSleeps()[0]
		if d < 250*time.Millisecond || d >= 500*time.Millisecond {
			t.Errorf("Rand %v: first wait %s, want in [250ms, 500ms)", r, d)
		}
		first = append(first, d)
	}
	if first[0] == first[1] || first[1] == first[2] {
		t.Errorf("the waits do not follow Rand: %v", first)
	}
}

// A list that lags a write: an assignment AWS said SUCCEEDED but the list
// does not show yet is not created twice nor deleted; one deleted but
// still listed is not deleted twice.
func TestLaggingList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.SetListLag(3)
	g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	for i := range 3 {
		e.mustReconcile(t, t0.Add(time.Duration(i)*30*time.Second), g)
		if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateActive {
			t.Errorf("Reconcile %d: State = %q, want active", i+1, got)
		}
	}
	calls := ops(e.fake.Calls())
	if n := countOps(calls, "CreateAccountAssignment"); n != 1 {
		t.Errorf("%d creations, want 1: %v", n, calls)
	}
	if n := countOps(calls, "DeleteAccountAssignment"); n != 0 {
		t.Errorf("%d deletions, want none: %v", n, calls)
	}

	end := t0.Add(time.Hour)
	for i := range 3 {
		e.mustReconcile(t, end.Add(time.Duration(i)*30*time.Second), g)
	}
	calls = ops(e.fake.Calls())
	if n := countOps(calls, "DeleteAccountAssignment"); n != 1 {
		t.Errorf("%d deletions, want 1: %v", n, calls)
	}
	if n := countOps(calls, "CreateAccountAssignment"); n != 1 {
		t.Errorf("%d creations, want 1: %v", n, calls)
	}
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateEnded {
		t.Errorf("ended: State = %q", got)
	}
}

func countOps(calls []string, op string) int {
	n := 0
	for _, c := range calls {
		if c == op || strings.HasPrefix(c, op+"!") {
			n++
		}
	}
	return n
}

// A new grant whose Deny would take the inline policy over 10,240
// characters is refused and announced; the assignments and statements
// already there stay.
func TestPolicyOverLimitRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	arn := e.ps["PaymentsAdmin"]
	alice := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	e.mustReconcile(t, t0, alice)

	// Someone fills the policy with their own statement, nearly to the
	// limit.
	current := e.fake.InlinePolicy(arn)
	pad := func(n int) string {
		return `{"Sid":"Theirs","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("b", n) + `"},`
	}
	filled := strings.Replace(current, `"Statement":[`, `"Statement":[`+pad(0), 1)
	filled = strings.Replace(current, `"Statement":[`, `"Statement":[`+pad(icfake.MaxInlinePolicy-len(filled)-100), 1)
	e.fake.SetInlinePolicy(arn, filled)

	bob := grant("payments/2026-12/bob-ps", "bob", payments, "PaymentsAdmin", t0.Add(time.Minute), t0.Add(2*time.Hour))
	alice2 := alice
	alice2.End = t0.Add(90 * time.Minute) // a Deny already written moves, whatever the size
	alice2.Request = "payments/2026-12/alice-ps-2"
	err := e.reconcile(t, t0.Add(2*time.Minute), alice, alice2, bob)
	if err != nil {
		t.Fatalf("a refusal is announced, not an error: %v", err)
	}
	if e.assigned("bob", "PaymentsAdmin", payments) || e.fake.Count("CreateAccountAssignment") != 1 {
		t.Errorf("bob was assigned over the limit: %v", ops(e.fake.Calls()))
	}
	if !e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("alice's live assignment was dropped")
	}
	if got := e.r.State(bob.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateRefused {
		t.Errorf("bob: State = %q, want refused", got)
	}
	if got := e.r.State(alice2.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateActive {
		t.Errorf("alice's second grant: State = %q, want active", got)
	}
	ns := e.takeNotices()
	if len(ns) != 1 || ns[0].Kind != identitycenter.NoticeRefused || ns[0].Request != bob.Request || !strings.Contains(ns[0].Reason, "10240") {
		t.Errorf("notices: %+v, want bob's assignment_refused", ns)
	}
	policy := e.fake.InlinePolicy(arn)
	if !strings.Contains(policy, `"Sid":"Theirs"`) {
		t.Errorf("their statement was dropped")
	}
	want := map[string]time.Time{e.user["alice"] + "@" + payments: alice2.End}
	if diff := cmp.Diff(want, denies(t, policy)); diff != "" {
		t.Errorf("Denies (-want +got):\n%s", diff)
	}
	if len(policy) > icfake.MaxInlinePolicy {
		t.Errorf("the policy has %d characters", len(policy))
	}
}

// A requester without an Identity Center user (none mapped, or none of
// the mapped name) fails with a reason that says so; the others go on.
func TestUnmappedUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	carol := grant("payments/2026-12/carol-ps", "carol", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	dave := grant("payments/2026-12/dave-ps", "dave", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	alice := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	e.mustReconcile(t, t0, carol, dave, alice)
	if !e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("alice was not assigned")
	}
	for _, g := range []identitycenter.Target{carol, dave} {
		if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateFailed {
			t.Errorf("%s: State = %q, want failed", g.Login, got)
		}
	}
	ns := e.takeNotices()
	if len(ns) != 2 {
		t.Fatalf("notices %+v, want carol's and dave's", ns)
	}
	for i, want := range []string{`Identity Center has no user named "carol@example.com"`, "dave (id 1004) has no Identity Center user in the broker's configuration"} {
		if ns[i].Kind != identitycenter.NoticeFailed || !strings.Contains(ns[i].Reason, want) {
			t.Errorf("notice %d: %+v, want a reason with %q", i, ns[i], want)
		}
	}
	if n := len(e.fake.Assignments()); n != 1 {
		t.Errorf("%d assignments, want alice's", n)
	}
}

// A PutInlinePolicyToPermissionSet that AWS refuses (IAM's answer to a
// write on an AWSReservedSSO_ role is UnmodifiableEntity; elevate never
// calls IAM, so the refusal it can meet is sso-admin's) fails closed: no
// assignment without its Deny.
func TestPolicyWriteRefusedFailsClosed(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"AccessDeniedException", "ValidationException"} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
			e.fake.Fail("PutInlinePolicyToPermissionSet", 1, code)
			err := e.reconcile(t, t0, g)
			if err == nil || !strings.Contains(err.Error(), code) {
				t.Errorf("Reconcile: %v, want the refusal", err)
			}
			if n := countOps(ops(e.fake.Calls()), "CreateAccountAssignment"); n != 0 || e.assigned("alice", "PaymentsAdmin", payments) {
				t.Errorf("created without the Deny: %v", ops(e.fake.Calls()))
			}
			if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateFailed {
				t.Errorf("State = %q, want failed", got)
			}
			if ns := e.takeNotices(); len(ns) != 1 || ns[0].Kind != identitycenter.NoticeFailed || !strings.Contains(ns[0].Reason, code) {
				t.Errorf("notices %+v", ns)
			}
			e.mustReconcile(t, t0.Add(time.Minute), g)
			if !e.assigned("alice", "PaymentsAdmin", payments) {
				t.Errorf("not created once the write went through")
			}
		})
	}
}

// A provisioning that FAILED also fails closed, and is tried again.
func TestProvisioningFailedFailsClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	e.fake.Script("ProvisionPermissionSet", icfake.Outcome{Pending: 1, Fail: "the role could not be updated"})
	if err := e.reconcile(t, t0, g); err == nil || !strings.Contains(err.Error(), "the role could not be updated") {
		t.Errorf("Reconcile: %v", err)
	}
	if e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("created although the Deny was not provisioned")
	}
	e.mustReconcile(t, t0.Add(time.Minute), g)
	if !e.assigned("alice", "PaymentsAdmin", payments) || e.fake.Count("PutInlinePolicyToPermissionSet") != 1 {
		t.Errorf("next Reconcile: assigned %v, puts %d (want one: the policy was already written)", e.assigned("alice", "PaymentsAdmin", payments), e.fake.Count("PutInlinePolicyToPermissionSet"))
	}
}

// Two grants of one person for one set and account share one
// assignment: the Deny carries the latest end, ending one keeps the
// assignment, ending both deletes it.
func TestOverlappingGrantsShareAssignment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := grant("payments/2026-12/alice-a", "alice", payments, "PaymentsAdmin", t0, t0.Add(2*time.Hour))
	b := grant("payments/2026-12/alice-b", "alice", payments, "PaymentsAdmin", t0.Add(time.Hour), t0.Add(3*time.Hour))
	key := e.user["alice"] + "@" + payments
	for _, step := range []struct {
		at       time.Time
		end      time.Time
		assigned bool
		a, b     identitycenter.State
	}{
		{t0, a.End, true, identitycenter.StateActive, identitycenter.StatePending},
		{t0.Add(time.Hour), b.End, true, identitycenter.StateActive, identitycenter.StateActive},
		{a.End, b.End, true, identitycenter.StateEnded, identitycenter.StateActive},
		{b.End, b.End, false, identitycenter.StateEnded, identitycenter.StateEnded},
	} {
		e.mustReconcile(t, step.at, a, b)
		if got := e.assigned("alice", "PaymentsAdmin", payments); got != step.assigned {
			t.Errorf("at %s: assigned %v, want %v", step.at.Format(time.Kitchen), got, step.assigned)
		}
		if got := denies(t, e.fake.InlinePolicy(e.ps["PaymentsAdmin"]))[key]; !got.Equal(step.end) {
			t.Errorf("at %s: Deny end %s, want %s", step.at.Format(time.Kitchen), got, step.end)
		}
		if sa, sb := e.r.State(a.Request, "payments", "PaymentsAdmin"), e.r.State(b.Request, "payments", "PaymentsAdmin"); sa != step.a || sb != step.b {
			t.Errorf("at %s: states %q %q, want %q %q", step.at.Format(time.Kitchen), sa, sb, step.a, step.b)
		}
	}
	if n := e.fake.Count("CreateAccountAssignment"); n != 1 {
		t.Errorf("%d creations, want one shared", n)
	}
}

// A revocation moves the Deny's end to the revocation, provisions it, and
// only then deletes the assignment; with another open grant of the person
// there, the end moves to that grant's end and the assignment stays.
func TestRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	arn := e.ps["PaymentsAdmin"]
	key := e.user["alice"] + "@" + payments
	a := grant("payments/2026-12/alice-a", "alice", payments, "PaymentsAdmin", t0, t0.Add(4*time.Hour))
	b := grant("payments/2026-12/alice-b", "alice", payments, "PaymentsAdmin", t0, t0.Add(2*time.Hour))
	e.mustReconcile(t, t0, a, b)

	revoked := t0.Add(30 * time.Minute)
	a.RevokedAt = revoked
	e.mustReconcile(t, revoked.Add(time.Minute), a, b)
	if got := denies(t, e.fake.InlinePolicy(arn))[key]; !got.Equal(b.End) {
		t.Errorf("a revoked, b open: Deny end %s, want b's end %s", got, b.End)
	}
	if !e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("b's access was removed with a's")
	}

	b.RevokedAt = t0.Add(45 * time.Minute)
	e.fake.ResetCalls()
	e.mustReconcile(t, t0.Add(50*time.Minute), a, b)
	if got := denies(t, e.fake.InlinePolicy(arn))[key]; !got.Equal(b.RevokedAt) {
		t.Errorf("both revoked: Deny end %s, want the revocation %s", got, b.RevokedAt)
	}
	p, _ := e.fake.ProvisionedPolicy(arn, payments)
	if got := denies(t, p)[key]; !got.Equal(b.RevokedAt) {
		t.Errorf("provisioned Deny end %s, want %s", got, b.RevokedAt)
	}
	calls := e.fake.Calls()
	put := index(calls, 0, "PutInlinePolicyToPermissionSet", "")
	prov := index(calls, put, "DescribePermissionSetProvisioningStatus", "")
	del := index(calls, 0, "DeleteAccountAssignment", payments)
	if put < 0 || prov < 0 || del < prov {
		t.Errorf("want Put, Provision, then Delete: %v", ops(calls))
	}
	if e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("the assignment outlived both revocations")
	}
	for _, g := range []identitycenter.Target{a, b} {
		if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateEnded {
			t.Errorf("%s: State = %q, want ended", g.Request, got)
		}
	}
	if ns := e.takeNotices(); len(ns) != 0 {
		t.Errorf("an end explained by its grants was announced: %+v", ns)
	}
}

// Drift: an assignment of a managed set that no open grant explains, in an
// account of a target or in one the set is provisioned to, is removed and
// announced, a USER's after a Deny at now; an unmanaged set's is never
// touched.
func TestDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := e.ps["PaymentsAdmin"]
	e.fake.Assign(icfake.Assignment{PermissionSetARN: ps, AccountID: payments, PrincipalType: "USER", PrincipalID: e.user["bob"]})
	e.fake.Assign(icfake.Assignment{PermissionSetARN: ps, AccountID: "333333333333", PrincipalType: "GROUP", PrincipalID: "g-admins"})
	unmanaged := icfake.Assignment{PermissionSetARN: e.ps["PowerUser"], AccountID: payments, PrincipalType: "USER", PrincipalID: e.user["bob"]}
	e.fake.Assign(unmanaged)
	alice := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	now := t0.Add(time.Minute)
	e.mustReconcile(t, now, alice)

	got := e.fake.Assignments()
	want := []icfake.Assignment{unmanaged, {PermissionSetARN: ps, AccountID: payments, PrincipalType: "USER", PrincipalID: e.user["alice"]}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("assignments (-want +got):\n%s", diff)
	}
	ns := e.takeNotices()
	var targets []string
	for _, n := range ns {
		if n.Kind != identitycenter.NoticeRemoved || n.Request != "" {
			t.Errorf("notice %+v, want assignment_removed of no request", n)
		}
		targets = append(targets, n.Target)
	}
	if diff := cmp.Diff([]string{"payments:ps/PaymentsAdmin", "333333333333:ps/PaymentsAdmin"}, targets); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if end := denies(t, e.fake.InlinePolicy(ps))[e.user["bob"]+"@"+payments]; !end.Equal(now.Truncate(time.Second)) {
		t.Errorf("bob's Deny ends %s, want now (%s)", end, now)
	}
	calls := e.fake.Calls()
	if put, del := index(calls, 0, "DescribePermissionSetProvisioningStatus", ""), index(calls, 0, "DeleteAccountAssignment", payments); put < 0 || del < put {
		t.Errorf("bob's Deny was not provisioned before the deletion: %v", ops(calls))
	}
}

// The statements elevate did not write are kept, in their order and with
// their characters; a statement with elevate's prefix but not its shape
// is not elevate's.
func TestStatementsNotOursKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	arn := e.ps["PaymentsAdmin"]
	theirs := []string{
		`{"Sid":"First","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*","Condition":{"StringLike":{"s3:prefix":"<home>&"}}}`,
		`{"Sid":"ElevateEndNotOurs","Effect":"Deny","Action":"iam:*","Resource":"*"}`,
		`{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}`,
	}
	e.fake.SetInlinePolicy(arn, "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n"+strings.Join(theirs, ",\n")+"\n]}")
	e.mustReconcile(t, t0, grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour)))
	policy := e.fake.InlinePolicy(arn)
	wantPrefix := `{"Version":"2012-10-17","Statement":[` + strings.Join(theirs, ",") + `,{"Sid":"ElevateEnd`
	if !strings.HasPrefix(policy, wantPrefix) {
		t.Errorf("policy\n%s\nwant it to start\n%s", policy, wantPrefix)
	}
	if n := len(denies(t, policy)); n != 1 {
		t.Errorf("%d Denies of elevate's, want 1", n)
	}
}

// A Deny is kept KeepEnded after its end (a session issued before the end
// would work again without it), then dropped; an inline policy is never
// emptied.
func TestEndedDenyKeptThenDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	arn := e.ps["PaymentsAdmin"]
	a := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	b := grant("payments/2026-12/bob-ps", "bob", payments, "PaymentsAdmin", t0, t0.Add(2*time.Hour))
	e.mustReconcile(t, t0, a, b)
	e.mustReconcile(t, b.End, a, b)
	if n := len(denies(t, e.fake.InlinePolicy(arn))); n != 2 {
		t.Errorf("at the end: %d Denies, want both kept", n)
	}
	e.mustReconcile(t, a.End.Add(12*time.Hour)) // the look-back forgot a
	got := denies(t, e.fake.InlinePolicy(arn))
	if _, ok := got[e.user["alice"]+"@"+payments]; ok || len(got) != 1 {
		t.Errorf("12 h after alice's end: %v, want only bob's", got)
	}
	e.mustReconcile(t, b.End.Add(13*time.Hour))
	if got := denies(t, e.fake.InlinePolicy(arn)); len(got) != 1 {
		t.Errorf("the last statement: %v, want it kept (an inline policy is never emptied)", got)
	}
	if p, _ := e.fake.ProvisionedPolicy(arn, payments); p != e.fake.InlinePolicy(arn) {
		t.Errorf("the drop was not provisioned")
	}
}

// A window not yet open wants nothing: pending, no assignment, until its
// start.
func TestFutureWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0.Add(time.Hour), t0.Add(2*time.Hour))
	e.mustReconcile(t, t0, g)
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StatePending || len(e.fake.Assignments()) != 0 {
		t.Errorf("before the start: State %q, assignments %v", got, e.fake.Assignments())
	}
	e.mustReconcile(t, g.Start, g)
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateActive {
		t.Errorf("at the start: State %q", got)
	}
}

// The calls of a Reconcile are bounded by the (set, account) pairs in
// play and one listing per managed set, not by history: ended and future
// grants in the same pairs add none.
func TestCallsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	accounts := []string{payments, ledger, "333333333333"}
	var targets []identitycenter.Target
	for _, account := range accounts {
		for _, ps := range []string{"PaymentsAdmin", "ReadOnly"} {
			targets = append(targets, grant("r/"+account+"/"+ps, "alice", account, ps, t0, t0.Add(time.Hour)))
		}
	}
	e.mustReconcile(t, t0, targets...)
	first := e.r.Calls()
	e.mustReconcile(t, t0.Add(time.Minute), targets...)
	steady := e.r.Calls() - first
	// Per managed set: its accounts, its policy, and one list per account.
	if want := int64(2 * (1 + 1 + len(accounts))); steady != want {
		t.Errorf("a steady Reconcile made %d calls, want %d: %v", steady, want, ops(e.fake.Calls()))
	}
	history := slices.Clone(targets)
	for i := range 200 {
		account := accounts[i%len(accounts)]
		old := grant("old/"+account, "bob", account, "PaymentsAdmin", t0.Add(-time.Duration(i+2)*time.Hour), t0.Add(-time.Duration(i+1)*time.Hour))
		later := grant("later/"+account, "bob", account, "ReadOnly", t0.Add(time.Duration(i+2)*time.Hour), t0.Add(time.Duration(i+3)*time.Hour))
		history = append(history, old, later)
	}
	before := e.r.Calls()
	e.mustReconcile(t, t0.Add(2*time.Minute), history...)
	if got := e.r.Calls() - before; got > steady+1 {
		t.Errorf("with 400 ended and future grants: %d calls, want at most %d (bob's UserId once)", got, steady+1)
	}
}

// A new Reconciler (a broker started again) provisions only the accounts
// whose role lacks the policy as it is: AWS says which.
func TestRestartProvisionsOnlyStaleAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	arn := e.ps["PaymentsAdmin"]
	gs := []identitycenter.Target{
		grant("payments/2026-12/alice-two", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour)),
		grant("payments/2026-12/alice-two", "alice", ledger, "PaymentsAdmin", t0, t0.Add(time.Hour)),
	}
	e.mustReconcile(t, t0, gs...)

	e.restart()
	e.fake.ResetCalls()
	e.mustReconcile(t, t0.Add(time.Minute), gs...)
	if n := countOps(ops(e.fake.Calls()), "ProvisionPermissionSet"); n != 0 {
		t.Errorf("a restart provisioned %d accounts already up to date", n)
	}

	// Someone edits the policy and provisions it to payments only.
	policy := strings.Replace(e.fake.InlinePolicy(arn), `"Statement":[`, `"Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},`, 1)
	e.fake.SetInlinePolicy(arn, policy)
	admin := e.fake.SSOAdmin()
	out, err := admin.ProvisionPermissionSet(context.Background(), &ssoadmin.ProvisionPermissionSetInput{
		InstanceArn: aws.String(e.fake.InstanceARN), PermissionSetArn: aws.String(arn),
		TargetType: types.ProvisionTargetTypeAwsAccount, TargetId: aws.String(payments),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DescribePermissionSetProvisioningStatus(context.Background(), &ssoadmin.DescribePermissionSetProvisioningStatusInput{
		InstanceArn: aws.String(e.fake.InstanceARN), ProvisionPermissionSetRequestId: out.PermissionSetProvisioningStatus.RequestId,
	}); err != nil {
		t.Fatal(err)
	}
	e.restart()
	e.fake.ResetCalls()
	e.mustReconcile(t, t0.Add(2*time.Minute), gs...)
	calls := e.fake.Calls()
	if n := countOps(ops(calls), "PutInlinePolicyToPermissionSet"); n != 0 {
		t.Errorf("an unchanged policy was put again")
	}
	var provisioned []string
	for _, c := range calls {
		if c.Op == "ProvisionPermissionSet" {
			provisioned = append(provisioned, c.AccountID)
		}
	}
	if diff := cmp.Diff([]string{ledger}, provisioned); diff != "" {
		t.Errorf("provisioned (-want +got):\n%s", diff)
	}
	for _, account := range []string{payments, ledger} {
		if p, _ := e.fake.ProvisionedPolicy(arn, account); p != policy {
			t.Errorf("%s has not the policy as it is", account)
		}
	}
}

// A deletion AWS answers FAILED leaves the ended target active (its
// access is still live), is announced and returned, and is tried again.
func TestDeletionFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	e.mustReconcile(t, t0, g)
	e.fake.Script("DeleteAccountAssignment", icfake.Outcome{Pending: 1, Fail: "the role is in use"})
	if err := e.reconcile(t, g.End, g); err == nil || !strings.Contains(err.Error(), "the role is in use") {
		t.Errorf("Reconcile: %v, want the failure", err)
	}
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateActive || !e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("State %q, assigned %v: want still active", got, e.assigned("alice", "PaymentsAdmin", payments))
	}
	if ns := e.takeNotices(); len(ns) != 1 || ns[0].Kind != identitycenter.NoticeFailed || ns[0].Request != g.Request {
		t.Errorf("notices %+v", ns)
	}
	e.mustReconcile(t, g.End.Add(time.Minute), g)
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateEnded || e.assigned("alice", "PaymentsAdmin", payments) {
		t.Errorf("tried again: State %q, assigned %v", got, e.assigned("alice", "PaymentsAdmin", payments))
	}
}

// An inline policy elevate cannot read is never overwritten, and no
// assignment is made without its Deny.
func TestUnreadablePolicyNotOverwritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	arn := e.ps["PaymentsAdmin"]
	e.fake.SetInlinePolicy(arn, `{"Version":"2012-10-17","Statement":[`)
	g := grant("payments/2026-12/alice-ps", "alice", payments, "PaymentsAdmin", t0, t0.Add(time.Hour))
	if err := e.reconcile(t, t0, g); err == nil {
		t.Errorf("Reconcile: no error")
	}
	calls := ops(e.fake.Calls())
	if countOps(calls, "PutInlinePolicyToPermissionSet")+countOps(calls, "CreateAccountAssignment") != 0 {
		t.Errorf("wrote over a policy it cannot read: %v", calls)
	}
	if got := e.r.State(g.Request, "payments", "PaymentsAdmin"); got != identitycenter.StateFailed {
		t.Errorf("State %q, want failed", got)
	}
}

// The identity store failing never takes a person's access away: a user
// resolved before keeps their id, and one never resolved leaves their
// permission set as it is for the round, rather than their live assignment
// being taken for drift.
func TestIdentityStoreOutageKeepsAccess(t *testing.T) {
	t.Parallel()
	for _, restart := range []bool{false, true} {
		e := newEnv(t)
		g := grant("payments/2026-12/bob-ps", "bob", payments, "PaymentsAdmin", t0, t0.Add(4*time.Hour))
		e.mustReconcile(t, t0, g)
		if restart {
			e.restart() // a new process: nothing resolved yet
		}
		// Past the cache's hour, every GetUserId fails.
		e.fake.Fail("GetUserId", 100, "InternalServerException")
		_ = e.reconcile(t, t0.Add(2*time.Hour), g)
		if !e.assigned("bob", "PaymentsAdmin", payments) {
			t.Errorf("restart=%v: bob's assignment was removed while the identity store failed", restart)
		}
		p, _ := e.fake.ProvisionedPolicy(e.ps["PaymentsAdmin"], payments)
		if end := denies(t, p)[e.user["bob"]+"@"+payments]; !end.Equal(t0.Add(4 * time.Hour)) {
			t.Errorf("restart=%v: bob's Deny ends at %v, want the window's end", restart, end)
		}
	}
}

// A round stops once its grants may no longer stand (Options.Current says
// so): nothing more is created or extended, and the next round goes on.
func TestRoundStopsWhenNoLongerCurrent(t *testing.T) {
	t.Parallel()
	var asked int
	e := newEnv(t, func(o *identitycenter.Options) {
		o.Current = func() bool { asked++; return asked <= 1 } // the head moves after the first question
	})
	gs := []identitycenter.Target{
		grant("payments/2026-12/bob-a", "bob", payments, "PaymentsAdmin", t0, t0.Add(time.Hour)),
		grant("payments/2026-12/bob-b", "bob", ledger, "ReadOnly", t0, t0.Add(time.Hour)),
	}
	if err := e.reconcile(t, t0, gs...); err == nil || !strings.Contains(err.Error(), "the grants changed during the round") {
		t.Errorf("Reconcile = %v, want it stopped", err)
	}
	if n := len(e.fake.Assignments()); n != 0 {
		t.Errorf("%d assignments created after the grants changed, want none", n)
	}
}
