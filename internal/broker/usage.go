package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/claim"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/identity"
	"github.com/elevate-gitops/elevate/internal/notify"
	"github.com/elevate-gitops/elevate/internal/prcomment"
)

// usageQueue bounds the sessions waiting to be told to their PR.
const usageQueue = 4096

// session is one issuance of Grant, to tell PR of.
type session struct {
	prcomment.Session
	Grant string
	PR    int
}

// commentUpdater is the GitHub call the usage worker makes.
type commentUpdater interface {
	UpdateCommentWhere(ctx context.Context, number int, mine func(*github.IssueComment) bool, update func(old string) string, create func(context.Context) (bool, error)) (string, error)
}

// commentKey seals the state of the broker's comments with secret (the
// state key), so every replica and restart reads the others' count. Without
// one, a key of this process's own: its count starts again with each start,
// and no comment someone else wrote is ever read or edited as its own.
func commentKey(secret string) *prcomment.Key {
	if secret != "" {
		return prcomment.NewKey([]byte(secret))
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prcomment.NewKey(b)
}

// usage tells each grant's PR when, by whom and how often it was used: the
// first session makes one comment, later ones update it with a count and
// the last time. It runs after the issuance: Record never waits, and the
// issuance path makes no GitHub call.
type usage struct {
	gh       commentUpdater
	once     *onceAcross // who creates the comment, and sends the notice
	key      *prcomment.Key
	notifier *notify.Notifier
	prLink   func(pr int) string
	logger   *slog.Logger
	queue    chan session
	backoff  time.Duration
}

func newUsage(ctx context.Context, gh commentUpdater, once *onceAcross, key *prcomment.Key, n *notify.Notifier, prLink func(int) string, logger *slog.Logger) *usage {
	u := &usage{gh: gh, once: once, key: key, notifier: n, prLink: prLink, logger: logger, queue: make(chan session, usageQueue), backoff: time.Second}
	go u.run(ctx)
	return u
}

// Record queues s; a full queue drops it (logged), never blocking issuance.
func (u *usage) Record(s session) {
	if u == nil {
		return
	}
	select {
	case u.queue <- s:
	default:
		u.logger.Warn("the queue of sessions to tell their PRs is full: dropped", "request", s.Grant)
	}
}

func (u *usage) run(ctx context.Context) {
	for {
		var first session
		select {
		case <-ctx.Done():
			return
		case first = <-u.queue:
		}
		// Sessions that came meanwhile are told in one update per grant.
		batch := map[string][]session{first.Grant: {first}}
	drain:
		for {
			select {
			case s := <-u.queue:
				batch[s.Grant] = append(batch[s.Grant], s)
			default:
				break drain
			}
		}
		for _, sessions := range batch {
			u.tell(ctx, sessions)
		}
	}
}

// tell updates the grant's sticky comment, retrying a few times when
// GitHub fails, and for as long as it takes when the claim store does.
// Its first session is announced once the comment says it was the first,
// or, when the comment cannot be written, anyway: the notice's own claim
// keeps it to one.
func (u *usage) tell(ctx context.Context, sessions []session) {
	s := sessions[0]
	if s.PR == 0 {
		return
	}
	firstUse := false
	err := retryComment(ctx, u.backoff, usageAttempts, func() error {
		_, err := u.gh.UpdateCommentWhere(ctx, s.PR, u.key.MineSessions(s.Grant), func(old string) string {
			st, _ := u.key.ParseSessions(s.Grant, old)
			firstUse = st.Count == 0
			for _, x := range sessions {
				st.Add(x.Session)
			}
			return u.key.SessionsBody(s.Grant, st)
		}, u.once.create("sessions", s.Grant, s.PR))
		switch {
		case errors.Is(err, githubapi.ErrNotCreated):
			u.logger.Info("another replica creates the PR's comment of sessions; updating it next", "request", s.Grant, "pr", s.PR)
		case err != nil:
			u.logger.Warn("could not tell the PR of a session; retrying", "request", s.Grant, "pr", s.PR, "error", err)
		}
		return err
	})
	switch {
	case err == nil && firstUse:
		u.firstUse(s)
	case err != nil && ctx.Err() == nil:
		u.logger.Error("could not tell the PR of a session; its first use is announced without the comment", "request", s.Grant, "pr", s.PR)
		u.firstUse(s)
	}
}

// retryComment calls write until it succeeds: at most attempts times while
// GitHub fails, and for as long as the claim store does (a comment is
// late, never written twice), waiting first, doubling up to 30 s. It
// returns write's last error, or ctx's.
func retryComment(ctx context.Context, first time.Duration, attempts int, write func() error) error {
	wait := first
	for attempt := 0; ; {
		err := write()
		if err == nil {
			return nil
		}
		if !errors.Is(err, githubapi.ErrCreateUnclaimed) {
			attempt++
		}
		if attempt >= attempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// usageAttempts bounds the tries of a session's comment while GitHub fails.
const usageAttempts = 5

// firstUse announces s as its grant's first session.
func (u *usage) firstUse(s session) {
	u.notifier.Send(notify.Event{Kind: notify.FirstSession, ID: fmt.Sprintf("%s@%d", s.Grant, s.PR), Text: fmt.Sprintf("🔑 *elevate:* `%s` was used for the first time by %s (%s) as role %s in %s, session until %s. %s",
		s.Grant, esc(s.Login), esc(s.Via), esc(s.Role), esc(s.Account), s.Until.UTC().Format(time.RFC3339), u.prLink(s.PR))})
}

// onceAcross makes what elevate writes once per grant (a PR comment, a
// notice) written by one replica however many run, through claims shared
// by all of them (--notify-table) or held by this process alone. A claim
// this process won stays its own: its create may fail and be tried again.
type onceAcross struct {
	claims claim.Claimer
	mu     sync.Mutex
	mine   map[string]time.Time // claims won, until they expire
}

// commentClaimTTL is how long a replica holds the creation of a comment:
// long enough to create it, short enough that a replica that died first
// leaves it to another.
const commentClaimTTL = 10 * time.Minute

// create is UpdateCommentWhere's gate for the comment of kind about grant
// on PR pr: only the replica that claims it creates it; the others edit
// what it created.
func (o *onceAcross) create(kind, grant string, pr int) func(context.Context) (bool, error) {
	if o == nil {
		return nil
	}
	id := fmt.Sprintf("comment/%s/%s@%d", kind, grant, pr)
	return func(ctx context.Context) (bool, error) {
		o.mu.Lock()
		held := time.Now().Before(o.mine[id])
		o.mu.Unlock()
		if held {
			return true, nil
		}
		until := time.Now().Add(commentClaimTTL)
		won, err := o.claims.Claim(ctx, id, commentClaimTTL)
		if won {
			o.mu.Lock()
			if o.mine == nil {
				o.mine = map[string]time.Time{}
			}
			for k, t := range o.mine {
				if time.Now().After(t) {
					delete(o.mine, k)
				}
			}
			o.mine[id] = until
			o.mu.Unlock()
		}
		return won, err
	}
}

// via says how the caller proved who they were.
func via(id *identity.Identity) string {
	if id.Via == identity.ViaOIDC {
		if id.Workflow != "" {
			return "GitHub Actions workflow " + id.Workflow
		}
		return "a GitHub Actions token"
	}
	return "a GitHub user token"
}
