package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/sethvargo/go-githubactions"

	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/golden"
	"github.com/elevate-gitops/elevate/internal/prcomment"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

var now = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

type result struct {
	err     error
	log     string // what the Action wrote to stdout (workflow commands)
	outputs string
	summary string
}

// run runs the Action in process for one event, as a workflow would.
func run(t *testing.T, s *vt.Scenario, eventName, event string) result {
	t.Helper()
	return runWith(t, s, eventName, vt.Payload(t, event), nil)
}

// runWith runs the Action in process on payload; wrap, if not nil, wraps
// the GitHub client the Action is given.
func runWith(t *testing.T, s *vt.Scenario, eventName string, payload []byte, wrap func(*githubapi.Repo) GitHub) result {
	t.Helper()
	return runEnv(t, s, eventName, payload, wrap, nil)
}

// runEnv is runWith with extra environment variables.
func runEnv(t *testing.T, s *vt.Scenario, eventName string, payload []byte, wrap func(*githubapi.Repo) GitHub, extra map[string]string) result {
	t.Helper()
	dir := t.TempDir()
	env := s.EnvFor(t, eventName, payload, dir)
	maps.Copy(env, extra)
	var out bytes.Buffer
	a := githubactions.New(githubactions.WithGetenv(func(k string) string { return env[k] }), githubactions.WithWriter(&out))
	in, err := InputFromAction(a)
	if err != nil {
		t.Fatal(err)
	}
	in.Now = func() time.Time { return now }
	gh, err := githubapi.NewClient(env["GITHUB_API_URL"], vt.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := githubapi.NewRepo(gh, env["GITHUB_REPOSITORY"])
	if err != nil {
		t.Fatal(err)
	}
	var client GitHub = repo
	if wrap != nil {
		client = wrap(repo)
	}
	err = Run(context.Background(), a, client, in)
	outputs, _ := os.ReadFile(filepath.Join(dir, "output"))
	summary, _ := os.ReadFile(filepath.Join(dir, "summary"))
	return result{err: err, log: out.String(), outputs: string(outputs), summary: string(summary)}
}

const (
	opened = "pull_request.opened.with-organization.json"
	// reviewed is the completed run of the review workflow that a review triggers.
	reviewed = "workflow_run.completed.json"
)

func lastStatus(t *testing.T, s *vt.Scenario) (state, description string) {
	t.Helper()
	st := s.Fake.Statuses(vt.HeadSHA)
	if len(st) == 0 {
		t.Fatal("no commit status was posted")
	}
	last := st[len(st)-1]
	if last.GetContext() != "elevate" {
		t.Errorf("status context = %q, want elevate", last.GetContext())
	}
	return last.GetState(), last.GetDescription()
}

// comment is the body of elevate's comment with marker on the fixture PR.
func comment(t *testing.T, s *vt.Scenario, marker string) string {
	t.Helper()
	for _, c := range s.Fake.Comments(vt.Number) {
		if strings.HasPrefix(c.GetBody(), marker+"\n") {
			return c.GetBody()
		}
	}
	t.Fatalf("no comment with %s on #%d", marker, vt.Number)
	return ""
}

func TestPendingThenApprovedUpdatesOneComment(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 10)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)

	r := run(t, s, "pull_request_target", opened)
	if r.err != nil {
		t.Fatalf("pending must not fail the job: %v", r.err)
	}
	state, desc := lastStatus(t, s)
	if state != "pending" || !strings.Contains(desc, "@hubot") || !strings.Contains(desc, "@acme/sre-leads") || strings.Contains(desc, "Codertocat") {
		t.Errorf("status = %s %q, want pending naming the owners other than the requester", state, desc)
	}
	if !strings.Contains(r.outputs, "verdict<<") || !strings.Contains(r.outputs, "pending") || !strings.Contains(r.outputs, vt.RequestID) {
		t.Errorf("outputs = %q", r.outputs)
	}
	golden.Assert(t, "verdict-pending", comment(t, s, VerdictMarker))

	// The requester's own approval (Codertocat is a code owner too) does not count.
	s.Review(vt.Author, "APPROVED", vt.HeadSHA, now.Add(time.Minute))
	run(t, s, "workflow_run", reviewed)
	if state, _ := lastStatus(t, s); state != "pending" {
		t.Fatalf("self-approval made the status %s", state)
	}

	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now.Add(2*time.Minute))
	r = run(t, s, "workflow_run", reviewed)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if state, _ := lastStatus(t, s); state != "success" {
		t.Errorf("status after the owner's approval = %s, want success", state)
	}
	comments := s.Fake.Comments(vt.Number)
	if len(comments) != 1 {
		t.Fatalf("%d comments, want one sticky comment updated in place", len(comments))
	}
	golden.Assert(t, "verdict-approved", comment(t, s, VerdictMarker))
	golden.Assert(t, "summary-approved", r.summary)
}

func TestRejectedFailsWithAnnotation(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(strings.Replace(vt.Request, "duration: 2h", "duration: 9h", 1))}, nil)
	r := run(t, s, "pull_request_target", opened)
	var rejected *RejectedError
	if !errors.As(r.err, &rejected) {
		t.Fatalf("err = %v, want *RejectedError", r.err)
	}
	if state, desc := lastStatus(t, s); state != "failure" || !strings.Contains(desc, "9h is over the max_duration") {
		t.Errorf("status = %s %q", state, desc)
	}
	// The annotation: ::error file=…,line=4,title=elevate::…
	golden.Assert(t, "log-rejected", r.log)
	golden.Assert(t, "verdict-rejected", comment(t, s, VerdictMarker))
}

// The policy and CODEOWNERS are read at the base: a head that loosens them
// (without even listing them as changed) changes nothing.
func TestPolicyAndOwnersFromBaseNotHead(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(strings.Replace(vt.Request, "duration: 2h", "duration: 6h", 1))}, nil)
	// Rewrite the head tree behind the file list's back.
	head := map[string][]byte{}
	for p, d := range s.BaseFiles {
		head[p] = d
	}
	head[vt.RequestPath] = []byte(strings.Replace(vt.Request, "duration: 2h", "duration: 6h", 1))
	head["eligibility.yaml"] = []byte(strings.Replace(vt.Policy, "max_duration: 4h", "max_duration: 8h", 1))
	head[".github/CODEOWNERS"] = []byte("* @mallory\n")
	s.Fake.Commit(vt.HeadSHA, head)
	s.Review(vt.Stranger, "APPROVED", vt.HeadSHA, now)

	r := run(t, s, "pull_request_target", opened)
	if state, desc := lastStatus(t, s); state != "failure" || !strings.Contains(desc, "over the max_duration of 4h") {
		t.Fatalf("status = %s %q (err %v): the head's policy was used", state, desc, r.err)
	}

	// Within the base policy, the head's CODEOWNERS does not make mallory an owner.
	head[vt.RequestPath] = []byte(vt.Request)
	s.Fake.Commit(vt.HeadSHA, head)
	run(t, s, "pull_request_target", opened)
	if state, _ := lastStatus(t, s); state != "pending" {
		t.Fatalf("status = %s: the head's CODEOWNERS was used", state)
	}
}

// Validating one PR costs the same GitHub calls whatever the size of requests/.
func TestCostIndependentOfRepositorySize(t *testing.T) {
	t.Parallel()
	calls := map[int]string{}
	for _, n := range []int{10, 100_000} {
		s := vt.New(t, n)
		s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
		s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now)
		if r := run(t, s, "pull_request_target", opened); r.err != nil {
			t.Fatal(r.err)
		}
		var b strings.Builder
		for _, route := range []string{
			"GET /repos/{owner}/{repo}/pulls/{number}",
			"GET /repos/{owner}/{repo}/pulls/{number}/files",
			"GET /repos/{owner}/{repo}/pulls/{number}/reviews",
			"GET /repos/{owner}/{repo}/contents/{path...}",
			"POST /repos/{owner}/{repo}/statuses/{sha}",
			"GET /repos/{owner}/{repo}/issues/{number}/comments",
			"POST /repos/{owner}/{repo}/issues/{number}/comments",
		} {
			fmt.Fprintf(&b, "%s=%d\n", route, s.Fake.Calls(route))
		}
		fmt.Fprintf(&b, "total=%d\n", s.Fake.TotalCalls())
		calls[n] = b.String()
	}
	if calls[10] != calls[100_000] {
		t.Errorf("calls differ:\n10 files:\n%s\n100,000 files:\n%s", calls[10], calls[100_000])
	}
	t.Logf("calls per validation:\n%s", calls[10])
}

func TestMergedCommentsWindowAndCommand(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	s.Review(vt.Lead, "APPROVED", vt.HeadSHA, now) // through @acme/sre-leads
	s.Merge(t, now.Add(time.Hour))
	r := run(t, s, "pull_request_target", "pull_request.closed.with-organization.json")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if comments := s.Fake.Comments(vt.Number); len(comments) != 1 {
		t.Fatalf("%d comments", len(comments))
	}
	// Active from the merge (10:00) for the request's 2h, and the commands.
	golden.Assert(t, "merged-granted", comment(t, s, MergedMarker))
	golden.Assert(t, "summary-merged", r.summary)
}

func TestMergedWithoutApprovalIsFlagged(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	s.Merge(t, now) // an admin bypass: no approval
	r := run(t, s, "pull_request_target", "pull_request.closed.with-organization.json")
	var rejected *RejectedError
	if !errors.As(r.err, &rejected) {
		t.Fatalf("err = %v, want a rejection", r.err)
	}
	golden.Assert(t, "merged-unapproved", comment(t, s, MergedMarker))
}

func TestEmergencyIsLoud(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(strings.Replace(vt.Request, "2h", "1h", 1) + "emergency: true\n")}, nil)
	r := run(t, s, "pull_request_target", opened)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if state, desc := lastStatus(t, s); state != "success" || !strings.Contains(desc, "EMERGENCY") {
		t.Errorf("status = %s %q", state, desc)
	}
	// The warning annotation on the file, and the caution in the comment.
	golden.Assert(t, "log-emergency", r.log)
	golden.Assert(t, "verdict-emergency", comment(t, s, VerdictMarker))
}

func TestPolicyChangeListsWhoGainsAndLoses(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	newPolicy := strings.Replace(vt.Policy, `who: ["Codertocat", "@acme/sre"]`, `who: ["@acme/sre", "erin"]`, 1)
	s.OpenPR(t, map[string][]byte{"eligibility.yaml": []byte(newPolicy)}, nil)
	r := run(t, s, "pull_request_target", opened)
	if r.err != nil {
		t.Fatal(r.err)
	}
	// erin gains prod/Admin, codertocat loses it.
	golden.Assert(t, "verdict-policy-change", comment(t, s, VerdictMarker))
	if state, desc := lastStatus(t, s); state != "pending" || !strings.Contains(desc, "@acme/security") {
		t.Errorf("status = %s %q, want pending on eligibility.yaml's owners", state, desc)
	}
}

func TestBadInputIsRejectedWithFileAndLine(t *testing.T) {
	t.Parallel()
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i/3)
	}
	tests := []struct {
		name   string
		data   []byte
		want   string
		golden string // the verdict comment and annotations, for the cases a person would make
	}{
		{"alias bomb", []byte(bomb), vt.RequestPath + ":1: YAML anchors", ""},
		{"10 MiB file", bytes.Repeat([]byte("a"), 10<<20), vt.RequestPath + ": the file is over the 16384-byte limit", ""},
		{"binary garbage", garbage, vt.RequestPath + ":1:", ""},
		{"tabs", []byte("requester: Codertocat\n\taccount: prod\n"), vt.RequestPath + ":2: tab used for indentation", "invalid-tabs"},
		{"unknown key", []byte(vt.Request + "approver: hubot\n"), vt.RequestPath + ":7: approver: unknown key", "invalid-unknown-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := vt.New(t, 0)
			s.OpenPR(t, map[string][]byte{vt.RequestPath: tt.data}, nil)
			start := time.Now()
			r := run(t, s, "pull_request_target", opened)
			var rejected *RejectedError
			if !errors.As(r.err, &rejected) {
				t.Fatalf("err = %v, want rejected", r.err)
			}
			if _, desc := lastStatus(t, s); !strings.HasPrefix(desc, tt.want) {
				t.Errorf("status description %q, want prefix %q", desc, tt.want)
			}
			if tt.golden != "" {
				golden.Assert(t, "verdict-"+tt.golden, comment(t, s, VerdictMarker))
				golden.Assert(t, "log-"+tt.golden, r.log)
			}
			t.Logf("judged in %s", time.Since(start))
		})
	}
}

// A PR into another branch is not judged: a success there would show on the
// same head commit in a PR into the default branch.
func TestPRIntoAnotherBranchIsNotJudged(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now)
	pr := s.Fake.Pull(vt.Number)
	pr.Base.Ref = github.String("attacker-branch")
	pr.Base.Repo = &github.Repository{DefaultBranch: github.String("main")}
	s.Fake.AddPull(pr, s.Fake.PullFiles(vt.Number))
	if r := run(t, s, "pull_request_target", opened); r.err != nil {
		t.Fatal(r.err)
	}
	if st := s.Fake.Statuses(vt.HeadSHA); len(st) != 0 {
		t.Fatalf("statuses = %v, want none", st)
	}
	pr.Base.Ref = github.String("main")
	s.Fake.AddPull(pr, s.Fake.PullFiles(vt.Number))
	run(t, s, "pull_request_target", opened)
	if state, _ := lastStatus(t, s); state != "success" {
		t.Fatalf("into main: %s", state)
	}
}

// The merge comment of a PR that only revokes, and of one that changes the
// repository itself.
func TestMergedRevocationAndChangeComments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		changes map[string][]byte
	}{
		{"revocation", map[string][]byte{vt.RequestPath: nil}},
		{"change", map[string][]byte{"README.md": []byte("# access\n\nAsk in #sre for help.\n")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := vt.New(t, 0)
			// Codertocat's request is on main; the PR is by Codertocat.
			s.BaseFiles[vt.RequestPath] = []byte(vt.Request)
			s.Fake.Commit(vt.BaseSHA, s.BaseFiles)
			s.OpenPR(t, tt.changes, nil)
			s.Fake.TeamMember("acme", "platform", "octolead", "active") // @acme/platform owns README.md
			s.Review(vt.Lead, "APPROVED", vt.HeadSHA, now)
			s.Merge(t, now.Add(time.Hour))
			r := run(t, s, "pull_request_target", "pull_request.closed.with-organization.json")
			if r.err != nil {
				t.Fatal(r.err)
			}
			golden.Assert(t, "merged-"+tt.name, comment(t, s, MergedMarker))
		})
	}
}

// With the state key in its environment, the Action seals into its merge
// comment the record that lets the broker match a requester renamed after
// the merge: the request, the requester and the author's numeric id.
func TestMergeRecordIsSealed(t *testing.T) {
	t.Parallel()
	const secret = "validate-test-state-key-0123456789abcdef"
	s := vt.New(t, 0)
	// The judge runs with elevate's App token, never the workflows' shared one.
	s.Fake.Token(vt.Token, &github.User{Login: github.String("elevate-app[bot]"), ID: github.Int64(99), Type: github.String("Bot")})
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	s.Review(vt.Lead, "APPROVED", vt.HeadSHA, now)
	s.Merge(t, now.Add(time.Hour))
	r := runEnv(t, s, "pull_request_target", vt.Payload(t, "pull_request.closed.with-organization.json"), nil, map[string]string{"ELEVATE_STATE_KEY": secret})
	if r.err != nil {
		t.Fatal(r.err)
	}
	rec, ok := prcomment.NewKey([]byte(secret)).MergeRecordOf(s.Fake.Comments(vt.Number), vt.RequestID)
	if !ok {
		t.Fatalf("no merge record verifies:\n%s", comment(t, s, MergedMarker))
	}
	if want := (prcomment.MergeRecord{Request: vt.RequestID, Requester: "Codertocat", AuthorID: vt.Author.GetID()}); rec != want {
		t.Errorf("record = %+v, want %+v", rec, want)
	}
	if strings.Contains(r.summary, "elevate:merge-state") {
		t.Error("the job summary carries the hidden record")
	}
}

// A second emergency while the author's first one waits for its owners'
// review is refused by the judge; once an owner approves the first, it is
// not.
func TestSecondEmergencyWaitsForTheFirstReview(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	const firstPath = "requests/prod/2026-11/codertocat-first.yaml"
	emergency := strings.Replace(vt.Request, "2h", "1h", 1) + "emergency: true\n"
	s.Fake.Commit("e000000000000000000000000000000000000001", map[string][]byte{"eligibility.yaml": []byte(vt.Policy), ".github/CODEOWNERS": []byte(vt.CodeOwners), firstPath: []byte(emergency)})
	s.Fake.AddPull(&github.PullRequest{
		Number: github.Int(1), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String("e000000000000000000000000000000000000002"), Ref: github.String("first")},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, []*github.CommitFile{{Filename: github.String(firstPath), Status: github.String("added")}})
	s.MergeAs(t, 1, now.Add(-2*time.Hour), "e000000000000000000000000000000000000001")
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(emergency)}, nil)
	r := run(t, s, "pull_request_target", opened)
	var rejected *RejectedError
	if !errors.As(r.err, &rejected) || !strings.Contains(rejected.Summary, "already has an emergency grant its owners have not reviewed (prod/2026-11/codertocat-first)") {
		t.Fatalf("second emergency: err = %v", r.err)
	}
	// A non-owner's approval changes nothing; an owner's does.
	s.Fake.AddReview(1, &github.PullRequestReview{User: vt.Stranger, State: github.String("APPROVED"), CommitID: github.String("e000000000000000000000000000000000000002"), SubmittedAt: &github.Timestamp{Time: now.Add(-time.Hour)}})
	if r := run(t, s, "pull_request_target", opened); !errors.As(r.err, &rejected) {
		t.Fatalf("after a non-owner's approval: err = %v", r.err)
	}
	s.Fake.AddReview(1, &github.PullRequestReview{User: vt.Hubot, State: github.String("APPROVED"), CommitID: github.String("e000000000000000000000000000000000000002"), SubmittedAt: &github.Timestamp{Time: now.Add(-time.Hour)}})
	if r := run(t, s, "pull_request_target", opened); r.err != nil {
		t.Fatalf("after the owner's review: %v", r.err)
	}
}

// The Action writes its verdict into a comment of its own, never into one a
// person posted first with its marker.
func TestVerdictNeverLandsInSomeoneElsesComment(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	bait := VerdictMarker + "\nall approved, merge away"
	s.Fake.AddComment(vt.Number, vt.Author, bait)
	if r := run(t, s, "pull_request_target", opened); r.err != nil {
		t.Fatal(r.err)
	}
	comments := s.Fake.Comments(vt.Number)
	if len(comments) != 2 || comments[0].GetBody() != bait || !strings.HasPrefix(comments[1].GetBody(), VerdictMarker) {
		t.Fatalf("comments = %d; the author's reads %q", len(comments), comments[0].GetBody())
	}
}
