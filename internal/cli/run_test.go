package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/credcache"
	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/golden"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// personalToken is Codertocat's GH_TOKEN in the world: good for the CLI's
// own GitHub calls, never sent to the broker.
const personalToken = "ghp_codertocatPersonalToken1"

// world is a broker harness plus a CLI factory pointed at it as Codertocat,
// who ran `elevate login` (brokertest.UserToken, issued to elevate's app)
// and also has GH_TOKEN set.
type world struct {
	t        *testing.T
	h        *brokertest.Harness
	f        *Factory
	out, err *bytes.Buffer
	env      map[string]string
	store    *ghauth.Store // what `elevate login` stored
}

func newWorld(t *testing.T) *world {
	t.Helper()
	h := brokertest.New(t)
	h.GitHub.Fake.Token(personalToken, vt.Author)
	env := map[string]string{
		"GH_TOKEN":           personalToken,
		"ELEVATE_BROKER_URL": h.URL,
		"GITHUB_API_URL":     h.GitHub.Fake.URL,
		"ELEVATE_REPO":       vt.Owner + "/" + vt.Name,
	}
	f, out, errOut := testFactory(env)
	f.Now = h.Clock
	f.HTTP = h.GitHub.Fake.Client().Client()
	cacheDir := t.TempDir()
	f.Cache = func() (*credcache.Cache, error) { return &credcache.Cache{Dir: cacheDir, Now: h.Clock}, nil }
	f.WorkDir = t.TempDir()
	w := &world{t: t, h: h, f: f, out: out, err: errOut, env: env}
	w.useStore(&ghauth.Store{Path: t.TempDir() + "/token.json"})
	w.login(ghauth.Token{Access: brokertest.UserToken, UserID: vt.Author.GetID()})
	return w
}

// useStore makes s the token store of the CLI.
func (w *world) useStore(s *ghauth.Store) {
	w.store = s
	w.f.TokenStore = func() (*ghauth.Store, error) { return s, nil }
}

// login stores tok as `elevate login` does, for the GitHub host in use.
func (w *world) login(tok ghauth.Token) {
	w.t.Helper()
	host, err := ghauth.HostFor(w.env["GITHUB_API_URL"])
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.store.Save(host, tok); err != nil {
		w.t.Fatal(err)
	}
}

// loggedOut leaves the CLI without a stored login (checkFailures puts the
// store back).
func loggedOut(w *world) { w.useStore(&ghauth.Store{Path: w.t.TempDir() + "/token.json"}) }

// run runs the CLI as a person would and returns the exit code.
func (w *world) run(args ...string) int {
	w.out.Reset()
	w.err.Reset()
	return Main(context.Background(), w.f, args)
}

func TestCredentialsProcessFormatAndCache(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if code := w.run("credentials", "--account", "prod", "--role", "Admin"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	var got struct {
		Version                                                int
		AccessKeyId, SecretAccessKey, SessionToken, Expiration string
	}
	if err := json.Unmarshal(w.out.Bytes(), &got); err != nil {
		t.Fatalf("not credential_process JSON: %v\n%s", err, w.out)
	}
	exp, err := time.Parse(time.RFC3339, got.Expiration)
	if got.Version != 1 || !strings.HasPrefix(got.AccessKeyId, "ASIA") || got.SessionToken == "" || err != nil || exp.Location() != time.UTC {
		t.Errorf("credential_process output = %s", w.out)
	}
	first := w.out.String()
	if code := w.run("credentials", "--account", "prod", "--role", "Admin"); code != 0 || w.out.String() != first {
		t.Fatalf("second call: exit %d, output changed", code)
	}
	if n := w.h.STS.Calls("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls = %d, want 1: the second call must come from the cache", n)
	}
	if code := w.run("credentials", "--account", "prod", "--role", "Admin", "--format", "env"); code != 0 || !strings.Contains(w.out.String(), "export AWS_ACCESS_KEY_ID="+got.AccessKeyId) {
		t.Errorf("env format: exit %d\n%s", code, w.out)
	}
}

// Ports, times and commits vary from run to run; the golden files hold none.
var (
	portRE   = regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):[0-9]+`)
	timeRE   = regexp.MustCompile(`[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z`)
	commitRE = regexp.MustCompile(`commit [0-9a-f]{7,40}\b`)
	// A request's path holds the month and, for an extension, when it starts.
	pathRE = regexp.MustCompile(`requests/([a-z0-9-]+)/[0-9]{4}-[0-9]{2}/([a-z0-9-]+?)(-ext-[0-9]{8}-[0-9]{4})?\.yaml`)
)

// normalise replaces ports, RFC 3339 times and commit ids with placeholders.
func normalise(s string) string {
	s = portRE.ReplaceAllString(s, "${1}:PORT")
	s = timeRE.ReplaceAllString(s, "TIME")
	s = pathRE.ReplaceAllStringFunc(s, func(p string) string {
		m := pathRE.FindStringSubmatch(p)
		if m[3] != "" {
			m[3] = "-ext-START"
		}
		return "requests/" + m[1] + "/MONTH/" + m[2] + m[3] + ".yaml"
	})
	return commitRE.ReplaceAllString(s, "commit SHA")
}

// failureCase is one way for a command to fail: setup changes the world
// before the command runs; the environment is restored after.
type failureCase struct {
	name  string
	setup func(*world)
	args  []string
	code  int
}

// checkFailures runs each case, requires the exit code and one line on
// stderr and nothing on stdout, and compares the transcript with the golden
// file name.
func checkFailures(t *testing.T, w *world, name string, tests []failureCase) {
	t.Helper()
	var transcript strings.Builder
	for _, tt := range tests {
		saved, savedStore := maps.Clone(w.env), w.store
		if tt.setup != nil {
			tt.setup(w)
		}
		code := w.run(tt.args...)
		msg := w.err.String()
		lines := strings.Count(strings.TrimSpace(msg), "\n") + 1
		if tt.code == ExitUsage {
			lines-- // the pointer to --help
		}
		if code != tt.code || lines != 1 || w.out.Len() != 0 {
			t.Errorf("%s: exit %d, want %d and one line on stderr; got stdout %q, stderr %q", tt.name, code, tt.code, w.out, msg)
		}
		argv := make([]string, len(tt.args))
		for i, a := range tt.args {
			argv[i] = strings.ReplaceAll(a, w.h.Repo.Dir, "REPO")
			if strings.ContainsAny(argv[i], " \"") {
				argv[i] = strconv.Quote(argv[i])
			}
		}
		fmt.Fprintf(&transcript, "# %s\n$ elevate %s\n%s[exit %d]\n\n", tt.name, strings.Join(argv, " "), normalise(msg), code)
		clear(w.env)
		maps.Copy(w.env, saved)
		w.useStore(savedStore)
	}
	golden.Assert(t, name, transcript.String())
}

// Every failure a person meets prints one line: what happened and what to do next.
func TestFailuresSayWhatToDoNext(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	checkFailures(t, w, "failures", []failureCase{
		{"no token", noToken, []string{"credentials", "--request", "x"}, ExitError},
		{"broker unreachable", func(w *world) { w.env["ELEVATE_BROKER_URL"] = "http://127.0.0.1:1" }, []string{"credentials", "--request", "x", "--no-cache"}, ExitError},
		{"no active grant", nil, []string{"credentials", "--account", "prod", "--role", "ReadOnly"}, ExitError},
		{"not eligible", nil, []string{"credentials", "--account", "prod", "--role", "Billing"}, ExitError},
		{"expired", func(w *world) { w.h.SetNow(w.h.Clock().Add(3 * time.Hour)) }, []string{"credentials", "--request", vt.RequestID, "--no-cache"}, ExitError},
		{"revoked", func(w *world) {
			w.h.Repo.Commit(w.h.Clock(), "revoke", map[string]string{vt.RequestPath: ""})
			w.h.Sync()
		}, []string{"credentials", "--request", vt.RequestID, "--no-cache"}, ExitError},
		{"no broker configured", func(w *world) { delete(w.env, "ELEVATE_BROKER_URL") }, []string{"console", "--request", "x"}, ExitError},

		// Network failures name the host and the variable to check.
		{"GitHub unreachable", githubDown, []string{"status"}, ExitError},
		{"broker unreachable for status", func(w *world) { w.env["ELEVATE_BROKER_URL"] = "http://127.0.0.1:1" }, []string{"status"}, ExitError},

		// not_eligible says what may be requested instead, from the policy on
		// GitHub; when that cannot be read, the broker's message stands.
		{"not eligible (console)", nil, []string{"console", "--account", "prod", "--role", "Billing"}, ExitError},
		{"not eligible, policy unreadable", githubDown, []string{"credentials", "--account", "prod", "--role", "Billing"}, ExitError},

		// What needs GitHub says so, and what else would do.
		{"audit without a token", noToken, []string{"audit", "--dir", w.h.Repo.Dir}, ExitError},
		{"audit, GitHub unreachable", githubDown, []string{"audit", "--dir", w.h.Repo.Dir}, ExitError},
		{"dry run without a token", noToken, []string{"request", "--account", "prod", "--role", "Admin", "--duration", "1h", "--ticket", "INC-9", "--reason", "Check the dashboards", "--dry-run"}, ExitError},
		{"dry run, GitHub unreachable", githubDown, []string{"request", "--account", "prod", "--role", "Admin", "--duration", "1h", "--ticket", "INC-9", "--reason", "Check the dashboards", "--dry-run"}, ExitError},

		// Usage errors say how to call the command and point at its help.
		{"revoke without an id", nil, []string{"revoke"}, ExitUsage},
		{"revoke with two ids", nil, []string{"revoke", "a", "b"}, ExitUsage},
		{"extend without an id", nil, []string{"extend", "--duration", "1h"}, ExitUsage},
		{"status with an argument", nil, []string{"status", "mine"}, ExitUsage},
		{"unknown flag", nil, []string{"request", "--acount", "prod"}, ExitUsage},
		{"missing flags", nil, []string{"request", "--account", "prod"}, ExitUsage},
		{"unknown command", nil, []string{"stauts"}, ExitUsage},
	})
}

// githubDown points the CLI at a GitHub that does not answer, where
// Codertocat's login is the same.
func githubDown(w *world) {
	host, _ := ghauth.HostFor(w.env["GITHUB_API_URL"])
	login, err := w.store.Load(host)
	w.env["GITHUB_API_URL"] = "http://127.0.0.1:1"
	if err == nil {
		w.login(login)
	}
}

// noToken leaves the CLI without any GitHub token: no GH_TOKEN, no login.
func noToken(w *world) {
	delete(w.env, "GH_TOKEN")
	loggedOut(w)
}

// ELEVATE_REPO is guessed only from an origin remote on the GitHub host in
// use; a remote on another host says to set it.
func TestRepoGuessedOnlyOnTheGitHubHostInUse(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	delete(w.env, "ELEVATE_REPO")
	delete(w.env, "ELEVATE_BROKER_URL")
	checkout := func(remote string) func(*world) {
		return func(w *world) {
			dir := t.TempDir()
			for _, args := range [][]string{{"init", "-q"}, {"remote", "add", "origin", remote}} {
				if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
					t.Fatalf("git %v: %v\n%s", args, err, out)
				}
			}
			w.f.WorkDir = dir
		}
	}
	checkFailures(t, w, "repo-guess", []failureCase{
		{"origin on another host", checkout("git@gitlab.com:" + vt.Owner + "/" + vt.Name + ".git"), []string{"status"}, ExitError},
		{"origin on github.com, GitHub Enterprise in use", checkout("https://github.com/" + vt.Owner + "/" + vt.Name), []string{"status"}, ExitError},
		{"origin a local path", checkout("/srv/git/access.git"), []string{"status"}, ExitError},
		{"no checkout", func(w *world) { w.f.WorkDir = t.TempDir() }, []string{"status"}, ExitError},
	})
	// An origin on the host in use is the access repository.
	checkout(w.env["GITHUB_API_URL"] + "/" + vt.Owner + "/" + vt.Name + ".git")(w)
	if code := w.run("status"); code != 0 {
		t.Errorf("origin on the GitHub host in use: exit %d: %s", code, w.err)
	}
}

func TestRequestOpensOneBranchOneFileOnePR(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	fake := w.h.GitHub.Fake
	code := w.run("request", "--account", "prod", "--role", "Admin", "--duration", "2h", "--ticket", "INC-77",
		"--reason", "Rotate the TLS certificate on the payments load balancer")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	if n := fake.Calls("POST /repos/{owner}/{repo}/git/refs"); n != 1 {
		t.Errorf("branches created: %d", n)
	}
	if n := fake.Calls("PUT /repos/{owner}/{repo}/contents/{path...}"); n != 1 {
		t.Errorf("files written: %d", n)
	}
	if n := fake.Calls("POST /repos/{owner}/{repo}/pulls"); n != 1 {
		t.Errorf("pull requests opened: %d", n)
	}
	name := "codertocat-admin-inc-77"
	path := "requests/prod/" + w.h.Clock().UTC().Format("2006-01") + "/" + name + ".yaml"
	data, ok := fake.File("elevate/"+name, path)
	want := "requester: Codertocat\naccount: prod\nrole: Admin\nduration: 2h\nreason: Rotate the TLS certificate on the payments load balancer\nticket: INC-77\n"
	if !ok || string(data) != want {
		t.Errorf("file %s = %q (found %v), want %q", path, data, ok, want)
	}
	if !strings.Contains(w.out.String(), "/pull/") || !strings.Contains(w.err.String(), "needs 1 approval(s) from @hubot, @acme/sre-leads") {
		t.Errorf("out %q err %q", w.out, w.err)
	}
	pr := fake.Pull(3)
	if pr == nil || pr.GetUser().GetLogin() != "Codertocat" || len(fake.PullFiles(3)) != 1 {
		t.Fatalf("PR #3 = %v", pr)
	}

	// The status lists the open request as pending, and the merged grant as active.
	fake.Commit(pr.GetHead().GetSHA(), map[string][]byte{path: data}) // keep the fake's commit known for statuses
	if code := w.run("status"); code != 0 || !strings.Contains(w.out.String(), "prod/2026-") || !strings.Contains(w.out.String(), "Active") {
		t.Errorf("status: exit %d\n%s%s", code, w.out, w.err)
	}
}

func TestRejectedRequestCreatesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	before := w.h.GitHub.Fake.TotalCalls()
	checkFailures(t, w, "request-rejected", []failureCase{
		{"rejected request", nil, []string{"request", "--account", "prod", "--role", "Billing", "--duration", "2h", "--ticket", "INC-1", "--reason", "I would like the billing role"}, ExitError},
	})
	for _, route := range []string{"POST /repos/{owner}/{repo}/git/refs", "PUT /repos/{owner}/{repo}/contents/{path...}", "POST /repos/{owner}/{repo}/pulls"} {
		if n := w.h.GitHub.Fake.Calls(route); n != 0 {
			t.Errorf("%s called %d times", route, n)
		}
	}
	t.Logf("the check cost %d GitHub calls", w.h.GitHub.Fake.TotalCalls()-before)
}

func TestDryRunPrintsPathAndYAML(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	code := w.run("request", "--account", "prod", "--role", "Admin", "--duration", "1h", "--ticket", "INC-9", "--reason", "Check the dashboards", "--dry-run", "--name", "try")
	if code != 0 || !strings.HasPrefix(w.out.String(), "# requests/prod/") || !strings.Contains(w.out.String(), "role: Admin") {
		t.Fatalf("exit %d\n%s%s", code, w.out, w.err)
	}
	if n := w.h.GitHub.Fake.Calls("POST /repos/{owner}/{repo}/pulls"); n != 0 {
		t.Error("dry run opened a PR")
	}
}

func TestRevokeOpensDeletionPR(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	fake := w.h.GitHub.Fake
	files := map[string][]byte{}
	for p, d := range w.h.GitHub.BaseFiles {
		files[p] = d
	}
	files[vt.RequestPath] = []byte(vt.Request)
	fake.Commit("e000000000000000000000000000000000000001", files)
	fake.Branch("main", "e000000000000000000000000000000000000001")
	if code := w.run("revoke", "codertocat-admin-inc1", "--reason", "done early"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	pr := fake.Pull(3)
	got := fake.PullFiles(3)
	if pr == nil || len(got) != 1 || got[0].GetFilename() != vt.RequestPath || got[0].GetStatus() != "removed" || !strings.Contains(pr.GetBody(), "done early") {
		t.Fatalf("revocation PR = %v files %v", pr, got)
	}
}

func TestPolicyLint(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if code := w.run("policy", "lint", "--dir", "../.."); code != 0 {
		t.Errorf("the repository's own policy: exit %d\n%s%s", code, w.out, w.err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"eligibility.yaml":   "version: 1\naccounts:\n  prod: \"111111111111\"\nrules:\n  - name: r\n    who: [alice]\n    accounts: [prod, dev]\n    roles: [Admin]\n    max_duration: 1h\n    approvals: 1\n",
		".github/CODEOWNERS": "/requests/prod/ @alice\n",
		"requests/old/.keep": "",
	})
	if code := w.run("policy", "lint", "--dir", dir); code != ExitError {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{`eligibility.yaml:5: accounts: rule r names unknown account "dev"`, "eligibility.yaml:5: approvals: rule r can never be approved in prod", `requests/old/: "old" is not an account`} {
		if !strings.Contains(w.out.String(), want) {
			t.Errorf("lint output lacks %q:\n%s", want, w.out)
		}
	}
}

func TestConsolePrintsSigninURL(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if code := w.run("console", "--request", vt.RequestID); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	url := strings.TrimSpace(w.out.String())
	if !strings.HasPrefix(url, w.h.STS.SigninURL()+"?Action=login") || !strings.Contains(url, "SigninToken=") {
		t.Errorf("url = %q", url)
	}
	var opened string
	w.f.Browser = func(u string) error { opened = u; return nil }
	if code := w.run("console", "--account", "prod", "--role", "Admin", "--open"); code != 0 || !strings.HasPrefix(opened, w.h.STS.SigninURL()) || w.out.Len() != 0 {
		t.Errorf("--open: exit %d opened %q out %q", code, opened, w.out)
	}
}

// countingTransport fails the test on any request: nothing may be sent.
type countingTransport struct{ n int }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n++
	return nil, errors.New("no request may be sent")
}

// The CLI refuses a plain-http broker URL off this machine before it
// connects: the login token would cross the network in clear.
func TestPlainHTTPBrokerURLRefusedBeforeConnecting(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url  string
		okay bool
	}{
		{"http://elevate.example.com", false},
		{"http://10.0.0.5:8080", false},
		{"ftp://elevate.example.com", false},
		{"https://user:pw@elevate.example.com", false},
		{"https://elevate.example.com", true},
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
	} {
		env := map[string]string{"GH_TOKEN": "gho_never_sent", "ELEVATE_BROKER_URL": tt.url}
		f, _, errOut := testFactory(env)
		store := &ghauth.Store{Path: t.TempDir() + "/token.json"}
		if err := store.Save("github.com", ghauth.Token{Access: "ghu_never_sent_either"}); err != nil {
			t.Fatal(err)
		}
		f.TokenStore = func() (*ghauth.Store, error) { return store, nil }
		rt := &countingTransport{}
		f.HTTP = &http.Client{Transport: rt}
		f.Cache = func() (*credcache.Cache, error) { return &credcache.Cache{Dir: t.TempDir()}, nil }
		code := Main(context.Background(), f, []string{"credentials", "--account", "prod", "--role", "Admin", "--no-cache"})
		if tt.okay {
			if rt.n == 0 {
				t.Errorf("%s: accepted URL was never tried", tt.url)
			}
			continue
		}
		if code != ExitError || rt.n != 0 || !strings.Contains(errOut.String(), "https") || strings.Contains(errOut.String(), "pw@") {
			t.Errorf("%s: exit %d, %d requests, %q; want a refusal before any request", tt.url, code, rt.n, errOut)
		}
	}
}

// Once the broker says a grant is revoked, no cached credentials of it are
// served again, under any key.
func TestRevokedGrantIsDroppedFromTheCache(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, args := range [][]string{{"credentials", "--account", "prod", "--role", "Admin"}, {"credentials", "--request", vt.RequestID}} {
		if code := w.run(args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, w.err)
		}
	}
	w.h.Repo.Commit(w.h.Clock(), "revoke", map[string]string{vt.RequestPath: ""})
	w.h.Sync()
	if code := w.run("credentials", "--request", vt.RequestID, "--no-cache"); code != ExitError || !strings.Contains(w.err.String(), "revoked") {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	for _, args := range [][]string{{"credentials", "--account", "prod", "--role", "Admin"}, {"credentials", "--request", vt.RequestID}} {
		if code := w.run(args...); code != ExitError {
			t.Errorf("%v after the broker said revoked: exit %d, served %q", args, code, w.out)
		}
	}
}

// elevate status drops the cached credentials of grants it lists as over.
func TestStatusDropsTheCacheOfEndedGrants(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if code := w.run("credentials", "--account", "prod", "--role", "Admin"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	w.h.Repo.Commit(w.h.Clock(), "revoke", map[string]string{vt.RequestPath: ""})
	w.h.Sync()
	if code := w.run("status", "--all"); code != 0 || !strings.Contains(w.out.String(), "Revoked") {
		t.Fatalf("status: exit %d\n%s%s", code, w.out, w.err)
	}
	cache, _ := w.f.Cache()
	if n, _ := cache.DropRequest(vt.RequestID); n != 0 {
		t.Errorf("%d cached entries of the revoked grant left after elevate status", n)
	}
}

// A permission set's credentials come from AWS SSO, never the broker: the
// CLI says which profile to sign in with; a grant of several targets asked
// by id alone says which to name.
func TestPermissionSetAndTargetsSayWhatToDo(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	policy := vt.WithPermissionSet(brokertest.Policy, "ProdAdmin", "  - {name: prod-sets, who: [Codertocat], accounts: [prod], permission_sets: [ProdAdmin], max_duration: 4h, approvals: 1}\n")
	at := w.h.Clock().Add(-10 * time.Minute)
	w.h.MergeChange(9, map[string]string{"eligibility.yaml": policy}, at.Add(-time.Minute), brokertest.SecurityLead)
	const path = "requests/prod/2026-11/codertocat-both-inc7.yaml"
	both := "requester: Codertocat\ntargets:\n  - {account: prod, role: ReadOnly}\n  - {account: prod, permission_set: ProdAdmin}\n" +
		"duration: 2h\nreason: Fail over the payments database\nticket: INC-7\n"
	sha := w.h.Repo.Commit(at, "Merge pull request #3", map[string]string{path: both})
	w.h.MergePR(3, path, both, sha, at, true)
	w.h.Sync()
	checkFailures(t, w, "failures-targets", []failureCase{
		{"a permission set", nil, []string{"credentials", "--account", "prod", "--role", "ps/ProdAdmin", "--no-cache"}, ExitError},
		{"a grant of several targets by id alone", nil, []string{"credentials", "--request", "codertocat-both-inc7", "--no-cache"}, ExitError},
	})
}
