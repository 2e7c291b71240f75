package audit_test

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/audit"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	"github.com/elevate-gitops/elevate/internal/prcomment"
)

// Online, the audit reads the broker's comments: bob's revoked grant was
// used three times, first by bob at 09:10, and its sessions were ended on
// the revocation's PR.
func TestAuditTellsHowAGrantWasUsedAndEnded(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	f, _ := gitHub(t, h)
	app := asElevate(t, f)
	bob := &github.User{Login: github.String("bob")}
	for number, sha := range map[int]string{15: h.sha["bob-admin"], 16: h.sha["bob-admin-rm"]} {
		f.AddPull(&github.PullRequest{
			Number: github.Int(number), State: github.String("closed"), Merged: github.Bool(true), User: bob,
			MergedAt: &github.Timestamp{Time: now.Add(-3 * hour)}, MergeCommitSHA: github.String(sha),
			Head: &github.PullRequestBranch{Ref: github.String("r"), SHA: github.String(strings.Repeat("f", 40))},
			Base: &github.PullRequestBranch{Ref: github.String("main")},
		}, nil)
	}
	// The PR of bob-admin merged at -3h (GitHub's time): -3h is its start.
	id := "prod/2026-11/bob-admin"
	var st prcomment.Sessions
	first := now.Add(-3*hour + 10*time.Minute)
	for i := range 3 {
		st.Add(prcomment.Session{Login: "bob", Via: "a GitHub user token", Account: "prod", Role: "Admin", At: first.Add(time.Duration(i) * 5 * time.Minute), Until: first.Add(hour)})
	}
	ctx := context.Background()
	if _, err := app.UpsertComment(ctx, 15, prcomment.SessionsMarker(id), commentKey.SessionsBody(id, st)); err != nil {
		t.Fatal(err)
	}
	ended := now.Add(-2*hour + 10*time.Second)
	if _, err := app.UpsertComment(ctx, 16, prcomment.EndedMarker(id), commentKey.EndedBody(id, prcomment.Ended{Login: "bob", AccountID: "111111111111", Role: "Admin", Before: ended, Reason: "revoked", Policy: "elevate-ended-sessions"})); err != nil {
		t.Fatal(err)
	}
	// Another grant's comment on the same PR is not bob's story.
	if _, err := app.UpsertComment(ctx, 15, prcomment.SessionsMarker("prod/2026-11/other"), commentKey.SessionsBody("prod/2026-11/other", st)); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Build(ctx, audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: app, CommentKey: commentKey})
	if err != nil {
		t.Fatal(err)
	}
	var got *audit.Entry
	for i := range rep.Entries {
		if rep.Entries[i].ID == id {
			got = &rep.Entries[i]
		}
	}
	if got == nil || got.Sessions != 3 || !got.FirstUsed.Equal(first) || got.FirstUsedBy != "bob" || !got.SessionsEnded.Equal(ended) {
		t.Fatalf("bob's grant = %+v", got)
	}
	for i := range rep.Entries {
		if e := &rep.Entries[i]; e.ID != id && (e.Sessions != 0 || !e.SessionsEnded.IsZero()) {
			t.Errorf("%s has a story it did not live: %d sessions, ended %v", e.ID, e.Sessions, e.SessionsEnded)
		}
	}
	var table bytes.Buffer
	if err := rep.Table(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"first used 2026-11-25 09:10 UTC by bob, 3 session(s)", "sessions issued before 2026-11-25 10:00 UTC ended"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table does not say %q:\n%s", want, table.String())
		}
	}
	var page bytes.Buffer
	if err := rep.HTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "first used 2026-11-25 09:10 UTC by bob, 3 session(s)") {
		t.Error("the HTML page does not tell the first use")
	}
}

var commentKey = prcomment.NewKey([]byte("audit-test-state-key-0123456789abcdef"))

// asElevate is the repository as elevate's App writes to it.
func asElevate(t *testing.T, f *githubfake.Fake) *githubapi.Repo {
	t.Helper()
	return as(t, f, "ghs_elevateAppInstallationToken1", &github.User{ID: github.Int64(99), Login: github.String("elevate-app[bot]"), Type: github.String("Bot")})
}

// as is the repository as user, with token, writes to it.
func as(t *testing.T, f *githubfake.Fake, token string, user *github.User) *githubapi.Repo {
	t.Helper()
	f.Token(token, user)
	gh, err := githubapi.NewClient(f.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := githubapi.NewRepo(gh, "acme/access")
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// Evidence anyone can write counts for nothing: a state comment a writer
// forged and elevate's own comment edited by a writer (the workflows'
// shared bot is prcomment's test); without the key no comment is read at all.
func TestAuditReadsOnlyElevatesComments(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	f, _ := gitHub(t, h)
	bob := &github.User{Login: github.String("bob")}
	for number, sha := range map[int]string{15: h.sha["bob-admin"], 16: h.sha["bob-admin-rm"]} {
		f.AddPull(&github.PullRequest{
			Number: github.Int(number), State: github.String("closed"), Merged: github.Bool(true), User: bob,
			MergedAt: &github.Timestamp{Time: h.at[sha]}, MergeCommitSHA: github.String(sha),
			Head: &github.PullRequestBranch{Ref: github.String("r"), SHA: github.String(strings.Repeat("f", 40))},
			Base: &github.PullRequestBranch{Ref: github.String("main")},
		}, nil)
	}
	id := "prod/2026-11/bob-admin"
	ctx := context.Background()
	app := asElevate(t, f)
	mallory := as(t, f, "ghp_malloryWriterToken0000000000000001", &github.User{ID: github.Int64(66), Login: github.String("mallory"), Type: github.String("User")})
	// A writer's hand-made state line, never sealed: "sessions ended".
	forged := prcomment.EndedMarker(id) + "\n<!-- elevate:ended-state {\"before\":\"2026-11-25T08:00:00Z\"} mac=" + strings.Repeat("0", 64) + " -->\n"
	if _, err := mallory.UpsertComment(ctx, 16, prcomment.EndedMarker(id), forged); err != nil {
		t.Fatal(err)
	}
	// elevate's own sessions comment, then edited by a writer to claim more.
	var st prcomment.Sessions
	st.Add(prcomment.Session{Login: "bob", Via: "a GitHub user token", Account: "prod", Role: "Admin", At: now.Add(-3*hour + time.Minute), Until: now.Add(-2 * hour)})
	edited := strings.Replace(commentKey.SessionsBody(id, st), `"count":1`, `"count":9`, 1)
	if _, err := app.UpsertComment(ctx, 15, prcomment.SessionsMarker(id), edited); err != nil {
		t.Fatal(err)
	}
	for _, key := range []*prcomment.Key{commentKey, nil} {
		rep, err := audit.Build(ctx, audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: app, CommentKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if rep.CommentsRead != (key != nil) {
			t.Errorf("CommentsRead = %v with key %v", rep.CommentsRead, key != nil)
		}
		for _, e := range rep.Entries {
			if e.ID == id && (e.Sessions != 0 || !e.SessionsEnded.IsZero()) {
				t.Errorf("key %v: forged or edited evidence counted: %d sessions, ended %v", key != nil, e.Sessions, e.SessionsEnded)
			}
		}
	}
}

// A grant and the extensions that continue it without a gap take one line
// of the table; CSV and JSON keep one row each and say what extends what.
func TestExtensionsAreOneLineOfTheTable(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	r.Commit(now.Add(-70*day), "init", map[string]string{"eligibility.yaml": "version: 1\n"})
	merged := now.Add(-3 * hour)
	r.Commit(merged, "first", map[string]string{"requests/prod/2026-11/alice-db.yaml": "requester: alice\naccount: prod\nrole: Admin\nduration: 2h\nreason: Migrate the orders database\n"})
	r.Commit(merged.Add(time.Hour), "ext", map[string]string{"requests/prod/2026-11/alice-db-ext-1.yaml": "requester: alice\naccount: prod\nrole: Admin\nduration: 1h\nreason: Migrate the orders database\nnot_before: " + merged.Add(2*hour).Format(time.RFC3339) + "\n"})
	r.Commit(merged.Add(90*time.Minute), "ext2", map[string]string{"requests/prod/2026-11/alice-db-ext-2.yaml": "requester: alice\naccount: prod\nrole: Admin\nduration: 2h\nreason: Migrate the orders database\nnot_before: " + merged.Add(3*hour).Format(time.RFC3339) + "\n"})
	// Same window end, another role: not a chain.
	r.Commit(merged.Add(100*time.Minute), "other", map[string]string{"requests/prod/2026-11/alice-ro.yaml": "requester: alice\naccount: prod\nrole: ReadOnly\nduration: 1h\nreason: Read the orders dashboards\nnot_before: " + merged.Add(2*hour).Format(time.RFC3339) + "\n"})
	rep, err := audit.Build(context.Background(), audit.Options{Dir: r.Dir, Since: 720 * hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	extends := map[string]string{}
	for _, e := range rep.Entries {
		extends[e.ID] = e.Extends
	}
	want := map[string]string{"prod/2026-11/alice-db": "", "prod/2026-11/alice-db-ext-1": "prod/2026-11/alice-db", "prod/2026-11/alice-db-ext-2": "prod/2026-11/alice-db-ext-1", "prod/2026-11/alice-ro": ""}
	for id, w := range want {
		if extends[id] != w {
			t.Errorf("%s extends %q, want %q", id, extends[id], w)
		}
	}
	var table bytes.Buffer
	if err := rep.Table(&table); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(table.String(), "\n") {
		if strings.Contains(l, "prod/2026-11/alice-db") && !strings.HasPrefix(l, "prod ") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 1 || !strings.Contains(rows[0], "extended by prod/2026-11/alice-db-ext-1 (expired, 1h, until 2026-11-25 12:00 UTC) then prod/2026-11/alice-db-ext-2 (active, 2h, until 2026-11-25 14:00 UTC)") {
		t.Errorf("the chain takes %d lines:\n%s", len(rows), table.String())
	}
	var js bytes.Buffer
	if err := rep.JSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"extends": "prod/2026-11/alice-db-ext-1"`) {
		t.Errorf("JSON lacks the chain:\n%s", js.String())
	}
}

// A PR with more comments than the audit reads does not stop the audit: it
// reads the first 3,000 and says which PR it did not read to the end.
func TestAuditSurvivesAPRWithThousandsOfComments(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	f, repo := gitHub(t, h)
	spam := &github.User{ID: github.Int64(66), Login: github.String("mallory")}
	for i := range 3001 {
		f.AddComment(11, spam, "spam "+strconv.Itoa(i))
	}
	rep, err := audit.Build(context.Background(), audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: repo, CommentKey: commentKey})
	if err != nil {
		t.Fatalf("the audit failed as a whole: %v", err)
	}
	if !slices.Equal(rep.Skipped, []int{11}) {
		t.Errorf("Skipped = %v, want [11]", rep.Skipped)
	}
	var table bytes.Buffer
	if err := rep.Table(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "comments past the first 3,000 not read on #11") {
		t.Errorf("the table does not say what it skipped:\n%s", table.String())
	}
}

// bobReadOnlyUse is what CloudTrail recorded of bob's read-only grant in
// staging (2026-11-15 12:00 to 16:00): 53 calls in four hours, a console
// sign-in, IAM deletes refused, and an action whose name is markup, as a
// forged event name would carry into a log file.
func bobReadOnlyUse() activity.Summary {
	at := func(hhmmss string) time.Time {
		t, err := time.Parse(time.DateTime, "2026-11-15 "+hhmmss)
		if err != nil {
			panic(err)
		}
		return t
	}
	first, last := at("12:05:13"), at("16:02:40")
	return activity.Summary{
		Request: "staging/2026-11/bob-readonly", Targets: []activity.Target{{AccountID: "222222222222", Role: "ReadOnly"}},
		Start: at("12:00:00"), End: at("16:00:00"), ReadAt: at("18:30:00"), Files: 41,
		Sessions: 2, Calls: 53, First: &first, Last: &last, Regions: []string{"eu-west-1", "us-east-1"},
		Errors: 5, AccessDenied: 4, SensitiveCalls: 3,
		Actions: []activity.ActionCount{
			{Action: "ecs:DescribeServices", Calls: 20}, {Action: "logs:FilterLogEvents", Calls: 18, Errors: 1},
			{Action: "ecs:DescribeTasks", Calls: 8, Errors: 1}, {Action: "cloudformation:DescribeStackEvents", Calls: 3},
			{Action: "iam:DeleteRolePolicy", Calls: 2, Errors: 2}, {Action: "iam:Delete<img src=x onerror=alert(1)>", Calls: 1, Errors: 1},
			{Action: "signin:ConsoleLogin", Calls: 1},
		},
		Failures: []activity.Failure{
			{Action: "iam:DeleteRolePolicy", Code: "AccessDenied", Count: 2, AccessDenied: true},
			{Action: "iam:Delete<img src=x onerror=alert(1)>", Code: "AccessDenied", Count: 1, AccessDenied: true},
			{Action: "logs:FilterLogEvents", Code: "AccessDeniedException", Count: 1, AccessDenied: true},
			{Action: "ecs:DescribeTasks", Code: "ThrottlingException", Count: 1},
		},
		SignInCount: 1, SignIns: []activity.Event{{At: first, Action: "signin:ConsoleLogin", Region: "us-east-1", Account: "222222222222", Result: "Success"}},
		Sensitive: []activity.Event{
			{At: at("13:12:09"), Action: "iam:DeleteRolePolicy", Region: "us-east-1", Account: "222222222222", Error: "AccessDenied"},
			{At: at("13:12:31"), Action: "iam:DeleteRolePolicy", Region: "us-east-1", Account: "222222222222", Error: "AccessDenied"},
			{At: at("15:40:00"), Action: "iam:Delete<img src=x onerror=alert(1)>", Region: "eu-west-1", Account: "222222222222", Error: "AccessDenied"},
		},
		Timeline: []activity.Hour{
			{At: at("12:00:00"), Calls: 14}, {At: at("13:00:00"), Calls: 31, Errors: 4},
			{At: at("15:00:00"), Calls: 6, Errors: 1}, {At: at("16:00:00"), Calls: 2},
		},
	}
}

// daveEmergencyUse is the trail of dave's emergency grant: no call of its
// sessions, in the log files that could be read.
func daveEmergencyUse() activity.Summary {
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	return activity.Summary{
		Request: "prod/2026-11/dave-admin-inc10", Targets: []activity.Target{{AccountID: "111111111111", Role: "Admin"}},
		Start: start, End: start.Add(30 * time.Minute), ReadAt: start.Add(3 * hour), Files: 3,
		Problems: []string{"s3://trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2026/11/22/111111111111_CloudTrail_eu-west-1_20261122T1215Z_x.json.gz: AccessDenied"},
	}
}

// usedReport is gitHubReport read with the comment key, where elevate's App
// told on bob's read-only grant's PR (#17) how it was used and what its
// sessions did, and on dave's emergency PR (#13) that its sessions made no
// call.
func usedReport(t *testing.T) *audit.Report {
	t.Helper()
	h := newHistory(t)
	f, _ := gitHub(t, h)
	f.AddPull(&github.PullRequest{
		Number: github.Int(17), State: github.String("closed"), Merged: github.Bool(true), User: &github.User{ID: github.Int64(2), Login: github.String("bob")},
		MergedAt: &github.Timestamp{Time: h.at[h.sha["bob-ro"]]}, MergeCommitSHA: github.String(h.sha["bob-ro"]),
		Head: &github.PullRequestBranch{Ref: github.String("req"), SHA: github.String(strings.Repeat("e", 40))},
		Base: &github.PullRequestBranch{Ref: github.String("main")},
	}, nil)
	app := asElevate(t, f)
	ctx := context.Background()
	bob, dave := "staging/2026-11/bob-readonly", "prod/2026-11/dave-admin-inc10"
	use := bobReadOnlyUse()
	var st prcomment.Sessions
	for _, at := range []time.Time{*use.First, use.First.Add(2 * hour)} {
		st.Add(prcomment.Session{Login: "bob", Via: "a GitHub user token", Account: "staging", Role: "ReadOnly", At: at, Until: at.Add(2 * hour)})
	}
	unused := daveEmergencyUse()
	for _, c := range []struct {
		pr           int
		marker, body string
	}{
		{17, prcomment.SessionsMarker(bob), commentKey.SessionsBody(bob, st)},
		{17, prcomment.ActivityMarker(bob), commentKey.ActivityBody(bob, &use)},
		{13, prcomment.ActivityMarker(dave), commentKey.ActivityBody(dave, &unused)},
	} {
		if _, err := app.UpsertComment(ctx, c.pr, c.marker, c.body); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := audit.Build(ctx, audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: app, CommentKey: commentKey})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Online, each grant carries what its sessions did, from elevate's
// activity comment on its PR; a grant without one carries nothing. The
// formats are in testdata/used.*.golden.
func TestAuditTellsWhatAGrantsSessionsDid(t *testing.T) {
	t.Parallel()
	rep := usedReport(t)
	want := map[string]activity.Summary{"staging/2026-11/bob-readonly": bobReadOnlyUse(), "prod/2026-11/dave-admin-inc10": daveEmergencyUse()}
	for _, e := range rep.Entries {
		w, ok := want[e.ID]
		switch {
		case !ok && e.Activity != nil:
			t.Errorf("%s has activity it did not have: %+v", e.ID, e.Activity)
		case ok && e.Activity == nil:
			t.Errorf("%s has no activity", e.ID)
		case ok:
			if diff := cmp.Diff(w, *e.Activity); diff != "" {
				t.Errorf("%s activity (-want +got):\n%s", e.ID, diff)
			}
		}
	}
}

// An activity comment counts only when elevate's App wrote it for that
// grant and its state verifies: a writer's copy of a sealed comment, the
// App's comment edited, and a comment sealed for another grant are all
// ignored, and without the key none is read.
func TestAuditIgnoresActivityItCannotVerify(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	f, _ := gitHub(t, h)
	app := asElevate(t, f)
	ctx := context.Background()
	alice, carol, dave := "prod/2026-11/alice-admin-inc4821", "prod/2026-11/carol-admin-inc9", "prod/2026-11/dave-admin-inc10"
	use := bobReadOnlyUse()
	// A writer posts a correctly sealed comment (copied from elevate's):
	// only its author tells it apart.
	copied := commentKey.ActivityBody(carol, &use)
	if _, ok := commentKey.ParseActivity(carol, copied); !ok {
		t.Fatal("the copied comment does not verify")
	}
	f.AddComment(12, &github.User{ID: github.Int64(66), Login: github.String("mallory"), Type: github.String("User")}, copied)
	// elevate's own comment, edited by a writer to hide the calls.
	edited := strings.Replace(commentKey.ActivityBody(alice, &use), `"calls":53`, `"calls":0`, 1)
	if edited == commentKey.ActivityBody(alice, &use) {
		t.Fatal("the edit changed nothing")
	}
	if _, err := app.UpsertComment(ctx, 11, prcomment.ActivityMarker(alice), edited); err != nil {
		t.Fatal(err)
	}
	// elevate's comment about another grant, moved under dave's marker.
	moved := strings.Replace(commentKey.ActivityBody(alice, &use), prcomment.ActivityMarker(alice), prcomment.ActivityMarker(dave), 1)
	if _, err := app.UpsertComment(ctx, 13, prcomment.ActivityMarker(dave), moved); err != nil {
		t.Fatal(err)
	}
	for _, key := range []*prcomment.Key{commentKey, nil} {
		rep, err := audit.Build(ctx, audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: app, CommentKey: key})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range rep.Entries {
			if e.Activity != nil {
				t.Errorf("key %v: %s: unverified activity counted: %d calls", key != nil, e.ID, e.Activity.Calls)
			}
		}
		var csv bytes.Buffer
		if err := rep.CSV(&csv); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(csv.String(), ",53,") {
			t.Errorf("key %v: the CSV counts unverified calls:\n%s", key != nil, csv.String())
		}
	}
}
