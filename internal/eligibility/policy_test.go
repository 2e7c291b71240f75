package eligibility

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

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
		got, err := p.Eligible(context.Background(), tt.login, tt.account, tt.role, teams{"acme/sre": {"dave"}})
		if err != nil || got != tt.want {
			t.Errorf("Eligible(%s,%s,%s) = %v, %v; want %v", tt.login, tt.account, tt.role, got, err, tt.want)
		}
	}
}
