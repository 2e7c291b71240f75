package activity

import (
	"slices"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/awscreds"
)

// matcher tells a grant's sessions from everyone else's. A session is the
// grant's when the broker issued it (its key, as the broker remembers it)
// or when the target account's AssumeRole event that made it asked for
// the grant's role with the session tag elevate-request naming the grant,
// and, where the caller is known (Options.Broker), was made by the broker:
// its access key is then the grant's. A session the grant's sessions
// assumed in turn (role chaining) is the grant's too, whatever its role.
// Calls made in the console carry keys the console minted at sign-in;
// they are the grant's when their session ARN is one of those sessions'.
// A source identity names a person, not a grant, and is never enough.
//
// Files come in any order, so a first reading keeps the calls of every
// session of the grant's roles apart (partials) until the end, when the
// AssumeRole events have all been seen; only the grant's are summed. A
// second reading, with every session of the grant known, is made when the
// first kept too much apart, or found sessions chained from the grant's
// whose calls it could not keep (another role's).
type matcher struct {
	targets map[Target]bool
	tag     string
	// open keeps calls of sessions not known yet; a second reading
	// (after an overflow) keeps only known ones.
	open bool
	// known are the identities ("key:…", "arn:…") known before the
	// reading began, shared read-only by its readers; found those this
	// reader discovered.
	known    map[string]bool
	found    map[string]bool
	partials map[string]*agg
	// held counts the entries kept in partials of sessions not known yet.
	held     int
	overflow bool
	// broker, when set, is the only caller whose AssumeRole makes a
	// session the grant's.
	broker *Caller
	// chains are the sessions made by AssumeRole calls of a session with
	// an access key: by the caller's identity, the identities it made.
	chains map[string][]string
	// callers are who made the AssumeRole calls that named the grant, and
	// whether they were taken: account/unique id -> counted.
	callers map[string]bool
	// arnOf is each session's ARN identity by its key identity: one
	// session, however its calls were made (its key, or the console's).
	arnOf map[string]string
}

// Caller is who made an AssumeRole, as the role's account logs it: the
// caller's account and the unique id of its IAM user or role (AIDA…,
// AROA…), as sts:GetCallerIdentity returns them.
type Caller struct{ Account, UniqueID string }

// made reports whether u is c (a role's sessions differ in the part of
// the principal id after the colon).
func (c *Caller) made(accountID, principalID string) bool {
	id, _, _ := strings.Cut(principalID, ":")
	return c == nil || (accountID == c.Account && id == c.UniqueID)
}

// maxHeld bounds the entries (actions, resources, hours, …) kept apart for
// sessions not known yet, whatever their number of calls; past it a second
// reading counts only the grant's.
const maxHeld = 200000

// maxChains bounds the chained sessions remembered.
const maxChains = 100000

func newMatcher(g Grant, open bool, broker *Caller) *matcher {
	m := &matcher{targets: map[Target]bool{}, tag: awscreds.TagValue(g.ID), open: open, known: map[string]bool{}, found: map[string]bool{}, partials: map[string]*agg{},
		broker: broker, chains: map[string][]string{}, arnOf: map[string]string{}, callers: map[string]bool{}}
	for _, t := range g.Targets {
		m.targets[t] = true
	}
	for _, s := range g.Issued {
		if s.AccessKeyID != "" {
			m.known["key:"+s.AccessKeyID] = true
		}
		if s.ARN != "" {
			m.known["arn:"+s.ARN] = true
			if s.AccessKeyID != "" {
				m.arnOf["key:"+s.AccessKeyID] = "arn:" + s.ARN
			}
		}
	}
	return m
}

// fork is a reader's own state over m's configuration and known sessions.
func (m *matcher) fork() *matcher {
	return &matcher{targets: m.targets, tag: m.tag, open: m.open, known: m.known, found: map[string]bool{}, partials: map[string]*agg{},
		broker: m.broker, chains: map[string][]string{}, arnOf: map[string]string{}, callers: map[string]bool{}}
}

// join takes in a reader's state.
func (m *matcher) join(part *matcher) {
	for id := range part.found {
		m.found[id] = true
	}
	for id, p := range part.partials {
		if x := m.partials[id]; x != nil {
			x.merge(p)
		} else {
			m.partials[id] = p
		}
	}
	for from, to := range part.chains {
		m.chains[from] = append(m.chains[from], to...)
	}
	for k, a := range part.arnOf {
		m.arnOf[k] = a
	}
	for c, taken := range part.callers {
		m.callers[c] = taken
	}
	m.overflow = m.overflow || part.overflow
}

// close adds to found the sessions chained from the grant's, transitively,
// and reports whether a second reading is needed: a chained session of a
// role whose calls no partial kept.
func (m *matcher) close() (again bool) {
	queue := make([]string, 0, len(m.known)+len(m.found))
	for id := range m.known {
		queue = append(queue, id)
	}
	for id := range m.found {
		queue = append(queue, id)
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, next := range m.chains[id] {
			if m.isKnown(next) {
				continue
			}
			m.found[next] = true
			queue = append(queue, next)
			if _, kept := m.partials[next]; !kept {
				again = true
			}
		}
	}
	return again
}

// learn makes what first found known to m.
func (m *matcher) learn(first *matcher) {
	for id := range first.found {
		m.known[id] = true
	}
}

func (m *matcher) isKnown(id string) bool { return m.known[id] || m.found[id] }

// see takes one record whose time is at; from and to bound the window.
func (m *matcher) see(r *record, at, from, to time.Time, sensitive []string) {
	if at.Before(from) || at.After(to) {
		return
	}
	u := &r.UserIdentity
	if r.EventName == "AssumeRole" {
		if a, ok := r.parseAssumeRole(); ok {
			made := []string{"key:" + a.Response.Credentials.AccessKeyID}
			if arn := a.Response.AssumedRoleUser.ARN; arn != "" {
				made = append(made, "arn:"+arn)
				if len(m.arnOf) < maxChains {
					m.arnOf[made[0]] = made[1]
				}
			}
			named := m.names(a)
			if named && len(m.callers) < 100 {
				id, _, _ := strings.Cut(u.PrincipalID, ":")
				m.callers[bounded(u.AccountID+"/"+id, 80)] = m.broker.made(u.AccountID, u.PrincipalID)
			}
			switch {
			case named && m.broker.made(u.AccountID, u.PrincipalID):
				for _, id := range made {
					m.found[id] = true
				}
			case u.AccessKeyID != "" && len(m.chains) < maxChains:
				// A session assuming another role: the grant's, if its
				// caller turns out to be.
				from := "key:" + u.AccessKeyID
				m.chains[from] = append(m.chains[from], made...)
			}
		}
	}
	if u.Type != "AssumedRole" {
		return
	}
	id := "key:" + u.AccessKeyID
	if r.FromConsole == "true" || r.isConsoleLogin() || u.AccessKeyID == "" {
		if !m.isKnown(id) {
			id = "arn:" + u.ARN
		}
	}
	known := m.isKnown(id)
	if !known && !m.targets[sessionTarget(u.ARN)] {
		return // another role's session, not known (yet) to be chained from the grant's
	}
	p := m.partials[id]
	if p == nil {
		if !known && (!m.open || len(m.partials) >= maxSessionsSeen || m.held >= maxHeld) {
			m.overflow = m.overflow || m.open
			return
		}
		p = newAgg()
		m.partials[id] = p
	}
	before := p.size()
	p.add(r, at, sensitive)
	if !known {
		m.held += p.size() - before
	}
}

// names reports whether an AssumeRole event made a session of the grant:
// one of its roles, tagged with its request.
func (m *matcher) names(a assumeRole) bool {
	if !m.targets[roleTarget(a.Request.RoleARN)] {
		return false
	}
	for _, t := range a.Request.Tags {
		if t.Key == awscreds.TagRequest && t.Value == m.tag {
			return true
		}
	}
	return false
}

// callerProblems says which AssumeRole calls that named the grant were
// not the broker's (not counted), or, the broker unknown, that several
// callers named it (all counted).
func (m *matcher) callerProblems() []string {
	var out, all []string
	for c, taken := range m.callers {
		all = append(all, c)
		if !taken {
			out = append(out, "an AssumeRole by "+c+" named this grant and was not counted: only the broker's make its sessions")
		}
	}
	if m.broker == nil && len(all) > 1 {
		slices.Sort(all)
		out = append(out, "AssumeRole calls by several callers ("+strings.Join(all, ", ")+") named this grant and were all counted: only the broker should make its sessions")
	}
	return out
}

// result sums the grant's sessions; sessions counts the keys that made a
// call, and console calls of a session ARN none of those keys has (every
// issuance of a grant has the same ARN: it names the person and grant).
func (m *matcher) result() (*agg, int) {
	total := newAgg()
	keys, arns := map[string]bool{}, map[string]bool{}
	for id, p := range m.partials {
		if !m.isKnown(id) || p.calls == 0 {
			continue
		}
		total.merge(p)
		if strings.HasPrefix(id, "key:") {
			keys[id] = true
		} else {
			arns[id] = true
		}
	}
	for k := range keys {
		delete(arns, m.arnOf[k])
	}
	return total, len(keys) + len(arns)
}

// roleTarget is the account and role of arn:<partition>:iam::<account>:role/[path/]<name>.
func roleTarget(arn string) Target {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") {
		return Target{}
	}
	res := parts[5]
	return Target{AccountID: parts[4], Role: res[strings.LastIndex(res, "/")+1:]}
}

// sessionTarget is the account and role of a session's
// arn:<partition>:sts::<account>:assumed-role/<role>/<session>.
func sessionTarget(arn string) Target {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sts" {
		return Target{}
	}
	rest, ok := strings.CutPrefix(parts[5], "assumed-role/")
	if !ok {
		return Target{}
	}
	role, _, ok := strings.Cut(rest, "/")
	if !ok {
		return Target{}
	}
	return Target{AccountID: parts[4], Role: role}
}
