package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/fileerr"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/request"
)

const (
	// maxChanges bounds the request-file changes one sync reads: about the
	// merges of the look-back period, with room to spare.
	maxChanges = 1_000_000
	// maxPolicyChanges bounds the policy-file changes since the anchor.
	maxPolicyChanges = 100_000
	// maxCutChecks bounds the commits older than the horizon that the walk
	// asks GitHub about before it gives up looking for a confirmed cut and
	// reads on to the anchor.
	maxCutChecks = 20
	// Refs the ledger keeps in its clone: the last head it indexed and the
	// anchor it indexed it under, so a restart notices a rewrite.
	lastHeadRef = "refs/elevate/last-head"
	// missingBlob names no object: reading it answers "missing".
	missingBlob = "0000000000000000000000000000000000000000"
	anchorRef   = "refs/elevate/anchor"
)

// Verifier is what the ledger asks about trust (custody.Checker serves it).
type Verifier interface {
	// Chain verifies the policy commits after the anchor (oldest first).
	Chain(ctx context.Context, head string, commits []custody.Commit) *custody.Chain
	// Grant re-verifies a grant under st, the policy trust before its commit.
	// An error means "could not verify now".
	Grant(ctx context.Context, st custody.State, g custody.Grant) (*custody.Verification, error)
	// MergedAt is GitHub's merge time of the PR merged as sha, if any.
	MergedAt(ctx context.Context, sha string) (time.Time, bool, error)
	// Rewritten reports a force push after the anchor in GitHub's activity.
	Rewritten(ctx context.Context) (*custody.RewrittenError, error)
}

// History is the git repository the ledger reads, behind one interface, so
// that the index and the trust chain never build git revision strings and
// are tested without git. gitlog.Repo runs the git command; gitlog.GoGit
// needs no git binary (the broker on Lambda or a distroless image).
type History interface {
	// Head brings the branch from the remote, when there is one, and
	// returns the commit it is at ("" when there is no such branch).
	Head(ctx context.Context, branch string) (string, error)
	// RemoteHead asks the remote where the branch is, in one round trip
	// and without fetching; "" when there is no remote.
	RemoteHead(ctx context.Context, branch string) (string, error)
	IsAncestor(ctx context.Context, ancestor, commit string) (bool, error)
	CommitTime(ctx context.Context, commit string) (time.Time, error)
	// FirstParents walks head's first-parent chain down to (not into) an
	// excluded commit, newest first, until fn returns false.
	FirstParents(ctx context.Context, head string, exclude []string, fn func(sha string, at time.Time) bool) error
	// Log lists the first-parent commits changing q.Paths, with every
	// change and its git mode, newest first.
	Log(ctx context.Context, q gitlog.Query) ([]gitlog.Commit, error)
	// FileAt reads a regular file at a commit (errors: package fileerr).
	FileAt(ctx context.Context, path, commit string, maxBytes int64) ([]byte, error)
	// Blobs reads blobs by SHA; one over maxBytes has nil Data.
	Blobs(ctx context.Context, shas []string, maxBytes int64) ([]gitlog.Blob, error)
	// Ref and SetRef keep the ledger's state in the repository.
	Ref(ctx context.Context, name string) (string, error)
	SetRef(ctx context.Context, name, sha string) error
}

// Config says where the ledger lives.
type Config struct {
	Dir     string  // a local git clone (read with the git command), unless History is set
	History History // the repository to read; default gitlog.Repo{Dir: Dir}
	Branch  string  // the default branch that holds grants
	// Anchor is the commit whose tree is trusted as given (--trust-anchor).
	// Only grants and policy changes after it count.
	Anchor     string
	Verifier   Verifier
	Now        func() time.Time
	Logger     *slog.Logger
	GitTimeout time.Duration // per sync; default 2m
	// MaxStaleness: when no sync has succeeded for this long, look-ups
	// refuse with *StaleError. Default 5m.
	MaxStaleness time.Duration
	// StatePath, when set, is where the index and the verdicts are saved
	// after each sync, so a restart starts from them.
	StatePath string
}

// Ledger serves snapshots of the index and keeps them in sync with git.
type Ledger struct {
	cfg     Config
	git     History
	started time.Time

	syncMu      sync.Mutex // one sync at a time
	cur         atomic.Pointer[Index]
	anchorSaved bool // the clone's anchorRef names cfg.Anchor (under syncMu)

	stateMu    sync.Mutex
	lastGood   time.Time
	lastErr    error
	rewritten  *custody.RewrittenError          // sticky: only a restart with a new anchor clears it
	verified   map[string]*custody.Verification // by commit:path, definitive verdicts only
	verifyCall atomic.Int64
}

// New returns a ledger over cfg.Dir; call Sync before use.
func New(cfg Config) (*Ledger, error) {
	switch {
	case (cfg.Dir == "" && cfg.History == nil) || cfg.Branch == "":
		return nil, errors.New("ledger: a repository and a branch are required")
	case cfg.Anchor == "":
		return nil, errors.New("ledger: a trust anchor is required: the commit whose policy is trusted as given")
	case cfg.Verifier == nil:
		return nil, errors.New("ledger: a verifier is required: grants are never trusted unverified")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.GitTimeout == 0 {
		cfg.GitTimeout = 2 * time.Minute
	}
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = 5 * time.Minute
	}
	if cfg.History == nil {
		cfg.History = gitlog.Repo{Dir: cfg.Dir}
	}
	return &Ledger{cfg: cfg, git: cfg.History, started: cfg.Now(), verified: map[string]*custody.Verification{}}, nil
}

// Index is the current snapshot, nil before the first good sync.
func (l *Ledger) Index() *Index { return l.cur.Load() }

// Health reports the time of the last good sync and the last sync error
// (nil when the last sync succeeded).
func (l *Ledger) Health() (lastGood time.Time, lastErr error) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.lastGood, l.lastErr
}

// StaleError says no sync has succeeded for longer than the allowed staleness.
type StaleError struct {
	LastGood time.Time // zero: never
	Max      time.Duration
}

func (e *StaleError) Error() string {
	if e.LastGood.IsZero() {
		return fmt.Sprintf("the ledger has not synced for over %s", e.Max)
	}
	return fmt.Sprintf("the ledger has not synced since %s (over %s ago)", e.LastGood.UTC().Format(time.RFC3339), e.Max)
}

// Trust reports why nothing can be issued now, or nil: the branch was
// rewritten, the ledger is stale, or the policy at the head is not trusted
// (*custody.UntrustedError) or not verified yet (*custody.PendingError).
func (l *Ledger) Trust() error {
	l.stateMu.Lock()
	rw, last := l.rewritten, l.lastGood
	l.stateMu.Unlock()
	if rw != nil {
		return rw
	}
	now := l.cfg.Now()
	if x := l.Index(); x != nil && now.Sub(last) > l.cfg.MaxStaleness {
		return &StaleError{LastGood: last, Max: l.cfg.MaxStaleness}
	}
	if x := l.Index(); x != nil {
		return x.Chain.Head().Err()
	}
	return nil
}

// Sync fetches (when the clone has a remote) and brings the index to the
// branch head. A failed sync keeps the last good index.
func (l *Ledger) Sync(ctx context.Context) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.cfg.GitTimeout)
	defer cancel()
	err := l.sync(ctx)
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	var rw *custody.RewrittenError
	if errors.As(err, &rw) && l.rewritten == nil {
		l.rewritten = rw
		l.cfg.Logger.Error("history rewritten: issuing nothing until restarted with a reviewed --trust-anchor", "reason", rw.Error())
	}
	l.lastErr = err
	if err == nil {
		l.lastGood = l.cfg.Now()
	}
	return err
}

func (l *Ledger) sync(ctx context.Context) error {
	l.stateMu.Lock()
	rw := l.rewritten
	l.stateMu.Unlock()
	if rw != nil {
		return rw
	}
	head, err := l.git.Head(ctx, l.cfg.Branch)
	if err != nil {
		return fmt.Errorf("bring %s up to date: %w", l.cfg.Branch, err)
	}
	if head == "" {
		return fmt.Errorf("branch %s not found in the ledger's repository", l.cfg.Branch)
	}
	cur := l.cur.Load()
	if cur == nil {
		if cur = l.restore(ctx); cur != nil {
			l.cur.Store(cur)
		}
	}
	if cur != nil && cur.Head == head && cur.Chain.Head().Pending == nil {
		return nil
	}
	if err := l.checkDescent(ctx, cur, head); err != nil {
		return err
	}
	if cur == nil || cur.Head != head {
		rw, err := l.cfg.Verifier.Rewritten(ctx)
		if err != nil {
			return fmt.Errorf("read the branch's force pushes from GitHub: %w", err)
		}
		if rw != nil {
			return rw
		}
	}
	next, err := l.build(ctx, cur, head)
	if err != nil {
		return err
	}
	l.cur.Store(next)
	l.save(next)
	// The two refs are apart: one git process each, at the same time.
	var refs errgroup.Group
	if !l.anchorSaved {
		refs.Go(func() error { return l.git.SetRef(ctx, anchorRef, l.cfg.Anchor) })
	}
	refs.Go(func() error { return l.git.SetRef(ctx, lastHeadRef, head) })
	if err := refs.Wait(); err != nil {
		return err
	}
	l.anchorSaved = true
	l.cfg.Logger.Info("ledger synced", "head", head, "grants", next.Len(), "policy_commits", next.Chain.Len(),
		"untrusted", errString(next.Chain.Head().Err()), "policy_error", errString(next.PolicyErr))
	return nil
}

// checkDescent refuses a head that does not descend from the last head
// indexed (in memory, or saved in the clone under the same anchor). That
// the anchor is in the head's history is checked by the cold read; a head
// descending from a checked one keeps it there.
func (l *Ledger) checkDescent(ctx context.Context, cur *Index, head string) error {
	last := ""
	if cur != nil {
		last = cur.Head
	} else if saved, err := l.git.Ref(ctx, anchorRef); err == nil && saved == l.cfg.Anchor {
		l.anchorSaved = true
		if last, err = l.git.Ref(ctx, lastHeadRef); err != nil {
			return err
		}
	}
	if last != "" && last != head {
		ok, err := l.git.IsAncestor(ctx, last, head)
		if err != nil || !ok {
			return &custody.RewrittenError{Before: last, After: head, Why: fmt.Sprintf("the new head of %s does not descend from the last head the broker indexed (a force push)", l.cfg.Branch)}
		}
	}
	return nil
}

// build makes the next index: incrementally from cur when head descends
// from it and the look-back did not grow, else from scratch. One log lists,
// in first-parent order, every commit changing a request or a policy file;
// its order is what ranks grants against policy commits.
func (l *Ledger) build(ctx context.Context, cur *Index, head string) (*Index, error) {
	now := l.cfg.Now()
	policy, policyErr := l.policyAt(ctx, head)
	horizon := now.Add(-lookBack(policy))

	var next *Index
	var reqs, pols []gitlog.Commit
	var top int64
	// The first-parent order of what was read ranks grants against policy
	// commits.
	var order []string
	var err error
	if cur != nil && !horizon.Before(cur.Horizon) {
		next, top = cur.clone(), cur.topSeq
		var commits []gitlog.Commit
		commits, err = l.git.Log(ctx, gitlog.Query{Head: head, Exclude: []string{cur.Head}, Paths: ledgerPaths, Max: maxChanges})
		reqs, pols = split(commits, request.IsRequestPath), split(commits, custody.IsPolicyPath)
		if err == nil {
			err = l.git.FirstParents(ctx, head, []string{cur.Head}, func(sha string, _ time.Time) bool { order = append(order, sha); return true })
		}
	} else {
		next = newIndex()
		reqs, pols, order, _, err = l.coldRead(ctx, head, horizon)
	}
	if err != nil {
		return nil, fmt.Errorf("read the history of %s: %w", l.cfg.Branch, err)
	}
	seq := make(map[string]int64, len(order))
	for i, sha := range order {
		seq[sha] = top + int64(len(order)-i)
	}
	next.topSeq = top + int64(len(order))
	for i := len(pols) - 1; i >= 0; i-- { // oldest first
		s, ok := seq[pols[i].SHA]
		if !ok {
			s = math.MinInt64 // behind the window: before every grant in it
		}
		next.policy = append(next.policy, pols[i])
		next.policySeq = append(next.policySeq, s)
	}
	if len(next.policy) > maxPolicyChanges {
		return nil, fmt.Errorf("more than %d policy commits since the anchor: move --trust-anchor forward", maxPolicyChanges)
	}
	next.Head, next.Policy, next.PolicyErr, next.Horizon = head, policy, policyErr, horizon
	next.Chain = l.cfg.Verifier.Chain(ctx, head, next.policy)
	if err := l.replay(ctx, next, reqs, seq, head); err != nil {
		return nil, err
	}
	// Forget grants whose window is over for good.
	for id, g := range next.grants {
		if g.CommittedAt.Before(horizon) {
			next.drop(id)
		}
	}
	next.SyncedAt = now
	return next, nil
}

// ledgerPaths are what the ledger reads after a sync: request files and
// policy files.
var ledgerPaths = append([]string{"requests/"}, custody.PolicyPaths...)

// requestPaths are what the cold read streams: git matches one pathspec
// much faster than five, and the policy files are read apart, exactly.
var requestPaths = []string{"requests/"}

// split keeps, of each commit, the changes whose path keep says, and the
// commits left with some.
func split(commits []gitlog.Commit, keep func(string) bool) []gitlog.Commit {
	var out []gitlog.Commit
	for _, c := range commits {
		var kept []gitlog.Change
		for _, ch := range c.Changes {
			if keep(ch.Path) {
				kept = append(kept, ch)
			}
		}
		if len(kept) > 0 {
			c.Changes = kept
			out = append(out, c)
		}
	}
	return out
}

// policyAt reads eligibility.yaml at head: only a regular file is a policy.
func (l *Ledger) policyAt(ctx context.Context, head string) (*eligibility.Policy, error) {
	data, err := l.git.FileAt(ctx, eligibility.File, head, eligibility.MaxSize)
	switch {
	case errors.Is(err, fileerr.ErrNotExist):
		return nil, fmt.Errorf("%s is missing at %s", eligibility.File, head)
	case errors.Is(err, fileerr.ErrNotRegular):
		return nil, fmt.Errorf("%s at %s is not a regular file", eligibility.File, head)
	case err != nil:
		return nil, fmt.Errorf("%s at %s: %w", eligibility.File, head, err)
	}
	return eligibility.Parse(eligibility.File, data)
}

// coldRead reads, from scratch and in parallel, the request changes of the
// window (newest first, down to the cut or the anchor it returns as bound)
// and every policy commit since the anchor, and checks that the anchor is
// in the head's history.
func (l *Ledger) coldRead(ctx context.Context, head string, horizon time.Time) (window, pols []gitlog.Commit, order []string, bound string, err error) {
	var polErr, ancErr, ordErr error
	var wg sync.WaitGroup
	// The first-parent order of what is read is walked at the same time; it
	// stops at the window's bound once that is known, and is cut there.
	var stop atomic.Pointer[string]
	wg.Add(3)
	go func() {
		defer wg.Done()
		ordErr = l.git.FirstParents(ctx, head, []string{l.cfg.Anchor}, func(sha string, _ time.Time) bool {
			if b := stop.Load(); b != nil && sha == *b {
				return false
			}
			order = append(order, sha)
			return true
		})
	}()
	go func() {
		defer wg.Done()
		pols, polErr = l.git.Log(ctx, gitlog.Query{Head: head, Exclude: []string{l.cfg.Anchor}, Paths: custody.PolicyPaths, Max: maxPolicyChanges})
	}()
	go func() {
		defer wg.Done()
		ok, err := l.git.IsAncestor(ctx, l.cfg.Anchor, head)
		if err != nil || !ok {
			ancErr = &custody.RewrittenError{After: head, Why: fmt.Sprintf("the trust anchor %.12s is not in the history of %s", l.cfg.Anchor, l.cfg.Branch)}
		}
	}()
	window, bound, err = l.window(ctx, head, horizon)
	stop.Store(&bound)
	wg.Wait()
	if i := slices.Index(order, bound); i >= 0 {
		order = order[:i]
	}
	return window, pols, order, bound, cmp.Or(err, ancErr, polErr, ordErr)
}

// window reads the request changes from head back, newest first, and stops
// early at a cut: a commit older than the horizon that GitHub confirms was
// merged before it (returned as bound, not read), or at the anchor. A
// committer date alone never stops the walk, because anyone who can push
// can write any date; GitHub's merge time cannot be forged, and every commit
// behind a merge is older than it. An anchor dated inside the look-back is
// an exclusion (git then reads only what follows it); an older one is met
// on the way, or the cut comes first: request commits between an anchor and
// a cut behind it are older than the horizon, so their windows are closed.
func (l *Ledger) window(ctx context.Context, head string, horizon time.Time) ([]gitlog.Commit, string, error) {
	q := gitlog.Query{Head: head, Paths: requestPaths, Max: maxChanges}
	bound := ""
	if at, err := l.git.CommitTime(ctx, l.cfg.Anchor); err != nil || !at.Before(horizon) {
		q.Exclude, bound = []string{l.cfg.Anchor}, l.cfg.Anchor
	}
	checks := 0
	q.Until = func(sha string, at time.Time) bool {
		if sha == l.cfg.Anchor {
			bound = sha
			return true
		}
		if !at.Before(horizon) || checks >= maxCutChecks {
			return false
		}
		checks++
		mergedAt, ok, err := l.cfg.Verifier.MergedAt(ctx, sha)
		switch {
		case err != nil:
			checks = maxCutChecks // GitHub is not answering: read on to the anchor
		case ok && mergedAt.Before(horizon):
			bound = sha
			return true
		}
		return false
	}
	commits, err := l.git.Log(ctx, q)
	if bound == "" {
		bound = l.cfg.Anchor // read to the end: the anchor bounds the order
	}
	return commits, bound, err
}

// replay applies request-file changes (newest first, as git lists them) to next.
func (l *Ledger) replay(ctx context.Context, next *Index, commits []gitlog.Commit, seq map[string]int64, head string) error {
	type touch struct {
		commit *gitlog.Commit
		change gitlog.Change
	}
	touched := map[string]touch{}
	var order []string
	removals := map[string]*Removal{}
	for i := len(commits) - 1; i >= 0; i-- { // oldest first
		c := &commits[i]
		for _, ch := range c.Changes {
			p, err := request.ParsePath(ch.Path)
			if err != nil {
				continue // not a request file (README, .gitkeep) or one the check rejects
			}
			id := p.ID()
			if ch.Status == 'D' {
				delete(touched, id)
				removals[id] = &Removal{ID: id, Commit: c.SHA, At: c.At}
				continue
			}
			if _, seen := touched[id]; !seen {
				order = append(order, id)
			}
			delete(removals, id)
			touched[id] = touch{c, ch}
		}
	}
	// One git process reads the files on the branch (by blob) and the
	// deleted ones as they were just before their deletion (to know whose
	// grant was revoked).
	var specs, ids []string
	for _, id := range order {
		if t, ok := touched[id]; ok && t.change.Regular() {
			specs = append(specs, t.change.Blob)
			ids = append(ids, id)
		}
	}
	oldBlob := map[string]string{}
	for i := len(commits) - 1; i >= 0; i-- {
		for _, ch := range commits[i].Changes {
			if ch.Status == 'D' {
				oldBlob[commits[i].SHA+":"+ch.Path] = ch.OldBlob
			}
		}
	}
	var removedIDs []string
	for id, r := range removals {
		if g, ok := next.grants[id]; ok {
			r.Request = g.Request
			next.remove(id, r)
			continue
		}
		specs = append(specs, cmp.Or(oldBlob[r.Commit+":requests/"+id+".yaml"], missingBlob))
		removedIDs = append(removedIDs, id)
	}
	blobs, err := l.git.Blobs(ctx, specs, request.MaxSize)
	if err != nil {
		return err
	}
	for i, id := range removedIDs {
		r := removals[id]
		r.Blob = specs[len(ids)+i]
		if data := blobs[len(ids)+i].Data; data != nil {
			r.Request, _ = request.Parse("requests/"+id+".yaml", data)
		}
		next.remove(id, r)
	}
	read := map[string]gitlog.Blob{}
	for i, id := range ids {
		read[id] = blobs[i]
	}
	// Parsing is most of a cold start's own work: the files are parsed on
	// every core, then indexed in order.
	var grants []*Grant
	var parse errgroup.Group
	parse.SetLimit(runtime.GOMAXPROCS(0))
	for _, id := range order {
		t, ok := touched[id]
		if !ok {
			continue
		}
		g := &Grant{ID: id, Path: t.change.Path, Commit: t.commit.SHA, Parent: t.commit.Parent, CommittedAt: t.commit.At, Seq: seq[t.commit.SHA], Blob: t.change.Blob}
		switch b, read := read[id]; {
		case !t.change.Regular():
			g.Invalid = fmt.Sprintf("the request path is not a regular file (git mode %s): a symlink or submodule is never a request", t.change.Mode)
		case !read || b.Data == nil:
			g.Invalid = "the file is missing or over the size limit"
		default:
			parse.Go(func() error { g.setContent(b.Data); return nil })
		}
		grants = append(grants, g)
	}
	_ = parse.Wait()
	for _, g := range grants {
		next.add(g.ID, g)
	}
	return nil
}

// lookBack is how far back a window can still be open: the longest
// duration the policy allows (emergency included) plus the not_before bound.
// Without a valid policy, the widest a request file allows.
func lookBack(p *eligibility.Policy) time.Duration {
	longest := eligibility.MaxRuleDuration
	if p != nil {
		longest = 0
		for _, r := range p.Rules {
			longest = max(longest, r.MaxDuration)
			if r.Emergency != nil {
				longest = max(longest, r.Emergency.MaxDuration)
			}
		}
	}
	return longest + request.MaxNotBeforeAhead + time.Hour
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
