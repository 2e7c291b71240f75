package strictyaml

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseRejects(t *testing.T) {
	t.Parallel()
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	tests := []struct {
		name  string
		data  string
		line  int
		field string
		msg   string
	}{
		{"empty", "  \n", 0, "", "file is empty"},
		{"only comments", "# nothing\n", 0, "", "file is empty"},
		{"only a document marker", "---\n", 0, "", "file is empty"},
		{"oversize", strings.Repeat("a", 101), 0, "", "over the 100-byte limit"},
		{"not utf-8", "a: b\nc: \xff\n", 2, "", "not valid UTF-8 (byte 0xff at offset 8)"},
		{"control char", "a: b\x07\n", 1, "", "control character U+0007"},
		{"NUL", "a: b\x00\n", 1, "", "control character U+0000"},
		{"DEL", "a: b\x7f\n", 1, "", "control character U+007F"},
		{"C1 control", "a: b\n\u0085c: d\n", 2, "", "control character U+0085"},
		{"non-character", "a: \uffff\n", 1, "", "non-character U+FFFF"},
		{"byte order mark inside", "\ufeffa: b\n\ufeffc: d\n", 2, "", "byte order mark (U+FEFF) is only allowed at the start"},
		{"tab indent", "a:\n\tb: c\n", 2, "", "tab used for indentation"},
		{"tab after spaces", "a: |\n  x\n \ty\n", 3, "", "tab used for indentation"},
		{"tab on a blank line", "a: b\n\t\n", 2, "", "tab used for indentation"},
		{"tab after a lone CR", "a: b\rc:\r\td: e\r", 3, "", "tab used for indentation"},
		{"two documents", "a: b\n---\nc: d\n", 2, "", "more than one YAML document"},
		{"empty second document", "a: b\n---\n", 2, "", "more than one YAML document"},
		{"syntax error in the second document", "a: b\n---\nc: [d\n", 2, "", "invalid YAML"},
		{"anchor", "a: &x b\n", 1, "", "YAML anchors (&x) are not allowed"},
		{"anchor on a key", "a: b\n&k c: d\n", 2, "", "anchors (&k)"},
		{"long anchor is shortened", "a: &" + strings.Repeat("x", 100) + " b\n", 1, "", "anchors (&" + strings.Repeat("x", 40) + "…)"},
		{"alias bomb", bomb, 1, "", "YAML anchors (&a) are not allowed"},
		{"anchors before keys", "b: 1\nb: 2\nc: {d: &e f}\n", 3, "", "anchors (&e)"},
		{"root list", "- a\n", 1, "", "must be a mapping of key: value, not a list"},
		{"root tagged", "!x {a: b}\n", 1, "", "not a mapping tagged !x"},
		{"duplicate key", "a: 1\nb: 2\na: 3\n", 3, "a", "duplicate key (first set on line 1)"},
		{"duplicate odd key", "'a b': 1\n'a b': 2\n", 2, "", `duplicate key "a b" (first set on line 1)`},
		{"non-string key", "1: a\n", 1, "1", "key must be a string, not a number"},
		{"list as key", "[a]: b\n", 1, "", "keys must be strings, not a list"},
		{"tagged key", "!!str a: b\n", 1, "a", "key must be written without a tag"},
		{"merge key", "<<: {a: b}\n", 1, "", `key "<<" must be a string, not a merge key`},
		{"syntax", "a: [b\n", 1, "", "invalid YAML"},
		{"unquoted colon", "a: b\nc: d: e\n", 2, "", `quote a value that contains ": "`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			max := 1 << 10
			if tt.name == "oversize" {
				max = 100
			}
			_, err := Parse("f.yaml", []byte(tt.data), max)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.File != "f.yaml" || e.Line != tt.line || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got %q (line %d field %q), want line %d field %q with %q", e, e.Line, e.Field, tt.line, tt.field, tt.msg)
			}
		})
	}
}

func TestTypedGetters(t *testing.T) {
	t.Parallel()
	m, err := Parse("f.yaml", []byte("s: text\nn: 3\nb: true\nd: 90m\nt: 2026-11-25T10:00:00Z\nl: [x, y]\nbad_s: 12\nbad_b: yes\nnull_s:\nm: {k: v}\n"), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok, err := m.String("s"); s != "text" || !ok || err != nil {
		t.Errorf("String = %q %v %v", s, ok, err)
	}
	if n, _, err := m.Int("n"); n != 3 || err != nil {
		t.Errorf("Int = %d %v", n, err)
	}
	if b, _, err := m.Bool("b"); !b || err != nil {
		t.Errorf("Bool = %v %v", b, err)
	}
	if d, _, err := m.Duration("d", time.Minute, time.Hour*2); d != 90*time.Minute || err != nil {
		t.Errorf("Duration = %v %v", d, err)
	}
	if _, _, err := m.Duration("d", time.Minute, time.Hour); err == nil {
		t.Error("Duration over max accepted")
	}
	if tm, _, err := m.Time("t"); !tm.Equal(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)) || err != nil {
		t.Errorf("Time = %v %v", tm, err)
	}
	if l, _, err := m.Strings("l"); len(l) != 2 || err != nil {
		t.Errorf("Strings = %v %v", l, err)
	}
	for key, get := range map[string]func() error{
		"bad_s":  func() error { _, _, err := m.String("bad_s"); return err },
		"bad_b":  func() error { _, _, err := m.Bool("bad_b"); return err },
		"null_s": func() error { _, _, err := m.String("null_s"); return err },
		"m":      func() error { _, _, err := m.String("m"); return err },
	} {
		var e *Error
		if err := get(); !errors.As(err, &e) || e.Field != key || e.Line != m.KeyLine(key) {
			t.Errorf("%s: err = %v, want an error at its key", key, err)
		}
	}
	if _, ok, _ := m.String("absent"); ok {
		t.Error("absent key reported present")
	}
	if err := m.Only([]string{"s"}); err == nil || !strings.Contains(err.Error(), "f.yaml:2: n: unknown key (allowed: s)") {
		t.Errorf("Only = %v", err)
	}
}

func TestGetterErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 100)
	tests := []struct {
		name  string
		data  string
		get   func(m *Map) error
		line  int
		field string
		msg   string
	}{
		{"unknown odd key", "a: 1\n'x y': 2\n", func(m *Map) error { return m.Only([]string{"a"}) }, 2, "", `unknown key "x y" (allowed: a)`},
		{"unknown long key", "a: 1\n" + long + ": 2\n", func(m *Map) error { return m.Only([]string{"a"}) }, 2, "", `unknown key "` + long[:40] + `…"`},
		{"unknown nested key", "m:\n  a: 1\n  b: 2\n", func(m *Map) error {
			sub, _, _ := m.Map("m")
			return sub.Only([]string{"a"})
		}, 3, "m.b", "unknown key"},
		{"required", "a: 1\n", func(m *Map) error { return m.Only([]string{"a", "b"}, "b") }, 1, "b", "required key is missing"},
		{"quoted key", "a: 1\n\"b\": 2\n", func(m *Map) error { return m.PlainKeys() }, 2, "b", "key must be written plain, without quotes"},
		{"block scalar key", "? |\n  b\n: 2\n", func(m *Map) error { return m.PlainKeys() }, 1, "", `key "b\n" must be written plain`},
		{"string is a number", "s: 12\n", func(m *Map) error { _, _, err := m.String("s"); return err }, 1, "s", `must be a string, not a number; quote it: "12"`},
		{"string is null", "s: ~\n", func(m *Map) error { _, _, err := m.String("s"); return err }, 1, "s", "has no value: it must be a string"},
		{"string is a list", "s: [a]\n", func(m *Map) error { _, _, err := m.String("s"); return err }, 1, "s", "must be a string, not a list"},
		{"string has a custom tag", "s: !x a\n", func(m *Map) error { _, _, err := m.String("s"); return err }, 1, "s", "not a value tagged !x"},
		{"integer is a string", "n: '1'\n", func(m *Map) error { _, _, err := m.Int("n"); return err }, 1, "n", `must be an integer, not a string "1"`},
		{"bool is a word", "b: yes\n", func(m *Map) error { _, _, err := m.Bool("b"); return err }, 1, "b", `must be true or false, not a string "yes"`},
		{"duration without unit", "d: 90\n", func(m *Map) error { _, _, err := m.Duration("d", time.Minute, time.Hour); return err }, 1, "d", `"90" has no unit`},
		{"duration not positive", "d: 0s\n", func(m *Map) error { _, _, err := m.Duration("d", time.Nanosecond, time.Hour); return err }, 1, "d", `"0s" is out of range: must be positive`},
		{"duration under min", "d: 30s\n", func(m *Map) error { _, _, err := m.Duration("d", time.Minute, time.Hour); return err }, 1, "d", `"30s" is out of range: at least 1m0s`},
		{"duration over max", "d: 2h\n", func(m *Map) error { _, _, err := m.Duration("d", time.Minute, time.Hour); return err }, 1, "d", `"2h" is out of range: at most 1h0m0s`},
		{"time without zone", "t: 2026-11-25T10:00:00\n", func(m *Map) error { _, _, err := m.Time("t"); return err }, 1, "t", "has no time zone"},
		{"time is a date", "t: 2026-11-25\n", func(m *Map) error { _, _, err := m.Time("t"); return err }, 1, "t", `"2026-11-25" is not an RFC 3339 time`},
		{"list has a tag", "l: !x [a]\n", func(m *Map) error { _, _, err := m.Strings("l"); return err }, 1, "l", "must be a list like [a, b], not a list tagged !x"},
		{"list item", "l: [a, 1]\n", func(m *Map) error { _, _, err := m.Strings("l"); return err }, 1, "l[1]", "must be a string, not a number"},
		{"nested mapping has a tag", "m: !x {a: b}\n", func(m *Map) error { _, _, err := m.Map("m"); return err }, 1, "m", "not a mapping tagged !x"},
		{"list of mappings", "l:\n  - a: 1\n  - b\n", func(m *Map) error { _, _, err := m.Maps("l"); return err }, 3, "l[1]", "must be a mapping of key: value, not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse("f.yaml", []byte(tt.data), 1<<10)
			if err != nil {
				t.Fatal(err)
			}
			var e *Error
			if err := tt.get(m); !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.File != "f.yaml" || e.Line != tt.line || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got %q (line %d field %q), want line %d field %q with %q", e, e.Line, e.Field, tt.line, tt.field, tt.msg)
			}
		})
	}
}

// TestAliasNode covers the alias branch directly: in a parsed file an anchor
// always comes first and is reported first.
func TestAliasNode(t *testing.T) {
	t.Parallel()
	err := noAliases("f.yaml", &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.AliasNode, Value: "r", Line: 5}}})
	if err == nil || err.Error() != "f.yaml:5: YAML aliases (*r) are not allowed: write the value out" {
		t.Errorf("noAliases = %v", err)
	}
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("boom") }

// TestDecodeRecovers checks that a panic inside yaml.v3 becomes an error.
func TestDecodeRecovers(t *testing.T) {
	t.Parallel()
	var n yaml.Node
	err := decode(yaml.NewDecoder(panicReader{}), &n)
	if got := syntaxError("f.yaml", err).Error(); got != "f.yaml: invalid YAML: internal parser error: boom" {
		t.Errorf("error = %q", got)
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  *Error
		want string
	}{
		{&Error{File: "a.yaml", Line: 3, Field: "role", Message: "bad"}, "a.yaml:3: role: bad"},
		{&Error{File: "a.yaml", Field: "role", Message: "bad"}, "a.yaml: role: bad"},
		{&Error{File: "a.yaml", Line: 3, Message: "bad"}, "a.yaml:3: bad"},
		{&Error{File: "a.yaml", Message: "bad"}, "a.yaml: bad"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
