package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDemoStory runs the whole story with freshly built binaries; it fails
// if any step stops behaving as described.
func TestDemoStory(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../../cmd/elevate", "../../cmd/elevate-action", "../../cmd/elevate-broker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	start := time.Now()
	err := Run(context.Background(), Options{Out: &out, BinDir: bin, RequireAWSCLI: os.Getenv("CI") != ""})
	t.Logf("demo took %s", time.Since(start))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"status elevate = pending", "status elevate = success", "active from", "revoked"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the story lacks %q", want)
		}
	}
}

// The stand-ins are never linked into a production binary.
func TestStandInsNotInProductionBinaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../cmd/elevate-broker", "../../cmd/elevate", "../../cmd/elevate-action").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, fake := range []string{"githubfake", "stsfake", "oidcfake", "internal/demo", "brokertest", "validatetest", "ledgertest"} {
		if strings.Contains(string(out), fake) {
			t.Errorf("a production binary depends on %s", fake)
		}
	}
}
