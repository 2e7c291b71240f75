package broker_test

// What merged is what GitHub recorded. Each attack below reshapes the
// branch as a repository admin or writer could, in a real git repository
// whose moves the GitHub fake's activity records as GitHub does, and is
// tried against a broker that was running when it happened and against one
// started afterwards with no saved state (a new replica, a Lambda cold
// start). README: "Who can do what: the trust model".

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// bothBrokers runs check against the broker that saw the attack happen
// (synced after it), a fresh one started after it, and a new instance
// started from the checkpoint the running broker wrote before the attack
// (which reads only what GitHub recorded since).
func bothBrokers(t *testing.T, h *brokertest.Harness, check func(t *testing.T, h *brokertest.Harness)) {
	t.Helper()
	before := h.Checkpoint() // what the running broker verified before it looked again
	if before == nil {
		t.Fatal("the running broker wrote no checkpoint")
	}
	_ = h.Ledger.Sync(context.Background())
	t.Run("running broker", func(t *testing.T) { check(t, h) })
	t.Run("broker started afterwards", func(t *testing.T) { check(t, h.Restart()) })
	t.Run("broker started from the checkpoint before", func(t *testing.T) {
		n := h.FromCheckpoint(before)
		if !strings.Contains(n.Logs.String(), "ledger restored from a checkpoint") {
			t.Fatalf("the new instance did not start from the checkpoint:\n%s", n.Logs)
		}
		check(t, n)
	})
}

// reroute pushes, as an admin, a merge commit whose first parent is old and
// whose second parent is the head, holding old's tree: the new head
// descends from the old one, and GitHub records a push, not a force push;
// yet everything since old has left the first-parent chain.
func reroute(t *testing.T, h *brokertest.Harness, old string, at time.Time) string {
	t.Helper()
	head := h.Repo.Git(time.Time{}, "rev-parse", "HEAD")
	tree := h.Repo.Git(time.Time{}, "rev-parse", old+"^{tree}")
	sha := h.Repo.Git(at, "commit-tree", tree, "-p", old, "-p", head, "-m", "Merge branch 'main'")
	h.Repo.Git(time.Time{}, "reset", "-q", "--hard", sha)
	h.GitHub.Fake.Move("push", "main", sha, at, brokertest.Admin)
	return sha
}

func head(h *brokertest.Harness) string { return h.Repo.Git(time.Time{}, "rev-parse", "HEAD") }

// A revocation rerouted off the first-parent chain stays in force: the
// request file is back on the branch, but by a push, which grants nothing.
func TestAttackRerouteUndoesRevocation(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	before := head(h)
	h.MergeChange(40, map[string]string{vt.RequestPath: ""}, h.Clock().Add(-10*time.Minute), nil) // a revocation needs no approval
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 403, "revoked", "revoked")
	rerouted := reroute(t, h, before, h.Clock().Add(-5*time.Minute))
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		wantRefusal(t, h.Credentials(h.Codertocat(), byID), 403, "no_active_grant", rerouted[:12])
		wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"account": "prod", "role": "Admin"}), 403, "no_active_grant", "was pushed")
	})
}

// An approved tightening of eligibility.yaml rolled back by a reroute is a
// policy change by push: nothing issues.
func TestAttackRerouteRollsBackPolicy(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	before := head(h)
	h.MergeChange(41, map[string]string{"eligibility.yaml": stricter}, h.Clock().Add(-10*time.Minute), brokertest.SecurityLead)
	rerouted := reroute(t, h, before, h.Clock().Add(-5*time.Minute))
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", rerouted[:12])
	})
}

// A reroute onto an intermediate commit of a rebase-merged policy PR (one
// that briefly said approvals: 0) makes that commit's policy nobody's: a
// request merged without approval under it gets nothing.
func TestAttackRerouteOntoIntermediateCommit(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	loose := strings.Replace(looser, "approvals: 1", "approvals: 0", 1)
	h.MergeRebased(42, []map[string]string{{"eligibility.yaml": loose}, {"eligibility.yaml": looser}}, h.Clock().Add(-20*time.Minute), brokertest.SecurityLead)
	h.Sync()
	if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("after the approved rebase merge: %d %s", a.Status, a.Raw)
	}
	intermediate := h.Repo.Git(time.Time{}, "rev-parse", "HEAD~1")
	rerouted := reroute(t, h, intermediate, h.Clock().Add(-15*time.Minute))
	content := strings.Replace(vt.Request, "INC-1", "INC-43", 1)
	sha := h.Repo.Commit(h.Clock().Add(-10*time.Minute), "Merge pull request #43", map[string]string{"requests/prod/2026-11/unapproved.yaml": content})
	h.MergePR(43, "requests/prod/2026-11/unapproved.yaml", content, sha, h.Clock().Add(-10*time.Minute), false)
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "unapproved"}), 503, "untrusted_history", rerouted[:12])
		wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", rerouted[:12])
	})
}

// Deleting the branch and creating it again at an older commit (before a
// revocation) is a rewrite, though no force push is recorded.
func TestAttackBranchDeletedAndRecreated(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	before := head(h)
	h.MergeChange(44, map[string]string{vt.RequestPath: ""}, h.Clock().Add(-10*time.Minute), nil)
	h.Sync()
	h.Repo.Git(time.Time{}, "reset", "-q", "--hard", before)
	h.GitHub.Fake.Move("branch_deletion", "main", "", h.Clock().Add(-6*time.Minute), brokertest.Admin)
	h.GitHub.Fake.Move("branch_creation", "main", before, h.Clock().Add(-5*time.Minute), brokertest.Admin)
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "history_rewritten", "deleted")
	})
}

// A README-only PR whose first commit touched eligibility.yaml and whose
// second put it back, merged with "Rebase and merge", changes no policy:
// the move is judged at its two ends, and grants keep issuing.
func TestAttackRebasedRevertIsNoDenialOfService(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.MergeRebased(45, []map[string]string{{"eligibility.yaml": looser}, {"eligibility.yaml": brokertest.Policy, "README.md": "# access\n"}}, h.Clock().Add(-10*time.Minute), vt.Hubot)
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
			t.Fatalf("after a README PR rebase-merged: %d %s", a.Status, a.Raw)
		}
	})
}

// A pushed eligibility.yaml is untrusted as soon as it is seen, whatever
// date its commit claims (a year ahead here), never "GitHub is lagging";
// a later approved PR restores trust.
func TestAttackPushedPolicyIsUntrustedAtOnce(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	pushed := h.Repo.Commit(h.Clock().AddDate(1, 0, 0), "admin push, dated next year", map[string]string{"eligibility.yaml": looser})
	h.GitHub.Fake.Move("push", "main", pushed, h.Clock().Add(-time.Second), brokertest.Admin)
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", pushed[:12])
	})
	h.MergeChange(46, map[string]string{"eligibility.yaml": brokertest.Policy}, h.Clock(), brokertest.SecurityLead)
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
			t.Fatalf("after the approved PR: %d %s", a.Status, a.Raw)
		}
	})
}

// The saved state is a cache: an edited state directory makes a pushed,
// unapproved request issue nothing after a restart.
func TestAttackEditedSavedState(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	content := strings.Replace(vt.Request, "INC-1", "INC-47", 1)
	pushed := h.Push(h.Clock().Add(-5*time.Minute), "admin push", map[string]string{"requests/prod/2026-11/pushed.yaml": content})
	h.Sync()
	if err := h.Ledger.VerifyAll(context.Background()); err != nil { // and saves the verdicts
		t.Fatal(err)
	}
	wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "pushed"}), 403, "no_active_grant", "pushed")
	// The admin writes the verdict they want into the saved state: the
	// pushed request's verification copied from the real grant's.
	state := h.StateDir() + "/ledger-checkpoint"
	forgeState(t, state, pushed)
	restarted := h.RestartSameMachine()
	wantRefusal(t, restarted.Credentials(restarted.Codertocat(), map[string]string{"request": "pushed"}), 403, "no_active_grant", "pushed")
	if a := restarted.Credentials(restarted.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("the real grant after the restart: %d %s", a.Status, a.Raw)
	}
}

// The broker's own clone lives in its state directory, which is no more
// evidence than the saved index: a request's blob rewritten there (a 2h
// grant turned into 720h under the same name) is refused at the restart,
// not issued for 720 hours.
func TestAttackTamperedCloneInStateDir(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	url := ledgertest.NewGitServer(t, false, vt.Token).Publish(t, h.Repo, "acme", "access")
	stateDir := t.TempDir()
	_ = h.Serve(h.BuildOn(url, stateDir))
	if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("the real grant: %d %s", a.Status, a.Raw)
	}
	// Whoever can write the state directory, but not the broker's
	// environment (so not its --state-key), rewrites the grant's blob.
	blob := h.Repo.Git(time.Time{}, "rev-parse", "HEAD:"+vt.RequestPath)
	forged := strings.Replace(vt.Request, "duration: 2h", "duration: 720h", 1)
	ledgertest.Tamper(t, filepath.Join(stateDir, "ledger.git"), blob, fmt.Sprintf("blob %d\x00%s", len(forged), forged))
	// Three hours later the real 2h window is over; the broker restarts on
	// the same state directory.
	h.SetNow(h.Clock().Add(3 * time.Hour))
	_ = h.Serve(h.BuildOn(url, stateDir))
	if a := h.Credentials(h.Codertocat(), byID); a.Status == 200 {
		t.Fatalf("an expired 2h grant issued from a tampered clone: %s", a.Raw)
	}
}

// Two merges landing between two looks at the branch, and a merge-queue
// batch of two, are each judged at their own merge: all four issue.
func TestSeveralMergesBetweenTwoLooksAreTrusted(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	at := h.Clock().Add(-10 * time.Minute)
	for i, name := range []string{"one", "two"} {
		content := strings.Replace(vt.Request, "INC-1", "INC-5"+strconv.Itoa(i), 1)
		sha := h.Repo.Commit(at, "Merge pull request", map[string]string{"requests/prod/2026-11/" + name + ".yaml": content})
		h.MergePR(50+i, "requests/prod/2026-11/"+name+".yaml", content, sha, at, true)
	}
	h.MergeQueue(at.Add(time.Minute),
		brokertest.Queued{Number: 52, Path: "requests/prod/2026-11/three.yaml", Content: strings.Replace(vt.Request, "INC-1", "INC-53", 1)},
		brokertest.Queued{Number: 53, Path: "requests/prod/2026-11/four.yaml", Content: strings.Replace(vt.Request, "INC-1", "INC-54", 1)})
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		for _, id := range []string{"one", "two", "three", "four"} {
			if a := h.Credentials(h.Codertocat(), map[string]string{"request": id}); a.Status != 200 {
				t.Errorf("%s: %d %s", id, a.Status, a.Raw)
			}
		}
	})
}

// A merge queue's batch cannot carry a change that no PR of it made: the
// commit between its merges is nobody's merge.
func TestMergeQueueBatchWithAnUnmergedCommit(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	at := h.Clock().Add(-10 * time.Minute)
	// The smuggled commit is not recorded: the batch's move starts before it.
	h.Repo.Commit(at, "not a PR", map[string]string{"requests/prod/2026-11/smuggled.yaml": strings.Replace(vt.Request, "INC-1", "INC-60", 1)})
	h.MergeQueue(at, brokertest.Queued{Number: 61, Path: "requests/prod/2026-11/queued.yaml", Content: strings.Replace(vt.Request, "INC-1", "INC-61", 1)})
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "smuggled"}), 403, "no_active_grant", "did not add")
		if a := h.Credentials(h.Codertocat(), map[string]string{"request": "queued"}); a.Status != 200 {
			t.Fatalf("the queued PR: %d %s", a.Status, a.Raw)
		}
	})
}

// A merge the branch shows but GitHub's activity does not list yet is
// "not yet" (503 not_synced) for a new grant, while deletions take effect
// at once; once GitHub records it, it issues.
func TestUnrecordedMergeIsNotYet(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	content := strings.Replace(vt.Request, "INC-1", "INC-70", 1)
	at := h.Clock().Add(-time.Second)
	sha := h.Repo.Commit(at, "Merge pull request #70", map[string]string{"requests/prod/2026-11/new.yaml": content, vt.RequestPath: ""})
	h.MergePR(70, "requests/prod/2026-11/new.yaml", content, sha, at, true)
	// GitHub has not recorded the move yet: take it out of the activity.
	h.GitHub.Fake.Unrecord(sha)
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "new"}), 503, "not_synced", "not")
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 403, "revoked", "revoked")
	wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"account": "prod", "role": "ReadOnly"}), 503, "not_synced", sha[:12])
	h.GitHub.Fake.Move("pr_merge", "main", sha, at, vt.Author)
	h.Sync()
	if a := h.Credentials(h.Codertocat(), map[string]string{"request": "new"}); a.Status != 200 {
		t.Fatalf("once recorded: %d %s", a.Status, a.Raw)
	}
}

// GitHub's activity failing at a cold start (500, a rate limit, a slow
// answer) leaves the broker up and answering 503; it recovers by itself
// once GitHub answers.
func TestActivityFaultsAtColdStart(t *testing.T) {
	t.Parallel()
	const route = "GET /repos/{owner}/{repo}/activity"
	slow := make(chan struct{})
	// GitHub's reset time is a second ahead: go-github holds back every
	// call until then, as it should.
	reset := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	for _, tt := range []struct {
		name    string
		fault   githubfake.Fault
		release chan struct{}
	}{
		{"500", githubfake.Fault{Status: http.StatusInternalServerError}, nil},
		{"rate limited", githubfake.Fault{Status: http.StatusForbidden, Message: "API rate limit exceeded for installation ID 1.",
			Header: http.Header{"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {reset}}}, nil},
		{"slow", githubfake.Fault{Until: slow}, slow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := brokertest.New(t)
			h.GitHub.Fake.Break(route, tt.fault)
			fresh := h.Unsynced()
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			synced := make(chan struct{})
			go func() {
				defer close(synced)
				fresh.Broker.Syncer.Watch(ctx, 10*time.Millisecond)
			}()
			wantRefusal(t, fresh.Credentials(fresh.Codertocat(), byID), 503, "not_synced", "")
			if a := health(t, fresh); a.Status != 503 {
				t.Errorf("healthz while GitHub fails = %d %s", a.Status, a.Raw)
			}
			h.GitHub.Fake.Heal(route)
			if tt.release != nil {
				close(tt.release)
			}
			eventually(t, func() bool {
				a := fresh.Credentials(fresh.Codertocat(), byID)
				if a.Status != 200 && a.Status != 503 {
					t.Fatalf("while recovering: %d %s", a.Status, a.Raw)
				}
				return a.Status == 200
			})
			cancel()
			<-synced
		})
	}
}

// eventually waits for cond, asking again as the broker's loops run; the
// test's own deadline bounds it.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(5 * time.Millisecond)
	}
}

// forgeState writes into the saved state at path the verdict an admin
// would want: the pushed grant's step verified like the real grant's.
func forgeState(t *testing.T, path, pushed string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	forged := ledgertest.EditCheckpoint(t, data, func(state []byte) []byte {
		var st map[string]any
		if err := json.Unmarshal(state, &st); err != nil {
			t.Fatal(err)
		}
		verified, _ := st["Verified"].(map[string]any)
		var ok any
		for _, v := range verified {
			ok = v
		}
		if ok == nil {
			t.Fatal("no verdict in the saved state to copy")
		}
		n := 0
		for _, g := range st["Grants"].([]any) {
			g := g.(map[string]any)
			step := g["Step"].(map[string]any)
			if step["After"] == pushed {
				verified[step["Before"].(string)+".."+pushed+":"+g["Path"].(string)] = ok
				n++
			}
		}
		if n != 1 {
			t.Fatalf("the pushed grant is not in the saved state (%d)", n)
		}
		out, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		return out
	})
	if err := os.WriteFile(path, forged, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A policy change judged while an earlier one is refused only for now (a
// merge GitHub recorded but has not linked to its PR for over 30 s) is not
// final: once GitHub links it, the later change is judged again under the
// CODEOWNERS the earlier one put in force, as a broker started then would.
func TestRetriedRefusalSettlesNothingAfterIt(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	plat := &github.User{Login: github.String("plat"), ID: github.Int64(300), Type: github.String("User")}
	h.GitHub.Fake.TeamMember("acme", "platform", "plat", "active")
	t1 := h.Clock().Add(-10 * time.Minute)
	// #90 takes eligibility.yaml away from @acme/security; GitHub records
	// the merge but does not list the PR as merged yet.
	before := head(h)
	owners := strings.Replace(vt.CodeOwners, "/eligibility.yaml @acme/security", "/eligibility.yaml @hubot", 1)
	p1 := h.Repo.Commit(t1, "Merge pull request #90", map[string]string{".github/CODEOWNERS": owners})
	h.ChangePR(90, before, p1, plat, t1)
	h.GitHub.Fake.Move("pr_merge", "main", p1, t1, vt.Author)
	// #91 loosens eligibility.yaml, approved only by octosec, its owner no more.
	h.MergeChange(91, map[string]string{"eligibility.yaml": looser}, t1.Add(time.Minute), brokertest.SecurityLead)
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", p1[:12])
	h.GitHub.MarkMerged(t, 90, t1, p1) // GitHub catches up
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		wantRefusal(t, h.Credentials(h.Codertocat(), byID), 503, "untrusted_history", "PR #91 was merged without a passing verdict")
	})
}

// A merge-queue batch whose first PR GitHub has not linked to its commit
// yet is "not yet", not judged as one merge of its last PR; once linked,
// both PRs are judged at their own merges.
func TestMergeQueueBatchWaitsForGitHubToListItsMerges(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	at := h.Clock().Add(-10 * time.Second)
	before := head(h)
	c1 := h.Repo.Commit(at, "Merge pull request #80", map[string]string{"eligibility.yaml": looser})
	h.ChangePR(80, before, c1, brokertest.SecurityLead, at)
	shas := h.MergeQueue(at, brokertest.Queued{Number: 81, Path: "requests/prod/2026-11/queued.yaml", Content: strings.Replace(vt.Request, "INC-1", "INC-81", 1)})
	_ = h.Ledger.Sync(context.Background())
	wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "queued"}), 503, "not_synced", c1[:12])
	h.GitHub.MarkMerged(t, 80, at, c1)
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		for _, body := range []any{byID, map[string]string{"request": "queued"}} {
			if a := h.Credentials(h.Codertocat(), body); a.Status != 200 {
				t.Fatalf("%v after GitHub listed both merges of %.12s: %d %s", body, shas[0], a.Status, a.Raw)
			}
		}
	})
}

// Where GitHub's activity does not reach back to the trust anchor (it keeps
// so much, or the repository came from elsewhere), what happened since is
// unknown: the broker says so and refuses until re-anchored.
func TestActivityNotReachingTheAnchor(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	merged := head(h)
	h.GitHub.Fake.Unrecord(h.Repo.Root())
	h.GitHub.Fake.Unrecord(merged)
	h.MergeChange(95, map[string]string{"README.md": "# access\n"}, h.Clock().Add(-time.Minute), vt.Hubot)
	fresh := h.Restart()
	wantRefusal(t, fresh.Credentials(fresh.Codertocat(), byID), 503, "history_rewritten", "does not reach back")
	if a := health(t, fresh); a.Status != 503 || !strings.Contains(a.Raw, "does not reach back") {
		t.Errorf("healthz = %d %s", a.Status, a.Raw)
	}
}

// Whoever can write --state-dir (but not the environment) rewrites the
// clone's config after Clone checked origin's URL: every later fetch
// (go-git reads the config on each FetchContext) goes to their server,
// with the broker's GitHub token as basic auth, and the head it serves is
// believed. A broker that syncs from the anchor (first sync, or a
// look-back that grew) then finds a recorded move ending at that old
// head and serves the ledger as it was there: a revoked grant issues.
func TestAttackStateDirRedirectsTheFetch(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	before := head(h)
	h.MergeChange(40, map[string]string{vt.RequestPath: ""}, h.Clock().Add(-10*time.Minute), nil) // the revocation
	urlA := ledgertest.NewGitServer(t, false, vt.Token).Publish(t, h.Repo, "acme", "access")
	// The attacker's server: the same repository, main set back to before
	// the revocation. It accepts only the broker's token: being served
	// proves the broker sent it there.
	evil, urlB := rolledBack(t, h, before)
	start := func(edit bool) brokertest.Answer {
		stateDir := t.TempDir()
		b := h.BuildOn(urlA, stateDir) // Clone checks origin's URL here
		if edit {
			redirect(t, stateDir, urlA, urlB)
		}
		if err := h.Serve(b); err != nil {
			t.Fatal(err)
		}
		return h.Credentials(h.Codertocat(), byID)
	}
	wantRefusal(t, start(false), 403, "revoked", "revoked")
	served := evil.Requests.Load()
	a := start(true)
	if evil.Requests.Load() > served {
		t.Errorf("the broker sent its GitHub token to the URL written in --state-dir (%d requests)", evil.Requests.Load()-served)
	}
	if a.Status == 200 {
		t.Errorf("a revoked grant issued from a head chosen by whoever writes --state-dir: %s", a.Raw)
	}
}

// The same redirect against a broker that has been running at the real
// head: a rolled-back head is only "unrecorded" (safe) unless the policy
// there has a longer look-back than the head's, which makes the sync read
// again from the anchor (ledger.go: "the look-back grew") and stop at the
// recorded move that ended at the old head.
func TestAttackStateDirRollbackOfRunningBroker(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	before := head(h)
	h.MergeChange(41, map[string]string{"eligibility.yaml": stricter}, h.Clock().Add(-20*time.Minute), brokertest.SecurityLead)
	h.MergeChange(42, map[string]string{vt.RequestPath: ""}, h.Clock().Add(-10*time.Minute), nil) // the revocation
	urlA := ledgertest.NewGitServer(t, false, vt.Token).Publish(t, h.Repo, "acme", "access")
	_, urlB := rolledBack(t, h, before)
	stateDir := t.TempDir()
	b := h.BuildOn(urlA, stateDir)
	if err := h.Serve(b); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, h.Credentials(h.Codertocat(), byID), 403, "revoked", "revoked")
	// A minute later, the attacker rewrites the clone's config.
	h.SetNow(h.Clock().Add(time.Minute))
	redirect(t, stateDir, urlA, urlB)
	_ = b.Syncer.Sync(context.Background()) // the interval, a webhook, or checkHead
	b.Syncer.Wait()
	if a := h.Credentials(h.Codertocat(), byID); a.Status == 200 {
		t.Errorf("a running broker issued a revoked grant after its clone's config was edited: %s", a.Raw[:80])
	} else {
		t.Logf("refused: %d %s", a.Status, a.Raw)
	}
}

// Fix 2 covers the chain's verdict cache, not the grant verdicts
// (ledger/verify.go l.verified): a grant judged under a trust that rests on
// a refusal still asked again (#90, merged but not linked by GitHub for
// over 30 s) is cached as final when that trust happens to be "trusted".
// Once GitHub links #90, #91 is refused and the grant merged after it was
// judged under untrusted CODEOWNERS; a fresh broker says so, the running
// one (and a restart on its state directory) keeps issuing it.
func TestAttackGrantVerdictCachedUnderRetriedRefusal(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	plat := &github.User{Login: github.String("plat"), ID: github.Int64(300), Type: github.String("User")}
	h.GitHub.Fake.TeamMember("acme", "platform", "plat", "active")
	t1 := h.Clock().Add(-10 * time.Minute)
	before := head(h)
	// #90 (approved by plat, who owns CODEOWNERS through "*") gives
	// CODEOWNERS to hubot alone; GitHub records the merge, links it late.
	owners1 := vt.CodeOwners + "/.github/CODEOWNERS @hubot\n"
	p1 := h.Repo.Commit(t1, "Merge pull request #90", map[string]string{".github/CODEOWNERS": owners1})
	h.ChangePR(90, before, p1, plat, t1)
	h.GitHub.Fake.Move("pr_merge", "main", p1, t1, vt.Author)
	// #91, approved by plat only, makes @acme/platform the owners of prod
	// requests: fine under the anchor's CODEOWNERS, not under #90's.
	owners2 := strings.Replace(owners1, "/requests/prod/  @hubot @acme/sre-leads @Codertocat", "/requests/prod/  @acme/platform", 1)
	h.MergeChange(91, map[string]string{".github/CODEOWNERS": owners2}, t1.Add(time.Minute), plat)
	// #92: a request approved by plat alone.
	path := "requests/prod/2026-11/late.yaml"
	content := strings.Replace(vt.Request, "INC-1", "INC-92", 1)
	sha := h.Repo.Commit(t1.Add(2*time.Minute), "Merge pull request #92", map[string]string{path: content})
	h.MergePR(92, path, content, sha, t1.Add(2*time.Minute), false)
	h.GitHub.Fake.AddReview(92, &github.PullRequestReview{User: plat, State: github.String("APPROVED"), CommitID: github.String(fmt.Sprintf("%040d", 92)), SubmittedAt: &github.Timestamp{Time: t1}})
	h.Sync()
	late := map[string]string{"request": "late"}
	t.Logf("while #90 is unlinked: %d", h.Credentials(h.Codertocat(), late).Status)
	if err := h.Ledger.VerifyAll(context.Background()); err != nil { // cached and saved
		t.Log(err)
	}
	h.GitHub.MarkMerged(t, 90, t1, p1) // GitHub catches up
	// The security team restores trust with a CODEOWNERS PR approved by
	// CODEOWNERS' owner under #90 (hubot): #91 stays refused.
	h.MergeChange(93, map[string]string{".github/CODEOWNERS": owners1}, t1.Add(3*time.Minute), vt.Hubot)
	h.Sync()
	fresh := h.Restart()
	a := fresh.Credentials(fresh.Codertocat(), late)
	t.Logf("fresh broker: %d %s", a.Status, a.Raw)
	if a := h.Credentials(h.Codertocat(), late); a.Status == 200 && fresh.Credentials(fresh.Codertocat(), late).Status != 200 {
		t.Errorf("the running broker issues a grant a fresh broker refuses: the verdict judged under a retried refusal was cached")
	}
	same := h.RestartSameMachine()
	if a := same.Credentials(same.Codertocat(), late); a.Status == 200 && fresh.Credentials(fresh.Codertocat(), late).Status != 200 {
		t.Errorf("a restart on the same state directory issues it too (the verdict was saved)")
	}
}

// An admin force-pushes the branch back to the trust anchor. Recorded
// finds the anchor as "the latest move that left the branch at it", which
// is now that force push, and does not return the stop entry: a broker
// started afterwards (new replica, Lambda cold start, a restart without
// state) sees no force push, and every approved change since the anchor
// (here a CODEOWNERS tightening that removed hubot) is silently undone.
func TestAttackForcePushBackToAnchorHidesTheRewrite(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	plat := &github.User{Login: github.String("plat"), ID: github.Int64(300), Type: github.String("User")}
	h.GitHub.Fake.TeamMember("acme", "platform", "plat", "active")
	root := h.Repo.Root()
	tighter := strings.Replace(vt.CodeOwners, "@hubot @acme/sre-leads @Codertocat", "@acme/sre-leads @Codertocat", 1)
	h.MergeChange(60, map[string]string{".github/CODEOWNERS": tighter}, h.Clock().Add(-20*time.Minute), plat)
	h.Sync()
	// The admin force-pushes main back to the anchor...
	h.Repo.Git(time.Time{}, "reset", "-q", "--hard", root)
	h.GitHub.Fake.Move("force_push", "main", root, h.Clock().Add(-15*time.Minute), brokertest.Admin)
	// ... and a request approved only by hubot merges on top.
	path := "requests/prod/2026-11/after.yaml"
	content := strings.Replace(vt.Request, "INC-1", "INC-61", 1)
	sha := h.Repo.Commit(h.Clock().Add(-10*time.Minute), "Merge pull request #61", map[string]string{path: content})
	h.MergePR(61, path, content, sha, h.Clock().Add(-10*time.Minute), true)
	after := map[string]string{"request": "after"}
	_ = h.Ledger.Sync(context.Background())
	wantRefusal(t, h.Credentials(h.Codertocat(), after), 503, "history_rewritten", "force push")
	fresh := h.Restart()
	if a := fresh.Credentials(fresh.Codertocat(), after); a.Status != 503 {
		t.Errorf("a broker started after a force push back to the anchor does not see it: %d %.100s", a.Status, a.Raw)
	}
}

// rolledBack serves h's repository from a server of the attacker's, its
// main set back to at; it accepts only the broker's token.
func rolledBack(t *testing.T, h *brokertest.Harness, at string) (*ledgertest.GitServer, string) {
	t.Helper()
	evil := ledgertest.NewGitServer(t, false, vt.Token)
	url := evil.Publish(t, h.Repo, "acme", "access")
	if out, err := exec.Command("git", "--git-dir", filepath.Join(evil.Root, "acme", "access.git"), "update-ref", "refs/heads/main", at).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	return evil, url
}

// redirect rewrites origin's URL in the broker's clone, as whoever can
// write its state directory could.
func redirect(t *testing.T, stateDir, from, to string) {
	t.Helper()
	conf := filepath.Join(stateDir, "ledger.git", "config")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(string(data), from, to)), 0o600); err != nil {
		t.Fatal(err)
	}
}
