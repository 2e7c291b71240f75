package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/request"
)

// maxChanges bounds the request-file changes one sync reads: about the
// merges of the look-back period, with room to spare.
const maxChanges = 1_000_000

// Config says where the ledger lives.
type Config struct {
	Dir        string // a local git clone
	Branch     string // the default branch that holds grants
	Verifier   Verifier
	Now        func() time.Time
	Logger     *slog.Logger
	GitTimeout time.Duration // per sync; default 2m
}

// Ledger serves snapshots of the index and keeps them in sync with git.
type Ledger struct {
	cfg Config
	git gitlog.Repo

	syncMu sync.Mutex // one sync at a time
	cur    atomic.Pointer[Index]

	stateMu    sync.Mutex
	lastGood   time.Time
	lastErr    error
	verified   map[string]*Verification // by commit:path, definitive verdicts only
	byUser     map[userKey][]string     // verified owner -> grant ids
	verifyCall atomic.Int64
}

type userKey struct {
	id            int64
	account, role string
}

// New returns a ledger over cfg.Dir; call Sync before use.
func New(cfg Config) (*Ledger, error) {
	if cfg.Dir == "" || cfg.Branch == "" {
		return nil, errors.New("ledger: a directory and a branch are required")
	}
	if cfg.Verifier == nil {
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
	return &Ledger{cfg: cfg, git: gitlog.Repo{Dir: cfg.Dir}, verified: map[string]*Verification{}, byUser: map[userKey][]string{}}, nil
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
	l.lastErr = err
	if err == nil {
		l.lastGood = l.cfg.Now()
	}
	return err
}

func (l *Ledger) sync(ctx context.Context) error {
	ref := "refs/heads/" + l.cfg.Branch
	if l.git.HasRemote(ctx) {
		if err := l.git.Fetch(ctx, l.cfg.Branch); err != nil {
			return fmt.Errorf("fetch %s: %w", l.cfg.Branch, err)
		}
		ref = "refs/remotes/origin/" + l.cfg.Branch
	}
	head, err := l.git.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	if head == "" {
		return fmt.Errorf("branch %s not found in %s", l.cfg.Branch, l.cfg.Dir)
	}
	cur := l.cur.Load()
	now := l.cfg.Now()
	if cur != nil && cur.Head == head {
		return nil
	}
	policyBlob, err := l.git.Blobs(ctx, []string{head + ":" + eligibility.File}, eligibility.MaxSize)
	if err != nil {
		return err
	}
	var policy *eligibility.Policy
	var policyErr error
	if policyBlob[0].Data == nil {
		policyErr = fmt.Errorf("%s is missing at %s", eligibility.File, head)
	} else {
		policy, policyErr = eligibility.Parse(eligibility.File, policyBlob[0].Data)
	}
	horizon := now.Add(-lookBack(policy))

	var next *Index
	var changes []gitlog.Change
	if cur != nil && !horizon.Before(cur.Horizon) && l.git.IsAncestor(ctx, cur.Head, head) {
		next = cur.clone()
		changes, err = l.git.Log(ctx, cur.Head+".."+head, "ADM", time.Time{}, nil, maxChanges)
	} else {
		next = newIndex()
		changes, err = l.git.Log(ctx, head, "ADM", horizon, nil, maxChanges)
	}
	if err != nil {
		return fmt.Errorf("read the history of %s: %w", l.cfg.Branch, err)
	}
	slices.Reverse(changes) // replay oldest first
	next.Head, next.Policy, next.PolicyErr, next.Horizon = head, policy, policyErr, horizon

	// Replay oldest first; read the files that are on the branch at head.
	touched := map[string]gitlog.Change{}
	var order []string
	removals := map[string]*Removal{}
	for _, c := range changes {
		p, err := request.ParsePath(c.Path)
		if err != nil {
			continue // not a request file (README, .gitkeep) or one the check rejects
		}
		id := p.ID()
		if c.Status == 'D' {
			delete(touched, id)
			removals[id] = &Removal{ID: id, Commit: c.Commit, At: c.At}
			continue
		}
		if _, seen := touched[id]; !seen {
			order = append(order, id)
		}
		delete(removals, id)
		touched[id] = c
	}
	// One git process reads the files on the branch and the deleted ones as
	// they were just before their deletion (to know whose grant was revoked).
	var specs, ids []string
	for _, id := range order {
		if c, ok := touched[id]; ok {
			specs = append(specs, head+":"+c.Path)
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
		specs = append(specs, r.Commit+"^:requests/"+id+".yaml")
		removedIDs = append(removedIDs, id)
	}
	blobs, err := l.git.Blobs(ctx, specs, request.MaxSize)
	if err != nil {
		return err
	}
	for i, id := range removedIDs {
		r := removals[id]
		if data := blobs[len(ids)+i].Data; data != nil {
			r.Request, _ = request.Parse("requests/"+id+".yaml", data)
		}
		next.remove(id, r)
	}
	for i, id := range ids {
		c := touched[id]
		g := &Grant{ID: id, Path: c.Path, Commit: c.Commit, CommittedAt: c.At}
		if data := blobs[i].Data; data == nil {
			g.Invalid = "the file is missing or over the size limit"
		} else {
			g.Digest = sha256.Sum256(data)
			req, err := request.Parse(c.Path, data)
			if err != nil {
				g.Invalid = err.Error()
			} else {
				req.Lines = nil // positions serve annotations, not issuance: keep grants small
				g.Request = req
			}
		}
		next.add(id, g)
	}
	// Forget grants whose window is over for good.
	for id, g := range next.grants {
		if g.CommittedAt.Before(horizon) {
			next.drop(id)
		}
	}
	next.SyncedAt = now
	l.cur.Store(next)
	l.cfg.Logger.Info("ledger synced", "head", head, "grants", next.Len(), "changes", len(changes), "policy_error", errString(policyErr))
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
