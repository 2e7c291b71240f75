package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what a check reports instead of
// failing the test that runs it.
type recorder struct {
	testing.TB
	name   string
	errors []string
	fatal  bool
	logs   []string
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return r.name }
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
}
func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

const page = "# Title\n\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n"

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".golden"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMatchPasses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "page", page)
	r := &recorder{TB: t, name: "TestPage"}
	check(r, dir, "page", []byte(page), false)
	if len(r.errors) != 0 {
		t.Errorf("a match failed: %q", r.errors)
	}
}

func TestMismatchNamesFileLineAndHowToAccept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "page", page)
	r := &recorder{TB: t, name: "TestPage/sub_case"}
	check(r, dir, "page", []byte(strings.Replace(page, "four\n", "FOUR\n", 1)), false)
	if len(r.errors) != 1 || r.fatal {
		t.Fatalf("errors = %q (fatal %v), want one error", r.errors, r.fatal)
	}
	msg := r.errors[0]
	for _, want := range []string{
		filepath.Join(dir, "page.golden"),
		"at line 6 (-want +got)",
		"@@ -3,7 +3,7 @@\n one\n two\n three\n-four\n+FOUR\n five\n six\n seven\n",
		"run go test ./internal/golden -run '^TestPage$' -update to accept",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	t.Logf("the message:\n%s", msg)
}

func TestMissingFileSaysHowToCreateIt(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t, name: "TestNew"}
	check(r, t.TempDir(), "new", []byte("x\n"), false)
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "new.golden does not exist") ||
		!strings.Contains(r.errors[0], "-run '^TestNew$' -update") {
		t.Errorf("errors = %q", r.errors)
	}
}

func TestUpdateWritesTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "page", "old\n")
	r := &recorder{TB: t, name: "TestPage"}
	check(r, dir, "page", []byte(page), true)
	check(r, dir, "nested/new", []byte("new\n"), true)
	if len(r.errors) != 0 {
		t.Fatalf("errors = %q", r.errors)
	}
	for name, want := range map[string]string{"page": page, "nested/new": "new\n"} {
		got, err := os.ReadFile(filepath.Join(dir, name+".golden"))
		if err != nil || string(got) != want {
			t.Errorf("%s.golden = %q, %v; want %q", name, got, err, want)
		}
	}
	check(r, dir, "page", []byte(page), false)
	if len(r.errors) != 0 {
		t.Errorf("after -update: %q", r.errors)
	}
}

func TestNameStaysInTestdata(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "../escape", "/abs", "a/../../b"} {
		r := &recorder{TB: t, name: "TestX"}
		check(r, t.TempDir(), name, []byte("x"), true)
		if !r.fatal {
			t.Errorf("name %q was accepted", name)
		}
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("same\n", 20)
	tests := []struct {
		name      string
		want, got string
		first     int
		diff      string
	}{
		{"equal", page, page, 0, ""},
		{"changed line", "a\nb\nc\n", "a\nB\nc\n", 2, "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"added at end", "a\n", "a\nb\n", 2, "@@ -1,1 +1,2 @@\n a\n+b\n"},
		{"from empty", "", "a\n", 1, "@@ -0,0 +1,1 @@\n+a\n"},
		{"to empty", "a\n", "", 1, "@@ -1,1 +0,0 @@\n-a\n"},
		{"missing final newline", "a\nb\n", "a\nb", 2, "@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n"},
		{"two hunks", "x\n" + long + "y\n", "X\n" + long + "Y\n", 1,
			"@@ -1,4 +1,4 @@\n-x\n+X\n same\n same\n same\n@@ -19,4 +19,4 @@\n same\n same\n same\n-y\n+Y\n"},
		{"close changes share a hunk", "a\n1\n2\n3\n4\n5\n6\nb\n", "A\n1\n2\n3\n4\n5\n6\nB\n", 1,
			"@@ -1,8 +1,8 @@\n-a\n+A\n 1\n 2\n 3\n 4\n 5\n 6\n-b\n+B\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first, diff := Diff(tt.want, tt.got)
			if first != tt.first || diff != tt.diff {
				t.Errorf("Diff = %d,\n%s\nwant %d,\n%s", first, diff, tt.first, tt.diff)
			}
		})
	}
}
