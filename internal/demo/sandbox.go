package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/privfile"
)

// The sandbox is the demo's world left running for a person to try by
// hand: the stand-ins for GitHub and AWS, the access repository and a real
// broker. You are alice; bob and carol approve through the sandbox's
// control endpoint (elevate-sandbox approve/merge), which plays GitHub's
// review and merge buttons and runs the judge as the workflows would.

// SandboxOptions configure a sandbox.
type SandboxOptions struct {
	Out    io.Writer // the log
	BinDir string    // holds elevate, elevate-action and elevate-broker
	Dir    string    // where its state, env file and pid file live
}

// Files of a sandbox directory.
const (
	SandboxEnv = "env"     // to source: the CLI and AWS CLI pointed at the stand-ins
	SandboxTry = "try.txt" // what to try
	SandboxPID = "pid"
	BrokerPID  = "broker.pid" // the sandbox's broker, which ends with it
	SandboxLog = "sandbox.log"
)

// sandbox is a running sandbox.
type sandbox struct {
	w      *world
	mu     sync.Mutex     // the world is one person's desk: one action at a time
	judged map[int]string // PR number -> the head the judge last ran on
}

// Sandbox sets the world up, writes the env file (last: its presence says
// the sandbox is ready) and serves until ctx ends.
func Sandbox(ctx context.Context, o SandboxOptions) error {
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	state := filepath.Join(dir, "state")
	if err := os.RemoveAll(state); err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	w := &world{ctx: ctx, out: o.Out, bin: bin, dir: state, tree: map[string][]byte{}}
	defer w.close()
	if err := w.setUp(); err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	s := &sandbox{w: w, judged: map[int]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	go s.watch(ctx)

	home := filepath.Join(state, "home", alice.user.GetLogin())
	if err := w.login(alice, home); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		return err
	}
	env := map[string]string{
		"ELEVATE_BROKER_URL":          w.broker,
		"ELEVATE_REPO":                owner + "/" + repoName,
		"GITHUB_API_URL":              w.gh.URL,
		"GH_TOKEN":                    alice.token,
		"XDG_CONFIG_HOME":             filepath.Join(home, ".config"),
		"XDG_CACHE_HOME":              filepath.Join(home, ".cache"),
		"AWS_CONFIG_FILE":             filepath.Join(home, ".aws", "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, ".aws", "credentials"),
		"AWS_ENDPOINT_URL_STS":        w.sts.URL,
		"AWS_REGION":                  "us-east-1",
		"AWS_DEFAULT_REGION":          "us-east-1", // the AWS CLI v1's name
		"ELEVATE_SANDBOX_URL":         "http://" + ln.Addr().String(),
		"ELEVATE_SANDBOX_DIR":         dir,
	}
	var b strings.Builder
	b.WriteString("# The elevate sandbox: source this file in a shell of its own (you are alice).\n")
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, awscreds.ShellQuote(env[k]))
	}
	fmt.Fprintf(&b, "export PATH=%s:\"$PATH\"\n", awscreds.ShellQuote(bin))
	if err := os.WriteFile(filepath.Join(dir, BrokerPID), []byte(strconv.Itoa(w.brokerPID)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, SandboxTry), []byte(tryText(dir, w)), 0o644); err != nil {
		return err
	}
	if err := privfile.WriteAtomic(dir, filepath.Join(dir, SandboxEnv), []byte(b.String())); err != nil {
		return err
	}
	w.say("\n✔ The sandbox is ready: source %s", filepath.Join(dir, SandboxEnv))
	<-ctx.Done()
	os.Remove(filepath.Join(dir, SandboxEnv))
	w.say("Stopping the sandbox.")
	return nil
}

func tryText(dir string, w *world) string {
	env := filepath.Join(dir, SandboxEnv)
	return `The elevate sandbox is running: local stand-ins for GitHub and AWS, the access repository
acme/access (accounts prod and staging) and a real elevate-broker at ` + w.broker + `.
You are alice (team @acme/sre); bob approves requests for prod, carol for staging.

In a new shell:

  source ` + env + `
  elevate request --account prod --role Admin --duration 1h --ticket INC-1 --reason "try the sandbox"
  elevate status                                  # pending: bob must approve
  elevate-sandbox approve 1 --as bob              # bob approves on "GitHub"; the check runs again
  elevate-sandbox merge 1                         # merging is the grant
  elevate credentials --account prod --role Admin --format env
  elevate configure --write                       # profiles elevate-<account>-<role> in the sandbox's AWS config
  aws sts get-caller-identity --profile elevate-prod-Admin --endpoint-url "$AWS_ENDPOINT_URL_STS"
  elevate console --account prod --role Admin
  elevate status
  elevate revoke <the request id> && elevate-sandbox merge 2
  elevate audit --dir ` + w.access + `

Everything stays on this machine. Stop it with: make sandbox-stop
`
}

// watch runs the judge on every pull request that is new or has a new
// head, as the workflow would on pull_request_target.
func (s *sandbox) watch(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		for n := 1; ; n++ {
			pr := s.w.gh.Pull(n)
			if pr == nil {
				break
			}
			head := pr.GetHead().GetSHA()
			if pr.GetState() != "open" || s.judged[n] == head {
				continue
			}
			event := "opened"
			if s.judged[n] != "" {
				event = "synchronize"
			}
			s.judged[n] = head
			if _, _, err := s.w.action("pull_request_target", event, n, nil); err != nil {
				s.w.say("the judge on #%d: %v", n, err)
			}
		}
		s.mu.Unlock()
	}
}

func (s *sandbox) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /approve", func(rw http.ResponseWriter, r *http.Request) {
		s.answer(rw, func() (string, error) { return s.approve(r.FormValue("pr"), r.FormValue("as")) })
	})
	mux.HandleFunc("POST /merge", func(rw http.ResponseWriter, r *http.Request) {
		s.answer(rw, func() (string, error) { return s.merge(r.FormValue("pr")) })
	})
	mux.HandleFunc("GET /pulls/{n}", func(rw http.ResponseWriter, r *http.Request) {
		s.answer(rw, func() (string, error) {
			n, err := s.pull(r.PathValue("n"))
			if err != nil {
				return "", err
			}
			state, desc := s.w.status(n)
			return fmt.Sprintf("#%d elevate %s: %s", n, state, desc), nil
		})
	})
	return mux
}

func (s *sandbox) answer(rw http.ResponseWriter, f func() (string, error)) {
	s.mu.Lock()
	msg, err := f()
	s.mu.Unlock()
	if err != nil {
		http.Error(rw, err.Error(), http.StatusConflict)
		return
	}
	fmt.Fprintln(rw, msg)
}

func (s *sandbox) pull(number string) (int, error) {
	n, err := strconv.Atoi(number)
	if err != nil || s.w.gh.Pull(n) == nil {
		return 0, fmt.Errorf("there is no pull request #%s: elevate request opens one", number)
	}
	return n, nil
}

// approve is who's approval of the PR's head, and the judge it wakes.
func (s *sandbox) approve(number, login string) (string, error) {
	n, err := s.pull(number)
	if err != nil {
		return "", err
	}
	var who *person
	for _, p := range []person{alice, bob, carol} {
		if strings.EqualFold(p.user.GetLogin(), login) {
			who = &p
		}
	}
	if who == nil {
		return "", fmt.Errorf("%q is nobody here: approve --as bob or --as carol (alice is you)", login)
	}
	if s.w.gh.Pull(n).GetState() != "open" {
		return "", fmt.Errorf("#%d is closed", n)
	}
	s.w.review(n, *who)
	s.judged[n] = s.w.gh.Pull(n).GetHead().GetSHA()
	if _, _, err := s.w.action("workflow_run", "completed", n, who.user); err != nil {
		return "", err
	}
	state, desc := s.w.status(n)
	return fmt.Sprintf("%s approved #%d; elevate %s: %s", who.user.GetLogin(), n, state, desc), nil
}

// merge merges the PR as GitHub would with the elevate check required: only
// when it is green.
func (s *sandbox) merge(number string) (string, error) {
	n, err := s.pull(number)
	if err != nil {
		return "", err
	}
	pr := s.w.gh.Pull(n)
	if pr.GetMerged() || pr.GetState() != "open" {
		return "", fmt.Errorf("#%d is already closed", n)
	}
	if s.judged[n] != pr.GetHead().GetSHA() {
		return "", errors.New("the elevate check has not run on this head yet: try again in a second")
	}
	if state, desc := s.w.status(n); state != "success" {
		return "", fmt.Errorf("branch protection: the elevate check is %s (%s); it must pass first", state, desc)
	}
	sha, err := s.w.merge(n)
	if err != nil {
		return "", err
	}
	if _, _, err := s.w.action("pull_request_target", "closed", n, nil); err != nil {
		return "", err
	}
	comments := s.w.gh.Comments(n)
	last := ""
	if len(comments) > 0 {
		last = firstLine(comments[len(comments)-1].GetBody(), "active from")
	}
	return fmt.Sprintf("merged #%d as %.12s; the broker has it. %s", n, sha, last), nil
}
