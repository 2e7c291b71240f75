package endsession

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// role is one role's inline policies in IAM, as IAM keeps them.
type role struct {
	mu       sync.Mutex
	policies map[string]string
	writes   int
	// putErr, when set, is IAM's answer to the next PutRolePolicy calls.
	putErr error
	// afterGet, when set, runs after each GetRolePolicy of ours (under mu).
	afterGet func(r *role, reads int)
	reads    int
	lists    int // ListRolePolicies calls: one an attempt
}

func newRole(policies map[string]string) *role {
	if policies == nil {
		policies = map[string]string{}
	}
	return &role{policies: policies}
}

func (r *role) GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return &iam.GetRoleOutput{Role: &types.Role{MaxSessionDuration: aws.Int32(3600)}}, nil
}

func (r *role) ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lists++
	var names []string
	for name := range r.policies {
		names = append(names, name)
	}
	slices.Sort(names)
	return &iam.ListRolePoliciesOutput{PolicyNames: names}, nil
}

func (r *role) GetRolePolicy(_ context.Context, in *iam.GetRolePolicyInput, _ ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	doc, ok := r.policies[aws.ToString(in.PolicyName)]
	if aws.ToString(in.PolicyName) == PolicyName {
		r.reads++
		if r.afterGet != nil {
			defer r.afterGet(r, r.reads)
		}
	}
	if !ok {
		return nil, &types.NoSuchEntityException{Message: aws.String("no such policy")}
	}
	return &iam.GetRolePolicyOutput{PolicyDocument: aws.String(doc)}, nil
}

func (r *role) PutRolePolicy(_ context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.putErr != nil {
		return nil, r.putErr
	}
	r.writes++
	r.policies[aws.ToString(in.PolicyName)] = aws.ToString(in.PolicyDocument)
	return &iam.PutRolePolicyOutput{}, nil
}

func (r *role) ours(t *testing.T) *Document {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	raw, ok := r.policies[PolicyName]
	if !ok {
		return nil
	}
	doc, err := ParseDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// A replica's write that lands after our read-back is seen at the settle
// read, and our statement is merged again, beside the other's.
func TestAWriteLostAfterTheReadBackIsMergedAgain(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	bob := statement(t, Ended{Scope: ScopeGrant, Grant: "prod/2026-12/bob", Before: now})
	stale := JSON(&Document{Version: "2012-10-17", Statement: []Statement{bob}})
	f := newRole(nil)
	// Reads of ours: 1 the merge's, 2 our read-back, after which the other
	// replica's stale copy lands.
	f.afterGet = func(r *role, reads int) {
		if reads == 2 {
			r.policies[PolicyName] = stale
		}
	}
	e := &Ender{IAMFor: func(context.Context, string) (IAM, error) { return f, nil }, Now: func() time.Time { return now },
		Settle: time.Millisecond, Backoff: time.Millisecond}
	alice := Ended{AccountID: "111111111111", Role: "Admin", Scope: ScopeGrant, Grant: "prod/2026-12/alice", Before: now}
	if err := e.End(context.Background(), []Ended{alice}); err != nil {
		t.Fatal(err)
	}
	if doc := f.ours(t); !Holds(doc, []Statement{statement(t, alice), bob}) {
		t.Errorf("the policy lost a statement: %+v", doc)
	}
	if f.writes != 2 {
		t.Errorf("%d writes, want 2 (the first lost, then merged again)", f.writes)
	}
}

// hooks records what an Ender raised.
type hooks struct {
	mu                    sync.Mutex
	refused, failed, done int
	refusedErr            error
	attemptsAtRefusal     int
	role                  *role
}

func (h *hooks) raise(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refused++
	h.refusedErr = err
	h.role.mu.Lock()
	h.attemptsAtRefusal = h.role.lists
	h.role.mu.Unlock()
}

func (h *hooks) ender(now time.Time, attempts int) *Ender {
	return &Ender{IAMFor: func(context.Context, string) (IAM, error) { return h.role, nil }, Now: func() time.Time { return now },
		Settle: time.Millisecond, Backoff: time.Millisecond, Attempts: attempts,
		Refused: func(_ []Ended, err error) { h.raise(err) },
		Failed:  func([]Ended, error) { h.mu.Lock(); h.failed++; h.mu.Unlock() },
		Done:    func(context.Context, []Ended) { h.mu.Lock(); h.done++; h.mu.Unlock() },
	}
}

// policyOf is a policy of n statements, each Sid-less and of the given
// action, large enough to take size characters in all.
func policyOf(size int) string {
	pad := strings.Repeat("a", max(0, size-len(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::"}]}`)))
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s"}]}`, pad)
}

// When the Deny cannot be written, the Ender raises it at once (Refused,
// once, with the cause), keeps retrying, and reports the end (Failed, or
// Done when the retries got through).
func TestEndRaisesADenyThatCannotBeWritten(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	carol := Ended{AccountID: "111111111111", Role: "Admin", Scope: ScopeGrant, Grant: "prod/2026-12/carol", Before: now}
	expired := func(n int) string {
		var st []Statement
		for i := range n {
			st = append(st, denyBefore("", now.Add(-3*time.Hour), map[string]map[string]any{"StringEquals": {"aws:SourceIdentity": fmt.Sprintf("gh-someone-%d", i)}}))
		}
		return JSON(&Document{Version: "2012-10-17", Statement: st})
	}
	tests := []struct {
		name      string
		policies  map[string]string
		putErr    error
		makeRoom  bool // the role's other policy shrinks after the first refusal
		cause     string
		wantWrote bool
	}{
		{name: "another inline policy takes the budget", policies: map[string]string{"app": policyOf(MaxPolicySize - 100)}, cause: "too_large"},
		{name: "IAM refuses the write", putErr: &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform iam:PutRolePolicy"}, cause: "refused"},
		{name: "room is made after the refusal", policies: map[string]string{"app": policyOf(MaxPolicySize - 100)}, makeRoom: true, cause: "too_large", wantWrote: true},
		{name: "expired statements someone else wrote make room at once", policies: map[string]string{"app": policyOf(MaxPolicySize - 2000), PolicyName: expired(30)}, wantWrote: true},
		{name: "a statement with our Sid and other content does not count as written",
			policies: map[string]string{PolicyName: JSON(&Document{Version: "2012-10-17", Statement: []Statement{{Sid: statement(t, carol).Sid, Effect: "Deny", Action: "s3:*", Resource: "*"}}})}, wantWrote: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := &hooks{role: newRole(tt.policies)}
			h.role.putErr = tt.putErr
			e := h.ender(now, 3)
			if tt.makeRoom {
				e.Refused = func(_ []Ended, err error) {
					h.raise(err)
					h.role.mu.Lock()
					h.role.policies["app"] = policyOf(2000) // an operator makes room
					h.role.mu.Unlock()
				}
			}
			err := e.End(context.Background(), []Ended{carol})
			if tt.cause == "" {
				if err != nil || h.refused != 0 || h.done != 1 {
					t.Fatalf("%v (refused %d, done %d), want written at once", err, h.refused, h.done)
				}
			} else {
				if h.refused != 1 || Cause(h.refusedErr) != tt.cause || h.attemptsAtRefusal != 1 {
					t.Fatalf("refused %d times with %v, want once, at the first attempt, for %s", h.refused, h.refusedErr, tt.cause)
				}
				if tt.wantWrote != (err == nil) || tt.wantWrote != (h.done == 1) || tt.wantWrote == (h.failed == 1) {
					t.Errorf("after the retries: %v (done %d, failed %d)", err, h.done, h.failed)
				}
			}
			if got := Holds(h.role.ours(t), []Statement{statement(t, carol)}); got != tt.wantWrote {
				t.Errorf("the Deny is written: %v, want %v", got, tt.wantWrote)
			}
			if tt.cause == "too_large" && !tt.wantWrote {
				var tl *TooLargeError
				if !errors.As(err, &tl) || tl.Others["app"] == 0 {
					t.Errorf("%v, want a *TooLargeError that counts the other policy", err)
				}
			}
			h.role.mu.Lock()
			defer h.role.mu.Unlock()
			for name, doc := range h.role.policies {
				if name != PolicyName && name != "app" || name == "app" && !tt.makeRoom && doc != tt.policies["app"] {
					t.Errorf("policy %s was written: the ender writes only its own", name)
				}
			}
		})
	}
}

// A Deny written already (by another replica, under any Sid) is not
// written again, and a Deny whose cut-off ends nothing any more is not
// written at all.
func TestEndWritesNothingTwice(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	carol := Ended{AccountID: "111111111111", Role: "Admin", Scope: ScopeGrant, Grant: "prod/2026-12/carol", Before: now}
	mine := statement(t, carol)
	mine.Sid = "ByHand"
	f := newRole(map[string]string{PolicyName: JSON(&Document{Version: "2012-10-17", Statement: []Statement{mine}})})
	h := &hooks{role: f}
	old := carol
	old.Grant, old.Before = "prod/2026-12/old", now.Add(-2*time.Hour)
	if err := h.ender(now, 1).End(context.Background(), []Ended{carol, old}); err != nil {
		t.Fatal(err)
	}
	if f.writes != 0 || h.done != 1 {
		t.Errorf("%d writes (done %d), want none: the Deny is there and the other ends nothing", f.writes, h.done)
	}
	e := h.ender(now, 1)
	e.IAMFor = func(context.Context, string) (IAM, error) {
		t.Error("IAM called for a Deny that names nobody")
		return f, nil
	}
	if err := e.End(context.Background(), []Ended{{AccountID: "1", Role: "Admin", Scope: ScopePerson, Grant: "x", Before: now}}); err == nil || h.failed != 1 {
		t.Errorf("a person's Deny without their id: %v (failed %d), want an error", err, h.failed)
	}
}
