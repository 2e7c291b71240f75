package brokertest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/endsession"
	"github.com/elevate-gitops/elevate/internal/testenv"
)

// TrustPolicy is the trust policy every target role needs (docs/broker.md): the broker's own
// principal, allowed to assume the role, set the source identity and tag the session.
const TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/elevate-broker"},"Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"]}]}`

// BrokerPolicy is the broker's own permission (docs/broker.md).
const BrokerPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"],"Resource":"arn:aws:iam::*:role/*"}]}`

// EndSessionsTrustPolicy is the trust policy of the role the broker assumes
// in each account to end sessions (docs/broker.md): the broker's principal only.
const EndSessionsTrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/elevate-broker"},"Action":"sts:AssumeRole"}]}`

// EndSessionsPolicy is that role's permission (docs/broker.md): read the elevated
// roles and their inline policies (IAM's size limit covers them all), and
// write their inline policy, nothing else.
const EndSessionsPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole","iam:ListRolePolicies","iam:GetRolePolicy","iam:PutRolePolicy"],"Resource":"arn:aws:iam::123456789012:role/Admin"}]}`

// auditorPolicy lets the test read what the broker wrote, and write the
// role's other policies, through the AWS CLI.
const auditorPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRolePolicy","iam:PutRolePolicy","iam:GetRole","iam:ListRolePolicies"],"Resource":"*"}]}`

// IdentityCenterPolicy is what the broker needs, with --identity-center,
// in the account that administers Identity Center (docs/broker.md): the
// assignments and inline policies of permission sets, provisioning, and
// finding a user by name. The IAM actions on IAM Identity Center's own
// roles and SAML provider are what AWS asks of a caller whose assignment
// lands in that same account.
const IdentityCenterPolicy = `{"Version":"2012-10-17","Statement":[` +
	`{"Effect":"Allow","Action":["sso:ListAccountAssignments","sso:CreateAccountAssignment","sso:DeleteAccountAssignment",` +
	`"sso:DescribeAccountAssignmentCreationStatus","sso:DescribeAccountAssignmentDeletionStatus","sso:GetInlinePolicyForPermissionSet",` +
	`"sso:PutInlinePolicyToPermissionSet","sso:ProvisionPermissionSet","sso:DescribePermissionSetProvisioningStatus",` +
	`"sso:ListAccountsForProvisionedPermissionSet","identitystore:GetUserId"],"Resource":"*"},` +
	`{"Effect":"Allow","Action":["iam:GetRole","iam:CreateRole","iam:PutRolePolicy","iam:AttachRolePolicy","iam:DetachRolePolicy",` +
	`"iam:DeleteRolePolicy","iam:DeleteRole","iam:ListRolePolicies","iam:ListAttachedRolePolicies","iam:GetSAMLProvider"],` +
	`"Resource":["arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*","arn:aws:iam::*:saml-provider/AWSSSO_*"]}]}`

// IdentityCenter is moto's Identity Center as StartMotoIdentityCenter set
// it up: one instance, one permission set, one user.
type IdentityCenter struct {
	InstanceARN, IdentityStoreID, PermissionSetARN, UserName string
}

// motoIdentityCenterCalls are the set-up calls StartMotoIdentityCenter adds.
const motoIdentityCenterCalls = 4

// StartMotoIdentityCenter is StartMoto with the broker allowed
// IdentityCenterPolicy, and an Identity Center holding the permission set
// ProdAdmin and the user codertocat@example.com.
func StartMotoIdentityCenter(t testing.TB) (AWS, IdentityCenter) {
	t.Helper()
	RequireTool(t, "aws")
	endpoint := testenv.StartMoto(t, motoSetupCalls+motoIdentityCenterCalls)
	out := setupBroker(t, endpoint)
	setup := []string{"AWS_ACCESS_KEY_ID=setup", "AWS_SECRET_ACCESS_KEY=setup"}
	AWSCLI(t, endpoint, setup, "iam", "put-user-policy", "--user-name", "elevate-broker", "--policy-name", "elevate-identity-center", "--policy-document", IdentityCenterPolicy)
	var instances struct {
		Instances []struct{ InstanceArn, IdentityStoreId string }
	}
	if err := json.Unmarshal(AWSCLI(t, endpoint, setup, "sso-admin", "list-instances"), &instances); err != nil || len(instances.Instances) == 0 {
		t.Fatalf("moto lists no Identity Center instance: %v", err)
	}
	ic := IdentityCenter{InstanceARN: instances.Instances[0].InstanceArn, IdentityStoreID: instances.Instances[0].IdentityStoreId, UserName: "codertocat@example.com"}
	var set struct {
		PermissionSet struct{ PermissionSetArn string }
	}
	if err := json.Unmarshal(AWSCLI(t, endpoint, setup, "sso-admin", "create-permission-set", "--instance-arn", ic.InstanceARN, "--name", "ProdAdmin", "--session-duration", "PT1H"), &set); err != nil {
		t.Fatal(err)
	}
	ic.PermissionSetARN = set.PermissionSet.PermissionSetArn
	AWSCLI(t, endpoint, setup, "identitystore", "create-user", "--identity-store-id", ic.IdentityStoreID, "--user-name", ic.UserName,
		"--display-name", "Codertocat", "--name", "GivenName=Coder,FamilyName=Tocat")
	return out, ic
}

// motoSetupCalls is the number of unauthenticated set-up calls; after them,
// moto verifies SigV4 signatures and the caller's IAM policies.
const motoSetupCalls = 4

// motoEndSessionsCalls are the set-up calls StartMotoEndSessions adds.
const motoEndSessionsCalls = 5

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
	calls := motoSetupCalls
	if endSessions {
		calls += motoEndSessionsCalls
	}
	endpoint := testenv.StartMoto(t, calls)
	setup := []string{"AWS_ACCESS_KEY_ID=setup", "AWS_SECRET_ACCESS_KEY=setup"}
	out := setupBroker(t, endpoint)
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

// setupBroker creates, in moto at endpoint, the broker's IAM user and key
// with BrokerPolicy and the Admin role trusting it: motoSetupCalls calls.
func setupBroker(t testing.TB, endpoint string) AWS {
	t.Helper()
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
	return AWS{Endpoint: endpoint, Key: key.AccessKey.AccessKeyId, Secret: key.AccessKey.SecretAccessKey, AccountID: "123456789012"}
}

// StartMotoSessions is StartMotoEndSessions behind a loopback proxy that
// records every session STS issues (its source identity, session tags and
// issue time), so a test can evaluate a role's policies against the
// sessions as STS received them. moto itself applies a Deny whatever its
// condition, so it cannot tell one session of a role from another.
func StartMotoSessions(t testing.TB) (AWS, *Sessions) {
	t.Helper()
	target := startMoto(t, true)
	upstream, err := url.Parse(target.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sessions{proxy: &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(upstream)
		pr.Out.Host = pr.In.Host // signed by the caller: moto checks the signature
	}}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	target.Endpoint = srv.URL
	return target, s
}

// Session is one session STS issued, as IAM's conditions see it.
type Session struct {
	AccessKeyID    string
	SourceIdentity string
	Tags           map[string]string // session tags: aws:PrincipalTag/<key>
	IssuedAt       time.Time         // aws:TokenIssueTime
}

// Sessions records the sessions STS issued through StartMotoSessions.
type Sessions struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	list  []Session
}

func (s *Sessions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	if form.Get("Action") != "AssumeRole" {
		s.proxy.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.proxy.ServeHTTP(rec, r)
	var out struct {
		AccessKeyID string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
	}
	if rec.Code == http.StatusOK && xml.Unmarshal(rec.Body.Bytes(), &out) == nil && out.AccessKeyID != "" {
		sess := Session{AccessKeyID: out.AccessKeyID, SourceIdentity: form.Get("SourceIdentity"), Tags: map[string]string{}, IssuedAt: time.Now().UTC()}
		for i := 1; form.Has(fmt.Sprintf("Tags.member.%d.Key", i)); i++ {
			sess.Tags[form.Get(fmt.Sprintf("Tags.member.%d.Key", i))] = form.Get(fmt.Sprintf("Tags.member.%d.Value", i))
		}
		s.mu.Lock()
		s.list = append(s.list, sess)
		s.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// Issued is the session of the access key id, as STS was asked for it.
func (s *Sessions) Issued(t testing.TB, accessKeyID string) Session {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.list {
		if sess.AccessKeyID == accessKeyID {
			return sess
		}
	}
	t.Fatalf("STS issued no session with access key %s", accessKeyID)
	return Session{}
}

// DeniedBy lists the Sids (or, without one, the positions) of the
// statements of policies that deny every action on every resource to the
// session, evaluated as IAM does for the condition operators elevate
// writes (StringEquals, StringLike, DateLessThan, Null: values of one key
// are alternatives, keys and operators must all hold, a missing key
// matches only Null "true"). An operator it does not know fails the test.
func (sess Session) DeniedBy(t testing.TB, policies map[string]*endsession.Document) []string {
	t.Helper()
	var out []string
	for name, doc := range policies {
		for i, st := range doc.Statement {
			if st.Effect != "Deny" || !has(st.Action, "*") || !has(st.Resource, "*") || st.NotAction != nil || st.NotResource != nil {
				continue
			}
			if sess.matches(t, st.Condition) {
				out = append(out, cmp.Or(st.Sid, fmt.Sprintf("%s[%d]", name, i)))
			}
		}
	}
	sort.Strings(out)
	return out
}

func (sess Session) matches(t testing.TB, cond map[string]map[string]any) bool {
	t.Helper()
	for op, kv := range cond {
		for key, v := range kv {
			values := strs(v)
			got, present := sess.value(key)
			ok := false
			switch op {
			case "StringEquals":
				ok = present && slices.Contains(values, got)
			case "StringLike":
				ok = present && slices.ContainsFunc(values, func(p string) bool { return like(p, got) })
			case "DateLessThan":
				ok = present && slices.ContainsFunc(values, func(v string) bool {
					at, err := time.Parse(time.RFC3339, v)
					if err != nil {
						t.Fatalf("DateLessThan %s %q: %v", key, v, err)
					}
					issued, _ := time.Parse(time.RFC3339Nano, got)
					return issued.Before(at)
				})
			case "Null":
				ok = slices.Contains(values, strconv.FormatBool(!present))
			default:
				t.Fatalf("condition operator %s: the test's evaluator does not know it", op)
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

// value is the session's value of a condition key (keys are not case
// sensitive), and whether the session has one.
func (sess Session) value(key string) (string, bool) {
	switch {
	case strings.EqualFold(key, "aws:SourceIdentity"):
		return sess.SourceIdentity, sess.SourceIdentity != ""
	case strings.EqualFold(key, "aws:TokenIssueTime"):
		return sess.IssuedAt.Format(time.RFC3339Nano), true
	case len(key) > len("aws:PrincipalTag/") && strings.EqualFold(key[:len("aws:PrincipalTag/")], "aws:PrincipalTag/"):
		for k, v := range sess.Tags {
			if strings.EqualFold(k, key[len("aws:PrincipalTag/"):]) {
				return v, true
			}
		}
	}
	return "", false
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case bool:
		return []string{strconv.FormatBool(v)}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, strs(x)...)
		}
		return out
	}
	return nil
}

// like is StringLike's match: * any run of characters, ? any one.
func like(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

func has(v any, want string) bool { return slices.Contains(strs(v), want) }
