package deploy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-github/v60/github"
	"gopkg.in/yaml.v3"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/claim"
	"github.com/elevate-gitops/elevate/internal/endsession"
	"github.com/elevate-gitops/elevate/internal/testenv"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// The CloudFormation templates of deploy/aws.
const (
	brokerTemplate = "aws/broker.yaml"
	targetTemplate = "aws/target-account.yaml"
)

// motoAccount is moto's account: the broker's and the target's here.
const motoAccount = "123456789012"

// Both templates pass cfn-lint without an error or a warning.
func TestTemplatesPassCfnLint(t *testing.T) {
	t.Parallel()
	lint := testenv.RequireTool(t, "pip install cfn-lint", "cfn-lint")
	out, err := exec.Command(lint, brokerTemplate, targetTemplate).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("cfn-lint %s %s: %v\n%s", brokerTemplate, targetTemplate, err, out)
	}
}

// The templates grant what docs/production.md shows and the moto
// end-to-end tests of the broker create (brokertest): the elevated role's
// trust, the end-sessions role's trust and policy, the broker's own policy
// with its default resource, and the Identity Center policy, statement for
// statement. The broker's table and checkpoint policies allow the calls
// internal/claim and the checkpoint make, on the table internal/claim
// expects.
func TestTemplatesGrantWhatTheMotoTestsGrant(t *testing.T) {
	t.Parallel()
	target, brk := readTemplate(t, targetTemplate), readTemplate(t, brokerTemplate)
	brokerRef := map[string]any{"Ref": "BrokerPrincipalArn"}
	for _, c := range []struct {
		what, doc string
		got       any
	}{
		{"the elevated role's trust", brokertest.TrustPolicy, dig(t, target, "Resources", "ElevatedRole", "Properties", "AssumeRolePolicyDocument")},
		{"the end-sessions role's trust", brokertest.EndSessionsTrustPolicy, dig(t, target, "Resources", "EndSessionsRole", "Properties", "AssumeRolePolicyDocument")},
	} {
		want := policyOf(t, c.doc)
		// The template trusts the broker it is given, not the moto tests' user.
		want["Statement"].([]any)[0].(map[string]any)["Principal"] = map[string]any{"AWS": brokerRef}
		if !reflect.DeepEqual(normalize(c.got), normalize(want)) {
			t.Errorf("%s in %s is\n%s\nwant (as brokertest and docs/production.md)\n%s", c.what, targetTemplate, jsonOf(c.got), jsonOf(want))
		}
	}

	// The end-sessions policy: the same actions, on the stack's elevated role.
	endSessions := dig(t, target, "Resources", "EndSessionsPolicy", "Properties", "PolicyDocument")
	want := policyOf(t, brokertest.EndSessionsPolicy)
	st := statements(t, endSessions)
	if len(st) != 1 || !sameStrings(st[0]["Action"], statements(t, want)[0]["Action"]) || st[0]["Effect"] != "Allow" {
		t.Errorf("the end-sessions policy in %s is %s, want the actions of brokertest.EndSessionsPolicy %s", targetTemplate, jsonOf(endSessions), brokertest.EndSessionsPolicy)
	}
	if r := jsonOf(st[0]["Resource"]); !strings.Contains(r, `{"Fn::GetAtt":["ElevatedRole","Arn"]}`) {
		t.Errorf("the end-sessions policy's resources %s do not name the stack's elevated role", r)
	}
	if got := dig(t, target, "Resources", "EndSessionsPolicy", "Properties", "PolicyName"); got != "end-sessions" {
		t.Errorf("the end-sessions policy is named %v, want end-sessions (docs/production.md)", got)
	}

	// The broker's policy: brokertest.BrokerPolicy, its resource the
	// parameter TargetRoleArns, whose default is the docs' resource.
	assume := dig(t, brk, "Resources", "AssumePolicy", "Properties", "PolicyDocument")
	want = policyOf(t, brokertest.BrokerPolicy)
	resource := statements(t, want)[0]["Resource"]
	statements(t, want)[0]["Resource"] = map[string]any{"Ref": "TargetRoleArns"}
	if !reflect.DeepEqual(normalize(assume), normalize(want)) {
		t.Errorf("the broker's policy elevate-assume in %s is\n%s\nwant (brokertest.BrokerPolicy)\n%s", brokerTemplate, jsonOf(assume), jsonOf(want))
	}
	if got := dig(t, brk, "Parameters", "TargetRoleArns", "Default"); got != resource {
		t.Errorf("TargetRoleArns defaults to %v, want %v (brokertest.BrokerPolicy)", got, resource)
	}

	// With IdentityCenter true, brokertest.IdentityCenterPolicy as it is.
	ic := dig(t, brk, "Resources", "IdentityCenterPolicy", "Properties", "PolicyDocument")
	if want := policyOf(t, brokertest.IdentityCenterPolicy); !reflect.DeepEqual(normalize(ic), normalize(want)) {
		t.Errorf("the Identity Center policy in %s is\n%s\nwant (brokertest.IdentityCenterPolicy)\n%s", brokerTemplate, jsonOf(ic), jsonOf(want))
	}

	// The notice table: internal/claim's one call, on the key and expiry
	// attribute it writes.
	api := reflect.TypeFor[claim.PutItemAPI]()
	if api.NumMethod() != 1 {
		t.Fatalf("claim.PutItemAPI has %d methods: update the broker's policy elevate-notices and this test", api.NumMethod())
	}
	notices := statements(t, dig(t, brk, "Resources", "NoticesPolicy", "Properties", "PolicyDocument"))
	if len(notices) != 1 || !sameStrings(notices[0]["Action"], "dynamodb:"+api.Method(0).Name) || !reflect.DeepEqual(notices[0]["Resource"], map[string]any{"Fn::GetAtt": []any{"NoticeTable", "Arn"}}) {
		t.Errorf("elevate-notices is %s, want dynamodb:%s on the notice table", jsonOf(notices), api.Method(0).Name)
	}
	table := dig(t, brk, "Resources", "NoticeTable", "Properties").(map[string]any)
	if got, want := jsonOf([]any{table["KeySchema"], table["AttributeDefinitions"], table["TimeToLiveSpecification"]}),
		`[[{"AttributeName":"id","KeyType":"HASH"}],[{"AttributeName":"id","AttributeType":"S"}],{"AttributeName":"ttl","Enabled":true}]`; got != want {
		t.Errorf("the notice table's key, attributes and TTL are %s, want %s (internal/claim: partition key id, a string; expiry ttl)", got, want)
	}
	checkpoint := statements(t, dig(t, brk, "Resources", "CheckpointPolicy", "Properties", "PolicyDocument"))
	if len(checkpoint) == 0 || !sameStrings(checkpoint[0]["Action"], "s3:GetObject", "s3:PutObject") ||
		!reflect.DeepEqual(checkpoint[0]["Resource"], map[string]any{"Fn::Sub": "${CheckpointBucket.Arn}/${Repository}"}) {
		t.Errorf("elevate-checkpoint starts with %s, want s3:GetObject and s3:PutObject on the checkpoint's object", jsonOf(checkpoint))
	}
}

// sitecustomize corrects, in the moto_server this test starts, two ways
// moto judges a request otherwise than AWS does, so that the stacks'
// policies are judged as AWS would judge them:
//   - a trust policy naming a role admits that role's sessions (moto
//     compares the session's ARN, arn:aws:sts::…:assumed-role/ROLE/NAME,
//     with the role's, and refuses);
//   - a DynamoDB call is authorized against its table's ARN (moto asks
//     about "*", which a policy naming its table never allows).
const sitecustomize = `import re


def _elevate_patch():
    try:
        from moto.iam import access_control
        from moto.dynamodb import responses
    except ImportError:
        return
    statement = access_control.IAMPolicyStatement
    check = statement._check_principal
    session = re.compile(r"^arn:([^:]+):sts::([0-9]{12}):assumed-role/([^/]+)/[^/]+$")

    def check_principal(self, principal):
        if check(self, principal):
            return True
        m = session.match(principal)
        return bool(m) and check(self, "arn:%s:iam::%s:role/%s" % m.groups())

    statement._check_principal = check_principal

    def determine_resource(self):
        name = (getattr(self, "body", None) or {}).get("TableName")
        if not name:
            return "*"
        return "arn:aws:dynamodb:%s:%s:table/%s" % (self.region, self.current_account, name)

    responses.DynamoHandler._determine_resource = determine_resource


_elevate_patch()
`

// The two stacks, created in moto with aws cloudformation deploy as
// deploy/aws/README.md shows (the broker's with Runtime role), issue
// credentials once moto enforces SigV4 and IAM: a broker on the broker
// role's credentials (an EC2 instance's, as sts assume-role hands them
// out here) keeps its checkpoint in the stack's bucket, claims its notices
// in the stack's table, issues the stack's elevated role for a merged
// grant, and ends the grant's sessions through the stack's
// elevate-end-sessions when it is revoked. What the stacks create is what
// the moto tests of the broker create (brokertest), for a role as the
// broker. Without the broker role's policy elevate-assume nothing issues,
// and another role with the same policy cannot assume the elevated role.
func TestStacksIssueCredentialsInMoto(t *testing.T) {
	// Not parallel: t.Setenv gives moto_server its corrections and points
	// the broker's S3 and DynamoDB clients at moto, as an operator would.
	brokertest.RequireTool(t, "aws")
	start := time.Now()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sitecustomize.py"), []byte(sitecustomize), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", dir)
	endpoint := testenv.StartMoto(t, -1) // no checks until enforce
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_PROFILE"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", endpoint)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)

	// Set-up, before moto checks anything: the stacks, as the README
	// deploys them (the broker's first: the target's trust names its role).
	setup := []string{"AWS_ACCESS_KEY_ID=setup", "AWS_SECRET_ACCESS_KEY=setup"}
	brokertest.AWSCLI(t, endpoint, setup, "cloudformation", "deploy", "--stack-name", "elevate-broker", "--template-file", brokerTemplate,
		"--capabilities", "CAPABILITY_NAMED_IAM", "--parameter-overrides", "Runtime=role", "Repository=acme/access")
	brokerStack := stackResources(t, endpoint, setup, "elevate-broker")
	brokerRole := brokerStack["BrokerRole"]
	brokerARN := "arn:aws:iam::" + motoAccount + ":role/" + brokerRole
	brokertest.AWSCLI(t, endpoint, setup, "cloudformation", "deploy", "--stack-name", "elevate-target", "--template-file", targetTemplate,
		"--capabilities", "CAPABILITY_NAMED_IAM", "--parameter-overrides", "BrokerPrincipalArn="+brokerARN)
	// moto leaves the Outputs of a stack made through a change set empty
	// (TestBrokerStacksInMoto reads them): its resources say the same.
	targetStack := stackResources(t, endpoint, setup, "elevate-target")
	table, bucket, elevated := brokerStack["NoticeTable"], brokerStack["CheckpointBucket"], targetStack["ElevatedRole"]
	if brokerRole != "elevate-broker" || elevated != "Admin" || targetStack["EndSessionsRole"] != "elevate-end-sessions" || table == "" || bucket == "" {
		t.Fatalf("the stacks made %v and %v: want the roles elevate-broker, Admin and elevate-end-sessions, a table and a bucket", brokerStack, targetStack)
	}

	// What the stacks made is what the broker's moto tests make, with the
	// broker's role where they have its user.
	setupIAM := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: credentials.NewStaticCredentialsProvider("setup", "setup", "")})
	asRole := func(doc string) string {
		return strings.ReplaceAll(doc, "arn:aws:iam::123456789012:user/elevate-broker", brokerARN)
	}
	for _, c := range []struct{ role, policy, want string }{
		{elevated, "", asRole(brokertest.TrustPolicy)},
		{"elevate-end-sessions", "", asRole(brokertest.EndSessionsTrustPolicy)},
		{"elevate-end-sessions", "end-sessions", brokertest.EndSessionsPolicy},
		{brokerRole, "elevate-assume", brokertest.BrokerPolicy},
	} {
		got := roleDocument(t, setupIAM, c.role, c.policy)
		if want := policyOf(t, c.want); !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Errorf("role %s, policy %q: the stack made\n%s\nwant\n%s", c.role, cmpOr(c.policy, "(trust)"), jsonOf(got), jsonOf(want))
		}
	}

	// An administrator for the test's own reads and writes, and another
	// role with the broker's permissions but not its name.
	admin := motoUser(t, setupIAM, "admin", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	ec2Trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if _, err := setupIAM.CreateRole(t.Context(), &iam.CreateRoleInput{RoleName: aws.String("intruder"), AssumeRolePolicyDocument: aws.String(ec2Trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := setupIAM.PutRolePolicy(t.Context(), &iam.PutRolePolicyInput{RoleName: aws.String("intruder"), PolicyName: aws.String("elevate-assume"), PolicyDocument: aws.String(brokertest.BrokerPolicy)}); err != nil {
		t.Fatal(err)
	}
	// The instance's credentials: the broker role's, as EC2 hands them out.
	instance := assumeRole(t, endpoint, setup, brokerARN, "i-0123456789abcdef0")
	intruder := assumeRole(t, endpoint, setup, "arn:aws:iam::"+motoAccount+":role/intruder", "i-0fedcba9876543210")
	enforce(t, endpoint)
	t.Logf("moto, the stacks and their checks: %s", time.Since(start).Round(time.Millisecond))

	// A broker on the instance's credentials, with the stack's table and bucket.
	h := brokertest.NewOn(t, brokertest.AWS{Endpoint: endpoint, Key: instance.AccessKeyId, Secret: instance.SecretAccessKey, AccountID: motoAccount})
	cfg := h.Config()
	cfg.StateDir = t.TempDir() // it starts from the bucket, not from what the harness's broker saved
	cfg.NotifyTable, cfg.CheckpointURL = table, "s3://"+bucket+"/acme/access"
	cfg.EndSessions, cfg.IAMEndpoint = true, endpoint
	deps := h.Deps()
	deps.AWS = credentials.NewStaticCredentialsProvider(instance.AccessKeyId, instance.SecretAccessKey, instance.SessionToken)
	b, err := broker.Build(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the broker's log:\n%s", h.Logs)
		}
	})
	if err := h.Serve(b); err != nil {
		t.Fatal(err)
	}
	a := h.Credentials(h.Codertocat(), map[string]string{"request": vt.RequestID})
	if a.Status != 200 {
		t.Fatalf("the broker on the stack's role: %d %s", a.Status, a.Raw)
	}
	issued := []string{"AWS_ACCESS_KEY_ID=" + a.Body["AccessKeyId"].(string), "AWS_SECRET_ACCESS_KEY=" + a.Body["SecretAccessKey"].(string), "AWS_SESSION_TOKEN=" + a.Body["SessionToken"].(string)}
	var who struct{ Arn string }
	if err := json.Unmarshal(brokertest.AWSCLI(t, endpoint, issued, "sts", "get-caller-identity"), &who); err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::" + motoAccount + ":assumed-role/" + elevated + "/gh-Codertocat-"; !strings.HasPrefix(who.Arn, want) {
		t.Errorf("get-caller-identity with what the broker issued: %s, want %s…", who.Arn, want)
	}

	// The checkpoint is in the stack's bucket, the first use's claim in
	// its table: the broker role's policies allowed both.
	adminCreds := credentials.NewStaticCredentialsProvider(admin[0], admin[1], "")
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Credentials: adminCreds, DisableLogOutputChecksumValidationSkipped: true})
	if obj, err := s3c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("acme/access")}); err != nil || aws.ToInt64(obj.ContentLength) == 0 {
		t.Errorf("the checkpoint s3://%s/acme/access: %v", bucket, err)
	}
	ddb := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: adminCreds})
	waitFor(t, "the first use's claim in the notice table", func() bool {
		out, err := ddb.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(table)})
		return err == nil && out.Count > 0
	})

	// Only the broker's role: another with the same policy is refused.
	if out, err := awsCLI(endpoint, env(intruder), "sts", "assume-role", "--role-arn", "arn:aws:iam::"+motoAccount+":role/"+elevated, "--role-session-name", "intruder"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Errorf("another role with the broker's policy, assuming %s: %v %s; want AccessDenied", elevated, err, out)
	}
	// Only because of elevate-assume: without it the broker issues nothing.
	adminIAM := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: adminCreds})
	kept, err := adminIAM.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String(brokerRole), PolicyName: aws.String("elevate-assume")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminIAM.DeleteRolePolicy(t.Context(), &iam.DeleteRolePolicyInput{RoleName: aws.String(brokerRole), PolicyName: aws.String("elevate-assume")}); err != nil {
		t.Fatal(err)
	}
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": vt.RequestID}); a.Status != 502 || !strings.Contains(a.Raw, "AccessDenied") {
		t.Errorf("the broker without its policy elevate-assume: %d %s; want 502, AccessDenied", a.Status, a.Raw)
	}
	doc, _ := url.QueryUnescape(aws.ToString(kept.PolicyDocument))
	if _, err := adminIAM.PutRolePolicy(t.Context(), &iam.PutRolePolicyInput{RoleName: aws.String(brokerRole), PolicyName: aws.String("elevate-assume"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}

	// A revocation ends the grant's sessions through the target stack's
	// elevate-end-sessions: the Deny lands on the elevated role.
	revoke(t, h, 40, h.Clock())
	if err := b.Syncer.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.Syncer.Wait()
	waitFor(t, "the Deny of the revoked grant on "+elevated, func() bool {
		out, err := adminIAM.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String(elevated), PolicyName: aws.String(endsession.PolicyName)})
		return err == nil && strings.Contains(aws.ToString(out.PolicyDocument), "Deny")
	})
	t.Logf("in all: %s", time.Since(start).Round(time.Millisecond))
}

// The broker stack with Runtime lambda, created in moto with aws
// cloudformation create-stack: the function (provided.al2023, bootstrap,
// the zip from the bucket, the stack's role), its environment naming the
// stack's table and bucket and the secret, its function URL permissions,
// and the rule that invokes it every minute. moto has no CloudFormation
// model of AWS::Lambda::Url: it skips the resource, and an Output reading
// its FunctionUrl fails create-stack, so the test drops that Output when
// moto refuses the template as it is. With Runtime role: the role trusts
// EC2 and ECS tasks, and the instance profile holds it. Both stacks give
// their Outputs.
func TestBrokerStacksInMoto(t *testing.T) {
	t.Parallel()
	brokertest.RequireTool(t, "aws")
	endpoint := testenv.StartMoto(t, -1)
	setup := []string{"AWS_ACCESS_KEY_ID=setup", "AWS_SECRET_ACCESS_KEY=setup"}
	creds := credentials.NewStaticCredentialsProvider("setup", "setup", "")
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Credentials: creds})
	if _, err := s3c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("acme-elevate-code")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("acme-elevate-code"), Key: aws.String("elevate-broker-lambda-arm64.zip"), Body: bytes.NewReader(bootstrapZip(t))}); err != nil {
		t.Fatal(err)
	}
	const secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:elevate-broker-AbCdEf"
	params := []string{"Runtime=lambda", "Repository=acme/access", "LedgerUrl=https://github.com/acme/access.git",
		"TrustAnchor=3f2c9e1d4b5a69788f0e1d2c3b4a59687766554f", "GitHubAppId=12345", "GitHubClientId=Iv1.0123456789abcdef",
		"CodeS3Bucket=acme-elevate-code", "BrokerSecretArn=" + secret}
	template, err := os.ReadFile(brokerTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := createStack(t, endpoint, setup, "elevate-broker", template, params); !ok {
		t.Logf("moto refuses the broker template as it is (it has no AWS::Lambda::Url): %s; without the Output FunctionUrl:", strings.TrimSpace(out))
		if out, ok := createStack(t, endpoint, setup, "elevate-broker", withoutOutput(t, template, "FunctionUrl"), params); !ok {
			t.Fatalf("create-stack: %s", out)
		}
	}
	outputs := stackOutputs(t, endpoint, setup, "elevate-broker")
	for _, k := range []string{"BrokerRoleArn", "NoticeTableName", "CheckpointBucketName", "CheckpointUrl", "FunctionName"} {
		if outputs[k] == "" {
			t.Errorf("the lambda stack has no Output %s: %v", k, outputs)
		}
	}
	if want := "s3://" + outputs["CheckpointBucketName"] + "/acme/access"; outputs["CheckpointUrl"] != want {
		t.Errorf("CheckpointUrl %s, want %s", outputs["CheckpointUrl"], want)
	}

	var fn struct {
		Runtime, Handler, Role string
		MemorySize, Timeout    int
		Environment            struct{ Variables map[string]string }
	}
	if err := json.Unmarshal(brokertest.AWSCLI(t, endpoint, setup, "lambda", "get-function-configuration", "--function-name", outputs["FunctionName"]), &fn); err != nil {
		t.Fatal(err)
	}
	if fn.Runtime != "provided.al2023" || fn.Handler != "bootstrap" || fn.Role != outputs["BrokerRoleArn"] || fn.MemorySize != 512 || fn.Timeout != 30 {
		t.Errorf("the function is %+v: want provided.al2023, bootstrap, the stack's role, 512 MB, 30 s", fn)
	}
	env := fn.Environment.Variables
	for k, want := range map[string]string{
		"ELEVATE_LEDGER": "https://github.com/acme/access.git", "ELEVATE_REPO": "acme/access", "ELEVATE_BRANCH": "main",
		"ELEVATE_TRUST_ANCHOR": "3f2c9e1d4b5a69788f0e1d2c3b4a59687766554f", "ELEVATE_GITHUB_APP_ID": "12345",
		"ELEVATE_GITHUB_CLIENT_ID": "Iv1.0123456789abcdef", "ELEVATE_END_SESSIONS": "true", "ELEVATE_IDENTITY_CENTER": "false",
		"ELEVATE_NOTIFY_TABLE": outputs["NoticeTableName"], "ELEVATE_CHECKPOINT_URL": outputs["CheckpointUrl"], "ELEVATE_REGION": "us-east-1",
		// CloudFormation reads the secret when it creates the function;
		// moto keeps the reference as it is.
		"ELEVATE_GITHUB_APP_KEY":       "{{resolve:secretsmanager:" + secret + ":SecretString:github_app_key}}",
		"ELEVATE_GITHUB_CLIENT_SECRET": "{{resolve:secretsmanager:" + secret + ":SecretString:github_client_secret}}",
		"ELEVATE_WEBHOOK_SECRET":       "{{resolve:secretsmanager:" + secret + ":SecretString:webhook_secret}}",
		"ELEVATE_STATE_KEY":            "{{resolve:secretsmanager:" + secret + ":SecretString:state_key}}",
	} {
		if env[k] != want {
			t.Errorf("the function's %s is %q, want %q", k, env[k], want)
		}
	}
	// The broker reads every variable, and they configure it (with the
	// secret's values in place of the references).
	resolved := func(k string) string {
		if !strings.HasPrefix(env[k], "{{resolve:") {
			return env[k]
		}
		return map[string]string{"ELEVATE_GITHUB_APP_KEY": brokertest.AppKeyPEM(), "ELEVATE_STATE_KEY": brokertest.StateKey}[k] + "from-the-secret"
	}
	if _, err := broker.ParseConfig(nil, resolved); err != nil {
		t.Errorf("the function's environment does not configure a broker: %v", err)
	}
	read := brokerVariables()
	for k := range env {
		if !read[k] {
			t.Errorf("the function's environment sets %s, which the broker does not read", k)
		}
	}

	var policy struct{ Policy string }
	if err := json.Unmarshal(brokertest.AWSCLI(t, endpoint, setup, "lambda", "get-policy", "--function-name", outputs["FunctionName"]), &policy); err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Rules []struct{ Name, Arn, ScheduleExpression, State string }
	}
	if err := json.Unmarshal(brokertest.AWSCLI(t, endpoint, setup, "events", "list-rules"), &rules); err != nil || len(rules.Rules) != 1 {
		t.Fatalf("rules %+v (%v): want the stack's one", rules, err)
	}
	rule := rules.Rules[0]
	if rule.ScheduleExpression != "rate(1 minute)" || rule.State != "ENABLED" {
		t.Errorf("the rule is %+v, want rate(1 minute), enabled", rule)
	}
	var targets struct{ Targets []struct{ Arn string } }
	if err := json.Unmarshal(brokertest.AWSCLI(t, endpoint, setup, "events", "list-targets-by-rule", "--rule", rule.Name), &targets); err != nil ||
		len(targets.Targets) != 1 || !strings.HasSuffix(targets.Targets[0].Arn, ":function:"+outputs["FunctionName"]) {
		t.Errorf("the rule's targets %+v (%v): want the function", targets, err)
	}
	var resourcePolicy struct {
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(policy.Policy), &resourcePolicy); err != nil {
		t.Fatal(err)
	}
	var grants []string
	for _, s := range resourcePolicy.Statement {
		grants = append(grants, fmt.Sprintf("%v %v url-auth=%v via-url=%v source=%v", s["Action"], s["Principal"], s["FunctionUrlAuthType"], s["InvokedViaFunctionUrl"], jsonOf(s["Condition"])))
	}
	slices.Sort(grants)
	if want := []string{
		fmt.Sprintf(`lambda:InvokeFunction * url-auth=<nil> via-url=true source=null`),
		fmt.Sprintf(`lambda:InvokeFunction map[Service:events.amazonaws.com] url-auth=<nil> via-url=<nil> source={"ArnLike":{"AWS:SourceArn":"%s"}}`, rule.Arn),
		`lambda:InvokeFunctionUrl * url-auth=NONE via-url=<nil> source=null`,
	}; !slices.Equal(grants, want) {
		t.Errorf("the function's resource policy grants\n%s\nwant\n%s", strings.Join(grants, "\n"), strings.Join(want, "\n"))
	}
	if out := brokertest.AWSCLIMayFail(endpoint, setup, "lambda", "get-function-url-config", "--function-name", outputs["FunctionName"]); out != nil {
		if !strings.Contains(string(out), `"AuthType": "NONE"`) {
			t.Errorf("the function URL: %s, want AuthType NONE", out)
		}
	} else {
		t.Log("moto made no function URL (no CloudFormation model of AWS::Lambda::Url)")
	}

	// Runtime role, beside it: the role alone, its instance profile, its trust.
	if out, ok := createStack(t, endpoint, setup, "elevate-broker-ec2", template, []string{"Runtime=role", "Repository=acme/access", "BrokerName=elevate-broker-ec2"}); !ok {
		t.Fatalf("create-stack Runtime=role: %s", out)
	}
	outputs = stackOutputs(t, endpoint, setup, "elevate-broker-ec2")
	for _, k := range []string{"BrokerRoleArn", "NoticeTableName", "CheckpointBucketName", "CheckpointUrl", "InstanceProfileArn"} {
		if outputs[k] == "" {
			t.Errorf("the role stack has no Output %s: %v", k, outputs)
		}
	}
	if outputs["FunctionName"] != "" {
		t.Errorf("the role stack made a function %s", outputs["FunctionName"])
	}
	setupIAM := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds})
	trust := roleDocument(t, setupIAM, "elevate-broker-ec2", "")
	if want := `{"Statement":[{"Action":["sts:AssumeRole"],"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","ecs-tasks.amazonaws.com"]}}],"Version":"2012-10-17"}`; jsonOf(normalize(trust)) != want {
		t.Errorf("the role stack's trust is %s, want %s", jsonOf(normalize(trust)), want)
	}
	profile, err := setupIAM.GetInstanceProfile(t.Context(), &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("elevate-broker-ec2")})
	if err != nil || len(profile.InstanceProfile.Roles) != 1 || aws.ToString(profile.InstanceProfile.Roles[0].Arn) != outputs["BrokerRoleArn"] {
		t.Errorf("the instance profile %+v (%v): want the broker's role", profile, err)
	}
}

// readTemplate reads a CloudFormation template as data, the short forms
// (!Ref, !GetAtt, !Sub, …) as their long forms.
func readTemplate(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	v, err := cfnValue(doc.Content[0])
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v.(map[string]any)
}

func cfnValue(n *yaml.Node) (any, error) {
	if fn, ok := strings.CutPrefix(n.Tag, "!"); ok && !strings.HasPrefix(fn, "!") {
		plain := *n
		plain.Tag = ""
		v, err := cfnValue(&plain)
		switch {
		case err != nil:
			return nil, err
		case fn == "Ref":
			return map[string]any{"Ref": v}, nil
		case fn == "GetAtt" && n.Kind == yaml.ScalarNode:
			res, attr, _ := strings.Cut(n.Value, ".")
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::" + fn: v}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			v, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	}
	var v any
	err := n.Decode(&v)
	return v, err
}

// dig is the value at path in a template.
func dig(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, k := range path {
		m, ok := v.(map[string]any)
		if !ok || m[k] == nil {
			t.Fatalf("the template has no %s", strings.Join(path[:i+1], "."))
		}
		v = m[k]
	}
	return v
}

// statements are a policy's statements.
func statements(t *testing.T, policy any) []map[string]any {
	t.Helper()
	var out []map[string]any
	list, _ := policy.(map[string]any)["Statement"].([]any)
	for _, s := range list {
		out = append(out, s.(map[string]any))
	}
	return out
}

// policyOf decodes a policy document.
func policyOf(t *testing.T, doc string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	return v
}

// normalize writes Action, Resource and a principal's services as sorted
// lists, as IAM reads them whether one or a list.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			switch k {
			case "Action", "Resource", "Service":
				if s, ok := x.(string); ok {
					x = []any{s}
				}
				if l, ok := x.([]any); ok {
					l = slices.Clone(l)
					slices.SortFunc(l, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
					x = l
				}
			}
			out[k] = normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	}
	return v
}

// sameStrings reports whether v (a string or a list) holds exactly want.
func sameStrings(v any, want ...any) bool {
	if len(want) == 1 {
		if l, ok := want[0].([]any); ok {
			want = l
		}
	}
	return reflect.DeepEqual(normalize(map[string]any{"Action": v}), normalize(map[string]any{"Action": want}))
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// brokerVariables are the environment variables the broker reads: each
// flag's ELEVATE_ variable (broker.Config's tags), and those of no flag.
func brokerVariables() map[string]bool {
	out := map[string]bool{}
	typ := reflect.TypeFor[broker.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if name := f.Tag.Get("flag"); name != "" {
			out["ELEVATE_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = true
		}
		if name := f.Tag.Get("env"); name != "" {
			out[name] = true
		}
	}
	return out
}

// stackResources are the physical ids of a stack's resources, by logical
// id. (moto's describe-stack-resource fails on a stack with a resource
// its condition left out.)
func stackResources(t *testing.T, endpoint string, env []string, stack string) map[string]string {
	t.Helper()
	var out struct {
		StackResources []struct{ LogicalResourceId, PhysicalResourceId, ResourceStatus string }
	}
	if err := json.Unmarshal(brokertest.AWSCLI(t, endpoint, env, "cloudformation", "describe-stack-resources", "--stack-name", stack), &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range out.StackResources {
		if r.LogicalResourceId != "" && r.ResourceStatus == "CREATE_COMPLETE" {
			m[r.LogicalResourceId] = r.PhysicalResourceId
		}
	}
	return m
}

// createStack creates a stack with aws cloudformation create-stack and
// waits for it; false and the CLI's output when either fails.
func createStack(t *testing.T, endpoint string, env []string, name string, template []byte, params []string) (string, bool) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(file, template, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"cloudformation", "create-stack", "--stack-name", name, "--template-body", "file://" + file, "--capabilities", "CAPABILITY_NAMED_IAM", "--parameters"}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		args = append(args, "ParameterKey="+k+",ParameterValue="+v)
	}
	for _, a := range [][]string{args, {"cloudformation", "wait", "stack-create-complete", "--stack-name", name}} {
		if out, err := awsCLI(endpoint, env, a...); err != nil {
			return fmt.Sprintf("%v: %s", err, out), false
		}
	}
	return "", true
}

// awsCLI is brokertest.AWSCLI for a call that may fail: its output and
// error.
func awsCLI(endpoint string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// stackOutputs are a stack's Outputs by key.
func stackOutputs(t *testing.T, endpoint string, env []string, stack string) map[string]string {
	t.Helper()
	var out struct {
		Stacks []struct {
			StackStatus string
			Outputs     []struct{ OutputKey, OutputValue string }
		}
	}
	if err := json.Unmarshal(brokertest.AWSCLI(t, endpoint, env, "cloudformation", "describe-stacks", "--stack-name", stack), &out); err != nil || len(out.Stacks) != 1 {
		t.Fatalf("describe-stacks %s: %v", stack, err)
	}
	m := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		m[o.OutputKey] = o.OutputValue
	}
	return m
}

// withoutOutput is template without the Output name.
func withoutOutput(t *testing.T, template []byte, name string) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(template, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "Outputs" {
			continue
		}
		outputs := root.Content[i+1]
		for j := 0; j+1 < len(outputs.Content); j += 2 {
			if outputs.Content[j].Value == name {
				outputs.Content = slices.Delete(outputs.Content, j, j+2)
				out, err := yaml.Marshal(&doc)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
		}
	}
	t.Fatalf("the template has no Output %s", name)
	return nil
}

// roleDocument is a role's trust policy (policy "") or inline policy,
// decoded.
func roleDocument(t *testing.T, c *iam.Client, role, policy string) map[string]any {
	t.Helper()
	var doc string
	if policy == "" {
		out, err := c.GetRole(t.Context(), &iam.GetRoleInput{RoleName: aws.String(role)})
		if err != nil {
			t.Fatal(err)
		}
		doc = aws.ToString(out.Role.AssumeRolePolicyDocument)
	} else {
		out, err := c.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(policy)})
		if err != nil {
			t.Fatalf("role %s, policy %s: %v", role, policy, err)
		}
		doc = aws.ToString(out.PolicyDocument)
	}
	if unescaped, err := url.QueryUnescape(doc); err == nil {
		doc = unescaped // IAM answers documents URL-encoded
	}
	return policyOf(t, doc)
}

// motoUser creates an IAM user with policy and returns its key and secret.
func motoUser(t *testing.T, c *iam.Client, name, policy string) [2]string {
	t.Helper()
	if _, err := c.CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutUserPolicy(t.Context(), &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("all"), PolicyDocument: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	key, err := c.CreateAccessKey(t.Context(), &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return [2]string{aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey)}
}

// session is what sts assume-role hands out.
type session struct{ AccessKeyId, SecretAccessKey, SessionToken string }

// assumeRole runs aws sts assume-role.
func assumeRole(t *testing.T, endpoint string, env []string, role, name string) session {
	t.Helper()
	var out struct{ Credentials session }
	if err := json.Unmarshal(brokertest.AWSCLI(t, endpoint, env, "sts", "assume-role", "--role-arn", role, "--role-session-name", name), &out); err != nil {
		t.Fatal(err)
	}
	return out.Credentials
}

// env is the AWS CLI's environment for a session.
func env(s session) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + s.SecretAccessKey, "AWS_SESSION_TOKEN=" + s.SessionToken}
}

// enforce makes moto verify every later request's signature and IAM
// policies.
func enforce(t *testing.T, endpoint string) {
	t.Helper()
	resp, err := http.Post(endpoint+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("moto reset-auth: %s", resp.Status)
	}
}

// bootstrapZip is a Lambda zip holding a bootstrap (moto never runs it).
func bootstrapZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, err := w.Create("bootstrap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("#!/bin/sh\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// revoke merges PR number, which deletes the harness's grant, at at.
func revoke(t *testing.T, h *brokertest.Harness, number int, at time.Time) {
	t.Helper()
	sha := h.Repo.Commit(at, fmt.Sprintf("Merge pull request #%d", number), map[string]string{vt.RequestPath: ""})
	h.GitHub.Fake.AddPull(&github.PullRequest{Number: github.Int(number), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String(fmt.Sprintf("%040d", 4000+number)), Ref: github.String("revoke")},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, []*github.CommitFile{{Filename: github.String(vt.RequestPath), Status: github.String("removed")}})
	h.GitHub.MergeAs(t, number, at, sha)
}

// waitFor polls until cond holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
