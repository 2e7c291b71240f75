package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// The Lambda bootstrap, built as make lambda builds it for provided.al2023,
// runs under the AWS Lambda Runtime Interface Emulator: a function URL
// event's cold start clones the ledger from a token-protected smart-HTTP
// server, verifies the grant with the GitHub fake and issues through the STS
// fake.
func TestLambdaUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bootstrap, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}
	rie := filepath.Join(dir, "aws-lambda-rie")
	if out, err := exec.Command("go", "build", "-o", rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie").CombinedOutput(); err != nil {
		t.Fatalf("build the emulator: %v\n%s", err, out)
	}

	h := brokertest.New(t)
	srv := ledgertest.NewGitServer(t, true, vt.Token)
	ledgerURL := srv.Publish(t, h.Repo, "acme", "access")
	cfg := h.Config()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := &brokertest.SyncBuffer{}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--log-level", "error", bootstrap)
	cmd.Env = []string{"PATH=" + t.TempDir(), "SSL_CERT_FILE=" + srv.CAFile(t),
		"ELEVATE_LEDGER=" + ledgerURL, "ELEVATE_REPO=" + cfg.Repo, "ELEVATE_TRUST_ANCHOR=" + cfg.TrustAnchor,
		"ELEVATE_GITHUB_API_URL=" + cfg.GitHubAPIURL, "ELEVATE_GITHUB_TOKEN=" + vt.Token,
		"ELEVATE_OIDC_ISSUER=" + cfg.OIDCIssuer, "ELEVATE_OIDC_REPOSITORIES=" + cfg.OIDCRepos, "ELEVATE_OIDC_WORKFLOWS=" + cfg.OIDCWorkflows,
		"ELEVATE_STS_ENDPOINT=" + cfg.STSEndpoint, "ELEVATE_SIGNIN_URL=" + cfg.SigninURL,
		"ELEVATE_MAX_STALENESS=24h", "ELEVATE_STATE_DIR=" + filepath.Join(dir, "tmp"),
		"AWS_ACCESS_KEY_ID=" + brokertest.BrokerKey, "AWS_SECRET_ACCESS_KEY=" + brokertest.BrokerSecret, "AWS_REGION=us-east-1",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "AWS_LAMBDA_FUNCTION_TIMEOUT=30"}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	event := events.LambdaFunctionURLRequest{
		Version: "2.0", RawPath: brokerapi.PathCredentials,
		Headers: map[string]string{"authorization": "Bearer " + h.Codertocat(), "content-type": "application/json"},
		Body:    `{"request":"` + vt.RequestID + `"}`,
		RequestContext: events.LambdaFunctionURLRequestContext{
			DomainName: "abcdefgh.lambda-url.us-east-1.on.aws",
			HTTP:       events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: brokerapi.PathCredentials, SourceIP: "203.0.113.7"},
		},
	}
	payload, _ := json.Marshal(event)
	post := func(payload []byte) (*http.Response, error) {
		return http.Post("http://"+addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(payload))
	}
	invoke := func() (events.LambdaFunctionURLResponse, time.Duration, error) {
		start := time.Now()
		resp, err := post(payload)
		if err != nil {
			return events.LambdaFunctionURLResponse{}, 0, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var got events.LambdaFunctionURLResponse
		if err := json.Unmarshal(body, &got); err != nil {
			return got, 0, err
		}
		return got, time.Since(start), nil
	}
	var first events.LambdaFunctionURLResponse
	var cold time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for {
		first, cold, err = invoke()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the emulator is still starting
	}
	if err != nil || first.StatusCode != 200 || !strings.Contains(first.Body, `"AccessKeyId":"ASIA`) {
		t.Fatalf("cold invoke: %v %d %s\n%s", err, first.StatusCode, first.Body, out)
	}
	warm, warmTime, err := invoke()
	if err != nil || warm.StatusCode != 200 {
		t.Fatalf("warm invoke: %v %+v", err, warm)
	}
	t.Logf("Lambda cold start (clone, verify, issue) %s; warm invocation %s", cold.Round(time.Millisecond), warmTime.Round(time.Millisecond))

	// The broker stack's EventBridge schedule: a Scheduled Event runs the
	// checks between requests and says which head it checked.
	resp, err := post([]byte(`{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-12-07T12:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/elevate-broker-schedule"],"detail":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var checked struct{ Checked string }
	if err := json.Unmarshal(body, &checked); err != nil || len(checked.Checked) != 40 {
		t.Errorf("scheduled event: %s (%v), want the head it checked", body, err)
	}
	if strings.Contains(out.String(), vt.Token) {
		t.Error("the token is in the function's logs")
	}
}
