package awscreds_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/awscreds/stsfake"
)

const (
	brokerKey    = "AKIAFAKEBROKER000001"
	brokerSecret = "broker/secret+key=0123456789abcdefABCDEF"
	brokerARN    = "arn:aws:iam::999999999999:user/elevate-broker"
)

// newClient is an SDK STS client for endpoint signing with the given key,
// isolated from the machine's AWS configuration.
func newClient(tb testing.TB, endpoint, key, secret, token string) *sts.Client {
	tb.Helper()
	c, err := awscreds.NewSTSClient(context.Background(), "us-east-1", endpoint, nil,
		config.WithSharedConfigFiles([]string{filepath.Join(tb.TempDir(), "none")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(tb.TempDir(), "none")}),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(key, secret, token)))
	if err != nil {
		tb.Fatalf("NewSTSClient: %v", err)
	}
	return c
}

func newBroker(tb testing.TB) (*stsfake.Fake, *sts.Client) {
	tb.Helper()
	f := stsfake.New(tb)
	f.AddKey(brokerKey, brokerSecret, brokerARN)
	return f, newClient(tb, f.URL, brokerKey, brokerSecret, "")
}

func liveSession() awscreds.Session {
	s := validSession()
	s.Now = time.Now()
	s.WindowEnd = s.Now.Add(3 * time.Hour)
	return s
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestAssumeRoleThenCallerIdentity runs the real SDK client against the STS
// fake: the broker assumes the role, and the issued credentials identify as
// the assumed role with elevate's session name.
func TestAssumeRoleThenCallerIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, client := newBroker(t)

	s := liveSession()
	in, err := awscreds.AssumeRoleInput(s)
	if err != nil {
		t.Fatalf("AssumeRoleInput: %v", err)
	}
	out, err := client.AssumeRole(ctx, in)
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	creds, err := awscreds.FromSTS(out)
	if err != nil {
		t.Fatalf("FromSTS: %v", err)
	}
	if !strings.HasPrefix(creds.AccessKeyID, "ASIA") {
		t.Errorf("AccessKeyID = %q, want ASIA…", creds.AccessKeyID)
	}
	if d := creds.Expiration.Sub(s.Now); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("credentials expire %v after now, want 1h (session_duration)", d)
	}
	wantARN := "arn:aws:sts::111111111111:assumed-role/Admin/gh-alice-prod-2026-11-alice-admin-inc4821"
	if got := aws.ToString(out.AssumedRoleUser.Arn); got != wantARN {
		t.Errorf("AssumedRoleUser.Arn = %q, want %q", got, wantARN)
	}
	if got := aws.ToString(out.SourceIdentity); got != "gh-alice" {
		t.Errorf("SourceIdentity = %q, want gh-alice", got)
	}

	// What went over the wire.
	sent := f.LastAssumeRole()
	wantSent := url.Values{
		"Action":              {"AssumeRole"},
		"Version":             {"2011-06-15"},
		"RoleArn":             {"arn:aws:iam::111111111111:role/Admin"},
		"RoleSessionName":     {"gh-alice-prod-2026-11-alice-admin-inc4821"},
		"SourceIdentity":      {"gh-alice"},
		"DurationSeconds":     {"3600"},
		"Policy":              {awscreds.SessionPolicy(s.WindowEnd)},
		"Tags.member.1.Key":   {"elevate-request"},
		"Tags.member.1.Value": {"prod/2026-11/alice-admin-inc4821"},
		"Tags.member.2.Key":   {"elevate-pr"},
		"Tags.member.2.Value": {"4821"},
		"Tags.member.3.Key":   {"elevate-github-id"},
		"Tags.member.3.Value": {"583231"},
		// The tags the end of sessions names, carried into chained roles.
		"TransitiveTagKeys.member.1": {"elevate-request"},
		"TransitiveTagKeys.member.2": {"elevate-github-id"},
	}
	if diff := cmp.Diff(wantSent, sent); diff != "" {
		t.Errorf("AssumeRole parameters mismatch (-want +got):\n%s", diff)
	}

	user := newClient(t, f.URL, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	id, err := user.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with issued credentials: %v", err)
	}
	if got := aws.ToString(id.Arn); got != wantARN {
		t.Errorf("caller Arn = %q, want %q", got, wantARN)
	}
	if got := aws.ToString(id.Account); got != "111111111111" {
		t.Errorf("caller Account = %q, want 111111111111", got)
	}
	if got := aws.ToString(id.UserId); !strings.HasPrefix(got, "AROA") || !strings.HasSuffix(got, ":gh-alice-prod-2026-11-alice-admin-inc4821") {
		t.Errorf("caller UserId = %q, want AROA…:<session name>", got)
	}

	broker, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(broker.Arn) != brokerARN {
		t.Errorf("broker GetCallerIdentity = %v, %v; want %s", broker, err, brokerARN)
	}
	if got := f.Calls("AssumeRole"); got != 1 {
		t.Errorf("Calls(AssumeRole) = %d, want 1", got)
	}
	if got := f.Calls("GetCallerIdentity"); got != 2 {
		t.Errorf("Calls(GetCallerIdentity) = %d, want 2", got)
	}
}

func TestSTSAuthFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, client := newBroker(t)
	out, err := client.AssumeRole(ctx, mustInput(t))
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	issued := out.Credentials

	tests := []struct {
		name               string
		key, secret, token string
		want               string
	}{
		{"wrong secret", brokerKey, brokerSecret + "x", "", "SignatureDoesNotMatch"},
		{"unknown key", "AKIAUNKNOWN000000000", brokerSecret, "", "InvalidClientTokenId"},
		{"issued key without its token", *issued.AccessKeyId, *issued.SecretAccessKey, "", "InvalidClientTokenId"},
		{"issued key with another token", *issued.AccessKeyId, *issued.SecretAccessKey, "forged", "InvalidClientTokenId"},
		{"issued key, wrong secret", *issued.AccessKeyId, "nope", *issued.SessionToken, "SignatureDoesNotMatch"},
		{"long-term key with a token", brokerKey, brokerSecret, "forged", "InvalidClientTokenId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, f.URL, tt.key, tt.secret, tt.token)
			_, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if got := apiCode(err); got != tt.want {
				t.Errorf("GetCallerIdentity error = %v (code %q), want %s", err, got, tt.want)
			}
		})
	}
}

func mustInput(tb testing.TB) *sts.AssumeRoleInput {
	tb.Helper()
	in, err := awscreds.AssumeRoleInput(liveSession())
	if err != nil {
		tb.Fatalf("AssumeRoleInput: %v", err)
	}
	return in
}

func TestNewSTSClient(t *testing.T) {
	t.Parallel()
	if _, err := awscreds.NewSTSClient(context.Background(), "", "not a url", nil); err == nil {
		t.Error("NewSTSClient with endpoint \"not a url\": no error")
	}
	c := newClient(t, "http://127.0.0.1:1", "AKIA", "s", "")
	if got := c.Options().Region; got != "us-east-1" {
		t.Errorf("Region = %q, want us-east-1", got)
	}
	if got := c.Options().Retryer.MaxAttempts(); got != 2 {
		t.Errorf("MaxAttempts = %d, want 2", got)
	}
	if got := aws.ToString(c.Options().BaseEndpoint); got != "http://127.0.0.1:1" {
		t.Errorf("BaseEndpoint = %q", got)
	}
}

// TestNewSTSClientRetriesOnce: a failing STS is tried twice, not more.
func TestNewSTSClientRetriesOnce(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Receiver</Type>`+
			`<Code>InternalFailure</Code><Message>boom</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, brokerKey, brokerSecret, "")
	_, err := c.AssumeRole(context.Background(), mustInput(t))
	if apiCode(err) != "InternalFailure" {
		t.Errorf("AssumeRole error = %v, want InternalFailure", err)
	}
	if got := hits.Load(); got != 2 {
		t.Errorf("STS was called %d times, want 2 (one retry)", got)
	}
}

func TestFailNextAnswersSTSError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, client := newBroker(t)
	f.FailNext("AccessDenied", http.StatusForbidden)
	_, err := client.AssumeRole(ctx, mustInput(t))
	if got := apiCode(err); got != "AccessDenied" {
		t.Fatalf("AssumeRole error = %v, want AccessDenied", err)
	}
	if _, err := client.AssumeRole(ctx, mustInput(t)); err != nil {
		t.Fatalf("AssumeRole after the injected failure: %v", err)
	}
	// A retryable failure is retried once by the client and then succeeds.
	f.FailNext("InternalFailure", http.StatusInternalServerError)
	if _, err := client.AssumeRole(ctx, mustInput(t)); err != nil {
		t.Fatalf("AssumeRole with one 500: %v", err)
	}
	if got := f.Calls("AssumeRole"); got != 4 {
		t.Errorf("Calls(AssumeRole) = %d, want 4", got)
	}
}

func issue(tb testing.TB, client *sts.Client) awscreds.Credentials {
	tb.Helper()
	out, err := client.AssumeRole(context.Background(), mustInput(tb))
	if err != nil {
		tb.Fatalf("AssumeRole: %v", err)
	}
	c, err := awscreds.FromSTS(out)
	if err != nil {
		tb.Fatalf("FromSTS: %v", err)
	}
	return c
}

// TestConsoleURL: the login URL the broker hands out is one the federation
// endpoint accepts.
func TestConsoleURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, client := newBroker(t)
	creds := issue(t, client)

	for _, d := range []time.Duration{0, time.Hour} {
		c := awscreds.Console{SigninURL: f.SigninURL(), Issuer: "https://elevate.example/"}
		got, err := c.URL(ctx, creds, d)
		if err != nil {
			t.Fatalf("URL(%v): %v", d, err)
		}
		prefix := f.SigninURL() + "?Action=login&Issuer=https%3A%2F%2Felevate.example%2F&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2F&SigninToken="
		if !strings.HasPrefix(got, prefix) {
			t.Fatalf("URL = %q, want prefix %q", got, prefix)
		}
		resp, err := http.Get(got)
		if err != nil {
			t.Fatalf("GET login URL: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "assumed-role/Admin/gh-alice-") {
			t.Errorf("login answered %d %q, want 200 naming the session", resp.StatusCode, body)
		}
	}
	if got := f.Calls("getSigninToken"); got != 2 {
		t.Errorf("Calls(getSigninToken) = %d, want 2", got)
	}
}

// TestConsoleURLErrorsHoldNoSecrets: whatever fails, the error names neither
// the secret, the session token, nor the URL that carried them.
func TestConsoleURLErrorsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, client := newBroker(t)
	creds := issue(t, client)
	forged := creds
	forged.SecretAccessKey = "forged-secret-0123456789"

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://attacker.invalid/steal?"+r.URL.RawQuery, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(slow.Close)

	tests := []struct {
		name    string
		console awscreds.Console
		creds   awscreds.Credentials
		d       time.Duration
		want    string // in the error
	}{
		{"federation refuses forged credentials", awscreds.Console{SigninURL: f.SigninURL()}, forged, 0, "answered 400"},
		{"endpoint down", awscreds.Console{SigninURL: closed.URL + "/federation"}, creds, 0, "connection refused"},
		{"redirect not followed", awscreds.Console{SigninURL: redirect.URL + "/federation"}, creds, 0, "answered 302"},
		{"timeout", awscreds.Console{SigninURL: slow.URL, HTTP: &http.Client{Timeout: 50 * time.Millisecond}}, creds, 0, "Timeout"},
		{"duration under 15m", awscreds.Console{SigninURL: f.SigninURL()}, creds, time.Minute, "outside 15m..12h"},
		{"duration over 12h", awscreds.Console{SigninURL: f.SigninURL()}, creds, 13 * time.Hour, "outside 15m..12h"},
		{"no session token", awscreds.Console{SigninURL: f.SigninURL()}, awscreds.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s"}, 0, "temporary credentials"},
		{"javascript destination", awscreds.Console{SigninURL: f.SigninURL(), Destination: "javascript:alert(1)"}, creds, 0, "destination"},
		{"signin url with a query", awscreds.Console{SigninURL: f.SigninURL() + "?x=1"}, creds, 0, "signin url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.console.URL(ctx, tt.creds, tt.d)
			if err == nil {
				t.Fatalf("URL = %q, want an error", got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			msg := err.Error()
			for _, secret := range []string{creds.SecretAccessKey, forged.SecretAccessKey, creds.SessionToken, url.QueryEscape(creds.SessionToken), "Session="} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q leaks %q", msg, secret)
				}
			}
		})
	}
}

// BenchmarkAssumeRoleDirect is the baseline for the broker's benchmark: the
// SDK client straight to STS, with 20 ms standing for STS's latency.
func BenchmarkAssumeRoleDirect(b *testing.B) {
	f, client := newBroker(b)
	f.SetDelay(20 * time.Millisecond)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err := client.AssumeRole(ctx, mustInput(b))
		if err != nil {
			b.Fatalf("AssumeRole: %v", err)
		}
		if _, err := awscreds.FromSTS(out); err != nil {
			b.Fatalf("FromSTS: %v", err)
		}
	}
}
