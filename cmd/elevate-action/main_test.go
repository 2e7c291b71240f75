package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "elevate-action-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "elevate-action")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build elevate-action: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type run struct {
	exit    int
	stdout  string
	outputs string
	summary string
}

// runAction runs the built binary as a workflow step would; set changes
// the environment (an empty value unsets a variable).
func runAction(t *testing.T, s *vt.Scenario, eventName, event string, set ...string) run {
	t.Helper()
	dir := t.TempDir()
	env := s.Env(t, eventName, event, dir)
	for i := 0; i+1 < len(set); i += 2 {
		if set[i+1] == "" {
			delete(env, set[i])
		} else {
			env[set[i]] = set[i+1]
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	r := run{stdout: string(out)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	o, _ := os.ReadFile(env["GITHUB_OUTPUT"])
	sm, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
	r.outputs, r.summary = string(o), string(sm)
	if strings.Contains(r.stdout, vt.Token) || strings.Contains(r.outputs, vt.Token) || strings.Contains(r.summary, vt.Token) {
		t.Error("the token leaked into the Action's output")
	}
	return r
}

func TestBinaryPendingThenApproved(t *testing.T) {
	s := vt.New(t, 3)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)

	r := runAction(t, s, "pull_request_target", "pull_request.opened.with-organization.json")
	if r.exit != 0 {
		t.Fatalf("pending exited %d:\n%s", r.exit, r.stdout)
	}
	st := s.Fake.Statuses(vt.HeadSHA)
	if len(st) != 1 || st[0].GetState() != "pending" || st[0].GetContext() != "elevate" || st[0].GetTargetURL() != "https://github.com/Codertocat/Hello-World/actions/runs/42" {
		t.Fatalf("statuses = %v", st)
	}
	for _, want := range []string{"verdict<<", "pending", "request<<", vt.RequestID} {
		if !strings.Contains(r.outputs, want) {
			t.Errorf("GITHUB_OUTPUT lacks %q:\n%s", want, r.outputs)
		}
	}
	if !strings.Contains(r.summary, "elevate: pending") {
		t.Errorf("summary = %q", r.summary)
	}
	first := s.Fake.Comments(vt.Number)
	if len(first) != 1 {
		t.Fatalf("%d comments after the first run", len(first))
	}

	// The review wakes elevate-review, whose completion runs the judge.
	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, time.Now())
	r = runAction(t, s, "workflow_run", "workflow_run.completed.json")
	if r.exit != 0 {
		t.Fatalf("approved exited %d:\n%s", r.exit, r.stdout)
	}
	st = s.Fake.Statuses(vt.HeadSHA)
	if got := st[len(st)-1].GetState(); got != "success" {
		t.Errorf("status = %s, want success", got)
	}
	comments := s.Fake.Comments(vt.Number)
	if len(comments) != 1 || comments[0].GetID() != first[0].GetID() {
		t.Fatalf("comments = %d (ids %d vs %d), want the same one comment updated", len(comments), comments[0].GetID(), first[0].GetID())
	}
	if !strings.Contains(comments[0].GetBody(), "elevate: approved") {
		t.Errorf("comment not updated: %q", comments[0].GetBody())
	}
	if !strings.Contains(r.outputs, "approved") {
		t.Errorf("outputs = %q", r.outputs)
	}
}

func TestBinaryRejectedExitsNonZero(t *testing.T) {
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(strings.Replace(vt.Request, "requester: Codertocat", "requester: hubot", 1))}, nil)
	r := runAction(t, s, "pull_request_target", "pull_request.synchronize.json")
	if r.exit != 1 {
		t.Fatalf("exit = %d, want 1:\n%s", r.exit, r.stdout)
	}
	if !strings.Contains(r.stdout, "::error file="+vt.RequestPath+",line=1,title=elevate::") {
		t.Errorf("no annotation on the requester line:\n%s", r.stdout)
	}
	st := s.Fake.Statuses(vt.HeadSHA)
	if st[len(st)-1].GetState() != "failure" {
		t.Errorf("status = %s", st[len(st)-1].GetState())
	}
}

// The workflow passes the App's token as the input token, and the Action
// uses it over GITHUB_TOKEN; with neither it fails.
func TestBinaryTokenFromInput(t *testing.T) {
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, time.Now())
	r := runAction(t, s, "workflow_run", "workflow_run.completed.json", "INPUT_TOKEN", vt.Token, "GITHUB_TOKEN", "ghs_workflow-token-not-to-be-used")
	if r.exit != 0 {
		t.Fatalf("exit %d:\n%s", r.exit, r.stdout)
	}
	if st := s.Fake.Statuses(vt.HeadSHA); len(st) != 1 || st[0].GetState() != "success" {
		t.Fatalf("statuses = %v, want one success", st)
	}

	r = runAction(t, s, "workflow_run", "workflow_run.completed.json", "GITHUB_TOKEN", "")
	if r.exit != 1 || !strings.Contains(r.stdout, "no GitHub token") {
		t.Errorf("without a token: exit %d:\n%s", r.exit, r.stdout)
	}
}

func TestBinaryWithoutEnvironmentFailsClearly(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "GITHUB_EVENT_NAME and GITHUB_EVENT_PATH must be set") {
		t.Fatalf("err = %v, out = %s", err, out)
	}
}

func TestBinaryVersion(t *testing.T) {
	out, err := exec.Command(binary, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "elevate-action ") || !strings.Contains(string(out), "revision ") {
		t.Fatalf("--version = %q, %v", out, err)
	}
}
