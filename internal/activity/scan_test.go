package activity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
	"github.com/elevate-gitops/elevate/internal/golden"
)

// readAt is when the story's summaries are read: after the late file.
var readAt = time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)

func storyGrant(id string, sessions ...trailtest.Session) activity.Grant {
	g := activity.Grant{ID: id, Targets: []activity.Target{{AccountID: trailtest.Prod, Role: "Admin"}}, Start: trailtest.Start, End: trailtest.End}
	for _, s := range sessions {
		g.Issued = append(g.Issued, activity.Issued{AccessKeyID: s.Key, ARN: s.ARN()})
	}
	return g
}

// broker is the story's broker, as the broker knows itself.
var broker = &activity.Caller{Account: trailtest.BrokerAccount, UniqueID: trailtest.BrokerID}

// TestScanStory reads the story's trail from moto's S3 as the trail's
// reader, for each grant of the story.
func TestScanStory(t *testing.T) {
	tr := trailtest.StartMoto(t, trailtest.StoryFiles("org"))
	reader := trailtest.Client(tr.Endpoint, tr.ReaderKey, tr.ReaderSecret)
	loc, err := activity.ParseLocation(trailtest.TrailBucket + "/org")
	if err != nil {
		t.Fatal(err)
	}
	scan := func(t *testing.T, g activity.Grant) *activity.Summary {
		t.Helper()
		s, err := activity.Scan(context.Background(), reader, loc, g, activity.Options{Now: readAt, Broker: broker})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("used in two regions across midnight", func(t *testing.T) {
		// The broker knows none of the keys: they come from the AssumeRole
		// events alone.
		s := scan(t, storyGrant(trailtest.GrantID))
		want := map[string]int{
			"iam:CreateAccessKey": 1, "ec2:DescribeInstances": 1, "ec2:AuthorizeSecurityGroupIngress": 1, "s3:DeleteBucket": 1,
			"kms:ScheduleKeyDeletion": 1, "signin:ConsoleLogin": 1, "ec2:DescribeVolumes": 1, "sts:GetCallerIdentity": 1, "ec2:TerminateInstances": 1, "ec2:StopInstances": 1,
			// alice's chain into Deployer, and what she did there
			"sts:AssumeRole": 1, "lambda:DeleteFunction": 1,
		}
		got := map[string]int{}
		for _, a := range s.Actions {
			got[a.Action] = a.Calls
		}
		if !equalCounts(got, want) {
			t.Errorf("calls by action = %v, want %v (bob's, mallory's, the forged role's and alice's other grant's calls are not this grant's)", got, want)
		}
		if s.Calls != 12 || s.Sessions != 3 || s.Errors != 2 || s.AccessDenied != 2 {
			t.Errorf("calls %d sessions %d errors %d denied %d, want 12 3 2 2", s.Calls, s.Sessions, s.Errors, s.AccessDenied)
		}
		if s.First == nil || !s.First.Equal(time.Date(2026, 11, 20, 23, 10, 0, 0, time.UTC)) || !s.Last.Equal(time.Date(2026, 11, 21, 0, 58, 0, 0, time.UTC)) {
			t.Errorf("first %v last %v", s.First, s.Last)
		}
		if strings.Join(s.Regions, ",") != "eu-west-1,us-east-1" {
			t.Errorf("regions %v", s.Regions)
		}
		if len(s.SignIns) != 1 || s.SignIns[0].Result != "Success" {
			t.Errorf("sign-ins %+v", s.SignIns)
		}
		// Sensitive by default: the IAM write, the chain and the delete
		// in the other role, the security group, then the refused delete
		// and key deletion; the console's termination is not (not in the
		// default list).
		var sensitive []string
		for _, e := range s.Sensitive {
			sensitive = append(sensitive, e.Action)
		}
		if got := strings.Join(sensitive, ","); got != "iam:CreateAccessKey,sts:AssumeRole,lambda:DeleteFunction,ec2:AuthorizeSecurityGroupIngress,s3:DeleteBucket,kms:ScheduleKeyDeletion" {
			t.Errorf("sensitive %v", sensitive)
		}
		// Mallory's AssumeRole is said, the corrupt file too.
		if len(s.Problems) != 2 || !strings.Contains(s.Problems[0], "AssumeRole by 111111111111/AIDAMALLORYEXAMPLE01") || !strings.Contains(s.Problems[1], "could not read all of") {
			t.Errorf("problems %q, want mallory's AssumeRole and the corrupt file", s.Problems)
		}
		var written []string
		for _, w := range s.Written {
			written = append(written, w.ARN)
		}
		if len(written) != 5 {
			t.Errorf("written %v", written)
		}
		md := s.Markdown()
		for _, secret := range []string{"ASIA", "secret-parameter-value", "SECRET-POLICY", "gh-alice"} {
			if strings.Contains(md, secret) {
				t.Errorf("the comment shows %q", secret)
			}
		}
		golden.Assert(t, "story.md", md)
		var table bytes.Buffer
		if err := s.Table(&table); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "story.txt", table.Bytes())
	})

	t.Run("keys the broker issued are enough", func(t *testing.T) {
		s := scan(t, storyGrant(trailtest.GrantID, trailtest.Alice1, trailtest.Alice2))
		if s.Calls != 12 || s.Sessions != 3 {
			t.Errorf("calls %d sessions %d, want 12 3", s.Calls, s.Sessions)
		}
	})

	t.Run("without the broker's identity every caller counts, and that is said", func(t *testing.T) {
		s, err := activity.Scan(context.Background(), reader, loc, storyGrant(trailtest.GrantID), activity.Options{Now: readAt})
		if err != nil {
			t.Fatal(err)
		}
		if s.Calls != 13 || !strings.Contains(strings.Join(s.Problems, "\n"), "AssumeRole calls by several callers") {
			t.Errorf("calls %d problems %q", s.Calls, s.Problems)
		}
	})

	t.Run("sensitive actions from the policy replace the defaults", func(t *testing.T) {
		s, err := activity.Scan(context.Background(), reader, loc, storyGrant(trailtest.GrantID), activity.Options{Now: readAt, Broker: broker, Sensitive: []string{"ec2:Terminate*"}})
		if err != nil {
			t.Fatal(err)
		}
		if s.SensitiveCalls != 1 || s.Sensitive[0].Action != "ec2:TerminateInstances" {
			t.Errorf("sensitive %+v", s.Sensitive)
		}
	})

	t.Run("never used", func(t *testing.T) {
		s := scan(t, storyGrant(trailtest.UnusedID))
		if s.Used() || s.Calls != 0 || s.Sessions != 0 {
			t.Errorf("an unused grant shows %d calls by %d sessions", s.Calls, s.Sessions)
		}
		if !strings.Contains(s.Markdown(), "**Not used:**") {
			t.Errorf("comment:\n%s", s.Markdown())
		}
	})

	t.Run("revoked", func(t *testing.T) {
		g := storyGrant(trailtest.RevokedID)
		g.Revoked = trailtest.Revoked
		s := scan(t, g)
		if s.Calls != 2 || s.AccessDenied != 1 {
			t.Errorf("calls %d denied %d, want the read and the refused termination after the revocation", s.Calls, s.AccessDenied)
		}
		if md := s.Markdown(); !strings.Contains(md, "**revoked at 2026-11-20T23:30:00Z**") {
			t.Errorf("the comment does not say it was revoked:\n%s", md)
		}
	})

	t.Run("a bucket it may not read", func(t *testing.T) {
		stranger := trailtest.Client(tr.Endpoint, tr.StrangerKey, tr.StrangerSecret)
		s, err := activity.Scan(context.Background(), stranger, loc, storyGrant(trailtest.GrantID), activity.Options{Now: readAt})
		if err != nil {
			t.Fatal(err)
		}
		if s.Used() || len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "AccessDenied") {
			t.Fatalf("problems %q", s.Problems)
		}
		if md := s.Markdown(); !strings.Contains(md, "Not everything could be read") || !strings.Contains(md, "**Unknown:**") || strings.Contains(md, "Not used") {
			t.Errorf("comment:\n%s", s.Markdown())
		}
	})

	t.Run("json", func(t *testing.T) {
		s := scan(t, storyGrant(trailtest.GrantID))
		var buf bytes.Buffer
		if err := s.JSON(&buf); err != nil {
			t.Fatal(err)
		}
		var back activity.Summary
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Calls != s.Calls {
			t.Fatalf("round trip: %v %d", err, back.Calls)
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
