package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/identitycenter"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/notify"
)

// assignLookBack is how long after a permission-set grant ended it is
// still handed to the reconciler: its Deny and assignment are undone
// then, and a replica that was down meanwhile still undoes them.
const assignLookBack = 24 * time.Hour

// assigner makes Identity Center's account assignments follow the open,
// verified grants of permission sets (--identity-center): after each sync
// and at each window's start and end. It acts only from the newest
// verified head, so a stale replica never re-extends a Deny or re-creates
// a revoked assignment.
type assigner struct {
	// reconcilerFor builds a reconciler for the policy's Identity Center
	// (a new one when the policy changes where or what it manages).
	reconcilerFor func(ctx context.Context, ic *eligibility.IdentityCenter, sets map[string]string) (*identitycenter.Reconciler, error)
	logger        *slog.Logger
	notifier      noticeSender // nil: notices are only logged
	prLink        func(pr int) string
	ctx           context.Context // the broker's: boundary timers live as long as it
	check         func()          // runs one round behind the syncer's other checks
	// members and logins tell whether a grant's person is still eligible
	// at the head (logins is nil without --repo).
	members eligibility.Membership
	logins  loginLookup

	mu    sync.Mutex
	rec   *identitycenter.Reconciler
	key   string // of the policy section rec was built for
	timer *time.Timer
	at    time.Time // when timer fires
	// led and head are the ledger and the head the round in progress
	// read its grants at: it stops once either moved on (current).
	led       *ledger.Ledger
	head      string
	endingAll bool // the round in progress ends every assignment
	// cut holds when each target, by grant and target, was first seen
	// without its person's eligibility.
	cut map[string]time.Time
}

// roundTimeout bounds one round: the ended-sessions check of the next
// sync waits behind it.
const roundTimeout = 2 * time.Minute

// round reconciles once against the ledger at now and arms a timer for
// the next window boundary.
func (a *assigner) round(ctx context.Context, led *ledger.Ledger, now time.Time) {
	x := led.Index()
	if x == nil || x.Policy == nil || x.Policy.IdentityCenter == nil || len(x.Policy.PermissionSets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	var untrusted *custody.UntrustedError
	var rewritten *custody.RewrittenError
	if err := led.Trust(); errors.As(err, &untrusted) || errors.As(err, &rewritten) {
		// No grant can be vouched for: as every elevate session of a
		// role ends, every assignment of a managed set goes (and each
		// person's Deny moves to now). Nothing is created.
		rec, rerr := a.reconciler(ctx, x.Policy)
		if rerr != nil {
			a.logger.Error("identity center: cannot reach it", "error", rerr)
			return
		}
		a.logger.Error("identity center: the branch's history is not trusted, so every assignment of a managed permission set ends", "error", err)
		a.mu.Lock()
		a.led, a.endingAll = nil, true // a round with no grants creates nothing: nothing to stop
		a.mu.Unlock()
		if rerr := rec.Reconcile(ctx, nil, now); rerr != nil {
			a.logger.Error("identity center: some assignments could not be ended yet; tried again at the next sync", "error", rerr)
		}
		return
	}
	if !led.Current() {
		a.logger.Info("identity center: not reconciling from a head that is not the newest verified one; the next sync will")
		return
	}
	rec, err := a.reconciler(ctx, x.Policy)
	if err != nil {
		a.logger.Error("identity center: cannot reach it", "error", err)
		return
	}
	a.mu.Lock()
	a.led, a.head, a.endingAll = led, x.Head, false
	a.mu.Unlock()
	set := led.SetTargets(now, assignLookBack)
	targets := make([]identitycenter.Target, 0, len(set))
	var next time.Time
	for _, s := range set {
		id, _ := x.Policy.AccountID(s.Target.Account)
		t := identitycenter.Target{Request: s.ID, PR: s.PR, GitHubID: s.UserID, Login: s.Login,
			AccountName: s.Target.Account, AccountID: id, PermissionSet: s.Target.PermissionSet,
			Start: s.Start, End: s.End, RevokedAt: s.RevokedAt}
		if t.RevokedAt.IsZero() && now.Before(t.End) {
			t.RevokedAt = a.cutOff(ctx, x.Policy, s, now)
		}
		targets = append(targets, t)
		for _, b := range []time.Time{s.Start, s.End} {
			if b.After(now) && (next.IsZero() || b.Before(next)) {
				next = b
			}
		}
	}
	if err := rec.Reconcile(ctx, targets, now); err != nil {
		a.logger.Error("identity center: some assignments are not as the grants say yet; tried again at the next sync", "error", err)
	}
	a.arm(next, now)
}

// cutOff is when s's person lost the eligibility its target needs under
// the policy at the head (zero while they have it): the time this replica
// first saw it, kept, so the Deny's end never moves later. A membership
// that cannot be read counts as eligible for this round; the IAM Deny's
// end bounds the access meanwhile.
func (a *assigner) cutOff(ctx context.Context, p *eligibility.Policy, s ledger.SetTarget, now time.Time) time.Time {
	key := s.ID + " " + s.Target.String()
	ok, err := stillEligible(ctx, p, a.members, a.logins, s.Login, s.UserID, s.Target)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || ok {
		delete(a.cut, key)
		return time.Time{}
	}
	if a.cut == nil {
		a.cut = map[string]time.Time{}
	}
	if _, seen := a.cut[key]; !seen {
		a.cut[key] = now
		a.logger.Warn("identity center: no longer eligible under the policy at the head; the assignment ends", "request", s.ID, "target", s.Target.String(), "github_id", s.UserID)
	}
	return a.cut[key]
}

// arm schedules a round at the next window boundary.
func (a *assigner) arm(next, now time.Time) {
	if next.IsZero() || a.check == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.timer != nil && !a.at.After(next) && a.at.After(now) {
		return // an earlier round is already due
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	a.at = next
	a.timer = time.AfterFunc(next.Sub(now), a.check)
}

// reconciler is the one for p's Identity Center section, built once per
// version of it: a reconciler remembers what it wrote and polls.
func (a *assigner) reconciler(ctx context.Context, p *eligibility.Policy) (*identitycenter.Reconciler, error) {
	key := policyKey(p)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rec != nil && a.key == key {
		return a.rec, nil
	}
	rec, err := a.reconcilerFor(ctx, p.IdentityCenter, p.PermissionSets)
	if err != nil {
		return nil, err
	}
	a.rec, a.key = rec, key
	return rec, nil
}

// policyKey names what a reconciler is built from.
func policyKey(p *eligibility.Policy) string {
	h := sha256.New()
	ic := p.IdentityCenter
	fmt.Fprintf(h, "%s\n%s\n%s\n", ic.InstanceARN, ic.IdentityStoreID, ic.Region)
	for _, name := range slices.Sorted(maps.Keys(p.PermissionSets)) {
		fmt.Fprintf(h, "ps %s=%s\n", name, p.PermissionSets[name])
	}
	for _, id := range slices.Sorted(maps.Keys(ic.Users)) {
		fmt.Fprintf(h, "user %d=%s\n", id, ic.Users[id])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// current reports whether the round in progress still reads the newest
// verified head: a revocation read meanwhile stops it before it creates
// or extends anything.
func (a *assigner) current() bool {
	a.mu.Lock()
	led, head, endingAll := a.led, a.head, a.endingAll
	a.mu.Unlock()
	if endingAll {
		return true
	}
	if led == nil || !led.Current() {
		return false
	}
	x := led.Index()
	return x != nil && x.Head == head
}

// State is a target's assignment state as the last round left it.
func (a *assigner) State(request, account, permissionSet string) string {
	a.mu.Lock()
	rec := a.rec
	a.mu.Unlock()
	if rec == nil {
		return ""
	}
	return string(rec.State(request, account, permissionSet))
}

// notice announces what the reconciler reports, once across replicas: a
// failure once an hour while it lasts, a refusal and a removal once each.
func (a *assigner) notice(n identitycenter.Notice) {
	a.logger.Warn("identity center: "+n.Kind, "request", n.Request, "target", n.Target, "reason", n.Reason)
	if a.notifier == nil {
		return
	}
	id := n.Kind + "/" + n.Request + "/" + n.Target
	if n.Kind == identitycenter.NoticeFailed || n.Kind == identitycenter.NoticeRemoved {
		id += "/" + time.Now().UTC().Format("2006-01-02T15")
	}
	a.notifier.Send(notify.Event{Kind: n.Kind, ID: id, Text: assignmentText(n, a.prLink)})
}

// assignmentText is the notice of an assignment that failed, was refused,
// or was removed: the request, the target, the reason, the PR.
func assignmentText(n identitycenter.Notice, prLink func(int) string) string {
	what := map[string]string{
		identitycenter.NoticeFailed:  ":warning: Identity Center assignment *failed*",
		identitycenter.NoticeRefused: ":no_entry: Identity Center assignment *refused*",
		identitycenter.NoticeRemoved: ":broom: Identity Center assignment *removed*: no open grant explains it",
	}[n.Kind]
	text := fmt.Sprintf("%s for `%s`", what, notify.Escape(n.Target))
	if n.Request != "" {
		text += fmt.Sprintf(" of request `%s`", notify.Escape(n.Request))
	}
	if n.Reason != "" {
		text += ": " + notify.Escape(n.Reason)
	}
	if n.PR > 0 && prLink != nil {
		text += " (" + prLink(n.PR) + ")"
	}
	return text
}

// newReconcilerFor builds reconcilers on the SDK's clients of sso-admin
// and identitystore in the policy's region; the SDK's endpoint settings
// (AWS_ENDPOINT_URL_SSO_ADMIN, AWS_ENDPOINT_URL_IDENTITYSTORE) apply.
func newReconcilerFor(awsOpts []func(*config.LoadOptions) error, logger *slog.Logger, notify func(identitycenter.Notice), current func() bool) func(context.Context, *eligibility.IdentityCenter, map[string]string) (*identitycenter.Reconciler, error) {
	return func(ctx context.Context, ic *eligibility.IdentityCenter, sets map[string]string) (*identitycenter.Reconciler, error) {
		cfg, err := config.LoadDefaultConfig(ctx, append(slices.Clone(awsOpts), config.WithRegion(ic.Region))...)
		if err != nil {
			return nil, fmt.Errorf("load aws config: %w", err)
		}
		return identitycenter.New(ssoadmin.NewFromConfig(cfg), identitystore.NewFromConfig(cfg), identitycenter.Config{
			InstanceARN: ic.InstanceARN, IdentityStoreID: ic.IdentityStoreID, PermissionSets: maps.Clone(sets), Users: maps.Clone(ic.Users),
		}, identitycenter.Options{Logger: logger, Notify: notify, Current: current}), nil
	}
}
