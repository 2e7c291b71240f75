package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/testenv"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "elevate-cli-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "elevate")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build elevate: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// awsProfile writes an AWS config whose profile fetches credentials through
// `elevate credentials`, and returns the environment to run the AWS CLI with.
func awsProfile(t *testing.T, h *brokertest.Harness) []string { return awsProfileEnv(t, h) }

func awsProfileEnv(t testing.TB, h *brokertest.Harness) []string {
	t.Helper()
	home := t.TempDir()
	config := filepath.Join(home, "config")
	profile := fmt.Sprintf("[profile prod-admin]\ncredential_process = %s credentials --account prod --role Admin\nregion = us-east-1\n", binary)
	if err := os.WriteFile(config, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "xdg-config"),
		"AWS_CONFIG_FILE=" + config,
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PROFILE=prod-admin",
		"GH_TOKEN=" + brokertest.UserToken,
		"ELEVATE_BROKER_URL=" + h.URL,
		"GITHUB_API_URL=" + h.GitHub.Fake.URL,
		"ELEVATE_REPO=" + vt.Owner + "/" + vt.Name,
	}
}

func getCallerIdentity(t *testing.T, aws, endpoint string, env []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, aws, "sts", "get-caller-identity", "--endpoint-url", endpoint, "--output", "json")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws sts get-caller-identity: %v\n%s", err, out)
	}
	var who struct{ Arn string }
	if err := json.Unmarshal(out, &who); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return who.Arn
}

// awsCLIs are the AWS CLIs to run: Debian's v2 at /usr/bin/aws and the one on PATH.
func awsCLIs(t *testing.T) []string {
	var found []string
	for _, c := range []string{"/usr/bin/aws", "aws"} {
		if p, err := exec.LookPath(c); err == nil && !contains(found, p) {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		testenv.Missing(t, "the AWS CLI", "apt-get install awscli")
	}
	return found
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The real AWS CLI, with a profile whose credential_process is `elevate
// credentials`, against the STS fake: it prints the assumed role with the
// session name; a second run is served from the cache.
func TestAWSCLICredentialProcessAgainstSTSFake(t *testing.T) {
	for _, aws := range awsCLIs(t) {
		t.Run(aws, func(t *testing.T) {
			h := brokertest.New(t)
			env := awsProfile(t, h)
			want := "arn:aws:sts::111111111111:assumed-role/Admin/gh-Codertocat-prod-2026-11-codertocat-admin-inc1"
			if got := getCallerIdentity(t, aws, h.STS.URL, env); got != want {
				t.Fatalf("Arn = %s, want %s", got, want)
			}
			issued := h.STS.Calls("AssumeRole")
			if got := getCallerIdentity(t, aws, h.STS.URL, env); got != want {
				t.Fatalf("second run Arn = %s", got)
			}
			if n := h.STS.Calls("AssumeRole"); n != issued {
				t.Errorf("the second run asked the broker again (AssumeRole %d -> %d): want the cache", issued, n)
			}
		})
	}
}

// The same against moto, an independent AWS emulator that verifies SigV4 and IAM policies.
func TestAWSCLICredentialProcessAgainstMoto(t *testing.T) {
	aws := awsCLIs(t)[0]
	target := brokertest.StartMoto(t)
	h := brokertest.NewOn(t, target)
	env := awsProfile(t, h)
	got := getCallerIdentity(t, aws, target.Endpoint, env)
	if !strings.HasPrefix(got, "arn:aws:sts::123456789012:assumed-role/Admin/gh-Codertocat-") {
		t.Fatalf("Arn = %s", got)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0},
		{[]string{"credentials", "--help"}, 0},
		{[]string{"credentials"}, 2},
		{[]string{"nonsense"}, 2},
		{[]string{"credentials", "--request", "x"}, 1}, // no token, no broker
	} {
		cmd := exec.Command(binary, tt.args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != tt.code {
			t.Errorf("elevate %v: exit %d, want %d\n%s", tt.args, cmd.ProcessState.ExitCode(), tt.code, out)
		}
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, err := exec.Command(binary, "completion", shell).Output()
		if err != nil || !strings.Contains(string(out), "elevate") {
			t.Errorf("completion %s: %v", shell, err)
		}
	}
}
