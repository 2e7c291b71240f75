package golden

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the -update flag. If the test binary already defines a flag of
// that name (a package of its own), Assert follows that one instead of
// panicking on a second definition.
var update = defineUpdate()

func defineUpdate() func() bool {
	const name = "update"
	if f := flag.Lookup(name); f != nil {
		return func() bool { return f.Value.String() == "true" }
	}
	b := flag.Bool(name, false, "rewrite testdata/*.golden with the output of the tests that run")
	return func() bool { return *b }
}

// Dir is where golden files live, relative to the package under test.
const Dir = "testdata"

// Assert compares got with testdata/<name>.golden, or writes that file when
// the test runs with -update. name may not leave testdata/.
func Assert[T ~string | ~[]byte](t testing.TB, name string, got T) {
	t.Helper()
	check(t, Dir, name, []byte(got), update())
}

// check is Assert with the directory and the flag given.
func check(t testing.TB, dir, name string, got []byte, update bool) {
	t.Helper()
	if name == "" || !fs.ValidPath(name) {
		t.Fatalf("golden: name %q is not a relative path under %s/", name, dir)
		return
	}
	path := filepath.Join(dir, filepath.FromSlash(name)+".golden")
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("golden: %v", err)
			return
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("golden: %v", err)
			return
		}
		t.Logf("golden: wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Errorf("golden file %s does not exist; to create it, %s", path, hint(t))
		return
	}
	if err != nil {
		t.Fatalf("golden: %v", err)
		return
	}
	if bytes.Equal(want, got) {
		return
	}
	line, d := Diff(string(want), string(got))
	t.Errorf("output differs from golden file %s at line %d (-want +got):\n%sIf the new output is right, %s", path, line, d, hint(t))
}

// hint says how to accept the new output: the package and the top-level test.
func hint(t testing.TB) string {
	test, _, _ := strings.Cut(t.Name(), "/")
	return fmt.Sprintf("run go test %s -run '^%s$' -update to accept", pkgDir(), test)
}

// pkgDir is the package under test as a path from its module's root
// ("./internal/validate"); "." when it cannot tell.
func pkgDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}
