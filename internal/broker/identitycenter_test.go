package broker_test

import (
	"context"
	"encoding/json"
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
	rx := &slack{}
	notices := httptest.NewServer(rx)
	defer notices.Close()
	h, _, path, setARN := icBroker(t, ic, func() {
		ic.Script("CreateAccountAssignment", icfake.Outcome{Pending: 2, Fail: "the permission set's role could not be created in the account"})
	}, func(c *broker.Config) { c.NotifyURL = notices.URL + "/services/T0/B0/secret" })
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

// icBroker is a broker with --identity-center (and opts) against the fake
// ic, which holds the permission set ProdAdmin (returned) and Codertocat's
// user; the policy granting it is merged, and so is Codertocat's 2-hour
// grant of it; before runs just before the sync that reads them.
func icBroker(t *testing.T, ic *icfake.Server, before func(), opts ...brokertest.Option) (h *brokertest.Harness, policy, path, setARN string) {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_SSO_ADMIN", ic.URL)
	t.Setenv("AWS_ENDPOINT_URL_IDENTITYSTORE", ic.URL)
	setARN = ic.AddPermissionSet("ProdAdmin")
	ic.AddUser("codertocat@example.com")
	sts := stsfake.New(t)
	sts.AddKey(icfake.AccessKeyID, icfake.SecretAccessKey, "arn:aws:iam::999999999999:user/elevate-broker")
	h = brokertest.NewOn(t, brokertest.AWS{Endpoint: sts.URL, Key: icfake.AccessKeyID, Secret: icfake.SecretAccessKey, SigninURL: sts.SigninURL(), AccountID: "111111111111"},
		append([]brokertest.Option{func(c *broker.Config) { c.IdentityCenter = true }}, opts...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.Logs.String())
		}
	})
	at := h.Clock().Add(-20 * time.Minute)
	policy = icPolicy(brokertest.IdentityCenter{InstanceARN: ic.InstanceARN, IdentityStoreID: ic.IdentityStoreID,
		PermissionSetARN: setARN, UserName: "codertocat@example.com"}, "111111111111")
	h.MergeChange(9, map[string]string{"eligibility.yaml": policy}, at.Add(-time.Minute), brokertest.SecurityLead)
	path = "requests/prod/2026-11/codertocat-ps-inc7.yaml"
	content := "requester: Codertocat\naccount: prod\npermission_set: ProdAdmin\nduration: 2h\nreason: Fail over the payments database\nticket: INC-7\n"
	sha := h.Repo.Commit(at, "Merge pull request #3", map[string]string{path: content})
	h.MergePR(3, path, content, sha, at, true)
	if before != nil {
		before()
	}
	syncAndWait(t, h.Broker)
	return h, policy, path, setARN
}

// Removing someone from the policy cuts off their permission-set grants at
// once, as it does their roles': nobody uses a permission set through the
// broker, so its eligibility check alone would never stop them.
func TestIdentityCenterEndsOnLostEligibility(t *testing.T) {
	ic := icfake.New(t)
	h, policy, _, setARN := icBroker(t, ic, nil)
	if n := len(ic.Assignments()); n != 1 {
		t.Fatalf("%d assignments after the grant, want 1", n)
	}
	without := strings.Replace(policy, "who: [Codertocat]\n    accounts: [prod]\n    permission_sets", "who: [octolead]\n    accounts: [prod]\n    permission_sets", 1)
	if without == policy {
		t.Fatal("the policy has no rule to take Codertocat out of")
	}
	h.MergeChange(10, map[string]string{"eligibility.yaml": without}, h.Clock().Add(-time.Minute), brokertest.SecurityLead)
	syncAndWait(t, h.Broker)
	if got := ic.Assignments(); len(got) != 0 {
		t.Errorf("assignments after the requester lost eligibility: %+v, want none", got)
	}
	// A second round does not move the Deny's end later.
	before := ic.InlinePolicy(setARN)
	syncAndWait(t, h.Broker)
	if after := ic.InlinePolicy(setARN); after != before {
		t.Errorf("the Deny changed at the next round:\n%s\n%s", before, after)
	}
}

// While the branch's history is not trusted no grant can be vouched for:
// every assignment of a managed permission set ends, as every elevate
// session of a role does, and a deletion pushed past review still counts.
func TestIdentityCenterEndsEverythingWhileUntrusted(t *testing.T) {
	ic := icfake.New(t)
	h, policy, path, _ := icBroker(t, ic, nil)
	if n := len(ic.Assignments()); n != 1 {
		t.Fatalf("%d assignments after the grant, want 1", n)
	}
	h.Push(h.Clock().Add(-5*time.Minute), "an unreviewed policy change", map[string]string{"eligibility.yaml": policy + "\n"})
	syncAndWait(t, h.Broker)
	if got := ic.Assignments(); len(got) != 0 {
		t.Errorf("assignments while the history is not trusted: %+v, want none", got)
	}
	h.Push(h.Clock().Add(-2*time.Minute), "revoke", map[string]string{path: ""})
	syncAndWait(t, h.Broker)
	if got := ic.Assignments(); len(got) != 0 {
		t.Errorf("assignments after a revocation while untrusted: %+v, want none", got)
	}
}

// A role and a permission set may share a name: losing the role while
// keeping the set never issues the role's credentials, however asked.
func TestRoleAndPermissionSetOfOneName(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	policy := strings.Replace(brokertest.Policy, `who: ["Codertocat", "@acme/sre"]`, `who: ["@acme/sre"]`, 1)
	policy = vt.WithPermissionSet(policy, "Admin", "  - {name: prod-sets, who: [Codertocat], accounts: [prod], permission_sets: [Admin], max_duration: 4h, approvals: 1}\n")
	h.MergeChange(9, map[string]string{"eligibility.yaml": policy}, h.Clock().Add(-time.Minute), brokertest.SecurityLead)
	h.Sync()
	for _, body := range []map[string]string{{"request": vt.RequestID}, {"account": "prod", "role": "Admin"}} {
		if a := h.Credentials(h.Codertocat(), body); a.Status != 403 || a.Body["error"] != "not_eligible" {
			t.Errorf("%v: %d %s, want 403 not_eligible", body, a.Status, a.Raw)
		}
	}
	if n := h.STS.Calls("AssumeRole"); n != 0 {
		t.Errorf("AssumeRole called %d times", n)
	}
}

// On Lambda nothing runs between requests: a window that ends while the
// function is idle is ended by the broker stack's EventBridge schedule,
// whose Scheduled Event runs the checks a sync runs, at that minute. Here
// the clock passes the window's end with no timer firing (as a frozen
// function's would not): the assignment stays until the scheduled event.
func TestScheduledEventEndsAWindowBetweenRequests(t *testing.T) {
	ic := icfake.New(t)
	h, _, _, _ := icBroker(t, ic, nil)
	if n := len(ic.Assignments()); n != 1 {
		t.Fatalf("%d assignments during the window, want 1", n)
	}
	h.SetNow(h.Clock().Add(3 * time.Hour)) // the 2h window ended while frozen
	if n := len(ic.Assignments()); n != 1 {
		t.Fatalf("%d assignments before the scheduled event, want the 1 nothing has ended yet", n)
	}
	// The remote's head has not moved: the event syncs nothing, and the
	// window's end is still seen.
	head := h.Broker.Ledger.Index().Head
	h.Broker.Syncer.RemoteHead = func(context.Context) (string, error) { return head, nil }
	handle := broker.LambdaHandler(h.Server.Handler(), h.Broker.Syncer.Fresh, h.Broker.Syncer.Tick)
	// EventBridge's Scheduled Event, as AWS documents it.
	scheduled := `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events",` +
		`"account":"123456789012","time":"2026-12-07T12:00:00Z","region":"us-east-1",` +
		`"resources":["arn:aws:events:us-east-1:123456789012:rule/elevate-broker-schedule"],"detail":{}}`
	out, err := handle(context.Background(), json.RawMessage(scheduled))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(map[string]string)["checked"]; got != h.Broker.Ledger.Index().Head {
		t.Errorf("the scheduled event checked %q, want the head %s", got, h.Broker.Ledger.Index().Head)
	}
	if n := len(ic.Assignments()); n != 0 {
		t.Errorf("%d assignments after the scheduled event, want 0: the window ended", n)
	}
	if _, err := handle(context.Background(), json.RawMessage(`[1]`)); err == nil {
		t.Error("an event that is neither kind was answered")
	}
}
