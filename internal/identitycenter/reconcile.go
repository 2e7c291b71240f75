package identitycenter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
)

// ReconcileError summarises what one Reconcile could not do; the next
// Reconcile tries it again.
type ReconcileError struct {
	Errs []error
}

func (e *ReconcileError) Error() string {
	const shown = 3
	parts := make([]string, 0, shown)
	for _, err := range e.Errs[:min(shown, len(e.Errs))] {
		parts = append(parts, err.Error())
	}
	s := fmt.Sprintf("identity center: %d not done: %s", len(e.Errs), strings.Join(parts, "; "))
	if len(e.Errs) > shown {
		s += fmt.Sprintf("; and %d more", len(e.Errs)-shown)
	}
	return s
}

func (e *ReconcileError) Unwrap() []error { return e.Errs }

type phase int

const (
	phaseFuture phase = iota // the window has not started: nothing wanted yet
	phaseOpen
	phaseEnded
)

// item is one target in one Reconcile.
type item struct {
	Target
	key   stateKey
	ps    string // the permission set's ARN
	user  string // the Identity Center UserId; "" when unresolved
	end   time.Time
	phase phase
}

func (it *item) deny() denyKey { return denyKey{it.user, it.AccountID} }

// round is one Reconcile.
type round struct {
	r      *Reconciler
	now    time.Time
	items  []*item
	errs   []error
	states map[stateKey]State
	seen   map[stateKey]bool // targets of this call: the states kept
	hold   map[string]bool   // permission sets left alone this round, by name
}

// Reconcile makes AWS match targets at now: for each managed permission
// set it writes and provisions the Denies that end access on time, then
// creates the assignments open targets want and deletes those nothing
// wants. It returns a *ReconcileError summarising what could not be done
// (the caller logs it and calls again on the next sync); what it could do
// is done regardless.
func (r *Reconciler) Reconcile(ctx context.Context, targets []Target, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rd := &round{r: r, now: now, states: map[stateKey]State{}, seen: map[stateKey]bool{}, hold: map[string]bool{}}
	if r.cfg.InstanceARN == "" || r.cfg.IdentityStoreID == "" {
		return &ReconcileError{Errs: []error{errors.New("identity center: the instance ARN and the identity store id are required")}}
	}
	r.forget(now)
	rd.prepare(ctx, targets)
	for _, name := range slices.Sorted(maps.Keys(r.cfg.PermissionSets)) {
		if ctx.Err() != nil {
			rd.fail(ctx.Err())
			break
		}
		if !rd.current() {
			rd.fail(errNotCurrent)
			break
		}
		if rd.hold[name] {
			rd.fail(fmt.Errorf("permission set %s left as it is: a user of an open grant could not be resolved", name))
			continue
		}
		rd.reconcileSet(ctx, name, r.cfg.PermissionSets[name])
	}
	r.stateMu.Lock()
	for k, s := range r.states {
		// A target whose account could not be read keeps its state.
		if _, ok := rd.states[k]; !ok && rd.seen[k] {
			rd.states[k] = s
		}
	}
	r.states = rd.states
	r.stateMu.Unlock()
	if len(rd.errs) > 0 {
		return &ReconcileError{Errs: rd.errs}
	}
	return nil
}

// forget drops what the Reconciler remembers past its use.
func (r *Reconciler) forget(now time.Time) {
	for k, w := range r.recent {
		if now.Sub(w.at) >= listGrace || w.at.After(now) {
			delete(r.recent, k)
		}
	}
	for k, w := range r.inflight {
		if now.Sub(w.at) >= inflightTTL || w.at.After(now) {
			delete(r.inflight, k)
		}
	}
}

func (rd *round) fail(err error) { rd.errs = append(rd.errs, err) }

// errNotCurrent stops a round whose targets may no longer be the grants.
var errNotCurrent = errors.New("the grants changed during the round (Options.Current): stopped; the next round goes on")

// current reports whether the targets the round was given still stand.
func (rd *round) current() bool { return rd.r.opts.Current == nil || rd.r.opts.Current() }

func (rd *round) notify(n Notice) {
	rd.r.log.Warn("identity center notice", "kind", n.Kind, "request", n.Request, "pr", n.PR, "target", n.Target, "reason", n.Reason)
	if rd.r.opts.Notify != nil {
		rd.r.opts.Notify(n)
	}
}

// targetName is "account:ps/Name", as people name a target.
func targetName(account, ps string) string { return account + ":ps/" + ps }

// failed marks open items failed and announces it.
func (rd *round) failed(items []*item, reason string) {
	for _, it := range items {
		rd.states[it.key] = StateFailed
		rd.notify(Notice{Kind: NoticeFailed, Request: it.Request, PR: it.PR, Target: targetName(it.AccountName, it.PermissionSet), Reason: reason})
	}
}

// prepare checks each target and resolves its requester's UserId.
func (rd *round) prepare(ctx context.Context, targets []Target) {
	r := rd.r
	noUser := map[int64]string{} // this round's failures, asked once
	for _, t := range targets {
		it := &item{Target: t, key: stateKey{t.Request, t.AccountName, t.PermissionSet}, end: t.end()}
		rd.seen[it.key] = true
		switch {
		case rd.now.Before(t.Start):
			it.phase = phaseFuture
		case rd.now.Before(it.end):
			it.phase = phaseOpen
		default:
			it.phase = phaseEnded
		}
		arn, ok := r.cfg.PermissionSets[t.PermissionSet]
		switch {
		case !ok:
			rd.invalid(it, fmt.Sprintf("the permission set %q is not one of elevate's (eligibility.yaml)", t.PermissionSet))
			continue
		case !validAccount(t.AccountID):
			rd.invalid(it, fmt.Sprintf("the account id %q is not 12 digits", t.AccountID))
			continue
		}
		it.ps = arn
		if t.AccountName != "" {
			r.names[t.AccountID] = t.AccountName
		}
		if it.phase == phaseFuture {
			rd.states[it.key] = StatePending
			continue
		}
		userName, ok := r.cfg.Users[t.GitHubID]
		if !ok {
			rd.invalid(it, fmt.Sprintf("GitHub user %s (id %d) has no Identity Center user in the broker's configuration", t.Login, t.GitHubID))
			continue
		}
		if reason, ok := noUser[t.GitHubID]; ok {
			rd.invalid(it, reason)
			continue
		}
		id, err := r.userID(ctx, userName, rd.now)
		if err != nil {
			reason := fmt.Sprintf("resolve the Identity Center user %q of GitHub user %s: %v", userName, t.Login, err)
			if errors.Is(err, errNoUser) {
				reason = fmt.Sprintf("Identity Center has no user named %q (GitHub user %s, id %d)", userName, t.Login, t.GitHubID)
			} else {
				rd.fail(errors.New(reason))
				if it.phase == phaseOpen {
					// Whose assignment is whose cannot be told: the
					// set is left as it is this round, rather than a
					// live assignment taken for drift.
					rd.hold[t.PermissionSet] = true
				}
			}
			noUser[t.GitHubID] = reason
			rd.invalid(it, reason)
			continue
		}
		it.user = id
		rd.items = append(rd.items, it)
	}
}

// invalid is a target the round cannot act on: an open one failed and is
// announced; an ended one is ended (nothing of it can be found to remove;
// the drift check removes what no open grant explains).
func (rd *round) invalid(it *item, reason string) {
	switch it.phase {
	case phaseOpen:
		rd.failed([]*item{it}, reason)
	case phaseEnded:
		rd.states[it.key] = StateEnded
	default:
		rd.states[it.key] = StatePending
	}
}

// reconcileSet reconciles one managed permission set.
func (rd *round) reconcileSet(ctx context.Context, name, arn string) {
	r, now := rd.r, rd.now
	open := map[denyKey][]*item{}  // what the open targets want
	ended := map[denyKey][]*item{} // what ended targets explain
	scope := map[string]bool{}     // accounts whose assignments are read
	for _, it := range rd.items {
		if it.ps != arn {
			continue
		}
		scope[it.AccountID] = true
		if it.phase == phaseOpen {
			open[it.deny()] = append(open[it.deny()], it)
		} else {
			ended[it.deny()] = append(ended[it.deny()], it)
		}
	}
	provisioned, err := r.provisionedAccounts(ctx, arn, "")
	provisionedOK := err == nil
	if err != nil {
		rd.fail(fmt.Errorf("list the accounts of %s: %w", name, err))
	}
	for _, a := range provisioned {
		if validAccount(a) {
			scope[a] = true
		}
	}
	if len(scope) == 0 {
		return
	}

	// The policy, as AWS has it.
	var pol *policy
	text, err := r.inlinePolicy(ctx, arn)
	if err == nil {
		if pol, err = parsePolicy(text); err != nil {
			err = fmt.Errorf("%w (elevate will not rewrite a policy it cannot read)", err)
		}
	}
	policyErr := err
	if policyErr != nil {
		rd.fail(fmt.Errorf("read the inline policy of %s: %w", name, policyErr))
		pol = nil
	}
	if pol != nil && provisionedOK && !r.seeded[arn] {
		// A new Reconciler asks AWS once which accounts lack the policy as
		// it is; the others need no provisioning until it changes.
		stale, err := r.provisionedAccounts(ctx, arn, types.ProvisioningStatusLatestPermissionSetNotProvisioned)
		if err == nil {
			r.seeded[arn] = true
			for account := range scope {
				if !slices.Contains(stale, account) && slices.Contains(provisioned, account) {
					r.provisioned[pairKey{arn, account}] = viewHash(pol, pol.ours, account)
				}
			}
		}
	}

	// The assignments, as AWS has them, and as AWS said it changed them.
	listed := map[string]map[principal]bool{}
	for _, account := range slices.Sorted(maps.Keys(scope)) {
		found, err := r.assignments(ctx, arn, account)
		if err != nil {
			rd.fail(fmt.Errorf("list the assignments of %s in %s: %w", name, account, err))
			continue
		}
		listed[account] = found
	}
	for k, w := range r.recent {
		if found, ok := listed[k.account]; ok && k.ps == arn {
			found[principal{types.PrincipalTypeUser, k.user}] = w.created
		}
	}
	present := func(k denyKey) bool {
		return listed[k.account][principal{types.PrincipalTypeUser, k.user}]
	}
	// An account's absence is known when it was listed, or when the set is
	// not provisioned there (an assignment provisions it).
	absenceKnown := func(account string) bool {
		_, ok := listed[account]
		return ok || provisionedOK && !scope[account]
	}

	// The Denies: for each person with open targets here, the latest end
	// among them; for each one without, the end already passed.
	want := map[denyKey]time.Time{}
	for k, its := range open {
		want[k] = slices.MaxFunc(its, func(a, b *item) int { return a.end.Compare(b.end) }).end
	}
	ending := map[denyKey]bool{}
	if pol != nil {
		for k := range pol.ours {
			ending[k] = true
		}
	}
	for k := range r.inflight {
		if k.ps == arn {
			ending[denyKey{k.user, k.account}] = true
		}
	}
	for account, found := range listed {
		for p, ok := range found {
			if ok && p.typ == types.PrincipalTypeUser {
				ending[denyKey{p.id, account}] = true
			}
		}
	}
	var dropped []denyKey
	for k := range ending {
		if _, ok := open[k]; ok {
			continue
		}
		end := now
		if its := ended[k]; len(its) > 0 {
			end = slices.MaxFunc(its, func(a, b *item) int { return a.end.Compare(b.end) }).end
		}
		if pol != nil {
			if prev, ok := pol.ours[k]; ok && prev.Before(end) {
				end = prev
			}
		}
		if _, inflight := r.inflight[assignKey{arn, k.account, k.user}]; !present(k) && !inflight &&
			!end.Add(r.opts.KeepEnded).After(now) && absenceKnown(k.account) {
			dropped = append(dropped, k) // no session from before its end can still be alive
			continue
		}
		want[k] = end
	}
	if pol != nil && len(want) == 0 && len(pol.foreign) == 0 && len(dropped) > 0 {
		// An inline policy is never emptied: the latest ended stays.
		k := slices.MaxFunc(dropped, func(a, b denyKey) int { return pol.ours[a].Compare(pol.ours[b]) })
		want[k] = pol.ours[k] // its end passed long ago
	}

	// The creations: open targets whose person has no assignment here.
	var creates []denyKey
	for k := range open {
		if _, ok := listed[k.account]; ok && !present(k) {
			creates = append(creates, k)
		}
	}
	slices.SortFunc(creates, func(a, b denyKey) int {
		return cmp.Or(strings.Compare(a.account, b.account), strings.Compare(a.user, b.user))
	})

	// The size: the statements already written, and those of live
	// assignments, are always kept; then the Denies of assignments that
	// are ending (their sessions should stop) and of new assignments are
	// added while the policy stays within IAM's limit. A new assignment
	// whose Deny does not fit is refused.
	refused := map[denyKey]bool{}
	writable := pol != nil
	if pol != nil {
		base := map[denyKey]time.Time{}
		var endingNew []denyKey
		for k, end := range want {
			_, had := pol.ours[k]
			switch {
			case had || len(open[k]) > 0 && present(k):
				base[k] = end
			case len(open[k]) == 0:
				endingNew = append(endingNew, k)
			}
		}
		slices.SortFunc(endingNew, func(a, b denyKey) int {
			return cmp.Or(strings.Compare(a.account, b.account), strings.Compare(a.user, b.user))
		})
		var createNew []denyKey
		for _, k := range creates {
			if _, had := pol.ours[k]; !had {
				createNew = append(createNew, k)
			}
		}
		if n := size(pol.render(base, "")); n > MaxPolicySize {
			writable = false
			rd.fail(fmt.Errorf("the inline policy of %s would hold %d characters, over IAM's %d, before any new Deny: it is not written", name, n, MaxPolicySize))
		}
		for _, k := range slices.Concat(endingNew, createNew) {
			base[k] = want[k]
			if !writable || size(pol.render(base, "")) > MaxPolicySize {
				delete(base, k)
				if len(open[k]) > 0 {
					refused[k] = true
				} else {
					r.log.Warn("identity center Deny left out: over the size limit", "permission_set", name, "account", k.account, "user", k.user)
				}
			}
		}
		want = base
	}
	for _, k := range creates {
		if refused[k] {
			for _, it := range open[k] {
				rd.states[it.key] = StateRefused
				rd.notify(Notice{Kind: NoticeRefused, Request: it.Request, PR: it.PR, Target: targetName(it.AccountName, it.PermissionSet),
					Reason: fmt.Sprintf("the Deny that ends this grant on time would take the inline policy of %s over IAM's %d characters; nothing live was changed", name, MaxPolicySize)})
			}
		}
	}

	// Write the Denies, then provision them where they changed what a
	// role does, before any assignment they end is created.
	var writeErr error
	switch {
	case pol == nil:
		writeErr = policyErr
	case !writable:
		writeErr = errors.New("the inline policy is over IAM's size limit")
	case !rd.current():
		writeErr = errNotCurrent
		rd.fail(writeErr)
	default:
		before, after := pol.render(pol.ours, ""), pol.render(want, "")
		if before != after {
			if err := r.putPolicy(ctx, arn, after); err != nil {
				writeErr = fmt.Errorf("write the Deny to the inline policy of %s: %w", name, err)
				rd.fail(writeErr)
			} else {
				r.log.Info("identity center policy written", "permission_set", name, "statements", len(want), "characters", size(after))
			}
		}
	}
	unprovisioned := map[string]error{}
	if writeErr == nil {
		accounts := map[string]bool{}
		for k := range pol.ours {
			accounts[k.account] = true
		}
		for k := range want {
			accounts[k.account] = true
		}
		for _, account := range slices.Sorted(maps.Keys(accounts)) {
			if !scope[account] {
				continue // not provisioned there: no role to update
			}
			pk := pairKey{arn, account}
			view := viewHash(pol, want, account)
			if r.provisioned[pk] == view {
				continue
			}
			o, err := r.provision(ctx, arn, account)
			switch {
			case err != nil:
				err = fmt.Errorf("provision %s to %s: %w", name, account, err)
			case o.status == types.StatusValuesFailed:
				err = fmt.Errorf("provision %s to %s: FAILED: %s", name, account, o.reason)
			case o.status != types.StatusValuesSucceeded:
				err = fmt.Errorf("provision %s to %s: still %s after %d polls", name, account, o.status, r.opts.PollLimit)
			}
			if err != nil {
				unprovisioned[account] = err
				rd.fail(err)
				continue
			}
			r.provisioned[pk] = view
			r.log.Info("identity center permission set provisioned", "permission_set", name, "account", account)
		}
	}

	// Delete what nothing open wants, then create what is missing.
	for _, account := range slices.Sorted(maps.Keys(listed)) {
		found := listed[account]
		ps := slices.SortedFunc(maps.Keys(found), func(a, b principal) int {
			return cmp.Or(strings.Compare(string(a.typ), string(b.typ)), strings.Compare(a.id, b.id))
		})
		for _, p := range ps {
			if !found[p] {
				continue
			}
			k := denyKey{p.id, account}
			if p.typ == types.PrincipalTypeUser && len(open[k]) > 0 {
				continue
			}
			explained := p.typ == types.PrincipalTypeUser && len(ended[k]) > 0
			if rd.delete(ctx, name, arn, account, p, ended[k]) {
				found[p] = false
				if !explained {
					rd.notify(Notice{Kind: NoticeRemoved, Target: targetName(cmp.Or(r.names[account], account), name),
						Reason: fmt.Sprintf("%s %s was assigned %s in %s but no open grant explains it", p.typ, p.id, name, account)})
				}
			}
		}
		for _, k := range creates {
			if k.account != account || refused[k] {
				continue
			}
			its := open[k]
			switch {
			case writeErr != nil:
				rd.failed(its, fmt.Sprintf("the Deny that ends this access on time could not be written, so the assignment was not made: %v", writeErr))
				continue
			case unprovisioned[account] != nil:
				rd.failed(its, fmt.Sprintf("the Deny that ends this access on time could not be provisioned, so the assignment was not made: %v", unprovisioned[account]))
				continue
			}
			if !rd.current() {
				rd.fail(errNotCurrent)
				continue // what was read may since have been revoked
			}
			if rd.create(ctx, name, assignKey{arn, account, k.user}, its) {
				found[principal{types.PrincipalTypeUser, k.user}] = true
			}
		}
	}

	// The states.
	for k, its := range open {
		for _, it := range its {
			if _, listedOK := listed[k.account]; !listedOK {
				continue // unknown: kept as it was
			}
			if present(k) {
				rd.states[it.key] = StateActive
			} else if _, ok := rd.states[it.key]; !ok {
				rd.states[it.key] = StatePending
			}
		}
	}
	for k, its := range ended {
		for _, it := range its {
			if _, listedOK := listed[k.account]; !listedOK {
				continue
			}
			if present(k) && len(open[k]) == 0 {
				rd.states[it.key] = StateActive // still live: its deletion is not confirmed
			} else {
				rd.states[it.key] = StateEnded
			}
		}
	}
}

// delete removes one assignment, and reports whether AWS confirmed it.
func (rd *round) delete(ctx context.Context, name, arn, account string, p principal, ended []*item) bool {
	r := rd.r
	k := assignKey{arn, account, p.id}
	o, err := r.remove(ctx, k, p.typ, rd.now)
	log := r.log.With("permission_set", name, "account", account, "principal_type", p.typ, "principal", p.id)
	switch {
	case err != nil:
		err = fmt.Errorf("delete the assignment of %s to %s %s in %s: %w", name, p.typ, p.id, account, err)
		log.Error("identity center assignment not deleted", "error", err)
		rd.fail(err)
		return false
	case o.status == types.StatusValuesFailed:
		log.Error("identity center assignment deletion failed", "reason", o.reason)
		rd.fail(fmt.Errorf("delete the assignment of %s to %s %s in %s: FAILED: %s", name, p.typ, p.id, account, o.reason))
		for _, it := range ended {
			rd.notify(Notice{Kind: NoticeFailed, Request: it.Request, PR: it.PR, Target: targetName(it.AccountName, it.PermissionSet),
				Reason: "the grant ended but its assignment could not be deleted: " + o.reason})
		}
		return false
	case o.status != types.StatusValuesSucceeded:
		log.Warn("identity center assignment deletion in progress", "polls", r.opts.PollLimit)
		rd.fail(fmt.Errorf("delete the assignment of %s to %s %s in %s: still %s after %d polls", name, p.typ, p.id, account, o.status, r.opts.PollLimit))
		return false
	}
	if p.typ == types.PrincipalTypeUser {
		r.recent[k] = recentWrite{created: false, at: rd.now}
	}
	log.Info("identity center assignment deleted")
	return true
}

// create makes one USER assignment for its open items, and reports
// whether AWS said SUCCEEDED.
func (rd *round) create(ctx context.Context, name string, k assignKey, its []*item) bool {
	r := rd.r
	o, err := r.create(ctx, k, rd.now)
	log := r.log.With("permission_set", name, "account", k.account, "user", k.user)
	switch {
	case err != nil:
		err = fmt.Errorf("create the assignment of %s to USER %s in %s: %w", name, k.user, k.account, err)
		log.Error("identity center assignment not created", "error", err)
		rd.fail(err)
		rd.failed(its, err.Error())
		return false
	case o.status == types.StatusValuesFailed:
		log.Error("identity center assignment creation failed", "reason", o.reason)
		rd.failed(its, cmp.Or(o.reason, "AWS answered FAILED without a reason"))
		return false
	case o.status != types.StatusValuesSucceeded:
		log.Warn("identity center assignment creation in progress", "polls", r.opts.PollLimit)
		for _, it := range its {
			rd.states[it.key] = StatePending
		}
		return false
	}
	r.recent[k] = recentWrite{created: true, at: rd.now}
	log.Info("identity center assignment created")
	for _, it := range its {
		rd.states[it.key] = StateActive
	}
	return true
}
