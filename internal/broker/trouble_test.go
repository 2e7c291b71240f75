package broker_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// gitHubFault is one way GitHub misbehaves; release, when set, ends a
// hold (a GitHub slower than any timeout, until the test lets it answer).
type gitHubFault struct {
	name    string
	fault   func() githubfake.Fault
	release chan struct{}
}

// gitHubFaults are the ways GitHub fails: down (500), its primary rate
// limit (403 with X-RateLimit-Remaining 0 and a reset a second ahead, which
// go-github also honours by itself), a secondary limit (429 with
// Retry-After), and slow (every call held until the test releases it).
func gitHubFaults() []gitHubFault {
	return []gitHubFault{
		{name: "500", fault: func() githubfake.Fault { return githubfake.Fault{Status: http.StatusInternalServerError} }},
		{name: "403 rate limit", fault: func() githubfake.Fault {
			reset := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
			return githubfake.Fault{Status: http.StatusForbidden, Message: "API rate limit exceeded for installation ID 777.",
				Header: http.Header{"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {reset}}}
		}},
		{name: "429 retry-after", fault: func() githubfake.Fault {
			return githubfake.Fault{Status: http.StatusTooManyRequests, Message: "You have exceeded a secondary rate limit.", Header: http.Header{"Retry-After": {"1"}}}
		}},
		{name: "slow", release: make(chan struct{})},
	}
}

func (f gitHubFault) apply() githubfake.Fault {
	if f.release != nil {
		return githubfake.Fault{Until: f.release}
	}
	return f.fault()
}

func (f gitHubFault) heal(fake *githubfake.Fake) {
	fake.HealAll()
	if f.release != nil {
		close(f.release)
	}
}

// fastLoops checks the head every 20 ms, so a test waits for recovery
// rather than for the default 5 s.
func fastLoops(c *broker.Config) { c.HeadCheck = 20 * time.Millisecond }

// GitHub down, rate-limited or slow when a broker starts (acting as an App
// whose installation it must find, with a repository of
// --oidc-repositories to resolve) never stops it: it serves, /healthz says
// not_synced with the reason, every caller gets a 503 (never a 401 or a 403
// that is not true), and once GitHub answers it recovers by itself.
func TestGitHubTroubleAtStart(t *testing.T) {
	t.Parallel()
	for _, tt := range gitHubFaults() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := brokertest.New(t)
			app := h.AsApp()
			h.GitHub.Fake.Install(brokertest.OIDCRepository)
			h.GitHub.Fake.BreakAll(tt.apply())
			fresh := h.UnsyncedWith(app, fastLoops)
			fatal := fresh.Start()
			a := health(t, fresh)
			if a.Status != 503 || a.Body["status"] != "not_synced" || a.Body["reason"] == "" {
				t.Errorf("healthz while GitHub fails = %d %s, want 503 not_synced with a reason", a.Status, a.Raw)
			}
			tokens := []string{fresh.Codertocat(), brokertest.UserToken}
			if tt.release != nil {
				// A user token's check waits for GitHub up to the client's
				// 15 s before its 502: the Actions token shows the same.
				tokens = tokens[:1]
			}
			for _, token := range tokens {
				a := fresh.Credentials(token, byID)
				if a.Status != 503 && a.Status != 502 {
					t.Errorf("credentials while GitHub fails = %d %s, want 503 (or 502 for GitHub's failing token check)", a.Status, a.Raw)
				}
			}
			tt.heal(h.GitHub.Fake)
			eventually(t, func() bool { return fresh.Credentials(fresh.Codertocat(), byID).Status == 200 })
			eventually(t, func() bool { return fresh.Credentials(brokertest.UserToken, byID).Status == 200 })
			if a := health(t, fresh); a.Status != 200 {
				t.Errorf("healthz after GitHub recovered = %d %s", a.Status, a.Raw)
			}
			select {
			case err := <-fatal:
				t.Fatalf("the broker stopped: %v", err)
			default:
			}
		})
	}
}

// GitHub failing during a sync (a merge and its webhook while GitHub's
// activity fails or hangs): the webhook answers within a second, the grant
// merged meanwhile is 503 not_synced (never a 403 that is not true), the
// grants already read keep issuing, and the broker reads the merge by
// itself once GitHub answers.
func TestGitHubTroubleDuringASync(t *testing.T) {
	t.Parallel()
	for _, tt := range gitHubFaults() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, run := running(t)
			h.GitHub.Fake.Break(activityRoute, tt.apply())
			sha := mergeNew(t, h)
			start := time.Now()
			a := run.Webhook(sha)
			took := time.Since(start)
			if took > time.Second || a.Status/100 != 2 {
				t.Errorf("webhook answered %d %s after %s, want a 2xx within a second", a.Status, a.Raw, took)
			}
			t.Logf("webhook answered %d %s after %s", a.Status, a.Body["status"], took)
			wantRefusal(t, run.Credentials(run.Codertocat(), map[string]string{"request": "new"}), 503, "not_synced", "")
			if a := run.Credentials(run.Codertocat(), byID); a.Status != 200 {
				t.Errorf("a grant read before the fault: %d %s", a.Status, a.Raw)
			}
			h.GitHub.Fake.Heal(activityRoute)
			if tt.release != nil {
				close(tt.release)
			}
			eventually(t, func() bool {
				a := run.Credentials(run.Codertocat(), map[string]string{"request": "new"})
				if a.Status != 200 && a.Status != 503 {
					t.Fatalf("while recovering: %d %s", a.Status, a.Raw)
				}
				return a.Status == 200
			})
		})
	}
}

// GitHub answering each call of a sync after 15 s: the push webhook still
// answers within a second, the grant it brought is 503 not_synced while
// the sync runs (not 403 no_active_grant), and usable once it is read.
func TestSlowGitHubWebhookAnswersAtOnce(t *testing.T) {
	t.Parallel()
	h, run := running(t)
	h.GitHub.Fake.Break(activityRoute, githubfake.Fault{Delay: 15 * time.Second})
	sha := mergeNew(t, h)
	start := time.Now()
	a := run.Webhook(sha)
	if took := time.Since(start); took > time.Second || a.Status != http.StatusAccepted || a.Body["status"] != "syncing" {
		t.Fatalf("webhook under a 15 s GitHub: %d %s after %s, want 202 syncing within a second", a.Status, a.Raw, took)
	}
	wantRefusal(t, run.Credentials(run.Codertocat(), map[string]string{"request": "new"}), 503, "not_synced", sha[:12])
	h.GitHub.Fake.Heal(activityRoute) // later calls are fast; the one in flight still takes 15 s
	eventually(t, func() bool {
		return run.Credentials(run.Codertocat(), map[string]string{"request": "new"}).Status == 200
	})
	t.Logf("the grant issued %s after its webhook", time.Since(start).Round(time.Millisecond))
}

// A repository of --oidc-repositories the App is not installed on (the
// runbook's own example once) does not stop the broker: /healthz names
// it, its Actions tokens are refused with a 401 that says what to do, user
// tokens work, and once the App is installed on it, its tokens count.
func TestUnresolvableOIDCRepositoryIsReportedNotFatal(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	fresh := h.UnsyncedWith(h.AsApp(), fastLoops)
	if err := fresh.Ledger.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, fresh.Credentials(fresh.Codertocat(), byID), 401, "unauthenticated", "install elevate's GitHub App")
	a := health(t, fresh)
	if a.Status != 200 || !strings.Contains(a.Raw, "1 repository of --oidc-repositories is not resolved") || strings.Contains(a.Raw, brokertest.OIDCRepository) {
		t.Errorf("healthz = %d %s, want 200 counting, not naming, the repository not resolved", a.Status, a.Raw)
	}
	if !strings.Contains(fresh.Logs.String(), brokertest.OIDCRepository) {
		t.Errorf("the log does not name the repository not resolved:\n%s", fresh.Logs)
	}
	if a := fresh.Credentials(brokertest.UserToken, byID); a.Status != 200 {
		t.Errorf("a user token while the repository is unresolved: %d %s", a.Status, a.Raw)
	}
	h.GitHub.Fake.Install(brokertest.OIDCRepository)
	eventually(t, func() bool { return fresh.Credentials(fresh.Codertocat(), byID).Status == 200 })
	if a := health(t, fresh); strings.Contains(a.Raw, "warnings") {
		t.Errorf("healthz still warns once resolved: %s", a.Raw)
	}
}

// activityRoute is the call each sync makes: GitHub's record of the branch.
const activityRoute = "GET /repos/{owner}/{repo}/activity"

// running is a harness world and a broker on it whose own loops run (the
// head check every 20 ms), issuing already.
func running(t *testing.T) (h, run *brokertest.Harness) {
	t.Helper()
	h = brokertest.New(t)
	run = h.UnsyncedWith(fastLoops)
	run.Start()
	eventually(t, func() bool { return run.Credentials(run.Codertocat(), byID).Status == 200 })
	return h, run
}

// mergeNew merges request "new" through an approved PR and returns its
// merge commit; no broker has read it yet.
func mergeNew(t *testing.T, h *brokertest.Harness) string {
	t.Helper()
	content := strings.Replace(vt.Request, "INC-1", "INC-9", 1)
	at := h.Clock().Add(-time.Minute)
	sha := h.Repo.Commit(at, "Merge pull request #9", map[string]string{"requests/prod/2026-11/new.yaml": content})
	h.MergePR(9, "requests/prod/2026-11/new.yaml", content, sha, at, true)
	return sha
}

// A repository of --oidc-repositories GitHub cannot resolve is asked again
// behind the requests: with GitHub hanging on that look-up, the tokens of
// the repositories already resolved are answered at once.
func TestResolvedRepositoriesNeverWaitForGitHub(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	fresh := h.UnsyncedWith(func(c *broker.Config) { c.OIDCRepos = brokertest.OIDCRepository + ",octo-org/not-installed" })
	if err := fresh.Ledger.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a := fresh.Credentials(fresh.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("first token: %d %s", a.Status, a.Raw)
	}
	hold := make(chan struct{})
	defer close(hold)
	h.GitHub.Fake.Break("GET /repos/{owner}/{repo}", githubfake.Fault{Until: hold})
	for range 20 { // well past the 10 ms backoff: the retry of the other is due, and hangs
		start := time.Now()
		if a := fresh.Credentials(fresh.Codertocat(), byID); a.Status != 200 || time.Since(start) > 2*time.Second {
			t.Fatalf("a token of a resolved repository while GitHub hangs: %d %s after %s", a.Status, a.Raw, time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A signed push of another repository (an organisation's hook, a secret
// used twice) is ignored: it announces no head, so "no grant" stays the
// truth, a 403, not a 503 waiting for a commit that is not the ledger's.
func TestWebhookOfAnotherRepositoryIsIgnored(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	push := `{"ref":"refs/heads/main","after":"` + strings.Repeat("ab", 20) + `","repository":{"full_name":"acme/unrelated"}}`
	req, _ := http.NewRequest("POST", h.URL+"/v1/webhook", strings.NewReader(push))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", sign(push))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push of another repository: %d, want 202 ignored", resp.StatusCode)
	}
	wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "nothing-like-it"}), 403, "no_active_grant", "")
}
