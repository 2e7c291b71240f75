package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "elevate-broker-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "elevate-broker")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// broker runs the built binary with no git on its PATH and returns its URL,
// its output, its argv and a stop function.
type run struct {
	cmd    *exec.Cmd
	out    *brokertest.SyncBuffer
	url    string
	state  string
	exited chan error
}

func start(t *testing.T, h *brokertest.Harness, ledger, gitToken, caFile string) *run {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := h.Config()
	r := &run{out: &brokertest.SyncBuffer{}, url: "http://" + addr, state: t.TempDir(), exited: make(chan error, 1)}
	noGit := t.TempDir() // a PATH with no git in it
	r.cmd = exec.Command(binary, "--listen", addr, "--ledger", ledger, "--branch", "main", "--repo", cfg.Repo,
		"--trust-anchor", cfg.TrustAnchor, "--github-api-url", cfg.GitHubAPIURL, "--oidc-issuer", cfg.OIDCIssuer,
		"--oidc-repositories", cfg.OIDCRepos, "--oidc-workflows", cfg.OIDCWorkflows, "--github-client-id", cfg.GitHubClientID,
		"--sts-endpoint", cfg.STSEndpoint, "--signin-url", cfg.SigninURL,
		"--state-dir", r.state, "--max-staleness", "24h")
	r.cmd.Env = []string{"PATH=" + noGit, "HOME=" + t.TempDir(), "SSL_CERT_FILE=" + caFile,
		"ELEVATE_GITHUB_TOKEN=" + gitToken,                       // the token travels in the environment, never in argv
		"ELEVATE_GITHUB_CLIENT_SECRET=" + cfg.GitHubClientSecret, // so does the app's client secret
		"AWS_ACCESS_KEY_ID=" + brokertest.BrokerKey, "AWS_SECRET_ACCESS_KEY=" + brokertest.BrokerSecret, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); <-r.exited })
	return r
}

// healthy waits for /healthz ok, or for the process to exit.
func (r *run) healthy(t *testing.T) error {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-r.exited:
			r.exited <- err
			return fmt.Errorf("the broker exited: %v\n%s", err, r.out)
		default:
		}
		if resp, err := http.Get(r.url + brokerapi.PathHealth); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			_ = body
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the broker did not become healthy:\n%s", r.out)
}

// The broker with no git binary reachable clones its ledger over HTTPS (a
// test CA through SSL_CERT_FILE) from a token-protected smart-HTTP server
// and issues credentials; the token is in none of its logs, argv or state.
func TestNoGitBinaryClonesOverHTTPSAndIssues(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	srv := ledgertest.NewGitServer(t, true, vt.Token)
	url := srv.Publish(t, h.Repo, "acme", "access")
	r := start(t, h, url, vt.Token, srv.CAFile(t))
	if err := r.healthy(t); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", r.url+brokerapi.PathCredentials, strings.NewReader(`{"request":"`+vt.RequestID+`"}`))
	req.Header.Set("Authorization", "Bearer "+brokertest.UserToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"AccessKeyId":"ASIA`)) {
		t.Fatalf("credentials: %d %s\n%s", resp.StatusCode, body, r.out)
	}
	if srv.Requests.Load() == 0 {
		t.Fatal("the git server was never asked")
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{vt.Token, githubfake.ClientSecret, brokertest.UserToken} {
		if bytes.Contains(cmdline, []byte(secret)) || strings.Contains(r.out.String(), secret) {
			t.Errorf("%q is in the broker's argv or logs", secret)
		}
	}
	if !strings.Contains(r.out.String(), `"github_client_secret":"REDACTED"`) {
		t.Errorf("the logged configuration does not show the client secret redacted:\n%s", r.out)
	}
	files := 0
	err = filepath.WalkDir(r.state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, []byte(vt.Token)) {
			t.Errorf("the token is in %s", p)
		}
		return err
	})
	if err != nil || files < 3 {
		t.Errorf("state dir: %d files, %v", files, err)
	}
}

// A token the git server refuses is a clear start-up error.
func TestWrongGitTokenIsAClearStartUpError(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	srv := ledgertest.NewGitServer(t, true, vt.Token)
	url := srv.Publish(t, h.Repo, "acme", "access")
	const wrong = "ghs_wrongTokenForGit"
	h.GitHub.Fake.Token(wrong, &github.User{Login: github.String("elevate[bot]"), ID: github.Int64(9), Type: github.String("Bot")})
	r := start(t, h, url, wrong, srv.CAFile(t))
	select {
	case err := <-r.exited:
		r.exited <- err
		if err == nil || !strings.Contains(r.out.String(), "the token was refused") || strings.Contains(r.out.String(), wrong) {
			t.Fatalf("exit %v, output:\n%s", err, r.out)
		}
		t.Logf("start-up error: %s", lastLine(r.out.String()))
	case <-time.After(30 * time.Second):
		t.Fatalf("the broker kept running with a refused token:\n%s", r.out)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(context.Background(), binary, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "elevate-broker ") || !strings.Contains(string(out), "revision ") {
		t.Fatalf("--version = %q, %v", out, err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
