package broker

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/audit"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/endsession"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/notify"
	"github.com/elevate-gitops/elevate/internal/request"
)

// reviewReader is what the emergency check reads from GitHub.
type reviewReader interface {
	PullRequest(ctx context.Context, number int) (*github.PullRequest, error)
	Reviews(ctx context.Context, number int) ([]*github.PullRequestReview, error)
}

// notices compares each sync with the one before and announces what
// changed: grants merged (emergency ones loudly) and revocations, and
// emergency grants still unreviewed a day after their merge. Each notice
// names its event (the grant and the commit), so the notifier sends it once
// however many replicas see it. The first sync of a process only
// remembers, unless lookBack is set (claims shared by every replica): then
// it also announces what happened within lookBack, which no live replica
// may have seen (a Lambda cold start after a quiet hour).
type notices struct {
	notifier *notify.Notifier
	reviews  reviewReader
	git      approval.FileReader    // the policy before each emergency's merge
	members  eligibility.Membership // its owners' teams
	prLink   func(pr int) string
	logger   *slog.Logger
	lookBack time.Duration

	mu        sync.Mutex
	primed    bool
	grants    map[string]bool // by id@commit
	removed   map[string]bool // by id@commit
	unreviews map[string]bool // emergency grants already announced as unreviewed
}

// noticeLookBack is how far back a replica's first sync announces, with
// shared claims: what a replica may have missed, not a day of old news at
// a fleet's first start.
const noticeLookBack = time.Hour

func (n *notices) check(ctx context.Context, led *ledger.Ledger, now time.Time) {
	x := led.Index()
	if x == nil {
		return
	}
	// Grants are announced once GitHub recorded their merge (a move not
	// listed yet may still split into several merges, each its own
	// commit); revocations at once, named by the version they revoke.
	recorded := x.Recorded()
	n.mu.Lock()
	defer n.mu.Unlock()
	grants, removed := map[string]bool{}, map[string]bool{}
	recorded.Grants(func(g *ledger.Grant) { grants[g.ID+"@"+g.Step.After] = true })
	x.Revocations(func(r *ledger.Removal) { removed[revocationID(r)] = true })
	// news is what the last check did not see, or with nothing seen yet,
	// what happened within the look-back.
	news := func(seen map[string]bool, id string, at time.Time) bool {
		if n.primed {
			return !seen[id]
		}
		return n.lookBack > 0 && now.Sub(at) <= n.lookBack
	}
	recorded.Grants(func(g *ledger.Grant) {
		id := g.ID + "@" + g.Step.After
		if g.Request == nil || !news(n.grants, id, g.Step.At) {
			return
		}
		r := g.Request
		if r.Emergency {
			n.notifier.Send(notify.Event{Kind: notify.EmergencyMerged, ID: id, Text: fmt.Sprintf("🚨 *EMERGENCY elevate grant merged:* `%s` by %s, role %s in %s for %s, ticket %s, without approval. Its code owners must review it within 24 hours: %s",
				g.ID, esc(r.Requester), esc(r.Role), esc(r.Account), request.FormatDuration(r.Duration), esc(r.Ticket), n.link(led, g.ID))})
			return
		}
		state := "active"
		if r.NotBefore.After(now) {
			state = "scheduled from " + r.NotBefore.UTC().Format(time.RFC3339)
		}
		n.notifier.Send(notify.Event{Kind: notify.GrantMerged, ID: id, Text: fmt.Sprintf("🔓 *elevate grant merged* (%s): `%s` by %s, role %s in %s for %s. %s", state, g.ID, esc(r.Requester), esc(r.Role), esc(r.Account), request.FormatDuration(r.Duration), n.link(led, g.ID))})
	})
	x.Revocations(func(r *ledger.Removal) {
		id := revocationID(r)
		if !news(n.removed, id, r.At) {
			return
		}
		who := ""
		if r.Request != nil {
			who = fmt.Sprintf(" (%s, role %s in %s)", esc(r.Request.Requester), esc(r.Request.Role), esc(r.Request.Account))
		}
		n.notifier.Send(notify.Event{Kind: notify.Revoked, ID: id, Text: fmt.Sprintf("🔒 *elevate grant revoked:* `%s`%s at %s (commit %.12s).", r.ID, who, r.At.UTC().Format(time.RFC3339), r.Commit)})
	})
	n.primed, n.grants, n.removed = true, grants, removed
	n.emergencies(ctx, led, now)
}

// revocationID names a revocation by the version of the grant it revoked
// (its id and the commit that added it), the same whether or not GitHub
// has recorded the revoking merge yet.
func revocationID(r *ledger.Removal) string {
	return r.ID + "@" + cmp.Or(r.Added.After, r.Commit)
}

// link is the grant's PR as a link, or its id when no verdict names it.
func (n *notices) link(led *ledger.Ledger, id string) string {
	if pr := led.PullOf(id); pr != 0 {
		return n.prLink(pr)
	}
	return "(its PR is not verified yet)"
}

// emergencies announces, once, each live emergency grant that none of its
// owners approved within 24 hours of its merge, by the request decision's
// own rule (approval.ReviewedEmergency).
func (n *notices) emergencies(ctx context.Context, led *ledger.Ledger, now time.Time) {
	if n.reviews == nil {
		return
	}
	if n.unreviews == nil {
		n.unreviews = map[string]bool{}
	}
	for _, g := range led.Emergencies() {
		if n.unreviews[g.ID] || now.Before(g.MergedAt.Add(audit.ReviewWindow)) || !now.Before(g.MergedAt.Add(audit.ReviewWindow+48*time.Hour)) {
			continue
		}
		by, err := n.reviewed(ctx, g)
		if err != nil {
			n.logger.Warn("could not read the review of an emergency grant", "request", g.ID, "error", err)
			continue
		}
		n.unreviews[g.ID] = true
		if len(by) == 0 {
			n.notifier.Send(notify.Event{Kind: notify.EmergencyUnreviewed, ID: fmt.Sprintf("%s@%d", g.ID, g.PR), Text: fmt.Sprintf("⚠️ *elevate:* the EMERGENCY grant `%s` of %s was merged %s and no code owner has approved it since. Review it: %s",
				g.ID, esc(g.Login), g.MergedAt.UTC().Format(time.RFC3339), n.prLink(g.PR))})
		}
	}
}

// reviewed lists the owners who approved g within ReviewWindow of its merge.
func (n *notices) reviewed(ctx context.Context, g ledger.EmergencyGrant) ([]string, error) {
	pr, err := n.reviews.PullRequest(ctx, g.PR)
	if err != nil {
		return nil, err
	}
	reviews, err := n.reviews.Reviews(ctx, g.PR)
	if err != nil {
		return nil, err
	}
	return approval.ReviewedEmergency(ctx, n.git, n.members, pr, g.Path, g.Before, reviews, g.MergedAt.Add(audit.ReviewWindow))
}

// esc is notify.Escape: every value a requester or a token wrote.
var esc = notify.Escape

// endedText is the notice of sessions ended.
func endedText(ended []endsession.Ended) string {
	var parts []string
	for _, e := range ended {
		who := e.Login
		if who == "" {
			who = "everyone"
		}
		parts = append(parts, fmt.Sprintf("`%s` (%s, role %s in %s, sessions issued before %s)", e.Grant, esc(who), esc(e.Role), e.AccountID, e.Before.UTC().Format(time.RFC3339)))
	}
	return "🛑 *elevate ended live AWS sessions:* " + strings.Join(parts, "; ") + "."
}
