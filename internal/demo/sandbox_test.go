package demo

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// make sandbox, walked as a person would: the sandbox starts detached and
// prints what to try; in a shell that sourced its env file the real CLI
// requests, bob approves and the PR merges through the sandbox's buttons,
// elevate configure writes the profiles and the AWS CLI signs in through
// one; make sandbox-stop ends it, broker included.
func TestSandboxStartedUsedAndStopped(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../../cmd/elevate", "../../cmd/elevate-action", "../../cmd/elevate-broker", "./cmd/elevate-sandbox")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	sandbox := filepath.Join(bin, "elevate-sandbox")
	start := time.Now()
	out, err := exec.Command(sandbox, "start", "--dir", dir, "--bin", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(sandbox, "stop", "--dir", dir).Run() })
	for _, want := range []string{"source " + filepath.Join(dir, "env"), "elevate request --account prod", "elevate-sandbox approve 1 --as bob", "make sandbox-stop"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("start does not say %q:\n%s", want, out)
		}
	}
	if again, err := exec.Command(sandbox, "start", "--dir", dir, "--bin", bin).CombinedOutput(); err == nil || !strings.Contains(string(again), "already runs") {
		t.Errorf("a second start: %v %s", err, again)
	}

	// A shell that sourced the env file; HOME is the test's, untouched.
	home := t.TempDir()
	sh := func(script string) (string, error) {
		cmd := exec.Command("bash", "-ec", "source "+filepath.Join(dir, "env")+"\n"+script)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		err := cmd.Run()
		return b.String(), err
	}
	steps := []struct{ script, want string }{
		{`elevate request --account prod --role Admin --duration 1h --ticket INC-1 --reason "try the sandbox"`, "needs 1 approval(s) from @bob"},
		{`elevate-sandbox merge 1 || true`, "branch protection: the elevate check is pending"},
		{`elevate-sandbox approve 1 --as carol`, "elevate pending"},
		{`elevate-sandbox approve 1 --as bob`, "elevate success"},
		{`elevate-sandbox merge 1`, "active from"},
		{`elevate credentials --account prod --role Admin --format process`, `"Version":1`},
	}
	for _, s := range steps {
		var got string
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err = sh(s.script)
			// The sandbox judges a new PR within a fraction of a second:
			// until then a merge is told to wait.
			if !strings.Contains(got, "has not run on this head yet") || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil || !strings.Contains(got, s.want) {
			t.Fatalf("%s: %v\n%s\nwant %q", s.script, err, got, s.want)
		}
	}
	t.Logf("make sandbox to the first credential: %s", time.Since(start).Round(time.Millisecond))
	aws := ""
	for _, c := range []string{"aws", "/usr/bin/aws"} {
		if p, err := exec.LookPath(c); err == nil {
			aws = p
			break
		}
	}
	if aws == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no AWS CLI")
		}
		t.Skip("no AWS CLI: apt-get install awscli")
	}
	got, err := sh(`elevate configure --write` + "\n" + aws + ` sts get-caller-identity --profile elevate-prod-Admin --endpoint-url "$AWS_ENDPOINT_URL_STS" --output text --query Arn`)
	if err != nil || !strings.Contains(got, "arn:aws:sts::111111111111:assumed-role/Admin/gh-alice-prod-") {
		t.Fatalf("configure and the AWS CLI: %v\n%s", err, got)
	}
	if _, err := os.Stat(filepath.Join(home, ".aws")); err == nil {
		t.Error("the sandbox wrote the person's own ~/.aws")
	}

	data, err := os.ReadFile(filepath.Join(dir, BrokerPID))
	if err != nil {
		t.Fatal(err)
	}
	broker, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !alive(broker) {
		t.Fatalf("the sandbox's broker %q is not running (%v)", data, err)
	}
	if out, err := exec.Command(sandbox, "stop", "--dir", dir).CombinedOutput(); err != nil || !strings.Contains(string(out), "stopped the sandbox") {
		t.Fatalf("stop: %v %s", err, out)
	}
	// The sandbox waited for its broker before it ended. (Its port may
	// already serve another test's broker: the process is what counts.)
	if alive(broker) {
		t.Errorf("the broker (pid %d) outlives make sandbox-stop", broker)
	}
	if _, err := os.Stat(filepath.Join(dir, "env")); err == nil {
		t.Error("the env file outlives the sandbox")
	}
}
