package request

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/elevate-gitops/elevate/internal/strictyaml"
	"gopkg.in/yaml.v3"
)

// MaxSize is the largest request file Parse reads, in bytes.
const MaxSize = 16 << 10

// MaxNotBeforeAhead is how far in the future not_before may lie, measured
// from the time the request is judged. Parse has no clock and does not check
// it; the validator and the broker do.
const MaxNotBeforeAhead = 30 * 24 * time.Hour

// maxDuration bounds the duration field.
const maxDuration = 720 * time.Hour

// MaxTargets bounds the targets of one request.
const MaxTargets = 20

// Request is a parsed request file.
type Request struct {
	Requester string // GitHub login
	// Account is the account whose folder holds the file: the account of
	// a one-target request, the first target's in a list.
	Account string
	// Role or PermissionSet is the one target's in Account; both are ""
	// when the file lists Targets.
	Role          string // IAM role name, not an ARN
	PermissionSet string // IAM Identity Center permission set name
	// Targets is the file's targets: list, nil when it names one target
	// with account and role or permission_set. AllTargets reads both forms.
	Targets   []Target
	Duration  time.Duration
	Reason    string    // trimmed of surrounding white space
	Ticket    string    // "" when absent
	NotBefore time.Time // zero when absent; in UTC
	Emergency bool
	// Lines maps each YAML key present in the file ("requester", "account",
	// ...) to its 1-based line, for annotations; a listed target's line is
	// under TargetField(i).
	Lines map[string]int
}

// Target is one account and IAM role, or account and Identity Center
// permission set, that a request asks for.
type Target struct {
	Account       string
	Role          string // "" for a permission set
	PermissionSet string // "" for a role
}

// IsPermissionSet reports whether t is an Identity Center target.
func (t Target) IsPermissionSet() bool { return t.PermissionSet != "" }

// Name is the role's or the permission set's name.
func (t Target) Name() string {
	if t.IsPermissionSet() {
		return t.PermissionSet
	}
	return t.Role
}

// Qualified is the role's name, or the permission set's after "ps/": what
// follows the account in String, and what an ask by account and role
// names for a permission set.
func (t Target) Qualified() string {
	if t.IsPermissionSet() {
		return PermissionSetPrefix + t.PermissionSet
	}
	return t.Role
}

// String writes t the way the CLI reads it: "prod:Admin" for a role,
// "payments:ps/PaymentsAdmin" for a permission set.
func (t Target) String() string { return t.Account + ":" + t.Qualified() }

// PermissionSetPrefix marks a permission set in a target written as text.
const PermissionSetPrefix = "ps/"

// ParseTarget reads "ACCOUNT:ROLE" or "ACCOUNT:ps/PERMISSION_SET".
func ParseTarget(s string) (Target, error) {
	account, name, ok := strings.Cut(s, ":")
	if !ok || account == "" || name == "" {
		return Target{}, fmt.Errorf("target %s: write ACCOUNT:ROLE or ACCOUNT:ps/PERMISSION_SET, like prod:Admin", quote(s))
	}
	if !accountRE.MatchString(account) {
		return Target{}, fmt.Errorf("target %s: %s is not an account name", quote(s), quote(account))
	}
	t := Target{Account: account, Role: name}
	if ps, ok := strings.CutPrefix(name, PermissionSetPrefix); ok {
		t = Target{Account: account, PermissionSet: ps}
	}
	if !roleRE.MatchString(t.Name()) {
		return Target{}, fmt.Errorf("target %s: %s is not a role or permission set name: 1-64 letters, digits and + = , . @ _ -", quote(s), quote(t.Name()))
	}
	return t, nil
}

// AllTargets is every target of r, in file order: one for a file that
// names account and role or permission_set, the list otherwise.
func (r *Request) AllTargets() []Target {
	if len(r.Targets) > 0 {
		return r.Targets
	}
	return []Target{{Account: r.Account, Role: r.Role, PermissionSet: r.PermissionSet}}
}

// Target returns r's target in account whose Qualified name is role (a
// role, or ps/NAME), or whose permission set is named role when no role
// is: people ask for a permission set by its name too.
func (r *Request) Target(account, role string) (Target, bool) {
	for _, t := range r.AllTargets() {
		if t.Account == account && t.Qualified() == role {
			return t, true
		}
	}
	for _, t := range r.AllTargets() {
		if t.Account == account && t.PermissionSet == role {
			return t, true
		}
	}
	return Target{}, false
}

// TargetField is the field name of the i-th listed target (0-based), as
// errors and Lines name it.
func TargetField(i int) string { return fmt.Sprintf("%s[%d]", keyTargets, i) }

// Error is a problem in a file. It is strictyaml's type, so errors.As finds
// it as either.
type Error = strictyaml.Error

// The keys of a request file, in canonical order.
const (
	keyRequester = "requester"
	keyAccount   = "account"
	keyRole      = "role"
	keyPermSet   = "permission_set"
	keyTargets   = "targets"
	keyDuration  = "duration"
	keyReason    = "reason"
	keyTicket    = "ticket"
	keyNotBefore = "not_before"
	keyEmergency = "emergency"
)

var (
	allKeys = []string{keyRequester, keyAccount, keyRole, keyPermSet, keyTargets, keyDuration, keyReason, keyTicket, keyNotBefore, keyEmergency}
)

var (
	// loginRE is GitHub's login rule: 1-39 characters (length checked
	// separately), letters, digits and single hyphens, no hyphen at either end.
	loginRE   = regexp.MustCompile(`^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$`)
	accountRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	roleRE    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
)

// Parse strictly parses one request file. file is the repository path of the
// file; it appears in errors only. Every error is an *Error, and it is the
// first problem found: what strictyaml.Parse checks (the bytes, YAML syntax,
// one document, anchors and aliases, keys), then unknown and missing keys,
// then each value in canonical key order.
func Parse(file string, data []byte) (*Request, error) {
	root, err := strictyaml.Parse(file, data, MaxSize)
	if err != nil {
		return nil, err
	}
	if err := root.Only(allKeys); err != nil {
		return nil, err
	}
	if err := missing(root); err != nil {
		return nil, err
	}
	if err := root.PlainKeys(); err != nil {
		return nil, err
	}
	r := &Request{Lines: make(map[string]int, len(allKeys))}
	for _, key := range root.Keys() {
		r.Lines[key] = root.KeyLine(key)
	}
	for _, parse := range []func(*strictyaml.Map) error{r.parseRequester, r.parseTargets,
		r.parseDuration, r.parseReason, r.parseTicket, r.parseNotBefore, r.parseEmergency} {
		if err := parse(root); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Request) parseRequester(m *strictyaml.Map) (err error) {
	if r.Requester, _, err = m.String(keyRequester); err != nil || validLogin(r.Requester) {
		return err
	}
	hint := ""
	if strings.HasPrefix(r.Requester, "@") {
		hint = " (without the @)"
	}
	return m.Errorf(keyRequester, "%s is not a GitHub login%s: letters, digits and single hyphens, at most 39 characters, not starting or ending with a hyphen", quote(r.Requester), hint)
}

// missing reports the first required key a file lacks, in canonical
// order: a file without targets needs account and role (or
// permission_set).
func missing(root *strictyaml.Map) error {
	required := []string{keyRequester, keyAccount, keyRole, keyDuration, keyReason}
	for _, key := range required {
		switch {
		case root.Has(key):
		case (key == keyAccount || key == keyRole) && (root.Has(keyTargets) || key == keyRole && root.Has(keyPermSet)):
		default:
			return root.Only(allKeys, key)
		}
	}
	return nil
}

// parseTargets reads account with role or permission_set, or the targets
// list: exactly one form, and in a list 1 to MaxTargets distinct targets.
func (r *Request) parseTargets(m *strictyaml.Map) error {
	if m.Has(keyTargets) {
		for _, key := range []string{keyAccount, keyRole, keyPermSet} {
			if m.Has(key) {
				return m.Errorf(key, "a request lists its targets or names one account with role or permission_set, not both: move %s into targets", key)
			}
		}
		return r.parseTargetList(m)
	}
	t, err := parseTarget(m, "a request names its account and role (or permission_set), or lists targets")
	if err != nil {
		return err
	}
	r.Account, r.Role, r.PermissionSet = t.Account, t.Role, t.PermissionSet
	return nil
}

func (r *Request) parseTargetList(m *strictyaml.Map) error {
	list, _, err := m.Maps(keyTargets)
	if err != nil {
		return err
	}
	switch {
	case len(list) == 0:
		return m.Errorf(keyTargets, "lists no target: name at least one {account: …, role: …}")
	case len(list) > MaxTargets:
		return m.Errorf(keyTargets, "lists %d targets; at most %d are allowed in one request", len(list), MaxTargets)
	}
	seen := map[Target]int{}
	for i, item := range list {
		if err := item.Only([]string{keyAccount, keyRole, keyPermSet}); err != nil {
			return err
		}
		if err := item.PlainKeys(); err != nil {
			return err
		}
		t, err := parseTarget(item, "each target names its account and role or permission_set")
		if err != nil {
			return err
		}
		if first, dup := seen[t]; dup {
			return item.Problemf("%s is listed twice (first as %s): name each target once", t, TargetField(first))
		}
		seen[t] = i
		r.Lines[TargetField(i)] = item.Line()
		r.Targets = append(r.Targets, t)
	}
	r.Account = r.Targets[0].Account
	return nil
}

// parseTarget reads account and exactly one of role and permission_set
// from m, a request file or one item of its targets list.
func parseTarget(m *strictyaml.Map, form string) (Target, error) {
	var t Target
	switch {
	case !m.Has(keyAccount):
		return t, m.Errorf(keyAccount, "required key is missing: %s", form)
	case m.Has(keyRole) && m.Has(keyPermSet):
		return t, m.Errorf(keyPermSet, "a target is a role or a permission set, not both: keep one of role and permission_set")
	case !m.Has(keyRole) && !m.Has(keyPermSet):
		return t, m.Errorf(keyRole, "required key is missing: %s", form)
	}
	var err error
	if t.Account, _, err = m.String(keyAccount); err != nil {
		return t, err
	}
	if !accountRE.MatchString(t.Account) {
		return t, m.Errorf(keyAccount, "%s is not an account name: lowercase letters, digits and hyphens, at most 63 characters, starting with a letter or digit", quote(t.Account))
	}
	if m.Has(keyPermSet) {
		s, _, err := m.String(keyPermSet)
		switch {
		case err != nil:
			return t, err
		case strings.HasPrefix(s, "arn:"):
			return t, m.Errorf(keyPermSet, "must be the permission set's name as eligibility.yaml lists it, not an ARN")
		case !roleRE.MatchString(s):
			return t, m.Errorf(keyPermSet, "%s is not a permission set name: 1-64 letters, digits and + = , . @ _ -", quote(s))
		}
		t.PermissionSet = s
		return t, nil
	}
	s, _, err := m.String(keyRole)
	switch {
	case err != nil:
		return t, err
	case roleRE.MatchString(s):
		t.Role = s
		return t, nil
	case !strings.HasPrefix(s, "arn:"):
		return t, m.Errorf(keyRole, "%s is not an IAM role name: 1-64 letters, digits and + = , . @ _ -", quote(s))
	}
	if name := s[strings.LastIndex(s, "/")+1:]; strings.Contains(s, ":role/") && roleRE.MatchString(name) {
		return t, m.Errorf(keyRole, "must be a role name, not an ARN: write %s", quote(name))
	}
	return t, m.Errorf(keyRole, "must be a role name, not an ARN")
}

func (r *Request) parseDuration(m *strictyaml.Map) (err error) {
	r.Duration, _, err = m.Duration(keyDuration, time.Nanosecond, maxDuration)
	return err
}

func (r *Request) parseReason(m *strictyaml.Map) error {
	s, _, err := m.String(keyReason)
	if err != nil {
		return err
	}
	s = strings.TrimSpace(s)
	for _, c := range s {
		if (unicode.IsControl(c) && c != '\n') || c == '\u2028' || c == '\u2029' {
			return m.Errorf(keyReason, "must not contain control characters (found %U); only line breaks are allowed", c)
		}
		// Bidirectional overrides and isolates make a reviewer read text in
		// another order than the one stored ("Trojan Source").
		if (c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069') {
			return m.Errorf(keyReason, "must not contain bidirectional formatting characters (found %U): they make reviewers read another text than the one stored", c)
		}
	}
	switch n := utf8.RuneCountInString(s); {
	case n < 10:
		return m.Errorf(keyReason, "is %d characters; write at least 10 so reviewers know why", n)
	case n > 1000:
		return m.Errorf(keyReason, "is %d characters; at most 1000 are allowed", n)
	}
	r.Reason = s
	return nil
}

func (r *Request) parseTicket(m *strictyaml.Map) error {
	s, ok, err := m.String(keyTicket)
	switch n := utf8.RuneCountInString(s); {
	case !ok || err != nil:
		return err
	case strings.TrimSpace(s) == "":
		return m.Errorf(keyTicket, "is empty; remove the line if there is no ticket")
	case n > 100:
		return m.Errorf(keyTicket, "is %d characters; at most 100 are allowed", n)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return m.Errorf(keyTicket, "must be printable text on one line (found %U)", c)
		}
	}
	if s != strings.TrimSpace(s) {
		return m.Errorf(keyTicket, "%s must not start or end with spaces", quote(s))
	}
	r.Ticket = s
	return nil
}

func (r *Request) parseNotBefore(m *strictyaml.Map) error {
	t, ok, err := m.Time(keyNotBefore)
	if !ok || err != nil {
		return err
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return m.Errorf(keyNotBefore, "%s is out of range: in UTC its year must be 1 to 9999", quote(t.Format(time.RFC3339Nano)))
	}
	r.NotBefore = t.UTC()
	return nil
}

// parseEmergency runs after parseNotBefore. An emergency opens at its
// merge: with not_before, a string of pre-dated emergency files would give
// weeks of access no one approved.
func (r *Request) parseEmergency(m *strictyaml.Map) (err error) {
	if r.Emergency, _, err = m.Bool(keyEmergency); err != nil {
		return err
	}
	if r.Emergency && !r.NotBefore.IsZero() {
		return m.Errorf(keyNotBefore, "an emergency request opens when it is merged and cannot carry not_before: drop not_before, or ask without emergency")
	}
	return nil
}

// quote quotes a value from the file for an error message, shortened.
func quote(s string) string { return strictyaml.Quote(s) }

// validLogin reports whether s has the form of a GitHub login.
func validLogin(s string) bool {
	return len(s) <= 39 && loginRE.MatchString(s)
}

// Window is the time in which a request merged at mergedAt grants access:
// from the later of mergedAt and NotBefore, for Duration.
func (r *Request) Window(mergedAt time.Time) (start, end time.Time) {
	start = mergedAt
	if r.NotBefore.After(start) {
		start = r.NotBefore
	}
	return start, start.Add(r.Duration)
}

// Marshal returns the canonical YAML of r: keys in a fixed order, optional
// fields only when set, strings quoted only where YAML needs it. It does not
// validate r; Parse the result to do that. For any r returned by Parse,
// Parse(Marshal(r)) equals r except for Lines.
func Marshal(r *Request) []byte {
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	add := func(key, tag, value string) {
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: strings.ToValidUTF8(value, "\uFFFD")})
	}
	add(keyRequester, "!!str", r.Requester)
	if len(r.Targets) > 0 {
		list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, t := range r.Targets {
			item := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
			kind, name := keyRole, t.Role
			if t.IsPermissionSet() {
				kind, name = keyPermSet, t.PermissionSet
			}
			for _, kv := range [][2]string{{keyAccount, t.Account}, {kind, name}} {
				item.Content = append(item.Content,
					&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv[0]},
					&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv[1]})
			}
			list.Content = append(list.Content, item)
		}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: keyTargets}, list)
	} else {
		add(keyAccount, "!!str", r.Account)
		if r.PermissionSet != "" {
			add(keyPermSet, "!!str", r.PermissionSet)
		} else {
			add(keyRole, "!!str", r.Role)
		}
	}
	add(keyDuration, "!!str", FormatDuration(r.Duration))
	add(keyReason, "!!str", r.Reason)
	if r.Ticket != "" {
		add(keyTicket, "!!str", r.Ticket)
	}
	if !r.NotBefore.IsZero() {
		add(keyNotBefore, "!!timestamp", r.NotBefore.UTC().Format(time.RFC3339Nano))
	}
	if r.Emergency {
		add(keyEmergency, "!!bool", "true")
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		// Every node above is a valid UTF-8 scalar, which yaml.v3 always encodes.
		panic("request: marshal: " + err.Error())
	}
	if err := enc.Close(); err != nil {
		panic("request: marshal: " + err.Error())
	}
	return buf.Bytes()
}

// FormatDuration writes d the way people do ("2h", "1h30m", "1m30s") when
// it is whole seconds, and as time.Duration.String otherwise.
func FormatDuration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	h, m, s := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
