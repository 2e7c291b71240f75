package eligibility

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/elevate-gitops/elevate/internal/request"
)

// Access is one principal's right to request one role in one account.
type Access struct {
	Who     string // login (lower case) or @org/team
	Account string
	Role    string // a role, or ps/NAME for a permission set
}

func (a Access) String() string { return fmt.Sprintf("%s: %s/%s", a.Who, a.Account, a.Role) }

// Change is what a policy edit does to people's access.
type Change struct {
	Gained, Lost []Access
	// Remapped lists account names whose 12-digit id changed: everyone
	// eligible there now reaches a different AWS account.
	Remapped []string
	// Notes say what else changes who gets what, or who decides: a
	// permission set's ARN, Identity Center's instance, whose GitHub id
	// maps to which Identity Center user, a rule's approvers, approvals
	// or break-glass allowance.
	Notes []string
}

// Empty reports whether the edit changes nobody's access.
func (c Change) Empty() bool { return len(c.Gained)+len(c.Lost)+len(c.Remapped)+len(c.Notes) == 0 }

// Diff compares two policies at the level a reviewer cares about: who can now
// get what. Team members are not expanded; the team is the principal.
func Diff(before, after *Policy) Change {
	was, is := before.accessSet(), after.accessSet()
	var c Change
	for a := range is {
		if !was[a] {
			c.Gained = append(c.Gained, a)
		}
	}
	for a := range was {
		if !is[a] {
			c.Lost = append(c.Lost, a)
		}
	}
	for name, id := range after.Accounts {
		if old, ok := before.Accounts[name]; ok && old != id {
			c.Remapped = append(c.Remapped, name)
		}
	}
	order := func(x, y Access) int {
		return cmp.Or(strings.Compare(x.Who, y.Who), strings.Compare(x.Account, y.Account), strings.Compare(x.Role, y.Role))
	}
	slices.SortFunc(c.Gained, order)
	slices.SortFunc(c.Lost, order)
	slices.Sort(c.Remapped)
	c.Notes = notes(before, after)
	return c
}

// notes lists the changes beyond the access set that decide who gets what.
func notes(before, after *Policy) []string {
	if before == nil || after == nil {
		return nil
	}
	var out []string
	note := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for _, name := range unionKeys(before.PermissionSets, after.PermissionSets) {
		was, is := before.PermissionSets[name], after.PermissionSets[name]
		if was != "" && is != "" && was != is {
			note("permission set %s now names another set: %s (was %s)", name, is, was)
		}
	}
	bic, aic := before.IdentityCenter, after.IdentityCenter
	switch {
	case bic == nil && aic != nil:
		note("Identity Center is now configured: instance %s, identity store %s", aic.InstanceARN, aic.IdentityStoreID)
	case bic != nil && aic == nil:
		note("Identity Center is no longer configured")
	case bic != nil && aic != nil:
		if bic.InstanceARN != aic.InstanceARN || bic.IdentityStoreID != aic.IdentityStoreID || bic.Region != aic.Region {
			note("Identity Center moves to instance %s, identity store %s in %s", aic.InstanceARN, aic.IdentityStoreID, aic.Region)
		}
		ids := slices.Collect(maps.Keys(bic.Users))
		for id := range aic.Users {
			if _, ok := bic.Users[id]; !ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			was, is := bic.Users[id], aic.Users[id]
			switch {
			case was == "":
				note("GitHub user %d now signs in to Identity Center as %s", id, is)
			case is == "":
				note("GitHub user %d no longer maps to an Identity Center user (was %s)", id, was)
			case was != is:
				note("GitHub user %d now signs in to Identity Center as %s (was %s)", id, is, was)
			}
		}
	}
	rules := map[string]Rule{}
	for _, r := range before.Rules {
		rules[r.Name] = r
	}
	for _, r := range after.Rules {
		old, ok := rules[r.Name]
		if !ok {
			continue
		}
		if !slices.Equal(old.Approvers, r.Approvers) {
			note("rule %s is now approved by %s (was %s)", r.Name, approversText(r.Approvers), approversText(old.Approvers))
		}
		if old.Approvals != r.Approvals {
			note("rule %s now needs %d approval(s) (was %d)", r.Name, r.Approvals, old.Approvals)
		}
		if (old.Emergency == nil) != (r.Emergency == nil) || (old.Emergency != nil && old.Emergency.MaxDuration != r.Emergency.MaxDuration) {
			note("rule %s break-glass: %s (was %s)", r.Name, emergencyText(r.Emergency), emergencyText(old.Emergency))
		}
	}
	return out
}

func approversText(list []Principal) string {
	if len(list) == 0 {
		return "the CODEOWNERS of the account's folder"
	}
	names := make([]string, len(list))
	for i, p := range list {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}

func emergencyText(e *Emergency) string {
	if e == nil {
		return "none"
	}
	return "up to " + request.FormatDuration(e.MaxDuration)
}

func unionKeys(a, b map[string]string) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (p *Policy) accessSet() map[Access]bool {
	set := map[Access]bool{}
	if p == nil {
		return set
	}
	for _, r := range p.Rules {
		for _, w := range r.Who {
			who := strings.ToLower(w.Login)
			if w.Team != "" {
				who = w.String()
			}
			for _, a := range r.Accounts {
				if _, ok := p.Accounts[a]; !ok {
					continue
				}
				for _, role := range r.Roles {
					set[Access{Who: who, Account: a, Role: role}] = true
				}
				for _, ps := range r.PermissionSets {
					set[Access{Who: who, Account: a, Role: request.PermissionSetPrefix + ps}] = true
				}
			}
		}
	}
	return set
}
