package activity

import (
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/awscreds"
)

// matcher tells a grant's sessions from everyone else's. A session is the
// grant's when the broker issued it (its key, as the broker remembers it)
// or when the target account's AssumeRole event that made it asked for
// the grant's role with the session tag elevate-request naming the grant:
// its access key is then the grant's. Calls made in the console carry
// keys the console minted at sign-in; they are the grant's when their
// session ARN is one of those sessions'. A source identity names a person,
// not a grant, and is never enough.
//
// Files come in any order, so a first reading keeps the calls of every
// session of the grant's roles apart (partials) until the end, when the
// AssumeRole events have all been seen; only the grant's are summed.
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
	overflow bool
}

func newMatcher(g Grant, open bool) *matcher {
	m := &matcher{targets: map[Target]bool{}, tag: awscreds.TagValue(g.ID), open: open, known: map[string]bool{}, found: map[string]bool{}, partials: map[string]*agg{}}
	for _, t := range g.Targets {
		m.targets[t] = true
	}
	for _, s := range g.Issued {
		if s.AccessKeyID != "" {
			m.known["key:"+s.AccessKeyID] = true
		}
		if s.ARN != "" {
			m.known["arn:"+s.ARN] = true
		}
	}
	return m
}

// fork is a reader's own state over m's configuration and known sessions.
func (m *matcher) fork() *matcher {
	return &matcher{targets: m.targets, tag: m.tag, open: m.open, known: m.known, found: map[string]bool{}, partials: map[string]*agg{}}
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
	m.overflow = m.overflow || part.overflow
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
	if r.EventName == "AssumeRole" {
		if a, ok := r.parseAssumeRole(); ok && m.names(a) {
			m.found["key:"+a.Response.Credentials.AccessKeyID] = true
			if arn := a.Response.AssumedRoleUser.ARN; arn != "" {
				m.found["arn:"+arn] = true
			}
		}
	}
	u := &r.UserIdentity
	if u.Type != "AssumedRole" || !m.targets[sessionTarget(u.ARN)] {
		return
	}
	id := "key:" + u.AccessKeyID
	if r.FromConsole == "true" || r.isConsoleLogin() || u.AccessKeyID == "" {
		if !m.isKnown(id) {
			id = "arn:" + u.ARN
		}
	}
	p := m.partials[id]
	if p == nil {
		if !m.isKnown(id) && (!m.open || len(m.partials) >= maxSessionsSeen) {
			m.overflow = m.overflow || m.open
			return
		}
		p = newAgg()
		m.partials[id] = p
	}
	p.add(r, at, sensitive)
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

// result sums the grant's sessions; sessions counts those found.
func (m *matcher) result() (*agg, int) {
	total := newAgg()
	for id, p := range m.partials {
		if m.isKnown(id) {
			total.merge(p)
		}
	}
	sessions := 0
	for id := range m.known {
		if strings.HasPrefix(id, "key:") {
			sessions++
		}
	}
	for id := range m.found {
		if strings.HasPrefix(id, "key:") && !m.known[id] {
			sessions++
		}
	}
	return total, sessions
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
