package awscreds_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/awscreds"
)

const (
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testToken  = "FwoGZXIvYXdzEBAaDH+token/with+slashes=="
)

var testCreds = awscreds.Credentials{
	AccessKeyID:     "ASIAEXAMPLE000000001",
	SecretAccessKey: testSecret,
	SessionToken:    testToken,
	Expiration:      time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC),
}

func TestFromSTS(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 11, 25, 13, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	full := func() *types.Credentials {
		return &types.Credentials{
			AccessKeyId:     aws.String("ASIAEXAMPLE000000001"),
			SecretAccessKey: aws.String(testSecret),
			SessionToken:    aws.String(testToken),
			Expiration:      aws.Time(exp),
		}
	}
	tests := []struct {
		name    string
		out     *sts.AssumeRoleOutput
		want    awscreds.Credentials
		wantErr string
	}{
		{"complete", &sts.AssumeRoleOutput{Credentials: full()}, testCreds, ""},
		{"nil output", nil, awscreds.Credentials{}, "no credentials"},
		{"no credentials", &sts.AssumeRoleOutput{}, awscreds.Credentials{}, "no credentials"},
		{"no token", &sts.AssumeRoleOutput{Credentials: func() *types.Credentials {
			c := full()
			c.SessionToken = nil
			return c
		}()}, awscreds.Credentials{}, "SessionToken"},
		{"no expiration", &sts.AssumeRoleOutput{Credentials: func() *types.Credentials {
			c := full()
			c.Expiration = nil
			return c
		}()}, awscreds.Credentials{}, "Expiration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := awscreds.FromSTS(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromSTS error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromSTS: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FromSTS mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProcessJSON(t *testing.T) {
	t.Parallel()
	got, err := awscreds.ProcessJSON(testCreds)
	if err != nil {
		t.Fatalf("ProcessJSON: %v", err)
	}
	want := `{"Version":1,"AccessKeyId":"ASIAEXAMPLE000000001","SecretAccessKey":"` + testSecret +
		`","SessionToken":"` + testToken + `","Expiration":"2026-11-25T11:00:00Z"}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("ProcessJSON mismatch (-want +got):\n%s", diff)
	}

	// The shape the AWS SDKs and CLI read.
	var shape map[string]any
	if err := json.Unmarshal(got, &shape); err != nil {
		t.Fatalf("ProcessJSON is not JSON: %v", err)
	}
	wantShape := map[string]any{
		"Version":         float64(1),
		"AccessKeyId":     testCreds.AccessKeyID,
		"SecretAccessKey": testSecret,
		"SessionToken":    testToken,
		"Expiration":      "2026-11-25T11:00:00Z",
	}
	if diff := cmp.Diff(wantShape, shape); diff != "" {
		t.Errorf("ProcessJSON shape mismatch (-want +got):\n%s", diff)
	}

	if _, err := awscreds.ProcessJSON(awscreds.Credentials{AccessKeyID: "ASIA"}); err == nil {
		t.Error("ProcessJSON without a secret: no error")
	}
	noExp := testCreds
	noExp.Expiration = time.Time{}
	got, err = awscreds.ProcessJSON(noExp)
	if err != nil || bytes.Contains(got, []byte("Expiration")) {
		t.Errorf("ProcessJSON without expiry = %s, %v; want no Expiration key", got, err)
	}
}

func TestEnvLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		creds awscreds.Credentials
		want  string
	}{
		{
			"plain values stay bare",
			testCreds,
			"export AWS_ACCESS_KEY_ID=ASIAEXAMPLE000000001\n" +
				"export AWS_SECRET_ACCESS_KEY=" + testSecret + "\n" +
				"export AWS_SESSION_TOKEN=" + testToken + "\n" +
				"export AWS_CREDENTIAL_EXPIRATION=2026-11-25T11:00:00Z\n",
		},
		{
			"hostile values are single-quoted",
			awscreds.Credentials{
				AccessKeyID:     "A B",
				SecretAccessKey: `it's $(rm -rf ~) "x"`,
				SessionToken:    "~tok`id`;\n",
			},
			"export AWS_ACCESS_KEY_ID='A B'\n" +
				`export AWS_SECRET_ACCESS_KEY='it'\''s $(rm -rf ~) "x"'` + "\n" +
				"export AWS_SESSION_TOKEN='~tok`id`;\n'\n",
		},
		{
			"empty token and expiry left out",
			awscreds.Credentials{AccessKeyID: "AKIA1", SecretAccessKey: "s"},
			"export AWS_ACCESS_KEY_ID=AKIA1\nexport AWS_SECRET_ACCESS_KEY=s\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, awscreds.EnvLines(tt.creds)); diff != "" {
				t.Errorf("EnvLines mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEnvLinesEvalRoundTrip runs the lines through a real shell: every value
// comes back byte for byte and nothing in them is executed.
func TestEnvLinesEvalRoundTrip(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	c := awscreds.Credentials{
		AccessKeyID:     "ASIA'; touch pwned; '",
		SecretAccessKey: `a'b"c$HOME` + "`id`\\\n\t end",
		SessionToken:    "$(exit 7)~*?[x]",
		Expiration:      testCreds.Expiration,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	script := awscreds.EnvLines(c) +
		`printf '%s\0%s\0%s\0%s' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" "$AWS_CREDENTIAL_EXPIRATION"`
	cmd := exec.CommandContext(ctx, sh, "-c", script)
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	got := strings.Split(string(out), "\x00")
	want := []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, "2026-11-25T11:00:00Z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values after eval mismatch (-want +got):\n%s", diff)
	}
}

// TestCredentialsRedacted: formatting or logging credentials never shows the
// secret or the session token.
func TestCredentialsRedacted(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("issued", "credentials", testCreds)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", testCreds),
		"%+v":  fmt.Sprintf("%+v", testCreds),
		"%#v":  fmt.Sprintf("%#v", testCreds),
		"%s":   fmt.Sprintf("%s", testCreds),
		"slog": logged.String(),
	}
	for how, s := range outputs {
		if strings.Contains(s, testSecret) || strings.Contains(s, testToken) {
			t.Errorf("%s shows a secret: %s", how, s)
		}
		if !strings.Contains(s, testCreds.AccessKeyID) {
			t.Errorf("%s lost the access key id: %s", how, s)
		}
	}
}
