// Package testenv says what a test needs from the machine. Outside CI a
// test whose tool is missing is skipped; with CI=true it fails, so a CI run
// can never pass by skipping what it was meant to check.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true, as GitHub Actions and
// .ci/run set it).
func InCI() bool { return os.Getenv("CI") != "" && os.Getenv("CI") != "false" }

// Missing skips t, or fails it in CI, because what is not available.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI (%s)", what, install)
	}
	t.Skipf("%s is not available (%s): skipped", what, install)
}

// RequireTool returns the path of the first of names found on PATH, or
// skips t (fails it in CI).
func RequireTool(t testing.TB, install string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	Missing(t, names[0], install)
	return ""
}

// GoEnv is `go env name`: what a test hands a child go command so that it
// shares this run's caches.
func GoEnv(t testing.TB, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
