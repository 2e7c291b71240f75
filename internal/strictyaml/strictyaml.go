// Package strictyaml reads the small YAML files elevate trusts (request files,
// eligibility.yaml) with no surprises: one document, a mapping at the root, no
// anchors or aliases, no tabs for indentation, plain UTF-8 text, bounded size,
// no unknown, duplicate or tagged keys, and every value of the declared type.
// Every error names the file, the line and the field.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Error is a problem at a place in a file.
type Error struct {
	File    string
	Line    int // 1-based; 0 when the problem is the whole file
	Field   string
	Message string
}

// Error renders "FILE:LINE: FIELD: MESSAGE", omitting ":LINE" when Line is 0
// and "FIELD: " when Field is empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

var (
	yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	// wordRE matches a key that can name a field in an error; any other key
	// is quoted in the message instead.
	wordRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Parse checks data and returns its root mapping. The first problem found is
// the error, in this order: the bytes (size, encoding, control characters,
// tabs), YAML syntax, one document, anchors and aliases anywhere in the tree,
// the root mapping and its keys. Note that yaml.v3 reports some syntax errors
// one line early (it gives the 0-based line where the construct began).
func Parse(file string, data []byte, maxSize int) (*Map, error) {
	if len(data) > maxSize {
		return nil, &Error{File: file, Message: fmt.Sprintf("file is %d bytes, over the %d-byte limit", len(data), maxSize)}
	}
	if err := checkText(file, data); err != nil {
		return nil, err
	}
	empty := &Error{File: file, Message: "file is empty"}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decode(dec, &doc); errors.Is(err, io.EOF) {
		return nil, empty
	} else if err != nil {
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	if err := decode(dec, &extra); err == nil {
		return nil, &Error{File: file, Line: extra.Line, Message: "more than one YAML document: a file holds exactly one (remove the ---)"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: file, Message: "expected one YAML document"}
	}
	if err := noAliases(file, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" && root.Value == "" && root.Style == 0 {
		return nil, empty // "---" and nothing else
	}
	return newMap(file, "", root)
}

// decode reads one document. A yaml.Node keeps aliases as pointers and never
// expands them. The recover turns a panic inside yaml.v3 on hostile input
// into an error rather than a crash.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errors.New("yaml: internal parser error: " + clip(fmt.Sprint(p)))
		}
	}()
	return dec.Decode(n)
}

// checkText rejects what is not plain UTF-8 text, and tabs used for
// indentation, in one pass so that the first problem in the file wins.
func checkText(file string, data []byte) error {
	line := 1
	indent := true // only spaces since the line began
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		msg := ""
		switch {
		case r == utf8.RuneError && size == 1:
			msg = fmt.Sprintf("not valid UTF-8 (byte 0x%02x at offset %d)", data[i], i)
		case r == '\n':
			line++
			indent = true
		case r == '\r':
			if i+1 == len(data) || data[i+1] != '\n' {
				line++ // a lone CR ends a line for YAML too
			}
			indent = true
		case r == '\t' && indent:
			msg = "tab used for indentation: indent with spaces"
		case r == ' ', r == '\t':
		case r == 0xfeff && i == 0:
			// A leading byte order mark is not content.
		case r == 0xfeff:
			msg = "byte order mark (U+FEFF) is only allowed at the start of the file"
		case r < 0x20, r >= 0x7f && r <= 0x9f:
			msg = fmt.Sprintf("control character %U is not allowed", r)
		case r == 0xfffe, r == 0xffff:
			msg = fmt.Sprintf("non-character %U is not allowed", r)
		default:
			indent = false
		}
		if msg != "" {
			return &Error{File: file, Line: line, Message: msg}
		}
		i += size
	}
	return nil
}

// syntaxError turns a yaml.v3 error ("yaml: line 3: ...") into an *Error.
func syntaxError(file string, err error) *Error {
	line, msg := 0, strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if strings.Contains(msg, "mapping values are not allowed") {
		msg += ` (quote a value that contains ": ")`
	}
	return &Error{File: file, Line: line, Message: "invalid YAML: " + msg}
}

// noAliases walks the whole tree without expanding anything, so an alias bomb
// costs no more than its own bytes.
func noAliases(file string, n *yaml.Node) *Error {
	if n.Kind == yaml.AliasNode {
		return &Error{File: file, Line: n.Line, Message: "YAML aliases (*" + clip(n.Value) + ") are not allowed: write the value out"}
	}
	if n.Anchor != "" {
		return &Error{File: file, Line: n.Line, Message: "YAML anchors (&" + clip(n.Anchor) + ") are not allowed: write the value out"}
	}
	for _, c := range n.Content {
		if err := noAliases(file, c); err != nil {
			return err
		}
	}
	return nil
}

// Map is a YAML mapping whose keys were checked: strings, untagged, no
// duplicates.
type Map struct {
	file   string
	prefix string // field path of this mapping, "" at the root
	node   *yaml.Node
	keys   []string
	keyOf  map[string]*yaml.Node
	values map[string]*yaml.Node
}

func newMap(file, prefix string, n *yaml.Node) (*Map, error) {
	if n.Kind != yaml.MappingNode || n.ShortTag() != "!!map" {
		return nil, &Error{File: file, Line: n.Line, Field: prefix, Message: "must be a mapping of key: value, not " + describe(n)}
	}
	m := &Map{file: file, prefix: prefix, node: n, keyOf: map[string]*yaml.Node{}, values: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := m.checkKey(k); err != nil {
			return nil, err
		}
		m.keys = append(m.keys, k.Value)
		m.keyOf[k.Value] = k
		m.values[k.Value] = v
	}
	return m, nil
}

// checkKey accepts a string key written without a tag and not seen before.
func (m *Map) checkKey(k *yaml.Node) *Error {
	switch {
	case k.Kind != yaml.ScalarNode:
		return &Error{File: m.file, Line: k.Line, Field: m.prefix, Message: "keys must be strings, not " + describe(k)}
	case k.Style&yaml.TaggedStyle != 0:
		return m.keyError(k, "key", " must be written without a tag")
	case k.ShortTag() != "!!str":
		return m.keyError(k, "key", " must be a string, not "+describe(k))
	}
	if first, dup := m.keyOf[k.Value]; dup {
		return m.keyError(k, "duplicate key", fmt.Sprintf(" (first set on line %d)", first.Line))
	}
	return nil
}

// keyError is a problem with key k itself. A key that is a word names the
// field; any other key is quoted, shortened, in the message.
func (m *Map) keyError(k *yaml.Node, what, detail string) *Error {
	if wordRE.MatchString(k.Value) {
		return &Error{File: m.file, Line: k.Line, Field: m.field(k.Value), Message: what + detail}
	}
	return &Error{File: m.file, Line: k.Line, Field: m.prefix, Message: what + " " + Quote(k.Value) + detail}
}

func (m *Map) field(key string) string {
	if m.prefix == "" {
		return key
	}
	return m.prefix + "." + key
}

// Line is the 1-based line of the mapping itself.
func (m *Map) Line() int { return m.node.Line }

// KeyLine is the line of key, or of the mapping when key is absent.
func (m *Map) KeyLine(key string) int {
	if k, ok := m.keyOf[key]; ok {
		return k.Line
	}
	return m.node.Line
}

// Keys lists the keys in file order.
func (m *Map) Keys() []string { return m.keys }

// Has reports whether key is present.
func (m *Map) Has(key string) bool { _, ok := m.values[key]; return ok }

// Errorf builds an error located at key.
func (m *Map) Errorf(key, format string, args ...any) *Error {
	return &Error{File: m.file, Line: m.KeyLine(key), Field: m.field(key), Message: fmt.Sprintf(format, args...)}
}

// Problemf builds an error located at the mapping itself.
func (m *Map) Problemf(format string, args ...any) *Error {
	return &Error{File: m.file, Line: m.node.Line, Field: m.prefix, Message: fmt.Sprintf(format, args...)}
}

// Only rejects keys outside allowed and requires the required ones, in file order.
func (m *Map) Only(allowed []string, required ...string) error {
	for _, k := range m.keys {
		if !slices.Contains(allowed, k) {
			return m.keyError(m.keyOf[k], "unknown key", " (allowed: "+strings.Join(allowed, ", ")+")")
		}
	}
	for _, k := range required {
		if !m.Has(k) {
			return &Error{File: m.file, Line: m.node.Line, Field: m.field(k), Message: "required key is missing"}
		}
	}
	return nil
}

// PlainKeys rejects keys written in quotes or as block scalars, for a
// mapping whose keys are fixed words that need none.
func (m *Map) PlainKeys() error {
	for _, k := range m.keys {
		if n := m.keyOf[k]; n.Style != 0 {
			return m.keyError(n, "key", " must be written plain, without quotes")
		}
	}
	return nil
}

// scalar returns the value of key when it is a scalar with a value and, if
// tags are given, one of them.
func (m *Map) scalar(key, want string, tags ...string) (*yaml.Node, error) {
	v := m.values[key]
	switch {
	case v.Kind != yaml.ScalarNode:
		return nil, m.Errorf(key, "must be %s, not %s", want, describe(v))
	case v.ShortTag() == "!!null":
		return nil, m.Errorf(key, "has no value: it must be %s", want)
	case len(tags) > 0 && !slices.Contains(tags, v.ShortTag()):
		return nil, m.Errorf(key, "must be %s, not %s %s", want, describe(v), Quote(v.Value))
	}
	return v, nil
}

// String returns a string value; ok is false when the key is absent. A
// quoted number is a string; a bare number, boolean or timestamp is not.
func (m *Map) String(key string) (s string, ok bool, err error) {
	if !m.Has(key) {
		return "", false, nil
	}
	v, err := m.scalar(key, "a string")
	if err != nil {
		return "", true, err
	}
	if v.ShortTag() != "!!str" {
		return "", true, m.Errorf(key, "must be a string, not %s; quote it: %s", describe(v), Quote(v.Value))
	}
	return v.Value, true, nil
}

// Int returns an integer value.
func (m *Map) Int(key string) (n int, ok bool, err error) {
	if !m.Has(key) {
		return 0, false, nil
	}
	v, err := m.scalar(key, "an integer", "!!int")
	if err != nil {
		return 0, true, err
	}
	n, err = strconv.Atoi(v.Value)
	if err != nil {
		return 0, true, m.Errorf(key, "must be a decimal integer, not %s", Quote(v.Value))
	}
	return n, true, nil
}

// Bool returns a boolean value (true or false, nothing else).
func (m *Map) Bool(key string) (b bool, ok bool, err error) {
	if !m.Has(key) {
		return false, false, nil
	}
	v, err := m.scalar(key, "true or false", "!!bool")
	if err != nil {
		return false, true, err
	}
	switch v.Value {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, m.Errorf(key, "must be true or false, not %s", Quote(v.Value))
}

// Duration returns a Go duration (e.g. 2h, 90m) within [min, max]. A min of
// time.Nanosecond admits any positive duration.
func (m *Map) Duration(key string, min, max time.Duration) (d time.Duration, ok bool, err error) {
	if !m.Has(key) {
		return 0, false, nil
	}
	const want = "a duration such as 2h, 90m or 1h30m"
	v, err := m.scalar(key, want, "!!str", "!!int", "!!float")
	if err != nil {
		return 0, true, err
	}
	q := Quote(v.Value)
	if v.ShortTag() != "!!str" {
		return 0, true, m.Errorf(key, "%s has no unit: write %s", q, want)
	}
	d, err = time.ParseDuration(v.Value)
	switch {
	case err != nil:
		return 0, true, m.Errorf(key, "%s is not a duration: write it like 2h, 90m or 1h30m", q)
	case d < min && min == time.Nanosecond:
		return 0, true, m.Errorf(key, "%s is out of range: must be positive", q)
	case d < min:
		return 0, true, m.Errorf(key, "%s is out of range: at least %s", q, min)
	case d > max:
		return 0, true, m.Errorf(key, "%s is out of range: at most %s", q, max)
	}
	return d, true, nil
}

// Time returns an RFC 3339 timestamp with an explicit zone, in that zone.
func (m *Map) Time(key string) (t time.Time, ok bool, err error) {
	if !m.Has(key) {
		return time.Time{}, false, nil
	}
	const want = "an RFC 3339 time such as 2026-11-25T10:00:00Z"
	v, err := m.scalar(key, want, "!!timestamp", "!!str")
	if err != nil {
		return time.Time{}, true, err
	}
	t, err = time.Parse(time.RFC3339, v.Value)
	switch {
	case err != nil && missingZone(v.Value):
		return time.Time{}, true, m.Errorf(key, "%s has no time zone: add one, as in 2026-11-25T10:00:00Z", Quote(v.Value))
	case err != nil:
		return time.Time{}, true, m.Errorf(key, "%s is not %s", Quote(v.Value), want)
	}
	return t, true, nil
}

func missingZone(s string) bool {
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02T15:04"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// Strings returns a sequence of strings.
func (m *Map) Strings(key string) (list []string, ok bool, err error) {
	v, ok, err := m.list(key, "a list like [a, b]")
	if !ok || err != nil {
		return nil, ok, err
	}
	for i, item := range v.Content {
		if item.Kind != yaml.ScalarNode || item.ShortTag() != "!!str" {
			return nil, true, &Error{File: m.file, Line: item.Line, Field: fmt.Sprintf("%s[%d]", m.field(key), i), Message: "must be a string, not " + describe(item)}
		}
		list = append(list, item.Value)
	}
	return list, true, nil
}

// Map returns a nested mapping.
func (m *Map) Map(key string) (sub *Map, ok bool, err error) {
	if !m.Has(key) {
		return nil, false, nil
	}
	sub, err = newMap(m.file, m.field(key), m.values[key])
	return sub, true, err
}

// Maps returns a sequence of mappings.
func (m *Map) Maps(key string) (list []*Map, ok bool, err error) {
	v, ok, err := m.list(key, "a list")
	if !ok || err != nil {
		return nil, ok, err
	}
	for i, item := range v.Content {
		sub, err := newMap(m.file, fmt.Sprintf("%s[%d]", m.field(key), i), item)
		if err != nil {
			return nil, true, err
		}
		list = append(list, sub)
	}
	return list, true, nil
}

func (m *Map) list(key, want string) (*yaml.Node, bool, error) {
	v, ok := m.values[key]
	if ok && (v.Kind != yaml.SequenceNode || v.ShortTag() != "!!seq") {
		return nil, true, m.Errorf(key, "must be %s, not %s", want, describe(v))
	}
	return v, ok, nil
}

var scalarNames = map[string]string{
	"!!str": "a string", "!!int": "a number", "!!float": "a number", "!!bool": "a boolean",
	"!!timestamp": "a timestamp", "!!null": "null", "!!binary": "binary data", "!!merge": "a merge key",
}

// describe names what n is, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	tag := n.ShortTag()
	switch {
	case n.Kind == yaml.MappingNode && tag == "!!map":
		return "a mapping"
	case n.Kind == yaml.MappingNode:
		return "a mapping tagged " + clip(tag)
	case n.Kind == yaml.SequenceNode && tag == "!!seq":
		return "a list"
	case n.Kind == yaml.SequenceNode:
		return "a list tagged " + clip(tag)
	}
	if name, ok := scalarNames[tag]; ok {
		return name
	}
	return "a value tagged " + clip(tag)
}

// Quote quotes a value from a file for an error message, shortened to 40
// characters.
func Quote(s string) string { return strconv.Quote(clip(s)) }

func clip(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}
