package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// icPolicy is the harness policy with moto's Identity Center, its
// permission set ProdAdmin and Codertocat's user there.
func icPolicy(ic brokertest.IdentityCenter, accountID string) string {
	policy := strings.Replace(brokertest.Policy, "111111111111", accountID, 1)
	return strings.Replace(policy, "rules:\n", fmt.Sprintf(`identity_center:
  instance_arn: %s
  identity_store_id: %s
  region: us-east-1
  portal_url: https://%s.awsapps.com/start
  users:
    "%d": %s
permission_sets:
  ProdAdmin: %s
rules:
  - name: prod-sets
    who: [Codertocat]
    accounts: [prod]
    permission_sets: [ProdAdmin]
    max_duration: 4h
    approvals: 1
`, ic.InstanceARN, ic.IdentityStoreID, ic.IdentityStoreID, vt.Author.GetID(), ic.UserName, ic.PermissionSetARN), 1)
}

// The whole cycle against moto, through the broker: a grant of a role and
// a permission set is merged; the broker writes the Deny that ends the
// person's access, then creates the assignment; the role issues while the
// set answers use_sso; the grants list shows the assignment active; a
// revocation moves the Deny's end to its time and deletes the assignment.
// moto is reached through AWS_ENDPOINT_URL_SSO_ADMIN and _IDENTITYSTORE,
// and checks the broker's IAM policy (the README's) on every call.
func TestIdentityCenterCycleAgainstMoto(t *testing.T) {
	target, ic := brokertest.StartMotoIdentityCenter(t)
	t.Setenv("AWS_ENDPOINT_URL_SSO_ADMIN", target.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL_IDENTITYSTORE", target.Endpoint)
	h := brokertest.NewOn(t, target, func(c *broker.Config) { c.IdentityCenter = true })
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.Logs.String())
		}
	})
	at := h.Clock().Add(-20 * time.Minute)
	h.MergeChange(9, map[string]string{"eligibility.yaml": icPolicy(ic, target.AccountID)}, at.Add(-time.Minute), brokertest.SecurityLead)
	const path = "requests/prod/2026-11/codertocat-both-inc7.yaml"
	both := "requester: Codertocat\ntargets:\n  - {account: prod, role: Admin}\n  - {account: prod, permission_set: ProdAdmin}\n" +
		"duration: 2h\nreason: Fail over the payments database during INC-7\nticket: INC-7\n"
	sha := h.Repo.Commit(at, "Merge pull request #3", map[string]string{path: both})
	h.MergePR(3, path, both, sha, at, true)
	syncAndWait(t, h.Broker)

	admin := ssoadmin.New(ssoadmin.Options{Region: "us-east-1", BaseEndpoint: aws.String(target.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(target.Key, target.Secret, "")})
	assigned := func() []string {
		out, err := admin.ListAccountAssignments(context.Background(), &ssoadmin.ListAccountAssignmentsInput{
			InstanceArn: aws.String(ic.InstanceARN), PermissionSetArn: aws.String(ic.PermissionSetARN), AccountId: aws.String(target.AccountID)})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range out.AccountAssignments {
			ids = append(ids, aws.ToString(a.PrincipalId))
		}
		return ids
	}
	deny := func() (user, end string) {
		out, err := admin.GetInlinePolicyForPermissionSet(context.Background(), &ssoadmin.GetInlinePolicyForPermissionSetInput{
			InstanceArn: aws.String(ic.InstanceARN), PermissionSetArn: aws.String(ic.PermissionSetARN)})
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Statement []struct {
				Effect    string
				Condition map[string]map[string]string
			}
		}
		if err := json.Unmarshal([]byte(aws.ToString(out.InlinePolicy)), &doc); err != nil || len(doc.Statement) != 1 || doc.Statement[0].Effect != "Deny" {
			t.Fatalf("inline policy %q, want one Deny: %v", aws.ToString(out.InlinePolicy), err)
		}
		c := doc.Statement[0].Condition
		if c["StringEquals"]["aws:PrincipalAccount"] != target.AccountID {
			t.Errorf("the Deny names account %q, want %s", c["StringEquals"]["aws:PrincipalAccount"], target.AccountID)
		}
		return c["StringEquals"]["identitystore:UserId"], c["DateGreaterThan"]["aws:CurrentTime"]
	}

	users := assigned()
	if len(users) != 1 {
		t.Fatalf("assignments %v, want Codertocat's", users)
	}
	user, end := deny()
	if user != users[0] || end != at.Add(2*time.Hour).UTC().Format(time.RFC3339) {
		t.Errorf("Deny for %s after %s; want the assigned user after the window's end %s", user, end, at.Add(2*time.Hour).UTC().Format(time.RFC3339))
	}
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": "codertocat-both-inc7", "account": "prod", "role": "Admin"}); a.Status != 200 {
		t.Errorf("the role target: %d %s", a.Status, a.Raw)
	}
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": "codertocat-both-inc7", "account": "prod", "role": "ps/ProdAdmin"}); a.Status != 409 || a.Body["error"] != "use_sso" {
		t.Errorf("the permission set: %d %s, want 409 use_sso", a.Status, a.Raw)
	}
	if g := h.Call("GET", "/v1/grants", h.Codertocat(), nil); !strings.Contains(g.Raw, `"permission_set":"ProdAdmin","assignment":"active"`) {
		t.Errorf("GET /v1/grants does not show the assignment active: %s", g.Raw)
	}

	// The revocation ends the person's access: the Deny's end moves to
	// the revocation, then the assignment goes.
	revokedAt := h.Clock().Add(-time.Minute)
	rsha := h.Repo.Commit(revokedAt, "Merge pull request #4", map[string]string{path: ""})
	h.GitHub.Fake.AddPull(&github.PullRequest{Number: github.Int(4), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String(fmt.Sprintf("%040d", 4004)), Ref: github.String("revoke")},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, []*github.CommitFile{{Filename: github.String(path), Status: github.String("removed")}})
	h.GitHub.MergeAs(t, 4, revokedAt, rsha)
	syncAndWait(t, h.Broker)
	if users := assigned(); len(users) != 0 {
		t.Errorf("assignments after the revocation: %v, want none", users)
	}
	if _, end := deny(); end > h.Clock().UTC().Format(time.RFC3339) {
		t.Errorf("the Deny's end after the revocation is %s, want no later than now (%s)", end, h.Clock().UTC().Format(time.RFC3339))
	}
}
