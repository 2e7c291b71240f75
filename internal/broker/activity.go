package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/claim"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/prcomment"
)

// activityReads are when, after a grant ends (its window's end, or its
// revocation), its trail is read: soon after, then again as CloudTrail
// delivers late files, the last a day after the window's end. Each read
// is made by one replica, and edits the one comment.
var activityReads = []time.Duration{15 * time.Minute, time.Hour, 6 * time.Hour}

// activityLookBack is how long after a window's end, or a revocation,
// a grant is looked at: its last read, and any window length before it.
const activityLookBack = activity.LateFiles + 2*time.Hour + 31*24*time.Hour

// activityClaimTTL is how long a read stays claimed: past the last read.
const activityClaimTTL = 48 * time.Hour

// activityReaders bounds the grants whose trail is read at once.
const activityReaders = 2

// activityReporter sums up, on each grant's PR, what its sessions did, as
// the organisation trail recorded it. It runs after syncs, never on the
// issuance path: Issued only remembers a key.
type activityReporter struct {
	bucket activity.Bucket
	loc    activity.Location
	gh     commentUpdater
	once   *onceAcross
	claims claim.Claimer
	key    *prcomment.Key
	logger *slog.Logger
	ctx    context.Context
	// incomplete counts reads that could not read everything ("trail") or
	// whose comment could not be written ("comment").
	incomplete func(reason string)
	// caller asks AWS who the broker is: only its AssumeRole calls make a
	// session a grant's.
	caller func(context.Context) (*activity.Caller, error)
	me     *activity.Caller

	mu      sync.Mutex
	done    map[string]time.Time         // reads made or claimed elsewhere, by claim id, until forgotten
	mine    map[string]bool              // reads this replica claimed and has not finished: tried again
	running map[string]bool              // grants being read now
	issued  map[string][]activity.Issued // sessions issued, by grant
	nIssued int
	wg      sync.WaitGroup
	slots   chan struct{}
}

// maxIssued bounds the sessions remembered; past it the reporter forgets
// them all and the trail's AssumeRole events stand in.
const maxIssued = 100000

func newActivityReporter(ctx context.Context, bucket activity.Bucket, loc activity.Location, gh commentUpdater, once *onceAcross, claims claim.Claimer, key *prcomment.Key, logger *slog.Logger,
	caller func(context.Context) (*activity.Caller, error), incomplete func(reason string)) *activityReporter {
	return &activityReporter{bucket: bucket, loc: loc, gh: gh, once: once, claims: claims, key: key, logger: logger, ctx: ctx, caller: caller, incomplete: incomplete,
		done: map[string]time.Time{}, mine: map[string]bool{}, running: map[string]bool{}, issued: map[string][]activity.Issued{}, slots: make(chan struct{}, activityReaders)}
}

// Issued remembers a session the broker issued for grant.
func (a *activityReporter) Issued(grant string, s activity.Issued) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nIssued >= maxIssued {
		a.issued, a.nIssued = map[string][]activity.Issued{}, 0
	}
	a.issued[grant] = append(a.issued[grant], s)
	a.nIssued++
}

// due is the latest read of a grant that ended at ended (window end end)
// that is due at now, and its number; false when none is, or the last
// one's time has passed by more than an hour (a broker that was down
// does not read week-old windows).
func due(ended, end, now time.Time) (int, bool) {
	points := make([]time.Time, 0, len(activityReads)+1)
	for _, d := range activityReads {
		points = append(points, ended.Add(d))
	}
	points = append(points, end.Add(activity.LateFiles))
	n := -1
	for i, p := range points {
		if !now.Before(p) {
			n = i
		}
	}
	if n < 0 || now.After(points[len(points)-1].Add(time.Hour)) {
		return 0, false
	}
	return n, true
}

// check starts the reads that are due: one per grant at a time, at most
// activityReaders at once, each behind a claim so that one replica makes
// it. It does not wait for them (Wait does).
func (a *activityReporter) check(led *ledger.Ledger, now time.Time) {
	x := led.Index()
	// Only a broker at the newest verified head reads: a stale one may
	// not know of a revocation yet.
	if x == nil || x.Policy == nil || !led.Current() {
		return
	}
	a.mu.Lock()
	for id, until := range a.done {
		if now.After(until) {
			delete(a.done, id)
		}
	}
	a.mu.Unlock()
	// A revoked grant's last read is a day after its window's end, which
	// may be weeks after the revocation.
	for _, w := range led.Windows(now, activityLookBack) {
		ended := w.End
		if !w.RevokedAt.IsZero() && w.RevokedAt.Before(ended) {
			ended = w.RevokedAt
		}
		n, ok := due(ended, w.End, now)
		if !ok || w.PR == 0 {
			continue
		}
		g, ok := a.grant(x.Policy, w)
		if !ok {
			continue
		}
		id := fmt.Sprintf("activity/%s@%d/%d", w.ID, w.PR, n)
		a.mu.Lock()
		_, made := a.done[id]
		skip := made || a.running[w.ID]
		if !skip {
			a.running[w.ID] = true
		}
		a.mu.Unlock()
		if skip {
			continue
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer func() {
				a.mu.Lock()
				delete(a.running, w.ID)
				a.mu.Unlock()
			}()
			a.read(id, n, w.PR, g, x.Policy.Sensitive, now)
		}()
	}
}

// grant is what a scan looks for of w: its role targets, with their
// accounts' ids at the head. Permission-set sessions carry no elevate tag
// and are not read.
func (a *activityReporter) grant(p *eligibility.Policy, w ledger.Window) (activity.Grant, bool) {
	g := activity.Grant{ID: w.ID, Login: w.Login, Start: w.Start, End: w.End, Revoked: w.RevokedAt}
	for _, t := range w.Targets {
		if t.IsPermissionSet() {
			continue
		}
		if id, ok := p.AccountID(t.Account); ok {
			g.Targets = append(g.Targets, activity.Target{AccountID: id, Role: t.Role})
		}
	}
	a.mu.Lock()
	g.Issued = append([]activity.Issued(nil), a.issued[w.ID]...)
	a.mu.Unlock()
	return g, len(g.Targets) > 0
}

// read makes one read of a grant's trail, once across replicas, and writes
// or edits the grant's activity comment.
func (a *activityReporter) read(id string, n, pr int, g activity.Grant, sensitive []string, now time.Time) {
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-a.ctx.Done():
		return
	}
	me, err := a.whoAmI()
	if err != nil {
		a.logger.Warn("activity: could not ask AWS who the broker is, whose AssumeRole calls alone make a grant's sessions; asking again at the next check", "request", g.ID, "error", err)
		return
	}
	a.mu.Lock()
	held := a.mine[id]
	a.mu.Unlock()
	if !held {
		won, err := a.claims.Claim(a.ctx, id, activityClaimTTL)
		if err != nil {
			a.logger.Warn("activity: could not claim a read of a grant's trail; asking again at the next check", "request", g.ID, "error", err)
			return
		}
		a.mu.Lock()
		if won {
			a.mine[id] = true
		} else {
			a.done[id] = now.Add(activityClaimTTL) // another replica reads it
		}
		a.mu.Unlock()
		if !won {
			return
		}
	}
	sum, err := activity.Scan(a.ctx, a.bucket, a.loc, g, activity.Options{Sensitive: sensitive, Now: now, Logger: a.logger, Broker: me})
	if err != nil {
		return // the broker is stopping
	}
	sum.Read, sum.Final = n+1, n == len(activityReads)
	if len(sum.Problems) > 0 {
		a.incomplete("trail")
		a.logger.Error("activity: the trail could not be read whole; the PR's comment says what is missing", "request", g.ID, "pr", pr, "problems", len(sum.Problems), "first", sum.Problems[0])
	}
	err = retryComment(a.ctx, time.Second, usageAttempts, func() error {
		_, err := a.gh.UpdateCommentWhere(a.ctx, pr, a.key.MineActivity(g.ID), func(old string) string {
			// A slower replica's older reading never replaces a newer one.
			if prev, ok := a.key.ParseActivity(g.ID, old); ok && prev.ReadAt.After(sum.ReadAt) {
				return old
			}
			return a.key.ActivityBody(g.ID, sum)
		}, a.once.create("activity", g.ID, pr))
		if errors.Is(err, githubapi.ErrNotCreated) {
			a.logger.Info("another replica creates the PR's activity comment; editing it next", "request", g.ID, "pr", pr)
		}
		return err
	})
	if err != nil {
		// The read stays this replica's: the next check tries it again.
		a.incomplete("comment")
		a.logger.Warn("activity: could not write the grant's activity comment; trying again at the next check", "request", g.ID, "pr", pr, "error", err)
		return
	}
	a.mu.Lock()
	delete(a.mine, id)
	a.done[id] = now.Add(activityClaimTTL)
	a.mu.Unlock()
	a.logger.Info("activity: summed up a grant's sessions on its PR", "request", g.ID, "pr", pr, "calls", sum.Calls, "sessions", sum.Sessions, "files", sum.Files)
}

// whoAmI is the broker's AWS identity, asked once.
func (a *activityReporter) whoAmI() (*activity.Caller, error) {
	a.mu.Lock()
	me := a.me
	a.mu.Unlock()
	if me != nil {
		return me, nil
	}
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	me, err := a.caller(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.me = me
	a.mu.Unlock()
	return me, nil
}

// Wait waits for the reads under way, or for ctx.
func (a *activityReporter) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
