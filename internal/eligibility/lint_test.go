package eligibility

import (
	"github.com/google/go-cmp/cmp"

	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/codeowners"
)

func TestLint(t *testing.T) {
	t.Parallel()
	policy := `version: 1
accounts:
  prod: "111111111111"
  staging: "222222222222"
rules:
  - name: solo
    who: [alice]
    accounts: [prod]
    roles: [Admin]
    max_duration: 1h
    approvals: 1
  - name: solo
    who: [bob]
    accounts: [staging, sandbox]
    roles: [Admin]
    max_duration: 1h
    approvals: 1
`
	p, err := Parse(File, []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	owners, err := codeowners.Parse(".github/CODEOWNERS", []byte("/requests/prod/ @alice\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := Lint(p, owners, []string{"prod", "legacy"})
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`eligibility.yaml:12: name: duplicate rule name "solo" (first on line 6)`,
		`eligibility.yaml:12: accounts: rule solo names unknown account "sandbox"`,
		`eligibility.yaml:6: approvals: rule solo can never be approved in prod: it needs 1 approval(s) but requests/prod/ has 0 owner(s) other than the requester alice`,
		`eligibility.yaml:12: approvals: rule solo can never be approved in staging: requests/staging/ has no CODEOWNERS owner`,
		`requests/legacy/: "legacy" is not an account`,
		`requests/legacy/: no CODEOWNERS rule covers this folder`,
		`requests/staging/: no CODEOWNERS rule covers this folder`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("lint output lacks %q; got:\n%s", want, all)
		}
	}
	if len(got) != 7 {
		t.Errorf("got %d problems, want 7:\n%s", len(got), all)
	}
}

func TestLintApprovers(t *testing.T) {
	t.Parallel()
	policy := `version: 1
accounts:
  prod: "111111111111"
rules:
  - {name: own, who: [alice], accounts: [prod], roles: [Admin], approvers: [alice], max_duration: 1h, approvals: 1}
  - {name: few, who: [alice], accounts: [prod], roles: [Admin], approvers: [alice, carol, Carol], max_duration: 1h, approvals: 2}
  - {name: team, who: [alice], accounts: [prod], roles: [Admin], approvers: ["@acme/security"], max_duration: 1h, approvals: 2}
  - {name: fine, who: [alice], accounts: [prod], roles: [Admin], approvers: [carol, dave], max_duration: 1h, approvals: 2}
`
	p, err := Parse(File, []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	// No CODEOWNERS owner at all: rules with approvers do not need one.
	owners, err := codeowners.Parse(".github/CODEOWNERS", []byte("/requests/prod/ @alice\n"))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range Lint(p, owners, nil) {
		msgs = append(msgs, e.Error())
	}
	want := []string{
		"eligibility.yaml:5: approvers: rule own can never be approved: it needs 1 approval(s) but names 0 approver(s) other than the requester alice",
		"eligibility.yaml:6: approvers: rule few can never be approved: it needs 2 approval(s) but names 1 approver(s) other than the requester alice",
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("lint (-want +got):\n%s", diff)
	}
}

func TestLintCleanPolicy(t *testing.T) {
	t.Parallel()
	p := loadExample(t)
	owners, err := codeowners.Parse("CODEOWNERS", []byte("/requests/prod/ @bob @acme/sre-leads\n/requests/staging/ @bob\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Lint(p, owners, []string{"prod", "staging"}); len(got) != 0 {
		t.Errorf("want no problems, got %v", got)
	}
}
