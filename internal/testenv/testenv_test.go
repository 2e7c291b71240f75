package testenv

import (
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test ended.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}

// Fatalf and Skipf end the goroutine, as testing's do.
func (r *recorder) Fatalf(f string, args ...any) { r.fatal = f; runtime.Goexit() }
func (r *recorder) Skipf(f string, args ...any)  { r.skip = f; runtime.Goexit() }

// requireTool runs RequireTool on r in a goroutine of its own, so that the
// recorder can end it.
func requireTool(r *recorder, install string, names ...string) (path string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = RequireTool(r, install, names...)
	}()
	<-done
	return path
}

func TestInCI(t *testing.T) {
	for value, want := range map[string]bool{"": false, "false": false, "true": true, "1": true} {
		t.Setenv("CI", value)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI = %v, want %v", value, got, want)
		}
	}
}

// A missing tool skips a local run and fails a CI run: CI never passes by
// skipping what it was meant to check.
func TestMissingToolFailsInCIAndSkipsElsewhere(t *testing.T) {
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		if path := requireTool(r, "apt-get install nothing", "elevate-no-such-tool-a", "elevate-no-such-tool-b"); path != "" {
			t.Fatalf("found %s", path)
		}
		if ci == "true" && (r.fatal == "" || r.skip != "") {
			t.Errorf("CI=true: fatal %q, skip %q: want a failure", r.fatal, r.skip)
		}
		if ci == "" && (r.skip == "" || r.fatal != "") {
			t.Errorf("outside CI: fatal %q, skip %q: want a skip", r.fatal, r.skip)
		}
	}
	r := &recorder{TB: t}
	if path := requireTool(r, "", "elevate-no-such-tool", "sh"); !strings.HasSuffix(path, "/sh") || r.fatal != "" || r.skip != "" {
		t.Errorf("the second name on PATH: %q, fatal %q, skip %q", path, r.fatal, r.skip)
	}
}
