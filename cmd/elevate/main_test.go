package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/ghauth/ghauthtest"
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
	storeLogin(t, home, h.GitHub.Fake.URL, ghauth.Token{Access: brokertest.UserToken})
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "xdg-config"),
		"AWS_CONFIG_FILE=" + config,
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PROFILE=prod-admin",
		// A token GitHub does not know: the broker gets the login's, never this.
		"GH_TOKEN=ghp_notTheLoginAndNotForTheBroker",
		"ELEVATE_BROKER_URL=" + h.URL,
		"GITHUB_API_URL=" + h.GitHub.Fake.URL,
		"ELEVATE_REPO=" + vt.Owner + "/" + vt.Name,
	}
}

// storeLogin stores tok as `elevate login` does, for the GitHub at apiURL,
// in the config directory of home (as awsProfileEnv sets it up).
func storeLogin(t testing.TB, home, apiURL string, tok ghauth.Token) {
	t.Helper()
	dir := filepath.Join(home, "xdg-config")
	if runtime.GOOS == "darwin" {
		dir = filepath.Join(home, "Library", "Application Support")
	}
	host, err := ghauth.HostFor(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	store := &ghauth.Store{Path: filepath.Join(dir, "elevate", "token.json")}
	if err := store.Save(host, tok); err != nil {
		t.Fatal(err)
	}
}

// replaceEnv sets name=value in env.
func replaceEnv(env []string, name, value string) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
	return append(out, name+"="+value)
}

// The binary as the AWS CLI runs it, unattended: an expired login is
// renewed through GitHub without a prompt; one that cannot be renewed
// fails at once, in one line.
func TestCredentialProcessWithAnExpiredLogin(t *testing.T) {
	const clientID, refresh, renewed = "Iv1.0123456789abcdef", "ghr_codertocatRefresh1", "ghu_codertocatRenewed2"
	expired := time.Now().Add(-time.Hour)
	tests := []struct {
		name     string
		login    ghauth.Token
		wantCode int
		renewals int
	}{
		{
			name:     "renewable",
			login:    ghauth.Token{Access: brokertest.UserToken, Expiry: expired, Refresh: refresh, ClientID: clientID},
			renewals: 1,
		},
		{name: "not renewable", login: ghauth.Token{Access: brokertest.UserToken, Expiry: expired}, wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := brokertest.New(t)
			h.GitHub.Fake.Token(renewed, vt.Author)
			oauth := ghauthtest.New(t, clientID, nil)
			oauth.Grant(refresh, ghauthtest.Grant{Access: renewed, Refresh: "ghr_codertocatRefresh2", ExpiresIn: ghauthtest.TokenLifetime})
			env := awsProfileEnv(t, h)
			home := strings.TrimPrefix(env[slices.IndexFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") })], "HOME=")
			env = replaceEnv(env, "GITHUB_API_URL", oauth.URL)
			storeLogin(t, home, oauth.URL, tt.login)

			cmd := exec.Command(binary, "credentials", "--account", "prod", "--role", "Admin")
			cmd.Env = env // no stdin, no terminal
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			_ = cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if n := oauth.Renewals(); n != tt.renewals {
				t.Errorf("%d renewals, want %d", n, tt.renewals)
			}
			if code == 0 {
				var out struct{ Version int }
				if err := json.Unmarshal([]byte(stdout.String()), &out); err != nil || out.Version != 1 || stderr.Len() != 0 {
					t.Errorf("stdout %q stderr %q: want credential_process JSON and nothing else", stdout.String(), stderr.String())
				}
				return
			}
			msg := stderr.String()
			if stdout.Len() != 0 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "run `elevate login` again") {
				t.Errorf("stdout %q stderr %q: want one line saying to run `elevate login` again", stdout.String(), msg)
			}
		})
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
