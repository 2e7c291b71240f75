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

// Request is a parsed request file.
type Request struct {
	Requester string // GitHub login
	Account   string
	Role      string // IAM role name, not an ARN
	Duration  time.Duration
	Reason    string    // trimmed of surrounding white space
	Ticket    string    // "" when absent
	NotBefore time.Time // zero when absent; in UTC
	Emergency bool
	// Lines maps each YAML key present in the file ("requester", "account",
	// ...) to its 1-based line, for annotations.
	Lines map[string]int
}

// Error is a problem in a file. It is strictyaml's type, so errors.As finds
// it as either.
type Error = strictyaml.Error

// The keys of a request file, in canonical order.
const (
	keyRequester = "requester"
	keyAccount   = "account"
	keyRole      = "role"
	keyDuration  = "duration"
	keyReason    = "reason"
	keyTicket    = "ticket"
	keyNotBefore = "not_before"
	keyEmergency = "emergency"
)

var (
	allKeys      = []string{keyRequester, keyAccount, keyRole, keyDuration, keyReason, keyTicket, keyNotBefore, keyEmergency}
	requiredKeys = []string{keyRequester, keyAccount, keyRole, keyDuration, keyReason}
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
	if err := root.Only(allKeys, requiredKeys...); err != nil {
		return nil, err
	}
	if err := root.PlainKeys(); err != nil {
		return nil, err
	}
	r := &Request{Lines: make(map[string]int, len(allKeys))}
	for _, key := range root.Keys() {
		r.Lines[key] = root.KeyLine(key)
	}
	for _, parse := range []func(*strictyaml.Map) error{r.parseRequester, r.parseAccount, r.parseRole,
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

func (r *Request) parseAccount(m *strictyaml.Map) (err error) {
	if r.Account, _, err = m.String(keyAccount); err != nil || accountRE.MatchString(r.Account) {
		return err
	}
	return m.Errorf(keyAccount, "%s is not an account name: lowercase letters, digits and hyphens, at most 63 characters, starting with a letter or digit", quote(r.Account))
}

func (r *Request) parseRole(m *strictyaml.Map) (err error) {
	s, _, err := m.String(keyRole)
	switch {
	case err != nil:
		return err
	case roleRE.MatchString(s):
		r.Role = s
		return nil
	case !strings.HasPrefix(s, "arn:"):
		return m.Errorf(keyRole, "%s is not an IAM role name: 1-64 letters, digits and + = , . @ _ -", quote(s))
	}
	if name := s[strings.LastIndex(s, "/")+1:]; strings.Contains(s, ":role/") && roleRE.MatchString(name) {
		return m.Errorf(keyRole, "must be a role name, not an ARN: write %s", quote(name))
	}
	return m.Errorf(keyRole, "must be a role name, not an ARN")
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
	add(keyAccount, "!!str", r.Account)
	add(keyRole, "!!str", r.Role)
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
