package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// targetsPolicy is the harness policy with an Identity Center permission
// set Codertocat (GitHub id 21031067) may request in prod.
var targetsPolicy = vt.WithPermissionSet(brokertest.Policy, "ProdAdmin", `  - name: prod-sets
    who: [Codertocat]
    accounts: [prod]
    permission_sets: [ProdAdmin]
    max_duration: 4h
    approvals: 1
`)

const multi = `requester: Codertocat
targets:
  - {account: prod, role: Admin}
  - {account: prod, role: ReadOnly}
  - {account: prod, permission_set: ProdAdmin}
duration: 2h
reason: Fail over the payments database during INC-7
ticket: INC-7
`

// A grant of several targets issues for the one named with its id, refuses
// its id alone with the targets listed, and sends a permission set to SSO.
func TestGrantOfSeveralTargets(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	at := h.Clock().Add(-20 * time.Minute)
	h.MergeChange(9, map[string]string{"eligibility.yaml": targetsPolicy}, at.Add(-time.Minute), brokertest.SecurityLead)
	const path = "requests/prod/2026-11/codertocat-multi-inc7.yaml"
	sha := h.Repo.Commit(at, "Merge pull request #3", map[string]string{path: multi})
	h.MergePR(3, path, multi, sha, at, true)
	h.Sync()

	a := h.Credentials(h.Codertocat(), map[string]string{"request": "codertocat-multi-inc7"})
	if a.Status != 400 || a.Body["error"] != "target_required" || !strings.Contains(a.Raw, "prod:Admin, prod:ReadOnly, prod:ps/ProdAdmin") {
		t.Errorf("id alone: %d %s, want 400 target_required listing the targets", a.Status, a.Raw)
	}
	a = h.Credentials(h.Codertocat(), map[string]string{"request": "codertocat-multi-inc7", "account": "prod", "role": "ReadOnly"})
	if a.Status != 200 || a.Body["Request"] != "prod/2026-11/codertocat-multi-inc7" {
		t.Fatalf("id with a target: %d %s", a.Status, a.Raw)
	}
	if got := h.STS.LastAssumeRole().Get("RoleArn"); got != "arn:aws:iam::111111111111:role/ReadOnly" {
		t.Errorf("assumed %s, want the ReadOnly target's role", got)
	}
	// By account and role alone: ReadOnly is granted only by the grant of
	// several targets; Admin by it and the harness's own grant.
	if a := h.Credentials(h.Codertocat(), map[string]string{"account": "prod", "role": "ReadOnly"}); a.Status != 200 || a.Body["Request"] != "prod/2026-11/codertocat-multi-inc7" {
		t.Errorf("by account and role: %d %s", a.Status, a.Raw)
	}
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": "codertocat-multi-inc7", "account": "staging", "role": "Admin"}); a.Status != 403 || a.Body["error"] != "no_active_grant" || !strings.Contains(a.Raw, "has no target staging:Admin") {
		t.Errorf("a target the grant does not have: %d %s", a.Status, a.Raw)
	}
	for _, body := range []map[string]string{
		{"request": "codertocat-multi-inc7", "account": "prod", "role": "ps/ProdAdmin"},
		{"account": "prod", "role": "ProdAdmin"},
	} {
		a := h.Credentials(h.Codertocat(), body)
		if a.Status != 409 || a.Body["error"] != "use_sso" || !strings.Contains(a.Raw, "https://d-1234567890.awsapps.com/start") {
			t.Errorf("%v: %d %s, want 409 use_sso with the portal", body, a.Status, a.Raw)
		}
	}
	if n := h.STS.Calls("AssumeRole"); n != 2 {
		t.Errorf("AssumeRole called %d times, want 2: a permission set is never assumed", n)
	}

	grants := h.Call("GET", "/v1/grants", h.Codertocat(), nil)
	if !strings.Contains(grants.Raw, `"targets":[{"account":"prod","role":"Admin"},{"account":"prod","role":"ReadOnly"},{"account":"prod","permission_set":"ProdAdmin"`) {
		t.Errorf("GET /v1/grants does not list the targets: %s", grants.Raw)
	}

	// Revoking the file revokes every target.
	h.Repo.Commit(h.Clock(), "revoke", map[string]string{path: ""})
	h.Sync()
	for _, body := range []map[string]string{
		{"request": "codertocat-multi-inc7", "account": "prod", "role": "ReadOnly"},
		{"account": "prod", "role": "ReadOnly"},
	} {
		if a := h.Credentials(h.Codertocat(), body); a.Status != 403 || a.Body["error"] != "revoked" {
			t.Errorf("%v after revocation: %d %s", body, a.Status, a.Raw)
		}
	}
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": vt.RequestID}); a.Status != 200 {
		t.Errorf("the other grant after the revocation: %d %s", a.Status, a.Raw)
	}
}
