package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/request"
)

// Ask is what a caller wants credentials for: a request id, or an account
// and role, or both to choose one target of a grant of several. Role names
// a permission set as ps/NAME (or by its name where no role is granted).
type Ask struct {
	UserID    int64
	Login     string
	RequestID string
	Account   string
	Role      string
}

// Found is a usable grant and the target asked for: verified, the
// caller's, and in its window.
type Found struct {
	Grant        *Grant
	Target       request.Target
	Verification *Verification
	Start, End   time.Time
}

// Refusals a caller can act on.
type (
	// NotSyncedError says the ledger cannot answer for certain yet: never
	// read, or a change on the branch is not verified yet, or the last
	// sync failed.
	NotSyncedError struct {
		Reason string
	}
	NoActiveGrantError struct {
		Ask Ask
		Why string
	}
	ExpiredError struct {
		ID            string
		End           time.Time
		Account, Role string
	}
	NotYetError struct {
		ID    string
		Start time.Time
	}
	RevokedError struct {
		ID            string
		At            time.Time
		Commit        string
		Account, Role string // "" when the revoked file was not in the index
	}
	AmbiguousError struct{ IDs []string }
	// TargetRequiredError says a grant of several targets was asked for
	// by its id alone: the caller must name the account and role.
	TargetRequiredError struct {
		ID      string
		Targets []request.Target
	}
)

func (e *TargetRequiredError) Error() string {
	return fmt.Sprintf("%s grants %d targets (%s): name the account and role too", e.ID, len(e.Targets), e.list())
}

// list names the targets: "prod:Admin, payments:ps/PaymentsAdmin".
func (e *TargetRequiredError) list() string {
	names := make([]string, len(e.Targets))
	for i, t := range e.Targets {
		names[i] = t.String()
	}
	return strings.Join(names, ", ")
}

func (e *NotSyncedError) Error() string {
	if e.Reason == "" {
		return "the ledger has not been read yet"
	}
	return "the ledger is not in sync: " + e.Reason
}
func (e *NoActiveGrantError) Error() string {
	what := e.Ask.RequestID
	if what == "" {
		what = e.Ask.Account + "/" + e.Ask.Role
	}
	if e.Why != "" {
		return fmt.Sprintf("no active grant for %s: %s", what, e.Why)
	}
	return "no active grant for " + what
}
func (e *ExpiredError) Error() string {
	return fmt.Sprintf("grant %s expired at %s", e.ID, e.End.UTC().Format(time.RFC3339))
}
func (e *NotYetError) Error() string {
	return fmt.Sprintf("grant %s opens at %s", e.ID, e.Start.UTC().Format(time.RFC3339))
}
func (e *RevokedError) Error() string {
	return fmt.Sprintf("grant %s was revoked at %s (commit %.12s)", e.ID, e.At.UTC().Format(time.RFC3339), e.Commit)
}
func (e *AmbiguousError) Error() string {
	return "the request id is ambiguous: it could be " + strings.Join(e.IDs, ", ")
}

// UntrustedGrantError says a grant was judged under a policy that is not
// trusted at its merge's first parent.
type UntrustedGrantError struct {
	ID  string
	Err *custody.UntrustedError
}

func (e *UntrustedGrantError) Error() string {
	return fmt.Sprintf("grant %s cannot be trusted: %v", e.ID, e.Err)
}

func (e *UntrustedGrantError) Unwrap() error { return e.Err }

// Find returns the caller's usable grant for ask. Errors are the refusals
// above, a trust refusal (Trust), or a verification error (GitHub
// unreachable): fail closed. A grant that cannot be verified never hides
// the caller's other grants for the same account and role.
func (l *Ledger) Find(ctx context.Context, ask Ask) (*Found, error) {
	if err := l.Trust(); err != nil {
		return nil, err
	}
	x := l.Index()
	if x == nil {
		return nil, &NotSyncedError{}
	}
	now := l.cfg.Now()
	if ask.RequestID != "" {
		f, err := l.findByID(ctx, x, ask, now)
		var none *NoActiveGrantError
		if errors.As(err, &none) {
			return nil, l.orNotSynced(x, err)
		}
		return f, err
	}
	var refusal, upstream error
	var best *Found
	// Only grants whose window can still be open are verified; of the
	// others, the caller's latest says when their access ended.
	var closed []*Grant
	for _, g := range l.byAsk(x, ask) {
		if !g.mayBeOpen(now) {
			if strings.EqualFold(g.Request.Requester, ask.Login) {
				closed = append(closed, g)
			}
			continue
		}
		f, err := l.usable(ctx, x, g, ask, now)
		mine := strings.EqualFold(g.Request.Requester, ask.Login)
		var verr *VerifyError
		var uerr *UntrustedGrantError
		switch {
		case errors.As(err, &verr):
			if mine && upstream == nil {
				upstream = err
			}
		case errors.As(err, &uerr):
			if mine {
				refusal = preferRefusal(refusal, err)
			}
		case err != nil:
			refusal = preferRefusal(refusal, err)
		case best == nil || f.End.After(best.End):
			best = f
			best.Target, _ = g.Request.Target(ask.Account, ask.Role)
		}
	}
	switch {
	case best != nil:
		return best, nil
	case upstream != nil:
		return nil, upstream
	case refusal != nil && rank(refusal) > 1:
		return nil, refusal
	}
	if err := l.lastExpired(ctx, x, closed, ask, now); err != nil {
		return nil, err
	}
	if r, ok := x.RemovedByAsk(ask.Login, ask.Account, ask.Role); ok {
		return nil, revokedError(r)
	}
	if r, ok := x.RemovedByAsk(ask.Login, ask.Account, request.PermissionSetPrefix+ask.Role); ok {
		return nil, revokedError(r)
	}
	if refusal != nil {
		return nil, refusal
	}
	return nil, l.orNotSynced(x, &NoActiveGrantError{Ask: ask})
}

// byAsk lists the grants with a target of ask's account and role: the
// role by its name, a permission set as ps/NAME, or by its bare name.
func (l *Ledger) byAsk(x *Index, ask Ask) []*Grant {
	list := x.ByRole(ask.Account, ask.Role)
	if strings.HasPrefix(ask.Role, request.PermissionSetPrefix) {
		return list
	}
	sets := x.ByRole(ask.Account, request.PermissionSetPrefix+ask.Role)
	if len(sets) == 0 {
		return list
	}
	return append(slices.Clip(list), sets...)
}

// lastExpired verifies the caller's closed grants, the latest end first,
// until one says their grant expired (nil when none does).
func (l *Ledger) lastExpired(ctx context.Context, x *Index, closed []*Grant, ask Ask, now time.Time) error {
	slices.SortFunc(closed, func(a, b *Grant) int {
		_, ea := a.Request.Window(a.Step.At)
		_, eb := b.Request.Window(b.Step.At)
		return eb.Compare(ea)
	})
	for _, g := range closed[:min(len(closed), maxExpiredLooks)] {
		var expired *ExpiredError
		if _, err := l.usable(ctx, x, g, ask, now); errors.As(err, &expired) {
			return err
		}
	}
	return nil
}

// maxExpiredLooks bounds the closed grants verified to say when the
// caller's access ended.
const maxExpiredLooks = 3

// orNotSynced turns "no grant" into "not synced" when the ledger cannot
// say so for certain: the branch moved to a head no sync has read yet, it
// holds a move GitHub has not recorded yet, or the last sync failed. A 403
// is only ever the truth.
func (l *Ledger) orNotSynced(x *Index, noGrant error) error {
	_, lastErr := l.Health()
	switch head := l.awaiting(); {
	case head != "":
		return &NotSyncedError{Reason: fmt.Sprintf("the branch moved to %.12s, which the broker is still reading (%v)", head, noGrant)}
	case x.Unrecorded():
		return &NotSyncedError{Reason: fmt.Sprintf("the branch moved to %.12s, which GitHub's activity does not list yet (%v)", x.Head, noGrant)}
	case lastErr != nil:
		return &NotSyncedError{Reason: fmt.Sprintf("the last sync failed (%s), so a new grant may not be read yet (%v)", strings.SplitN(lastErr.Error(), "\n", 2)[0], noGrant)}
	}
	return noGrant
}

func (l *Ledger) findByID(ctx context.Context, x *Index, ask Ask, now time.Time) (*Found, error) {
	if ids := x.Ambiguous(ask.RequestID); ids != nil {
		return nil, &AmbiguousError{IDs: ids}
	}
	g, ok := x.Grant(ask.RequestID)
	if !ok {
		if r, ok := x.Removed(ask.RequestID); ok {
			return nil, revokedError(r)
		}
		return nil, &NoActiveGrantError{Ask: ask, Why: "no such request on the branch (not merged yet, or older than any open window)"}
	}
	if g.Request == nil {
		return nil, &NoActiveGrantError{Ask: ask, Why: "the request file is invalid: " + g.Invalid}
	}
	targets := g.Request.AllTargets()
	target := targets[0]
	switch {
	case ask.Account != "" || ask.Role != "":
		t, ok := g.Request.Target(ask.Account, ask.Role)
		if !ok {
			return nil, &NoActiveGrantError{Ask: ask, Why: fmt.Sprintf("%s has no target %s:%s (%s)", g.ID, ask.Account, ask.Role, (&TargetRequiredError{ID: g.ID, Targets: targets}).list())}
		}
		target = t
	case len(targets) > 1:
		return nil, &TargetRequiredError{ID: g.ID, Targets: targets}
	}
	f, err := l.usable(ctx, x, g, ask, now)
	if f != nil {
		f.Target = target
	}
	return f, err
}

// VerifyError wraps a failure to verify a grant with GitHub.
type VerifyError struct{ Err error }

func (e *VerifyError) Error() string {
	return "could not verify the grant with GitHub: " + e.Err.Error()
}
func (e *VerifyError) Unwrap() error { return e.Err }

// usable checks that g is verified, belongs to the caller, and is in its window.
func (l *Ledger) usable(ctx context.Context, x *Index, g *Grant, ask Ask, now time.Time) (*Found, error) {
	v, err := l.verify(ctx, x, g)
	switch {
	case err != nil:
		return nil, &VerifyError{Err: err}
	case v.Untrusted != nil:
		return nil, &UntrustedGrantError{ID: g.ID, Err: v.Untrusted}
	case v.AuthorID != 0 && v.AuthorID != ask.UserID:
		return nil, &NoActiveGrantError{Ask: ask, Why: fmt.Sprintf("%s belongs to another GitHub user", g.ID)}
	case !v.OK:
		return nil, &NoActiveGrantError{Ask: ask, Why: v.Reason}
	case v.AuthorID != ask.UserID: // a verdict that names nobody grants nobody
		return nil, &NoActiveGrantError{Ask: ask, Why: fmt.Sprintf("%s names no GitHub user", g.ID)}
	}
	start, end := g.Request.Window(v.MergedAt)
	switch {
	case now.Before(start):
		return nil, &NotYetError{ID: g.ID, Start: start}
	case !now.Before(end):
		t, ok := g.Request.Target(ask.Account, ask.Role)
		if !ok {
			t = g.Request.AllTargets()[0]
		}
		return nil, &ExpiredError{ID: g.ID, End: end, Account: t.Account, Role: t.Qualified()}
	}
	return &Found{Grant: g, Verification: v, Start: start, End: end}, nil
}

// rank orders refusals by how much they tell the caller: an untrusted grant
// of theirs, then one that opens later, then the latest expiry, over "not
// yours" or "not approved".
func rank(err error) int {
	var untrusted *UntrustedGrantError
	var notYet *NotYetError
	var expired *ExpiredError
	switch {
	case errors.As(err, &untrusted):
		return 4
	case errors.As(err, &notYet):
		return 3
	case errors.As(err, &expired):
		return 2
	case err != nil:
		return 1
	}
	return 0
}

// preferRefusal keeps the most telling refusal.
func preferRefusal(have, next error) error {
	if rank(next) > rank(have) {
		return next
	}
	var a, b *ExpiredError
	if errors.As(have, &a) && errors.As(next, &b) && b.End.After(a.End) {
		return next
	}
	return have
}

// GrantsOf lists the caller's grants of the current index with their
// windows, for GET /v1/grants. Grants not verified yet whose file names the
// caller and whose window is open, ahead, or closed within a day are verified here; one that
// cannot be is left out, not fatal.
func (l *Ledger) GrantsOf(ctx context.Context, userID int64, login string) ([]brokerapi.Grant, error) {
	x := l.Index()
	if x == nil {
		return nil, &NotSyncedError{}
	}
	now := l.cfg.Now()
	var out []brokerapi.Grant
	for _, g := range x.grants {
		if g.Request == nil {
			continue
		}
		v, verified := l.cached(g)
		if !verified {
			// A window closed for over a day, never verified, is not
			// worth GitHub's calls: on a busy ledger most are.
			if !strings.EqualFold(g.Request.Requester, login) || !g.mayBeOpen(now.Add(-listClosedFor)) {
				continue
			}
			var err error
			if v, err = l.verify(ctx, x, g); err != nil {
				continue
			}
		}
		if v.Untrusted != nil && strings.EqualFold(g.Request.Requester, login) {
			out = append(out, withTargets(brokerapi.Grant{ID: g.ID, State: brokerapi.StateUntrusted, Emergency: g.Request.Emergency}, g.Request))
			continue
		}
		if !v.OK || v.AuthorID != userID {
			continue
		}
		start, end := g.Request.Window(v.MergedAt)
		state := brokerapi.StateActive
		switch {
		case now.Before(start):
			state = brokerapi.StateScheduled
		case !now.Before(end):
			state = brokerapi.StateExpired
		}
		out = append(out, withTargets(brokerapi.Grant{ID: g.ID, State: state, Start: start, End: end, PR: v.PR, Emergency: g.Request.Emergency}, g.Request))
	}
	for _, r := range x.removed {
		if r.Request != nil && strings.EqualFold(r.Request.Requester, login) {
			out = append(out, withTargets(brokerapi.Grant{ID: r.ID, State: brokerapi.StateRevoked, End: r.At}, r.Request))
		}
	}
	return out, nil
}

// withTargets fills in g's targets from r: the first in Account and Role
// (a permission set as ps/NAME), all of them in Targets.
func withTargets(g brokerapi.Grant, r *request.Request) brokerapi.Grant {
	all := r.AllTargets()
	g.Account, g.Role = all[0].Account, all[0].Qualified()
	for _, t := range all {
		g.Targets = append(g.Targets, brokerapi.Target{Account: t.Account, Role: t.Role, PermissionSet: t.PermissionSet})
	}
	return g
}

// listClosedFor is how long after its window a grant not verified before
// is still listed (verified for it): "expired" helps the day after.
const listClosedFor = 24 * time.Hour

// LiveGrant is a grant that can issue now as far as the ledger knows:
// verified, the caller's by id, inside its window. Eligibility at the head
// is for its caller to check.
type LiveGrant struct {
	ID, Account, Role string
	PermissionSet     string // instead of Role, for an Identity Center target
	Commit            string // where the step that added it left the branch: which version of the file
	Login             string // the PR author's login at verification: the sessions' SourceIdentity
	UserID            int64
	End               time.Time
	PR                int
}

// Live lists the live grants of the current index, once per target, from
// cached verdicts only: it asks GitHub nothing.
func (l *Ledger) Live(now time.Time) []LiveGrant {
	x := l.Index()
	if x == nil {
		return nil
	}
	var out []LiveGrant
	for _, g := range x.grants {
		if g.Request == nil {
			continue
		}
		v, ok := l.cached(g)
		if !ok || !v.OK {
			continue
		}
		start, end := g.Request.Window(v.MergedAt)
		if now.Before(start) || !now.Before(end) {
			continue
		}
		for _, t := range g.Request.AllTargets() {
			out = append(out, LiveGrant{ID: g.ID, Commit: g.Step.After, Account: t.Account, Role: t.Role, PermissionSet: t.PermissionSet,
				Login: v.AuthorLogin, UserID: v.AuthorID, End: end, PR: v.PR})
		}
	}
	return out
}

// Target is the target of g.
func (g LiveGrant) Target() request.Target {
	return request.Target{Account: g.Account, Role: g.Role, PermissionSet: g.PermissionSet}
}

// Key names g's grant and target: a grant of several targets is live once
// per target.
func (g LiveGrant) Key() string { return g.ID + " " + g.Target().String() }

// EmergencyGrant is a verified emergency grant and its merge.
type EmergencyGrant struct {
	ID, Login string
	Path      string
	Before    string // the branch just before its merge: its policy judged it
	PR        int
	MergedAt  time.Time
}

// Emergencies lists the verified emergency grants added in the current
// index's window, revoked or not, from cached verdicts only.
func (l *Ledger) Emergencies() []EmergencyGrant {
	x := l.Index()
	if x == nil {
		return nil
	}
	var out []EmergencyGrant
	// Every emergency added in the window, revoked ones too: a revocation
	// does not stand for its owners' review.
	for _, g := range x.emergencies {
		if v, ok := l.cached(g); ok && v.OK {
			out = append(out, EmergencyGrant{ID: g.ID, Login: v.AuthorLogin, Path: g.Path, Before: g.Step.Before, PR: v.PR, MergedAt: v.MergedAt})
		}
	}
	return out
}

// PullOf is the PR that merged the grant id, from its cached verdict (0 when
// it is not verified yet).
func (l *Ledger) PullOf(id string) int {
	x := l.Index()
	if x == nil || x.grants[id] == nil {
		return 0
	}
	if v, ok := l.cached(x.grants[id]); ok && v.OK {
		return v.PR
	}
	return 0
}

func revokedError(r *Removal) *RevokedError {
	e := &RevokedError{ID: r.ID, At: r.At, Commit: r.Commit}
	if r.Request != nil {
		t := r.Request.AllTargets()[0]
		e.Account, e.Role = t.Account, t.Qualified()
	}
	return e
}

// Window is a verified grant's window, with its targets.
type Window struct {
	ID      string
	PR      int
	UserID  int64
	Login   string
	Targets []request.Target
	// Start and End are the window; RevokedAt is set when the file was
	// deleted by a revocation.
	Start, End, RevokedAt time.Time
}

// Windows lists, from cached verdicts only, the verified grants whose
// window is open at now or ahead, or closed or revoked within lookBack:
// what must be acted on at a window's boundaries, and what ended recently
// enough to still be undone or told.
func (l *Ledger) Windows(now time.Time, lookBack time.Duration) []Window {
	x := l.Index()
	if x == nil {
		return nil
	}
	since := now.Add(-lookBack)
	var out []Window
	add := func(g *Grant, revokedAt time.Time) {
		if g.Request == nil {
			return
		}
		v, ok := l.cached(g)
		if !ok || !v.OK || v.AuthorID == 0 {
			return
		}
		start, end := g.Request.Window(v.MergedAt)
		if !end.After(since) || (!revokedAt.IsZero() && !revokedAt.After(since)) {
			return
		}
		out = append(out, Window{ID: g.ID, PR: v.PR, UserID: v.AuthorID, Login: v.AuthorLogin, Targets: g.Request.AllTargets(), Start: start, End: end, RevokedAt: revokedAt})
	}
	for _, g := range x.grants {
		add(g, time.Time{})
	}
	for _, r := range x.removed {
		if r.Added.After != "" {
			add(r.grant(), r.At)
		}
	}
	return out
}

// SetTarget is one Identity Center permission-set target of a verified
// grant.
type SetTarget struct {
	ID     string
	PR     int
	UserID int64
	Login  string
	Target request.Target
	// Start and End are the window; RevokedAt is set when the file was
	// deleted by a revocation.
	Start, End, RevokedAt time.Time
}

// SetTargets lists the permission-set targets of Windows(now, lookBack):
// what Identity Center's assignments must match, and what ended recently
// enough to still be undone.
func (l *Ledger) SetTargets(now time.Time, lookBack time.Duration) []SetTarget {
	var out []SetTarget
	for _, w := range l.Windows(now, lookBack) {
		for _, t := range w.Targets {
			if t.IsPermissionSet() {
				out = append(out, SetTarget{ID: w.ID, PR: w.PR, UserID: w.UserID, Login: w.Login, Target: t, Start: w.Start, End: w.End, RevokedAt: w.RevokedAt})
			}
		}
	}
	return out
}

// Current reports whether the index is the newest verified head this
// replica knows of: the last sync succeeded, the history is trusted,
// GitHub's record has reached the head, and no newer head is being read.
// Only then may it act on what a stale replica must never redo, such as
// Identity Center assignments.
func (l *Ledger) Current() bool {
	x := l.Index()
	if x == nil || x.Unrecorded() || l.Trust() != nil || l.awaiting() != "" {
		return false
	}
	_, lastErr := l.Health()
	return lastErr == nil
}
