package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The trust policy every target role needs (README): the broker's own
// principal, allowed to assume the role, set the source identity and tag the session.
const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/elevate-broker"},"Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"]}]}`

// brokerPolicy is the broker's own permission (README).
const brokerPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"],"Resource":"arn:aws:iam::*:role/*"}]}`

// motoSetupCalls is the number of unauthenticated set-up calls; after them,
// moto verifies SigV4 signatures and the caller's IAM policies.
const motoSetupCalls = 4

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// awsCLI runs the AWS CLI against endpoint with the given credentials.
func awsCLI(t *testing.T, endpoint string, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %v: %v\n%s", args, err, out)
	}
	return out
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

// TestEndToEndAgainstMoto: the broker's IAM user and a target role with the
// README's trust policy are created through the AWS CLI in moto; the broker
// assumes the role in moto; the AWS CLI calls sts get-caller-identity with
// what it issued.
func TestEndToEndAgainstMoto(t *testing.T) {
	t.Parallel()
	requireTool(t, "aws")
	moto := requireTool(t, "moto_server")
	port := freePort(t)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(moto, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), fmt.Sprintf("INITIAL_NO_AUTH_ACTION_COUNT=%d", motoSetupCalls))
	logf, err := os.Create(filepath.Join(t.TempDir(), "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	setup := []string{"AWS_ACCESS_KEY_ID=setup", "AWS_SECRET_ACCESS_KEY=setup"}
	awsCLI(t, endpoint, setup, "iam", "create-user", "--user-name", "elevate-broker")
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	if err := json.Unmarshal(awsCLI(t, endpoint, setup, "iam", "create-access-key", "--user-name", "elevate-broker"), &key); err != nil {
		t.Fatal(err)
	}
	awsCLI(t, endpoint, setup, "iam", "create-role", "--role-name", "Admin", "--assume-role-policy-document", trustPolicy)
	awsCLI(t, endpoint, setup, "iam", "put-user-policy", "--user-name", "elevate-broker", "--policy-name", "elevate-assume", "--policy-document", brokerPolicy)

	h := brokertest.NewOn(t, brokertest.AWS{Endpoint: endpoint, Key: key.AccessKey.AccessKeyId, Secret: key.AccessKey.SecretAccessKey, AccountID: "123456789012"})
	a := h.Credentials(h.Codertocat(), byID)
	if a.Status != 200 {
		t.Fatalf("broker against moto: %d %s", a.Status, a.Raw)
	}
	issued := []string{
		"AWS_ACCESS_KEY_ID=" + a.Body["AccessKeyId"].(string),
		"AWS_SECRET_ACCESS_KEY=" + a.Body["SecretAccessKey"].(string),
		"AWS_SESSION_TOKEN=" + a.Body["SessionToken"].(string),
	}
	var who struct{ Arn string }
	if err := json.Unmarshal(awsCLI(t, endpoint, issued, "sts", "get-caller-identity"), &who); err != nil {
		t.Fatal(err)
	}
	want := "arn:aws:sts::123456789012:assumed-role/Admin/" + awsSessionName()
	if who.Arn != want {
		t.Errorf("get-caller-identity Arn = %s, want %s", who.Arn, want)
	}

	// moto checks signatures after set-up: a broker with a wrong secret gets nothing.
	bad := brokertest.NewOn(t, brokertest.AWS{Endpoint: endpoint, Key: key.AccessKey.AccessKeyId, Secret: "wrong", AccountID: "123456789012"})
	if a := bad.Credentials(bad.Codertocat(), byID); a.Status != 502 || !strings.Contains(a.Raw, "upstream") {
		t.Errorf("wrong broker secret: %d %s", a.Status, a.Raw)
	}
}
