package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/awscreds/stsfake"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/identity/oidcfake"
)

// Options configure a demo run.
type Options struct {
	Out    io.Writer
	BinDir string // holds elevate, elevate-action and elevate-broker
	// AWSCLI is the AWS CLI to call; "" finds one on PATH (or /usr/bin/aws).
	AWSCLI string
	// RequireAWSCLI fails the demo when no AWS CLI is found (tests, CI).
	RequireAWSCLI bool
}

// Run tells the story and checks every step.
func Run(ctx context.Context, o Options) (err error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return err
	}
	w := &world{ctx: ctx, out: o.Out, bin: bin, tree: map[string][]byte{}}
	defer w.close()
	if w.dir, err = os.MkdirTemp("", "elevate-demo-"); err != nil {
		return err
	}
	w.stop = append(w.stop, func() { os.RemoveAll(w.dir) })
	w.aws = o.AWSCLI
	if w.aws == "" {
		for _, c := range []string{"aws", "/usr/bin/aws"} {
			if p, err := exec.LookPath(c); err == nil {
				w.aws = p
				break
			}
		}
	}
	if w.aws == "" && o.RequireAWSCLI {
		return errors.New("no AWS CLI found: install it (apt-get install awscli)")
	}
	if err := w.setUp(); err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	for _, s := range story {
		w.say("\n== %s", s.title)
		if err := s.run(w); err != nil {
			return fmt.Errorf("step %q: %w", s.title, err)
		}
	}
	w.say("\n✔ Every step behaved as described. Cleaning up %s.", w.dir)
	return nil
}

func (w *world) setUp() error {
	w.say("== A throw-away access repository and local stand-ins")
	logf := func(format string, args ...any) { log.Printf("stand-in: "+format, args...) }
	var stop func()
	w.gh, stop = githubfake.NewServer(logf)
	w.stop = append(w.stop, stop)
	w.gh.Repo(owner, repoName)
	for _, p := range []person{alice, bob, carol} {
		w.gh.Token(p.token, p.user)
	}
	// The judge and the broker act as elevate's GitHub App, as in
	// production: its comments are the only ones elevate reads back.
	w.gh.Token(actionsToken, appBot)
	w.gh.Token(brokerToken, appBot)
	w.gh.TeamMember("acme", "sre", "alice", "active")
	w.oidc, stop = oidcfake.NewServer()
	w.stop = append(w.stop, stop)
	w.sts, stop = stsfake.NewServer()
	w.stop = append(w.stop, stop)
	w.sts.AddKey(brokerKeyID, brokerSecret, "arn:aws:iam::999999999999:user/elevate-broker")

	w.access = filepath.Join(w.dir, "access")
	if err := os.MkdirAll(w.access, 0o755); err != nil {
		return err
	}
	if _, err := w.git(w.access, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	anchor, err := w.commit("branch_creation", nil, "Set up the access repository", map[string][]byte{
		"eligibility.yaml": []byte(policy), ".github/CODEOWNERS": []byte(codeowners),
		"requests/README.md": []byte("# Requests\n"),
	})
	if err != nil {
		return err
	}
	w.ledger = filepath.Join(w.dir, "ledger")
	if _, err := w.git(w.dir, "clone", "-q", w.access, w.ledger); err != nil {
		return err
	}
	w.say("  access repository  %s (2 accounts: prod, staging; people: alice, bob, carol; team @acme/sre = alice)", w.access)
	w.say("  GitHub REST API    %s   (local stand-in)", w.gh.URL)
	w.say("  GitHub OIDC issuer %s   (local stand-in)", w.oidc.URL)
	w.say("  AWS STS + sign-in  %s   (local stand-in)", w.sts.URL)

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	w.broker = "http://" + addr
	cmd := exec.CommandContext(w.ctx, filepath.Join(w.bin, "elevate-broker"),
		"--listen", addr, "--ledger", w.ledger, "--branch", "main", "--repo", owner+"/"+repoName, "--trust-anchor", anchor,
		"--github-api-url", w.gh.URL, "--oidc-issuer", w.oidc.URL, "--sts-endpoint", w.sts.URL,
		"--signin-url", w.sts.SigninURL(), "--webhook-secret", webhookSecret, "--sync-interval", "1m",
		"--github-client-id", githubfake.ClientID) // the stand-in's app, whose tokens the people hold
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.dir, "ELEVATE_GITHUB_TOKEN=" + brokerToken,
		"ELEVATE_GITHUB_CLIENT_SECRET=" + githubfake.ClientSecret,
		"AWS_ACCESS_KEY_ID=" + brokerKeyID, "AWS_SECRET_ACCESS_KEY=" + brokerSecret, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
	logFile, err := os.Create(filepath.Join(w.dir, "broker.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	w.brokerPID = cmd.Process.Pid
	w.stop = append(w.stop, func() { cmd.Process.Signal(os.Interrupt); cmd.Wait(); logFile.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(w.broker + brokerapi.PathHealth)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(w.dir, "broker.log"))
			return fmt.Errorf("the broker did not become healthy: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.say("  elevate-broker     %s   (the real broker; ledger: a clone of the access repository)", w.broker)
	return nil
}

type step struct {
	title string
	run   func(*world) error
}

var prURL = regexp.MustCompile(`/pull/(\d+)`)

// The story, in order; each step checks what it promises.
var story = []step{
	{"alice asks for Admin in prod", func(w *world) error {
		out, errOut, code, err := w.elevate(alice, "request", "--account", "prod", "--role", "Admin", "--duration", "2h",
			"--ticket", "INC-4821", "--reason", "Rotate the TLS certificate on the payments load balancer")
		if err != nil || code != 0 {
			return fmt.Errorf("exit %d %v", code, err)
		}
		if !prURL.MatchString(out) || !strings.Contains(errOut, "needs 1 approval(s) from @bob") {
			return fmt.Errorf("want a PR URL and the approvers, got %q %q", out, errOut)
		}
		return nil
	}},
	{"the elevate check runs on the PR: pending, with the owners who may approve", func(w *world) error {
		return w.expectVerdict("pull_request_target", "opened", 1, nil, "pending", "@bob")
	}},
	{"alice approves her own PR: it does not count", func(w *world) error {
		w.review(1, alice)
		return w.expectVerdict("workflow_run", "completed", 1, alice.user, "pending", "@bob")
	}},
	{"bob approves: the check turns green", func(w *world) error {
		w.review(1, bob)
		return w.expectVerdict("workflow_run", "completed", 1, bob.user, "success", "")
	}},
	{"the PR is merged: that is the grant", func(w *world) error {
		sha, err := w.merge(1)
		if err != nil {
			return err
		}
		w.say("  merged as %.12s; GitHub's push webhook reached the broker", sha)
		if _, code, err := w.action("pull_request_target", "closed", 1, nil); err != nil || code != 0 {
			return fmt.Errorf("the Action on the merged PR: exit %d %v", code, err)
		}
		comments := w.gh.Comments(1)
		last := comments[len(comments)-1].GetBody()
		if !strings.Contains(last, "active from") || !strings.Contains(last, "elevate credentials --request") {
			return fmt.Errorf("merge comment = %q", last)
		}
		w.say("  the Action comments: %s", firstLine(last, "granted"))
		return nil
	}},
	{"alice uses the AWS CLI with a credential_process profile", func(w *world) error {
		return w.callerIdentity()
	}},
	{"alice opens the AWS console", func(w *world) error {
		out, _, code, err := w.elevate(alice, "console", "--account", "prod", "--role", "Admin")
		if err != nil || code != 0 || !strings.HasPrefix(out, w.sts.SigninURL()+"?Action=login") {
			return fmt.Errorf("exit %d %v: %q", code, err, out)
		}
		return nil
	}},
	{"carol audits: the grant, its window and its approver", func(w *world) error {
		out, _, code, err := w.elevate(carol, "audit", "--dir", w.access, "--since", "24h")
		if err != nil || code != 0 || !strings.Contains(out, "prod/") || !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
			return fmt.Errorf("exit %d %v: %q", code, err, out)
		}
		return nil
	}},
	{"alice is done early and revokes the grant", func(w *world) error {
		out, _, code, err := w.elevate(alice, "revoke", "alice-admin-inc-4821", "--reason", "certificate rotated")
		if err != nil || code != 0 || !prURL.MatchString(out) {
			return fmt.Errorf("exit %d %v: %q", code, err, out)
		}
		if err := w.expectVerdict("pull_request_target", "opened", 2, nil, "success", ""); err != nil {
			return err
		}
		sha, err := w.merge(2)
		if err != nil {
			return err
		}
		w.say("  the revocation merged as %.12s (its requester may revoke without review)", sha)
		return nil
	}},
	{"the next credentials are refused: revoked", func(w *world) error {
		_, errOut, code, err := w.elevate(alice, "credentials", "--account", "prod", "--role", "Admin", "--no-cache")
		if err != nil || code != 1 || !strings.Contains(errOut, "revoked") {
			return fmt.Errorf("want exit 1 with revoked, got %d %v %q", code, err, errOut)
		}
		w.say("  (sessions issued before the revocation end at their expiry, at most session_duration; see docs/broker.md, Ending sessions)")
		return nil
	}},
}

func firstLine(body, containing string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, containing) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func (w *world) review(number int, who person) {
	pr := w.gh.Pull(number)
	w.say("\n  %s approves #%d on GitHub", who.user.GetLogin(), number)
	w.gh.AddReview(number, &github.PullRequestReview{User: who.user, State: github.String("APPROVED"), CommitID: github.String(pr.GetHead().GetSHA()),
		SubmittedAt: &github.Timestamp{Time: time.Now().UTC().Truncate(time.Second)}}) // GitHub times are whole seconds
}

// expectVerdict runs the Action and checks the commit status it posts.
func (w *world) expectVerdict(eventName, action string, number int, reviewer *github.User, wantState, wantIn string) error {
	_, code, err := w.action(eventName, action, number, reviewer)
	if err != nil {
		return err
	}
	state, desc := w.status(number)
	w.say("  elevate-action (%s %s): exit %d, status elevate = %s: %s", eventName, action, code, state, desc)
	if state != wantState || !strings.Contains(desc, wantIn) {
		return fmt.Errorf("status = %s %q, want %s containing %q", state, desc, wantState, wantIn)
	}
	if len(w.gh.Comments(number)) != 1 && action != "closed" {
		return fmt.Errorf("%d verdict comments on #%d, want one sticky comment", len(w.gh.Comments(number)), number)
	}
	return nil
}

// callerIdentity runs `aws sts get-caller-identity` through a profile whose
// credential_process is `elevate credentials`, twice: the second is cached.
func (w *world) callerIdentity() error {
	home := filepath.Join(w.dir, "home", "alice")
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		return err
	}
	profile := fmt.Sprintf("[default]\nregion = us-east-1\ncredential_process = %s credentials --account prod --role Admin\n", filepath.Join(w.bin, "elevate"))
	if err := os.WriteFile(filepath.Join(home, ".aws", "config"), []byte(profile), 0o600); err != nil {
		return err
	}
	w.say("  ~/.aws/config: credential_process = elevate credentials --account prod --role Admin")
	if w.aws == "" {
		out, _, code, err := w.elevate(alice, "credentials", "--account", "prod", "--role", "Admin")
		if err != nil || code != 0 || !strings.Contains(out, `"Version":1`) {
			return fmt.Errorf("exit %d %v: %q", code, err, out)
		}
		w.say("  (no AWS CLI here: install it to see get-caller-identity through this profile)")
		return nil
	}
	for i, note := range []string{"", " (served from the cache: the broker is not asked again)"} {
		w.say("\n  alice$ aws sts get-caller-identity%s", note)
		before := w.sts.Calls("AssumeRole")
		out, errOut, code, err := w.run(&alice, w.aws, "sts", "get-caller-identity", "--endpoint-url", w.sts.URL, "--output", "text", "--query", "Arn")
		if err != nil || code != 0 {
			return fmt.Errorf("aws: exit %d %v: %s", code, err, errOut)
		}
		arn := strings.TrimSpace(out)
		w.say("    %s", arn)
		if !strings.HasPrefix(arn, "arn:aws:sts::111111111111:assumed-role/Admin/gh-alice-prod-") {
			return fmt.Errorf("unexpected identity %q", arn)
		}
		if i == 1 && w.sts.Calls("AssumeRole") != before {
			return errors.New("the second call was not served from the cache")
		}
	}
	return nil
}
