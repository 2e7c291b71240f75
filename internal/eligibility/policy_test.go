package eligibility

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/request"
	"github.com/elevate-gitops/elevate/internal/strictyaml"
	"github.com/google/go-cmp/cmp"
)

func loadExample(t testing.TB) *Policy {
	t.Helper()
	data, err := os.ReadFile("testdata/eligibility.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(File, data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// teams is a membership source: "org/team" -> active logins.
type teams map[string][]string

func (m teams) ActiveTeamMember(_ context.Context, org, slug, login string) (bool, error) {
	for _, l := range m[org+"/"+slug] {
		if strings.EqualFold(l, login) {
			return true, nil
		}
	}
	return false, nil
}

func TestParseExample(t *testing.T) {
	t.Parallel()
	p := loadExample(t)
	if p.SessionDuration != time.Hour || len(p.Rules) != 3 || p.Accounts["prod"] != "111111111111" {
		t.Fatalf("unexpected policy: %+v", p)
	}
	r := p.Rules[0]
	want := []Principal{{Login: "alice"}, {Org: "acme", Team: "sre"}}
	if diff := cmp.Diff(want, r.Who); diff != "" {
		t.Errorf("who (-want +got):\n%s", diff)
	}
	if r.Emergency == nil || r.Emergency.MaxDuration != time.Hour || r.Ticket == nil || r.Line != 7 {
		t.Errorf("rule 0 = %+v", r)
	}
}

func TestParseErrorsNameLineAndField(t *testing.T) {
	t.Parallel()
	head := "version: 1\naccounts:\n  prod: \"111111111111\"\nrules:\n"
	rule := "  - name: r\n    who: [alice]\n    accounts: [prod]\n    roles: [Admin]\n    max_duration: 1h\n    approvals: 1\n"
	tests := []struct {
		name      string
		yaml      string
		line      int
		field     string
		msgSubstr string
	}{
		{"unknown top key", "version: 1\nowners: x\naccounts: {}\nrules: []\n", 2, "owners", "unknown key"},
		{"bad version", "version: 2\naccounts: {}\nrules: []\n", 1, "version", "unsupported version"},
		{"unquoted account id", "version: 1\naccounts:\n  prod: 111111111111\nrules: []\n", 3, "accounts.prod", "quoted 12-digit"},
		{"short account id", "version: 1\naccounts:\n  prod: \"1111\"\nrules: []\n", 3, "accounts.prod", "not 12 digits"},
		{"duplicate account", "version: 1\naccounts:\n  prod: \"111111111111\"\n  prod: \"222222222222\"\nrules: []\n", 4, "accounts.prod", "duplicate key"},
		{"session too long", strings.Replace(head, "rules:", "session_duration: 13h\nrules:", 1) + rule, 4, "session_duration", "out of range"},
		{"missing approvals", head + strings.Replace(rule, "    approvals: 1\n", "", 1), 5, "rules[0].approvals", "required"},
		{"approvals out of range", head + strings.Replace(rule, "approvals: 1", "approvals: 11", 1), 10, "rules[0].approvals", "out of range"},
		{"approvals as string", head + strings.Replace(rule, "approvals: 1", "approvals: \"1\"", 1), 10, "rules[0].approvals", "must be an integer"},
		{"bad who", head + strings.Replace(rule, "[alice]", "[\"al ice\"]", 1), 6, "rules[0].who", "neither a GitHub login"},
		{"role arn", head + strings.Replace(rule, "[Admin]", "[\"arn:aws:iam::1:role/A\"]", 1), 8, "rules[0].roles", "not an IAM role name"},
		{"bad ticket regexp", head + rule + "    ticket: '('\n", 11, "rules[0].ticket", "regular expression"},
		{"emergency unknown key", head + rule + "    emergency:\n      approvals: 0\n", 12, "rules[0].emergency.approvals", "unknown key"},
		{"permission set not listed", head + strings.Replace(rule, "roles: [Admin]", "permission_sets: [Ghost]", 1), 8, "rules[0].permission_sets", `"Ghost" is not in permission_sets`},
		{"neither roles nor permission sets", head + strings.Replace(rule, "    roles: [Admin]\n", "", 1), 5, "rules[0].roles", "at least one role"},
		{"empty approvers", head + rule + "    approvers: []\n", 11, "rules[0].approvers", "is empty"},
		{"bad approver", head + rule + "    approvers: [\"@acme\"]\n", 11, "rules[0].approvers", "neither a GitHub login"},
		{"permission sets without identity center", strings.Replace(head, "rules:", "permission_sets:\n  A: arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef\nrules:", 1) + rule, 4, "permission_sets", "need an identity_center"},
		{"permission set ARN", strings.Replace(head, "rules:", "permission_sets:\n  A: arn:aws:iam::111111111111:role/A\nrules:", 1) + rule, 5, "permission_sets.A", "not a permission set ARN"},
		{"user keyed by login", strings.Replace(head, "rules:", identityCenter("alice: alice@example.com")+"rules:", 1) + rule, 10, "identity_center.users.alice", "numeric GitHub user id"},
		{"portal not https", strings.Replace(head, "rules:", strings.Replace(identityCenter(`"1001": a`), "https://", "http://", 1)+"rules:", 1) + rule, 8, "identity_center.portal_url", "https URL"},
		{"bad sensitive pattern", strings.Replace(head, "rules:", "activity:\n  sensitive: [\"iam Delete\"]\nrules:", 1) + rule, 5, "activity.sensitive", "not an action pattern"},
		{"alias", "version: 1\naccounts: &a\n  prod: \"111111111111\"\nrules: []\n", 2, "", "anchors"},
		{"tab indentation", "version: 1\naccounts:\n\tprod: \"111111111111\"\nrules: []\n", 3, "", "tab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(File, []byte(tt.yaml))
			var e *strictyaml.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *strictyaml.Error", err)
			}
			if e.File != File || e.Line != tt.line || e.Field != tt.field || !strings.Contains(e.Message, tt.msgSubstr) {
				t.Errorf("got %q (line %d field %q), want line %d field %q containing %q", e, e.Line, e.Field, tt.line, tt.field, tt.msgSubstr)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	p := loadExample(t)
	members := teams{"acme/sre": {"dave"}}
	tests := []struct {
		name    string
		ask     Ask
		want    *Decision
		problem string // field of the first problem when not eligible
	}{
		{"user rule", Ask{Login: "alice", Account: "prod", Role: "Admin", Duration: 2 * time.Hour, Ticket: "INC-1"},
			&Decision{Rules: []string{"sre-prod"}, MaxDuration: 4 * time.Hour, Approvals: 1}, ""},
		{"login case-insensitive", Ask{Login: "ALICE", Account: "staging", Role: "Admin", Duration: time.Hour},
			&Decision{Rules: []string{"dev-staging"}, MaxDuration: 2 * time.Hour}, ""},
		{"team eligibility", Ask{Login: "dave", Account: "prod", Role: "Admin", Duration: time.Hour, Ticket: "INC-7"},
			&Decision{Rules: []string{"sre-prod"}, MaxDuration: 4 * time.Hour, Approvals: 1}, ""},
		{"several rules: longest duration, most approvals", Ask{Login: "dave", Account: "prod", Role: "ReadOnly", Duration: 6 * time.Hour, Ticket: "INC-7"},
			&Decision{Rules: []string{"sre-prod", "prod-readonly-long"}, MaxDuration: 8 * time.Hour, Approvals: 2}, ""},
		{"not a member", Ask{Login: "mallory", Account: "prod", Role: "Admin", Duration: time.Hour, Ticket: "INC-1"}, nil, "account"},
		{"unknown account", Ask{Login: "alice", Account: "dev", Role: "Admin", Duration: time.Hour}, nil, "account"},
		{"role not eligible", Ask{Login: "alice", Account: "prod", Role: "Billing", Duration: time.Hour, Ticket: "INC-1"}, nil, "role"},
		{"duration over max", Ask{Login: "alice", Account: "prod", Role: "Admin", Duration: 5 * time.Hour, Ticket: "INC-1"}, nil, "duration"},
		{"ticket required", Ask{Login: "alice", Account: "prod", Role: "Admin", Duration: time.Hour}, nil, "ticket"},
		{"ticket pattern mismatch", Ask{Login: "alice", Account: "prod", Role: "Admin", Duration: time.Hour, Ticket: "JIRA-1"}, nil, "ticket"},
		{"emergency allowed", Ask{Login: "alice", Account: "prod", Role: "Admin", Duration: time.Hour, Ticket: "INC-9", Emergency: true},
			&Decision{Rules: []string{"sre-prod"}, MaxDuration: time.Hour, Emergency: true}, ""},
		{"emergency over its cap", Ask{Login: "alice", Account: "prod", Role: "Admin", Duration: 2 * time.Hour, Ticket: "INC-9", Emergency: true}, nil, "duration"},
		{"emergency without ticket", Ask{Login: "carol", Account: "staging", Role: "Admin", Duration: time.Hour, Emergency: true}, nil, "emergency"},
		{"emergency not allowed", Ask{Login: "carol", Account: "staging", Role: "Admin", Duration: time.Hour, Ticket: "X", Emergency: true}, nil, "emergency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := p.Evaluate(context.Background(), tt.ask, members)
			if tt.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				return
			}
			var ne *NotEligibleError
			if !errors.As(err, &ne) {
				t.Fatalf("err = %v, want *NotEligibleError", err)
			}
			if ne.Problems[0].Field != tt.problem {
				t.Errorf("first problem %+v, want field %q", ne.Problems[0], tt.problem)
			}
		})
	}
}

func TestEvaluateEmergencyNeedsTicket(t *testing.T) {
	t.Parallel()
	p := loadExample(t)
	_, err := p.Evaluate(context.Background(), Ask{Login: "alice", Account: "prod", Role: "Admin", Duration: time.Hour, Emergency: true}, teams{})
	if err == nil || !strings.Contains(err.Error(), "emergency requests must carry a ticket") {
		t.Fatalf("err = %v", err)
	}
}

type failingTeams struct{}

func (failingTeams) ActiveTeamMember(context.Context, string, string, string) (bool, error) {
	return false, errors.New("403 resource not accessible by integration")
}

func TestEvaluateFailsClosedOnMembershipError(t *testing.T) {
	t.Parallel()
	p := loadExample(t)
	_, err := p.Evaluate(context.Background(), Ask{Login: "dave", Account: "prod", Role: "Admin", Duration: time.Hour, Ticket: "INC-1"}, failingTeams{})
	var ne *NotEligibleError
	if err == nil || errors.As(err, &ne) {
		t.Fatalf("err = %v, want a lookup error (not a policy verdict)", err)
	}
}

func TestEligible(t *testing.T) {
	t.Parallel()
	p := loadExample(t)
	for _, tt := range []struct {
		login, account, role string
		want                 bool
	}{
		{"alice", "prod", "Admin", true},
		{"dave", "prod", "ReadOnly", true},
		{"carol", "prod", "Admin", false},
		{"alice", "nowhere", "Admin", false},
	} {
		got, err := p.Eligible(context.Background(), tt.login, request.Target{Account: tt.account, Role: tt.role}, teams{"acme/sre": {"dave"}})
		if err != nil || got != tt.want {
			t.Errorf("Eligible(%s,%s,%s) = %v, %v; want %v", tt.login, tt.account, tt.role, got, err, tt.want)
		}
	}
}

// identityCenter is an identity_center section (lines 4-9 after a
// three-line head) whose users are the one line given.
func identityCenter(user string) string {
	return "identity_center:\n  instance_arn: arn:aws:sso:::instance/ssoins-1234567890abcdef\n  identity_store_id: d-1234567890\n" +
		"  region: eu-west-1\n  portal_url: https://d-1234567890.awsapps.com/start\n  users:\n    " + user + "\n"
}

func TestIdentityCenterTargets(t *testing.T) {
	t.Parallel()
	data := "version: 1\naccounts:\n  prod: \"111111111111\"\n  payments: \"222222222222\"\n" + identityCenter(`"1001": alice@example.com`) +
		"permission_sets:\n  PaymentsAdmin: arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef\n" +
		"rules:\n" +
		"  - {name: ps, who: [alice], accounts: [payments], permission_sets: [PaymentsAdmin], approvers: [\"@acme/security\", carol], max_duration: 4h, approvals: 1}\n" +
		"  - {name: roles, who: [alice], accounts: [prod, payments], roles: [Admin], max_duration: 2h, approvals: 1}\n"
	p, err := Parse(File, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.IdentityCenter.Users[1001]; got != "alice@example.com" {
		t.Errorf("users[1001] = %q", got)
	}
	ctx := context.Background()
	d, err := p.Evaluate(ctx, Ask{Login: "alice", Account: "payments", PermissionSet: "PaymentsAdmin", Duration: time.Hour}, teams{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Principal{{Org: "acme", Team: "security"}, {Login: "carol"}}
	if diff := cmp.Diff(want, d.Approvers); diff != "" {
		t.Errorf("approvers (-want +got):\n%s", diff)
	}
	if d, err := p.Evaluate(ctx, Ask{Login: "alice", Account: "payments", Role: "Admin", Duration: time.Hour}, teams{}); err != nil || d.Approvers != nil {
		t.Errorf("a role under a rule without approvers: %v, %v; want the CODEOWNERS (nil)", d, err)
	}
	// A permission set is not a role of the same name, and back.
	if _, err := p.Evaluate(ctx, Ask{Login: "alice", Account: "payments", Role: "PaymentsAdmin", Duration: time.Hour}, teams{}); err == nil {
		t.Error("a role named like a permission set was eligible")
	}
	if _, err := p.Evaluate(ctx, Ask{Login: "alice", Account: "prod", PermissionSet: "Ghost", Duration: time.Hour}, teams{}); err == nil || !strings.Contains(err.Error(), "not in the permission_sets") {
		t.Errorf("unknown permission set: %v", err)
	}
	for _, tt := range []struct {
		target request.Target
		want   bool
	}{
		{request.Target{Account: "payments", PermissionSet: "PaymentsAdmin"}, true},
		{request.Target{Account: "prod", PermissionSet: "PaymentsAdmin"}, false},
		{request.Target{Account: "payments", Role: "PaymentsAdmin"}, false},
		{request.Target{Account: "payments", Role: "Admin"}, true},
	} {
		if got, err := p.Eligible(ctx, "alice", tt.target, teams{}); err != nil || got != tt.want {
			t.Errorf("Eligible(%s) = %v, %v; want %v", tt.target, got, err, tt.want)
		}
	}
	if w := Warnings(p); len(w) != 1 || !strings.Contains(w[0].Error(), "PaymentsAdmin is elevate's alone") {
		t.Errorf("warnings = %v", w)
	}
}
