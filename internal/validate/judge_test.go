package validate

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

const (
	fromFork = "workflow_run.completed.from-fork.json"

	listPulls = "GET /repos/{owner}/{repo}/pulls"
	getPull   = "GET /repos/{owner}/{repo}/pulls/{number}"
)

// Heads the PR moves to in these tests.
const (
	movedSHA  = "d000000000000000000000000000000000000002"
	movedSHA3 = "d000000000000000000000000000000000000003"
	movedSHA4 = "d000000000000000000000000000000000000004"
)

// edited returns the payload event with edit applied to its JSON.
func edited(t *testing.T, event string, edit func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(vt.Payload(t, event), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// states lists the states of the elevate statuses on sha, oldest first.
func states(s *vt.Scenario, sha string) []string {
	var out []string
	for _, st := range s.Fake.Statuses(sha) {
		out = append(out, st.GetState())
	}
	return out
}

// fromForkPR makes PR #2 come from vt.ForkOwner's fork, as the fork payload says.
func fromForkPR(s *vt.Scenario) {
	pr := s.Fake.Pull(vt.Number)
	pr.Head.Label = github.String(vt.ForkOwner + ":" + vt.HeadBranch)
	pr.Head.Repo = &github.Repository{FullName: github.String(vt.ForkOwner + "/" + vt.Name), Fork: github.Bool(true)}
	s.Fake.AddPull(pr, s.Fake.PullFiles(vt.Number))
}

// The review workflow's completion judges the PR its run lists, exactly as a
// pull_request_target event does.
func TestWorkflowRunJudgesTheListedPR(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	if r := run(t, s, "workflow_run", reviewed); r.err != nil {
		t.Fatal(r.err)
	}
	if got := states(s, vt.HeadSHA); len(got) != 1 || got[0] != "pending" {
		t.Fatalf("statuses = %v, want [pending]", got)
	}
	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now)
	r := run(t, s, "workflow_run", reviewed)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if state, _ := lastStatus(t, s); state != "success" {
		t.Fatalf("status = %s, want success", state)
	}
	if !strings.Contains(r.outputs, "approved") {
		t.Errorf("outputs = %q", r.outputs)
	}
	if n := s.Fake.Calls(listPulls); n != 0 {
		t.Errorf("listed pull requests %d times; the run lists its PR", n)
	}
}

// GitHub lists no pull request in a workflow_run from a fork: the PR is the
// open one from the run's head repository owner and branch.
func TestWorkflowRunFromForkFindsThePRByHeadBranch(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	fromForkPR(s)
	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now)
	// A PR from another fork's branch of the same name is not it.
	const decoySHA = "e000000000000000000000000000000000000003"
	s.Fake.Commit(decoySHA, s.BaseFiles)
	s.Fake.AddPull(&github.PullRequest{
		Number: github.Int(3),
		State:  github.String("open"),
		User:   vt.Stranger,
		Head:   &github.PullRequestBranch{SHA: github.String(decoySHA), Ref: github.String(vt.HeadBranch), Label: github.String("mallory:" + vt.HeadBranch)},
		Base:   &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, nil)
	// Nor is a PR from the same branch into another branch, though it has
	// the run's head SHA and is listed first (newest).
	s.Fake.AddPull(&github.PullRequest{
		Number: github.Int(4),
		State:  github.String("open"),
		User:   vt.Author,
		Head:   &github.PullRequestBranch{SHA: github.String(vt.HeadSHA), Ref: github.String(vt.HeadBranch), Label: github.String(vt.ForkOwner + ":" + vt.HeadBranch)},
		Base:   &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("release"), Repo: &github.Repository{DefaultBranch: github.String("main")}},
	}, nil)

	if r := run(t, s, "workflow_run", fromFork); r.err != nil {
		t.Fatal(r.err)
	}
	if got := states(s, vt.HeadSHA); len(got) != 1 || got[0] != "success" {
		t.Fatalf("statuses on the fork's head = %v, want [success]", got)
	}
	if got := states(s, decoySHA); len(got) != 0 {
		t.Errorf("statuses on the other fork's PR = %v, want none", got)
	}
	if n := s.Fake.Calls(listPulls); n != 1 {
		t.Errorf("listed pull requests %d times, want 1", n)
	}
}

// If the branch moved on after the review, its PR is judged at its current
// head, never at the run's head SHA.
func TestWorkflowRunAfterAPushJudgesTheCurrentHead(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now) // of the old head: void after the push
	s.PushHead(t, movedSHA, map[string][]byte{vt.RequestPath: []byte(strings.Replace(vt.Request, "2h", "3h", 1))}, nil)
	fromForkPR(s)

	if r := run(t, s, "workflow_run", fromFork); r.err != nil {
		t.Fatal(r.err)
	}
	if got := states(s, movedSHA); len(got) != 1 || got[0] != "pending" {
		t.Fatalf("statuses on the current head = %v, want [pending]: the approval was of the old head", got)
	}
	if got := states(s, vt.HeadSHA); len(got) != 0 {
		t.Errorf("statuses on the run's old head = %v, want none", got)
	}
}

// Only runs of the review workflow are judged, only when completed, and only
// for PRs into the default branch.
func TestWorkflowRunIgnoresOtherRunsAndBranches(t *testing.T) {
	t.Parallel()
	run0 := func(m map[string]any) map[string]any { return m["workflow_run"].(map[string]any) }
	tests := []struct {
		name    string
		event   string
		edit    func(map[string]any)
		intoRel bool // the PR targets a release branch
	}{
		{name: "another workflow", event: reviewed, edit: func(m map[string]any) {
			run0(m)["name"] = "ci"
			m["workflow"].(map[string]any)["name"] = "ci"
		}},
		{name: "another workflow from a fork", event: fromFork, edit: func(m map[string]any) {
			run0(m)["name"] = "ci"
			m["workflow"].(map[string]any)["name"] = "ci"
		}},
		{name: "requested, not completed", event: reviewed, edit: func(m map[string]any) {
			m["action"] = "requested"
			run0(m)["status"] = "queued"
			run0(m)["conclusion"] = nil
		}},
		{name: "listed PR into another branch", event: reviewed, edit: func(map[string]any) {}, intoRel: true},
		{name: "fork PR into another branch", event: fromFork, edit: func(map[string]any) {}, intoRel: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := vt.New(t, 0)
			s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
			s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now)
			fromForkPR(s)
			if tt.intoRel {
				pr := s.Fake.Pull(vt.Number)
				pr.Base.Ref = github.String("release")
				pr.Base.Repo = &github.Repository{DefaultBranch: github.String("main")}
				s.Fake.AddPull(pr, s.Fake.PullFiles(vt.Number))
			}
			r := runWith(t, s, "workflow_run", edited(t, tt.event, tt.edit), nil)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if got := states(s, vt.HeadSHA); len(got) != 0 {
				t.Fatalf("statuses = %v, want none", got)
			}
			if !tt.intoRel && s.Fake.Calls(getPull)+s.Fake.Calls(listPulls) != 0 {
				t.Errorf("read pull requests for a run that is not judged")
			}
		})
	}
}

// movingHead is the Action's GitHub client with a hook run after each
// listing of a PR's files: there the tests push to the PR, between the
// Action reading the PR and re-reading it.
type movingHead struct {
	*githubapi.Repo
	lists     int
	afterList func(lists int)
}

func (m *movingHead) PullRequestFiles(ctx context.Context, number int) ([]*github.CommitFile, error) {
	files, err := m.Repo.PullRequestFiles(ctx, number)
	m.lists++
	m.afterList(m.lists)
	return files, err
}

// The Action judges the files of the exact head it reports on. A
// push between reading the PR and listing its files makes it read and judge
// the PR again; the files it listed of the old head never decide the new one.
func TestHeadMovedWhileListingFilesIsJudgedAgain(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	// The owner approves both heads: judged on the old head's files (the
	// request alone), the new head would pass.
	s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, now)
	s.Review(vt.Hubot, "APPROVED", movedSHA, now)
	gh := &movingHead{afterList: func(lists int) {
		if lists == 1 {
			s.PushHead(t, movedSHA, map[string][]byte{
				vt.RequestPath:                  []byte(vt.Request),
				".github/workflows/elevate.yml": []byte("on: push\n"),
			}, nil)
		}
	}}
	r := runWith(t, s, "pull_request_target", vt.Payload(t, opened), func(repo *githubapi.Repo) GitHub {
		gh.Repo = repo
		return gh
	})
	var rejected *RejectedError
	if !errors.As(r.err, &rejected) {
		t.Fatalf("err = %v, want the new head rejected", r.err)
	}
	if gh.lists != 2 {
		t.Errorf("files listed %d times, want 2 (once per head)", gh.lists)
	}
	st := s.Fake.Statuses(movedSHA)
	if len(st) != 1 || st[0].GetState() != "failure" || !strings.Contains(st[0].GetDescription(), ".github/workflows/elevate.yml") {
		t.Fatalf("statuses on the new head = %v, want one failure judged on its own files", st)
	}
	if got := states(s, vt.HeadSHA); len(got) != 0 {
		t.Errorf("statuses on the old head = %v, want none: its files were not the head's when judged", got)
	}
}

// A head that keeps moving is read at most three times and never gets a
// success; the Action fails so the run can be retried.
func TestHeadThatKeepsMovingIsNeverSuccess(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	heads := []string{vt.HeadSHA, movedSHA, movedSHA3, movedSHA4}
	for _, sha := range heads {
		s.Review(vt.Hubot, "APPROVED", sha, now)
	}
	gh := &movingHead{afterList: func(lists int) {
		if lists >= len(heads) {
			t.Errorf("files listed %d times: the Action must give up after %d attempts", lists, maxJudgeAttempts)
			return
		}
		s.PushHead(t, heads[lists], map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	}}
	r := runWith(t, s, "pull_request_target", vt.Payload(t, opened), func(repo *githubapi.Repo) GitHub {
		gh.Repo = repo
		return gh
	})
	var moved *approval.HeadMovedError
	if !errors.As(r.err, &moved) {
		t.Fatalf("err = %v, want *approval.HeadMovedError", r.err)
	}
	if gh.lists != maxJudgeAttempts {
		t.Errorf("files listed %d times, want %d", gh.lists, maxJudgeAttempts)
	}
	var all []string
	for _, sha := range heads {
		for _, state := range states(s, sha) {
			all = append(all, sha[:7]+"="+state)
			if state == "success" {
				t.Errorf("success posted on %s, whose files were never judged as its own", sha)
			}
		}
	}
	if len(all) != 1 || !strings.HasSuffix(all[0], "=error") {
		t.Errorf("statuses = %v, want one error", all)
	}
}
