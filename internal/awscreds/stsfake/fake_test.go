package stsfake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/awscreds/stsfake"
	"github.com/elevate-gitops/elevate/internal/testenv"
)

const (
	brokerKey    = "AKIAFAKEBROKER000001"
	brokerSecret = "broker-secret-0123456789abcdefghijklmnop"
	brokerARN    = "arn:aws:iam::999999999999:user/elevate-broker"
	roleARN      = "arn:aws:iam::111111111111:role/Admin"
)

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

func newFake(tb testing.TB) (*stsfake.Fake, *sts.Client) {
	tb.Helper()
	f := stsfake.New(tb)
	f.AddKey(brokerKey, brokerSecret, brokerARN)
	return f, newClient(tb, f.URL, brokerKey, brokerSecret, "")
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func baseInput() *sts.AssumeRoleInput {
	return &sts.AssumeRoleInput{
		RoleArn:         aws.String(roleARN),
		RoleSessionName: aws.String("gh-alice-prod-2026-11-x"),
		SourceIdentity:  aws.String("gh-alice"),
		DurationSeconds: aws.Int32(3600),
		Policy:          aws.String(`{"Version":"2012-10-17","Statement":[]}`),
		Tags:            []types.Tag{{Key: aws.String("elevate-request"), Value: aws.String("prod/2026-11/x")}},
	}
}

// policyOfLen is a JSON object of exactly n characters.
func policyOfLen(n int) string {
	const head, tail = `{"Version":"2012-10-17","Pad":"`, `"}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

func tags(n int) []types.Tag {
	out := make([]types.Tag, n)
	for i := range out {
		out[i] = types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")}
	}
	return out
}

// TestAssumeRoleLimits: the fake holds AssumeRole to STS's limits, on both
// sides of each boundary.
func TestAssumeRoleLimits(t *testing.T) {
	t.Parallel()
	_, client := newFake(t)
	tests := []struct {
		name   string
		mutate func(*sts.AssumeRoleInput)
		want   string // error code; "" for success
	}{
		{"valid", func(*sts.AssumeRoleInput) {}, ""},
		{"role arn with a path", func(in *sts.AssumeRoleInput) { in.RoleArn = aws.String("arn:aws:iam::111111111111:role/ops/Admin") }, ""},
		{"role arn short account", func(in *sts.AssumeRoleInput) { in.RoleArn = aws.String("arn:aws:iam::12345:role/Admin") }, "ValidationError"},
		{"role arn of a user", func(in *sts.AssumeRoleInput) { in.RoleArn = aws.String("arn:aws:iam::111111111111:user/alice") }, "ValidationError"},
		{"role name not arn", func(in *sts.AssumeRoleInput) { in.RoleArn = aws.String("Admin") }, "ValidationError"},
		{"role arn without name", func(in *sts.AssumeRoleInput) { in.RoleArn = aws.String("arn:aws:iam::111111111111:role/") }, "ValidationError"},

		{"session name 2 chars", func(in *sts.AssumeRoleInput) { in.RoleSessionName = aws.String("ab") }, ""},
		{"session name 64 chars", func(in *sts.AssumeRoleInput) { in.RoleSessionName = aws.String(strings.Repeat("s", 64)) }, ""},
		{"session name 1 char", func(in *sts.AssumeRoleInput) { in.RoleSessionName = aws.String("a") }, "ValidationError"},
		{"session name 65 chars", func(in *sts.AssumeRoleInput) { in.RoleSessionName = aws.String(strings.Repeat("s", 65)) }, "ValidationError"},
		{"session name with slash", func(in *sts.AssumeRoleInput) { in.RoleSessionName = aws.String("gh-a/b") }, "ValidationError"},
		{"session name with space", func(in *sts.AssumeRoleInput) { in.RoleSessionName = aws.String("gh a") }, "ValidationError"},

		{"duration 900", func(in *sts.AssumeRoleInput) { in.DurationSeconds = aws.Int32(900) }, ""},
		{"duration 43200", func(in *sts.AssumeRoleInput) { in.DurationSeconds = aws.Int32(43200) }, ""},
		{"duration 899", func(in *sts.AssumeRoleInput) { in.DurationSeconds = aws.Int32(899) }, "ValidationError"},
		{"duration 43201", func(in *sts.AssumeRoleInput) { in.DurationSeconds = aws.Int32(43201) }, "ValidationError"},

		{"source identity 2 chars", func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String("gh") }, ""},
		{"source identity 64 chars", func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String(strings.Repeat("i", 64)) }, ""},
		{"source identity 1 char", func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String("g") }, "ValidationError"},
		{"source identity 65 chars", func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String(strings.Repeat("i", 65)) }, "ValidationError"},
		{"source identity with slash", func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String("gh/alice") }, "ValidationError"},
		{"source identity aws: prefix", func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String("aws:alice") }, "ValidationError"},

		{"50 tags", func(in *sts.AssumeRoleInput) { in.Tags = tags(50) }, ""},
		{"51 tags", func(in *sts.AssumeRoleInput) { in.Tags = tags(51) }, "ValidationError"},
		{"tag key 128", func(in *sts.AssumeRoleInput) { in.Tags[0].Key = aws.String(strings.Repeat("k", 128)) }, ""},
		{"tag key 129", func(in *sts.AssumeRoleInput) { in.Tags[0].Key = aws.String(strings.Repeat("k", 129)) }, "ValidationError"},
		{"tag value 256", func(in *sts.AssumeRoleInput) { in.Tags[0].Value = aws.String(strings.Repeat("v", 256)) }, ""},
		{"tag value 257", func(in *sts.AssumeRoleInput) { in.Tags[0].Value = aws.String(strings.Repeat("v", 257)) }, "ValidationError"},
		{"tag value empty", func(in *sts.AssumeRoleInput) { in.Tags[0].Value = aws.String("") }, ""},
		{"tag value letters and spaces", func(in *sts.AssumeRoleInput) { in.Tags[0].Value = aws.String("Zoë 東京 1/2:3=4+5-6@7_8.9") }, ""},
		{"tag value bad char", func(in *sts.AssumeRoleInput) { in.Tags[0].Value = aws.String("a<b") }, "ValidationError"},
		{"tag key bad char", func(in *sts.AssumeRoleInput) { in.Tags[0].Key = aws.String("a;b") }, "ValidationError"},
		{"tag key aws: prefix", func(in *sts.AssumeRoleInput) { in.Tags[0].Key = aws.String("aws:x") }, "ValidationError"},
		{"duplicate tag keys", func(in *sts.AssumeRoleInput) {
			in.Tags = []types.Tag{{Key: aws.String("Env"), Value: aws.String("a")}, {Key: aws.String("env"), Value: aws.String("b")}}
		}, "ValidationError"},

		{"policy 2048 chars", func(in *sts.AssumeRoleInput) { in.Policy = aws.String(policyOfLen(2048)) }, ""},
		{"policy 2049 chars", func(in *sts.AssumeRoleInput) { in.Policy = aws.String(policyOfLen(2049)) }, "ValidationError"},
		{"policy not json", func(in *sts.AssumeRoleInput) { in.Policy = aws.String(`{"Version":`) }, "MalformedPolicyDocument"},
		{"policy json array", func(in *sts.AssumeRoleInput) { in.Policy = aws.String(`[]`) }, "MalformedPolicyDocument"},
		{"policy two objects", func(in *sts.AssumeRoleInput) { in.Policy = aws.String(`{} {}`) }, "MalformedPolicyDocument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := baseInput()
			tt.mutate(in)
			out, err := client.AssumeRole(context.Background(), in)
			if got := apiCode(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("AssumeRole error = %v (code %q), want code %q", err, got, tt.want)
			}
			if tt.want != "" {
				return
			}
			wantExp := time.Now().Add(time.Duration(aws.ToInt32(in.DurationSeconds)) * time.Second)
			if d := out.Credentials.Expiration.Sub(wantExp); d < -time.Minute || d > time.Minute {
				t.Errorf("Expiration = %v, want now + DurationSeconds (%v)", out.Credentials.Expiration, wantExp)
			}
		})
	}
}

func TestAssumeRoleAnswer(t *testing.T) {
	t.Parallel()
	_, client := newFake(t)
	in := baseInput()
	in.RoleArn = aws.String("arn:aws:iam::111111111111:role/ops/Admin")
	out, err := client.AssumeRole(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::111111111111:assumed-role/Admin/gh-alice-prod-2026-11-x"; got != want {
		t.Errorf("AssumedRoleUser.Arn = %q, want %q (the role path is not part of it)", got, want)
	}
	if got := aws.ToString(out.AssumedRoleUser.AssumedRoleId); !strings.HasPrefix(got, "AROA") || !strings.HasSuffix(got, ":gh-alice-prod-2026-11-x") {
		t.Errorf("AssumedRoleId = %q", got)
	}
	c := out.Credentials
	if id := aws.ToString(c.AccessKeyId); len(id) != 20 || !strings.HasPrefix(id, "ASIA") {
		t.Errorf("AccessKeyId = %q, want 20 characters starting ASIA", id)
	}
	if aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" {
		t.Error("secret or session token empty")
	}
	if got := aws.ToString(out.SourceIdentity); got != "gh-alice" {
		t.Errorf("SourceIdentity = %q", got)
	}
}

// TestRoleChaining: a broker running as a role session (Lambda) is held to
// AWS's role-chaining rules: sessions of at most 1h, and no SessionDuration
// on the console sign-in.
func TestRoleChaining(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := stsfake.New(t)
	f.AddKey("AKIAFAKELAMBDA000001", "lambda-secret", "arn:aws:sts::999999999999:assumed-role/elevate-broker/fn")
	client := newClient(t, f.URL, "AKIAFAKELAMBDA000001", "lambda-secret", "")

	id, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != "arn:aws:sts::999999999999:assumed-role/elevate-broker/fn" {
		t.Fatalf("GetCallerIdentity = %+v, %v", id, err)
	}

	in := baseInput()
	in.DurationSeconds = aws.Int32(3601)
	if _, err := client.AssumeRole(ctx, in); apiCode(err) != "ValidationError" {
		t.Errorf("chained AssumeRole for 3601s: %v, want ValidationError", err)
	}
	in.DurationSeconds = aws.Int32(3600)
	out, err := client.AssumeRole(ctx, in)
	if err != nil {
		t.Fatalf("chained AssumeRole for 3600s: %v", err)
	}
	creds, err := awscreds.FromSTS(out)
	if err != nil {
		t.Fatal(err)
	}
	console := awscreds.Console{SigninURL: f.SigninURL()}
	if _, err := console.URL(ctx, creds, time.Hour); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("console URL with SessionDuration from chained credentials: %v, want a 400", err)
	}
	if _, err := console.URL(ctx, creds, 0); err != nil {
		t.Errorf("console URL without SessionDuration from chained credentials: %v", err)
	}
}

// TestExpiredCredentials: issued credentials stop working when they expire.
func TestExpiredCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, client := newFake(t)
	out, err := client.AssumeRole(ctx, baseInput())
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := awscreds.FromSTS(out)
	f.Expire(creds.AccessKeyID)
	user := newClient(t, f.URL, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	if _, err := user.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) != "ExpiredToken" {
		t.Errorf("GetCallerIdentity with expired credentials: %v, want ExpiredToken", err)
	}
	if _, err := (awscreds.Console{SigninURL: f.SigninURL()}).URL(ctx, creds, 0); err == nil {
		t.Error("console URL from expired credentials: no error")
	}
}

func TestSetDelay(t *testing.T) {
	t.Parallel()
	f, client := newFake(t)
	f.SetDelay(100 * time.Millisecond)
	start := time.Now()
	if _, err := client.AssumeRole(context.Background(), baseInput()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("AssumeRole took %v, want at least the 100ms delay", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := client.AssumeRole(ctx, baseInput()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("AssumeRole past its deadline: %v, want context.DeadlineExceeded", err)
	}
}

// signed is a raw STS request signed by the SDK's SigV4 signer; tamper runs
// after signing.
func signed(t *testing.T, f *stsfake.Fake, body, service string, at time.Time, tamper func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Extra", "signed")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: brokerKey, SecretAccessKey: brokerSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "eu-west-1", at); err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		tamper(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error     struct{ Type, Code string }
		RequestID string `xml:"RequestId"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		if err := xml.Unmarshal(raw, &e); err != nil {
			t.Fatalf("error answer is not STS XML: %v\n%s", err, raw)
		}
		if e.Error.Type != "Sender" || e.RequestID == "" {
			t.Errorf("error answer lacks Type Sender or RequestId:\n%s", raw)
		}
	}
	return resp.StatusCode, e.Error.Code
}

// TestSignatureVerified: every part of the request the signature covers is
// checked.
func TestSignatureVerified(t *testing.T) {
	t.Parallel()
	f, _ := newFake(t)
	const body = "Action=GetCallerIdentity&Version=2011-06-15"
	now := time.Now()
	tests := []struct {
		name       string
		body       string
		service    string
		at         time.Time
		tamper     func(*http.Request)
		wantStatus int
		wantCode   string
	}{
		{"valid, any region", body, "sts", now, nil, 200, ""},
		{"body changed after signing", body, "sts", now, func(r *http.Request) {
			b := "Action=GetCallerIdentity&Version=2011-06-15&X=1"
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
		}, 403, "SignatureDoesNotMatch"},
		{"signed header changed", body, "sts", now, func(r *http.Request) { r.Header.Set("X-Extra", "changed") }, 403, "SignatureDoesNotMatch"},
		{"query added", body, "sts", now, func(r *http.Request) { r.URL.RawQuery = "a=b" }, 403, "SignatureDoesNotMatch"},
		{"signature altered", body, "sts", now, func(r *http.Request) {
			a := r.Header.Get("Authorization")
			last := a[len(a)-1]
			repl := byte('0')
			if last == '0' {
				repl = '1'
			}
			r.Header.Set("Authorization", a[:len(a)-1]+string(repl))
		}, 403, "SignatureDoesNotMatch"},
		{"scoped to another service", body, "s3", now, nil, 403, "SignatureDoesNotMatch"},
		{"signed 20 minutes ago", body, "sts", now.Add(-20 * time.Minute), nil, 403, "SignatureDoesNotMatch"},
		{"no authorization", body, "sts", now, func(r *http.Request) { r.Header.Del("Authorization") }, 403, "MissingAuthenticationToken"},
		{"unknown key", body, "sts", now, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), brokerKey, "AKIANOBODY0000000000", 1))
		}, 403, "InvalidClientTokenId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, code := signed(t, f, tt.body, tt.service, tt.at, tt.tamper)
			if status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("answer = %d %q, want %d %q", status, code, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

// recorder is a testing.TB that records Errorf instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// TestUnexpectedRequestsFailTheTest: a fake fails the test on a call it did
// not expect, and still answers in STS's shape.
func TestUnexpectedRequestsFailTheTest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		do   func(t *testing.T, f *stsfake.Fake) *http.Response
	}{
		{"GET /", func(t *testing.T, f *stsfake.Fake) *http.Response { return get(t, f.URL+"/") }},
		{"other path", func(t *testing.T, f *stsfake.Fake) *http.Response {
			return post(t, f.URL+"/v1/x", "application/x-www-form-urlencoded", "Action=GetCallerIdentity")
		}},
		{"json body", func(t *testing.T, f *stsfake.Fake) *http.Response {
			return post(t, f.URL+"/", "application/json", `{"Action":"GetCallerIdentity"}`)
		}},
		{"unknown federation action", func(t *testing.T, f *stsfake.Fake) *http.Response {
			return get(t, f.SigninURL()+"?Action=logout")
		}},
		{"POST federation", func(t *testing.T, f *stsfake.Fake) *http.Response {
			return post(t, f.SigninURL(), "application/x-www-form-urlencoded", "Action=getSigninToken")
		}},
		{"wrong version", func(t *testing.T, f *stsfake.Fake) *http.Response {
			return signedResponse(t, f, "Action=GetCallerIdentity&Version=2010-01-01")
		}},
		{"unknown action", func(t *testing.T, f *stsfake.Fake) *http.Response {
			return signedResponse(t, f, "Action=GetSessionToken&Version=2011-06-15")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{TB: t}
			f := stsfake.New(rec)
			f.AddKey(brokerKey, brokerSecret, brokerARN)
			resp := tt.do(t, f)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("answered %d, want an error status", resp.StatusCode)
			}
			if got := rec.reported(); len(got) != 1 {
				t.Errorf("fake reported %q, want one test failure", got)
			}
			if resp.Header.Get("Content-Type") == "text/xml" {
				var e struct {
					XMLName xml.Name
					Error   struct{ Type, Code, Message string }
				}
				if err := xml.Unmarshal(body, &e); err != nil || e.XMLName.Local != "ErrorResponse" || e.Error.Code == "" {
					t.Errorf("answer is not an STS error: %v\n%s", err, body)
				}
			}
		})
	}
}

// TestExpectedErrorsDoNotFailTheTest: answers STS gives in normal operation
// are not test failures.
func TestExpectedErrorsDoNotFailTheTest(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	f := stsfake.New(rec)
	f.AddKey(brokerKey, brokerSecret, brokerARN)
	bad := newClient(t, f.URL, brokerKey, "wrong", "")
	if _, err := bad.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); apiCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v", err)
	}
	in := baseInput()
	in.DurationSeconds = aws.Int32(1)
	if _, err := newClient(t, f.URL, brokerKey, brokerSecret, "").AssumeRole(context.Background(), in); apiCode(err) != "ValidationError" {
		t.Errorf("duration 1: %v", err)
	}
	if got := rec.reported(); len(got) != 0 {
		t.Errorf("fake reported %q for normal STS errors", got)
	}
}

func get(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func post(t *testing.T, u, contentType, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func signedResponse(t *testing.T, f *stsfake.Fake, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: brokerKey, SecretAccessKey: brokerSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestFederation drives getSigninToken and login by hand.
func TestFederation(t *testing.T) {
	t.Parallel()
	f, client := newFake(t)
	out, err := client.AssumeRole(context.Background(), baseInput())
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	session := func(id, key, token string) string {
		b, _ := json.Marshal(map[string]string{"sessionId": id, "sessionKey": key, "sessionToken": token})
		return string(b)
	}
	good := session(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	getToken := func(q url.Values) (int, string) {
		resp := get(t, f.SigninURL()+"?"+q.Encode())
		defer resp.Body.Close()
		var v struct{ SigninToken string }
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &v)
		return resp.StatusCode, v.SigninToken
	}
	tokenTests := []struct {
		name string
		q    url.Values
		want int
	}{
		{"issued credentials", url.Values{"Action": {"getSigninToken"}, "Session": {good}}, 200},
		{"with SessionDuration 900", url.Values{"Action": {"getSigninToken"}, "Session": {good}, "SessionDuration": {"900"}}, 200},
		{"with SessionDuration 43200", url.Values{"Action": {"getSigninToken"}, "Session": {good}, "SessionDuration": {"43200"}}, 200},
		{"SessionDuration 899", url.Values{"Action": {"getSigninToken"}, "Session": {good}, "SessionDuration": {"899"}}, 400},
		{"SessionDuration 43201", url.Values{"Action": {"getSigninToken"}, "Session": {good}, "SessionDuration": {"43201"}}, 400},
		{"wrong secret", url.Values{"Action": {"getSigninToken"}, "Session": {session(*c.AccessKeyId, "x", *c.SessionToken)}}, 400},
		{"wrong token", url.Values{"Action": {"getSigninToken"}, "Session": {session(*c.AccessKeyId, *c.SecretAccessKey, "x")}}, 400},
		{"long-term key", url.Values{"Action": {"getSigninToken"}, "Session": {session(brokerKey, brokerSecret, "x")}}, 400},
		{"no session", url.Values{"Action": {"getSigninToken"}}, 400},
	}
	var token string
	for _, tt := range tokenTests {
		status, tok := getToken(tt.q)
		if status != tt.want {
			t.Errorf("getSigninToken %s: %d, want %d", tt.name, status, tt.want)
		}
		if status == 200 && tok == "" {
			t.Errorf("getSigninToken %s: empty SigninToken", tt.name)
		}
		if token == "" {
			token = tok
		}
	}

	login := func(q url.Values) int {
		resp := get(t, f.SigninURL()+"?"+q.Encode())
		resp.Body.Close()
		return resp.StatusCode
	}
	dest := "https://console.aws.amazon.com/"
	loginTests := []struct {
		name string
		q    url.Values
		want int
	}{
		{"issued token", url.Values{"Action": {"login"}, "Destination": {dest}, "SigninToken": {token}}, 200},
		{"forged token", url.Values{"Action": {"login"}, "Destination": {dest}, "SigninToken": {token + "x"}}, 400},
		{"no destination", url.Values{"Action": {"login"}, "SigninToken": {token}}, 400},
	}
	for _, tt := range loginTests {
		if got := login(tt.q); got != tt.want {
			t.Errorf("login %s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if diff := cmp.Diff([2]int{len(tokenTests), len(loginTests)}, [2]int{f.Calls("getSigninToken"), f.Calls("login")}); diff != "" {
		t.Errorf("federation call counts mismatch (-want +got):\n%s", diff)
	}
}

// TestNewServer: the demo constructor serves the same fake.
func TestNewServer(t *testing.T) {
	t.Parallel()
	f, stop := stsfake.NewServer()
	defer stop()
	f.AddKey(brokerKey, brokerSecret, brokerARN)
	id, err := newClient(t, f.URL, brokerKey, brokerSecret, "").GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != brokerARN || aws.ToString(id.Account) != "999999999999" {
		t.Errorf("GetCallerIdentity = %+v, %v", id, err)
	}
}

// TestAWSCLI: the fake verifies the signatures of the AWS CLI (v1, botocore,
// and v2) as well as the Go SDK's, so end-to-end tests can use either.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	var clis []string
	for _, name := range []string{"aws", "/usr/bin/aws", "/usr/local/bin/aws"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && !seen[real] {
			seen[real] = true
			clis = append(clis, p)
		}
	}
	if len(clis) == 0 {
		testenv.Missing(t, "the AWS CLI", "apt-get install awscli")
	}
	for i, cli := range clis {
		t.Run(fmt.Sprintf("cli%d", i+1), func(t *testing.T) {
			t.Parallel()
			t.Logf("AWS CLI at %s", cli)
			f, _ := newFake(t)
			home := t.TempDir()
			run := func(key, secret, token string, args ...string) []byte {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, cli, append([]string{"--endpoint-url", f.URL, "--region", "us-east-1", "--output", "json"}, args...)...)
				cmd.Env = []string{
					"PATH=" + os.Getenv("PATH"), "HOME=" + home,
					"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
					"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
					"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
					"AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secret,
				}
				if token != "" {
					cmd.Env = append(cmd.Env, "AWS_SESSION_TOKEN="+token)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", cli, strings.Join(args, " "), err, stderr.String())
				}
				return out
			}
			var assumed struct {
				Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
			}
			out := run(brokerKey, brokerSecret, "", "sts", "assume-role", "--role-arn", roleARN,
				"--role-session-name", "gh-alice-cli", "--source-identity", "gh-alice", "--duration-seconds", "900",
				"--policy", awscreds.SessionPolicy(time.Now().Add(time.Hour)),
				"--tags", "Key=elevate-request,Value=prod/2026-11/x", "Key=elevate-pr,Value=7")
			if err := json.Unmarshal(out, &assumed); err != nil {
				t.Fatalf("assume-role output: %v\n%s", err, out)
			}
			c := assumed.Credentials
			var id struct{ Arn string }
			out = run(c.AccessKeyId, c.SecretAccessKey, c.SessionToken, "sts", "get-caller-identity")
			if err := json.Unmarshal(out, &id); err != nil {
				t.Fatalf("get-caller-identity output: %v\n%s", err, out)
			}
			if want := "arn:aws:sts::111111111111:assumed-role/Admin/gh-alice-cli"; id.Arn != want {
				t.Errorf("Arn = %q, want %q", id.Arn, want)
			}
		})
	}
}
