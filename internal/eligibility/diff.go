package eligibility

import (
	"cmp"
	"fmt"
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
}

// Empty reports whether the edit changes nobody's access.
func (c Change) Empty() bool { return len(c.Gained)+len(c.Lost)+len(c.Remapped) == 0 }

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
	return c
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
