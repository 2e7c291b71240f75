package broker_test

import (
	"context"

	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/testenv"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// activityComments are the PR's activity comments.
func activityComments(h *brokertest.Harness) []string {
	var out []string
	for _, c := range h.GitHub.Fake.Comments(vt.Number) {
		if strings.Contains(c.GetBody(), "<!-- elevate:activity ") {
			out = append(out, c.GetBody())
		}
	}
	return out
}

// TestActivitySummedUpOnThePR: after the window ends, one scheduled check
// (as Lambda's every minute) reads the trail and comments once on the
// grant's PR; a file CloudTrail delivers late is read at the next read,
// and the comment is edited, not repeated. Issuing never waits for it.
func TestActivitySummedUpOnThePR(t *testing.T) {
	// Not parallel: t.Setenv points the broker's S3 client at moto.
	endpoint := testenv.StartMoto(t, -1)
	t.Setenv("AWS_ENDPOINT_URL_S3", endpoint)
	trailtest.Upload(t, endpoint, true, nil)
	h := brokertest.New(t, func(c *broker.Config) { c.ActivityBucket = trailtest.TrailBucket + "/org" })
	start := h.Clock().Add(-30 * time.Minute)
	end := start.Add(2 * time.Hour)

	// A session this broker issued: it knows the key.
	a := h.Credentials(h.Codertocat(), byID)
	if a.Status != 200 {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
	issued := trailtest.Session{Account: "111111111111", Role: "Admin", Name: awscreds.SessionName("Codertocat", vt.RequestID), Key: a.Body["AccessKeyId"].(string), SourceIdentity: "gh-Codertocat"}
	// A session another replica issued: the trail's AssumeRole names it.
	other := issued
	other.Key, other.Request = "ASIAOTHERREPLICA0001", vt.RequestID
	// The broker's identity as the target account logs its AssumeRole
	// calls (the STS fake's unique id of elevate-broker).
	other.CallerAccount, other.CallerID = "999999999999", brokerUniqueID(t, h)
	// Someone else's session of the same role.
	bob := trailtest.Session{Account: "111111111111", Role: "Admin", Name: "gh-bob-x", Key: "ASIABOBBOBBOBBOB0001", SourceIdentity: "gh-bob", Request: "prod/2026-11/bob-x"}
	// Someone else who assumed the grant's role with its tag: not the
	// broker, so not the grant's session.
	mallory := trailtest.Session{Account: "111111111111", Role: "Admin", Name: issued.Name, Key: "ASIAMALLORYMALLORY01", Request: vt.RequestID,
		CallerAccount: "111111111111", CallerID: "AIDAMALLORYEXAMPLE01"}
	at := func(d time.Duration) time.Time { return start.Add(d) }
	key := func(region string, delivered time.Time, n int) string {
		return trailtest.Key("org", trailtest.Org, "111111111111", region, delivered, fmt.Sprint(n))
	}
	trailtest.Upload(t, endpoint, false, map[string][]byte{
		key("us-east-1", at(40*time.Minute), 1): trailtest.File(
			trailtest.AssumeRole(other, at(20*time.Minute), "e1"),
			trailtest.AssumeRole(bob, at(21*time.Minute), "e2"),
			trailtest.APICall(issued, trailtest.Call{At: at(31 * time.Minute), Source: "iam.amazonaws.com", Name: "CreateUser", Region: "us-east-1"}, "e3"),
			trailtest.APICall(bob, trailtest.Call{At: at(32 * time.Minute), Source: "iam.amazonaws.com", Name: "DeleteUser", Region: "us-east-1"}, "e4"),
			trailtest.AssumeRole(mallory, at(33*time.Minute), "e7"),
			trailtest.APICall(mallory, trailtest.Call{At: at(34 * time.Minute), Source: "iam.amazonaws.com", Name: "DeleteRole", Region: "us-east-1"}, "e8"),
		),
		key("eu-west-1", at(50*time.Minute), 2): trailtest.File(
			trailtest.APICall(other, trailtest.Call{At: at(45 * time.Minute), Source: "s3.amazonaws.com", Name: "DeleteBucket", Region: "eu-west-1", Error: "AccessDenied"}, "e5"),
		),
	})

	ctx := context.Background()
	h.SetNow(end.Add(10 * time.Minute))
	h.Broker.Syncer.Tick(ctx)
	if n := len(activityComments(h)); n != 0 {
		t.Fatalf("%d activity comments 10 minutes after the window, want none before the first read", n)
	}
	h.SetNow(end.Add(16 * time.Minute))
	h.Broker.Syncer.Tick(ctx)
	comments := activityComments(h)
	if len(comments) != 1 {
		t.Fatalf("%d activity comments after the first read, want 1", len(comments))
	}
	for _, want := range []string{"**2 calls** by 2 sessions", "`iam:CreateUser`", "`s3:DeleteBucket`", "🚫 `AccessDenied`"} {
		if !strings.Contains(comments[0], want) {
			t.Errorf("the comment lacks %q:\n%s", want, comments[0])
		}
	}
	if !strings.Contains(comments[0], "AIDAMALLORYEXAMPLE01") {
		t.Errorf("the comment does not name the AssumeRole that was not the broker's:\n%s", comments[0])
	}
	for _, never := range []string{"DeleteUser", "DeleteRole", "ASIA", "secret-parameter-value"} {
		if strings.Contains(comments[0], never) {
			t.Errorf("the comment shows %q:\n%s", never, comments[0])
		}
	}
	// Another tick at the same read changes nothing.
	h.Broker.Syncer.Tick(ctx)
	if n := h.GitHub.Fake.Calls("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"); n != 0 {
		t.Errorf("%d edits before the next read, want 0", n)
	}

	// A late file, delivered after the first read.
	trailtest.Upload(t, endpoint, false, map[string][]byte{
		key("us-east-1", end.Add(30*time.Minute), 3): trailtest.File(
			trailtest.APICall(issued, trailtest.Call{At: end.Add(-5 * time.Minute), Source: "ec2.amazonaws.com", Name: "TerminateInstances", Region: "us-east-1"}, "e6"),
		),
	})
	h.SetNow(end.Add(61 * time.Minute))
	h.Broker.Syncer.Tick(ctx)
	comments = activityComments(h)
	if len(comments) != 1 || !strings.Contains(comments[0], "**3 calls**") || !strings.Contains(comments[0], "`ec2:TerminateInstances`") {
		t.Fatalf("after the late file, %d comments:\n%s", len(comments), strings.Join(comments, "\n---\n"))
	}
	// The last read, a day after the window: said to be the last.
	h.SetNow(end.Add(24*time.Hour + time.Minute))
	h.Broker.Syncer.Tick(ctx)
	if comments = activityComments(h); len(comments) != 1 || !strings.Contains(comments[0], "this is the last reading") || !strings.Contains(comments[0], "**3 calls**") {
		t.Fatalf("after the last read, %d comments:\n%s", len(comments), strings.Join(comments, "\n---\n"))
	}
	if n := h.GitHub.Fake.Calls("POST /repos/{owner}/{repo}/issues/{number}/comments"); n > 2 {
		t.Errorf("%d comments created (the usage comment and the activity comment), want 2", n)
	}
	if !strings.Contains(h.Logs.String(), "summed up a grant's sessions") {
		t.Errorf("no log line of the summary:\n%s", h.Logs.String())
	}
}

// brokerUniqueID is the unique id STS gives the harness broker's key.
func brokerUniqueID(t *testing.T, h *brokertest.Harness) string {
	t.Helper()
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(h.STS.URL), Credentials: credentials.NewStaticCredentialsProvider(brokertest.BrokerKey, brokertest.BrokerSecret, "")})
	out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.UserId)
}

// TestActivityBucketUnreadable: a trail the broker cannot read is said in
// the comment and the log, and counted; the broker goes on.
func TestActivityBucketUnreadable(t *testing.T) {
	// Not parallel: t.Setenv points the broker's S3 client at moto.
	endpoint := testenv.StartMoto(t, -1)
	t.Setenv("AWS_ENDPOINT_URL_S3", endpoint)
	h := brokertest.New(t, func(c *broker.Config) { c.ActivityBucket = "no-such-trail-bucket" })
	end := h.Clock().Add(-30 * time.Minute).Add(2 * time.Hour)
	h.SetNow(end.Add(16 * time.Minute))
	h.Broker.Syncer.Tick(context.Background())
	comments := activityComments(h)
	if len(comments) != 1 || !strings.Contains(comments[0], "Not everything could be read") || !strings.Contains(comments[0], "NoSuchBucket") {
		t.Fatalf("%d comments:\n%s", len(comments), strings.Join(comments, "\n---\n"))
	}
	if logs := h.Logs.String(); !strings.Contains(logs, "could not be read whole") || !strings.Contains(logs, "NoSuchBucket") {
		t.Errorf("the log does not say it:\n%s", logs)
	}
	if a := h.Call("GET", "/healthz", "", nil); a.Status != 200 {
		t.Errorf("/healthz %d %s", a.Status, a.Raw)
	}
	if m := h.Call("GET", "/metrics", "", nil); !strings.Contains(m.Raw, `elevate_activity_incomplete_total{reason="trail"} 1`) {
		t.Errorf("metrics lack the incomplete read:\n%s", m.Raw)
	}
}
