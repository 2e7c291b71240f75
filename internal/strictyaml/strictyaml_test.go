package strictyaml

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRejects(t *testing.T) {
	t.Parallel()
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	tests := []struct {
		name string
		data string
		line int
		msg  string
	}{
		{"empty", "  \n", 0, "empty"},
		{"oversize", strings.Repeat("a", 101), 0, "over the 100-byte limit"},
		{"not utf-8", "a: b\nc: \xff\n", 2, "not valid UTF-8"},
		{"control char", "a: b\x07\n", 1, "control character"},
		{"tab indent", "a:\n\tb: c\n", 2, "tab used for indentation"},
		{"two documents", "a: b\n---\nc: d\n", 2, "more than one YAML document"},
		{"anchor", "a: &x b\n", 1, "anchors"},
		{"alias bomb", bomb, 1, "anchors"},
		{"root list", "- a\n", 1, "must be a mapping"},
		{"duplicate key", "a: 1\nb: 2\na: 3\n", 3, "duplicate key (first set on line 1)"},
		{"non-string key", "1: a\n", 1, "keys must be plain strings"},
		{"syntax", "a: [b\n", 1, "invalid YAML"},
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
			if e.File != "f.yaml" || e.Line != tt.line || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got %q line %d, want line %d with %q", e, e.Line, tt.line, tt.msg)
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
	if err := m.Only([]string{"s"}); err == nil || !strings.Contains(err.Error(), "f.yaml:2: n: unknown key") {
		t.Errorf("Only = %v", err)
	}
}
