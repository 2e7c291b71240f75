package request

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// Error is a problem in a file.
type Error struct {
	File    string
	Line    int // 1-based; 0 when the problem belongs to the whole file
	Field   string
	Message string
}

// Error renders "FILE:LINE: FIELD: MESSAGE", omitting ":LINE" when Line is 0
// and "FIELD: " when Field is empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line != 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

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
	yamlErrRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// Parse strictly parses one request file. file is the repository path of the
// file; it appears in errors only. Every error is an *Error, and it is the
// first problem found: problems with the bytes (size, encoding, control
// characters, tabs) first, then YAML syntax, then the document in order.
func Parse(file string, data []byte) (*Request, error) {
	if len(data) > MaxSize {
		return nil, &Error{File: file, Message: fmt.Sprintf("file is %d bytes, over the limit of %d bytes", len(data), MaxSize)}
	}
	if err := checkText(file, data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Message: "empty request file"}
		}
		return nil, syntaxError(file, err)
	}
	r, err := fromDocument(file, &doc)
	if err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := decode(dec, &extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(file, err)
		}
		return nil, &Error{File: file, Line: extra.Line, Message: "more than one YAML document; a request file holds exactly one (remove the ---)"}
	}
	return r, nil
}

// decode reads one document into a yaml.Node. A yaml.Node keeps aliases as
// pointers and never expands them. The recover turns a parser panic on
// hostile input into an error rather than a crash.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("yaml: internal parser error: %v", p)
		}
	}()
	return dec.Decode(n)
}

// checkText rejects what is not plain UTF-8 text, and tabs used for
// indentation, in one pass so that the first problem in the file wins.
func checkText(file string, data []byte) *Error {
	line := 1
	inIndent := true // only spaces and tabs seen since the line began
	tabInIndent := false
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\n':
				line++
				inIndent, tabInIndent = true, false
			case c == '\r':
				if i+1 >= len(data) || data[i+1] != '\n' {
					line++ // a lone CR ends a line for YAML too
				}
				inIndent, tabInIndent = true, false
			case c == '\t':
				if inIndent {
					tabInIndent = true
				}
			case c == ' ':
			case c == 0:
				return &Error{File: file, Line: line, Message: "NUL byte: a request file is text"}
			case c < 0x20 || c == 0x7f:
				return &Error{File: file, Line: line, Message: fmt.Sprintf("control character %U is not allowed", c)}
			default:
				if tabInIndent {
					return tabError(file, line)
				}
				inIndent = false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return &Error{File: file, Line: line, Message: fmt.Sprintf("invalid UTF-8 (byte 0x%02x): a request file is UTF-8 text", c)}
		case r >= 0x80 && r <= 0x9f:
			return &Error{File: file, Line: line, Message: fmt.Sprintf("control character %U is not allowed", r)}
		case r == 0xfffe || r == 0xffff:
			return &Error{File: file, Line: line, Message: fmt.Sprintf("non-character %U is not allowed", r)}
		case r == 0xfeff && i != 0:
			return &Error{File: file, Line: line, Message: "byte order mark (U+FEFF) is only allowed at the start of the file"}
		case r == 0xfeff:
			// A leading BOM is not content.
		default:
			if tabInIndent {
				return tabError(file, line)
			}
			inIndent = false
		}
		i += size
	}
	return nil
}

func tabError(file string, line int) *Error {
	return &Error{File: file, Line: line, Message: "tab used for indentation; indent with spaces"}
}

// syntaxError turns a yaml.v3 error ("yaml: line 3: ...") into an *Error.
func syntaxError(file string, err error) *Error {
	msg := err.Error()
	line := 0
	if m := yamlErrRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if strings.Contains(msg, "mapping values are not allowed") {
		msg += ` (quote a value that contains ": ")`
	}
	return &Error{File: file, Line: line, Message: "invalid YAML: " + msg}
}

// fromDocument checks the document tree in document order and builds the
// Request. It never follows an alias.
func fromDocument(file string, doc *yaml.Node) (*Request, error) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: file, Line: doc.Line, Message: "expected one YAML document"}
	}
	root := doc.Content[0]
	if err := noAnchor(file, "", root); err != nil {
		return nil, err
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" && root.Value == "" {
		return nil, &Error{File: file, Message: "empty request file"}
	}
	if root.Kind != yaml.MappingNode || root.ShortTag() != "!!map" {
		return nil, &Error{File: file, Line: root.Line, Message: "a request file is a mapping of keys to values, such as \"requester: alice\""}
	}
	r := &Request{Lines: make(map[string]int, len(allKeys))}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key, err := checkKey(file, k, r.Lines)
		if err != nil {
			return nil, err
		}
		r.Lines[key] = k.Line
		if err := noAnchor(file, key, v); err != nil {
			return nil, err
		}
		if err := r.set(key, v); err != nil {
			return nil, &Error{File: file, Line: k.Line, Field: key, Message: err.Error()}
		}
	}
	for _, key := range requiredKeys {
		if _, ok := r.Lines[key]; !ok {
			return nil, &Error{File: file, Field: key, Message: "required field is missing"}
		}
	}
	return r, nil
}

// noAnchor rejects an anchor on n or n being an alias. Nested nodes are never
// visited: a key whose value is a mapping or a list is already an error.
func noAnchor(file, field string, n *yaml.Node) *Error {
	if n.Kind == yaml.AliasNode {
		return &Error{File: file, Line: n.Line, Field: field, Message: "YAML aliases (*" + clip(n.Value) + ") are not allowed; write the value out"}
	}
	if n.Anchor != "" {
		return &Error{File: file, Line: n.Line, Field: field, Message: "YAML anchors (&" + clip(n.Anchor) + ") are not allowed; write the value out"}
	}
	return nil
}

var fieldNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// checkKey returns the key's name when it is a plain scalar, known, and not
// seen before.
func checkKey(file string, k *yaml.Node, seen map[string]int) (string, *Error) {
	if err := noAnchor(file, "", k); err != nil {
		return "", err
	}
	if k.Kind != yaml.ScalarNode {
		return "", &Error{File: file, Line: k.Line, Message: "keys must be plain words such as requester, not a " + kindName(k.Kind)}
	}
	field := ""
	if fieldNameRE.MatchString(k.Value) {
		field = k.Value
	}
	if k.Style != 0 {
		return "", &Error{File: file, Line: k.Line, Field: field, Message: fmt.Sprintf("key %s must be written plain, without quotes or tags", quote(k.Value))}
	}
	if !isKey(k.Value) {
		return "", &Error{File: file, Line: k.Line, Field: field, Message: fmt.Sprintf("unknown key %s; allowed keys: %s", quote(k.Value), strings.Join(allKeys, ", "))}
	}
	if first, dup := seen[k.Value]; dup {
		return "", &Error{File: file, Line: k.Line, Field: k.Value, Message: fmt.Sprintf("duplicate key %q: first on line %d, again on line %d", k.Value, first, k.Line)}
	}
	return k.Value, nil
}

func isKey(s string) bool {
	for _, k := range allKeys {
		if s == k {
			return true
		}
	}
	return false
}

// set checks the value of key and stores it. Its error is the message only.
func (r *Request) set(key string, v *yaml.Node) error {
	switch key {
	case keyRequester:
		s, err := str(v)
		if err != nil {
			return err
		}
		if !validLogin(s) {
			hint := ""
			if strings.HasPrefix(s, "@") {
				hint = " (without the @)"
			}
			return fmt.Errorf("%s is not a GitHub login%s: letters, digits and single hyphens, at most 39 characters, not starting or ending with a hyphen", quote(s), hint)
		}
		r.Requester = s
	case keyAccount:
		s, err := str(v)
		if err != nil {
			return err
		}
		if !accountRE.MatchString(s) {
			return fmt.Errorf("%s is not an account name: lowercase letters, digits and hyphens, at most 63 characters, starting with a letter or digit", quote(s))
		}
		r.Account = s
	case keyRole:
		s, err := str(v)
		if err != nil {
			return err
		}
		if !roleRE.MatchString(s) {
			if strings.HasPrefix(s, "arn:") {
				if name := s[strings.LastIndex(s, "/")+1:]; strings.Contains(s, ":role/") && roleRE.MatchString(name) {
					return fmt.Errorf("must be a role name, not an ARN: write %s", quote(name))
				}
				return errors.New("must be a role name, not an ARN")
			}
			return fmt.Errorf("%s is not an IAM role name: 1-64 letters, digits and + = , . @ _ -", quote(s))
		}
		r.Role = s
	case keyDuration:
		if v.Kind == yaml.ScalarNode && (v.ShortTag() == "!!int" || v.ShortTag() == "!!float") {
			return fmt.Errorf("%s has no unit: write a duration such as 2h, 90m or 1h30m", quote(v.Value))
		}
		s, err := str(v)
		if err != nil {
			return err
		}
		d, perr := time.ParseDuration(s)
		switch {
		case perr != nil:
			return fmt.Errorf("%s is not a duration: write it like 2h, 90m or 1h30m", quote(s))
		case d <= 0:
			return fmt.Errorf("%s must be positive", quote(s))
		case d > maxDuration:
			return fmt.Errorf("%s is too long: at most 720h (30 days)", quote(s))
		}
		r.Duration = d
	case keyReason:
		s, err := str(v)
		if err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		for _, c := range s {
			if (unicode.IsControl(c) && c != '\n') || c == '\u2028' || c == '\u2029' {
				return fmt.Errorf("must not contain control characters (found %U); only line breaks are allowed", c)
			}
		}
		switch n := utf8.RuneCountInString(s); {
		case n < 10:
			return fmt.Errorf("is %d characters; write at least 10 so reviewers know why", n)
		case n > 1000:
			return fmt.Errorf("is %d characters; at most 1000 are allowed", n)
		}
		r.Reason = s
	case keyTicket:
		s, err := str(v)
		if err != nil {
			return err
		}
		switch n := utf8.RuneCountInString(s); {
		case strings.TrimSpace(s) == "":
			return errors.New("is empty; remove the line if there is no ticket")
		case n > 100:
			return fmt.Errorf("is %d characters; at most 100 are allowed", n)
		}
		for _, c := range s {
			if !unicode.IsPrint(c) {
				return fmt.Errorf("must be printable text on one line (found %U)", c)
			}
		}
		if s != strings.TrimSpace(s) {
			return fmt.Errorf("%s must not start or end with spaces", quote(s))
		}
		r.Ticket = s
	case keyNotBefore:
		if err := scalar(v); err != nil {
			return err
		}
		if tag := v.ShortTag(); tag != "!!timestamp" && tag != "!!str" {
			return fmt.Errorf("must be an RFC 3339 time such as 2026-11-25T10:00:00Z, not %s", typeName(v))
		}
		t, err := time.Parse(time.RFC3339, v.Value)
		if err != nil {
			if missingZone(v.Value) {
				return fmt.Errorf("%s has no time zone: add one, as in 2026-11-25T10:00:00Z", quote(v.Value))
			}
			return fmt.Errorf("%s is not an RFC 3339 time such as 2026-11-25T10:00:00Z", quote(v.Value))
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return fmt.Errorf("%s is out of range", quote(v.Value))
		}
		r.NotBefore = t.UTC()
	case keyEmergency:
		if err := scalar(v); err != nil {
			return err
		}
		if v.ShortTag() != "!!bool" {
			return fmt.Errorf("must be true or false, not %s", typeName(v))
		}
		switch v.Value {
		case "true":
			r.Emergency = true
		case "false":
			r.Emergency = false
		default:
			return fmt.Errorf("must be true or false, not %s", quote(v.Value))
		}
	}
	return nil
}

// scalar rejects anything but a non-null scalar.
func scalar(v *yaml.Node) error {
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a single value, not a %s", kindName(v.Kind))
	}
	if v.ShortTag() == "!!null" {
		return errors.New("has no value")
	}
	return nil
}

// str returns the value of a string scalar. Quoted numbers are strings; a
// bare number, boolean or timestamp is not.
func str(v *yaml.Node) (string, error) {
	if err := scalar(v); err != nil {
		return "", err
	}
	if v.ShortTag() != "!!str" {
		return "", fmt.Errorf("must be a string, not %s; quote it: %s", typeName(v), strconv.Quote(clip(v.Value)))
	}
	return v.Value, nil
}

func missingZone(s string) bool {
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02T15:04"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

func typeName(v *yaml.Node) string {
	switch v.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!timestamp":
		return "a timestamp"
	case "!!str":
		return "a string"
	case "!!null":
		return "null"
	case "!!binary":
		return "binary data"
	}
	return "a value tagged " + clip(v.ShortTag())
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "value"
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

// quote quotes a file value for an error message, shortened.
func quote(s string) string { return strconv.Quote(clip(s)) }

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
	add(keyDuration, "!!str", formatDuration(r.Duration))
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

// formatDuration writes d the way people do ("2h", "1h30m", "90s") when it
// is whole seconds, and as time.Duration.String otherwise.
func formatDuration(d time.Duration) string {
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
