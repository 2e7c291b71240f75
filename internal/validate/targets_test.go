package validate

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/golden"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// targetsPolicy adds to the scenario's policy an account whose permission
// set a rule routes to its own approvers, and Codertocat's Identity Center
// user (by numeric id).
const targetsPolicy = `version: 1
accounts:
  prod: "111111111111"
  payments: "333333333333"
session_duration: 1h
identity_center:
  instance_arn: arn:aws:sso:::instance/ssoins-1234567890abcdef
  identity_store_id: d-1234567890
  region: eu-west-1
  portal_url: https://d-1234567890.awsapps.com/start
  users:
    "21031067": codertocat@example.com
permission_sets:
  PaymentsAdmin: arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef
rules:
  - name: sre-prod
    who: ["Codertocat", "@acme/sre"]
    accounts: [prod]
    roles: [Admin]
    max_duration: 4h
    approvals: 1
    ticket: '^INC-[0-9]+$'
  - name: payments-admin
    who: ["Codertocat"]
    accounts: [payments]
    permission_sets: [PaymentsAdmin]
    approvers: ["@acme/security", "carol"]
    max_duration: 2h
    approvals: 1
`

const targetsRequest = `requester: Codertocat
targets:
  - {account: prod, role: Admin}
  - {account: payments, permission_set: PaymentsAdmin}
duration: 2h
reason: Fail over the payments database during INC-1
ticket: INC-1
`

var (
	carol   = &github.User{Login: github.String("carol"), ID: github.Int64(103), Type: github.String("User")}
	octosec = &github.User{Login: github.String("octosec"), ID: github.Int64(104), Type: github.String("User")}
)

// newTargets is a scenario whose base holds targetsPolicy (with edit
// applied) and whose PR adds the request body.
func newTargets(t *testing.T, edit func(string) string, body string) *vt.Scenario {
	t.Helper()
	s := vt.New(t, 0)
	s.BaseFiles["eligibility.yaml"] = []byte(edit(targetsPolicy))
	s.Fake.Commit(vt.BaseSHA, s.BaseFiles)
	s.Fake.TeamMember("acme", "security", "octosec", "active")
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(body)}, nil)
	return s
}

func same(s string) string { return s }

// Each target waits for its own approvers; one review never stands in for
// another target's approvers, and the Action asks for the reviews GitHub
// would not ask for.
func TestTargetsPendingOnTwoSetsOfApproversThenApproved(t *testing.T) {
	t.Parallel()
	s := newTargets(t, same, targetsRequest)
	if r := run(t, s, "pull_request_target", opened); r.err != nil {
		t.Fatal(r.err)
	}
	state, desc := lastStatus(t, s)
	if state != "pending" || !strings.Contains(desc, "prod:Admin") || !strings.Contains(desc, "2 of 2 targets waiting") {
		t.Errorf("status = %s %q, want pending on both targets", state, desc)
	}
	golden.Assert(t, "verdict-targets-pending", comment(t, s, VerdictMarker))
	// GitHub asks the prod folder's CODEOWNERS itself; the rule's
	// approvers it would not. Teams of another organisation cannot be asked.
	if users, teams := s.Fake.RequestedReviewers(vt.Number); !slices.Equal(users, []string{"carol"}) || len(teams) != 0 {
		t.Errorf("requested reviewers = %v, teams %v; want [carol] and none", users, teams)
	}

	// The prod owner's approval counts for prod only.
	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now.Add(time.Minute))
	run(t, s, "workflow_run", reviewed)
	if state, desc := lastStatus(t, s); state != "pending" || !strings.Contains(desc, "payments:ps/PaymentsAdmin") || !strings.Contains(desc, "1 of 2") {
		t.Fatalf("after the prod owner's approval: %s %q, want pending on the permission set", state, desc)
	}
	golden.Assert(t, "verdict-targets-one-waiting", comment(t, s, VerdictMarker))

	// A member of the rule's approving team approves the permission set.
	s.Review(octosec, "APPROVED", vt.HeadSHA, now.Add(2*time.Minute))
	if r := run(t, s, "workflow_run", reviewed); r.err != nil {
		t.Fatal(r.err)
	}
	if state, _ := lastStatus(t, s); state != "success" {
		t.Fatalf("status = %s, want success", state)
	}
	golden.Assert(t, "verdict-targets-approved", comment(t, s, VerdictMarker))
}

// One review counts for several targets when its author approves each.
func TestOneReviewCountsForSeveralTargets(t *testing.T) {
	t.Parallel()
	s := newTargets(t, func(p string) string {
		return strings.Replace(p, `approvers: ["@acme/security", "carol"]`, `approvers: ["@acme/security", "carol", "hubot"]`, 1)
	}, targetsRequest)
	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now)
	if r := run(t, s, "pull_request_target", opened); r.err != nil {
		t.Fatal(r.err)
	}
	if state, desc := lastStatus(t, s); state != "success" {
		t.Errorf("status = %s %q, want success: hubot approves both targets", state, desc)
	}
}

// A request is rejected when one of its targets is: the reason names that
// target's line and field.
func TestTargetsRejectedForOneTarget(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, golden string
		edit         func(string) string
		body         string
		want         string
	}{
		{"a role the rule does not grant", "targets-rejected", same,
			strings.Replace(targetsRequest, "{account: prod, role: Admin}", "{account: prod, role: Owner}", 1),
			"requests/prod/2026-11/codertocat-admin-inc1.yaml:3: targets[0].role: prod:Owner: Codertocat may request Admin in prod, not Owner"},
		{"a permission set not in the policy", "targets-unknown-set", same,
			strings.Replace(targetsRequest, "PaymentsAdmin}", "Ghost}", 1),
			`requests/prod/2026-11/codertocat-admin-inc1.yaml:4: targets[1].permission_set: payments:ps/Ghost: permission set "Ghost" is not in the permission_sets of eligibility.yaml`},
		{"a requester without an Identity Center user", "targets-no-user", func(p string) string {
			return strings.Replace(p, `"21031067": codertocat@example.com`, `"1": someone@example.com`, 1)
		}, targetsRequest,
			`requests/prod/2026-11/codertocat-admin-inc1.yaml:4: targets[1].permission_set: Codertocat (GitHub user id 21031067) has no Identity Center user in identity_center.users`},
		{"a duration over one target's rule", "", same,
			strings.Replace(targetsRequest, "duration: 2h", "duration: 3h", 1),
			"requests/prod/2026-11/codertocat-admin-inc1.yaml:5: duration: payments:ps/PaymentsAdmin: 3h is over the max_duration of 2h"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTargets(t, tt.edit, tt.body)
			r := run(t, s, "pull_request_target", opened)
			var rejected *RejectedError
			if !errors.As(r.err, &rejected) {
				t.Fatalf("err = %v, want rejected", r.err)
			}
			if !strings.Contains(r.log, tt.want) {
				t.Errorf("log lacks %q:\n%s", tt.want, r.log)
			}
			if tt.golden != "" {
				golden.Assert(t, "verdict-"+tt.golden, comment(t, s, VerdictMarker))
			}
		})
	}
}

// A value from the request file is text in the sticky comment: an HTML
// comment in a ticket hides nothing, a pipe breaks no table, a mention
// pings nobody.
func TestTicketIsTextInTheComment(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	body := strings.Replace(vt.Request, "ticket: INC-1", "ticket: 'INC-1 | @acme/security <!-- hidden'", 1)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(body)}, nil)
	run(t, s, "pull_request_target", opened)
	c := comment(t, s, VerdictMarker)
	if strings.Count(c, "<!--") != 1 || !strings.Contains(c, "| `INC-1 \\| @acme/security ‹!-- hidden` |") {
		t.Errorf("the ticket is markup in the comment:\n%s", c)
	}
	if !strings.Contains(c, "This PR cannot be merged") || !strings.Contains(c, "&#64;acme/security &lt;!-- hidden") {
		t.Errorf("the rejection is not shown with the ticket as text:\n%s", c)
	}
}
