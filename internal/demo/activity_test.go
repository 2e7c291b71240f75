package demo_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/testenv"
)

// The trail's read policies docs/broker.md shows: the broker's own, and
// the statements a log archive's bucket policy adds for it.
const (
	activityReadPolicy = `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::org-trail-logs"},` +
		`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::org-trail-logs/AWSLogs/*"}]}`
	activityBucketPolicy = `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"ElevateBrokerListsTheTrail","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/elevate-broker"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::org-trail-logs"},` +
		`{"Sid":"ElevateBrokerReadsTheTrail","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/elevate-broker"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::org-trail-logs/AWSLogs/*"}]}`
)

// activityPolicies are the trail's policies a page may show: the read
// policy TestActivityReadPolicyInMoto creates, and the bucket policy that
// TestActivityBucketPolicyIsTheReadPolicy holds to it (moto does not
// judge a bucket's policy for another account's principal).
var activityPolicies = map[string]string{
	"activityReadPolicy":   activityReadPolicy,
	"activityBucketPolicy": activityBucketPolicy,
}

// The read policy docs/broker.md shows lets its holder read a grant's
// trail whole, under moto's checks of signatures and IAM policies, and
// nothing else of the bucket.
func TestActivityReadPolicyInMoto(t *testing.T) {
	t.Parallel()
	files := trailtest.StoryFiles("")
	files["reports/payroll.csv"] = []byte("not the trail's")
	// The set-up's calls, answered unauthenticated: the bucket, its files,
	// the reader, its key and its policy.
	endpoint := testenv.StartMoto(t, 1+len(files)+3)
	trailtest.Upload(t, endpoint, true, files)
	ctx := context.Background()
	iamc := iam.NewFromConfig(trailtest.Config(endpoint, "setup", "setup"))
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("elevate-broker")}); err != nil {
		t.Fatal(err)
	}
	key, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("elevate-broker")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("elevate-broker"), PolicyName: aws.String("elevate-activity"), PolicyDocument: aws.String(activityReadPolicy)}); err != nil {
		t.Fatal(err)
	}
	reader := trailtest.Client(endpoint, aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey))

	loc, err := activity.ParseLocation(trailtest.TrailBucket)
	if err != nil {
		t.Fatal(err)
	}
	g := activity.Grant{ID: trailtest.GrantID, Targets: []activity.Target{{AccountID: trailtest.Prod, Role: "Admin"}}, Start: trailtest.Start, End: trailtest.End}
	sum, err := activity.Scan(ctx, reader, loc, g, activity.Options{Now: trailtest.End.Add(activity.LateFiles)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files == 0 || !sum.Used() {
		t.Errorf("under the read policy: %d log files, %d calls of the story's grant; want its files and calls (problems: %v)", sum.Files, sum.Calls, sum.Problems)
	}
	for _, p := range sum.Problems {
		if strings.Contains(p, "AccessDenied") {
			t.Errorf("the read policy does not cover part of the trail: %s", p)
		}
	}
	if _, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(trailtest.TrailBucket), Key: aws.String("reports/payroll.csv")}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("the read policy reads an object outside AWSLogs/: %v; want AccessDenied", err)
	}
}

// The log archive's bucket policy grants the broker's principal what the
// read policy grants, statement for statement, and nothing more.
func TestActivityBucketPolicyIsTheReadPolicy(t *testing.T) {
	t.Parallel()
	var read, bucket struct {
		Version   string
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(activityReadPolicy), &read); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(activityBucketPolicy), &bucket); err != nil {
		t.Fatal(err)
	}
	if bucket.Version != read.Version || len(bucket.Statement) != len(read.Statement) {
		t.Fatalf("the bucket policy has %d statements, the read policy %d", len(bucket.Statement), len(read.Statement))
	}
	for i, st := range bucket.Statement {
		if p := st["Principal"]; !reflect.DeepEqual(p, map[string]any{"AWS": "arn:aws:iam::123456789012:role/elevate-broker"}) {
			t.Errorf("statement %d of the bucket policy is for %v, want the broker's principal alone", i, p)
		}
		rest := map[string]any{}
		for k, v := range st {
			if k != "Sid" && k != "Principal" {
				rest[k] = v
			}
		}
		if !reflect.DeepEqual(rest, read.Statement[i]) {
			t.Errorf("statement %d of the bucket policy grants %v, the read policy %v", i, rest, read.Statement[i])
		}
	}
}

// docs/broker.md shows both.
func TestActivityPoliciesShown(t *testing.T) {
	t.Parallel()
	shown := checkPolicies(t, filepath.Join(repoRoot, "docs", "broker.md"))
	for name := range activityPolicies {
		if !shown[name] {
			t.Errorf("docs/broker.md does not show %s", name)
		}
	}
}

// The sensitive actions docs/broker.md lists by default are
// activity.DefaultSensitive, all of them and no other.
func TestBrokerDocListsTheDefaultSensitiveActions(t *testing.T) {
	t.Parallel()
	text := section(t, filepath.Join(repoRoot, "docs", "broker.md"), "## What a grant was used for")
	_, list, ok := strings.Cut(text, "**Sensitive actions.**")
	list, _, ok2 := strings.Cut(list, "Patterns are")
	if !ok || !ok2 {
		t.Fatal(`docs/broker.md, "What a grant was used for", has no paragraph **Sensitive actions.** that ends its list before "Patterns are"`)
	}
	var shown []string
	for _, span := range codeSpan.FindAllString(list, -1) {
		shown = append(shown, strings.Trim(span, "`"))
	}
	if got, want := slices.Sorted(slices.Values(shown)), slices.Sorted(slices.Values(activity.DefaultSensitive)); !slices.Equal(got, want) {
		t.Errorf("docs/broker.md lists the default sensitive actions\n%v\nactivity.DefaultSensitive is\n%v", got, want)
	}
}

// The eligibility.yaml of docs/requests.md is a policy elevate takes, its
// activity.sensitive included.
func TestRequestsDocPolicyParses(t *testing.T) {
	t.Parallel()
	file := filepath.Join(repoRoot, "docs", "requests.md")
	var found bool
	for _, b := range fencedBlocks(t, file) {
		if b.lang != "yaml" || !strings.HasPrefix(b.text, "version: 1\n") {
			continue
		}
		found = true
		p, err := eligibility.Parse(eligibility.File, []byte(b.text))
		if err != nil {
			t.Fatalf("requests.md:%d: %v", b.line, err)
		}
		if want := []string{"iam:*", "*:Delete*", "ec2:AuthorizeSecurityGroup*", "kms:ScheduleKeyDeletion", "s3:PutBucketPolicy"}; !slices.Equal(p.Sensitive, want) {
			t.Errorf("requests.md:%d: activity.sensitive is %v, want %v", b.line, p.Sensitive, want)
		}
	}
	if !found {
		t.Error("docs/requests.md has no eligibility.yaml example (a yaml block that starts with version: 1)")
	}
}
