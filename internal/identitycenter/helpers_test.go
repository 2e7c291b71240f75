package identitycenter_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/identitycenter"
	"github.com/elevate-gitops/elevate/internal/identitycenter/icfake"
)

// The accounts and people of the tests.
const (
	payments = "111111111111"
	ledger   = "222222222222"
	aliceID  = int64(1001)
	bobID    = int64(1002)
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// env is a reconciler against the fake, with what it announced and how
// long it waited.
type env struct {
	fake *icfake.Server
	r    *identitycenter.Reconciler
	cfg  identitycenter.Config
	opts identitycenter.Options
	ps   map[string]string // name -> ARN
	user map[string]string // login -> UserId

	mu      sync.Mutex
	notices []identitycenter.Notice
	sleeps  []time.Duration
}

// newEnv starts a fake with the sets PaymentsAdmin and ReadOnly managed,
// PowerUser unmanaged, and the users alice and bob (carol is mapped but
// not in the identity store).
func newEnv(t testing.TB, tune ...func(*identitycenter.Options)) *env {
	t.Helper()
	e := &env{fake: icfake.New(t), ps: map[string]string{}, user: map[string]string{}}
	for _, name := range []string{"PaymentsAdmin", "ReadOnly", "PowerUser"} {
		e.ps[name] = e.fake.AddPermissionSet(name)
	}
	e.user["alice"] = e.fake.AddUser("alice@example.com")
	e.user["bob"] = e.fake.AddUser("bob@example.com")
	cfg := identitycenter.Config{
		InstanceARN:     e.fake.InstanceARN,
		IdentityStoreID: e.fake.IdentityStoreID,
		PermissionSets:  map[string]string{"PaymentsAdmin": e.ps["PaymentsAdmin"], "ReadOnly": e.ps["ReadOnly"]},
		Users:           map[int64]string{aliceID: "alice@example.com", bobID: "bob@example.com", 1003: "carol@example.com"},
	}
	opts := identitycenter.Options{
		Notify: func(n identitycenter.Notice) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.notices = append(e.notices, n)
		},
		Sleep: func(ctx context.Context, d time.Duration) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.sleeps = append(e.sleeps, d)
			return ctx.Err()
		},
		Rand: func() float64 { return 0.5 },
	}
	for _, f := range tune {
		f(&opts)
	}
	e.cfg, e.opts = cfg, opts
	e.r = identitycenter.New(e.fake.SSOAdmin(), e.fake.IdentityStore(), cfg, opts)
	return e
}

// restart replaces the reconciler with a new one, as a new broker
// process would start.
func (e *env) restart() {
	e.r = identitycenter.New(e.fake.SSOAdmin(), e.fake.IdentityStore(), e.cfg, e.opts)
}

func (e *env) reconcile(t testing.TB, now time.Time, targets ...identitycenter.Target) error {
	t.Helper()
	return e.r.Reconcile(context.Background(), targets, now)
}

// mustReconcile reconciles and fails the test on an error.
func (e *env) mustReconcile(t testing.TB, now time.Time, targets ...identitycenter.Target) {
	t.Helper()
	if err := e.reconcile(t, now, targets...); err != nil {
		t.Fatalf("Reconcile at %s: %v", now.Format(time.RFC3339), err)
	}
}

func (e *env) takeNotices() []identitycenter.Notice {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.notices
	e.notices = nil
	return n
}

func (e *env) takeSleeps() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.sleeps
	e.sleeps = nil
	return s
}

// assigned reports whether the fake holds login's assignment of ps in
// account.
func (e *env) assigned(login, ps, account string) bool {
	for _, a := range e.fake.Assignments() {
		if a == (icfake.Assignment{PermissionSetARN: e.ps[ps], AccountID: account, PrincipalType: "USER", PrincipalID: e.user[login]}) {
			return true
		}
	}
	return false
}

// grant is a target of login's request, open over [start, end).
func grant(request, login string, account, ps string, start, end time.Time) identitycenter.Target {
	ids := map[string]int64{"alice": aliceID, "bob": bobID, "carol": 1003, "dave": 1004}
	names := map[string]string{payments: "payments", ledger: "ledger"}
	return identitycenter.Target{
		Request: request, PR: len(request), GitHubID: ids[login], Login: login,
		AccountName: names[account], AccountID: account, PermissionSet: ps, Start: start, End: end,
	}
}

// denies reads the Denies of elevate in a policy: "user@account" -> end.
func denies(t testing.TB, policy string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	if policy == "" {
		return out
	}
	var doc struct {
		Statement []struct {
			Sid       string
			Condition struct {
				StringEquals    map[string]string
				DateGreaterThan map[string]string
			}
		}
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatalf("the policy is not JSON: %v\n%s", err, policy)
	}
	for _, s := range doc.Statement {
		if !strings.HasPrefix(s.Sid, identitycenter.SidPrefix) || s.Condition.DateGreaterThan == nil {
			continue
		}
		end, err := time.Parse(time.RFC3339, s.Condition.DateGreaterThan["aws:CurrentTime"])
		if err != nil {
			t.Fatalf("statement %s: %v", s.Sid, err)
		}
		out[s.Condition.StringEquals["identitystore:UserId"]+"@"+s.Condition.StringEquals["aws:PrincipalAccount"]] = end
	}
	return out
}

// kinds is the kinds of notices, in order.
func kinds(ns []identitycenter.Notice) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Kind
	}
	return out
}

// ops is the operations of calls, in order, with their errors.
func ops(calls []icfake.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Op
		if c.Err != "" {
			out[i] += "!" + c.Err
		}
	}
	return out
}
