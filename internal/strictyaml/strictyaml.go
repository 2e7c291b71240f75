// Package strictyaml reads the small YAML files elevate trusts (request files,
// eligibility.yaml) with no surprises: one document, a mapping at the root, no
// anchors or aliases, no tabs for indentation, valid UTF-8, bounded size, no
// unknown or duplicate keys, and every value of the declared type. Every error
// names the file, the line and the field.
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

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse checks data and returns its root mapping.
func Parse(file string, data []byte, maxSize int) (*Map, error) {
	if len(data) > maxSize {
		return nil, &Error{File: file, Message: fmt.Sprintf("file is %d bytes, over the %d-byte limit", len(data), maxSize)}
	}
	if err := checkText(file, data); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{File: file, Message: "file is empty"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return nil, &Error{File: file, Line: line, Message: "more than one YAML document: a file holds exactly one"}
	}
	if err := noAliases(file, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: file, Message: "expected one YAML document"}
	}
	return newMap(file, "", doc.Content[0])
}

// checkText rejects what YAML would accept but a reviewer could misread.
func checkText(file string, data []byte) error {
	line := 1
	atLineStart := true
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return &Error{File: file, Line: line, Message: fmt.Sprintf("not valid UTF-8 (byte 0x%02x at offset %d)", data[i], i)}
		case r == '\n':
			line++
			atLineStart = true
		case r == '\t' && atLineStart:
			return &Error{File: file, Line: line, Message: "tab used for indentation: indent with spaces"}
		case r == ' ':
		case r < 0x20 && r != '\t' && r != '\r', r == 0x7f:
			return &Error{File: file, Line: line, Message: fmt.Sprintf("control character %U is not allowed", r)}
		default:
			atLineStart = false
		}
		i += size
	}
	return nil
}

func syntaxError(file string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Message: "invalid YAML: " + m[2]}
	}
	return &Error{File: file, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// noAliases walks the tree without expanding anything, so an alias bomb costs
// no more than its own bytes.
func noAliases(file string, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return &Error{File: file, Line: n.Line, Message: "YAML aliases (*name) are not allowed: write the value out"}
	}
	if n.Anchor != "" {
		return &Error{File: file, Line: n.Line, Message: "YAML anchors (&name) are not allowed: write the value out"}
	}
	for _, c := range n.Content {
		if err := noAliases(file, c); err != nil {
			return err
		}
	}
	return nil
}

// Map is a YAML mapping whose keys were checked for duplicates.
type Map struct {
	file   string
	prefix string // field path of this mapping, "" at the root
	node   *yaml.Node
	keys   []string
	values map[string]*yaml.Node
	lines  map[string]int
}

func newMap(file, prefix string, n *yaml.Node) (*Map, error) {
	if n.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: n.Line, Field: prefix, Message: "must be a mapping of key: value"}
	}
	m := &Map{file: file, prefix: prefix, node: n, values: map[string]*yaml.Node{}, lines: map[string]int{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return nil, &Error{File: file, Line: k.Line, Field: prefix, Message: "keys must be plain strings"}
		}
		if first, dup := m.lines[k.Value]; dup {
			return nil, &Error{File: file, Line: k.Line, Field: m.field(k.Value), Message: fmt.Sprintf("duplicate key (first set on line %d)", first)}
		}
		m.keys = append(m.keys, k.Value)
		m.values[k.Value] = v
		m.lines[k.Value] = k.Line
	}
	return m, nil
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
	if l, ok := m.lines[key]; ok {
		return l
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

// Only rejects keys outside allowed and requires the required ones, in file order.
func (m *Map) Only(allowed []string, required ...string) error {
	for _, k := range m.keys {
		if !slices.Contains(allowed, k) {
			return m.Errorf(k, "unknown key (allowed: %s)", strings.Join(allowed, ", "))
		}
	}
	for _, k := range required {
		if !m.Has(k) {
			return &Error{File: m.file, Line: m.node.Line, Field: m.field(k), Message: "required"}
		}
	}
	return nil
}

func (m *Map) scalar(key, tag, want string) (*yaml.Node, error) {
	v := m.values[key]
	switch {
	case v.Kind != yaml.ScalarNode:
		return nil, m.Errorf(key, "must be %s, not a %s", want, kindName(v.Kind))
	case v.Tag == "!!null":
		return nil, m.Errorf(key, "must be %s, not empty", want)
	case tag != "" && v.Tag != tag:
		return nil, m.Errorf(key, "must be %s, not %s %q", want, strings.TrimPrefix(v.Tag, "!!"), v.Value)
	}
	return v, nil
}

// String returns a string value; ok is false when the key is absent.
func (m *Map) String(key string) (s string, ok bool, err error) {
	if !m.Has(key) {
		return "", false, nil
	}
	v, err := m.scalar(key, "!!str", "a string")
	if err != nil {
		return "", true, err
	}
	return v.Value, true, nil
}

// Int returns an integer value.
func (m *Map) Int(key string) (n int, ok bool, err error) {
	if !m.Has(key) {
		return 0, false, nil
	}
	v, err := m.scalar(key, "!!int", "an integer")
	if err != nil {
		return 0, true, err
	}
	n, err = strconv.Atoi(v.Value)
	if err != nil {
		return 0, true, m.Errorf(key, "must be a decimal integer, not %q", v.Value)
	}
	return n, true, nil
}

// Bool returns a boolean value (true or false, nothing else).
func (m *Map) Bool(key string) (b bool, ok bool, err error) {
	if !m.Has(key) {
		return false, false, nil
	}
	v, err := m.scalar(key, "!!bool", "true or false")
	if err != nil {
		return false, true, err
	}
	switch v.Value {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, m.Errorf(key, "must be true or false, not %q", v.Value)
}

// Duration returns a Go duration (e.g. 2h, 90m) within [min, max].
func (m *Map) Duration(key string, min, max time.Duration) (d time.Duration, ok bool, err error) {
	s, ok, err := m.String(key)
	if !ok || err != nil {
		return 0, ok, err
	}
	d, err = time.ParseDuration(s)
	if err != nil {
		return 0, true, m.Errorf(key, "%q is not a duration: write it like 2h, 90m or 1h30m", s)
	}
	if d < min || d > max {
		return 0, true, m.Errorf(key, "%s is out of range: must be between %s and %s", s, min, max)
	}
	return d, true, nil
}

// Time returns an RFC 3339 timestamp with an explicit zone.
func (m *Map) Time(key string) (t time.Time, ok bool, err error) {
	if !m.Has(key) {
		return time.Time{}, false, nil
	}
	v, err := m.scalar(key, "", "an RFC 3339 time")
	if err != nil {
		return time.Time{}, true, err
	}
	if v.Tag != "!!timestamp" && v.Tag != "!!str" {
		return time.Time{}, true, m.Errorf(key, "must be an RFC 3339 time like 2026-11-25T10:00:00Z, not %q", v.Value)
	}
	t, err = time.Parse(time.RFC3339, v.Value)
	if err != nil {
		return time.Time{}, true, m.Errorf(key, "must be an RFC 3339 time with a zone, like 2026-11-25T10:00:00Z, not %q", v.Value)
	}
	return t, true, nil
}

// Strings returns a sequence of strings.
func (m *Map) Strings(key string) (list []string, ok bool, err error) {
	if !m.Has(key) {
		return nil, false, nil
	}
	v := m.values[key]
	if v.Kind != yaml.SequenceNode {
		return nil, true, m.Errorf(key, "must be a list like [a, b], not a %s", kindName(v.Kind))
	}
	for i, item := range v.Content {
		if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
			return nil, true, &Error{File: m.file, Line: item.Line, Field: fmt.Sprintf("%s[%d]", m.field(key), i), Message: "must be a string"}
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
	if !m.Has(key) {
		return nil, false, nil
	}
	v := m.values[key]
	if v.Kind != yaml.SequenceNode {
		return nil, true, m.Errorf(key, "must be a list, not a %s", kindName(v.Kind))
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

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}
