package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/audit"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	"github.com/elevate-gitops/elevate/internal/request"
)

// now is the audit's clock in every test.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const (
	hour = time.Hour
	day  = 24 * time.Hour
)

// The request files of the history, by role in the tests.
const (
	pathOld       = "requests/prod/2026-09/alice-old.yaml"            // merged 60 days ago, removed after its window
	pathLongrun   = "requests/prod/2026-10/carol-longrun.yaml"        // merged 35 days ago, revoked 10 days ago
	pathBobRO     = "requests/staging/2026-11/bob-readonly.yaml"      // expired, removed yesterday
	pathCarolEm   = "requests/prod/2026-11/carol-admin-inc9.yaml"     // emergency, expired
	pathBroken    = "requests/prod/2026-11/broken.yaml"               // does not parse
	pathDaveEm    = "requests/prod/2026-11/dave-admin-inc10.yaml"     // emergency, expired
	pathMismatch  = "requests/staging/2026-11/erin-admin.yaml"        // account prod in the staging folder
	pathBobAdmin  = "requests/prod/2026-11/bob-admin.yaml"            // revoked an hour after its merge
	pathScheduled = "requests/staging/2026-11/alice-admin-later.yaml" // not_before in two days
	pathActive    = "requests/prod/2026-11/alice-admin-inc4821.yaml"  // merged through a merge commit an hour ago
)

const (
	reqOld       = "requester: alice\naccount: prod\nrole: Admin\nduration: 2h\nreason: Old maintenance of the database\n"
	reqLongrun   = "requester: carol\naccount: prod\nrole: ReadOnly\nduration: 720h\nreason: Quarter-long cost review of the prod account\n"
	reqBobRO     = "requester: bob\naccount: staging\nrole: ReadOnly\nduration: 4h\nreason: Look into the staging deploy failures\n"
	reqCarolEm   = "requester: carol\naccount: prod\nrole: Admin\nduration: 1h\nreason: Payments are down, restart the workers\nticket: INC-9\nemergency: true\n"
	reqBroken    = "requester: mallory\naccount: prod\n"
	reqDaveEm    = "requester: dave\naccount: prod\nrole: Admin\nduration: 30m\nreason: Disk full on the primary, extend the volume\nticket: INC-10\nemergency: true\n"
	reqMismatch  = "requester: erin\naccount: prod\nrole: Admin\nduration: 1h\nreason: Filed under the wrong account folder\n"
	reqBobAdmin  = "requester: bob\naccount: prod\nrole: Admin\nduration: 4h\nreason: \"=cmd|' /C calc'!A0 rotate the signing keys\"\n"
	reqScheduled = "requester: alice\naccount: staging\nrole: Admin\nduration: 1h\nreason: Planned migration of the staging queue\nnot_before: 2026-11-27T09:00:00Z\n"
	reqActive    = "requester: alice\naccount: prod\nrole: Admin\nduration: 2h\nreason: Rotate <b>certs</b> & keys on the payments load balancer\nticket: INC-4821\n"
)

// history is the access repository the tests audit, with the SHAs of its
// first-parent commits.
type history struct {
	dir   string
	sha   map[string]string // by name: "old", "old-rm", "longrun", ...
	moves []string          // the first-parent commits, oldest first, as GitHub recorded the branch's moves
	at    map[string]time.Time
}

// newHistory writes the repository: requests across accounts prod and
// staging in every state, a README under requests/, and one request merged
// through a merge commit.
func newHistory(t *testing.T) *history {
	t.Helper()
	r := ledgertest.New(t)
	h := &history{dir: r.Dir, sha: map[string]string{}, at: map[string]time.Time{}}
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	commit := func(name string, at time.Time, files map[string]string) {
		h.sha[name] = r.Commit(at, name, files)
		if name != "active-branch" {
			h.moves, h.at[h.sha[name]] = append(h.moves, h.sha[name]), at
		}
	}
	commit("init", ago(70*day), map[string]string{"eligibility.yaml": "version: 1\n", "README.md": "# access\n", ".github/CODEOWNERS": "/requests/ @dave @erin @bob\n"})
	commit("old", ago(60*day), map[string]string{pathOld: reqOld})
	commit("readme", ago(50*day), map[string]string{"requests/README.md": "# requests\n"})
	commit("longrun", ago(35*day), map[string]string{pathLongrun: reqLongrun})
	commit("old-rm", ago(20*day), map[string]string{pathOld: ""})
	commit("longrun-rm", ago(10*day+hour), map[string]string{pathLongrun: ""})
	commit("bob-ro", ago(10*day), map[string]string{pathBobRO: reqBobRO})
	commit("carol-em", ago(5*day), map[string]string{pathCarolEm: reqCarolEm})
	commit("broken", ago(4*day), map[string]string{pathBroken: reqBroken})
	commit("dave-em", ago(72*hour), map[string]string{pathDaveEm: reqDaveEm})
	commit("mismatch", ago(70*hour), map[string]string{pathMismatch: reqMismatch})
	commit("bob-ro-rm", ago(day), map[string]string{pathBobRO: ""})
	commit("bob-admin", ago(3*hour), map[string]string{pathBobAdmin: reqBobAdmin})
	commit("bob-admin-rm", ago(2*hour), map[string]string{pathBobAdmin: ""})
	commit("scheduled", ago(90*time.Minute), map[string]string{pathScheduled: reqScheduled})
	// The active request comes from a side branch merged with a merge commit:
	// first-parent history shows it at the merge.
	r.Git(ago(80*time.Minute), "checkout", "-q", "-b", "req")
	commit("active-branch", ago(80*time.Minute), map[string]string{pathActive: reqActive})
	r.Git(ago(hour), "checkout", "-q", "main")
	r.Git(ago(hour), "merge", "-q", "--no-ff", "-m", "Merge pull request #11", "req")
	h.sha["active"] = r.Git(ago(hour), "rev-parse", "HEAD")
	h.moves, h.at[h.sha["active"]] = append(h.moves, h.sha["active"]), ago(hour)
	r.Git(ago(hour), "branch", "-q", "-D", "req")
	return h
}

// record writes GitHub's record of the history's moves into f: the
// branch's creation, then a merge for each first-parent commit, at the
// time given by when (default: the commit's time).
func (h *history) record(f *githubfake.Fake, when map[string]time.Time) {
	for i, sha := range h.moves {
		at := h.at[sha]
		if w, ok := when[sha]; ok {
			at = w
		}
		kind := "pr_merge"
		if i == 0 {
			kind = "branch_creation"
		}
		f.Move(kind, "main", sha, at, &github.User{Login: github.String("alice")})
	}
}

func parseErr(t *testing.T, path, content string) string {
	t.Helper()
	_, err := request.Parse(path, []byte(content))
	if err == nil {
		t.Fatalf("%s parses", path)
	}
	return err.Error()
}

// offlineEntries are the entries of the last 720h without GitHub.
func (h *history) offlineEntries(t *testing.T) []audit.Entry {
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	return []audit.Entry{
		{
			ID: "prod/2026-11/alice-admin-inc4821", Path: pathActive, Requester: "alice", Account: "prod", Role: "Admin",
			Reason: "Rotate <b>certs</b> & keys on the payments load balancer", Ticket: "INC-4821", Duration: 2 * hour,
			Commit: h.sha["active"], MergedAt: ago(hour), Start: ago(hour), End: now.Add(hour), State: audit.StateActive,
		},
		{
			ID: "staging/2026-11/alice-admin-later", Path: pathScheduled, Requester: "alice", Account: "staging", Role: "Admin",
			Reason: "Planned migration of the staging queue", Duration: hour,
			Commit: h.sha["scheduled"], MergedAt: ago(90 * time.Minute),
			Start: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), State: audit.StateScheduled,
		},
		{
			ID: "prod/2026-11/bob-admin", Path: pathBobAdmin, Requester: "bob", Account: "prod", Role: "Admin",
			Reason: "=cmd|' /C calc'!A0 rotate the signing keys", Duration: 4 * hour,
			Commit: h.sha["bob-admin"], MergedAt: ago(3 * hour), Start: ago(3 * hour), End: now.Add(hour), State: audit.StateRevoked,
			RevokedAt: ago(2 * hour), RevokedCommit: h.sha["bob-admin-rm"],
		},
		{
			ID: "staging/2026-11/erin-admin", Path: pathMismatch, Requester: "erin", Account: "prod", Role: "Admin",
			Reason: "Filed under the wrong account folder", Duration: hour,
			Commit: h.sha["mismatch"], MergedAt: ago(70 * hour), State: audit.StateInvalid,
			Invalid: pathMismatch + `: account "prod" does not match its folder requests/staging/`,
		},
		{
			ID: "prod/2026-11/dave-admin-inc10", Path: pathDaveEm, Requester: "dave", Account: "prod", Role: "Admin",
			Reason: "Disk full on the primary, extend the volume", Ticket: "INC-10", Duration: 30 * time.Minute, Emergency: true,
			Commit: h.sha["dave-em"], MergedAt: ago(72 * hour), Start: ago(72 * hour), End: ago(71*hour + 30*time.Minute),
			State: audit.StateExpired, EmergencyUnreviewed: true,
		},
		{
			ID: "prod/2026-11/broken", Path: pathBroken, Account: "prod",
			Commit: h.sha["broken"], MergedAt: ago(4 * day), State: audit.StateInvalid,
			Invalid: parseErr(t, pathBroken, reqBroken),
		},
		{
			ID: "prod/2026-11/carol-admin-inc9", Path: pathCarolEm, Requester: "carol", Account: "prod", Role: "Admin",
			Reason: "Payments are down, restart the workers", Ticket: "INC-9", Duration: hour, Emergency: true,
			Commit: h.sha["carol-em"], MergedAt: ago(5 * day), Start: ago(5 * day), End: ago(5*day - hour),
			State: audit.StateExpired, EmergencyUnreviewed: true,
		},
		{
			ID: "staging/2026-11/bob-readonly", Path: pathBobRO, Requester: "bob", Account: "staging", Role: "ReadOnly",
			Reason: "Look into the staging deploy failures", Duration: 4 * hour,
			Commit: h.sha["bob-ro"], MergedAt: ago(10 * day), Start: ago(10 * day), End: ago(10*day - 4*hour),
			State: audit.StateExpired, RevokedAt: ago(day), RevokedCommit: h.sha["bob-ro-rm"],
		},
		{
			// Merged before the period, revoked in it while its window was open.
			ID: "prod/2026-10/carol-longrun", Path: pathLongrun, Requester: "carol", Account: "prod", Role: "ReadOnly",
			Reason: "Quarter-long cost review of the prod account", Duration: 720 * hour,
			Commit: h.sha["longrun"], MergedAt: ago(35 * day), Start: ago(35 * day), End: ago(5 * day),
			State: audit.StateRevoked, RevokedAt: ago(10*day + hour), RevokedCommit: h.sha["longrun-rm"],
		},
	}
}

func TestBuildOffline(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	rep, err := audit.Build(context.Background(), audit.Options{Dir: h.dir, Branch: "main", Since: 720 * hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := &audit.Report{
		Generated: now, Since: now.Add(-720 * hour), Branch: "main", Head: h.sha["active"], Offline: true,
		Entries: h.offlineEntries(t),
		Totals: []audit.Total{
			// alice 2h + bob 1h (revoked after one hour) + dave 0.5h + carol 1h
			{Account: "prod", Role: "Admin", Grants: 4, Hours: 4.5, Emergency: 2, People: 4},
			{Account: "staging", Role: "ReadOnly", Grants: 1, Hours: 4, People: 1},
			{Account: "staging", Role: "Admin", Grants: 1, Hours: 1, People: 1},
		},
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("Build (-want +got):\n%s", diff)
	}
}

func TestBuildSince(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	tests := []struct {
		name  string
		since time.Duration
		want  []string // entry ids, newest first
	}{
		{"three days", 72 * hour, []string{
			"prod/2026-11/alice-admin-inc4821", "staging/2026-11/alice-admin-later", "prod/2026-11/bob-admin",
			"staging/2026-11/erin-admin", "prod/2026-11/dave-admin-inc10",
			// bob-readonly was removed yesterday, after its window: clean-up, not listed.
		}},
		{"four hours", 4 * hour, []string{"prod/2026-11/alice-admin-inc4821", "staging/2026-11/alice-admin-later", "prod/2026-11/bob-admin"}},
		{"whole history", 0, []string{
			"prod/2026-11/alice-admin-inc4821", "staging/2026-11/alice-admin-later", "prod/2026-11/bob-admin",
			"staging/2026-11/erin-admin", "prod/2026-11/dave-admin-inc10", "prod/2026-11/broken", "prod/2026-11/carol-admin-inc9",
			"staging/2026-11/bob-readonly", "prod/2026-10/carol-longrun", "prod/2026-09/alice-old",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := audit.Build(context.Background(), audit.Options{Dir: h.dir, Branch: "main", Since: tt.since, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range rep.Entries {
				got = append(got, e.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if tt.since == 0 && !rep.Since.IsZero() {
				t.Errorf("Since = %v, want zero for the whole history", rep.Since)
			}
		})
	}
}

func TestBuildWholeHistoryStates(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	rep, err := audit.Build(context.Background(), audit.Options{Dir: h.dir, Since: 0, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range rep.Entries {
		got[e.ID] = e.State
	}
	want := map[string]string{
		"prod/2026-11/alice-admin-inc4821": "active", "staging/2026-11/alice-admin-later": "scheduled",
		"prod/2026-11/bob-admin": "revoked", "staging/2026-11/erin-admin": "invalid", "prod/2026-11/dave-admin-inc10": "expired",
		"prod/2026-11/broken": "invalid", "prod/2026-11/carol-admin-inc9": "expired", "staging/2026-11/bob-readonly": "expired",
		// Within the whole history the long grant is an ordinary revoked entry,
		// and the old one an expired entry removed later.
		"prod/2026-10/carol-longrun": "revoked", "prod/2026-09/alice-old": "expired",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	// Now the long grant counts: it was merged in the period.
	if rep.Totals[0].Account != "prod" || rep.Totals[0].Role != "ReadOnly" || rep.Totals[0].Hours != 25*24-1 {
		t.Errorf("first total = %+v, want prod/ReadOnly with 599h (revoked 25 days minus an hour in)", rep.Totals[0])
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	tests := []struct {
		name string
		o    audit.Options
		want string
	}{
		{"too many entries", audit.Options{Dir: h.dir, Since: 720 * hour, MaxEntries: 3},
			"more than 3 request file changes since 2026-10-26T12:00:00Z: audit a shorter period (--since)"},
		{"too many for revocations", audit.Options{Dir: h.dir, Since: 720 * hour, MaxEntries: 12},
			"more than 12 request file changes"},
		{"no branch", audit.Options{Dir: h.dir, Branch: "trunk"}, "branch trunk not found"},
		{"bad branch", audit.Options{Dir: h.dir, Branch: "--output=x"}, "is not a branch name"},
		{"negative since", audit.Options{Dir: h.dir, Since: -hour}, "since must not be negative"},
		{"not a repository", audit.Options{Dir: t.TempDir()}, "open the git repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.o.Now = now
			_, err := audit.Build(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestBuildCanceled(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := audit.Build(ctx, audit.Options{Dir: h.dir, Now: now}); err == nil {
		t.Error("Build with a canceled context succeeded")
	}
}

// gitHub serves pull requests for some of the history's commits.
func gitHub(t *testing.T, h *history) (*githubfake.Fake, *githubapi.Repo) {
	t.Helper()
	f := githubfake.New(t)
	f.Repo("acme", "access")
	ids := map[string]int64{"alice": 1, "bob": 2, "carol": 3, "dave": 4, "erin": 5, "frank": 6, "grace": 7, "zed": 8}
	user := func(login string) *github.User {
		return &github.User{ID: github.Int64(ids[login]), Login: github.String(login)}
	}
	merged := func(number int, author, sha string, at time.Time) {
		f.AddPull(&github.PullRequest{
			Number: github.Int(number), State: github.String("closed"), Merged: github.Bool(true), User: user(author),
			MergedAt: &github.Timestamp{Time: at}, MergeCommitSHA: github.String(sha),
			Head: &github.PullRequestBranch{Ref: github.String("req"), SHA: github.String(strings.Repeat("e", 40))},
			Base: &github.PullRequestBranch{Ref: github.String("main")},
		}, nil)
	}
	review := func(number int, login, state string, at time.Time) {
		f.AddReview(number, &github.PullRequestReview{User: user(login), State: github.String(state), SubmittedAt: &github.Timestamp{Time: at}, CommitID: github.String(strings.Repeat("e", 40))})
	}
	// #11 merged the active request (GitHub's merged_at is 20s after the commit).
	mergedAt := now.Add(-hour + 20*time.Second)
	merged(11, "alice", h.sha["active"], mergedAt)
	review(11, "alice", "COMMENTED", mergedAt.Add(-30*time.Minute))
	review(11, "frank", "CHANGES_REQUESTED", mergedAt.Add(-25*time.Minute))
	review(11, "bob", "APPROVED", mergedAt.Add(-20*time.Minute))
	review(11, "erin", "COMMENTED", mergedAt.Add(-10*time.Minute))
	review(11, "bob", "APPROVED", mergedAt.Add(-5*time.Minute))
	// #12: carol's emergency, approved by dave two hours after the merge.
	carolAt := now.Add(-5 * day)
	merged(12, "carol", h.sha["carol-em"], carolAt)
	review(12, "carol", "APPROVED", carolAt.Add(hour)) // her own approval counts for nothing
	review(12, "dave", "APPROVED", carolAt.Add(2*hour))
	// #13: dave's emergency: his own approval, a non-owner's before the
	// merge and another within the day, an owner's after 24h; none counts as
	// the after-review.
	daveAt := now.Add(-72 * hour)
	merged(13, "dave", h.sha["dave-em"], daveAt)
	review(13, "frank", "APPROVED", daveAt.Add(-hour))
	review(13, "dave", "APPROVED", daveAt.Add(hour))
	review(13, "erin", "APPROVED", daveAt.Add(30*hour))
	review(13, "grace", "DISMISSED", daveAt.Add(2*hour))
	review(13, "zed", "APPROVED", daveAt.Add(3*hour)) // within the day, but zed owns nothing

	// #14 is open with the scheduled request's commit as its head: not a merge.
	f.AddPull(&github.PullRequest{
		Number: github.Int(14), State: github.String("open"), User: user("alice"),
		Head: &github.PullRequestBranch{Ref: github.String("x"), SHA: github.String(h.sha["scheduled"])},
		Base: &github.PullRequestBranch{Ref: github.String("main")},
	}, nil)
	h.record(f, nil)
	gh, err := githubapi.NewClient(f.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := githubapi.NewRepo(gh, "acme/access")
	if err != nil {
		t.Fatal(err)
	}
	return f, repo
}

func TestBuildGitHub(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	f, repo := gitHub(t, h)
	rep, err := audit.Build(context.Background(), audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: repo})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Offline {
		t.Error("Offline = true with a GitHub source")
	}
	want := h.offlineEntries(t)
	mergedAt := now.Add(-hour + 20*time.Second)
	want[0].PR, want[0].Approvers = 11, []string{"bob"}
	want[0].MergedAt, want[0].Start, want[0].End = mergedAt, mergedAt, mergedAt.Add(2*hour)
	want[4].PR, want[4].Approvers, want[4].EmergencyUnreviewed = 13, []string{"erin", "frank", "zed"}, true
	want[6].PR, want[6].Approvers, want[6].EmergencyUnreviewed = 12, []string{"dave"}, false
	if diff := cmp.Diff(want, rep.Entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	// One look-up per grant commit and one per revocation (3: whose PR may
	// say the sessions were ended); no commit date is asked about: the
	// period is GitHub's record. Reviews and comments only for the merged
	// PRs found.
	if got, want := f.Calls("GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls"), len(want)+3; got != want {
		t.Errorf("commit look-ups = %d, want %d", got, want)
	}
	if got := f.Calls("GET /repos/{owner}/{repo}/pulls/{number}/reviews"); got != 3 {
		t.Errorf("review listings = %d, want 3", got)
	}
	if got := f.Calls("GET /repos/{owner}/{repo}/issues/{number}/comments"); got != 3 {
		t.Errorf("comment listings = %d, want 3", got)
	}
}

func TestBuildGitHubDown(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	f, repo := gitHub(t, h)
	f.Break("GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls", githubfake.Fault{Status: 502})
	_, err := audit.Build(context.Background(), audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: repo})
	if err == nil || !strings.Contains(err.Error(), "find the PR merged as") || !strings.Contains(err.Error(), "commit ") {
		t.Fatalf("Build with GitHub failing: %v, want an error naming the commit", err)
	}
	f.Close()
	_, err = audit.Build(context.Background(), audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: repo})
	if err == nil || !strings.Contains(err.Error(), "read what GitHub recorded of main") {
		t.Fatalf("Build with GitHub down: %v, want an error naming GitHub's record", err)
	}
}

// Online, the period is GitHub's record, never a date a commit claims: a
// merge recorded an hour ago whose commit says it is three years old is
// in the last day; one recorded 40 days ago whose commit says it is new is
// not in the last 30.
func TestOnlineAuditSelectsByGitHubTimes(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	h := &history{dir: r.Dir, sha: map[string]string{}, at: map[string]time.Time{}}
	for _, c := range []struct {
		name       string
		dated, rec time.Time
		files      map[string]string
	}{
		{"init", now.Add(-70 * day), now.Add(-70 * day), map[string]string{"eligibility.yaml": "version: 1\n"}},
		{"claims-new", now, now.Add(-40 * day), map[string]string{pathOld: reqOld}},
		{"claims-old", now.AddDate(-3, 0, 0), now.Add(-hour), map[string]string{pathActive: reqActive}},
	} {
		h.sha[c.name] = r.Commit(c.dated, c.name, c.files)
		h.moves, h.at[h.sha[c.name]] = append(h.moves, h.sha[c.name]), c.rec
	}
	f := githubfake.New(t)
	f.Repo("acme", "access")
	h.record(f, nil)
	gh, err := githubapi.NewClient(f.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := githubapi.NewRepo(gh, "acme/access")
	for since, want := range map[time.Duration][]string{day: {"prod/2026-11/alice-admin-inc4821"}, 720 * hour: {"prod/2026-11/alice-admin-inc4821"}} {
		rep, err := audit.Build(context.Background(), audit.Options{Dir: h.dir, Since: since, Now: now, GitHub: repo})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range rep.Entries {
			got = append(got, e.ID)
			if e.ID == "prod/2026-11/alice-admin-inc4821" && !e.MergedAt.Equal(now.Add(-hour)) {
				t.Errorf("merged at %s, want GitHub's time %s", e.MergedAt, now.Add(-hour))
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("--since %s (-want +got):\n%s", since, diff)
		}
	}
}

func TestBuildEmpty(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	r.Commit(now.Add(-day), "init", map[string]string{"README.md": "# access\n"})
	rep, err := audit.Build(context.Background(), audit.Options{Dir: r.Dir, Since: 720 * hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 0 || len(rep.Totals) != 0 {
		t.Errorf("entries %v totals %v, want none", rep.Entries, rep.Totals)
	}
}

func TestBuildEditsAndLargeFiles(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	const edited = "requests/prod/2026-11/zoe-admin.yaml"
	const large = "requests/prod/2026-11/large.yaml"
	first := r.Commit(now.Add(-5*hour), "add", map[string]string{edited: strings.Replace(reqActive, "alice", "zoe", 1)})
	// A direct push edits the file: the edit is a new version, ending the first.
	second := r.Commit(now.Add(-4*hour), "edit", map[string]string{edited: strings.Replace(strings.Replace(reqActive, "alice", "zoe", 1), "2h", "8h", 1)})
	r.Commit(now.Add(-3*hour), "large", map[string]string{large: reqActive + "# " + strings.Repeat("x", request.MaxSize) + "\n"})
	rep, err := audit.Build(context.Background(), audit.Options{Dir: r.Dir, Since: 720 * hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 3 {
		t.Fatalf("%d entries, want 3: %+v", len(rep.Entries), rep.Entries)
	}
	if e := rep.Entries[0]; e.ID != "prod/2026-11/large" || e.State != audit.StateInvalid || !strings.HasSuffix(e.Invalid, "large.yaml: file is 16525 bytes, over the 16384-byte limit") {
		t.Errorf("large file: %+v, want invalid for its size", e)
	}
	if e := rep.Entries[1]; e.Commit != second || e.State != audit.StateActive || e.Duration != 8*hour || !e.RevokedAt.IsZero() {
		t.Errorf("edit: %+v, want the active 8h version", e)
	}
	if e := rep.Entries[2]; e.Commit != first || e.State != audit.StateRevoked || e.RevokedCommit != second || e.Hours() != 1 {
		t.Errorf("first version: %+v, want revoked by the edit after 1h", e)
	}
}

// A request of several targets is a row per target, kept together, each
// with the request's window; its hours count for each target's role.
func TestBuildRowPerTarget(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	multi := "requester: alice\ntargets:\n  - {account: prod, role: Admin}\n  - {account: payments, permission_set: PaymentsAdmin}\n" +
		"duration: 2h\nreason: Fail over the payments database\nticket: INC-4821\n"
	r.Commit(now.Add(-5*hour), "single", map[string]string{"requests/prod/2026-11/alice-admin.yaml": reqActive})
	r.Commit(now.Add(-hour), "multi", map[string]string{"requests/prod/2026-11/alice-multi.yaml": multi})
	rep, err := audit.Build(context.Background(), audit.Options{Dir: r.Dir, Since: 720 * hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, e := range rep.Entries {
		rows = append(rows, e.ID+" "+e.Account+"/"+e.Role+" "+e.State)
	}
	want := []string{
		"prod/2026-11/alice-multi prod/Admin active",
		"prod/2026-11/alice-multi payments/ps/PaymentsAdmin active",
		"prod/2026-11/alice-admin prod/Admin expired",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	var totals []string
	for _, tt := range rep.Totals {
		totals = append(totals, fmt.Sprintf("%s/%s %d", tt.Account, tt.Role, tt.Grants))
	}
	if diff := cmp.Diff([]string{"prod/Admin 2", "payments/ps/PaymentsAdmin 1"}, totals); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
}
