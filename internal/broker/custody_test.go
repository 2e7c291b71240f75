package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/prcomment"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// looser lets Codertocat hold Admin for up to 12h; stricter caps it at 1h.
var (
	looser   = strings.Replace(brokertest.Policy, "max_duration: 4h", "max_duration: 12h", 1)
	stricter = strings.Replace(brokertest.Policy, "max_duration: 4h", "max_duration: 1h", 1)
)

func wantRefusal(t *testing.T, a brokertest.Answer, status int, code, mention string) {
	t.Helper()
	if a.Status != status || a.Body["error"] != code || !strings.Contains(a.Raw, mention) {
		t.Fatalf("got %d %s, want %d %s mentioning %q", a.Status, a.Raw, status, code, mention)
	}
}

func health(t *testing.T, h *brokertest.Harness) brokertest.Answer {
	t.Helper()
	return h.Call("GET", "/healthz", "", nil)
}

// An eligibility.yaml pushed to the branch without a PR is not trusted:
// nothing issues, /healthz is degraded, the metric counts the commit.
func TestPolicyPushedDirectlyIsUntrusted(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	pushed := h.Push(h.Clock().Add(-15*time.Minute), "admin push", map[string]string{"eligibility.yaml": looser})
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", pushed[:12])
	if a := health(t, h); a.Status != 503 || a.Body["status"] != "degraded" || !strings.Contains(a.Raw, pushed[:12]) {
		t.Errorf("healthz = %d %s, want degraded naming the commit", a.Status, a.Raw)
	}
	if m := h.Call("GET", "/metrics", "", nil).Raw; !strings.Contains(m, "elevate_untrusted_commits 1") {
		t.Errorf("metrics lack elevate_untrusted_commits 1:\n%s", m)
	}
}

// A policy change merged through a PR without its owners' approval (an
// admin's bypass) is not trusted either.
func TestPolicyBypassMergedIsUntrusted(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	sha := h.MergeChange(10, map[string]string{"eligibility.yaml": looser}, h.Clock().Add(-15*time.Minute), nil)
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", "without a passing verdict")
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", sha[:12])
}

// The control: the same change approved by an owner of eligibility.yaml is
// trusted, and a grant merged after it issues.
func TestPolicyChangeApprovedIsTrusted(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.MergeChange(10, map[string]string{"eligibility.yaml": looser}, h.Clock().Add(-20*time.Minute), brokertest.SecurityLead)
	content := strings.Replace(vt.Request, "INC-1", "INC-10", 1)
	sha := h.Repo.Commit(h.Clock().Add(-10*time.Minute), "after", map[string]string{"requests/prod/2026-11/after.yaml": content})
	h.MergePR(11, "requests/prod/2026-11/after.yaml", content, sha, h.Clock().Add(-10*time.Minute), true)
	h.Sync()
	for _, body := range []any{byID, map[string]string{"request": "after"}} {
		if a := h.Credentials(h.Codertocat(), body); a.Status != 200 {
			t.Fatalf("approved policy change: %d %s", a.Status, a.Raw)
		}
	}
	if a := health(t, h); a.Status != 200 || a.Body["status"] != "ok" {
		t.Errorf("healthz = %d %s", a.Status, a.Raw)
	}
}

// A later PR approved by the file's trusted owners that changes it again
// restores trust.
func TestTrustRestoredByLaterApprovedPR(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.Push(h.Clock().Add(-25*time.Minute), "admin push", map[string]string{"eligibility.yaml": looser})
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", "not trusted")
	h.MergeChange(12, map[string]string{"eligibility.yaml": brokertest.Policy}, h.Clock().Add(-20*time.Minute), brokertest.SecurityLead)
	h.Sync()
	// The grant merged before the push was judged under trusted policy.
	if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("after the approved PR: %d %s", a.Status, a.Raw)
	}
}

// CODEOWNERS pushed directly, making Codertocat an owner of eligibility.yaml,
// is untrusted; a policy PR that only the pushed owner approved does not
// restore trust, because change PRs are judged by the last trusted CODEOWNERS.
func TestCodeOwnersPushedDirectly(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	owners := vt.CodeOwners + "/eligibility.yaml @hubot\n"
	pushed := h.Push(h.Clock().Add(-25*time.Minute), "admin push", map[string]string{".github/CODEOWNERS": owners})
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", pushed[:12])
	h.MergeChange(13, map[string]string{"eligibility.yaml": looser}, h.Clock().Add(-20*time.Minute), vt.Hubot)
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", "PR #13 was merged without a passing verdict: awaiting 1 approval(s) on eligibility.yaml from @acme/security")
	if x := h.Ledger.Index(); x.UntrustedCommits() != 2 {
		t.Errorf("untrusted commits = %d, want 2 (the push and the PR only the pushed owner approved)", x.UntrustedCommits())
	}
}

// A request PR whose base.sha held a looser policy than the branch had when
// it merged is judged against the merge's first parent, not its base.
func TestStaleBaseLooserThanMergeParent(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.MergeChange(14, map[string]string{"eligibility.yaml": stricter}, h.Clock().Add(-25*time.Minute), brokertest.SecurityLead)
	// PR #15 was opened when the policy allowed 4h (its base.sha in GitHub
	// still holds that policy) and merged after the cap fell to 1h.
	content := strings.Replace(vt.Request, "INC-1", "INC-15", 1)
	sha := h.Repo.Commit(h.Clock().Add(-10*time.Minute), "Merge pull request #15", map[string]string{"requests/prod/2026-11/stale.yaml": content})
	h.MergePR(15, "requests/prod/2026-11/stale.yaml", content, sha, h.Clock().Add(-10*time.Minute), true)
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "stale"}), 403, "no_active_grant", "without a passing verdict")
}

// A force push GitHub's activity records after the anchor stops a freshly
// started broker, which has no last head of its own to compare with.
func TestForcePushFoundThroughActivityAPI(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	head := h.Ledger.Index().Head
	h.GitHub.Fake.ForcePush("main", "e0000000000000000000000000000000000000e0", head, h.Clock().Add(-time.Minute), vt.Stranger)
	fresh := h.Restart()
	if err := fresh.Ledger.Sync(context.Background()); err == nil {
		t.Fatal("a fresh broker synced over a force push after the anchor")
	}
	wantRefusal(t, fresh.Credentials(fresh.Codertocat(), byID), 503, "history_rewritten", "force push")
	if a := health(t, fresh); a.Body["status"] != "degraded" && a.Body["status"] != "not_synced" {
		t.Errorf("healthz = %s", a.Raw)
	}
}

// A force push that drops a revocation is refused by the running broker.
func TestForcePushDroppingRevocationRunningBroker(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	before := h.Ledger.Index().Head
	revoked := h.Push(h.Clock(), "revoke", map[string]string{vt.RequestPath: ""})
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 403, "revoked", "revoked")
	h.Repo.Git(time.Time{}, "reset", "-q", "--hard", before)
	h.GitHub.Fake.ForcePush("main", revoked, before, h.Clock(), brokertest.Admin)
	_ = h.Ledger.Sync(context.Background())
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "history_rewritten", "force push")
}

// A ledger that cannot sync for longer than --max-staleness refuses.
func TestStaleLedgerIs503(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.SetNow(h.Clock().Add(25 * time.Hour)) // the harness allows 24h
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "ledger_stale", "not synced")
	if a := health(t, h); a.Status != 503 || a.Body["status"] != "degraded" || !strings.Contains(a.Raw, "ledger_stale") {
		t.Errorf("healthz = %d %s", a.Status, a.Raw)
	}
}

// A requester renamed after the merge keeps the grant on a fresh start
// (nothing verified yet): it belongs to the PR author's numeric id, which
// elevate's merge record ties to the file's requester.
func TestRenamedRequesterOnFreshStart(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	renamed := &github.User{Login: github.String("Codertocat-2"), ID: vt.Author.ID, Type: github.String("User")}
	pr := h.GitHub.Fake.Pull(vt.Number)
	pr.User = renamed
	h.GitHub.Fake.AddPull(pr, h.GitHub.Fake.PullFiles(vt.Number))
	h.GitHub.Fake.AddComment(vt.Number, elevateApp, prcomment.NewKey([]byte(brokertest.StateKey)).MergeRecordLine(prcomment.MergeRecord{Request: vt.RequestID, Requester: "Codertocat", AuthorID: vt.Author.GetID()}))
	h.GitHub.Fake.TeamMember("acme", "sre", "Codertocat-2", "active") // eligibility follows the policy: by team here
	tok := h.Token("Codertocat-2", vt.Author.GetID())
	for _, body := range []any{map[string]string{"account": "prod", "role": "Admin"}, byID} {
		if a := h.Credentials(tok, body); a.Status != 200 {
			t.Fatalf("renamed requester, %v: %d %s", body, a.Status, a.Raw)
		}
	}
}

// A grant merged while the policy was untrusted stays refused after a later
// approved PR restores trust: it was judged under a policy nobody approved.
func TestGrantMergedUnderUntrustedPolicyStaysRefused(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	pushed := h.Push(h.Clock().Add(-28*time.Minute), "admin push", map[string]string{"eligibility.yaml": looser})
	content := strings.Replace(vt.Request, "INC-1", "INC-16", 1)
	sha := h.Repo.Commit(h.Clock().Add(-25*time.Minute), "Merge pull request #16", map[string]string{"requests/prod/2026-11/tainted.yaml": content})
	h.MergePR(16, "requests/prod/2026-11/tainted.yaml", content, sha, h.Clock().Add(-25*time.Minute), true)
	h.MergeChange(17, map[string]string{"eligibility.yaml": brokertest.Policy}, h.Clock().Add(-20*time.Minute), brokertest.SecurityLead)
	h.Sync()
	if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("the grant merged before the push: %d %s", a.Status, a.Raw)
	}
	wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "tainted"}), 503, "untrusted_history", pushed[:12])
}

// Without --repo the broker starts, reports degraded, and issues nothing.
func TestBuildWithoutRepoIssuesNothing(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	cfg := h.Config()
	cfg.Repo, cfg.TrustAnchor, cfg.GitHubToken, cfg.OIDCRepos = "", "", "", ""
	b, err := broker.Build(context.Background(), cfg, broker.Deps{Now: h.Clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ledger.Sync(context.Background()); err == nil {
		t.Fatal("a broker without --repo read GitHub's record of the branch")
	}
	srv := httptest.NewServer(b.Server.Handler())
	t.Cleanup(srv.Close)
	get, err := http.Get(srv.URL + brokerapi.PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	var health brokerapi.Health
	_ = json.NewDecoder(get.Body).Decode(&health)
	get.Body.Close()
	if get.StatusCode != 503 || health.Status != brokerapi.HealthDegraded || !strings.Contains(health.Reason, "no --repo") {
		t.Errorf("healthz = %d %+v", get.StatusCode, health)
	}
	req, _ := http.NewRequest("POST", srv.URL+brokerapi.PathCredentials, strings.NewReader(`{"request":"`+vt.RequestID+`"}`))
	req.Header.Set("Authorization", "Bearer "+brokertest.UserToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("a broker without --repo issued credentials")
	}
}

// A broker running on a role's temporary credentials (Lambda, ECS) clamps
// sessions to AWS's 1 h cap on role chaining and leaves SessionDuration out
// of console sign-ins, instead of failing at the first issuance.
func TestRoleChainedBrokerClamps(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.MergeChange(30, map[string]string{"eligibility.yaml": strings.Replace(brokertest.Policy, "session_duration: 1h", "session_duration: 2h", 1)}, h.Clock().Add(-20*time.Minute), brokertest.SecurityLead)
	self, err := awscreds.NewSTSClient(context.Background(), "us-east-1", h.STS.URL, nil,
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(brokertest.BrokerKey, brokertest.BrokerSecret, "")))
	if err != nil {
		t.Fatal(err)
	}
	role, err := self.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::999999999999:role/elevate-broker"), RoleSessionName: aws.String("lambda")})
	if err != nil {
		t.Fatal(err)
	}
	deps := h.Deps()
	deps.AWS = credentials.NewStaticCredentialsProvider(*role.Credentials.AccessKeyId, *role.Credentials.SecretAccessKey, *role.Credentials.SessionToken)
	b, err := broker.Build(context.Background(), h.Config(), deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ledger.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !b.Server.Chained || !strings.Contains(h.Logs.String(), "clamped to 1h") {
		t.Fatalf("chained = %v; log:\n%s", b.Server.Chained, h.Logs)
	}
	srv := httptest.NewServer(b.Server.Handler())
	t.Cleanup(srv.Close)
	for _, path := range []string{brokerapi.PathCredentials, brokerapi.PathConsole} {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(`{"request":"`+vt.RequestID+`"}`))
		req.Header.Set("Authorization", "Bearer "+h.Codertocat())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s from a chained broker: %d", path, resp.StatusCode)
		}
	}
	if got := h.STS.LastAssumeRole().Get("DurationSeconds"); got != "3600" {
		t.Errorf("DurationSeconds = %s, want 3600 (session_duration 2h, clamped)", got)
	}
}
