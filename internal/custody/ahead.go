package custody

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/elevate-gitops/elevate/internal/gitlog"
)

// Ahead compares the trees of moves while GitHub's activity is still
// being listed, newest first, on readers of its own: a cold start's reading
// of git overlaps its waiting on GitHub. What it compared, Steps does not
// compare again; a comparison that fails is left for Steps, which reports
// it. It only reads content addressed by SHA, so a move it was told of that
// the listing later refuses costs time, nothing else.
type Ahead struct {
	git     forker
	horizon time.Time
	ctx     context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	wake    *sync.Cond
	pending []Move // not taken yet, newest first
	done    map[diffKey][]Change
	stopped bool
	workers sync.WaitGroup
}

type diffKey struct {
	before, after string
	window        bool
}

func keyOf(m Move, horizon time.Time) diffKey {
	return diffKey{m.Before, m.After, !m.At.Before(horizon)}
}

// aheadBatch is how many consecutive moves a worker takes at once: a
// move's after is the next one's before, read once.
const aheadBatch = 64

// NewAhead starts comparing, on all cores but one, the moves it is told of
// (See); nil when git cannot open more readers.
func NewAhead(ctx context.Context, git Git, horizon time.Time) *Ahead {
	f, ok := git.(forker)
	if !ok {
		return nil
	}
	a := &Ahead{git: f, horizon: horizon, done: map[diffKey][]Change{}}
	a.ctx, a.cancel = context.WithCancel(ctx)
	a.wake = sync.NewCond(&a.mu)
	// One core is left to the listing itself.
	for range max(1, min(runtime.GOMAXPROCS(0), 8)-1) {
		a.workers.Add(1)
		go a.work()
	}
	return a
}

// See is told of a move as the listing meets it.
func (a *Ahead) See(m Move) {
	if a == nil || m.Before == gitlog.NoCommit || m.After == gitlog.NoCommit || m.Before == "" {
		return
	}
	a.mu.Lock()
	a.pending = append(a.pending, m)
	if len(a.pending) >= aheadBatch {
		a.wake.Signal()
	}
	a.mu.Unlock()
}

// Stop ends the work (a comparison under way is finished) and waits for it.
func (a *Ahead) Stop() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.stopped = true
	a.wake.Broadcast()
	a.mu.Unlock()
	a.workers.Wait()
	a.cancel()
}

func (a *Ahead) work() {
	defer a.workers.Done()
	var g *gitlog.Repo
	defer func() {
		if g != nil {
			g.Close()
		}
	}()
	for {
		a.mu.Lock()
		for !a.stopped && len(a.pending) < aheadBatch {
			a.wake.Wait()
		}
		if a.stopped {
			a.mu.Unlock()
			return
		}
		batch := slices.Clone(a.pending[:aheadBatch])
		a.pending = a.pending[aheadBatch:]
		a.mu.Unlock()
		if g == nil {
			var err error
			if g, err = a.git.Fork(); err != nil {
				return
			}
		}
		for _, m := range slices.Backward(batch) { // oldest first: each tree is read once
			a.mu.Lock()
			stopped := a.stopped
			a.mu.Unlock()
			if stopped {
				return
			}
			changes, err := g.Diff(a.ctx, m.Before, m.After, pathsOf(m, a.horizon), maxStepChanges)
			if err != nil {
				continue
			}
			a.mu.Lock()
			a.done[keyOf(m, a.horizon)] = changes
			a.mu.Unlock()
		}
	}
}

// known is what Ahead compared of m.
func (a *Ahead) known(m Move, horizon time.Time) ([]Change, bool) {
	if a == nil || !horizon.Equal(a.horizon) {
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.done[keyOf(m, horizon)]
	return c, ok
}
