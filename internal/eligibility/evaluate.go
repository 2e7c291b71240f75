package eligibility

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/request"
)

// Membership answers whether a login is an active member of an org team.
type Membership interface {
	ActiveTeamMember(ctx context.Context, org, slug, login string) (bool, error)
}

// Ask is what a person asks for: the fields of a request the policy judges.
type Ask struct {
	Login   string // the requester's GitHub login
	Account string
	Role    string
	// PermissionSet, instead of Role, asks for an Identity Center set.
	PermissionSet string
	Duration      time.Duration
	Ticket        string
	Emergency     bool
}

// Decision is what the policy allows for an eligible ask.
type Decision struct {
	Rules       []string      // names of the rules that matched requester, account and role
	MaxDuration time.Duration // the most permissive duration among them
	Approvals   int           // the largest approval count among them (0 for emergency)
	Emergency   bool
	// Approvers are who may approve, where a deciding rule names them: the
	// rules naming approvers win over those that leave approval to the
	// CODEOWNERS of the account's folder (nil), so a rule that routes a
	// target to a security team cannot be sidestepped by a broader rule.
	Approvers []Principal
}

// allows reports whether r covers the role or permission set in account.
func (r *Rule) allows(account, role, permissionSet string) bool {
	if !slices.Contains(r.Accounts, account) {
		return false
	}
	if permissionSet != "" {
		return slices.Contains(r.PermissionSets, permissionSet)
	}
	return slices.Contains(r.Roles, role)
}

// approversOf is the union of the approvers the rules name, in order.
func approversOf(rules []*Rule) []Principal {
	var out []Principal
	for _, r := range rules {
		for _, a := range r.Approvers {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Problem is one reason an ask is not eligible, tied to the request field it concerns.
type Problem struct {
	Field   string
	Message string
}

// NotEligibleError lists every reason the policy refuses an ask.
type NotEligibleError struct {
	Problems []Problem
}

func (e *NotEligibleError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Field + ": " + p.Message
	}
	return "not eligible: " + strings.Join(msgs, "; ")
}

// Evaluate judges an ask. Where several rules match, the most permissive
// duration wins and the largest approval count applies; a ticket is required
// when any matching rule requires one and must match one of their patterns.
// An emergency ask is judged by the matching rules that allow break-glass
// only: it needs a ticket, no approval, and at most their longest
// emergency.max_duration. It returns *NotEligibleError when the policy says
// no, any other error when membership could not be read (fail closed).
func (p *Policy) Evaluate(ctx context.Context, ask Ask, members Membership) (*Decision, error) {
	if _, ok := p.Accounts[ask.Account]; !ok {
		return nil, notEligible("account", "account %q is not in %s (known: %s)", ask.Account, File, strings.Join(p.AccountNames(), ", "))
	}
	who := newWhoMatcher(ctx, ask.Login, members)
	var matched, inAccount []*Rule
	for i := range p.Rules {
		r := &p.Rules[i]
		if !slices.Contains(r.Accounts, ask.Account) {
			continue
		}
		ok, err := who.matches(r.Who)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		inAccount = append(inAccount, r)
		if r.allows(ask.Account, ask.Role, ask.PermissionSet) {
			matched = append(matched, r)
		}
	}
	field, name := "role", ask.Role
	if ask.PermissionSet != "" {
		field, name = "permission_set", ask.PermissionSet
		if _, ok := p.PermissionSets[name]; !ok {
			return nil, notEligible(field, "permission set %q is not in the permission_sets of %s", name, File)
		}
	}
	if len(matched) == 0 {
		if len(inAccount) == 0 {
			return nil, notEligible("account", "no rule in %s lets %s request anything in %s", File, ask.Login, ask.Account)
		}
		var roles []string
		for _, r := range inAccount {
			roles = append(roles, r.Roles...)
			for _, ps := range r.PermissionSets {
				roles = append(roles, "permission set "+ps)
			}
		}
		slices.Sort(roles)
		return nil, notEligible(field, "%s may request %s in %s, not %s", ask.Login, strings.Join(slices.Compact(roles), ", "), ask.Account, name)
	}

	d := &Decision{Emergency: ask.Emergency}
	var problems []Problem
	var tickets []*regexp.Regexp
	if ask.Emergency {
		var allowing []*Rule
		for _, r := range matched {
			if r.Emergency != nil {
				allowing = append(allowing, r)
			}
		}
		if len(allowing) == 0 {
			return nil, notEligible("emergency", "no rule allows emergency (break-glass) requests for %s in %s: remove emergency and ask for approval", name, ask.Account)
		}
		d.Approvers = approversOf(allowing)
		for _, r := range allowing {
			d.Rules = append(d.Rules, r.Name)
			d.MaxDuration = max(d.MaxDuration, r.Emergency.MaxDuration)
			if r.Ticket != nil {
				tickets = append(tickets, r.Ticket)
			}
		}
		if ask.Ticket == "" {
			problems = append(problems, Problem{"ticket", "emergency requests must carry a ticket"})
		}
	} else {
		d.Approvers = approversOf(matched)
		for _, r := range matched {
			d.Rules = append(d.Rules, r.Name)
			d.MaxDuration = max(d.MaxDuration, r.MaxDuration)
			d.Approvals = max(d.Approvals, r.Approvals)
			if r.Ticket != nil {
				tickets = append(tickets, r.Ticket)
			}
		}
	}
	if ask.Duration > d.MaxDuration {
		kind := "max_duration"
		if ask.Emergency {
			kind = "emergency max_duration"
		}
		problems = append(problems, Problem{"duration", fmt.Sprintf("%s is over the %s of %s (rule %s)", request.FormatDuration(ask.Duration), kind, request.FormatDuration(d.MaxDuration), strings.Join(d.Rules, ", "))})
	}
	if len(tickets) > 0 && !matchesAny(tickets, ask.Ticket) {
		var pats []string
		for _, re := range tickets {
			pats = append(pats, re.String())
		}
		msg := fmt.Sprintf("a ticket matching %s is required", strings.Join(pats, " or "))
		if ask.Ticket != "" {
			msg = fmt.Sprintf("%q does not match %s", ask.Ticket, strings.Join(pats, " or "))
		}
		problems = append(problems, Problem{"ticket", msg})
	}
	if len(problems) > 0 {
		return nil, &NotEligibleError{Problems: problems}
	}
	return d, nil
}

// Eligible reports whether login may hold target under some rule,
// whatever the duration: the broker's check at issuance.
func (p *Policy) Eligible(ctx context.Context, login string, target request.Target, members Membership) (bool, error) {
	if _, ok := p.Accounts[target.Account]; !ok {
		return false, nil
	}
	if _, ok := p.PermissionSets[target.PermissionSet]; target.IsPermissionSet() && !ok {
		return false, nil
	}
	who := newWhoMatcher(ctx, login, members)
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.allows(target.Account, target.Role, target.PermissionSet) {
			continue
		}
		ok, err := who.matches(r.Who)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// AccountNames lists the account names, sorted.
func (p *Policy) AccountNames() []string {
	names := make([]string, 0, len(p.Accounts))
	for n := range p.Accounts {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func matchesAny(patterns []*regexp.Regexp, s string) bool {
	if s == "" {
		return false
	}
	for _, re := range patterns {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func notEligible(field, format string, args ...any) error {
	return &NotEligibleError{Problems: []Problem{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// whoMatcher matches a login against rules' principals, asking about each
// team at most once per evaluation.
type whoMatcher struct {
	ctx   context.Context
	login string
	teams *Memo
}

func newWhoMatcher(ctx context.Context, login string, members Membership) whoMatcher {
	return whoMatcher{ctx: ctx, login: login, teams: NewMemo(members)}
}

func (w whoMatcher) matches(who []Principal) (bool, error) {
	for _, p := range who {
		if p.Login != "" && strings.EqualFold(p.Login, w.login) {
			return true, nil
		}
	}
	for _, p := range who {
		if p.Team == "" {
			continue
		}
		in, err := w.teams.ActiveTeamMember(w.ctx, p.Org, p.Team, w.login)
		if err != nil || in {
			return in, err
		}
	}
	return false, nil
}
