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
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
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
// statement. The end-sessions policy adds endSessionsDenies, on roles
// named without a wildcard, and the elevated role takes a permissions
// boundary. With IdentityCenterInstanceArn, the Identity Center policy's
// sso actions are confined to it, the permission sets listed and
// accounts. The broker's table and checkpoint policies allow the calls
// internal/claim and the checkpoint make, on the table internal/claim
// expects. With ActivityBucket, elevate-activity lists the trail's bucket
// and reads its AWSLogs/ (under ActivityPrefix), nothing else.
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

	// The end-sessions policy: the same actions, on the stack's elevated
	// role, and the Denies that hold whatever else the role is given.
	endSessions := dig(t, target, "Resources", "EndSessionsPolicy", "Properties", "PolicyDocument")
	want := policyOf(t, brokertest.EndSessionsPolicy)
	st := statements(t, endSessions)
	if len(st) == 0 || !sameStrings(st[0]["Action"], statements(t, want)[0]["Action"]) || st[0]["Effect"] != "Allow" {
		t.Fatalf("the end-sessions policy in %s is %s, want the actions of brokertest.EndSessionsPolicy %s first", targetTemplate, jsonOf(endSessions), brokertest.EndSessionsPolicy)
	}
	if r := jsonOf(st[0]["Resource"]); !strings.Contains(r, `{"Fn::GetAtt":["ElevatedRole","Arn"]}`) || !strings.Contains(r, `{"Ref":"OtherElevatedRoleArns"}`) {
		t.Errorf("the end-sessions policy's resources %s do not name the stack's elevated role and OtherElevatedRoleArns", r)
	}
	denies := []any{}
	for _, d := range st[1:] {
		denies = append(denies, d)
	}
	if want := endSessionsDenies(st[0]["Resource"], map[string]any{"Fn::GetAtt": []any{"EndSessionsRole", "Arn"}}); !reflect.DeepEqual(normalize(denies), normalize(want)) {
		t.Errorf("the end-sessions policy in %s adds\n%s\nto brokertest.EndSessionsPolicy; want\n%s", targetTemplate, jsonOf(denies), jsonOf(want))
	}
	if got := dig(t, target, "Resources", "EndSessionsPolicy", "Properties", "PolicyName"); got != "end-sessions" {
		t.Errorf("the end-sessions policy is named %v, want end-sessions (docs/production.md)", got)
	}
	// Those roles are named, not matched: no wildcard in a role's name.
	pattern := regexp.MustCompile(dig(t, target, "Parameters", "OtherElevatedRoleArns", "AllowedPattern").(string))
	for arn, ok := range map[string]bool{
		"": true, "arn:aws:iam::*:role/Admin": true, "arn:aws:iam::123456789012:role/ops/ReadOnly": true,
		"arn:aws:iam::*:role/*": false, "arn:aws:iam::123456789012:role/Admin*": false, "arn:aws:iam::123456789012:role/Adm?n": false,
		"arn:aws:iam::*:role/ops/*": false, "arn:aws:iam::123456789012:user/Admin": false,
	} {
		if pattern.MatchString(arn) != ok {
			t.Errorf("OtherElevatedRoleArns's AllowedPattern %s takes %q: %v, want %v", pattern, arn, !ok, ok)
		}
	}
	// A permissions boundary, when given, caps the elevated role.
	if got, want := dig(t, target, "Resources", "ElevatedRole", "Properties", "PermissionsBoundary"),
		map[string]any{"Fn::If": []any{"HasPermissionsBoundary", map[string]any{"Ref": "PermissionsBoundaryArn"}, map[string]any{"Ref": "AWS::NoValue"}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("the elevated role's PermissionsBoundary is %s, want %s", jsonOf(got), jsonOf(want))
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

	// With IdentityCenter true, brokertest.IdentityCenterPolicy as it is;
	// with IdentityCenterInstanceArn too, its sso actions on that instance,
	// the permission sets listed and accounts only.
	ic := dig(t, brk, "Resources", "IdentityCenterPolicy", "Properties", "PolicyDocument")
	want = policyOf(t, brokertest.IdentityCenterPolicy)
	if got := resolveIf(ic, map[string]bool{"ScopedIdentityCenter": false}); !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Errorf("the Identity Center policy in %s is\n%s\nwant (brokertest.IdentityCenterPolicy)\n%s", brokerTemplate, jsonOf(got), jsonOf(want))
	}
	var sso []any
	for _, a := range statements(t, want)[0]["Action"].([]any) {
		if strings.HasPrefix(a.(string), "sso:") {
			sso = append(sso, a)
		}
	}
	scoped := map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Effect": "Allow", "Action": sso, "Resource": map[string]any{"Fn::Split": []any{",", map[string]any{"Fn::Join": []any{",", []any{
			map[string]any{"Ref": "IdentityCenterInstanceArn"},
			map[string]any{"Fn::Join": []any{",", map[string]any{"Ref": "IdentityCenterPermissionSetArns"}}},
			map[string]any{"Fn::Sub": "arn:${AWS::Partition}:sso:::account/*"},
		}}}}}},
		map[string]any{"Effect": "Allow", "Action": "identitystore:GetUserId", "Resource": "*"},
		statements(t, want)[1],
	}}
	if got := resolveIf(ic, map[string]bool{"ScopedIdentityCenter": true}); !reflect.DeepEqual(normalize(got), normalize(scoped)) {
		t.Errorf("the Identity Center policy in %s with IdentityCenterInstanceArn is\n%s\nwant\n%s", brokerTemplate, jsonOf(got), jsonOf(scoped))
	}
	if got, want := dig(t, brk, "Conditions", "ScopedIdentityCenter"), map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "IdentityCenterInstanceArn"}, ""}}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("ScopedIdentityCenter is %s, want %s", jsonOf(got), jsonOf(want))
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
	// With ActivityBucket, elevate-activity: the trail's bucket listed and
	// its AWSLogs/ read (under ActivityPrefix when given), nothing else.
	if got := dig(t, brk, "Resources", "ActivityPolicy", "Condition"); got != "WithActivity" {
		t.Errorf("ActivityPolicy's condition is %v, want WithActivity", got)
	}
	for name, param := range map[string]string{"WithActivity": "ActivityBucket", "WithActivityPrefix": "ActivityPrefix"} {
		if got, want := dig(t, brk, "Conditions", name), map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": param}, ""}}}}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s is %s, want %s", name, jsonOf(got), jsonOf(want))
		}
	}
	activityPolicy := dig(t, brk, "Resources", "ActivityPolicy", "Properties", "PolicyDocument")
	for prefix, objects := range map[bool]string{
		true:  "arn:${AWS::Partition}:s3:::${ActivityBucket}/${ActivityPrefix}/AWSLogs/*",
		false: "arn:${AWS::Partition}:s3:::${ActivityBucket}/AWSLogs/*",
	} {
		want := map[string]any{"Version": "2012-10-17", "Statement": []any{
			map[string]any{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:s3:::${ActivityBucket}"}},
			map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": map[string]any{"Fn::Sub": objects}},
		}}
		if got := resolveIf(activityPolicy, map[string]bool{"WithActivityPrefix": prefix}); !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Errorf("elevate-activity with a prefix: %v is\n%s\nwant\n%s", prefix, jsonOf(got), jsonOf(want))
		}
	}

	checkpoint := statements(t, dig(t, brk, "Resources", "CheckpointPolicy", "Properties", "PolicyDocument"))
	if len(checkpoint) == 0 || !sameStrings(checkpoint[0]["Action"], "s3:GetObject", "s3:PutObject") ||
		!reflect.DeepEqual(checkpoint[0]["Resource"], map[string]any{"Fn::Sub": "${CheckpointBucket.Arn}/${Repository}"}) {
		t.Errorf("elevate-checkpoint starts with %s, want s3:GetObject and s3:PutObject on the checkpoint's object", jsonOf(checkpoint))
	}
}

// Whoever else in the broker's account may write S3 objects or DynamoDB
// items cannot write the checkpoint or the claims (TestStacksIssueCredentialsInMoto
// shows it in moto): the bucket's policy and the table's resource policy
// deny them to all but the broker's role, and the bucket's deletes to
// all, and access without TLS, which moto cannot show. The bucket keeps
// what is overwritten or deleted, for 90 days. The function's concurrency
// is capped (TestBrokerStacksInMoto).
func TestBrokerStackGuardsItsState(t *testing.T) {
	t.Parallel()
	brk := readTemplate(t, brokerTemplate)
	brokerRole := map[string]any{"Fn::GetAtt": []any{"BrokerRole", "Arn"}}
	objects := map[string]any{"Fn::Sub": "${CheckpointBucket.Arn}/*"}
	bucketPolicy := dig(t, brk, "Resources", "CheckpointBucketPolicy", "Properties").(map[string]any)
	if got := bucketPolicy["Bucket"]; !reflect.DeepEqual(got, map[string]any{"Ref": "CheckpointBucket"}) {
		t.Errorf("CheckpointBucketPolicy is the policy of %s, want the checkpoint bucket's", jsonOf(got))
	}
	for _, c := range []struct {
		what string
		got  any
		want []any
	}{
		{"the checkpoint bucket's policy", bucketPolicy["PolicyDocument"], []any{
			map[string]any{"Sid": "OnlyTheBrokerWritesCheckpoints", "Effect": "Deny", "Principal": "*", "Action": []any{"s3:PutObject", "s3:ReplicateObject"},
				"Resource": objects, "Condition": map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": brokerRole}}},
			map[string]any{"Sid": "NoOneDeletesCheckpoints", "Effect": "Deny", "Principal": "*", "Action": []any{"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:ReplicateDelete"},
				"Resource": objects},
			map[string]any{"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
				"Resource": []any{map[string]any{"Fn::GetAtt": []any{"CheckpointBucket", "Arn"}}, objects}, "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}},
		}},
		{"the notice table's resource policy", dig(t, brk, "Resources", "NoticeTable", "Properties", "ResourcePolicy", "PolicyDocument"), []any{
			map[string]any{"Sid": "OnlyTheBrokerWritesClaims", "Effect": "Deny", "Principal": "*",
				"Action":   []any{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"},
				"Resource": "*", "Condition": map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": brokerRole}}},
		}},
	} {
		if want := map[string]any{"Version": "2012-10-17", "Statement": c.want}; !reflect.DeepEqual(normalize(c.got), normalize(want)) {
			t.Errorf("%s is\n%s\nwant\n%s", c.what, jsonOf(c.got), jsonOf(want))
		}
	}
	bucket := dig(t, brk, "Resources", "CheckpointBucket", "Properties").(map[string]any)
	if got, want := jsonOf([]any{bucket["VersioningConfiguration"], bucket["LifecycleConfiguration"]}),
		`[{"Status":"Enabled"},{"Rules":[{"Id":"expire-noncurrent-checkpoints","NoncurrentVersionExpiration":{"NoncurrentDays":90},"Status":"Enabled"}]}]`; got != want {
		t.Errorf("the checkpoint bucket's versioning and lifecycle are %s, want %s", got, want)
	}

	if got, want := dig(t, brk, "Resources", "Function", "Properties", "ReservedConcurrentExecutions"),
		map[string]any{"Fn::If": []any{"WithReservedConcurrency", map[string]any{"Ref": "ReservedConcurrency"}, map[string]any{"Ref": "AWS::NoValue"}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("the function's ReservedConcurrentExecutions is %s, want %s", jsonOf(got), jsonOf(want))
	}
	if got := dig(t, brk, "Parameters", "ReservedConcurrency", "Default"); got != 20 {
		t.Errorf("ReservedConcurrency defaults to %v, want 20", got)
	}
}

// endSessionsDenies are the statements the target stack adds to
// brokertest.EndSessionsPolicy, so that elevate-end-sessions, whatever
// else it is given later, writes inline policies on the elevated roles
// only, never on itself, and never deletes one, attaches a managed policy
// or touches a permissions boundary.
func endSessionsDenies(elevated, self any) []any {
	return []any{
		map[string]any{"Effect": "Deny", "Action": "iam:PutRolePolicy", "NotResource": elevated},
		map[string]any{"Effect": "Deny", "Action": "iam:PutRolePolicy", "Resource": self},
		map[string]any{"Effect": "Deny", "Action": []any{"iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"}, "Resource": "*"},
	}
}

// withStatements is the policy doc with more statements.
func withStatements(t *testing.T, doc string, more ...any) string {
	t.Helper()
	p := policyOf(t, doc)
	p["Statement"] = append(p["Statement"].([]any), more...)
	return jsonOf(p)
}

// resolveIf is a template's value with each Fn::If decided by conds, and
// without what AWS::NoValue leaves out.
func resolveIf(v any, conds map[string]bool) any {
	noValue := func(v any) bool { return reflect.DeepEqual(v, map[string]any{"Ref": "AWS::NoValue"}) }
	switch v := v.(type) {
	case map[string]any:
		if args, ok := v["Fn::If"].([]any); ok && len(v) == 1 && len(args) == 3 {
			if conds[args[0].(string)] {
				return resolveIf(args[1], conds)
			}
			return resolveIf(args[2], conds)
		}
		out := map[string]any{}
		for k, x := range v {
			if x = resolveIf(x, conds); !noValue(x) {
				out[k] = x
			}
		}
		return out
	case []any:
		out := []any{}
		for _, x := range v {
			if x = resolveIf(x, conds); !noValue(x) {
				out = append(out, x)
			}
		}
		return out
	}
	return v
}

// sitecustomize corrects, in the moto_server this test starts, the ways
// moto judges a request otherwise than AWS does, so that the stacks'
// policies are judged as AWS would judge them:
//   - a trust policy naming a role admits that role's sessions (moto
//     compares the session's ARN, arn:aws:sts::…:assumed-role/ROLE/NAME,
//     with the role's, and refuses);
//   - a DynamoDB call is authorized against its table's ARN (moto asks
//     about "*", which a policy naming its table never allows);
//   - a statement with NotResource covers every other resource (moto
//     takes it for one without Resource, a trust policy's, and allows);
//   - CloudFormation makes an AWS::S3::BucketPolicy and a table's
//     ResourcePolicy (moto skips the first and ignores the second);
//   - the Deny statements of a bucket's policy and of a table's resource
//     policy are judged, with the condition operators the stacks use, on
//     the caller's aws:PrincipalArn (moto ignores a table's policy, and
//     judges a bucket's without principal or conditions: every
//     conditional Deny denies everyone). Their Allow statements are not
//     judged: the stacks' have none. moto_server speaks plain HTTP, so
//     aws:SecureTransport is taken as "true", as it is for every AWS SDK
//     call: the template test checks the TLS statement instead.
const sitecustomize = `import json
import re


def _elevate_patch():
    try:
        from moto.core.common_models import CloudFormationModel
        from moto.core.exceptions import JsonRESTError
        from moto.dynamodb import responses
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.table import Table
        from moto.iam import access_control
        from moto.s3 import models as s3models
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

    permitted = statement.is_action_permitted

    def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
        st = self._statement
        if "NotResource" in st and "Resource" not in st:
            if any(_like(p, resource) for p in _list(st["NotResource"])):
                return access_control.PermissionResult.NEUTRAL
            st = dict(st, Resource="*")
            del st["NotResource"]
            return permitted(statement(st), action, resource, principal, incoming_condition_values)
        return permitted(self, action, resource, principal, incoming_condition_values)

    statement.is_action_permitted = is_action_permitted

    # What the stacks create.
    class ElevateBucketPolicy(CloudFormationModel):
        __module__ = "moto.s3.elevate"  # moto files models by service

        def __init__(self, bucket):
            self.bucket = bucket

        @staticmethod
        def cloudformation_name_type():
            return ""

        @staticmethod
        def cloudformation_type():
            return "AWS::S3::BucketPolicy"

        @classmethod
        def has_cfn_attr(cls, attr):
            return False

        @property
        def physical_resource_id(self):
            return self.bucket

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            props = cloudformation_json["Properties"]
            s3models.s3_backends[account_id]["aws"].put_bucket_policy(props["Bucket"], json.dumps(props["PolicyDocument"]).encode())
            return cls(props["Bucket"])

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            s3models.s3_backends[account_id]["aws"].delete_bucket_policy(cloudformation_json["Properties"]["Bucket"])

    _elevate_patch.models = [ElevateBucketPolicy]

    create_table = Table.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        table = create_table(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        policy = cloudformation_json["Properties"].get("ResourcePolicy")
        if policy:
            dynamodb_backends[account_id][region_name].put_resource_policy(table.table_arn, json.dumps(policy["PolicyDocument"]), None)
        return table

    Table.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)

    # The resource policies' Deny statements, after the caller's own
    # policies; moto's judgement of a bucket's policy is replaced.
    s3models.FakeBucket.get_permission = lambda self, action, resource: access_control.PermissionResult.NEUTRAL

    def resource_policy(account, resource):
        m = re.match(r"^arn:aws:s3:::([^/]+)", resource)
        if m:
            bucket = s3models.s3_backends[account]["aws"].buckets.get(m.group(1))
            return bucket.policy.decode() if bucket is not None and bucket.policy else None
        m = re.match(r"^arn:aws:dynamodb:([^:]+):([0-9]{12}):table/[^/]+$", resource)
        if m:
            policy = dynamodb_backends[m.group(2)][m.group(1)].resource_policies.get(resource)
            return policy.policy_doc if policy is not None else None
        return None

    base = access_control.IAMRequestBase
    check_action = base.check_action_permitted

    def check_action_permitted(self, resource):
        check_action(self, resource)
        doc = resource_policy(self.account_id, resource)
        if doc is None:
            return
        caller = self._access_key.arn
        m = session.match(caller)
        if m:
            caller = "arn:%s:iam::%s:role/%s" % m.groups()
        context = {"aws:principalarn": caller, "aws:securetransport": "true"}
        for st in _list(json.loads(doc)["Statement"]):
            if st.get("Effect") != "Deny" or st.get("Principal") not in ("*", {"AWS": "*"}):
                continue
            if not any(_like(a, self._action, True) for a in _list(st["Action"])):
                continue
            if not any(_like(r, resource) for r in _list(st["Resource"])):
                continue
            if all(_holds(op, key, values, context) for op, keys in st.get("Condition", {}).items() for key, values in keys.items()):
                if resource.startswith("arn:aws:dynamodb:"):
                    # As DynamoDB answers, in JSON (moto's own refusal is XML).
                    raise JsonRESTError("AccessDeniedException", "User: %s is not authorized to perform: %s on resource: %s with an explicit deny in a resource-based policy" % (self._access_key.arn, self._action, resource))
                self._raise_access_denied()

    base.check_action_permitted = check_action_permitted


def _list(v):
    return v if isinstance(v, list) else [v]


def _like(pattern, value, fold=False):
    regex = "^" + ".*".join(".".join(re.escape(q) for q in p.split("?")) for p in pattern.split("*")) + "$"
    return re.match(regex, value, re.IGNORECASE if fold else 0) is not None


def _holds(op, key, values, context):
    # A key the request lacks fails a condition, but for a negated one.
    value = context.get(key.lower())
    negated = "Not" in op
    match = {
        "ArnEquals": _like, "ArnLike": _like, "ArnNotEquals": _like, "ArnNotLike": _like,
        "StringEquals": str.__eq__, "StringNotEquals": str.__eq__, "StringLike": _like, "StringNotLike": _like,
        "Bool": lambda v, value: str(v).lower() == value,
    }.get(op)
    if match is None:
        raise NotImplementedError("condition operator " + op)
    if value is None:
        return negated
    return any(match(v, value) for v in _list(values)) != negated


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
// An administrator of the account (an Allow of everything) cannot write
// or delete the checkpoint, nor write a claim, until it deletes the
// bucket's policy; elevate-end-sessions, given an Allow of all of IAM,
// still writes the elevated role's inline policies only. With
// ActivityBucket and ActivityPrefix, the broker's role reads the trail's
// log files of a grant's window and nothing else of the bucket.
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
		"--capabilities", "CAPABILITY_NAMED_IAM", "--parameter-overrides", "Runtime=role", "Repository=acme/access",
		"ActivityBucket="+trailtest.TrailBucket, "ActivityPrefix=org")
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
		{"elevate-end-sessions", "end-sessions", withStatements(t, brokertest.EndSessionsPolicy,
			endSessionsDenies("arn:aws:iam::"+motoAccount+":role/"+elevated, "arn:aws:iam::"+motoAccount+":role/elevate-end-sessions")...)},
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
	// The organisation trail's bucket, its log files under org/AWSLogs/,
	// and an object beside them.
	trailtest.Upload(t, endpoint, true, trailtest.StoryFiles("org"))
	trailtest.Upload(t, endpoint, false, map[string][]byte{"org/reports/payroll.csv": []byte("not the trail's")})
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

	// Nobody else writes either, an administrator of the account neither:
	// the bucket's policy and the table's resource policy deny it,
	// whatever the caller's own policies allow.
	forged := map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "forged"}}
	for _, c := range []struct {
		what string
		call func() error
	}{
		{"overwrite the checkpoint", func() error {
			_, err := s3c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("acme/access"), Body: strings.NewReader("forged")})
			return err
		}},
		{"write another object in the bucket", func() error {
			_, err := s3c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("acme/other"), Body: strings.NewReader("forged")})
			return err
		}},
		{"delete the checkpoint", func() error {
			_, err := s3c.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("acme/access")})
			return err
		}},
		{"write a claim", func() error {
			_, err := ddb.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: forged})
			return err
		}},
		{"update a claim", func() error {
			_, err := ddb.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: forged,
				UpdateExpression: aws.String("SET #t = :t"), ExpressionAttributeNames: map[string]string{"#t": "ttl"}, ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberN{Value: "1"}}})
			return err
		}},
		{"delete a claim", func() error {
			_, err := ddb.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: forged})
			return err
		}},
	} {
		if err := c.call(); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("an administrator of the account tries to %s: %v; want AccessDenied", c.what, err)
		}
	}

	// elevate-activity lets the broker read the trail of a grant's window,
	// and nothing in the bucket outside AWSLogs/.
	trail := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(instance.AccessKeyId, instance.SecretAccessKey, instance.SessionToken)})
	loc, err := activity.ParseLocation(trailtest.TrailBucket + "/org")
	if err != nil {
		t.Fatal(err)
	}
	grant := activity.Grant{ID: trailtest.GrantID, Targets: []activity.Target{{AccountID: trailtest.Prod, Role: "Admin"}}, Start: trailtest.Start, End: trailtest.End}
	sum, err := activity.Scan(t.Context(), trail, loc, grant, activity.Options{Now: trailtest.End.Add(activity.LateFiles)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files == 0 || !sum.Used() {
		t.Errorf("the broker's role read %d log files and found %d calls of the story's grant; want its files and calls (problems: %v)", sum.Files, sum.Calls, sum.Problems)
	}
	for _, p := range sum.Problems {
		if strings.Contains(p, "AccessDenied") {
			t.Errorf("the broker's role was refused part of the trail: %s", p)
		}
	}
	if _, err := trail.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(trailtest.TrailBucket), Key: aws.String("org/reports/payroll.csv")}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("the broker's role reads an object of the trail's bucket outside AWSLogs/: %v; want AccessDenied", err)
	}

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
	h.Revoke(40, h.Clock())
	if err := b.Syncer.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.Syncer.Wait()
	waitFor(t, "the Deny of the revoked grant on "+elevated, func() bool {
		out, err := adminIAM.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String(elevated), PolicyName: aws.String(endsession.PolicyName)})
		return err == nil && strings.Contains(aws.ToString(out.PolicyDocument), "Deny")
	})

	// elevate-end-sessions, given more later (here an inline Allow of all
	// of IAM), still writes inline policies on the elevated role only.
	if _, err := adminIAM.PutRolePolicy(t.Context(), &iam.PutRolePolicyInput{RoleName: aws.String("elevate-end-sessions"), PolicyName: aws.String("widened"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	ender := assumeRole(t, endpoint, env(instance), "arn:aws:iam::"+motoAccount+":role/elevate-end-sessions", "ender")
	enderIAM := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: credentials.NewStaticCredentialsProvider(ender.AccessKeyId, ender.SecretAccessKey, ender.SessionToken)})
	allowAll := aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	administrator := aws.String("arn:aws:iam::aws:policy/AdministratorAccess")
	for _, c := range []struct {
		what string
		call func() error
	}{
		{"write an inline policy on another role", func() error {
			_, err := enderIAM.PutRolePolicy(t.Context(), &iam.PutRolePolicyInput{RoleName: aws.String("intruder"), PolicyName: aws.String("more"), PolicyDocument: allowAll})
			return err
		}},
		{"write an inline policy on itself", func() error {
			_, err := enderIAM.PutRolePolicy(t.Context(), &iam.PutRolePolicyInput{RoleName: aws.String("elevate-end-sessions"), PolicyName: aws.String("more"), PolicyDocument: allowAll})
			return err
		}},
		{"delete the elevated role's " + endsession.PolicyName, func() error {
			_, err := enderIAM.DeleteRolePolicy(t.Context(), &iam.DeleteRolePolicyInput{RoleName: aws.String(elevated), PolicyName: aws.String(endsession.PolicyName)})
			return err
		}},
		{"attach a managed policy to the elevated role", func() error {
			_, err := enderIAM.AttachRolePolicy(t.Context(), &iam.AttachRolePolicyInput{RoleName: aws.String(elevated), PolicyArn: administrator})
			return err
		}},
		{"set the elevated role's permissions boundary", func() error {
			_, err := enderIAM.PutRolePermissionsBoundary(t.Context(), &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String(elevated), PermissionsBoundary: administrator})
			return err
		}},
		{"remove the elevated role's permissions boundary", func() error {
			_, err := enderIAM.DeleteRolePermissionsBoundary(t.Context(), &iam.DeleteRolePermissionsBoundaryInput{RoleName: aws.String(elevated)})
			return err
		}},
	} {
		if err := c.call(); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("elevate-end-sessions, with an Allow of all of IAM, tries to %s: %v; want AccessDenied", c.what, err)
		}
	}
	ended, err := enderIAM.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String(elevated), PolicyName: aws.String(endsession.PolicyName)})
	if err == nil {
		doc, _ := url.QueryUnescape(aws.ToString(ended.PolicyDocument))
		_, err = enderIAM.PutRolePolicy(t.Context(), &iam.PutRolePolicyInput{RoleName: aws.String(elevated), PolicyName: aws.String(endsession.PolicyName), PolicyDocument: aws.String(doc)})
	}
	if err != nil {
		t.Errorf("elevate-end-sessions rewrites %s on %s: %v", endsession.PolicyName, elevated, err)
	}

	// The account's administrators can still empty the bucket, and so
	// delete the stack, once they delete its policy.
	if _, err := s3c.DeleteBucketPolicy(t.Context(), &s3.DeleteBucketPolicyInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("an administrator deletes the checkpoint bucket's policy: %v", err)
	} else if _, err := s3c.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("acme/access")}); err != nil {
		t.Errorf("an administrator deletes the checkpoint once the bucket's policy is deleted: %v", err)
	}
	t.Logf("in all: %s", time.Since(start).Round(time.Millisecond))
}

// The broker stack with Runtime lambda, created in moto with aws
// cloudformation create-stack: the function (provided.al2023, bootstrap,
// the zip from the bucket, the stack's role), its environment naming the
// stack's table and bucket and the secret (and, with ActivityBucket and
// ActivityPrefix, the trail's location, which elevate-activity then lets
// the role read), its function URL permissions, and the rule that invokes
// it every minute. moto has no CloudFormation
// model of AWS::Lambda::Url: it skips the resource, and an Output reading
// its FunctionUrl fails create-stack, so the test drops that Output when
// moto refuses the template as it is. The function's reserved
// concurrency is ReservedConcurrency's default. With Runtime role: the
// role trusts EC2 and ECS tasks, and the instance profile holds it. Both
// stacks give their Outputs. A target stack with PermissionsBoundaryArn
// gives its elevated role that boundary.
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
		"CodeS3Bucket=acme-elevate-code", "BrokerSecretArn=" + secret, "ActivityBucket=org-trail-logs", "ActivityPrefix=trail"}
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
	for _, k := range []string{"BrokerRoleArn", "NoticeTableName", "CheckpointBucketName", "CheckpointUrl", "FunctionName", "ActivityLocation"} {
		if outputs[k] == "" {
			t.Errorf("the lambda stack has no Output %s: %v", k, outputs)
		}
	}
	if want := "s3://" + outputs["CheckpointBucketName"] + "/acme/access"; outputs["CheckpointUrl"] != want {
		t.Errorf("CheckpointUrl %s, want %s", outputs["CheckpointUrl"], want)
	}
	if outputs["ActivityLocation"] != "org-trail-logs/trail" {
		t.Errorf("ActivityLocation %q, want org-trail-logs/trail", outputs["ActivityLocation"])
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
		"ELEVATE_ACTIVITY_BUCKET": "org-trail-logs/trail",
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

	// At most ReservedConcurrency instances at once: 20 by default.
	var concurrency struct{ ReservedConcurrentExecutions any }
	if out := brokertest.AWSCLI(t, endpoint, setup, "lambda", "get-function-concurrency", "--function-name", outputs["FunctionName"]); len(bytes.TrimSpace(out)) > 0 {
		if err := json.Unmarshal(out, &concurrency); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(concurrency.ReservedConcurrentExecutions); got != "20" {
		t.Errorf("the function's reserved concurrency is %s, want 20", got)
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
	// The lambda stack's ActivityBucket and ActivityPrefix: elevate-activity
	// lists that bucket and reads trail/AWSLogs/*, exactly; without them
	// (the role stack) there is no such policy and no Output.
	activityPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::org-trail-logs"},` +
		`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::org-trail-logs/trail/AWSLogs/*"}]}`
	if got, want := roleDocument(t, setupIAM, "elevate-broker", "elevate-activity"), policyOf(t, activityPolicy); !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Errorf("the lambda stack's elevate-activity is\n%s\nwant\n%s", jsonOf(got), jsonOf(want))
	}
	if outputs["ActivityLocation"] != "" {
		t.Errorf("the role stack, without ActivityBucket, has the Output ActivityLocation %q", outputs["ActivityLocation"])
	}
	if _, err := setupIAM.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String("elevate-broker-ec2"), PolicyName: aws.String("elevate-activity")}); err == nil {
		t.Error("the role stack, without ActivityBucket, gives its role elevate-activity")
	}
	trust := roleDocument(t, setupIAM, "elevate-broker-ec2", "")
	if want := `{"Statement":[{"Action":["sts:AssumeRole"],"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","ecs-tasks.amazonaws.com"]}}],"Version":"2012-10-17"}`; jsonOf(normalize(trust)) != want {
		t.Errorf("the role stack's trust is %s, want %s", jsonOf(normalize(trust)), want)
	}
	profile, err := setupIAM.GetInstanceProfile(t.Context(), &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("elevate-broker-ec2")})
	if err != nil || len(profile.InstanceProfile.Roles) != 1 || aws.ToString(profile.InstanceProfile.Roles[0].Arn) != outputs["BrokerRoleArn"] {
		t.Errorf("the instance profile %+v (%v): want the broker's role", profile, err)
	}

	// A target stack with PermissionsBoundaryArn: the elevated role has it.
	target, err := os.ReadFile(targetTemplate)
	if err != nil {
		t.Fatal(err)
	}
	const boundary = "arn:aws:iam::aws:policy/PowerUserAccess"
	if out, ok := createStack(t, endpoint, setup, "elevate-target-bounded", target, []string{"BrokerPrincipalArn=" + outputs["BrokerRoleArn"],
		"ElevatedRoleName=Bounded", "ManagedPolicyArns=" + boundary, "PermissionsBoundaryArn=" + boundary, "EndSessions=false"}); !ok {
		t.Fatalf("create-stack of the target with a permissions boundary: %s", out)
	}
	bounded, err := setupIAM.GetRole(t.Context(), &iam.GetRoleInput{RoleName: aws.String("Bounded")})
	if err != nil {
		t.Fatal(err)
	}
	if got := bounded.Role.PermissionsBoundary; got == nil || aws.ToString(got.PermissionsBoundaryArn) != boundary {
		t.Errorf("the elevated role of a stack with PermissionsBoundaryArn %s has the boundary %+v", boundary, got)
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
			case "Action", "Resource", "NotResource", "Service":
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
