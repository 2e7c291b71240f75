// Package notify posts what people should hear of (a grant merged, an
// emergency grant, a grant's first session, a revocation, ended sessions,
// a Deny that could not be written, an emergency grant still unreviewed)
// to a Slack-compatible incoming webhook as {"text": …}. It never blocks
// its caller: events wait in a bounded queue, a worker posts them with
// retries and backoff, and a full queue drops the event and says so in the
// log. Texts carry grant facts and links, never a credential or a token.
//
// Each event is sent once however many replicas see it: the worker claims
// the event's id (package claim) before it posts, and posts only what it
// won. A claim that cannot be made is asked again with backoff: the notice
// is late, never sent twice.
package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elevate-gitops/elevate/internal/claim"
)

// Kinds of events.
const (
	GrantMerged         = "grant_merged"
	EmergencyMerged     = "emergency_merged"
	FirstSession        = "first_session"
	Revoked             = "revoked"
	SessionsEnded       = "sessions_ended"
	DenyNotWritten      = "deny_not_written" // sessions that should end could not be ended
	EmergencyUnreviewed = "emergency_unreviewed"
)

// Event is one notice.
type Event struct {
	Kind string
	// ID names the event the same way on every replica that sees it (a
	// grant and the commit that merged it, say); with Kind it is what is
	// claimed. "" claims the text itself.
	ID   string
	Text string // Slack mrkdwn; links as <url|text>
}

// ClaimTTL is how long a claimed event stays claimed: longer than any
// replica may see it again (a notice looks back at most a few days).
const ClaimTTL = 7 * 24 * time.Hour

// claimID is what e is claimed under.
func (e Event) claimID() string {
	if e.ID == "" {
		sum := sha256.Sum256([]byte(e.Text))
		return "notice/" + e.Kind + "/text:" + hex.EncodeToString(sum[:])
	}
	return "notice/" + e.Kind + "/" + e.ID
}

// Escape makes a value from a request or an identity plain text in Slack's
// mrkdwn: its control sequences (<!channel>, <url|text>) start with "<".
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Queue and retry bounds.
const (
	queueSize   = 1024
	maxAttempts = 6
)

// Notifier posts events to URL. The zero value is not usable: use New.
type Notifier struct {
	url     string
	client  *http.Client
	logger  *slog.Logger
	claims  claim.Claimer
	backoff time.Duration
	queue   chan Event
	sent    atomic.Int64
	dropped atomic.Int64
	failed  atomic.Int64
	others  atomic.Int64 // claimed by another replica, or already waiting here: not to send
	queued  atomic.Int64 // accepted by Send

	// unclaimed are the events whose claim could not be made (the claim
	// store is unreachable), by claim id, tried again from the worker
	// until it answers; the worker goes on meanwhile.
	unclaimed map[string]Event
	retryAt   time.Time
	retryWait time.Duration
}

// maxUnclaimed bounds the events waiting for the claim store.
const maxUnclaimed = 4096

// New starts a notifier posting to url until ctx ends, sending only the
// events it claims in claims (nil: this process's memory, for one
// replica). client may be nil (10 s timeout).
func New(ctx context.Context, url string, client *http.Client, logger *slog.Logger, claims claim.Claimer) *Notifier {
	return start(ctx, url, client, logger, claims, time.Second)
}

func start(ctx context.Context, url string, client *http.Client, logger *slog.Logger, claims claim.Claimer, backoff time.Duration) *Notifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if claims == nil {
		claims = claim.NewMemory(nil)
	}
	n := &Notifier{url: url, client: client, logger: logger, claims: claims, backoff: backoff, queue: make(chan Event, queueSize)}
	go n.run(ctx)
	return n
}

// Send queues e without waiting; a full queue drops it.
func (n *Notifier) Send(e Event) {
	if n == nil {
		return
	}
	select {
	case n.queue <- e:
		n.queued.Add(1)
	default:
		n.dropped.Add(1)
		n.logger.Warn("notification queue full: dropped", "kind", e.Kind)
	}
}

// Counts reports events sent, dropped (queue full) and failed (every retry).
func (n *Notifier) Counts() (sent, dropped, failed int64) {
	return n.sent.Load(), n.dropped.Load(), n.failed.Load()
}

// SentElsewhere counts the events another replica claimed first.
func (n *Notifier) SentElsewhere() int64 { return n.others.Load() }

// Idle reports whether every event Send accepted is done with: sent,
// claimed elsewhere, or failed.
func (n *Notifier) Idle() bool {
	return n.sent.Load()+n.others.Load()+n.failed.Load() == n.queued.Load()
}

func (n *Notifier) run(ctx context.Context) {
	n.unclaimed = map[string]Event{}
	for {
		var retry <-chan time.Time
		if len(n.unclaimed) > 0 {
			retry = time.After(time.Until(n.retryAt))
		}
		select {
		case <-ctx.Done():
			return
		case e := <-n.queue:
			if _, waiting := n.unclaimed[e.claimID()]; waiting {
				n.others.Add(1) // the same event, already waiting for its claim
				continue
			}
			n.claimAndDeliver(ctx, e)
		case <-retry:
			held := n.unclaimed
			n.unclaimed = map[string]Event{}
			for _, e := range held {
				n.claimAndDeliver(ctx, e)
			}
			if len(n.unclaimed) > 0 {
				n.retryWait = min(2*n.retryWait, 30*time.Second)
				n.retryAt = time.Now().Add(n.retryWait)
			}
		}
	}
}

// claimAndDeliver posts e if this replica wins its claim. A claim that
// cannot be made holds e back (unclaimed), to be tried again with backoff:
// the notice is late, never sent on a claim not won.
func (n *Notifier) claimAndDeliver(ctx context.Context, e Event) {
	won, err := n.claims.Claim(ctx, e.claimID(), ClaimTTL)
	switch {
	case err != nil:
		if len(n.unclaimed) >= maxUnclaimed {
			n.failed.Add(1)
			n.logger.Error("too many notifications wait for the claim store: dropped", "kind", e.Kind)
			return
		}
		if len(n.unclaimed) == 0 {
			n.retryWait = n.backoff
			n.retryAt = time.Now().Add(n.retryWait)
		}
		n.unclaimed[e.claimID()] = e
		n.logger.Warn("could not claim a notification; it waits until the claim can be made", "kind", e.Kind, "error", err)
	case !won:
		n.others.Add(1)
		n.logger.Debug("notification claimed by another replica", "kind", e.Kind)
	default:
		n.deliver(ctx, e)
	}
}

// deliver posts e, with retries.
func (n *Notifier) deliver(ctx context.Context, e Event) {
	body, _ := json.Marshal(map[string]string{"text": e.Text})
	wait := n.backoff
	for attempt := 1; ; attempt++ {
		err := n.post(ctx, body)
		if err == nil {
			n.sent.Add(1)
			return
		}
		if attempt == maxAttempts || ctx.Err() != nil {
			// The URL is the webhook's secret: it is not logged.
			n.logger.Error("could not deliver a notification", "kind", e.Kind, "attempts", attempt, "error", err)
			n.failed.Add(1)
			return
		}
		select {
		case <-ctx.Done():
			n.failed.Add(1)
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (n *Notifier) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("the receiver is unreachable")
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}
