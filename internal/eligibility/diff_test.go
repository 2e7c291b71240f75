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
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if Diff(before, before).Empty() != true || strings.Contains(got.Gained[0].String(), "ReadOnly") {
		t.Error("a policy compared with itself changes nothing")
	}
}
