package brokertest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/testenv"
)

// TrustPolicy is the trust policy every target role needs (README): the broker's own
// principal, allowed to assume the role, set the source identity and tag the session.
const TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/elevate-broker"},"Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"]}]}`

// BrokerPolicy is the broker's own permission (README).
const BrokerPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"],"Resource":"arn:aws:iam::*:role/*"}]}`

// EndSessionsTrustPolicy is the trust policy of the role the broker assumes
// in each account to end sessions (README): the broker's principal only.
const EndSessionsTrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/elevate-broker"},"Action":"sts:AssumeRole"}]}`

// EndSessionsPolicy is that role's permission (README): read the elevated
// roles and write their inline policy, nothing else.
const EndSessionsPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole","iam:GetRolePolicy","iam:PutRolePolicy"],"Resource":"arn:aws:iam::123456789012:role/Admin"}]}`

// auditorPolicy lets the test read what the broker wrote, through the AWS CLI.
const auditorPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRolePolicy","iam:PutRolePolicy","iam:GetRole"],"Resource":"*"}]}`

// motoSetupCalls is the number of unauthenticated set-up calls; after them,
// moto verifies SigV4 signatures and the caller's IAM policies.
const motoSetupCalls = 4

// motoEndSessionsCalls are the set-up calls StartMotoEndSessions adds.
const motoEndSessionsCalls = 5

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// AWSCLI runs the AWS CLI against endpoint with the given credentials.
func AWSCLI(t testing.TB, endpoint string, env []string, args ...string) []byte {
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

// AWSCLIMayFail is AWSCLI for a call that may fail: nil then.
func AWSCLIMayFail(endpoint string, env []string, args ...string) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}, env...)
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	return out
}

// RequireTool is testenv.RequireTool for the tools of the moto tests.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	return testenv.RequireTool(t, "moto and the AWS CLI come with the image; Debian's awscli adds /usr/bin/aws", name)
}

// StartMoto starts moto_server on a free loopback port, creates through the
// AWS CLI the broker's IAM user, its key and policy, and the target role
// Admin with TrustPolicy, then lets moto verify signatures and IAM policies.
// It returns the AWS the broker should use (account 123456789012).
func StartMoto(t testing.TB) AWS {
	t.Helper()
	return startMoto(t, false)
}

// StartMotoEndSessions is StartMoto with the end-sessions role
// (elevate-end-sessions, EndSessionsTrustPolicy and EndSessionsPolicy), and
// an auditor's key the test reads the target role's policies with
// (AWS.AuditorKey, AWS.AuditorSecret).
func StartMotoEndSessions(t testing.TB) AWS {
	t.Helper()
	return startMoto(t, true)
}

func startMoto(t testing.TB, endSessions bool) AWS {
	t.Helper()
	RequireTool(t, "aws")
	moto := RequireTool(t, "moto_server")
	port := freePort(t)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(moto, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	calls := motoSetupCalls
	if endSessions {
		calls += motoEndSessionsCalls
	}
	cmd.Env = append(os.Environ(), fmt.Sprintf("INITIAL_NO_AUTH_ACTION_COUNT=%d", calls))
	logf, err := os.Create(filepath.Join(cmp.Or(os.Getenv("ELEVATE_MOTO_LOG_DIR"), t.TempDir()), "moto.log"))
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
	AWSCLI(t, endpoint, setup, "iam", "create-user", "--user-name", "elevate-broker")
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	if err := json.Unmarshal(AWSCLI(t, endpoint, setup, "iam", "create-access-key", "--user-name", "elevate-broker"), &key); err != nil {
		t.Fatal(err)
	}
	AWSCLI(t, endpoint, setup, "iam", "create-role", "--role-name", "Admin", "--assume-role-policy-document", TrustPolicy)
	AWSCLI(t, endpoint, setup, "iam", "put-user-policy", "--user-name", "elevate-broker", "--policy-name", "elevate-assume", "--policy-document", BrokerPolicy)
	out := AWS{Endpoint: endpoint, Key: key.AccessKey.AccessKeyId, Secret: key.AccessKey.SecretAccessKey, AccountID: "123456789012"}
	if endSessions {
		AWSCLI(t, endpoint, setup, "iam", "create-role", "--role-name", "elevate-end-sessions", "--assume-role-policy-document", EndSessionsTrustPolicy)
		AWSCLI(t, endpoint, setup, "iam", "put-role-policy", "--role-name", "elevate-end-sessions", "--policy-name", "end-sessions", "--policy-document", EndSessionsPolicy)
		AWSCLI(t, endpoint, setup, "iam", "create-user", "--user-name", "auditor")
		var auditor struct {
			AccessKey struct{ AccessKeyId, SecretAccessKey string }
		}
		if err := json.Unmarshal(AWSCLI(t, endpoint, setup, "iam", "create-access-key", "--user-name", "auditor"), &auditor); err != nil {
			t.Fatal(err)
		}
		AWSCLI(t, endpoint, setup, "iam", "put-user-policy", "--user-name", "auditor", "--policy-name", "read", "--policy-document", auditorPolicy)
		out.AuditorKey, out.AuditorSecret = auditor.AccessKey.AccessKeyId, auditor.AccessKey.SecretAccessKey
	}
	return out
}
