package identitycenter_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/identitycenter"
	"github.com/elevate-gitops/elevate/internal/testenv"
)

// recording is an SSOAdmin that records the writes it passes on, in
// order, as "Op account".
type recording struct {
	identitycenter.SSOAdmin
	mu     sync.Mutex
	writes []string
}

func (r *recording) record(op, account string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, op+" "+account)
}

func (r *recording) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.writes
	r.writes = nil
	return w
}

func (r *recording) CreateAccountAssignment(ctx context.Context, in *ssoadmin.CreateAccountAssignmentInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.CreateAccountAssignmentOutput, error) {
	r.record("Create", aws.ToString(in.TargetId))
	return r.SSOAdmin.CreateAccountAssignment(ctx, in, optFns...)
}

func (r *recording) DeleteAccountAssignment(ctx context.Context, in *ssoadmin.DeleteAccountAssignmentInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.DeleteAccountAssignmentOutput, error) {
	r.record("Delete", aws.ToString(in.TargetId))
	return r.SSOAdmin.DeleteAccountAssignment(ctx, in, optFns...)
}

func (r *recording) PutInlinePolicyToPermissionSet(ctx context.Context, in *ssoadmin.PutInlinePolicyToPermissionSetInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.PutInlinePolicyToPermissionSetOutput, error) {
	r.record("Put", "")
	return r.SSOAdmin.PutInlinePolicyToPermissionSet(ctx, in, optFns...)
}

func (r *recording) ProvisionPermissionSet(ctx context.Context, in *ssoadmin.ProvisionPermissionSetInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.ProvisionPermissionSetOutput, error) {
	r.record("Provision", aws.ToString(in.TargetId))
	return r.SSOAdmin.ProvisionPermissionSet(ctx, in, optFns...)
}

// motoEnv is moto's sso-admin and identitystore, with real SDK clients.
type motoEnv struct {
	admin    *ssoadmin.Client
	store    *identitystore.Client
	instance string
	storeID  string
	account  string // moto's own account: ListAccountsForProvisionedPermissionSet's only answer
}

func startMoto(t *testing.T) *motoEnv {
	t.Helper()
	endpoint := testenv.StartMoto(t, -1)
	creds := credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", "")
	m := &motoEnv{
		admin: ssoadmin.New(ssoadmin.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds, Retryer: aws.NopRetryer{}}),
		store: identitystore.New(identitystore.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds, Retryer: aws.NopRetryer{}}),
	}
	ctx := context.Background()
	id, err := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	m.account = aws.ToString(id.Account)
	instances, err := m.admin.ListInstances(ctx, &ssoadmin.ListInstancesInput{})
	if err != nil || len(instances.Instances) != 1 {
		t.Fatalf("ListInstances: %v, %v", instances, err)
	}
	m.instance = aws.ToString(instances.Instances[0].InstanceArn)
	m.storeID = aws.ToString(instances.Instances[0].IdentityStoreId)
	return m
}

func (m *motoEnv) permissionSet(t *testing.T, name string) string {
	t.Helper()
	out, err := m.admin.CreatePermissionSet(context.Background(), &ssoadmin.CreatePermissionSetInput{
		InstanceArn: aws.String(m.instance), Name: aws.String(name),
		SessionDuration: aws.String("PT1H"), // moto answers its default, 3600, as a number the SDK refuses
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.PermissionSet.PermissionSetArn)
}

func (m *motoEnv) user(t *testing.T, userName string) string {
	t.Helper()
	out, err := m.store.CreateUser(context.Background(), &identitystore.CreateUserInput{
		IdentityStoreId: aws.String(m.storeID), UserName: aws.String(userName), DisplayName: aws.String(userName),
		Name: &idtypes.Name{GivenName: aws.String(userName), FamilyName: aws.String("Example")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.UserId)
}

func (m *motoEnv) policy(t *testing.T, arn string) string {
	t.Helper()
	out, err := m.admin.GetInlinePolicyForPermissionSet(context.Background(), &ssoadmin.GetInlinePolicyForPermissionSetInput{InstanceArn: aws.String(m.instance), PermissionSetArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.InlinePolicy)
}

// assignments is "USER:id@account" of each assignment of arn in accounts.
func (m *motoEnv) assignments(t *testing.T, arn string, accounts ...string) []string {
	t.Helper()
	var out []string
	for _, account := range accounts {
		list, err := m.admin.ListAccountAssignments(context.Background(), &ssoadmin.ListAccountAssignmentsInput{InstanceArn: aws.String(m.instance), PermissionSetArn: aws.String(arn), AccountId: aws.String(account)})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list.AccountAssignments {
			out = append(out, string(a.PrincipalType)+":"+aws.ToString(a.PrincipalId)+"@"+account)
		}
	}
	return out
}

// The reconciler against moto's sso-admin and identitystore (moto_server
// 5.2.1), through the SDK's real clients: two targets in two accounts,
// overlapping grants sharing one assignment, a revocation, drift, the
// Deny before the assignment, and statements not elevate's kept.
func TestMoto(t *testing.T) {
	m := startMoto(t)
	ctx := context.Background()
	ps := map[string]string{}
	for _, name := range []string{"PaymentsAdmin", "ReadOnly", "PowerUser"} {
		ps[name] = m.permissionSet(t, name)
	}
	alice, bob := m.user(t, "alice@example.com"), m.user(t, "bob@example.com")
	cfg := identitycenter.Config{
		InstanceARN: m.instance, IdentityStoreID: m.storeID,
		PermissionSets: map[string]string{"PaymentsAdmin": ps["PaymentsAdmin"], "ReadOnly": ps["ReadOnly"]},
		Users:          map[int64]string{aliceID: "alice@example.com", bobID: "bob@example.com"},
	}
	var notices []identitycenter.Notice
	admin := &recording{SSOAdmin: m.admin}
	r := identitycenter.New(admin, m.store, cfg, identitycenter.Options{
		Notify: func(n identitycenter.Notice) { notices = append(notices, n) },
		Sleep:  func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	})
	theirs := `{"Sid":"TheirS3","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}`
	if _, err := m.admin.PutInlinePolicyToPermissionSet(ctx, &ssoadmin.PutInlinePolicyToPermissionSetInput{
		InstanceArn: aws.String(m.instance), PermissionSetArn: aws.String(ps["PaymentsAdmin"]),
		InlinePolicy: aws.String(`{"Version":"2012-10-17","Statement":[` + theirs + `]}`),
	}); err != nil {
		t.Fatal(err)
	}
	reconcile := func(now time.Time, targets ...identitycenter.Target) {
		t.Helper()
		if err := r.Reconcile(ctx, targets, now); err != nil {
			t.Fatalf("Reconcile at %s: %v", now.Format(time.Kitchen), err)
		}
	}
	key := func(user, account string) string { return user + "@" + account }

	// A grant of two targets, in two accounts.
	two := []identitycenter.Target{
		grant("payments/2026-12/alice-two", "alice", payments, "PaymentsAdmin", t0, t0.Add(2*time.Hour)),
		grant("payments/2026-12/alice-two", "alice", ledger, "PaymentsAdmin", t0, t0.Add(2*time.Hour)),
	}
	reconcile(t0, two...)
	if diff := cmp.Diff([]string{"USER:" + alice + "@" + payments, "USER:" + alice + "@" + ledger}, m.assignments(t, ps["PaymentsAdmin"], payments, ledger)); diff != "" {
		t.Errorf("assignments (-want +got):\n%s", diff)
	}
	// Each Deny written and provisioned before its assignment.
	if diff := cmp.Diff([]string{"Put ", "Provision " + payments, "Provision " + ledger, "Create " + payments, "Create " + ledger}, admin.take()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	policy := m.policy(t, ps["PaymentsAdmin"])
	if !strings.Contains(policy, `"Statement":[`+theirs+`,`) {
		t.Errorf("their statement was not kept first:\n%s", policy)
	}
	wantDenies := map[string]time.Time{key(alice, payments): t0.Add(2 * time.Hour), key(alice, ledger): t0.Add(2 * time.Hour)}
	if diff := cmp.Diff(wantDenies, denies(t, policy)); diff != "" {
		t.Errorf("Denies (-want +got):\n%s", diff)
	}
	for _, g := range two {
		if s := r.State(g.Request, g.AccountName, g.PermissionSet); s != identitycenter.StateActive {
			t.Errorf("%s: State %q", g.AccountName, s)
		}
	}

	// Overlapping grants of bob share one assignment of ReadOnly.
	a := grant("payments/2026-12/bob-a", "bob", payments, "ReadOnly", t0, t0.Add(time.Hour))
	b := grant("payments/2026-12/bob-b", "bob", payments, "ReadOnly", t0.Add(30*time.Minute), t0.Add(3*time.Hour))
	reconcile(t0.Add(40*time.Minute), append(two, a, b)...)
	if got := m.assignments(t, ps["ReadOnly"], payments); !cmp.Equal(got, []string{"USER:" + bob + "@" + payments}) {
		t.Errorf("bob's ReadOnly: %v, want one assignment", got)
	}
	if end := denies(t, m.policy(t, ps["ReadOnly"]))[key(bob, payments)]; !end.Equal(b.End) {
		t.Errorf("bob's Deny ends %s, want the later end %s", end, b.End)
	}
	reconcile(a.End, append(two, a, b)...) // a ends, b is open
	if got := m.assignments(t, ps["ReadOnly"], payments); len(got) != 1 {
		t.Errorf("ending a removed b's access: %v", got)
	}
	admin.take()

	// alice's grant is revoked: the Deny's end moves to the revocation,
	// is provisioned, and then the assignments go.
	revoked := t0.Add(90 * time.Minute)
	for i := range two {
		two[i].RevokedAt = revoked
	}
	reconcile(revoked.Add(time.Minute), append(two, a, b)...)
	if got := m.assignments(t, ps["PaymentsAdmin"], payments, ledger); len(got) != 0 {
		t.Errorf("revoked, still assigned: %v", got)
	}
	wantDenies = map[string]time.Time{key(alice, payments): revoked, key(alice, ledger): revoked}
	if diff := cmp.Diff(wantDenies, denies(t, m.policy(t, ps["PaymentsAdmin"]))); diff != "" {
		t.Errorf("Denies after the revocation (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Put ", "Provision " + payments, "Provision " + ledger, "Delete " + payments, "Delete " + ledger}, admin.take()); diff != "" {
		t.Errorf("writes of the revocation (-want +got):\n%s", diff)
	}

	// Both of bob's grants end: the shared assignment goes.
	reconcile(b.End, append(two, a, b)...)
	if got := m.assignments(t, ps["ReadOnly"], payments); len(got) != 0 {
		t.Errorf("both ended, still assigned: %v", got)
	}
	if diff := cmp.Diff([]string{"Delete " + payments}, admin.take()); diff != "" {
		t.Errorf("writes of the end (-want +got):\n%s", diff)
	}
	if len(notices) != 0 {
		t.Errorf("notices of ends the grants explain: %+v", notices)
	}

	// Drift: by hand, bob gets PaymentsAdmin in moto's account (listed
	// only by ListAccountsForProvisionedPermissionSet) and PowerUser
	// (not elevate's).
	for _, set := range []string{"PaymentsAdmin", "PowerUser"} {
		if _, err := m.admin.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
			InstanceArn: aws.String(m.instance), PermissionSetArn: aws.String(ps[set]),
			PrincipalId: aws.String(bob), PrincipalType: types.PrincipalTypeUser,
			TargetId: aws.String(m.account), TargetType: types.TargetTypeAwsAccount,
		}); err != nil {
			t.Fatal(err)
		}
	}
	now := b.End.Add(time.Minute)
	reconcile(now)
	if got := m.assignments(t, ps["PaymentsAdmin"], m.account); len(got) != 0 {
		t.Errorf("the hand-made assignment of a managed set stayed: %v", got)
	}
	if got := m.assignments(t, ps["PowerUser"], m.account); len(got) != 1 {
		t.Errorf("the unmanaged set's assignment was touched: %v", got)
	}
	want := []identitycenter.Notice{{Kind: identitycenter.NoticeRemoved, Target: m.account + ":ps/PaymentsAdmin",
		Reason: "USER " + bob + " was assigned PaymentsAdmin in " + m.account + " but no open grant explains it"}}
	if diff := cmp.Diff(want, notices); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
	if end := denies(t, m.policy(t, ps["PaymentsAdmin"]))[key(bob, m.account)]; !end.Equal(now) {
		t.Errorf("bob's Deny in %s ends %s, want now", m.account, end)
	}
	if diff := cmp.Diff([]string{"Put ", "Provision " + m.account, "Delete " + m.account}, admin.take()); diff != "" {
		t.Errorf("writes of the drift (-want +got):\n%s", diff)
	}
}
