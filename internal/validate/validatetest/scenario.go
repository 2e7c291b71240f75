// Package validatetest builds access-repository scenarios on the GitHub fake
// for tests of the Action, in process and as a built binary. The event
// payloads under testdata/ are GitHub's own examples (octokit/webhooks, MIT):
// repository Codertocat/Hello-World, pull request #2 by Codertocat. The
// workflow_run payloads have the shape of GitHub's documented workflow_run
// payload (octokit/webhooks' workflow_run examples), built around the same
// repository and PR: a completed run of the elevate-review workflow for a
// review of #2, once from a branch of the repository (pull_requests lists
// #2) and once from the fork ForkOwner/Hello-World (pull_requests is empty,
// as GitHub sends it for forks).
package validatetest

import (
	"cmp"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
)

//go:embed testdata/*.json
var events embed.FS

// The repository and PR of the fixture payloads.
const (
	Owner   = "Codertocat"
	Name    = "Hello-World"
	Number  = 2
	BaseSHA = "b000000000000000000000000000000000000001"
	HeadSHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	Token   = "ghs_test-token-never-logged"
	// MergeSHA is the merge commit Merge records.
	MergeSHA = "c000000000000000000000000000000000000009"
	// HeadBranch is the PR's head branch, as the workflow_run payloads name it.
	HeadBranch = "changes"
	// ForkOwner owns the fork of workflow_run.completed.from-fork.json.
	ForkOwner = "octocat"
)

// AppBot is the bot account of elevate's GitHub App, as which the judge
// (and the broker) read and write GitHub.
var AppBot = &github.User{Login: github.String("elevate-app[bot]"), ID: github.Int64(99), Type: github.String("Bot")}

// Author is the fixture PR's author.
var Author = &github.User{Login: github.String("Codertocat"), ID: github.Int64(21031067), Type: github.String("User")}

// Reviewers.
var (
	Hubot    = &github.User{Login: github.String("hubot"), ID: github.Int64(100), Type: github.String("User")}
	Lead     = &github.User{Login: github.String("octolead"), ID: github.Int64(101), Type: github.String("User")}
	Stranger = &github.User{Login: github.String("mallory"), ID: github.Int64(102), Type: github.String("User")}
)

// Policy makes Codertocat eligible for prod Admin with one approval.
const Policy = `version: 1
accounts:
  prod: "111111111111"
session_duration: 1h
rules:
  - name: sre-prod
    who: ["Codertocat", "@acme/sre"]
    accounts: [prod]
    roles: [Admin]
    max_duration: 4h
    approvals: 1
    ticket: '^INC-[0-9]+$'
    emergency:
      max_duration: 1h
`

// WithPermissionSet is policy with Identity Center configured, Author
// mapped (by numeric id) to codertocat@example.com there, the permission
// set name listed, and rule (a YAML list item) first among the rules.
func WithPermissionSet(policy, name, rule string) string {
	return strings.Replace(policy, "rules:\n", fmt.Sprintf(`identity_center:
  instance_arn: arn:aws:sso:::instance/ssoins-1234567890abcdef
  identity_store_id: d-1234567890
  region: eu-west-1
  portal_url: https://d-1234567890.awsapps.com/start
  users:
    "%d": codertocat@example.com
permission_sets:
  %s: arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef
rules:
%s`, Author.GetID(), name, rule), 1)
}

// CodeOwners routes prod requests to hubot and @acme/sre-leads (octolead).
const CodeOwners = `*                @acme/platform
/requests/prod/  @hubot @acme/sre-leads @Codertocat
/eligibility.yaml @acme/security
`

// RequestPath is the request the scenario's PR adds.
const RequestPath = "requests/prod/2026-11/codertocat-admin-inc1.yaml"

// RequestID is its id.
const RequestID = "prod/2026-11/codertocat-admin-inc1"

// Request is a valid request by Codertocat.
const Request = `requester: Codertocat
account: prod
role: Admin
duration: 2h
reason: Rotate the TLS certificate on the payments load balancer
ticket: INC-1
`

// Scenario is a repository with a base commit and one open PR.
type Scenario struct {
	Fake *githubfake.Fake
	// BaseFiles are the files at the base commit (policy, CODEOWNERS, ...).
	BaseFiles map[string][]byte
}

// New serves the repository with Policy and CODEOWNERS at the base and
// extra request files already merged.
func New(t testing.TB, existingRequests int) *Scenario {
	t.Helper()
	f := githubfake.New(t)
	f.Repo(Owner, Name)
	f.Token(Token, AppBot) // the judge acts as elevate's App, never as the workflows' shared bot
	base := map[string][]byte{
		"eligibility.yaml":   []byte(Policy),
		".github/CODEOWNERS": []byte(CodeOwners),
		"README.md":          []byte("# access\n"),
	}
	for i := range existingRequests {
		base[fmt.Sprintf("requests/prod/%04d-%02d/old-%d.yaml", 2000+i/12000, 1+i%12, i)] = []byte(strings.Replace(Request, "INC-1", fmt.Sprintf("INC-%d", i), 1))
	}
	f.Commit(BaseSHA, base)
	f.Branch("main", BaseSHA)
	f.TeamMember("acme", "sre-leads", "octolead", "active")
	return &Scenario{Fake: f, BaseFiles: base}
}

// OpenPR opens PR #2 whose head adds or changes files (nil content deletes).
func (s *Scenario) OpenPR(t testing.TB, changes map[string][]byte, status map[string]string) {
	t.Helper()
	s.PushHead(t, HeadSHA, changes, status)
}

// PushHead moves the head of PR #2 to commit sha, whose tree is the base
// with changes applied, as a push to its branch does; reviews are kept.
func (s *Scenario) PushHead(t testing.TB, sha string, changes map[string][]byte, status map[string]string) {
	t.Helper()
	head := map[string][]byte{}
	for p, d := range s.BaseFiles {
		head[p] = d
	}
	var files []*github.CommitFile
	for p, d := range changes {
		if d == nil {
			delete(head, p)
		} else {
			head[p] = d
		}
		st := status[p]
		if st == "" {
			st = "added"
			if d == nil {
				st = "removed"
			} else if _, ok := s.BaseFiles[p]; ok {
				st = "modified"
			}
		}
		files = append(files, &github.CommitFile{Filename: github.String(p), Status: github.String(st)})
	}
	s.Fake.Commit(sha, head)
	s.Fake.AddPull(&github.PullRequest{
		Number: github.Int(Number),
		State:  github.String("open"),
		User:   Author,
		Head:   &github.PullRequestBranch{SHA: github.String(sha), Ref: github.String(HeadBranch)},
		Base:   &github.PullRequestBranch{SHA: github.String(BaseSHA), Ref: github.String("main")},
	}, files)
}

// Approve adds an approval by u of sha.
func (s *Scenario) Review(u *github.User, state, sha string, at time.Time) {
	s.Fake.AddReview(Number, &github.PullRequestReview{User: u, State: github.String(state), CommitID: github.String(sha), SubmittedAt: &github.Timestamp{Time: at}})
}

// Merge marks the PR merged at the given time as MergeSHA.
func (s *Scenario) Merge(t testing.TB, at time.Time) {
	t.Helper()
	s.MergeAs(t, Number, at, MergeSHA)
}

// MergeAs marks PR number merged at the given time as commit sha, and
// records the merge in the repository's activity (a pr_merge of the PR's
// base branch to sha) as GitHub does.
func (s *Scenario) MergeAs(t testing.TB, number int, at time.Time, sha string) {
	t.Helper()
	pr := s.MarkMerged(t, number, at, sha)
	s.Fake.Move("pr_merge", cmp.Or(pr.GetBase().GetRef(), "main"), sha, at, pr.GetUser())
}

// MarkMerged marks PR number merged at the given time as commit sha,
// recording no move of the branch (a merge queue records its batch once).
func (s *Scenario) MarkMerged(t testing.TB, number int, at time.Time, sha string) *github.PullRequest {
	t.Helper()
	pr := s.Fake.Pull(number)
	pr.State = github.String("closed")
	pr.Merged = github.Bool(true)
	pr.MergedAt = &github.Timestamp{Time: at}
	pr.MergeCommitSHA = github.String(sha)
	s.Fake.AddPull(pr, s.Fake.PullFiles(number))
	return pr
}

// Payload returns the event payload event (a file name under testdata/).
func Payload(t testing.TB, event string) []byte {
	t.Helper()
	payload, err := events.ReadFile("testdata/" + event)
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

// Env is the Actions environment for event (a file name under testdata/,
// e.g. "pull_request.opened.with-organization.json") in dir.
func (s *Scenario) Env(t testing.TB, eventName, event, dir string) map[string]string {
	t.Helper()
	return s.EnvFor(t, eventName, Payload(t, event), dir)
}

// EnvFor is the Actions environment for an event with payload in dir.
func (s *Scenario) EnvFor(t testing.TB, eventName string, payload []byte, dir string) map[string]string {
	t.Helper()
	eventPath := filepath.Join(dir, "event.json")
	for _, p := range []string{eventPath, filepath.Join(dir, "output"), filepath.Join(dir, "summary")} {
		data := []byte{}
		if p == eventPath {
			data = payload
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_EVENT_NAME":   eventName,
		"GITHUB_EVENT_PATH":   eventPath,
		"GITHUB_REPOSITORY":   Owner + "/" + Name,
		"GITHUB_API_URL":      s.Fake.URL,
		"GITHUB_SERVER_URL":   "https://github.com",
		"GITHUB_RUN_ID":       "42",
		"GITHUB_TOKEN":        Token,
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
	}
}
