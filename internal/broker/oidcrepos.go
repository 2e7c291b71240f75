package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/identity"
)

// resolveWait bounds how long a caller waits for a resolution in flight.
const resolveWait = 3 * time.Second

// oidcRepos resolves --oidc-repositories to ids through GitHub (names can
// be reclaimed by someone else, ids cannot), at start and then again, with
// backoff, for each entry GitHub could not resolve: a repository the App
// cannot see, or GitHub failing, never stops the broker. Until an entry is
// resolved its tokens are refused, /healthz counts it and the log names it.
type oidcRepos struct {
	gh      *github.Client
	backoff retryBackoff
	logger  *slog.Logger
	sem     chan struct{} // one round of look-ups at a time

	mu      sync.Mutex
	entries []*repoEntry
}

type repoEntry struct {
	name     string
	repo     *identity.Repository // nil until resolved
	why      identity.Unresolved
	failures int
	next     time.Time
}

func newOIDCRepos(gh *github.Client, names []string, backoff retryBackoff, logger *slog.Logger) *oidcRepos {
	o := &oidcRepos{gh: gh, backoff: backoff, logger: logger, sem: make(chan struct{}, 1)}
	for _, n := range names {
		o.entries = append(o.entries, &repoEntry{name: n, why: identity.Unresolved{Name: n, Reason: "not looked up yet"}})
	}
	return o
}

// Repositories is identity.RepositorySource. Before the first look-up of
// an entry ended, a caller waits for it (at most resolveWait); later
// retries that are due run behind the caller: a token never waits for
// GitHub to fail again.
func (o *oidcRepos) Repositories(ctx context.Context) ([]identity.Repository, []identity.Unresolved) {
	o.mu.Lock()
	due, first := o.due()
	o.mu.Unlock()
	switch {
	case first:
		ctx, cancel := context.WithTimeout(ctx, resolveWait)
		defer cancel()
		o.resolveDue(ctx, true)
	case len(due) > 0:
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), githubCallTimeout)
			defer cancel()
			o.resolveDue(ctx, false)
		}()
	}
	return o.snapshot()
}

// due lists the entries whose retry is due, and reports whether one was
// never looked up. Called with mu.
func (o *oidcRepos) due() (due []*repoEntry, first bool) {
	now := time.Now()
	for _, e := range o.entries {
		if e.repo == nil && !now.Before(e.next) {
			due = append(due, e)
			first = first || e.failures == 0
		}
	}
	return due, first
}

func (o *oidcRepos) snapshot() (resolved []identity.Repository, unresolved []identity.Unresolved) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	for _, e := range o.entries {
		if e.repo != nil {
			resolved = append(resolved, *e.repo)
			continue
		}
		u := e.why
		u.RetryAfter = max(0, e.next.Sub(now))
		unresolved = append(unresolved, u)
	}
	return resolved, unresolved
}

// resolveDue looks up the unresolved entries whose retry is due, one round
// at a time: with wait, a caller finding a round in flight waits for it
// until ctx ends; without, it leaves it to that round.
func (o *oidcRepos) resolveDue(ctx context.Context, wait bool) {
	select {
	case o.sem <- struct{}{}:
	default:
		if !wait {
			return
		}
		select {
		case o.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
	}
	defer func() { <-o.sem }()
	o.mu.Lock()
	due, _ := o.due()
	o.mu.Unlock()
	for _, e := range due {
		id, owner, err := githubapi.RepositoryIDs(ctx, o.gh, e.name)
		o.mu.Lock()
		if err == nil {
			e.repo = &identity.Repository{Name: e.name, ID: id, OwnerID: owner}
			o.mu.Unlock()
			o.logger.Info("--oidc-repositories: resolved", "repository", e.name, "id", id)
			continue
		}
		e.failures++
		e.why = unresolvedWhy(e.name, err, time.Now())
		e.next = time.Now().Add(o.backoff.wait(e.failures, err, time.Now()))
		o.mu.Unlock()
		o.logger.Warn("--oidc-repositories: could not resolve a repository; its Actions tokens are refused until it can", "repository", e.name, "reason", e.why.Reason, "retry_at", e.next.UTC().Format(time.RFC3339))
	}
}

// run resolves in the background until every entry is, so /healthz and
// the first token see GitHub's answer without waiting for a caller.
func (o *oidcRepos) run(ctx context.Context) {
	for {
		o.resolveDue(ctx, true)
		o.mu.Lock()
		var next time.Time
		for _, e := range o.entries {
			if e.repo == nil && (next.IsZero() || e.next.Before(next)) {
				next = e.next
			}
		}
		o.mu.Unlock()
		if next.IsZero() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(time.Millisecond, next.Sub(time.Now()))):
		}
	}
}

// warnings says how many entries are not resolved, for /healthz, which
// anyone may read: it names none (a private repository's name is not for
// everyone); the log does.
func (o *oidcRepos) warnings() []string {
	if o == nil {
		return nil
	}
	_, unresolved := o.snapshot()
	switch n := len(unresolved); n {
	case 0:
		return nil
	case 1:
		return []string{"1 repository of --oidc-repositories is not resolved, so its Actions tokens are refused: the broker's log names it and says why"}
	default:
		return []string{fmt.Sprintf("%d repositories of --oidc-repositories are not resolved, so their Actions tokens are refused: the broker's log names them and says why", n)}
	}
}

// unresolvedWhy says, safe to show a caller, why GitHub did not resolve name.
func unresolvedWhy(name string, err error, now time.Time) identity.Unresolved {
	if wait, limited := githubapi.RateLimited(err, now); limited {
		return identity.Unresolved{Name: name, Reason: fmt.Sprintf("GitHub is rate-limiting the broker for %s", wait.Round(time.Second))}
	}
	if errors.Is(err, githubapi.ErrNotFound) {
		return identity.Unresolved{Name: name, Definitive: true, Reason: "GitHub answered not found: the broker's App or token cannot see it"}
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return identity.Unresolved{Name: name, Reason: "GitHub answered " + er.Response.Status}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return identity.Unresolved{Name: name, Reason: "GitHub did not answer in time"}
	}
	return identity.Unresolved{Name: name, Reason: "GitHub could not be reached"}
}

// retryBackoff is how long the broker waits before asking GitHub again
// after a failure: first, doubling with each failure up to most, and never
// less than GitHub asked (Retry-After, X-RateLimit-Reset). It runs on the
// real clock, whatever clock grants are judged by.
type retryBackoff struct{ first, most time.Duration }

func (b retryBackoff) wait(failures int, err error, now time.Time) time.Duration {
	d := b.first
	for i := 1; i < failures && d < b.most; i++ {
		d *= 2
	}
	d = min(d, b.most)
	if asked, limited := githubapi.RateLimited(err, now); limited {
		d = max(d, asked)
	}
	return d
}
