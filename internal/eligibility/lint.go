package eligibility

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/elevate-gitops/elevate/internal/codeowners"
	"github.com/elevate-gitops/elevate/internal/strictyaml"
)

// SamplePath is a request path in account's folder, used to ask CODEOWNERS
// who reviews that account's requests.
func SamplePath(account string) string {
	return "requests/" + account + "/2000-01/request.yaml"
}

// Lint finds what makes the policy fail its users: rules naming unknown
// accounts, duplicate rule names, rules nobody but the requester could
// approve, and request folders (accounts, and requestDirs found on disk)
// that no CODEOWNERS rule covers. It works offline: a team owner is assumed
// to have members other than the requester.
func Lint(p *Policy, owners *codeowners.File, requestDirs []string) []*strictyaml.Error {
	var out []*strictyaml.Error
	at := func(line int, field, format string, args ...any) {
		out = append(out, &strictyaml.Error{File: File, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	seen := map[string]int{}
	for _, r := range p.Rules {
		if first, dup := seen[r.Name]; dup {
			at(r.Line, "name", "duplicate rule name %q (first on line %d)", r.Name, first)
		} else {
			seen[r.Name] = r.Line
		}
		for _, a := range r.Accounts {
			if _, ok := p.Accounts[a]; !ok {
				at(r.Line, "accounts", "rule %s names unknown account %q (known: %s)", r.Name, a, strings.Join(p.AccountNames(), ", "))
				continue
			}
			if len(r.Approvers) > 0 {
				continue // the rule's approvers decide, checked below
			}
			if msg := unapprovable(r, a, owners); msg != "" {
				at(r.Line, "approvals", "rule %s can never be approved in %s: %s", r.Name, a, msg)
			}
		}
		if msg := approversShort(r); msg != "" {
			at(r.Line, "approvers", "rule %s can never be approved: %s", r.Name, msg)
		}
	}

	dirs := slices.Clone(requestDirs)
	dirs = append(dirs, p.AccountNames()...)
	slices.Sort(dirs)
	for _, d := range slices.Compact(dirs) {
		if _, ok := p.Accounts[d]; !ok {
			out = append(out, &strictyaml.Error{File: "requests/" + d + "/", Message: fmt.Sprintf("%q is not an account in %s: requests filed here are always rejected", d, File)})
		}
		if _, err := owners.Owners(SamplePath(d)); err != nil {
			out = append(out, &strictyaml.Error{File: "requests/" + d + "/", Message: "no CODEOWNERS rule covers this folder, so nobody can approve its requests: " + err.Error()})
		}
	}
	return out
}

// unapprovable explains why a rule's approvals can never be met in account,
// or returns "".
func unapprovable(r Rule, account string, owners *codeowners.File) string {
	if r.Approvals == 0 {
		return ""
	}
	list, err := owners.Owners(SamplePath(account))
	var noOwner *codeowners.NoOwnerError
	if errors.As(err, &noOwner) {
		return "requests/" + account + "/ has no CODEOWNERS owner"
	}
	if err != nil {
		return err.Error()
	}
	var users []string
	for _, o := range list {
		if o.Team != "" {
			return "" // a team may hold enough other members; only GitHub knows
		}
		users = append(users, strings.ToLower(o.Login))
	}
	for _, w := range r.Who {
		others := len(users)
		if w.Login != "" && slices.Contains(users, strings.ToLower(w.Login)) {
			others--
		}
		if others < r.Approvals {
			return fmt.Sprintf("it needs %d approval(s) but %s has %d owner(s) other than the requester %s", r.Approvals, "requests/"+account+"/", others, w)
		}
	}
	return ""
}

// Warnings are what lint tells but does not fail on: the managed
// permission sets are elevate's alone.
func Warnings(p *Policy) []*strictyaml.Error {
	var out []*strictyaml.Error
	for _, name := range sortedKeys(p.PermissionSets) {
		out = append(out, &strictyaml.Error{File: File, Line: p.PermissionSetLines[name], Field: "permission_sets." + name,
			Message: fmt.Sprintf("permission set %s is elevate's alone: the broker removes every assignment of it that no open grant explains, including ones made by hand or by other tools", name)})
	}
	return out
}

// approversShort explains why a rule's own approvers can never give its
// approvals, or returns "": too few of them, once the requester (who never
// approves their own request) is left out. A team may hold enough members;
// only GitHub knows.
func approversShort(r Rule) string {
	if len(r.Approvers) == 0 || r.Approvals == 0 {
		return ""
	}
	var users []string
	for _, a := range r.Approvers {
		if a.Team != "" {
			return ""
		}
		if login := strings.ToLower(a.Login); !slices.Contains(users, login) {
			users = append(users, login) // logins are case-insensitive: one person
		}
	}
	for _, w := range r.Who {
		others := len(users)
		if w.Login != "" && slices.Contains(users, strings.ToLower(w.Login)) {
			others--
		}
		if others < r.Approvals {
			return fmt.Sprintf("it needs %d approval(s) but names %d approver(s) other than the requester %s", r.Approvals, others, w)
		}
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
