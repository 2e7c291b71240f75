package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/golden"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// grantsBroker is a broker that answers GET /v1/grants with grants and
// fails the test on anything else.
func grantsBroker(t *testing.T, grants []brokerapi.Grant) func(context.Context) (*brokerClient, error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" || r.URL.Path != brokerapi.PathGrants {
			t.Errorf("unexpected broker call %s %s", r.Method, r.URL.Path)
			http.Error(w, "unexpected", http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(brokerapi.Grants{Grants: grants})
	}))
	t.Cleanup(srv.Close)
	return func(context.Context) (*brokerClient, error) {
		return &brokerClient{url: srv.URL, token: "t", http: srv.Client()}, nil
	}
}

// `elevate status` lists open request PRs (pending, approved, rejected) and
// grants in every state, an extension with the grant it extends, a grant
// of several targets and a permission set with their assignments' states.
func TestStatusOutput(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	fake := w.h.GitHub.Fake
	other := &github.User{Login: github.String("hubot"), ID: github.Int64(7)}
	pulls := []struct {
		number      int
		user        *github.User
		path, state string
		desc        string
	}{
		{10, vt.Author, "requests/prod/2026-12/codertocat-admin-inc-10.yaml", "pending", "needs 1 approval(s) from @hubot, @acme/sre-leads"},
		{11, vt.Author, "requests/prod/2026-12/codertocat-readonly-20261202-0900.yaml", "success", "approved by @hubot"},
		{12, vt.Author, "requests/prod/2026-12/codertocat-billing-inc-12.yaml", "failure", "role: Codertocat may request Admin, ReadOnly in prod, not Billing"},
		{13, other, "requests/prod/2026-12/hubot-admin-inc-13.yaml", "pending", "someone else's request"},
		{14, vt.Author, "eligibility.yaml", "pending", "a policy change, not a request"},
	}
	repo, err := w.f.Repo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pulls {
		sha := "f0000000000000000000000000000000000000" + string(rune('0'+p.number/10)) + string(rune('0'+p.number%10))
		status := "added"
		if p.path == "eligibility.yaml" {
			status = "modified"
		}
		fake.AddPull(&github.PullRequest{Number: github.Int(p.number), User: p.user, Head: &github.PullRequestBranch{SHA: github.String(sha), Ref: github.String("elevate/x")}},
			[]*github.CommitFile{{Filename: github.String(p.path), Status: github.String(status)}})
		if err := repo.SetStatus(ctx, sha, p.state, p.desc, ""); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	grants := []brokerapi.Grant{
		{ID: "prod/2026-12/codertocat-admin-inc-1", Account: "prod", Role: "Admin", State: brokerapi.StateActive, Start: now.Add(-time.Hour), End: now.Add(time.Hour), PR: 2},
		{ID: "prod/2026-12/codertocat-admin-inc-1-ext-20261202-1100", Account: "prod", Role: "Admin", State: brokerapi.StateScheduled, Start: now.Add(time.Hour), End: now.Add(3 * time.Hour), PR: 3},
		{ID: "prod/2026-12/codertocat-admin-inc-1-ext-20261202-1300", Account: "prod", Role: "Admin", State: brokerapi.StateScheduled, Start: now.Add(3 * time.Hour), End: now.Add(4 * time.Hour), PR: 4},
		{ID: "dev/2026-12/codertocat-admin-inc-5", Account: "dev", Role: "Admin", State: brokerapi.StateActive, Start: now.Add(-10 * time.Minute), End: now.Add(50 * time.Minute), PR: 5, Emergency: true},
		{ID: "prod/2026-12/codertocat-admin-inc-8", Account: "prod", Role: "Admin", State: brokerapi.StateActive, Start: now.Add(-5 * time.Minute), End: now.Add(115 * time.Minute), PR: 8,
			Targets: []brokerapi.Target{{Account: "prod", Role: "Admin"}, {Account: "payments", PermissionSet: "PaymentsAdmin", Assignment: "active"}, {Account: "billing", PermissionSet: "BillingAdmin", Assignment: "failed"}}},
		{ID: "payments/2026-12/codertocat-paymentsadmin-inc-9", Account: "payments", Role: "ps/PaymentsAdmin", State: brokerapi.StateScheduled, Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), PR: 9,
			Targets: []brokerapi.Target{{Account: "payments", PermissionSet: "PaymentsAdmin", Assignment: "pending"}}},
		{ID: "prod/2026-11/codertocat-readonly-inc-6", Account: "prod", Role: "ReadOnly", State: brokerapi.StateExpired, Start: now.Add(-48 * time.Hour), End: now.Add(-46 * time.Hour), PR: 6},
		{ID: "prod/2026-11/codertocat-admin-inc-7", Account: "prod", Role: "Admin", State: brokerapi.StateRevoked, Start: now.Add(-26 * time.Hour), End: now.Add(-25 * time.Hour), PR: 7},
	}
	for _, all := range []bool{false, true} {
		var out, errOut bytes.Buffer
		opts := &StatusOptions{
			IO: IOStreams{Out: &out, ErrOut: &errOut}, Now: func() time.Time { return now },
			Repo: w.f.Repo, Broker: grantsBroker(t, grants), All: all,
		}
		if err := statusRun(ctx, opts); err != nil {
			t.Fatalf("all=%v: %v", all, err)
		}
		name := "status"
		if all {
			name = "status-all"
		}
		golden.Assert(t, name, out.String()+errOut.String())
	}
}

// Without a broker, status lists the open requests and says why no grants.
func TestStatusWithoutABroker(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	delete(w.env, "ELEVATE_BROKER_URL")
	if code := w.run("status"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	golden.Assert(t, "status-no-broker", w.out.String()+w.err.String())
}
