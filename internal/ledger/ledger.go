package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"strings"
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

// maxPolicyChanges bounds the policy changes since the anchor.
const maxPolicyChanges = 100_000

// Verifier is what the ledger asks about trust (custody.Checker serves it).
type Verifier interface {
	// Moves lists the moves of the branch GitHub recorded after from.
	// seen, when set, is told of each move as it is listed, newest first.
	Moves(ctx context.Context, from custody.Mark, seen func(custody.Move)) ([]custody.Move, error)
	// MergedAs reports whether a PR was merged into the branch exactly as sha.
	custody.Merges
	// Chain verifies the steps that changed policy files (oldest first).
	Chain(ctx context.Context, steps []custody.Step) *custody.Chain
	// Grant re-verifies a grant under st, the policy trust before its step.
	// An error means "could not verify now".
	Grant(ctx context.Context, st custody.State, g custody.Grant) (*custody.Verification, error)
}

// History is the git repository the ledger reads its content from, behind
// one interface (gitlog.Repo serves it), so that the index and the trust
// chain are tested without a clone.
type History interface {
	custody.Git
	// Head brings the branch from the remote, when there is one, and
	// returns the commit it is at ("" when there is no such branch).
	Head(ctx context.Context, branch string) (string, error)
	// RemoteHead asks the remote where the branch is, in one round trip
	// and without fetching; "" when there is no remote.
	RemoteHead(ctx context.Context, branch string) (string, error)
	// Blobs reads blobs by SHA; one over maxBytes has nil Data.
	Blobs(ctx context.Context, shas []string, maxBytes int64) ([]gitlog.Blob, error)
}

// Config says where the ledger lives.
type Config struct {
	History History // the repository to read
	Branch  string  // the default branch that holds grants
	// Repository names the access repository (OWNER/NAME) in what the
	// ledger saves: a checkpoint of another one is never read back.
	Repository string
	// Anchor is the commit whose tree is trusted as given (--trust-anchor).
	// Only grants and policy changes after it count.
	Anchor     string
	Verifier   Verifier
	Now        func() time.Time
	Logger     *slog.Logger
	GitTimeout time.Duration // per sync but the first; default 2m
	// MaxStaleness: when no sync has succeeded for this long, look-ups
	// refuse with *StaleError. Default 5m.
	MaxStaleness time.Duration
	// Checkpoints, with StateKey, are where a verified checkpoint is
	// written after each verified sync, authenticated with StateKey, and
	// where a start looks for the newest one that verifies. Without
	// StateKey nothing is written or read: a checkpoint is a cache, never
	// evidence.
	Checkpoints []Checkpoints
	StateKey    []byte
}

// Ledger serves snapshots of the index and keeps them in sync with what
// GitHub recorded of the branch.
type Ledger struct {
	cfg     Config
	git     History
	started time.Time

	syncMu sync.Mutex // one sync at a time
	cur    atomic.Pointer[Index]
	// seenHead and seenAt: the head the activity does not list yet, and
	// when this ledger first saw it (under syncMu).
	seenHead string
	seenAt   time.Time

	stateMu   sync.Mutex
	lastGood  time.Time
	lastErr   error
	hold      *NotSyncedError                  // set while a rewrite is suspected but GitHub's activity lags: nothing issues
	rewritten *custody.RewrittenError          // sticky: only a restart with a new anchor clears it
	verified  map[string]*custody.Verification // by step:path, definitive verdicts only
	// awaited is a head the remote is known to have moved to (a push
	// webhook, a head check) that no sync has read yet; awaitSeq counts
	// Expect calls, so a sync started after the last one clears it.
	awaited    string
	awaitAt    time.Time
	awaitSeq   uint64
	verifyCall atomic.Int64
	ignored    []string // checkpoints found and ignored, and why (under stateMu)
	progress   atomic.Pointer[string]

	saveMu        sync.Mutex // one checkpoint written at a time
	savedMark     custody.Mark
	savedHead     string
	savedVerified int
}

// New returns a ledger over cfg.History; call Sync before use.
func New(cfg Config) (*Ledger, error) {
	switch {
	case cfg.History == nil || cfg.Branch == "":
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

// Progress says what the sync in progress is doing ("" when none is), for
// /healthz while the first one runs.
func (l *Ledger) Progress() string {
	p := l.progress.Load()
	if p == nil || *p == "" {
		return ""
	}
	if g, ok := l.git.(interface{ Progress() string }); ok && strings.HasPrefix(*p, "fetching") {
		if gp := g.Progress(); gp != "" {
			return *p + ": " + gp
		}
	}
	return *p
}

func (l *Ledger) setProgress(p string) {
	if p != "" && l.cur.Load() == nil {
		l.cfg.Logger.Info("first sync of the ledger", "progress", p)
	}
	l.progress.Store(&p)
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

// Expect says the remote's branch moved to head (a push webhook said so,
// or a head check saw it): until a sync reads it, "no grant" is "not
// synced", never a 403 that may not be true.
func (l *Ledger) Expect(head string) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	if x := l.cur.Load(); x != nil && x.Head == head {
		return
	}
	l.awaited, l.awaitAt = head, l.cfg.Now()
	l.awaitSeq++
}

// maxAwait bounds how long an announced head is waited for: one that never
// comes (pushed over at once, or from a lagging remote) must not make every
// "no grant" a 503 for good.
const maxAwait = 2 * time.Minute

// awaiting is the head announced and not read yet, or "".
func (l *Ledger) awaiting() string {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	if l.cfg.Now().Sub(l.awaitAt) > maxAwait {
		return ""
	}
	return l.awaited
}

// Trust reports why nothing can be issued now, or nil: the branch was
// rewritten, a rewrite is suspected while GitHub's activity lags, the
// ledger is stale, or the policy at the head is not trusted
// (*custody.UntrustedError) or not verified yet (*custody.PendingError).
func (l *Ledger) Trust() error {
	l.stateMu.Lock()
	rw, hold, last := l.rewritten, l.hold, l.lastGood
	l.stateMu.Unlock()
	if rw != nil {
		return rw
	}
	if hold != nil {
		return hold
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

// Sync fetches (when the clone has a remote), reads what GitHub recorded of
// the branch since the last sync, and brings the index to the branch head.
// A failed sync keeps the last good index.
func (l *Ledger) Sync(ctx context.Context) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	var cancel context.CancelFunc
	if l.cur.Load() == nil {
		// The first sync has no fixed deadline: cloning a large ledger
		// over HTTPS takes what it takes, and until it is done every
		// answer is 503 not_synced with its progress in /healthz.
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, l.cfg.GitTimeout)
	}
	defer cancel()
	defer l.setProgress("")
	l.stateMu.Lock()
	seq := l.awaitSeq
	l.stateMu.Unlock()
	err := l.sync(ctx)
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	if x := l.cur.Load(); err == nil && l.awaited != "" && (x != nil && x.Head == l.awaited || l.awaitSeq == seq) {
		l.awaited = "" // read, or read past: this sync began after it was announced
	}
	var rw *custody.RewrittenError
	if errors.As(err, &rw) && l.rewritten == nil {
		l.rewritten = rw
		l.cfg.Logger.Error("history rewritten: issuing nothing until restarted with a reviewed --trust-anchor", "reason", rw.Error())
	}
	var hold *NotSyncedError
	if errors.As(err, &hold) {
		l.hold = hold
	} else if err == nil {
		l.hold = nil
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
	l.setProgress("fetching " + l.cfg.Branch)
	head, err := l.git.Head(ctx, l.cfg.Branch)
	if err != nil {
		return fmt.Errorf("bring %s up to date: %w", l.cfg.Branch, err)
	}
	if head == "" {
		return fmt.Errorf("branch %s not found in the ledger's repository", l.cfg.Branch)
	}
	cur := l.cur.Load()
	if cur == nil {
		l.setProgress("reading the checkpoints")
		if cur = l.restore(ctx); cur != nil {
			l.cur.Store(cur)
		}
	}
	if cur != nil && cur.Head == head && cur.settled == nil && !cur.unsettled() {
		// The head has not moved: one look at GitHub's activity says
		// whether the branch went away and came back meanwhile (a force
		// push to elsewhere and back, or a checkpoint older than a
		// rewrite), which only the record shows.
		l.setProgress(fmt.Sprintf("reading what GitHub recorded of %s since %.12s", l.cfg.Branch, cur.Judged.Head))
		moves, err := l.cfg.Verifier.Moves(ctx, cur.Judged, nil)
		var nr *custody.NotReachedError
		switch {
		case err != nil && !errors.As(err, &nr):
			return fmt.Errorf("read what GitHub recorded of %s: %w", l.cfg.Branch, err)
		case err == nil && len(moves) == 0:
			return nil
		}
	}
	policy, policyErr := l.policyAt(ctx, head)
	now := l.cfg.Now()
	horizon := now.Add(-lookBack(policy))
	var base *Index
	if cur != nil {
		base = cur.settledIndex()
		if horizon.Before(base.Horizon) {
			// The look-back grew. The moves before the base's horizon
			// are not read again for requests: what GitHub's activity
			// lists may no longer reach back to them, and a grant
			// forgotten there only fails closed.
			horizon = base.Horizon
		}
	}
	from := custody.Mark{Head: l.cfg.Anchor}
	if base != nil {
		from = base.Judged
	}
	l.setProgress(fmt.Sprintf("reading what GitHub recorded of %s since %.12s", l.cfg.Branch, from.Head))
	var ahead *custody.Ahead
	if base == nil {
		// A start without a checkpoint reads a long record: its trees
		// are compared while the listing goes on.
		ahead = custody.NewAhead(ctx, l.git, horizon)
	}
	moves, caught, err := l.moves(ctx, from, head, ahead.See)
	ahead.Stop()
	if err != nil {
		return err
	}
	l.setProgress(fmt.Sprintf("comparing the trees of %d recorded moves", len(moves)))
	steps, err := custody.StepsAhead(ctx, l.git, l.cfg.Verifier, moves, horizon, now, ahead)
	if err != nil {
		return err
	}
	next, err := l.build(ctx, base, steps, head, policy, policyErr, horizon)
	if err != nil {
		return err
	}
	if !caught {
		// GitHub's activity lags behind the branch: the rest is a move it
		// has not recorded yet, judged as such (deletions take effect, the
		// rest is "not yet" for a while, then refused).
		if l.seenHead != head {
			l.seenHead, l.seenAt = head, now
		}
		gap, err := custody.Steps(ctx, l.git, l.cfg.Verifier, []custody.Move{{Type: custody.MoveUnrecorded, Before: next.Judged.Head, After: head, At: l.seenAt}}, horizon, now)
		if err != nil {
			return err
		}
		settled := next
		if next, err = l.build(ctx, settled, gap, head, policy, policyErr, horizon); err != nil {
			return err
		}
		next.settled = settled
	}
	l.cur.Store(next)
	l.forget(next)
	if next.settled == nil {
		l.save(next)
	}
	l.cfg.Logger.Info("ledger synced", "head", head, "recorded_head", next.Judged.Head, "moves", len(moves), "grants", next.Len(), "policy_changes", next.Chain.Len(),
		"untrusted", errString(next.Chain.Head().Err()), "policy_error", errString(next.PolicyErr))
	return nil
}

// forget drops the verdicts of grants x no longer holds: the cache must
// not grow with history.
func (l *Ledger) forget(x *Index) {
	keep := map[string]bool{}
	for _, idx := range []*Index{x, x.settledIndex()} {
		for _, k := range idx.verdictKeys() {
			keep[k] = true
		}
	}
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	maps.DeleteFunc(l.verified, func(k string, _ *custody.Verification) bool { return !keep[k] })
}

// moves reads the moves GitHub recorded after from, up to the one that
// left the branch at head; caught says the activity has reached head. A
// reshaped history is *custody.RewrittenError once the activity has caught
// up with head, and "not yet" (*NotSyncedError) until then.
func (l *Ledger) moves(ctx context.Context, from custody.Mark, head string, seen func(custody.Move)) (moves []custody.Move, caught bool, err error) {
	moves, err = l.cfg.Verifier.Moves(ctx, from, seen)
	var nr *custody.NotReachedError
	if err != nil && !errors.As(err, &nr) {
		return nil, false, fmt.Errorf("read what GitHub recorded of %s: %w", l.cfg.Branch, err)
	}
	caught = false
	for i := len(moves) - 1; i >= 0; i-- {
		if moves[i].After != head {
			continue
		}
		if i < len(moves)-1 {
			// GitHub recorded the branch past the head the clone has: what
			// was fetched is behind (a race with a merge, or a remote that
			// is not GitHub's), and a later revocation must not be missed.
			return nil, false, &NotSyncedError{Reason: fmt.Sprintf("GitHub's activity shows %s moved on from %.12s to %.12s, which the fetch did not bring yet", l.cfg.Branch, head, moves[len(moves)-1].After)}
		}
		moves, caught = moves[:i+1], true
		break
	}
	if !caught && len(moves) > 0 {
		last := moves[len(moves)-1].After
		if _, err := l.git.Diff(ctx, last, last, nil, 0); err != nil || from.Head == head {
			// GitHub recorded moves the clone does not have: the fetch is
			// behind, and a later revocation must not be missed.
			return nil, false, &NotSyncedError{Reason: fmt.Sprintf("GitHub's activity shows %s moved on to %.12s, which the fetch did not bring yet", l.cfg.Branch, last)}
		}
	}
	if !caught && from.Head == head {
		// The branch is where the last recorded move (or the anchor) left
		// it: nothing to judge.
		return nil, true, nil
	}
	var why *custody.RewrittenError
	switch {
	case nr != nil:
		why = &custody.RewrittenError{After: head, Why: fmt.Sprintf("GitHub's activity of %s does not reach back to %.12s, so what happened since is unknown", l.cfg.Branch, from.Head)}
	default:
		why = custody.Follow(from.Head, moves)
	}
	switch {
	case why == nil:
		return moves, caught, nil
	case caught:
		return nil, false, why
	}
	return nil, false, &NotSyncedError{Reason: "GitHub's activity does not list the move to " + head[:min(12, len(head))] + " yet, and what it lists so far does not follow on: " + why.Why}
}

// build applies steps (oldest first) to base (nil: an empty index after
// the anchor) and returns the index at head.
func (l *Ledger) build(ctx context.Context, base *Index, steps []custody.Step, head string, policy *eligibility.Policy, policyErr error, horizon time.Time) (*Index, error) {
	next := newIndex()
	next.Judged = custody.Mark{Head: l.cfg.Anchor}
	if base != nil {
		next = base.clone()
	}
	var reqs []applied
	for _, st := range steps {
		next.topSeq++
		for _, ch := range st.Changes {
			if custody.IsRequestChange(ch) {
				reqs = append(reqs, applied{step: st.Move, seq: next.topSeq, change: ch})
			}
		}
		if pol, ok := st.Policy(); ok {
			next.policy = append(next.policy, pol)
			next.policySeq = append(next.policySeq, next.topSeq)
		}
		if st.ID != 0 {
			next.Judged = custody.Mark{ID: st.ID, Head: st.After}
		}
	}
	if len(next.policy) > maxPolicyChanges {
		return nil, fmt.Errorf("more than %d policy changes since the anchor: move --trust-anchor forward", maxPolicyChanges)
	}
	next.Head, next.Policy, next.PolicyErr, next.Horizon = head, policy, policyErr, horizon
	next.Chain = l.cfg.Verifier.Chain(ctx, next.policy)
	if err := l.replay(ctx, next, reqs); err != nil {
		return nil, err
	}
	// Forget grants whose window is over for good.
	for id, g := range next.grants {
		if g.Step.At.Before(horizon) {
			next.drop(id)
		}
	}
	maps.DeleteFunc(next.emergencies, func(_ string, g *Grant) bool { return g.Step.At.Before(horizon) })
	maps.DeleteFunc(next.removed, func(_ string, r *Removal) bool { return r.At.Before(horizon) })
	maps.DeleteFunc(next.removedByAsk, func(_ askKey, r *Removal) bool { return r.At.Before(horizon) })
	next.SyncedAt = l.cfg.Now()
	return next, nil
}

// applied is one request-file change and the step that made it.
type applied struct {
	step   custody.Move
	seq    int64
	change custody.Change
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

// replay applies request-file changes (oldest first) to next.
func (l *Ledger) replay(ctx context.Context, next *Index, changes []applied) error {
	touched := map[string]applied{}
	var order []string
	removals := map[string]*Removal{}
	var shadowed []*Removal
	for _, a := range changes {
		p, _ := request.ParsePath(a.change.Path) // only request paths are applied
		id := p.ID()
		if a.change.Status == 'D' {
			r := &Removal{ID: id, Commit: a.step.After, At: a.step.At, Blob: a.change.OldBlob}
			if added, ok := touched[id]; ok {
				// Added and deleted between two looks: the step that added
				// it is kept (a revoked emergency still waits for review).
				r.Added, r.Path, r.Seq = added.step, added.change.Path, added.seq
			}
			delete(touched, id)
			removals[id] = r
			continue
		}
		if _, seen := touched[id]; !seen {
			order = append(order, id)
		}
		if r, ok := removals[id]; ok && r.Added.After != "" {
			shadowed = append(shadowed, r) // added, deleted and added again between two looks
		}
		delete(removals, id)
		touched[id] = a
	}
	// One read of the files on the branch (by blob) and of the deleted ones
	// as they were just before their deletion (to know whose grant was
	// revoked).
	var specs, ids []string
	for _, id := range order {
		if a, ok := touched[id]; ok && a.change.Regular() {
			specs = append(specs, a.change.Blob)
			ids = append(ids, id)
		}
	}
	var removedIDs []string
	for id, r := range removals {
		if g, ok := next.grants[id]; ok {
			r.Request = g.Request
			next.remove(id, r)
			continue
		}
		specs = append(specs, r.Blob)
		removedIDs = append(removedIDs, id)
	}
	for _, r := range shadowed {
		specs = append(specs, r.Blob)
	}
	blobs, err := l.git.Blobs(ctx, specs, request.MaxSize)
	if err != nil {
		return err
	}
	for i, r := range shadowed {
		if data := blobs[len(specs)-len(shadowed)+i].Data; data != nil {
			r.Request, _ = request.Parse("requests/"+r.ID+".yaml", data)
			next.noteEmergency(&Grant{ID: r.ID, Path: r.Path, Request: r.Request, Step: r.Added, Seq: r.Seq, Blob: r.Blob})
		}
	}
	for i, b := range blobs {
		if b.Missing {
			// A tree the branch holds names it: a clone without it is
			// broken (or was tampered with), never a file that is not there.
			return fmt.Errorf("the clone lacks blob %.12s, which the branch's trees name: %w", specs[i], gitlog.ErrCorrupt)
		}
	}
	for i, id := range removedIDs {
		r := removals[id]
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
		a, ok := touched[id]
		if !ok {
			continue
		}
		g := &Grant{ID: id, Path: a.change.Path, Step: a.step, Seq: a.seq, Blob: a.change.Blob}
		switch b, read := read[id]; {
		case !a.change.Regular():
			g.Invalid = fmt.Sprintf("the request path is not a regular file (git mode %s): a symlink or submodule is never a request", a.change.Mode)
		case !read || b.Data == nil:
			g.Invalid = fmt.Sprintf("the file is over the %d-byte limit", request.MaxSize)
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
