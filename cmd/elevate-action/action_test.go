package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/elevate-gitops/elevate/internal/release"
	"github.com/elevate-gitops/elevate/internal/testenv"
)

// action.yml is walked here as the runner walks a composite action: each
// step's if: decided, its env: expanded from the inputs, its run: given to
// bash with GITHUB_ACTION_PATH at the repository root, and its outputs read
// back from GITHUB_OUTPUT. Steps that use another action are checked for a
// pin and skipped (Go is already on this machine).

const actionPath = "../../action.yml"

type compositeAction struct {
	Name    string
	Inputs  map[string]struct{ Required bool }
	Outputs map[string]struct{ Value string }
	Runs    struct {
		Using string
		Steps []*step
	}
}

func readAction(t *testing.T, data []byte) *compositeAction {
	t.Helper()
	var a compositeAction
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("action.yml runs using %q, want composite", a.Runs.Using)
	}
	return &a
}

var (
	stepOutputCond = regexp.MustCompile(`^steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+) == '([^']*)'$`)
	inputExpr      = regexp.MustCompile(`^\$\{\{ inputs\.([A-Za-z0-9_-]+) \}\}$`)
	stepOutputExpr = regexp.MustCompile(`^\$\{\{ steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+) \}\}$`)
)

// actionRun is one walk of the action.
type actionRun struct {
	ran     []string                     // the names of the steps that ran
	outputs map[string]map[string]string // step id -> its outputs
	action  map[string]string            // the action's outputs
	log     string                       // every step's output
	err     error                        // the step that failed, if one did
	temp    string                       // RUNNER_TEMP
}

func walkAction(t *testing.T, a *compositeAction, inputs map[string]string, env []string) *actionRun {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	r := &actionRun{outputs: map[string]map[string]string{}, action: map[string]string{}, temp: t.TempDir()}
	for name, in := range a.Inputs {
		if in.Required && inputs[name] == "" {
			t.Fatalf("input %s is required", name)
		}
	}
	for i, s := range a.Runs.Steps {
		if s.If != "" {
			m := stepOutputCond.FindStringSubmatch(s.If)
			if m == nil {
				t.Fatalf("step %d: if: %q is not a form this walk knows", i+1, s.If)
			}
			if r.outputs[m[1]][m[2]] != m[3] {
				continue
			}
		}
		if s.Uses != "" {
			if !fullSHA.MatchString(s.Uses) || !versionNote.MatchString(s.usesComment) {
				t.Errorf("step %d: %s is not pinned to a full commit SHA with a # vX.Y.Z comment", i+1, s.Uses)
			}
			r.ran = append(r.ran, orName(s))
			continue
		}
		if expression.MatchString(s.Run) {
			t.Errorf("step %d: ${{ }} inside run: (script injection)", i+1)
		}
		outFile := filepath.Join(r.temp, fmt.Sprintf("output-%d", i))
		if err := os.WriteFile(outFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "-e", "-c", s.Run)
		cmd.Env = append(append([]string{}, env...),
			"PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"), "GOCACHE="+testenv.GoEnv(t, "GOCACHE"), "GOMODCACHE="+testenv.GoEnv(t, "GOMODCACHE"), "GOFLAGS=-mod=mod",
			"GITHUB_ACTION_PATH="+root, "RUNNER_TEMP="+r.temp, "GITHUB_OUTPUT="+outFile)
		for k, v := range s.Env {
			if m := inputExpr.FindStringSubmatch(v); m != nil {
				v = inputs[m[1]]
			} else if expression.MatchString(v) {
				t.Fatalf("step %d: env %s = %q is not a form this walk knows", i+1, k, v)
			}
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		r.log += string(out)
		r.ran = append(r.ran, orName(s))
		if err != nil {
			r.err = fmt.Errorf("%s: %v", orName(s), err)
			return r
		}
		data, err := os.ReadFile(outFile)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != "" {
			r.outputs[s.ID] = map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					r.outputs[s.ID][k] = v
				}
			}
		}
	}
	for name, o := range a.Outputs {
		if m := stepOutputExpr.FindStringSubmatch(o.Value); m != nil {
			r.action[name] = r.outputs[m[1]][m[2]]
		}
	}
	return r
}

// fakeJudge is a stand-in release binary: it records the token it was
// given and answers a verdict, as the judge would.
const fakeJudge = `#!/bin/sh
echo "$INPUT_TOKEN" > "$RUNNER_TEMP/judge-ran"
echo "verdict=approved" >> "$GITHUB_OUTPUT"
echo "request=requests/prod/2026-12/x.yaml" >> "$GITHUB_OUTPUT"
`

// pinnedRelease writes a release of the fake judge for both platforms
// into a directory and returns action.yml pinned to it.
func pinnedRelease(t *testing.T, amd64, arm64 []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	sums := map[string]string{}
	for name, data := range map[string][]byte{"elevate-action_linux_amd64": amd64, "elevate-action_linux_arm64": arm64} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		sums[name] = hex.EncodeToString(h[:])
	}
	orig, err := os.ReadFile(actionPath)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := release.Pin(orig, "file://"+dir, sums)
	if err != nil {
		t.Fatal(err)
	}
	return pinned
}

func TestActionRunsOnlyThePinnedBinary(t *testing.T) {
	t.Parallel()
	runner := []string{"RUNNER_OS=Linux", "RUNNER_ARCH=X64"}
	inputs := map[string]string{"token": "ghs_app_installation_token"}

	t.Run("the pinned bytes run", func(t *testing.T) {
		r := walkAction(t, readAction(t, pinnedRelease(t, []byte(fakeJudge), []byte("arm64 build"))), inputs, runner)
		if r.err != nil {
			t.Fatalf("%v\n%s", r.err, r.log)
		}
		token, err := os.ReadFile(filepath.Join(r.temp, "judge-ran"))
		if err != nil || strings.TrimSpace(string(token)) != "ghs_app_installation_token" {
			t.Errorf("the judge ran with token %q (%v), want the input", token, err)
		}
		if r.action["verdict"] != "approved" || r.action["request"] != "requests/prod/2026-12/x.yaml" {
			t.Errorf("action outputs = %v", r.action)
		}
		if strings.Contains(strings.Join(r.ran, ","), "Build") {
			t.Errorf("a pinned release was built from source too: %v", r.ran)
		}
	})

	t.Run("other bytes are refused and never run", func(t *testing.T) {
		a := readAction(t, pinnedRelease(t, []byte(fakeJudge), []byte("arm64 build")))
		// The release asset is replaced after the pin: one byte more.
		for _, s := range a.Runs.Steps {
			if u := s.Env[release.URLEnv]; u != "" {
				path := strings.TrimPrefix(u, "file://") + "/elevate-action_linux_amd64"
				if err := os.WriteFile(path, []byte(fakeJudge+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		r := walkAction(t, a, inputs, runner)
		if r.err == nil || !strings.Contains(r.log, "refusing") || !strings.Contains(r.log, "SHA-256") {
			t.Fatalf("a binary with another checksum was not refused: %v\n%s", r.err, r.log)
		}
		for _, name := range []string{"judge-ran", "elevate-action"} {
			if _, err := os.Stat(filepath.Join(r.temp, name)); err == nil {
				t.Errorf("%s exists after the refusal", name)
			}
		}
	})

	t.Run("the runner's architecture picks its binary", func(t *testing.T) {
		r := walkAction(t, readAction(t, pinnedRelease(t, []byte("amd64 build"), []byte(fakeJudge))), inputs, []string{"RUNNER_OS=Linux", "RUNNER_ARCH=ARM64"})
		if r.err != nil || r.action["verdict"] != "approved" {
			t.Fatalf("arm64: %v %v\n%s", r.err, r.action, r.log)
		}
	})

	t.Run("a platform without a pinned binary fails", func(t *testing.T) {
		r := walkAction(t, readAction(t, pinnedRelease(t, []byte(fakeJudge), []byte(fakeJudge))), inputs, []string{"RUNNER_OS=macOS", "RUNNER_ARCH=ARM64"})
		if r.err == nil || !strings.Contains(r.log, "pins no elevate-action binary for macOS/ARM64") {
			t.Fatalf("macOS: %v\n%s", r.err, r.log)
		}
	})
}

// Between releases action.yml pins no binary: the judge is built from the
// action's own source at the pinned commit, and then run.
func TestActionBuildsFromItsOwnSourceBetweenReleases(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(actionPath)
	if err != nil {
		t.Fatal(err)
	}
	a := readAction(t, data)
	for _, s := range a.Runs.Steps {
		if s.ID == "judge" {
			s.Run += " --version" // the real judge, without an event to judge
		}
	}
	r := walkAction(t, a, map[string]string{"token": "ghs_x"}, []string{"RUNNER_OS=Linux", "RUNNER_ARCH=X64"})
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.log)
	}
	if r.outputs["release"]["build"] != "true" {
		t.Errorf("release step outputs %v, want build=true", r.outputs["release"])
	}
	if !strings.Contains(strings.Join(r.ran, "\n"), "actions/setup-go") && !strings.Contains(strings.Join(r.ran, "\n"), "Set up Go") {
		t.Errorf("Go was not set up before the build: %v", r.ran)
	}
	if strings.Count(r.log, "elevate-action ") < 2 {
		t.Errorf("the built judge did not run twice (after the build, and as the judge):\n%s", r.log)
	}
}
