package eligibility

import (
	"regexp"
	"strconv"
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
	// IdentityCenter is nil when the file has no identity_center section.
	IdentityCenter *IdentityCenter
	// PermissionSets maps each managed permission set's name to its ARN.
	// These sets are elevate's alone: the broker removes any assignment
	// of one that no open grant explains.
	PermissionSets     map[string]string
	PermissionSetLines map[string]int
	// Sensitive lists the actions an activity summary calls out (IAM
	// action patterns with * wildcards); nil: the built-in list.
	Sensitive []string
}

// IdentityCenter is where permission-set targets are assigned.
type IdentityCenter struct {
	InstanceARN     string
	IdentityStoreID string
	Region          string
	PortalURL       string
	// Users maps a numeric GitHub user id to an Identity Center UserName:
	// by id, never by login, which can be renamed and reclaimed.
	Users map[int64]string
	Line  int
}

// Rule says who may request which roles in which accounts.
type Rule struct {
	Name     string
	Line     int
	Who      []Principal
	Accounts []string
	Roles    []string
	// PermissionSets are Identity Center targets, by name.
	PermissionSets []string
	// Approvers, when set, approve the targets this rule matches instead
	// of the CODEOWNERS of the target's account folder.
	Approvers   []Principal
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
	if err := root.Only([]string{"version", "accounts", "session_duration", "rules", "identity_center", "permission_sets", "activity"}, "version", "accounts", "rules"); err != nil {
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
	if err := p.parsePermissionSets(root); err != nil {
		return nil, err
	}
	if err := p.parseIdentityCenter(root); err != nil {
		return nil, err
	}
	if err := p.parseActivity(root); err != nil {
		return nil, err
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
		for _, ps := range r.PermissionSets {
			if _, ok := p.PermissionSets[ps]; !ok {
				return nil, m.Errorf("permission_sets", "%q is not in permission_sets: list its ARN there first", ps)
			}
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

var (
	// AWS's documented patterns. A permission set ARN under instance/
	// is how moto, the AWS emulator the tests run against, writes it.
	permissionSetARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::(permissionSet|instance)/(sso)?ins-[A-Za-z0-9.-]{16}/ps-[A-Za-z0-9./-]{16}$`)
	instanceARNRE      = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[A-Za-z0-9.-]{16}$`)
	identityStoreRE    = regexp.MustCompile(`^d-[0-9a-z]{10}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	regionRE           = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	githubIDRE         = regexp.MustCompile(`^[1-9][0-9]{0,17}$`)
	// userNameRE is Identity Center's UserName: up to 128 printable
	// characters without spaces.
	userNameRE = regexp.MustCompile(`^[\p{L}\p{M}\p{S}\p{N}\p{P}]{1,128}$`)
)

// MaxPermissionSets bounds the managed permission sets.
const MaxPermissionSets = 500

func (p *Policy) parsePermissionSets(root *strictyaml.Map) error {
	sets, ok, err := root.Map("permission_sets")
	if !ok || err != nil {
		return err
	}
	if len(sets.Keys()) > MaxPermissionSets {
		return root.Errorf("permission_sets", "%d permission sets is over the limit of %d", len(sets.Keys()), MaxPermissionSets)
	}
	p.PermissionSets, p.PermissionSetLines = map[string]string{}, map[string]int{}
	arns := map[string]string{}
	for _, name := range sets.Keys() {
		if !roleRE.MatchString(name) {
			return sets.Errorf(name, "permission set names are 1-64 letters, digits and + = , . @ _ -")
		}
		arn, _, err := sets.String(name)
		if err != nil {
			return err
		}
		if !permissionSetARNRE.MatchString(arn) {
			return sets.Errorf(name, "%q is not a permission set ARN (arn:aws:sso:::permissionSet/ssoins-…/ps-…)", arn)
		}
		if other, dup := arns[arn]; dup {
			return sets.Errorf(name, "%s is also named %q: one name per permission set", arn, other)
		}
		arns[arn] = name
		p.PermissionSets[name] = arn
		p.PermissionSetLines[name] = sets.KeyLine(name)
	}
	return nil
}

func (p *Policy) parseIdentityCenter(root *strictyaml.Map) error {
	m, ok, err := root.Map("identity_center")
	if err != nil {
		return err
	}
	if !ok {
		if len(p.PermissionSets) > 0 {
			return root.Errorf("permission_sets", "permission sets need an identity_center section saying where they are assigned")
		}
		return nil
	}
	if err := m.Only([]string{"instance_arn", "identity_store_id", "region", "portal_url", "users"}, "instance_arn", "identity_store_id", "region", "portal_url", "users"); err != nil {
		return err
	}
	ic := &IdentityCenter{Users: map[int64]string{}, Line: m.Line()}
	for _, f := range []struct {
		key  string
		to   *string
		re   *regexp.Regexp
		want string
	}{
		{"instance_arn", &ic.InstanceARN, instanceARNRE, "an Identity Center instance ARN (arn:aws:sso:::instance/ssoins-…)"},
		{"identity_store_id", &ic.IdentityStoreID, identityStoreRE, "an identity store id (d-…)"},
		{"region", &ic.Region, regionRE, "an AWS region, like eu-west-1"},
		{"portal_url", &ic.PortalURL, regexp.MustCompile(`^https://[^\s/]+(/\S*)?$`), "the https URL of the AWS access portal"},
	} {
		s, _, err := m.String(f.key)
		if err != nil {
			return err
		}
		if !f.re.MatchString(s) {
			return m.Errorf(f.key, "%s is not %s", strictyaml.Quote(s), f.want)
		}
		*f.to = s
	}
	users, _, err := m.Map("users")
	if err != nil {
		return err
	}
	for _, key := range users.Keys() {
		if !githubIDRE.MatchString(key) {
			return users.Errorf(key, "users are keyed by numeric GitHub user id (quoted, like \"1001\"), never by login: a login can be renamed and reclaimed")
		}
		name, _, err := users.String(key)
		if err != nil {
			return err
		}
		if !userNameRE.MatchString(name) {
			return users.Errorf(key, "%s is not an Identity Center UserName", strictyaml.Quote(name))
		}
		id, _ := strconv.ParseInt(key, 10, 64)
		ic.Users[id] = name
	}
	p.IdentityCenter = ic
	return nil
}

// MaxSensitive bounds activity.sensitive.
const MaxSensitive = 200

var actionPatternRE = regexp.MustCompile(`^(\*|[a-z0-9-]+):[A-Za-z0-9*]+$`)

func (p *Policy) parseActivity(root *strictyaml.Map) error {
	m, ok, err := root.Map("activity")
	if !ok || err != nil {
		return err
	}
	if err := m.Only([]string{"sensitive"}, "sensitive"); err != nil {
		return err
	}
	list, _, err := m.Strings("sensitive")
	if err != nil {
		return err
	}
	if len(list) > MaxSensitive {
		return m.Errorf("sensitive", "%d patterns is over the limit of %d", len(list), MaxSensitive)
	}
	for _, pat := range list {
		if !actionPatternRE.MatchString(pat) {
			return m.Errorf("sensitive", "%s is not an action pattern like iam:* or ec2:AuthorizeSecurityGroup*", strictyaml.Quote(pat))
		}
	}
	p.Sensitive = list
	return nil
}

func parseRule(m *strictyaml.Map) (Rule, error) {
	r := Rule{Line: m.Line()}
	if err := m.Only([]string{"name", "who", "accounts", "roles", "permission_sets", "approvers", "max_duration", "approvals", "ticket", "emergency"},
		"name", "who", "accounts", "max_duration", "approvals"); err != nil {
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
	for _, role := range r.Roles {
		if !roleRE.MatchString(role) {
			return r, m.Errorf("roles", "%q is not an IAM role name (a name, not an ARN)", role)
		}
	}
	if r.PermissionSets, _, err = m.Strings("permission_sets"); err != nil {
		return r, err
	}
	if len(r.Roles)+len(r.PermissionSets) == 0 {
		return r, m.Errorf("roles", "must name at least one role (or permission set, under permission_sets)")
	}
	approvers, ok, err := m.Strings("approvers")
	if err != nil {
		return r, err
	}
	if ok && len(approvers) == 0 {
		return r, m.Errorf("approvers", "is empty: name who approves, or remove the line to let the account folder's CODEOWNERS approve")
	}
	for _, a := range approvers {
		p, ok := ParsePrincipal(a)
		if !ok {
			return r, m.Errorf("approvers", "%q is neither a GitHub login nor an @org/team-slug", a)
		}
		r.Approvers = append(r.Approvers, p)
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
