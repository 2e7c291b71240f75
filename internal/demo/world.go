package demo

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/awscreds/stsfake"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/identity/oidcfake"
	"github.com/elevate-gitops/elevate/internal/validate"
)

const (
	owner, repoName = "acme", "access"
	actionsToken    = "ghs_demoActionsToken"
	brokerToken     = "ghs_demoBrokerToken"
	webhookSecret   = "demo-webhook-secret"
	brokerKeyID     = "AKIADEMOELEVATEBROKR"
	brokerSecret    = "demo-broker-secret"
)

// person is someone in the demo organisation.
type person struct {
	user  *github.User
	token string
}

func newPerson(login string, id int64) person {
	return person{user: &github.User{Login: github.String(login), ID: github.Int64(id), Type: github.String("User")}, token: "gho_demo" + login}
}

// appBot is the bot account of the demo's elevate GitHub App.
var appBot = &github.User{Login: github.String("elevate-app[bot]"), ID: github.Int64(41898283), Type: github.String("Bot")}

var (
	alice = newPerson("alice", 1001)
	bob   = newPerson("bob", 1002)
	carol = newPerson("carol", 1003)
)

const policy = `# Who may request what. The demo's policy.
version: 1
accounts:
  prod: "111111111111"
  staging: "222222222222"
session_duration: 1h
rules:
  - name: sre-prod
    who: ["@acme/sre"]
    accounts: [prod]
    roles: [Admin, ReadOnly]
    max_duration: 4h
    approvals: 1
    ticket: '^INC-[0-9]+$'
    emergency:
      max_duration: 1h
  - name: engineers-staging
    who: [alice, bob, carol]
    accounts: [staging]
    roles: [Developer]
    max_duration: 8h
    approvals: 1
`

const codeowners = `*                   @carol
/requests/prod/     @bob @alice
/requests/staging/  @bob @carol
/eligibility.yaml   @carol
`

// world is the demo's machine: directories, stand-ins and the broker.
type world struct {
	ctx       context.Context
	out       io.Writer
	dir       string
	bin       string
	aws       string // AWS CLI, "" when absent
	access    string // the "GitHub side" git repository (main = merged history)
	ledger    string // the broker's clone
	tree      map[string][]byte
	gh        *githubfake.Fake
	oidc      *oidcfake.Issuer
	sts       *stsfake.Fake
	broker    string // URL
	brokerPID int    // the broker's process
	stop      []func()
	actions   int
}

func (w *world) close() {
	for i := len(w.stop) - 1; i >= 0; i-- {
		w.stop[i]()
	}
}

func (w *world) say(format string, args ...any) { fmt.Fprintf(w.out, format+"\n", args...) }

func (w *world) git(dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(w.ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=GitHub", "GIT_AUTHOR_EMAIL=noreply@github.com",
		"GIT_COMMITTER_NAME=GitHub", "GIT_COMMITTER_EMAIL=noreply@github.com", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// commit applies changes (nil deletes) to the access repository's main, as
// GitHub's merge button would, mirrors the tree into the GitHub stand-in,
// and records the move there (kind: branch_creation, pr_merge, …) by actor.
func (w *world) commit(kind string, actor *github.User, msg string, changes map[string][]byte) (string, error) {
	for p, data := range changes {
		full := filepath.Join(w.access, p)
		if data == nil {
			delete(w.tree, p)
			if _, err := w.git(w.access, "rm", "-q", p); err != nil {
				return "", err
			}
			continue
		}
		w.tree[p] = data
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return "", err
		}
		if _, err := w.git(w.access, "add", p); err != nil {
			return "", err
		}
	}
	if _, err := w.git(w.access, "commit", "-q", "-m", msg); err != nil {
		return "", err
	}
	sha, err := w.git(w.access, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	files := map[string][]byte{}
	for p, d := range w.tree {
		files[p] = d
	}
	w.gh.Commit(sha, files)
	w.gh.Branch("main", sha)
	w.gh.Move(kind, "main", sha, time.Now().UTC().Truncate(time.Second), actor)
	return sha, nil
}

// run runs a binary as person (nil: nobody) and returns its stdout, stderr and exit code.
func (w *world) run(who *person, name string, args ...string) (string, string, int, error) {
	cmd := exec.CommandContext(w.ctx, name, args...)
	home := filepath.Join(w.dir, "home", "nobody")
	if who != nil {
		home = filepath.Join(w.dir, "home", who.user.GetLogin())
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", "", 0, err
	}
	cmd.Dir = w.ledger
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"AWS_CONFIG_FILE=" + filepath.Join(home, ".aws", "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, ".aws", "credentials"),
		"ELEVATE_BROKER_URL=" + w.broker, "ELEVATE_REPO=" + owner + "/" + repoName, "GITHUB_API_URL=" + w.gh.URL,
	}
	if who != nil {
		// Each person has run `elevate login` (the only token the broker
		// takes); GH_TOKEN serves the CLI's own GitHub calls.
		if err := w.login(*who, home); err != nil {
			return "", "", 0, err
		}
		cmd.Env = append(cmd.Env, "GH_TOKEN="+who.token)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	return stdout.String(), stderr.String(), code, err
}

// login stores who's token of elevate's app where `elevate login` would.
func (w *world) login(who person, home string) error {
	host, err := ghauth.HostFor(w.gh.URL)
	if err != nil {
		return err
	}
	store := &ghauth.Store{Path: filepath.Join(home, ".config", "elevate", "token.json")}
	return store.Save(host, ghauth.Token{Access: who.token, UserID: who.user.GetID()})
}

// elevate runs the CLI as who and prints it as a terminal would show it.
func (w *world) elevate(who person, args ...string) (string, string, int, error) {
	w.say("\n  %s$ elevate %s", who.user.GetLogin(), shellJoin(args))
	stdout, stderr, code, err := w.run(&who, filepath.Join(w.bin, "elevate"), args...)
	for _, line := range strings.Split(strings.TrimRight(stdout+stderr, "\n"), "\n") {
		if line != "" {
			w.say("    %s", line)
		}
	}
	return stdout, stderr, code, err
}

func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \"'$") {
			a = "\"" + a + "\""
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// action runs elevate-action for an event on PR number, as the workflow would.
func (w *world) action(eventName, action string, number int, reviewer *github.User) (verdict string, code int, err error) {
	pr := w.gh.Pull(number)
	repo := &github.Repository{Name: github.String(repoName), FullName: github.String(owner + "/" + repoName), Owner: &github.User{Login: github.String(owner)}}
	var payload any
	switch eventName {
	case "workflow_run":
		// A review starts elevate-review, which holds no secret; its
		// completion wakes the judge on the default branch, as in GitHub.
		payload = &github.WorkflowRunEvent{Action: github.String(action), Repo: repo, WorkflowRun: &github.WorkflowRun{
			ID: github.Int64(int64(1000 + w.actions)), Name: github.String(validate.ReviewWorkflow), Event: github.String("pull_request_review"),
			Status: github.String("completed"), Conclusion: github.String("success"), HeadSHA: pr.Head.SHA, HeadBranch: pr.Head.Ref,
			HeadRepository: repo, Actor: reviewer, PullRequests: []*github.PullRequest{{Number: pr.Number, Head: pr.Head, Base: pr.Base}}}}
	default:
		payload = &github.PullRequestTargetEvent{Action: github.String(action), Number: github.Int(number), PullRequest: pr, Repo: repo}
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return "", 0, err
	}
	w.actions++
	dir := filepath.Join(w.dir, "actions", fmt.Sprint(w.actions))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, err
	}
	event, output, summary := filepath.Join(dir, "event.json"), filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, p := range []string{output, summary} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			return "", 0, err
		}
	}
	if err := os.WriteFile(event, data, 0o600); err != nil {
		return "", 0, err
	}
	cmd := exec.CommandContext(w.ctx, filepath.Join(w.bin, "elevate-action"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GITHUB_ACTIONS=true",
		"GITHUB_EVENT_NAME=" + eventName, "GITHUB_EVENT_PATH=" + event, "GITHUB_REPOSITORY=" + owner + "/" + repoName,
		"GITHUB_API_URL=" + w.gh.URL, "GITHUB_SERVER_URL=https://github.example", "GITHUB_RUN_ID=" + fmt.Sprint(w.actions),
		"GITHUB_TOKEN=" + actionsToken, "GITHUB_OUTPUT=" + output, "GITHUB_STEP_SUMMARY=" + summary}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("elevate-action: %w: %s", err, out)
	}
	outputs, _ := os.ReadFile(output)
	for _, line := range strings.Split(string(outputs), "\n") {
		if strings.HasPrefix(line, "approved") || strings.HasPrefix(line, "pending") || strings.HasPrefix(line, "rejected") {
			verdict = line
			break
		}
	}
	return verdict, code, nil
}

// status is the latest elevate commit status on PR number's head.
func (w *world) status(number int) (state, description string) {
	st := w.gh.Statuses(w.gh.Pull(number).GetHead().GetSHA())
	if len(st) == 0 {
		return "", ""
	}
	return st[len(st)-1].GetState(), st[len(st)-1].GetDescription()
}

// merge merges PR number: the commit lands on main, the PR records it, and
// GitHub's push webhook reaches the broker.
func (w *world) merge(number int) (string, error) {
	pr := w.gh.Pull(number)
	changes := map[string][]byte{}
	for _, f := range w.gh.PullFiles(number) {
		if f.GetStatus() == "removed" {
			changes[f.GetFilename()] = nil
			continue
		}
		data, ok := w.gh.File(pr.GetHead().GetSHA(), f.GetFilename())
		if !ok {
			return "", fmt.Errorf("PR #%d: %s missing at its head", number, f.GetFilename())
		}
		changes[f.GetFilename()] = data
	}
	sha, err := w.commit("pr_merge", pr.GetUser(), fmt.Sprintf("Merge pull request #%d from %s", number, pr.GetHead().GetRef()), changes)
	if err != nil {
		return "", err
	}
	pr.State = github.String("closed")
	pr.Merged = github.Bool(true)
	pr.MergedAt = &github.Timestamp{Time: time.Now().UTC().Truncate(time.Second)}
	pr.MergeCommitSHA = github.String(sha)
	w.gh.AddPull(pr, w.gh.PullFiles(number))
	return sha, w.webhook(sha)
}

// webhook sends the signed push event GitHub sends after a merge.
func (w *world) webhook(sha string) error {
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "after": sha, "repository": map[string]any{"full_name": owner + "/" + repoName}})
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(w.ctx, "POST", w.broker+brokerapi.PathWebhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusAccepted:
		// The broker answered before its sync ended (a slow machine): the
		// demo goes on once the broker has read sha.
		return w.waitHead(sha)
	}
	return fmt.Errorf("webhook: the broker answered %s", resp.Status)
}

// waitHead waits until the broker's /healthz reports sha as its head.
func (w *world) waitHead(sha string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		var h brokerapi.Health
		resp, err := http.Get(w.broker + brokerapi.PathHealth)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
		}
		if err == nil && h.Head == sha {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook: the broker did not read %.12s within 20 s (head %.12s, %v)", sha, h.Head, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
