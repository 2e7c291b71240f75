package release

import (
	"os"
	"strings"
	"testing"
)

func sums() map[string]string {
	return map[string]string{
		"elevate-action_linux_amd64": strings.Repeat("a", 64),
		"elevate-action_linux_arm64": strings.Repeat("b", 64),
	}
}

func TestPinWritesEveryChecksumIntoTheRealActionYML(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := Pin(orig, "https://github.com/elevate-gitops/elevate/releases/download/v1.0.0/", sums())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`ELEVATE_RELEASE_URL: "https://github.com/elevate-gitops/elevate/releases/download/v1.0.0"`,
		`ELEVATE_SHA256_LINUX_X64: "` + strings.Repeat("a", 64) + `"`,
		`ELEVATE_SHA256_LINUX_ARM64: "` + strings.Repeat("b", 64) + `"`,
	} {
		if !strings.Contains(string(pinned), want) {
			t.Errorf("pinned action.yml lacks %s", want)
		}
	}
	// Only the three values changed: as many lines, the rest identical.
	a, b := strings.Split(string(orig), "\n"), strings.Split(string(pinned), "\n")
	if len(a) != len(b) {
		t.Fatalf("%d lines became %d", len(a), len(b))
	}
	changed := 0
	for i := range a {
		if a[i] != b[i] {
			changed++
		}
	}
	if changed != 3 {
		t.Errorf("%d lines changed, want 3", changed)
	}
	again, err := Pin(pinned, "https://example.com/r/v1.0.1", sums())
	if err != nil || !strings.Contains(string(again), `"https://example.com/r/v1.0.1"`) {
		t.Errorf("re-pinning: %v", err)
	}
}

func TestPinRefuses(t *testing.T) {
	t.Parallel()
	action := []byte("    env:\n      ELEVATE_RELEASE_URL: \"\"\n      ELEVATE_SHA256_LINUX_X64: \"\"\n      ELEVATE_SHA256_LINUX_ARM64: \"\"\n")
	partial := sums()
	delete(partial, "elevate-action_linux_arm64")
	for _, tt := range []struct {
		name, url string
		action    []byte
		sums      map[string]string
		want      string
	}{
		{"plain http", "http://example.com/r", action, sums(), "want https://"},
		{"no host", "https:///r", action, sums(), "want https://"},
		{"a platform missing", "https://example.com/r", action, partial, "no elevate-action_linux_arm64"},
		{"a variable twice", "https://example.com/r", append(append([]byte{}, action...), action...), sums(), "appears 2 times"},
		{"a variable absent", "https://example.com/r", []byte("env: {}\n"), sums(), "appears 0 times"},
	} {
		if _, err := Pin(tt.action, tt.url, tt.sums); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestParseSums(t *testing.T) {
	t.Parallel()
	got, err := ParseSums([]byte(strings.Repeat("c", 64) + "  elevate-action_linux_amd64\n" + strings.Repeat("d", 64) + " *elevate_darwin_arm64\n\n"))
	if err != nil || got["elevate-action_linux_amd64"] != strings.Repeat("c", 64) || got["elevate_darwin_arm64"] != strings.Repeat("d", 64) {
		t.Fatalf("ParseSums = %v, %v", got, err)
	}
	for _, bad := range []string{"xyz  file\n", strings.Repeat("c", 64) + "\n", strings.Repeat("C", 64) + "  f\n"} {
		if _, err := ParseSums([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseSums(%q) = %v, want a line error", bad, err)
		}
	}
}
