package broker_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/identity/oidcfake"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

var byID = map[string]string{"request": vt.RequestID}

func TestIssueCredentials(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	for _, tt := range []struct {
		name  string
		token string
		body  any
	}{
		{"OIDC token, by request id", h.Codertocat(), byID},
		{"user token, by account and role", brokertest.UserToken, map[string]string{"account": "prod", "role": "Admin"}},
		{"OIDC token, by id suffix", h.Codertocat(), map[string]string{"request": "codertocat-admin-inc1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := h.Credentials(tt.token, tt.body)
			if a.Status != http.StatusOK {
				t.Fatalf("status %d: %s", a.Status, a.Raw)
			}
			if a.Body["Version"] != float64(1) || !strings.HasPrefix(a.Body["AccessKeyId"].(string), "ASIA") || a.Body["SessionToken"] == "" || a.Body["Request"] != vt.RequestID {
				t.Errorf("body = %s", a.Raw)
			}
		})
	}
	p := h.STS.LastAssumeRole()
	want := map[string]string{
		"RoleArn":           "arn:aws:iam::111111111111:role/Admin",
		"SourceIdentity":    "gh-Codertocat",
		"RoleSessionName":   awsSessionName(),
		"Tags.member.1.Key": "elevate-request", "Tags.member.1.Value": vt.RequestID,
		"Tags.member.2.Key": "elevate-pr", "Tags.member.2.Value": "2",
		"Tags.member.3.Key": "elevate-github-id", "Tags.member.3.Value": "21031067",
	}
	for k, v := range want {
		if p.Get(k) != v {
			t.Errorf("AssumeRole %s = %q, want %q", k, p.Get(k), v)
		}
	}
	if logs := h.Logs.String(); !strings.Contains(logs, `"msg":"issued"`) || strings.Contains(logs, brokertest.BrokerSecret) || strings.Contains(logs, brokertest.UserToken) || strings.Contains(logs, githubfake.ClientSecret) {
		t.Errorf("issuance log wrong or leaks a secret:\n%s", h.Logs.String())
	}
}

func awsSessionName() string { return "gh-Codertocat-prod-2026-11-codertocat-admin-inc1" }

// The issued session never outlives the window: its expiry is at most the
// window end (or the 900 s STS floor, which the session policy covers), and
// the session policy names the window end.
func TestSessionNeverOutlivesWindow(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	windowEnd := h.Clock().Add(-30 * time.Minute).Add(2 * time.Hour)
	for _, tt := range []struct {
		name     string
		now      time.Time
		duration int
	}{
		{"session_duration inside the window", h.Clock(), 3600},
		{"window ends in 40 minutes", windowEnd.Add(-40 * time.Minute), 2400},
		{"window ends in 5 minutes: STS floor", windowEnd.Add(-5 * time.Minute), 900},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h.SetNow(tt.now)
			a := h.Credentials(h.Codertocat(), byID)
			if a.Status != http.StatusOK {
				t.Fatalf("status %d: %s", a.Status, a.Raw)
			}
			p := h.STS.LastAssumeRole()
			if p.Get("DurationSeconds") != fmt.Sprint(tt.duration) {
				t.Errorf("DurationSeconds = %s, want %d", p.Get("DurationSeconds"), tt.duration)
			}
			var policy struct {
				Statement []struct {
					Effect    string
					Condition map[string]map[string]string
				}
			}
			if err := json.Unmarshal([]byte(p.Get("Policy")), &policy); err != nil {
				t.Fatal(err)
			}
			if got := policy.Statement[0].Condition["DateLessThan"]["aws:CurrentTime"]; got != windowEnd.Format(time.RFC3339) || policy.Statement[0].Effect != "Allow" {
				t.Errorf("session policy %s does not end at the window end %s", p.Get("Policy"), windowEnd.Format(time.RFC3339))
			}
			if we, _ := time.Parse(time.RFC3339, a.Body["WindowEnd"].(string)); !we.Equal(windowEnd) {
				t.Errorf("WindowEnd = %v, want %v", a.Body["WindowEnd"], windowEnd)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	now := h.Clock()
	otherKey := h.OIDC.MintWithUnknownKey(oidcfake.Claims{Actor: "Codertocat", ActorID: vt.Author.GetID(), Audience: "elevate"})
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
	}{
		{"no token", "", byID, 401, "unauthenticated"},
		{"JWT with wrong audience", h.OIDC.Mint(oidcfake.Claims{Actor: "Codertocat", ActorID: vt.Author.GetID(), Audience: "sts.amazonaws.com"}), byID, 401, "unauthenticated"},
		{"JWT with wrong issuer", h.OIDC.MintWithIssuer(oidcfake.Claims{Actor: "Codertocat", ActorID: vt.Author.GetID(), Audience: "elevate"}, "https://evil.example.com"), byID, 401, "unauthenticated"},
		{"expired JWT", h.OIDC.Mint(oidcfake.Claims{Actor: "Codertocat", ActorID: vt.Author.GetID(), Audience: "elevate", IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-50 * time.Minute)}), byID, 401, "unauthenticated"},
		{"JWT alg none", h.OIDC.MintUnsigned(oidcfake.Claims{Actor: "Codertocat", ActorID: vt.Author.GetID(), Audience: "elevate"}), byID, 401, "unauthenticated"},
		{"JWT signed by an unknown key", otherKey, byID, 401, "unauthenticated"},
		{"JWT from another organisation's workflow", h.OIDC.Mint(oidcfake.Claims{Actor: "Codertocat", ActorID: vt.Author.GetID(), Audience: "elevate", Repository: "mallory/trap"}), byID, 401, "unauthenticated"},
		{"user token GitHub does not know", "gho_revoked", byID, 401, "unauthenticated"},
		{"user token of another app", otherAppToken(h), byID, 401, "unauthenticated"},
		{"personal access token", "ghp_0123456789abcdefghijABCDEFGHIJ012345", byID, 401, "unauthenticated"},
		{"JWT from an unlisted workflow", h.OIDC.Mint(oidcfake.Claims{Actor: "Codertocat", ActorID: vt.Author.GetID(), WorkflowRef: "octo-org/octo-repo/.github/workflows/review.yml@refs/heads/main"}), byID, 401, "unauthenticated"},
		{"JWT of a pull_request_review run", h.OIDC.Mint(oidcfake.Claims{Actor: "Codertocat", ActorID: vt.Author.GetID(), EventName: "pull_request_review"}), byID, 401, "unauthenticated"},
		{"no grant for an eligible role", h.Codertocat(), map[string]string{"account": "prod", "role": "ReadOnly"}, 403, "no_active_grant"},
		{"not eligible for the role", h.Codertocat(), map[string]string{"account": "prod", "role": "Billing"}, 403, "not_eligible"},
		{"grant of another user", h.Token("hubot", vt.Hubot.GetID()), byID, 403, "no_active_grant"},
		{"same login, different numeric id", h.Token("Codertocat", 999), byID, 403, "no_active_grant"},
		{"bad body", h.Codertocat(), `{"request":`, 400, "bad_request"},
		{"request and account without role", h.Codertocat(), map[string]string{"request": "x", "account": "prod"}, 400, "bad_request"},
		{"unknown field", h.Codertocat(), map[string]string{"requets": "x"}, 400, "bad_request"},
		{"body over 64 KiB", h.Codertocat(), `{"request":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.Credentials(tt.token, tt.body)
			if a.Status != tt.status || a.Body["error"] != tt.code || a.Body["message"] == "" {
				t.Fatalf("got %d %s, want %d %s", a.Status, a.Raw, tt.status, tt.code)
			}
		})
	}
	if n := h.STS.Calls("AssumeRole"); n != 0 {
		t.Errorf("STS was called %d times for refused requests", n)
	}
}

func TestExpiredAndNotYet(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	future := h.Clock().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	later := strings.Replace(vt.Request, "ticket: INC-1", "ticket: INC-2\nnot_before: "+future, 1)
	sha := h.Repo.Commit(h.Clock().Add(-10*time.Minute), "later", map[string]string{"requests/prod/2026-11/later.yaml": later})
	h.MergePR(3, "requests/prod/2026-11/later.yaml", later, sha, h.Clock().Add(-10*time.Minute), true)
	h.Sync()
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": "later"}); a.Status != 403 || a.Body["error"] != "no_active_grant" || !strings.Contains(a.Raw, "opens at") {
		t.Errorf("before not_before: %d %s", a.Status, a.Raw)
	}
	h.SetNow(h.Clock().Add(3 * time.Hour))
	if a := h.Credentials(h.Codertocat(), byID); a.Status != 403 || a.Body["error"] != "expired" {
		t.Errorf("expired window: %d %s", a.Status, a.Raw)
	}
}

func TestRevoked(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
	h.Repo.Commit(h.Clock(), "revoke", map[string]string{vt.RequestPath: ""})
	h.Sync()
	for _, body := range []any{byID, map[string]string{"account": "prod", "role": "Admin"}} {
		if a := h.Credentials(h.Codertocat(), body); a.Status != 403 || a.Body["error"] != "revoked" {
			t.Errorf("revoked (file deleted): %d %s", a.Status, a.Raw)
		}
	}
}

func TestNotEligibleAtHead(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.MergeChange(10, map[string]string{"eligibility.yaml": strings.Replace(brokertest.Policy, `"Codertocat", `, "", 1)}, h.Clock(), brokertest.SecurityLead)
	h.Sync()
	if a := h.Credentials(h.Codertocat(), byID); a.Status != 403 || a.Body["error"] != "not_eligible" {
		t.Errorf("removed from the policy: %d %s", a.Status, a.Raw)
	}
}

func TestCommitPushedWithoutPR(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	pushed := strings.Replace(vt.Request, "INC-1", "INC-3", 1)
	h.Push(h.Clock().Add(-15*time.Minute), "direct push", map[string]string{"requests/prod/2026-11/pushed.yaml": pushed})
	h.Sync()
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": "pushed"}); a.Status != 403 || a.Body["error"] != "no_active_grant" || !strings.Contains(a.Raw, "direct push") {
		t.Errorf("pushed without a PR: %d %s", a.Status, a.Raw)
	}
}

func TestPRMergedWithoutApproval(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	content := strings.Replace(vt.Request, "INC-1", "INC-4", 1)
	sha := h.Repo.Commit(h.Clock().Add(-time.Minute), "bypass", map[string]string{"requests/prod/2026-11/bypass.yaml": content})
	h.MergePR(4, "requests/prod/2026-11/bypass.yaml", content, sha, h.Clock().Add(-time.Minute), false)
	h.Sync()
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": "bypass"}); a.Status != 403 || a.Body["error"] != "no_active_grant" || !strings.Contains(a.Raw, "without a passing verdict") {
		t.Errorf("merged without approval: %d %s", a.Status, a.Raw)
	}
}

func TestGitHubDownOnFirstVerification(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.Credentials(h.Codertocat(), map[string]string{"account": "prod", "role": "ReadOnly"}) // resolves --oidc-repositories
	h.GitHub.Fake.Close()
	a := h.Credentials(h.Codertocat(), byID)
	if a.Status != 502 || a.Body["error"] != "upstream" {
		t.Fatalf("GitHub down before the grant was verified: %d %s", a.Status, a.Raw)
	}
}

func TestSTSErrorIs502WithoutSecrets(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.STS.FailNext("AccessDenied", 403)
	a := h.Credentials(h.Codertocat(), byID)
	if a.Status != 502 || a.Body["error"] != "upstream" || !strings.Contains(a.Raw, "AccessDenied") {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
	for _, secret := range []string{brokertest.BrokerSecret, brokertest.BrokerKey} {
		if strings.Contains(a.Raw, secret) || strings.Contains(h.Logs.String(), brokertest.BrokerSecret) {
			t.Errorf("the answer or the log leaks %q", secret)
		}
	}
}

func TestRenamedLoginSameIDAccepted(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	if err := h.Ledger.VerifyAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The renamed account is eligible through its team; its grant is found by numeric id.
	h.GitHub.Fake.TeamMember("acme", "sre", "Codertocat-renamed", "active")
	if a := h.Credentials(h.Token("Codertocat-renamed", vt.Author.GetID()), map[string]string{"account": "prod", "role": "Admin"}); a.Status != 200 {
		t.Fatalf("renamed login with the same id: %d %s", a.Status, a.Raw)
	}
	if got := h.STS.LastAssumeRole().Get("SourceIdentity"); got != "gh-Codertocat-renamed" {
		t.Errorf("SourceIdentity = %s", got)
	}
}

// commentRoutes are the sticky comment's calls, made by the usage worker
// after an issuance, never on its path.
var commentRoutes = []string{
	"GET /repos/{owner}/{repo}/issues/{number}/comments",
	"POST /repos/{owner}/{repo}/issues/{number}/comments",
	"PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}",
}

// issuanceCalls counts the GitHub calls other than the usage worker's, at
// one instant (the worker may be commenting meanwhile).
func issuanceCalls(h *brokertest.Harness) int {
	return h.GitHub.Fake.CallsExcept(commentRoutes...)
}

// After warm-up (sync and verification), issuing makes no GitHub API call;
// the first-use comment is written afterwards, once, and then updated.
func TestIssuingAfterWarmUpMakesNoGitHubCall(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	if err := h.Ledger.VerifyAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.Credentials(brokertest.UserToken, byID)                                               // warms the cache of GitHub's token check
	h.Credentials(h.Codertocat(), map[string]string{"account": "prod", "role": "ReadOnly"}) // and resolves --oidc-repositories
	before := issuanceCalls(h)
	for range 5 {
		if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		if a := h.Credentials(brokertest.UserToken, map[string]string{"account": "prod", "role": "Admin"}); a.Status != 200 {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
	}
	if n := issuanceCalls(h) - before; n != 0 {
		t.Errorf("issuing 10 credentials made %d GitHub API calls besides the usage comment, want 0", n)
	}
	if n := h.STS.Calls("AssumeRole"); n != 11 {
		t.Errorf("AssumeRole calls = %d, want 11", n)
	}
	body := waitForComment(t, h, vt.Number, "Sessions so far: **11**")
	if n := h.GitHub.Fake.Calls("POST /repos/{owner}/{repo}/issues/{number}/comments"); n != 1 {
		t.Errorf("%d comments created for 11 sessions, want 1 (then updates)", n)
	}
	for _, want := range []string{"first used", "@Codertocat", "role `Admin` in prod", "session until"} {
		if !strings.Contains(body, want) {
			t.Errorf("the usage comment lacks %q:\n%s", want, body)
		}
	}
}

// waitForComment waits for the PR's one elevate usage comment to contain want.
func waitForComment(t *testing.T, h *brokertest.Harness, pr int, want string) string {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var usage []string
		for _, c := range h.GitHub.Fake.Comments(pr) {
			if strings.Contains(c.GetBody(), "<!-- elevate:sessions ") {
				usage = append(usage, c.GetBody())
			}
		}
		if len(usage) > 1 {
			t.Fatalf("%d usage comments on PR #%d, want one sticky comment", len(usage), pr)
		}
		if len(usage) == 1 {
			last = usage[0]
			if strings.Contains(last, want) {
				return last
			}
		}
	}
	t.Fatalf("PR #%d's usage comment never said %q; last:\n%s", pr, want, last)
	return ""
}

func TestConsoleURL(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	a := h.Call("POST", "/v1/console", h.Codertocat(), byID)
	url, _ := a.Body["url"].(string)
	if a.Status != 200 || !strings.HasPrefix(url, h.STS.SigninURL()+"?Action=login") || !strings.Contains(url, "SigninToken=") {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the sign-in endpoint refused the URL: %d", resp.StatusCode)
	}
}

func TestGrants(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	a := h.Call("GET", "/v1/grants", h.Codertocat(), nil)
	grants, _ := a.Body["grants"].([]any)
	if a.Status != 200 || len(grants) != 1 || grants[0].(map[string]any)["state"] != "active" {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
}

func sign(body string) string {
	m := hmac.New(sha256.New, []byte(brokertest.WebhookSecret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestWebhookSyncsANewMerge(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	content := strings.Replace(vt.Request, "INC-1", "INC-5", 1)
	sha := h.Repo.Commit(h.Clock().Add(-time.Minute), "new", map[string]string{"requests/prod/2026-11/new.yaml": content})
	h.MergePR(5, "requests/prod/2026-11/new.yaml", content, sha, h.Clock().Add(-time.Minute), true)
	push := `{"ref":"refs/heads/main","after":"` + sha + `","repository":{"full_name":"` + vt.Owner + `/` + vt.Name + `"}}`
	post := func(sig string) int {
		req, _ := http.NewRequest("POST", h.URL+brokerapi.PathWebhook, strings.NewReader(push))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("sha256=" + strings.Repeat("0", 64)); code != 401 {
		t.Fatalf("forged signature: %d", code)
	}
	req, _ := http.NewRequest("POST", h.URL+brokerapi.PathWebhook, strings.NewReader(push))
	req.Header.Set("X-GitHub-Event", "push")
	mac := hmac.New(sha1.New, []byte(brokertest.WebhookSecret))
	mac.Write([]byte(push))
	req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac.Sum(nil)))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("SHA-1 signature only: %v %v, want 401", resp.StatusCode, err)
	}
	if _, ok := h.Ledger.Index().Grant("new"); ok {
		t.Fatal("a forged webhook synced the ledger")
	}
	start := time.Now()
	if code := post(sign(push)); code != 200 {
		t.Fatalf("signed webhook: %d", code)
	}
	t.Logf("webhook to visible: %s", time.Since(start))
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": "new"}); a.Status != 200 {
		t.Fatalf("the new merge is not usable after the webhook: %d %s", a.Status, a.Raw)
	}
}

// A 30 MiB unsigned or oversized webhook is refused before it is buffered:
// the broker's memory stays flat.
func TestWebhookBodyIsBounded(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	post := func(body io.Reader, size int64, sig string) (int, string) {
		req, _ := http.NewRequest("POST", h.URL+brokerapi.PathWebhook, body)
		req.ContentLength = size
		req.Header.Set("X-GitHub-Event", "push")
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const huge = 30 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if code, body := post(io.LimitReader(zeros{}, huge), huge, ""); code != 401 {
		t.Errorf("30 MiB unsigned: %d %s, want 401", code, body)
	}
	if code, body := post(io.LimitReader(zeros{}, huge), huge, "sha256="+strings.Repeat("0", 64)); code != 413 {
		t.Errorf("30 MiB with a signature header: %d %s, want 413", code, body)
	}
	if code, body := post(io.LimitReader(zeros{}, huge), -1, "sha256="+strings.Repeat("0", 64)); code != 413 {
		t.Errorf("30 MiB chunked: %d %s, want 413", code, body)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 12<<20 {
		t.Errorf("heap grew %d MiB for three 30 MiB webhooks; want it flat (at most the 5 MiB limit each)", grew>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.Credentials("", byID)
	h.Credentials(h.Codertocat(), byID)
	if a := h.Call("GET", "/healthz", "", nil); a.Status != 200 || a.Body["grants"] != float64(1) {
		t.Errorf("healthz: %d %s", a.Status, a.Raw)
	}
	m := h.Call("GET", "/metrics", "", nil).Raw
	for _, want := range []string{`elevate_issuances_total{kind="credentials"} 1`, `elevate_refusals_total{endpoint="credentials",reason="unauthenticated"} 1`, "elevate_request_duration_seconds_bucket"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// After Lambda thawed a function that was idle past the head-check interval,
// the first event catches up before it is answered: a revocation merged
// meanwhile is refused at once.
func TestLambdaCatchesUpAfterAFreeze(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	ev := func() events.APIGatewayV2HTTPRequest {
		ev := events.APIGatewayV2HTTPRequest{RawPath: brokerapi.PathCredentials, Body: `{"request":"` + vt.RequestID + `"}`,
			Headers: map[string]string{"authorization": "Bearer " + h.Codertocat(), "content-type": "application/json"}}
		ev.RequestContext.HTTP.Method = "POST"
		return ev
	}
	handle := broker.LambdaHandler(h.Server.Handler(), h.Broker.Syncer.Fresh, h.Broker.Syncer.Tick)
	if resp, err := invokeURL(handle, ev()); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
	}
	h.Repo.Commit(h.Clock(), "revoke", map[string]string{vt.RequestPath: ""})
	if resp, _ := invokeURL(handle, ev()); resp.StatusCode != 200 {
		t.Fatalf("within the head-check interval: %d %s (a thawed function checks at most that often)", resp.StatusCode, resp.Body)
	}
	h.SetNow(h.Clock().Add(6 * time.Second)) // frozen past --head-check-interval 5s
	if resp, _ := invokeURL(handle, ev()); resp.StatusCode != 403 || !strings.Contains(resp.Body, `"error":"revoked"`) {
		t.Errorf("after the freeze: %d %s, want 403 revoked", resp.StatusCode, resp.Body)
	}
	// Thawed while GitHub hangs: the catch-up cannot finish in time, and
	// the old index may predate a revocation: 503, not an issuance.
	hold := make(chan struct{})
	h.GitHub.Fake.Break("GET /repos/{owner}/{repo}/activity", githubfake.Fault{Until: hold})
	h.Broker.Syncer.FreshWait = 50 * time.Millisecond
	h.SetNow(h.Clock().Add(2 * time.Minute))
	if resp, _ := invokeURL(handle, ev()); resp.StatusCode != 503 || !strings.Contains(resp.Body, `"error":"not_synced"`) {
		t.Errorf("thawed while GitHub hangs: %d %s, want 503 not_synced", resp.StatusCode, resp.Body)
	}
	// The router decodes the path: an encoded one is refused the same.
	encoded := ev()
	encoded.RawPath, encoded.RequestContext.HTTP.Path = "/v1/%63redentials", "/v1/%63redentials"
	if resp, _ := invokeURL(handle, encoded); resp.StatusCode != 503 {
		t.Errorf("thawed while GitHub hangs, %s: %d %s, want 503 not_synced", encoded.RawPath, resp.StatusCode, resp.Body)
	}
	close(hold)
	h.GitHub.Fake.Heal("GET /repos/{owner}/{repo}/activity")
	h.Broker.Syncer.Wait()
	h.Broker.Syncer.FreshWait = 0
	// Idle past the sync interval and the staleness bound: a full sync
	// first, so it answers rather than refusing as stale.
	h.SetNow(h.Clock().Add(25 * time.Hour))
	if resp, _ := invokeURL(handle, ev()); strings.Contains(resp.Body, "ledger_stale") {
		t.Errorf("after a day frozen: %d %s", resp.StatusCode, resp.Body)
	}
}

// invokeURL hands handle a function URL event as the Lambda runtime does:
// as JSON.
func invokeURL(handle func(context.Context, json.RawMessage) (any, error), ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	out, err := handle(context.Background(), raw)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	resp, ok := out.(events.APIGatewayV2HTTPResponse)
	if !ok {
		return resp, fmt.Errorf("a function URL event answered %T", out)
	}
	return resp, nil
}

func TestLambdaHandler(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	handle := broker.LambdaHandler(h.Server.Handler(), nil, nil)
	body := `{"request":"` + vt.RequestID + `"}`
	for _, tt := range []struct {
		name   string
		body   string
		base64 bool
		status int
		want   string
	}{
		{"function URL event", body, false, 200, `"AccessKeyId":"ASIA`},
		{"base64 body, as function URLs send binary", base64.StdEncoding.EncodeToString([]byte(body)), true, 200, `"AccessKeyId":"ASIA`},
		{"body that is not the base64 it claims", "%%%", true, 400, `"error":"bad_request"`},
	} {
		ev := events.APIGatewayV2HTTPRequest{RawPath: brokerapi.PathCredentials, Body: tt.body, IsBase64Encoded: tt.base64,
			Headers: map[string]string{"authorization": "Bearer " + h.Codertocat(), "content-type": "application/json"}}
		ev.RequestContext.HTTP.Method = "POST"
		ev.RequestContext.HTTP.SourceIP = "203.0.113.7"
		ev.RequestContext.DomainName = "abc.lambda-url.us-east-1.on.aws"
		resp, err := invokeURL(handle, ev)
		if err != nil || resp.StatusCode != tt.status || !strings.Contains(resp.Body, tt.want) {
			t.Errorf("%s: %v %d %s", tt.name, err, resp.StatusCode, resp.Body)
		}
	}
}

// otherAppToken is a token of Codertocat that another app (not elevate's)
// was given: valid on GitHub, and nothing to the broker.
func otherAppToken(h *brokertest.Harness) string {
	const tok = "gho_codertocatOtherAppToken1"
	h.GitHub.Fake.OAuthApp("Iv1.0therapp0000000", "other-app-secret")
	h.GitHub.Fake.AppToken("Iv1.0therapp0000000", tok, vt.Author)
	return tok
}

// refusal is the one-line message the identity package's golden file
// holds for a refused token (internal/identity/testdata/refused).
func refusal(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "identity", "testdata", "refused", name+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(data), "\n")
}

// Every refused token is told, in one line, what did not match and what to
// do: the Actions token of a run that does not speak for its actor (each
// check), a user token elevate's app was not given, one not shaped like a
// GitHub token, and a broker with no app; when GitHub rate-limits the
// token check the answer is 503, never 401. Each message is the identity
// package's golden one.
func TestRefusedTokensSayWhatToDo(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	noApp := brokertest.New(t, func(c *broker.Config) { c.GitHubClientID, c.GitHubClientSecret = "", "" })
	limited := brokertest.New(t)
	limited.GitHub.Fake.Break("POST /applications/{client_id}/token", githubfake.Fault{Status: http.StatusForbidden, Message: "API rate limit exceeded",
		Header: http.Header{"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {fmt.Sprint(time.Now().Add(30 * time.Minute).Unix())}}})
	mint := func(f func(*oidcfake.Claims)) string {
		c := oidcfake.Claims{Actor: vt.Author.GetLogin(), ActorID: vt.Author.GetID()}
		f(&c)
		return h.OIDC.Mint(c)
	}
	const review = "octo-org/octo-repo/.github/workflows/review.yml@refs/heads/main"
	tests := []struct {
		golden string
		h      *brokertest.Harness
		token  string
		status int
		code   string
	}{
		{"header-missing", h, "", 401, "unauthenticated"},
		{"actions-other-repository", h, mint(func(c *oidcfake.Claims) { c.Repository = "mallory/trap" }), 401, "unauthenticated"},
		{"actions-job-workflow-unlisted", h, mint(func(c *oidcfake.Claims) { c.WorkflowRef = review }), 401, "unauthenticated"},
		{"actions-workflow-unlisted", h, mint(func(c *oidcfake.Claims) { c.WorkflowRef, c.JobWorkflowRef = review, brokertest.OIDCWorkflow }), 401, "unauthenticated"},
		{"actions-ref-unprotected", h, mint(func(c *oidcfake.Claims) { c.RefProtected = "false" }), 401, "unauthenticated"},
		{"actions-event", h, mint(func(c *oidcfake.Claims) { c.EventName = "pull_request_review" }), 401, "unauthenticated"},
		{"actions-run-attempt", h, mint(func(c *oidcfake.Claims) { c.RunAttempt = "2" }), 401, "unauthenticated"},
		{"user-other-app", h, otherAppToken(h), 401, "unauthenticated"},
		{"user-malformed", h, "not-a-github-token", 401, "unauthenticated"},
		{"user-personal-access-token", h, "ghp_0123456789abcdefghijABCDEFGHIJ012345", 401, "unauthenticated"},
		{"user-no-app", noApp, brokertest.UserToken, 401, "unauthenticated"},
		{"user-rate-limited", limited, brokertest.UserToken, 503, "upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			a := tt.h.Credentials(tt.token, byID)
			if a.Status != tt.status || a.Body["error"] != tt.code {
				t.Fatalf("got %d %s, want %d %s", a.Status, a.Raw, tt.status, tt.code)
			}
			if want := refusal(t, tt.golden); a.Body["message"] != want {
				t.Errorf("message = %q\nwant      %q", a.Body["message"], want)
			}
			if tt.status == 503 && a.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
	for _, x := range []*brokertest.Harness{h, noApp, limited} {
		if n := x.STS.Calls("AssumeRole"); n != 0 {
			t.Errorf("STS was called %d times for refused tokens", n)
		}
	}
}

// GitHub's token check costs at most one call per token per minute: the
// answer is cached, and so is a refusal. GET /user is never asked.
func TestUserTokenCheckedOncePerToken(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.GitHub.Fake.Disable("GET /user")
	other := otherAppToken(h)
	for range 10 {
		if a := h.Credentials(brokertest.UserToken, byID); a.Status != 200 {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		if a := h.Credentials(other, byID); a.Status != 401 {
			t.Fatalf("another app's token: %d %s", a.Status, a.Raw)
		}
	}
	if n := h.GitHub.Fake.Calls("POST /applications/{client_id}/token"); n != 2 {
		t.Errorf("token checks for 10 requests with each of two tokens = %d, want 2", n)
	}
}

// A broker whose client secret GitHub refuses answers 502 saying what its
// operator must check, and logs it, without the secret.
func TestWrongClientSecretIsAnUpstreamError(t *testing.T) {
	t.Parallel()
	const wrong = "not-the-client-secret-of-elevates-app"
	h := brokertest.New(t, func(c *broker.Config) { c.GitHubClientSecret = wrong })
	a := h.Credentials(brokertest.UserToken, byID)
	if a.Status != 502 || a.Body["error"] != "upstream" || a.Body["message"] != refusal(t, "user-app-credentials-refused") {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
	logs := h.Logs.String()
	if !strings.Contains(logs, `"msg":"refused"`) || !strings.Contains(logs, "--github-client-secret") {
		t.Errorf("no log line names the broker's app credentials:\n%s", logs)
	}
	if strings.Contains(logs, wrong) || strings.Contains(logs, brokertest.UserToken) {
		t.Errorf("the log holds the client secret or the token:\n%s", logs)
	}
}

// The identity flags read their ELEVATE_ variables, the client id and
// secret go together, and a workflow must be an exact ref on a branch.
func TestParseConfigIdentityFlags(t *testing.T) {
	t.Parallel()
	const workflow = "acme/deploy-tools/.github/workflows/aws.yml@refs/heads/main"
	env := map[string]string{"ELEVATE_OIDC_WORKFLOWS": workflow, "ELEVATE_OIDC_EVENTS": "workflow_dispatch,repository_dispatch",
		"ELEVATE_GITHUB_CLIENT_ID": "Iv1.0123456789abcdef", "ELEVATE_GITHUB_CLIENT_SECRET": "s3cret"}
	cfg, err := broker.ParseConfig(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OIDCWorkflows != workflow || cfg.OIDCEvents != "workflow_dispatch,repository_dispatch" || cfg.GitHubClientID != "Iv1.0123456789abcdef" || cfg.GitHubClientSecret != "s3cret" {
		t.Errorf("config = %+v", cfg)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--github-client-id", "Iv1.0123456789abcdef"}, "go together"},
		{[]string{"--github-client-secret", "s3cret"}, "go together"},
		{[]string{"--oidc-workflows", "acme/deploy-tools/.github/workflows/aws.yml"}, "--oidc-workflows"},
		{[]string{"--oidc-workflows", workflow + ",acme/*/.github/workflows/aws.yml@refs/heads/main"}, "--oidc-workflows"},
	} {
		if _, err := broker.ParseConfig(tt.args, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}
