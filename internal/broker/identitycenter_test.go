package broker_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/awscreds/stsfake"
	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/identitycenter/icfake"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// What moto cannot show, through the broker, against a fake that speaks
// Identity Center's JSON protocol: an assignment IN_PROGRESS then FAILED is
// never shown active, is announced with the request, the target and the
// reason, and is made at the next sync; a replica whose head GitHub's
// record does not list yet changes nothing.
func TestIdentityCenterFailedAndStale(t *testing.T) {
	ic := icfake.New(t)
	t.Setenv("AWS_ENDPOINT_URL_SSO_ADMIN", ic.URL)
	t.Setenv("AWS_ENDPOINT_URL_IDENTITYSTORE", ic.URL)
	setARN := ic.AddPermissionSet("ProdAdmin")
	ic.AddUser("codertocat@example.com")
	sts := stsfake.New(t)
	sts.AddKey(icfake.AccessKeyID, icfake.SecretAccessKey, "arn:aws:iam::999999999999:user/elevate-broker")
	rx := &slack{}
	notices := httptest.NewServer(rx)
	defer notices.Close()
	h := brokertest.NewOn(t, brokertest.AWS{Endpoint: sts.URL, Key: icfake.AccessKeyID, Secret: icfake.SecretAccessKey, SigninURL: sts.SigninURL(), AccountID: "111111111111"},
		func(c *broker.Config) { c.IdentityCenter, c.NotifyURL = true, notices.URL+"/services/T0/B0/secret" })
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.Logs.String())
		}
	})
	at := h.Clock().Add(-20 * time.Minute)
	h.MergeChange(9, map[string]string{"eligibility.yaml": icPolicy(brokertest.IdentityCenter{InstanceARN: ic.InstanceARN, IdentityStoreID: ic.IdentityStoreID,
		PermissionSetARN: setARN, UserName: "codertocat@example.com"}, "111111111111")}, at.Add(-time.Minute), brokertest.SecurityLead)
	const path = "requests/prod/2026-11/codertocat-ps-inc7.yaml"
	content := "requester: Codertocat\naccount: prod\npermission_set: ProdAdmin\nduration: 2h\nreason: Fail over the payments database\nticket: INC-7\n"
	sha := h.Repo.Commit(at, "Merge pull request #3", map[string]string{path: content})
	h.MergePR(3, path, content, sha, at, true)

	ic.Script("CreateAccountAssignment", icfake.Outcome{Pending: 2, Fail: "the permission set's role could not be created in the account"})
	syncAndWait(t, h.Broker)
	if n := len(ic.Assignments()); n != 0 {
		t.Fatalf("%d assignments after a FAILED creation, want none", n)
	}
	if g := h.Call("GET", "/v1/grants", h.Codertocat(), nil); !strings.Contains(g.Raw, `"assignment":"failed"`) {
		t.Errorf("GET /v1/grants after FAILED: %s, want the assignment failed", g.Raw)
	}
	waitFor(t, "the failure's notice", func() bool { return rx.counting("assignment *failed*") == 1 })
	if txt := rx.all()[len(rx.all())-1]; !strings.Contains(txt, "prod/2026-11/codertocat-ps-inc7") || !strings.Contains(txt, "prod:ps/ProdAdmin") || !strings.Contains(txt, "could not be created") {
		t.Errorf("notice %q does not name the request, the target and the reason", txt)
	}

	// The next sync makes it (the fake answers SUCCEEDED after its polls).
	syncAndWait(t, h.Broker)
	if got := ic.Assignments(); len(got) != 1 || got[0].PermissionSetARN != setARN || got[0].AccountID != "111111111111" {
		t.Fatalf("assignments after the retry: %+v", got)
	}
	if g := h.Call("GET", "/v1/grants", h.Codertocat(), nil); !strings.Contains(g.Raw, `"assignment":"active"`) {
		t.Errorf("GET /v1/grants after SUCCEEDED: %s", g.Raw)
	}

	// A revocation is on the branch, but GitHub's record does not list it
	// yet: the replica cannot vouch for its head, so it leaves Identity
	// Center alone (nor would it re-create what another replica deleted).
	revokedAt := h.Clock().Add(-time.Minute)
	rsha := h.Repo.Commit(revokedAt, "Merge pull request #4", map[string]string{path: ""})
	ic.ResetCalls()
	syncAndWait(t, h.Broker)
	if calls := ic.Calls(); len(calls) != 0 {
		t.Errorf("a replica ahead of GitHub's record called Identity Center %d times (%v), want none", len(calls), calls[0])
	}
	if got := ic.Assignments(); len(got) != 1 {
		t.Errorf("assignments while the head is not verified: %+v, want the one still", got)
	}
	h.GitHub.Fake.AddPull(&github.PullRequest{Number: github.Int(4), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String(fmt.Sprintf("%040d", 4004)), Ref: github.String("revoke")},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, []*github.CommitFile{{Filename: github.String(path), Status: github.String("removed")}})
	h.GitHub.MergeAs(t, 4, revokedAt, rsha)
	syncAndWait(t, h.Broker)
	if got := ic.Assignments(); len(got) != 0 {
		t.Errorf("assignments after the revocation was read: %+v, want none", got)
	}
}
