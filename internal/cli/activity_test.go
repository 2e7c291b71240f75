package cli

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
	"github.com/elevate-gitops/elevate/internal/golden"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// readAt is when the story's trail is read: after its late file.
var readAt = time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)

// storyCheckout is an access repository where alice's grant of the trail
// story was merged at the story's window start, and dave's revoked.
func storyCheckout(t *testing.T) string {
	t.Helper()
	repo := ledgertest.New(t)
	repo.Commit(trailtest.Start.Add(-48*time.Hour), "policy", map[string]string{"eligibility.yaml": vt.Policy + "activity:\n  sensitive: [\"iam:*\", \"ec2:Terminate*\"]\n"})
	req := func(who string) string {
		return "requester: " + who + "\naccount: prod\nrole: Admin\nduration: 2h\nreason: Rotate the certificate\nticket: INC-4821\n"
	}
	repo.Commit(trailtest.Start, "Merge pull request #7", map[string]string{"requests/" + trailtest.GrantID + ".yaml": req("alice")})
	repo.Commit(trailtest.Start, "Merge pull request #8", map[string]string{"requests/" + trailtest.RevokedID + ".yaml": req("dave")})
	repo.Commit(trailtest.Revoked, "Merge pull request #9", map[string]string{"requests/" + trailtest.RevokedID + ".yaml": ""})
	return repo.Dir
}

// TestActivityPrintsTheGrantsCalls runs `elevate activity` as an auditor
// would, with their own AWS credentials (the trail reader's) from the
// environment, against moto's S3.
func TestActivityPrintsTheGrantsCalls(t *testing.T) {
	// Not parallel: t.Setenv gives the CLI its AWS environment, as a shell would.
	tr := trailtest.StartMoto(t, trailtest.StoryFiles("org"))
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": tr.ReaderKey, "AWS_SECRET_ACCESS_KEY": tr.ReaderSecret, "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": tr.Endpoint, "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		t.Setenv(k, v)
	}
	dir := storyCheckout(t)
	run := func(env map[string]string, args ...string) (int, string, string) {
		f, out, errOut := testFactory(env)
		f.Now = func() time.Time { return readAt }
		return Main(context.Background(), f, args), out.String(), errOut.String()
	}
	env := map[string]string{"ELEVATE_ACTIVITY_BUCKET": trailtest.TrailBucket + "/org", "ELEVATE_BROKER_PRINCIPAL": trailtest.BrokerAccount + "/" + trailtest.BrokerID}

	code, out, errOut := run(env, "activity", trailtest.GrantID, "--dir", dir, "--offline")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden.Assert(t, "activity", out)
	for _, never := range []string{"ASIA", "secret-parameter-value", "DeleteUser", "DeletePolicy"} {
		if strings.Contains(out, never) {
			t.Errorf("the output shows %q", never)
		}
	}

	// JSON, by the id's unique suffix, with the bucket as a flag, and no
	// broker identity: every AssumeRole naming the grant counts, mallory's
	// too, and the summary says there were several callers.
	code, out, errOut = run(nil, "activity", "alice-admin-inc4821", "--dir", dir, "--offline", "--format", "json", "--activity-bucket", trailtest.TrailBucket+"/org")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s activity.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	// eligibility.yaml's activity.sensitive replaces the default list.
	if s.Calls != 13 || s.SensitiveCalls != 3 || s.Sensitive[0].Action != "iam:CreateAccessKey" || s.Sensitive[2].Action != "ec2:TerminateInstances" ||
		!strings.Contains(strings.Join(s.Problems, "\n"), "several callers") {
		t.Errorf("calls %d sensitive %+v problems %q", s.Calls, s.Sensitive, s.Problems)
	}

	// A revoked grant: its window is kept whole, its revocation said.
	code, out, _ = run(env, "activity", trailtest.RevokedID, "--dir", dir, "--offline")
	if code != 0 || !strings.Contains(out, "revoked    2026-11-20T23:30:00Z") || !strings.Contains(out, "Client.UnauthorizedOperation") {
		t.Errorf("exit %d:\n%s", code, out)
	}

	// Someone whose credentials may not read the bucket: told why, exit 1.
	t.Setenv("AWS_ACCESS_KEY_ID", tr.StrangerKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", tr.StrangerSecret)
	code, _, errOut = run(env, "activity", trailtest.GrantID, "--dir", dir, "--offline")
	if code != ExitError || !strings.Contains(errOut, "AccessDenied") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"activity", trailtest.GrantID, "--dir", dir},                                      // no bucket
		{"activity", trailtest.GrantID, "--activity-bucket", "Not_A_Bucket", "--dir", dir}, // a bad bucket
		{"activity", trailtest.GrantID, "--format", "csv", "--activity-bucket", "b-1/x"},   // a format it has not
		{"activity", trailtest.GrantID, "--activity-bucket", "b-1/x", "--broker-principal", "arn:aws:iam::1:role/x"},
	} {
		if code, _, errOut := run(nil, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, ExitUsage, errOut)
		}
	}
}
