package activity_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
)

// TestOneTrailPerAccount: an organisation trail and the account's own
// trail in one bucket log the same call twice; it is counted once, from
// the organisation's, and the other trail is named.
func TestOneTrailPerAccount(t *testing.T) {
	at := trailtest.Start.Add(10 * time.Minute)
	file := trailtest.File(
		trailtest.AssumeRole(trailtest.Alice1, at, "e1"),
		trailtest.APICall(trailtest.Alice1, trailtest.Call{At: at.Add(time.Minute), Source: "iam.amazonaws.com", Name: "CreateUser", Region: "us-east-1"}, "e2"),
	)
	m := trailtest.NewMemory(trailtest.TrailBucket)
	m.Put(trailtest.Key("", trailtest.Org, trailtest.Prod, "us-east-1", at.Add(5*time.Minute), "org"), file)
	m.Put(trailtest.Key("", "", trailtest.Prod, "us-east-1", at.Add(5*time.Minute), "own"), file)
	s, err := activity.Scan(context.Background(), m, activity.Location{Bucket: trailtest.TrailBucket}, storyGrant(trailtest.GrantID), activity.Options{Now: readAt, Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	if s.Calls != 1 || s.Files != 1 {
		t.Errorf("calls %d files %d, want 1 1", s.Calls, s.Files)
	}
	if len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "only AWSLogs/"+trailtest.Org+"/") {
		t.Errorf("problems %q", s.Problems)
	}
}

// TestHugeRecordIsRefused: a forged record of 8 MiB is never held whole:
// the file is reported, the records before it counted.
func TestHugeRecordIsRefused(t *testing.T) {
	at := trailtest.Start.Add(10 * time.Minute)
	huge := trailtest.APICall(trailtest.Alice1, trailtest.Call{At: at, Source: "iam.amazonaws.com", Name: "CreateUser", Region: "us-east-1"}, "e3")
	huge["requestParameters"] = map[string]any{"blob": strings.Repeat("x", 8<<20)}
	m := trailtest.NewMemory(trailtest.TrailBucket)
	m.Put(trailtest.Key("", trailtest.Org, trailtest.Prod, "us-east-1", at.Add(5*time.Minute), "big"), trailtest.File(
		trailtest.AssumeRole(trailtest.Alice1, at, "e1"),
		trailtest.APICall(trailtest.Alice1, trailtest.Call{At: at, Source: "ec2.amazonaws.com", Name: "DescribeInstances", Region: "us-east-1", ReadOnly: true}, "e2"),
		huge,
	))
	s, err := activity.Scan(context.Background(), m, activity.Location{Bucket: trailtest.TrailBucket}, storyGrant(trailtest.GrantID), activity.Options{Now: readAt, Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	if s.Calls != 1 || len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "a record of more than") {
		t.Errorf("calls %d problems %q", s.Calls, s.Problems)
	}
}
