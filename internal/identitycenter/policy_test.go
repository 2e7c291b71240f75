package identitycenter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/elevate-gitops/elevate/internal/endsession"
	"github.com/google/go-cmp/cmp"
)

var end = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	alice := denyKey{"u-alice", "111111111111"}
	ours := func(k denyKey, end time.Time) string {
		b, _ := endsession.Marshal(denyStatement(k, end))
		return string(b)
	}
	tampered := strings.Replace(ours(alice, end), "u-alice", "u-bob", 1) // the Sid no longer matches
	for _, tc := range []struct {
		name, text string
		foreign    int
		ours       map[denyKey]time.Time
		err        bool
	}{
		{name: "none", text: "", ours: map[denyKey]time.Time{}},
		{name: "ours", text: `{"Version":"2012-10-17","Statement":[` + ours(alice, end) + `]}`, ours: map[denyKey]time.Time{alice: end}},
		{name: "one statement, not a list", text: `{"Version":"2012-10-17","Statement":` + ours(alice, end) + `}`, ours: map[denyKey]time.Time{alice: end}},
		{name: "URL-encoded", text: `%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D`, ours: map[denyKey]time.Time{}},
		{name: "twice: the earlier end", text: `{"Version":"2012-10-17","Statement":[` + ours(alice, end) + `,` + ours(alice, end.Add(-time.Hour)) + `]}`,
			ours: map[denyKey]time.Time{alice: end.Add(-time.Hour)}},
		{name: "tampered is not ours", text: `{"Version":"2012-10-17","Statement":[` + tampered + `]}`, foreign: 1, ours: map[denyKey]time.Time{}},
		{name: "prefix, other shape", text: `{"Version":"2012-10-17","Statement":[{"Sid":"ElevateEndX","Effect":"Deny","Action":"*","Resource":"*","NotPrincipal":{"AWS":"x"}}]}`,
			foreign: 1, ours: map[denyKey]time.Time{}},
		{name: "not JSON", text: `{"Version":`, err: true},
		{name: "a key IAM does not know", text: `{"Version":"2012-10-17","Statement":[],"Extra":1}`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePolicy(tc.text)
			if tc.err {
				if err == nil {
					t.Fatalf("parsed %q", tc.text)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.foreign) != tc.foreign {
				t.Errorf("%d foreign statements, want %d", len(p.foreign), tc.foreign)
			}
			if diff := cmp.Diff(tc.ours, p.ours); diff != "" {
				t.Errorf("ours (-want +got):\n%s", diff)
			}
		})
	}
}

// One statement per person and account, replaced, never appended; one
// statement's exact shape.
func TestRenderReplaces(t *testing.T) {
	t.Parallel()
	k := denyKey{"906745b2-4d71-7070-3a4b-1d2e3f4a5b6c", "111111111111"}
	p, _ := parsePolicy("")
	first := p.render(map[denyKey]time.Time{k: end}, "")
	p, err := parsePolicy(first)
	if err != nil {
		t.Fatal(err)
	}
	second := p.render(map[denyKey]time.Time{k: end.Add(time.Hour)}, "")
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"` + k.sid() + `","Effect":"Deny","Action":"*","Resource":"*",` +
		`"Condition":{"StringEquals":{"identitystore:UserId":"906745b2-4d71-7070-3a4b-1d2e3f4a5b6c","aws:PrincipalAccount":"111111111111"},` +
		`"DateGreaterThan":{"aws:CurrentTime":"2026-12-01T13:00:00Z"}}}]}`
	if second != want {
		t.Errorf("got\n%s\nwant\n%s", second, want)
	}
	if !strings.HasPrefix(k.sid(), SidPrefix) || k.sid() == (denyKey{k.user, "222222222222"}).sid() {
		t.Errorf("Sid %s is not one per person and account", k.sid())
	}
}

func TestWaitJitteredAndCapped(t *testing.T) {
	t.Parallel()
	for _, rnd := range []float64{0, 0.5, 0.999} {
		r := New(nil, nil, Config{}, Options{Backoff: time.Second, Rand: func() float64 { return rnd }})
		prev := time.Duration(0)
		for n := range 10 {
			w := time.Second << n
			if w > maxWait {
				w = maxWait
			}
			d := r.wait(n)
			if d < w/2 || d >= w || d < prev {
				t.Errorf("Rand %v, try %d: %s, want in [%s, %s) and no less than %s", rnd, n, d, w/2, w, prev)
			}
			prev = d
		}
	}
}

// stub answers every call with an empty output (no status, no ids): what
// a broken or unexpected AWS answer looks like after decoding.
type stub struct {
	nothing   bool // GetInlinePolicyForPermissionSet answers nil, nil
	provision *types.PermissionSetProvisioningStatus
	assigned  []types.AccountAssignment
	creates   int
}

func (s *stub) ListAccountAssignments(context.Context, *ssoadmin.ListAccountAssignmentsInput, ...func(*ssoadmin.Options)) (*ssoadmin.ListAccountAssignmentsOutput, error) {
	return &ssoadmin.ListAccountAssignmentsOutput{AccountAssignments: s.assigned}, nil
}
func (s *stub) CreateAccountAssignment(context.Context, *ssoadmin.CreateAccountAssignmentInput, ...func(*ssoadmin.Options)) (*ssoadmin.CreateAccountAssignmentOutput, error) {
	s.creates++
	return &ssoadmin.CreateAccountAssignmentOutput{}, nil
}
func (s *stub) DeleteAccountAssignment(context.Context, *ssoadmin.DeleteAccountAssignmentInput, ...func(*ssoadmin.Options)) (*ssoadmin.DeleteAccountAssignmentOutput, error) {
	return &ssoadmin.DeleteAccountAssignmentOutput{AccountAssignmentDeletionStatus: &types.AccountAssignmentOperationStatus{Status: "WEIRD"}}, nil
}
func (s *stub) DescribeAccountAssignmentCreationStatus(context.Context, *ssoadmin.DescribeAccountAssignmentCreationStatusInput, ...func(*ssoadmin.Options)) (*ssoadmin.DescribeAccountAssignmentCreationStatusOutput, error) {
	return &ssoadmin.DescribeAccountAssignmentCreationStatusOutput{}, nil
}
func (s *stub) DescribeAccountAssignmentDeletionStatus(context.Context, *ssoadmin.DescribeAccountAssignmentDeletionStatusInput, ...func(*ssoadmin.Options)) (*ssoadmin.DescribeAccountAssignmentDeletionStatusOutput, error) {
	return &ssoadmin.DescribeAccountAssignmentDeletionStatusOutput{}, nil
}
func (s *stub) GetInlinePolicyForPermissionSet(context.Context, *ssoadmin.GetInlinePolicyForPermissionSetInput, ...func(*ssoadmin.Options)) (*ssoadmin.GetInlinePolicyForPermissionSetOutput, error) {
	if s.nothing {
		return nil, nil
	}
	return &ssoadmin.GetInlinePolicyForPermissionSetOutput{}, nil
}
func (s *stub) PutInlinePolicyToPermissionSet(context.Context, *ssoadmin.PutInlinePolicyToPermissionSetInput, ...func(*ssoadmin.Options)) (*ssoadmin.PutInlinePolicyToPermissionSetOutput, error) {
	return &ssoadmin.PutInlinePolicyToPermissionSetOutput{}, nil
}
func (s *stub) ProvisionPermissionSet(context.Context, *ssoadmin.ProvisionPermissionSetInput, ...func(*ssoadmin.Options)) (*ssoadmin.ProvisionPermissionSetOutput, error) {
	return &ssoadmin.ProvisionPermissionSetOutput{PermissionSetProvisioningStatus: s.provision}, nil
}
func (s *stub) DescribePermissionSetProvisioningStatus(context.Context, *ssoadmin.DescribePermissionSetProvisioningStatusInput, ...func(*ssoadmin.Options)) (*ssoadmin.DescribePermissionSetProvisioningStatusOutput, error) {
	return &ssoadmin.DescribePermissionSetProvisioningStatusOutput{}, nil
}
func (s *stub) ListAccountsForProvisionedPermissionSet(context.Context, *ssoadmin.ListAccountsForProvisionedPermissionSetInput, ...func(*ssoadmin.Options)) (*ssoadmin.ListAccountsForProvisionedPermissionSetOutput, error) {
	return &ssoadmin.ListAccountsForProvisionedPermissionSetOutput{AccountIds: []string{"not-an-account", ""}}, nil
}

type store struct{ id string }

func (s store) GetUserId(context.Context, *identitystore.GetUserIdInput, ...func(*identitystore.Options)) (*identitystore.GetUserIdOutput, error) {
	if s.id == "" {
		return &identitystore.GetUserIdOutput{}, nil
	}
	return &identitystore.GetUserIdOutput{UserId: aws.String(s.id)}, nil
}

// Answers without a status, an unknown status, no UserId, or accounts that
// are not account ids are errors of the round, never a panic nor an
// assignment made on a guess.
func TestBadAnswers(t *testing.T) {
	t.Parallel()
	target := Target{Request: "r", GitHubID: 1, Login: "alice", AccountName: "payments", AccountID: "111111111111",
		PermissionSet: "PaymentsAdmin", Start: end.Add(-time.Hour), End: end}
	cfg := Config{InstanceARN: "arn:aws:sso:::instance/ssoins-1", IdentityStoreID: "d-1",
		PermissionSets: map[string]string{"PaymentsAdmin": "arn:ps"}, Users: map[int64]string{1: "alice"}}
	for _, tc := range []struct {
		name  string
		admin *stub
		store store
		state State
	}{
		{"no UserId", &stub{}, store{}, StateFailed},
		{"no provisioning status", &stub{}, store{"u-1"}, StateFailed},
		{"no output at all", &stub{nothing: true}, store{"u-1"}, StateFailed},
		{"no creation status", &stub{provision: &types.PermissionSetProvisioningStatus{Status: types.StatusValuesSucceeded}}, store{"u-1"}, StateFailed},
		{"IN_PROGRESS without a request id", &stub{provision: &types.PermissionSetProvisioningStatus{Status: types.StatusValuesInProgress}}, store{"u-1"}, StateFailed},
		{"an unknown deletion status", &stub{
			provision: &types.PermissionSetProvisioningStatus{Status: types.StatusValuesSucceeded},
			assigned:  []types.AccountAssignment{{PrincipalType: types.PrincipalTypeGroup, PrincipalId: aws.String("g-1")}, {PrincipalType: types.PrincipalTypeUser}},
		}, store{"u-1"}, StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var notices []Notice
			r := New(tc.admin, tc.store, cfg, Options{Sleep: func(context.Context, time.Duration) error { return nil },
				Notify: func(n Notice) { notices = append(notices, n) }})
			err := r.Reconcile(context.Background(), []Target{target}, end.Add(-time.Minute))
			var rerr *ReconcileError
			if !errors.As(err, &rerr) {
				t.Fatalf("Reconcile: %v, want a *ReconcileError", err)
			}
			if got := r.State("r", "payments", "PaymentsAdmin"); got != tc.state {
				t.Errorf("State %q, want %q", got, tc.state)
			}
			provisioned := tc.admin.provision != nil && tc.admin.provision.Status == types.StatusValuesSucceeded
			if !provisioned && tc.admin.creates != 0 {
				t.Errorf("created without the Deny provisioned")
			}
			if len(notices) == 0 {
				t.Errorf("nothing announced")
			}
		})
	}
}
