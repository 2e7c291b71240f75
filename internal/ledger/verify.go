package ledger

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"

	"github.com/elevate-gitops/elevate/internal/custody"
)

// Verification is the chain of custody's word on a grant.
type Verification = custody.Verification

// verify returns the cached verdict on g in index x, asking the verifier once.
func (l *Ledger) verify(ctx context.Context, x *Index, g *Grant) (*Verification, error) {
	key := g.key()
	l.stateMu.Lock()
	v, ok := l.verified[key]
	l.stateMu.Unlock()
	if ok {
		return v, nil
	}
	l.verifyCall.Add(1)
	ref := g.ref()
	if g.Request != nil && g.Request.Emergency {
		ref.Earlier = x.earlierEmergencies(g)
	}
	v, err := l.cfg.Verifier.Grant(ctx, x.TrustBefore(g), ref)
	if err != nil {
		return nil, err
	}
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	if !v.Retry {
		l.verified[key] = v
	}
	if !v.OK {
		l.cfg.Logger.Warn("grant refused by re-verification", "request", g.ID, "commit", g.Step.After, "reason", v.Reason)
	}
	return v, nil
}

// earlierEmergencies are the other emergency requests added to the branch
// at or before g (a tie counts both ways), whatever became of them: the
// verifier refuses g while one of its author's waits for its owners'
// review. Revoking one's own, or using its path again, changes nothing.
func (x *Index) earlierEmergencies(g *Grant) []custody.Earlier {
	var out []custody.Earlier
	for _, o := range x.emergencies {
		if (o.Path == g.Path && o.Step.After == g.Step.After) || o.Step.At.After(g.Step.At) {
			continue
		}
		out = append(out, custody.Earlier{Grant: o.ref(), Trust: x.TrustBefore(o)})
	}
	return out
}

// cached returns the verdict on g if it is known.
func (l *Ledger) cached(g *Grant) (*Verification, bool) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	v, ok := l.verified[g.key()]
	return v, ok
}

// VerifyAll verifies, a few at a time, every valid grant of the current
// index that has no verdict yet and whose window can still be open, and
// every emergency request of the window (whose review later ones wait
// for), so that issuing later needs no GitHub call. A closed window is
// never asked about: on a busy ledger most of the window's grants are. It
// returns every error met; those grants are asked again on use.
func (l *Ledger) VerifyAll(ctx context.Context) error {
	x := l.Index()
	if x == nil {
		return nil
	}
	now := l.cfg.Now()
	var todo []*Grant
	for _, g := range x.grants {
		if _, ok := l.cached(g); !ok && g.Request != nil && (g.mayBeOpen(now) || g.Request.Emergency) {
			todo = append(todo, g)
		}
	}
	errs := make([]error, len(todo))
	var eg errgroup.Group
	eg.SetLimit(4)
	for i, g := range todo {
		eg.Go(func() error { _, errs[i] = l.verify(ctx, x, g); return nil })
	}
	_ = eg.Wait()
	all := errors.Join(errs...)
	if len(todo) > 0 {
		l.save(x)
	}
	return all
}

// VerifyCalls counts calls made to the verifier for grants (for tests and metrics).
func (l *Ledger) VerifyCalls() int64 { return l.verifyCall.Load() }
