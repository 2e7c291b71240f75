package eligibility

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiffWhoCanNowGetWhat(t *testing.T) {
	t.Parallel()
	before := loadExample(t)
	data := `version: 1
accounts:
  prod: "111111111111"
  staging: "333333333333"
rules:
  - name: sre-prod
    who: ["alice", "@acme/sre", "Erin"]
    accounts: [prod]
    roles: [Admin]
    max_duration: 4h
    approvals: 1
  - name: dev-staging
    who: [carol]
    accounts: [staging]
    roles: [Admin]
    max_duration: 2h
    approvals: 0
`
	after, err := Parse(File, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	got := Diff(before, after)
	want := Change{
		Gained:   []Access{{"erin", "prod", "Admin"}},
		Lost:     []Access{{"@acme/sre", "prod", "ReadOnly"}, {"alice", "prod", "ReadOnly"}, {"alice", "staging", "Admin"}},
		Remapped: []string{"staging"},
		Notes:    []string{"rule sre-prod break-glass: none (was up to 1h)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if Diff(before, before).Empty() != true || strings.Contains(got.Gained[0].String(), "ReadOnly") {
		t.Error("a policy compared with itself changes nothing")
	}
}

// What decides who gets what beyond the access set is listed too: a
// permission set's ARN, who maps to which Identity Center user, a rule's
// approvers, approvals and break-glass.
func TestDiffNotes(t *testing.T) {
	t.Parallel()
	head := "version: 1\naccounts:\n  prod: \"111111111111\"\n"
	ic := func(users string) string {
		return "identity_center:\n  instance_arn: arn:aws:sso:::instance/ssoins-1234567890abcdef\n  identity_store_id: d-1234567890\n" +
			"  region: eu-west-1\n  portal_url: https://d-1234567890.awsapps.com/start\n  users: {" + users + "}\n"
	}
	before, err := Parse(File, []byte(head+ic(`"1001": alice@example.com, "1002": bob@example.com`)+
		"permission_sets:\n  Read: arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-aaaaaaaaaaaaaaaa\n"+
		"rules:\n  - {name: r, who: [alice], accounts: [prod], permission_sets: [Read], approvers: [\"@acme/security\"], max_duration: 1h, approvals: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := Parse(File, []byte(head+ic(`"1001": bob@example.com, "1003": carol@example.com`)+
		"permission_sets:\n  Read: arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-bbbbbbbbbbbbbbbb\n"+
		"rules:\n  - {name: r, who: [alice], accounts: [prod], permission_sets: [Read], max_duration: 1h, approvals: 0, emergency: {max_duration: 1h}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"permission set Read now names another set: arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-bbbbbbbbbbbbbbbb (was arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-aaaaaaaaaaaaaaaa)",
		"GitHub user 1001 now signs in to Identity Center as bob@example.com (was alice@example.com)",
		"GitHub user 1002 no longer maps to an Identity Center user (was bob@example.com)",
		"GitHub user 1003 now signs in to Identity Center as carol@example.com",
		"rule r is now approved by the CODEOWNERS of the account's folder (was @acme/security)",
		"rule r now needs 0 approval(s) (was 1)",
		"rule r break-glass: up to 1h (was none)",
	}
	c := Diff(before, after)
	if diff := cmp.Diff(want, c.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if c.Empty() {
		t.Error("a change with notes is empty")
	}
}
