package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const policy = `version: 1
accounts:
  prod: "111111111111"
  staging: "222222222222"
rules:
  - name: sre
    who: [alice, bob]
    accounts: [prod, staging]
    roles: [Admin]
    max_duration: 4h
    approvals: 1
`

func requestYAML(requester, account string, duration string, extra string) string {
	return fmt.Sprintf("requester: %s\naccount: %s\nrole: Admin\nduration: %s\nreason: Investigate the payments outage\n%s", requester, account, duration, extra)
}

type repo = ledgertest.Repo

func newRepo(t testing.TB) *repo {
	t.Helper()
	r := ledgertest.New(t)
	r.Commit(t0.Add(-90*24*time.Hour), "policy", map[string]string{"eligibility.yaml": policy, "requests/README.md": "# requests\n"})
	return r
}

// verifier is a Verifier answering from tables: grant commit -> verdict.
// Every policy change verifies. GitHub's record of the branch is moves when
// set; else every first-parent commit of repo, each recorded as a merge at
// its commit time.
type verifier struct {
	mu       sync.Mutex
	by       map[string]*Verification
	err      error
	failing  map[string]error // grant commit -> error
	calls    int
	repo     *repo
	moves    []custody.Move // oldest first
	movesErr error
}

func (v *verifier) Moves(ctx context.Context, from custody.Mark, seen func(custody.Move)) ([]custody.Move, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.movesErr != nil {
		return nil, v.movesErr
	}
	all := v.moves
	if all == nil && v.repo != nil {
		g, err := gitlog.Open(v.repo.Dir)
		if err != nil {
			return nil, err
		}
		head, _ := g.Ref(ctx, "refs/heads/main")
		var chain []custody.Move
		err = g.FirstParents(ctx, head, nil, func(sha string, at time.Time) bool {
			chain = append(chain, custody.Move{Type: custody.MovePRMerge, After: sha, At: at})
			return true
		})
		if err != nil {
			return nil, err
		}
		slices.Reverse(chain)
		for i := range chain {
			chain[i].ID = int64(i + 1)
			if i > 0 {
				chain[i].Before = chain[i-1].After
			}
		}
		all = chain
	}
	return custody.Recorded(ctx, activity(all), "main", from, seen)
}

// activity serves moves (oldest first) as GitHub's activity lists them.
type activity []custody.Move

func (a activity) Activity(_ context.Context, branch string, stop func(githubapi.Activity) bool) ([]githubapi.Activity, error) {
	var out []githubapi.Activity
	for _, m := range slices.Backward(a) {
		e := githubapi.Activity{ID: m.ID, ActivityType: m.Type, Before: m.Before, After: m.After, Ref: "refs/heads/" + branch, Timestamp: github.Timestamp{Time: m.At}, Actor: &github.User{Login: github.String(m.Actor)}}
		if stop(e) {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

func (v *verifier) MergedAs(context.Context, string) (bool, error) { return false, nil }

func (v *verifier) Chain(_ context.Context, steps []custody.Step) *custody.Chain {
	verdicts := make([]custody.Verdict, len(steps))
	for i, st := range steps {
		verdicts[i] = custody.Verdict{Step: st, Checked: true, OK: true}
	}
	return custody.Build("", verdicts)
}

func (v *verifier) Grant(_ context.Context, st custody.State, g custody.Grant) (*Verification, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	if v.err != nil {
		return nil, v.err
	}
	if err := v.failing[g.Step.After]; err != nil {
		return nil, err
	}
	if out, ok := v.by[g.Step.After]; ok {
		return out, nil
	}
	return &Verification{Reason: "not merged through a PR"}, nil
}

func (v *verifier) set(commit string, out *Verification) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.by[commit] = out
}

// history opens r with the one reader of git.
func history(t testing.TB, r *repo) *gitlog.Repo {
	t.Helper()
	g, err := gitlog.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func newLedger(t testing.TB, r *repo, v *verifier, now *time.Time) *Ledger {
	t.Helper()
	if v.repo == nil {
		v.repo = r
	}
	l, err := New(Config{History: history(t, r), Branch: "main", Anchor: r.Root(), Verifier: v, Now: func() time.Time { return *now }, MaxStaleness: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l
}

const (
	alice = int64(1)
	bob   = int64(2)
)

func TestSyncIndexesOnlyWhatCanStillBeOpen(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	old := r.Commit(t0.Add(-60*24*time.Hour), "old", map[string]string{"requests/prod/2026-09/old.yaml": requestYAML("alice", "prod", "2h", "")})
	live := r.Commit(t0.Add(-time.Hour), "live", map[string]string{"requests/prod/2026-11/live.yaml": requestYAML("alice", "prod", "2h", "")})
	gone := r.Commit(t0.Add(-50*time.Minute), "add", map[string]string{"requests/staging/2026-11/gone.yaml": requestYAML("bob", "staging", "1h", "")})
	r.Commit(t0.Add(-40*time.Minute), "revoke", map[string]string{"requests/staging/2026-11/gone.yaml": ""})
	r.Commit(t0.Add(-30*time.Minute), "junk", map[string]string{"requests/prod/2026-11/bad.yaml": "requester: [\n"})
	now := t0
	l := newLedger(t, r, &verifier{by: map[string]*Verification{}}, &now)
	x := l.Index()
	if x.Len() != 2 {
		t.Fatalf("indexed %d grants, want live and bad (old is past the horizon, gone was deleted)", x.Len())
	}
	g, ok := x.Grant("prod/2026-11/live")
	if !ok || g.Commit() != live || !g.Step.At.Equal(t0.Add(-time.Hour)) || g.Request.Duration != 2*time.Hour {
		t.Fatalf("live grant = %+v", g)
	}
	if _, ok := x.Grant("live"); !ok {
		t.Error("suffix look-up failed")
	}
	if g, _ := x.Grant("bad"); g == nil || g.Request != nil || g.Invalid == "" {
		t.Errorf("an invalid file must be indexed as invalid, got %+v", g)
	}
	if rm, ok := x.Removed("gone"); !ok || rm.Request == nil || rm.Commit == gone {
		t.Errorf("revocation = %+v", rm)
	}
	if _, ok := x.Grant("old"); ok || old == "" {
		t.Error("a grant older than the horizon was indexed")
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	active := r.Commit(t0.Add(-time.Hour), "a", map[string]string{"requests/prod/2026-11/active.yaml": requestYAML("alice", "prod", "2h", "")})
	expired := r.Commit(t0.Add(-5*time.Hour), "e", map[string]string{"requests/staging/2026-11/expired.yaml": requestYAML("alice", "staging", "1h", "")})
	later := r.Commit(t0.Add(-30*time.Minute), "l", map[string]string{"requests/staging/2026-11/later.yaml": requestYAML("bob", "staging", "1h", "not_before: 2026-11-26T09:00:00Z\n")})
	pushed := r.Commit(t0.Add(-20*time.Minute), "p", map[string]string{"requests/prod/2026-11/pushed.yaml": requestYAML("bob", "prod", "1h", "")})
	revoked := r.Commit(t0.Add(-15*time.Minute), "r", map[string]string{"requests/prod/2026-11/revoked.yaml": requestYAML("bob", "prod", "1h", "")})
	r.Commit(t0.Add(-10*time.Minute), "revoke", map[string]string{"requests/prod/2026-11/revoked.yaml": ""})
	v := &verifier{by: map[string]*Verification{}}
	v.set(active, &Verification{OK: true, PR: 1, AuthorID: alice, AuthorLogin: "alice", MergedAt: t0.Add(-time.Hour)})
	v.set(expired, &Verification{OK: true, PR: 2, AuthorID: alice, AuthorLogin: "alice", MergedAt: t0.Add(-5 * time.Hour)})
	v.set(later, &Verification{OK: true, PR: 3, AuthorID: bob, AuthorLogin: "bob", MergedAt: t0.Add(-30 * time.Minute)})
	v.set(revoked, &Verification{OK: true, PR: 5, AuthorID: bob, AuthorLogin: "bob", MergedAt: t0.Add(-15 * time.Minute)})
	_ = pushed // verifier: "not merged through a PR"
	now := t0
	l := newLedger(t, r, v, &now)

	tests := []struct {
		name string
		ask  Ask
		want any // *Found id, or an error type
	}{
		{"active by id", Ask{UserID: alice, Login: "alice", RequestID: "prod/2026-11/active"}, "prod/2026-11/active"},
		{"active by suffix", Ask{UserID: alice, Login: "alice", RequestID: "active"}, "prod/2026-11/active"},
		{"active by account and role", Ask{UserID: alice, Login: "alice", Account: "prod", Role: "Admin"}, "prod/2026-11/active"},
		{"grant of another user", Ask{UserID: bob, Login: "bob", RequestID: "active"}, &NoActiveGrantError{}},
		{"same login, other numeric id", Ask{UserID: 666, Login: "alice", Account: "prod", Role: "Admin"}, &NoActiveGrantError{}},
		{"expired window", Ask{UserID: alice, Login: "alice", Account: "staging", Role: "Admin"}, &ExpiredError{}},
		{"before not_before", Ask{UserID: bob, Login: "bob", RequestID: "later"}, &NotYetError{}},
		{"pushed without a PR", Ask{UserID: bob, Login: "bob", RequestID: "pushed"}, &NoActiveGrantError{}},
		{"revoked by id", Ask{UserID: bob, Login: "bob", RequestID: "revoked"}, &RevokedError{}},
		{"no grant at all", Ask{UserID: bob, Login: "bob", Account: "staging", Role: "ReadOnly"}, &NoActiveGrantError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := l.Find(context.Background(), tt.ask)
			switch want := tt.want.(type) {
			case string:
				if err != nil || f.Grant.ID != want {
					t.Fatalf("Find = %v, %v; want %s", f, err, want)
				}
				if !f.End.Equal(f.Start.Add(f.Grant.Request.Duration)) {
					t.Errorf("window %s..%s", f.Start, f.End)
				}
			default:
				if err == nil || fmt.Sprintf("%T", err) != fmt.Sprintf("%T", want) {
					t.Fatalf("err = %T %v, want %T", err, err, want)
				}
			}
		})
	}
}

func TestRevokedByAccountAndRole(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	c := r.Commit(t0.Add(-time.Hour), "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{}}
	v.set(c, &Verification{OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)})
	now := t0
	l := newLedger(t, r, v, &now)
	if _, err := l.Find(context.Background(), Ask{UserID: alice, Login: "alice", Account: "prod", Role: "Admin"}); err != nil {
		t.Fatal(err)
	}
	r.Commit(t0.Add(-time.Minute), "revoke", map[string]string{"requests/prod/2026-11/a.yaml": ""})
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rev *RevokedError
	if _, err := l.Find(context.Background(), Ask{UserID: alice, Login: "alice", Account: "prod", Role: "Admin"}); !errors.As(err, &rev) {
		t.Fatalf("err = %v, want revoked", err)
	}
}

func TestRenamedLoginSameIDStillFindsGrant(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	c := r.Commit(t0.Add(-time.Hour), "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{}}
	v.set(c, &Verification{OK: true, AuthorID: alice, AuthorLogin: "alice", MergedAt: t0.Add(-time.Hour)})
	now := t0
	l := newLedger(t, r, v, &now)
	if err := l.VerifyAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	f, err := l.Find(context.Background(), Ask{UserID: alice, Login: "alice-renamed", Account: "prod", Role: "Admin"})
	if err != nil || f.Grant.ID != "prod/2026-11/a" {
		t.Fatalf("Find = %v, %v", f, err)
	}
}

func TestVerificationCachedAndFailsClosed(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	c := r.Commit(t0.Add(-time.Hour), "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	v := &verifier{by: map[string]*Verification{}, err: errors.New("github: 503")}
	now := t0
	l := newLedger(t, r, v, &now)
	ask := Ask{UserID: alice, Login: "alice", RequestID: "a"}
	var ve *VerifyError
	if _, err := l.Find(context.Background(), ask); !errors.As(err, &ve) {
		t.Fatalf("GitHub down: err = %v, want *VerifyError", err)
	}
	v.mu.Lock()
	v.err = nil
	v.mu.Unlock()
	v.set(c, &Verification{OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Hour)})
	for range 3 {
		if _, err := l.Find(context.Background(), ask); err != nil {
			t.Fatal(err)
		}
	}
	if v.calls != 2 {
		t.Errorf("verifier called %d times, want 2 (one failure, then one cached success)", v.calls)
	}
}

func TestIncrementalSyncSeesNewMerge(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	now := t0
	l := newLedger(t, r, &verifier{by: map[string]*Verification{}}, &now)
	if l.Index().Len() != 0 {
		t.Fatal("want an empty ledger")
	}
	r.Commit(t0, "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	start := time.Now()
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("incremental sync took %s", time.Since(start))
	if _, ok := l.Index().Grant("a"); !ok {
		t.Fatal("new merge not visible after sync")
	}
}

func TestFailedSyncKeepsLastGoodIndex(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.Commit(t0, "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	now := t0
	l := newLedger(t, r, &verifier{by: map[string]*Verification{}}, &now)
	good, _ := l.Health()
	if err := os.RemoveAll(filepath.Join(r.Dir, ".git")); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(time.Minute)
	if err := l.Sync(context.Background()); err == nil {
		t.Fatal("sync of a broken clone succeeded")
	}
	last, err := l.Health()
	if err == nil || !last.Equal(good) || l.Index().Len() != 1 {
		t.Errorf("health = %v %v, index len %d: want the last good index kept", last, err, l.Index().Len())
	}
}

func TestNotSynced(t *testing.T) {
	t.Parallel()
	l, err := New(Config{History: history(t, ledgertest.New(t)), Branch: "main", Anchor: "0000000000000000000000000000000000000000", Verifier: &verifier{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Find(context.Background(), Ask{RequestID: "x"}); !errors.As(err, new(*NotSyncedError)) {
		t.Fatalf("err = %v", err)
	}
}

// A head the remote announced (a push webhook) that no sync has read yet
// makes "no grant" a 503 "not synced": the grant may be in it. A sync that
// began after the announcement clears it, whatever it found.
func TestAnnouncedHeadIsNotSyncedUntilRead(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	now := t0
	l := newLedger(t, r, &verifier{by: map[string]*Verification{}}, &now)
	sha := r.Commit(t0, "a", map[string]string{"requests/prod/2026-11/a.yaml": requestYAML("alice", "prod", "2h", "")})
	ask := Ask{RequestID: "b", UserID: 1, Login: "alice"}
	if _, err := l.Find(context.Background(), ask); !errors.As(err, new(*NoActiveGrantError)) {
		t.Fatalf("before any announcement: %v, want no active grant", err)
	}
	l.Expect(sha)
	var ns *NotSyncedError
	if _, err := l.Find(context.Background(), ask); !errors.As(err, &ns) || !strings.Contains(ns.Error(), sha[:12]) {
		t.Fatalf("announced, not read: %v, want not synced naming %.12s", err, sha)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Find(context.Background(), ask); !errors.As(err, new(*NoActiveGrantError)) {
		t.Fatalf("read: %v, want no active grant", err)
	}
	// An announcement of a head the sync never finds (pushed over at once)
	// is cleared by the next sync that began after it.
	l.Expect(strings.Repeat("ab", 20))
	if _, err := l.Find(context.Background(), ask); !errors.As(err, new(*NotSyncedError)) {
		t.Fatalf("announced again: %v", err)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Find(context.Background(), ask); !errors.As(err, new(*NoActiveGrantError)) {
		t.Fatalf("after a later sync: %v, want no active grant", err)
	}
	// The head already read is no news.
	l.Expect(sha)
	if _, err := l.Find(context.Background(), ask); !errors.As(err, new(*NoActiveGrantError)) {
		t.Fatalf("the current head announced: %v, want no active grant", err)
	}
}

// Only grants whose window can still be open are verified: a busy
// ledger's closed grants cost GitHub nothing, on use or in the
// background. Of the caller's closed grants, the latest says when their
// access ended.
func TestOnlyOpenWindowsAreVerified(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	v := &verifier{by: map[string]*Verification{}}
	for i := range 20 {
		at := t0.Add(-time.Duration(48-i) * time.Hour)
		c := r.Commit(at, "old", map[string]string{fmt.Sprintf("requests/prod/2026-11/old%d.yaml", i): requestYAML("alice", "prod", "2h", "")})
		v.set(c, &Verification{OK: true, AuthorID: alice, MergedAt: at})
	}
	now := t0
	l := newLedger(t, r, v, &now)
	ask := Ask{UserID: alice, Login: "alice", Account: "prod", Role: "Admin"}
	var expired *ExpiredError
	if _, err := l.Find(context.Background(), ask); !errors.As(err, &expired) || expired.ID != "prod/2026-11/old19" {
		t.Fatalf("no open grant: err = %v, want the latest expiry (old19)", err)
	}
	if v.calls != 1 {
		t.Errorf("verified %d closed grants to say when access ended, want 1", v.calls)
	}
	open := r.Commit(t0.Add(-time.Minute), "open", map[string]string{"requests/prod/2026-11/open.yaml": requestYAML("alice", "prod", "2h", "")})
	v.set(open, &Verification{OK: true, AuthorID: alice, MergedAt: t0.Add(-time.Minute)})
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.VerifyAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f, err := l.Find(context.Background(), ask); err != nil || f.Grant.ID != "prod/2026-11/open" {
		t.Fatalf("Find = %v, %v; want the open grant", f, err)
	}
	if v.calls != 2 {
		t.Errorf("%d verifications, want 2: the background verified the open grant only, and the answer asked nothing more", v.calls)
	}
}
