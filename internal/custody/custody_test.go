package custody_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// The people, owners and policy of these tests are the benchmarks' world's.
var (
	alice, hubot, octosec = ledgertest.Alice, ledgertest.Hubot, ledgertest.Octosec
	blobSHA               = ledgertest.BlobSHA
)

const (
	benchOwners = ledgertest.WorldOwners
	benchPolicy = "version: 1\naccounts:\n  prod: \"111111111111\"\nrules:\n  - name: sre\n    who: [alice]\n    accounts: [prod]\n    roles: [Admin]\n    max_duration: 4h\n    approvals: 1\n"
)

// history is a git repository, the GitHub fake that knows its PRs, and
// GitHub's record of the branch's moves.
type history struct {
	t       *testing.T
	repo    *ledgertest.Repo
	git     *gitlog.Repo
	fake    *githubfake.Fake
	checker *custody.Checker
	anchor  string
	n       int
}

func newHistory(t *testing.T) *history {
	t.Helper()
	h := &history{t: t, repo: ledgertest.New(t), fake: githubfake.New(t)}
	h.fake.Repo("acme", "access")
	h.anchor = h.repo.Commit(t0.Add(-48*time.Hour), "anchor", map[string]string{"eligibility.yaml": benchPolicy, ".github/CODEOWNERS": benchOwners})
	h.fake.Move("branch_creation", "main", h.anchor, t0.Add(-48*time.Hour), alice)
	gh, err := githubapi.NewClient(h.fake.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := githubapi.NewRepo(gh, "acme/access")
	if err != nil {
		t.Fatal(err)
	}
	if h.git, err = gitlog.Open(h.repo.Dir); err != nil {
		t.Fatal(err)
	}
	h.checker = &custody.Checker{GitHub: repo, Git: h.git, Members: repo, Branch: "main", Anchor: h.anchor, Now: func() time.Time { return t0 }}
	return h
}

// pr records a merged PR into main with files at its head (SHAs as GitHub
// lists them), merged as mergeSHA, approved by approver (nil: nobody). It
// records no move: the test says how the branch moved.
func (h *history) pr(mergeSHA string, files map[string]string, approver *github.User, at time.Time) int {
	h.t.Helper()
	h.n++
	head := fmt.Sprintf("%040x", 1<<40+h.n)
	snapshot := map[string][]byte{}
	var listed []*github.CommitFile
	for _, p := range slices.Sorted(maps.Keys(files)) {
		snapshot[p] = []byte(files[p])
		listed = append(listed, &github.CommitFile{Filename: github.String(p), Status: github.String("modified"), SHA: github.String(blobSHA(files[p]))})
	}
	h.fake.Commit(head, snapshot)
	h.fake.AddPull(&github.PullRequest{
		Number: github.Int(h.n), State: github.String("closed"), User: alice,
		Merged: github.Bool(true), MergedAt: &github.Timestamp{Time: at}, MergeCommitSHA: github.String(mergeSHA),
		Head: &github.PullRequestBranch{SHA: github.String(head)}, Base: &github.PullRequestBranch{SHA: github.String(h.anchor), Ref: github.String("main")},
	}, listed)
	if approver != nil {
		h.fake.AddReview(h.n, &github.PullRequestReview{User: approver, State: github.String("APPROVED"), CommitID: github.String(head), SubmittedAt: &github.Timestamp{Time: at.Add(-time.Minute)}})
	}
	return h.n
}

// merge commits files on main and records it as the merge of an approved
// (by approver) PR that changed them, as GitHub's merge button would.
func (h *history) merge(files map[string]string, approver *github.User, at time.Time) string {
	h.t.Helper()
	sha := h.repo.Commit(at, "merge", files)
	h.pr(sha, files, approver, at)
	h.fake.Move("pr_merge", "main", sha, at, alice)
	return sha
}

// chain verifies the policy changes GitHub recorded from the anchor on.
func (h *history) chain() *custody.Chain {
	h.t.Helper()
	ctx := context.Background()
	moves, err := h.checker.Moves(ctx, custody.Mark{Head: h.anchor}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	steps, err := custody.Steps(ctx, h.git, h.checker, moves, time.Time{}, t0)
	if err != nil {
		h.t.Fatal(err)
	}
	var pols []custody.Step
	for _, st := range steps {
		if pol, ok := st.Policy(); ok {
			pols = append(pols, pol)
		}
	}
	return h.checker.Chain(ctx, pols)
}

func policyRev(n int) string { return benchPolicy + fmt.Sprintf("# revision %d\n", n) }

func TestChainVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		build   func(h *history)
		trusted bool
		reason  string
	}{
		{"change approved by the file's owner", func(h *history) {
			h.merge(map[string]string{"eligibility.yaml": policyRev(1)}, octosec, t0.Add(-time.Hour))
		}, true, ""},
		{"change approved by someone who owns other files only", func(h *history) {
			h.merge(map[string]string{"eligibility.yaml": policyRev(1)}, hubot, t0.Add(-time.Hour))
		}, false, "without a passing verdict"},
		{"pushed without a PR", func(h *history) {
			h.fake.Move("push", "main", h.repo.Commit(t0.Add(-time.Hour), "push", map[string]string{"eligibility.yaml": policyRev(1)}), t0.Add(-time.Hour), alice)
		}, false, "was pushed to main by alice"},
		{"pushed with a date in the future, seen at once", func(h *history) {
			h.fake.Move("push", "main", h.repo.Commit(t0.AddDate(1, 0, 0), "push", map[string]string{"eligibility.yaml": policyRev(1)}), t0.Add(-time.Second), alice)
		}, false, "was pushed"},
		{"merge commit that adds a change its PR did not have", func(h *history) {
			sha := h.repo.Commit(t0.Add(-time.Hour), "m", map[string]string{"eligibility.yaml": policyRev(2)})
			h.pr(sha, map[string]string{"eligibility.yaml": policyRev(1)}, octosec, t0.Add(-time.Hour))
			h.fake.Move("pr_merge", "main", sha, t0.Add(-time.Hour), alice)
		}, false, "differs from what PR #1 had approved"},
		{"merge commit that changes a policy file its PR does not list", func(h *history) {
			sha := h.repo.Commit(t0.Add(-time.Hour), "m", map[string]string{"eligibility.yaml": policyRev(1), ".github/CODEOWNERS": benchOwners + "* @alice\n"})
			h.pr(sha, map[string]string{"eligibility.yaml": policyRev(1)}, octosec, t0.Add(-time.Hour))
			h.fake.Move("pr_merge", "main", sha, t0.Add(-time.Hour), alice)
		}, false, "which PR #1 does not"},
		{"policy file turned into a symlink", func(h *history) {
			path := filepath.Join(h.repo.Dir, "eligibility.yaml")
			if err := os.WriteFile(filepath.Join(h.repo.Dir, "loose.yaml"), []byte(policyRev(9)), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("loose.yaml", path); err != nil {
				t.Fatal(err)
			}
			h.repo.Git(t0.Add(-time.Hour), "add", "-A")
			h.repo.Git(t0.Add(-time.Hour), "commit", "-q", "-m", "symlink")
			sha := h.repo.Git(time.Time{}, "rev-parse", "HEAD")
			h.pr(sha, map[string]string{"eligibility.yaml": "loose.yaml"}, octosec, t0.Add(-time.Hour))
			h.fake.Move("pr_merge", "main", sha, t0.Add(-time.Hour), alice)
		}, false, "symlink or a submodule"},
		{"rebase merge of two commits judged at its two ends", func(h *history) {
			h.repo.Commit(t0.Add(-time.Hour), "one: approvals 0 for a moment", map[string]string{"eligibility.yaml": strings.Replace(policyRev(1), "approvals: 1", "approvals: 0", 1)})
			last := h.repo.Commit(t0.Add(-time.Hour), "two", map[string]string{"eligibility.yaml": policyRev(2)})
			h.pr(last, map[string]string{"eligibility.yaml": policyRev(2)}, octosec, t0.Add(-time.Hour))
			h.fake.Move("pr_merge", "main", last, t0.Add(-time.Hour), alice)
		}, true, ""},
		{"rebase merge of a README PR that touched the policy and put it back", func(h *history) {
			h.repo.Commit(t0.Add(-time.Hour), "one", map[string]string{"eligibility.yaml": policyRev(1)})
			last := h.repo.Commit(t0.Add(-time.Hour), "two", map[string]string{"eligibility.yaml": benchPolicy, "README.md": "docs\n"})
			h.pr(last, map[string]string{"README.md": "docs\n"}, hubot, t0.Add(-time.Hour))
			h.fake.Move("pr_merge", "main", last, t0.Add(-time.Hour), alice)
		}, true, ""},
		{"a commit GitHub associates with a PR merged elsewhere", func(h *history) {
			other := h.repo.Commit(t0.Add(-time.Hour), "one", map[string]string{"eligibility.yaml": policyRev(1)})
			n := h.pr("f0000000000000000000000000000000000000f0", map[string]string{"eligibility.yaml": policyRev(1)}, octosec, t0.Add(-time.Hour))
			h.fake.AssociateCommit(n, other)
			h.fake.Move("push", "main", other, t0.Add(-time.Hour), alice)
		}, false, "was pushed"},
		{"two PRs GitHub lists as merged at the same commit", func(h *history) {
			sha := h.repo.Commit(t0.Add(-time.Hour), "m", map[string]string{"eligibility.yaml": policyRev(1)})
			h.pr(sha, map[string]string{"eligibility.yaml": policyRev(1)}, octosec, t0.Add(-time.Hour))
			h.pr(sha, map[string]string{"eligibility.yaml": policyRev(1)}, octosec, t0.Add(-time.Hour))
			h.fake.Move("pr_merge", "main", sha, t0.Add(-time.Hour), alice)
		}, false, "2 pull requests merged as"},
		{"a merge GitHub recorded but never linked to a PR", func(h *history) {
			h.fake.Move("pr_merge", "main", h.repo.Commit(t0.Add(-time.Hour), "m", map[string]string{"eligibility.yaml": policyRev(1)}), t0.Add(-time.Hour), alice)
		}, false, "lists no pull request merged there"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHistory(t)
			tt.build(h)
			st := h.chain().Head()
			if tt.trusted != (st.Err() == nil) || (tt.reason != "" && (st.Untrusted == nil || !strings.Contains(st.Untrusted.Reason, tt.reason))) {
				t.Fatalf("head state = %v, want trusted=%v with %q", st.Err(), tt.trusted, tt.reason)
			}
		})
	}
}

// A merge GitHub recorded moments ago but has not linked to its PR yet
// leaves the chain pending (503 not_synced), and it is asked again; a
// definitive verdict is asked once.
func TestChainPendingIsAskedAgain(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	sha := h.repo.Commit(t0.AddDate(-1, 0, 0), "m, dated a year ago", map[string]string{"eligibility.yaml": policyRev(1)})
	h.fake.Move("pr_merge", "main", sha, t0.Add(-5*time.Second), alice)
	var pending *custody.PendingError
	if st := h.chain().Head(); !errors.As(st.Err(), &pending) || !errors.Is(st.Err(), custody.ErrNotRecorded) {
		t.Fatalf("a merge recorded 5 s ago with no PR listed yet: %v, want pending (not recorded yet), whatever its commit date", st.Err())
	}
	h.pr(sha, map[string]string{"eligibility.yaml": policyRev(1)}, octosec, t0.Add(-5*time.Second))
	if st := h.chain().Head(); st.Err() != nil {
		t.Fatalf("once GitHub lists the PR: %v", st.Err())
	}
	calls := h.fake.TotalCalls()
	h.chain()
	if n := h.fake.TotalCalls() - calls; n != 1 {
		t.Errorf("a verified change was asked again: %d calls, want 1 (the activity)", n)
	}
}

// Build keeps the untrusted state until a verified change of the same file.
func TestBuildRestoresTrust(t *testing.T) {
	t.Parallel()
	change := func(sha string, ok bool) custody.Verdict {
		return custody.Verdict{Step: custody.Step{Move: custody.Move{After: sha}, Changes: []custody.Change{{Path: "eligibility.yaml", Status: 'M', Mode: gitlog.ModeFile}}}, Checked: true, OK: ok, Reason: "no PR"}
	}
	c := custody.Build("a", []custody.Verdict{change("b", true), change("c", false), change("d", true)})
	for n, want := range []string{"", "", "c", ""} {
		got := ""
		if u := c.At(n).Untrusted; u != nil {
			got = u.Commit
		}
		if got != want {
			t.Errorf("At(%d) untrusted = %q, want %q", n, got, want)
		}
	}
}

// Comparing many moves' trees is split into contiguous runs of equal
// cost: the window's moves cost more than older ones.
func TestBalance(t *testing.T) {
	horizon := t0
	var moves []custody.Move
	for i := range 1000 {
		moves = append(moves, custody.Move{At: t0.Add(time.Duration(i-800) * time.Minute)}) // 800 before the horizon, 200 in the window
	}
	got := custody.Balance(moves, horizon, 2)
	// 800 + 200*16 = 4000: the first run ends half way, at 800 + 75.
	if want := []int{0, 875, 1000}; !slices.Equal(got, want) {
		t.Errorf("bounds = %v, want %v", got, want)
	}
	if got := custody.Balance(moves[:1], horizon, 4); !slices.Equal(got, []int{0, 1, 1, 1, 1}) {
		t.Errorf("one move on four workers: %v", got)
	}
}
