package eligibility

import (
	"regexp"
	"time"

	"github.com/elevate-gitops/elevate/internal/strictyaml"
)

// File is where the policy lives in the access repository.
const File = "eligibility.yaml"

// MaxSize bounds eligibility.yaml.
const MaxSize = 1 << 20

// MaxRules bounds the number of rules.
const MaxRules = 1000

// Bounds of session_duration: STS's own range for AssumeRole.
const (
	MinSessionDuration = 15 * time.Minute
	MaxSessionDuration = 12 * time.Hour
	MaxRuleDuration    = 720 * time.Hour // a request's duration is bounded the same way
	MaxApprovals       = 10
)

var (
	accountNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	accountIDRE   = regexp.MustCompile(`^[0-9]{12}$`)
	roleRE        = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	ruleNameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	loginRE       = regexp.MustCompile(`^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$`)
	teamRE        = regexp.MustCompile(`^@([A-Za-z0-9](?:-?[A-Za-z0-9]){0,38})/([A-Za-z0-9][A-Za-z0-9_.-]{0,99})$`)
)

// Policy is a parsed eligibility.yaml.
type Policy struct {
	Accounts        map[string]string // name -> 12-digit account id
	AccountLines    map[string]int
	SessionDuration time.Duration
	Rules           []Rule
}

// Rule says who may request which roles in which accounts.
type Rule struct {
	Name        string
	Line        int
	Who         []Principal
	Accounts    []string
	Roles       []string
	MaxDuration time.Duration
	Approvals   int
	Ticket      *regexp.Regexp // nil: no ticket required
	Emergency   *Emergency     // nil: no break-glass under this rule
}

// Emergency is a rule's break-glass allowance.
type Emergency struct {
	MaxDuration time.Duration
}

// Principal is a GitHub user login or an org team.
type Principal struct {
	Login string
	Org   string
	Team  string
}

func (p Principal) String() string {
	if p.Team != "" {
		return "@" + p.Org + "/" + p.Team
	}
	return p.Login
}

// ParsePrincipal reads "alice" or "@acme/sre".
func ParsePrincipal(s string) (Principal, bool) {
	if m := teamRE.FindStringSubmatch(s); m != nil {
		return Principal{Org: m[1], Team: m[2]}, true
	}
	if loginRE.MatchString(s) {
		return Principal{Login: s}, true
	}
	return Principal{}, false
}

// Parse reads eligibility.yaml strictly. file names it in errors.
func Parse(file string, data []byte) (*Policy, error) {
	root, err := strictyaml.Parse(file, data, MaxSize)
	if err != nil {
		return nil, err
	}
	if err := root.Only([]string{"version", "accounts", "session_duration", "rules"}, "version", "accounts", "rules"); err != nil {
		return nil, err
	}
	version, _, err := root.Int("version")
	if err != nil {
		return nil, err
	}
	if version != 1 {
		return nil, root.Errorf("version", "unsupported version %d: this elevate reads version 1", version)
	}
	p := &Policy{Accounts: map[string]string{}, AccountLines: map[string]int{}, SessionDuration: time.Hour}
	accounts, _, err := root.Map("accounts")
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, name := range accounts.Keys() {
		if !accountNameRE.MatchString(name) {
			return nil, accounts.Errorf(name, "account names are lowercase letters, digits and -, up to 63 characters")
		}
		id, _, err := accounts.String(name)
		if err != nil {
			return nil, accounts.Errorf(name, "account id must be a quoted 12-digit string, like \"111111111111\"")
		}
		if !accountIDRE.MatchString(id) {
			return nil, accounts.Errorf(name, "account id %q is not 12 digits", id)
		}
		if other, dup := ids[id]; dup {
			return nil, accounts.Errorf(name, "account id %s is also named %q: one name per account", id, other)
		}
		ids[id] = name
		p.Accounts[name] = id
		p.AccountLines[name] = accounts.KeyLine(name)
	}
	if d, ok, err := root.Duration("session_duration", MinSessionDuration, MaxSessionDuration); err != nil {
		return nil, err
	} else if ok {
		p.SessionDuration = d
	}
	rules, _, err := root.Maps("rules")
	if err != nil {
		return nil, err
	}
	if len(rules) > MaxRules {
		return nil, root.Errorf("rules", "%d rules is over the limit of %d", len(rules), MaxRules)
	}
	for _, m := range rules {
		r, err := parseRule(m)
		if err != nil {
			return nil, err
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

func parseRule(m *strictyaml.Map) (Rule, error) {
	r := Rule{Line: m.Line()}
	if err := m.Only([]string{"name", "who", "accounts", "roles", "max_duration", "approvals", "ticket", "emergency"},
		"name", "who", "accounts", "roles", "max_duration", "approvals"); err != nil {
		return r, err
	}
	var err error
	if r.Name, _, err = m.String("name"); err != nil {
		return r, err
	}
	if !ruleNameRE.MatchString(r.Name) {
		return r, m.Errorf("name", "%q: rule names are letters, digits, '.', '_' and '-', up to 64 characters", r.Name)
	}
	who, _, err := m.Strings("who")
	if err != nil {
		return r, err
	}
	if len(who) == 0 {
		return r, m.Errorf("who", "must name at least one GitHub login or @org/team")
	}
	for _, w := range who {
		p, ok := ParsePrincipal(w)
		if !ok {
			return r, m.Errorf("who", "%q is neither a GitHub login nor an @org/team-slug", w)
		}
		r.Who = append(r.Who, p)
	}
	if r.Accounts, _, err = m.Strings("accounts"); err != nil {
		return r, err
	}
	if len(r.Accounts) == 0 {
		return r, m.Errorf("accounts", "must name at least one account")
	}
	if r.Roles, _, err = m.Strings("roles"); err != nil {
		return r, err
	}
	if len(r.Roles) == 0 {
		return r, m.Errorf("roles", "must name at least one role")
	}
	for _, role := range r.Roles {
		if !roleRE.MatchString(role) {
			return r, m.Errorf("roles", "%q is not an IAM role name (a name, not an ARN)", role)
		}
	}
	if r.MaxDuration, _, err = m.Duration("max_duration", time.Minute, MaxRuleDuration); err != nil {
		return r, err
	}
	if r.Approvals, _, err = m.Int("approvals"); err != nil {
		return r, err
	}
	if r.Approvals < 0 || r.Approvals > MaxApprovals {
		return r, m.Errorf("approvals", "%d is out of range 0..%d", r.Approvals, MaxApprovals)
	}
	if pattern, ok, err := m.String("ticket"); err != nil {
		return r, err
	} else if ok {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return r, m.Errorf("ticket", "not a valid regular expression: %v", err)
		}
		r.Ticket = re
	}
	if em, ok, err := m.Map("emergency"); err != nil {
		return r, err
	} else if ok {
		if err := em.Only([]string{"max_duration"}, "max_duration"); err != nil {
			return r, err
		}
		d, _, err := em.Duration("max_duration", time.Minute, MaxRuleDuration)
		if err != nil {
			return r, err
		}
		r.Emergency = &Emergency{MaxDuration: d}
	}
	return r, nil
}

// AccountID returns the 12-digit id of a named account.
func (p *Policy) AccountID(name string) (string, bool) {
	id, ok := p.Accounts[name]
	return id, ok
}
