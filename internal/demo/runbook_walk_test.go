package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"

	"github.com/elevate-gitops/elevate/internal/cli"
	"github.com/elevate-gitops/elevate/internal/testenv"
)

// The runbook's first sections are run, not only parsed: the rehearsal in
// the sandbox as a person types it, and elevate init as an operator types
// it, its repository then linted.

// sectionShell returns the shell blocks of the runbook section heading.
func sectionShell(t *testing.T, heading string) []string {
	t.Helper()
	data, err := os.ReadFile(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("the runbook has no section %q", heading)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var out []string
	for _, part := range strings.Split(section, "```sh\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		out = append(out, block)
	}
	if len(out) == 0 {
		t.Fatalf("section %q has no sh block", heading)
	}
	return out
}

func TestRunbookRehearsalRuns(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make: apt-get install make")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	sandbox, bin, home := t.TempDir(), t.TempDir(), t.TempDir()
	script := sectionShell(t, "## 0. Rehearse in the sandbox")[0]
	// The runbook's commands, with the sandbox and its binaries in this
	// test's directories rather than the checkout's.
	makeArgs := "make --no-print-directory -C " + root + " SANDBOX=" + sandbox + " BIN=" + bin
	script = strings.ReplaceAll(script, "make sandbox-stop", makeArgs+" sandbox-stop")
	script = strings.ReplaceAll(script, "make sandbox\n", makeArgs+" sandbox\n")
	script = strings.ReplaceAll(script, "source .sandbox/env", "source "+sandbox+"/env")
	if strings.Count(script, makeArgs) != 2 {
		t.Fatalf("the rehearsal no longer starts and stops the sandbox with make:\n%s", script)
	}
	t.Cleanup(func() { _ = exec.Command(filepath.Join(bin, "elevate-sandbox"), "stop", "--dir", sandbox).Run() })
	cmd := exec.Command("bash", "-ec", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GOCACHE=" + testenv.GoEnv(t, "GOCACHE"), "GOMODCACHE=" + testenv.GoEnv(t, "GOMODCACHE"), "GOFLAGS=" + os.Getenv("GOFLAGS")}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the rehearsal: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"needs 1 approval(s) from @bob",                               // elevate request
		"bob approved #1; elevate success",                            // elevate-sandbox approve
		"merged #1",                                                   // elevate-sandbox merge
		"added profile elevate-prod-Admin",                            // elevate configure --write
		"arn:aws:sts::111111111111:assumed-role/Admin/gh-alice-prod-", // the AWS CLI
		"export AWS_SESSION_TOKEN=",                                   // elevate credentials
		"stopped the sandbox",                                         // make sandbox-stop
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the rehearsal's output lacks %q:\n%s", want, out.String())
		}
	}
	for _, own := range []string{".aws", ".config/elevate", ".cache/elevate"} {
		if _, err := os.Stat(filepath.Join(home, own)); err == nil {
			t.Errorf("the rehearsal wrote the person's own ~/%s", own)
		}
	}
	data, _ := os.ReadFile(filepath.Join(sandbox, "state", "home", "alice", ".aws", "config"))
	if !strings.Contains(string(data), "[profile elevate-prod-Admin]") {
		t.Errorf("the sandbox's AWS config:\n%s", data)
	}
	if _, err := os.Stat(filepath.Join(sandbox, "env")); err == nil {
		t.Error("the sandbox's env file outlives make sandbox-stop")
	}
	if pid, err := os.ReadFile(filepath.Join(sandbox, "pid")); err == nil {
		t.Errorf("the sandbox's pid file (%s) outlives make sandbox-stop", pid)
	}
}

// The runbook's elevate init writes a repository that elevate policy lint
// and actionlint accept.
func TestRunbookInitWritesALintedRepository(t *testing.T) {
	t.Parallel()
	var init []string
	for _, block := range sectionShell(t, "## 1. Create the access repository") {
		lines, _ := shellLines(block1(block))
		for _, l := range lines {
			cmds, err := splitShell(l)
			if err != nil {
				t.Fatal(err)
			}
			for _, words := range cmds {
				if len(words) > 1 && words[0] == "elevate" && words[1] == "init" {
					init = words[1:]
				}
			}
		}
	}
	if len(init) < 2 {
		t.Fatal("section 1 runs no elevate init DIR")
	}
	dir := filepath.Join(t.TempDir(), init[1])
	args := append([]string{"init", dir}, init[2:]...)
	// The test binary knows no commit of its own: the runbook's init
	// defaults to the elevate binary's, given here.
	args = append(args, "--action-ref", substitution)
	if code, out := runCLI(args...); code != 0 {
		t.Fatalf("elevate %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	if code, out := runCLI("policy", "lint", "--dir", dir); code != 0 {
		t.Errorf("elevate policy lint: exit %d\n%s", code, out)
	}
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	workflows, _ := filepath.Glob(filepath.Join(dir, ".github", "workflows", "*.yml"))
	errs, err := l.LintFiles(workflows, nil)
	if err != nil || len(errs) > 0 || len(workflows) != 2 {
		t.Errorf("actionlint on %v: %v %v", workflows, err, errs)
	}
}

// block1 wraps a block's text as shellLines takes it.
func block1(text string) block { return block{lang: "sh", text: text} }

// runCLI runs the elevate CLI in this process.
func runCLI(args ...string) (int, string) {
	var out bytes.Buffer
	f := &cli.Factory{IO: cli.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &out}, Getenv: func(string) string { return "" }}
	return cli.Main(context.Background(), f, args), out.String()
}

// The runbook's CloudFormation commands deploy deploy/aws's templates with
// parameters those templates have, and give each one it requires. (The
// templates themselves pass cfn-lint and are created in moto, issuing
// through them, in deploy/aws_test.go.)
func TestRunbookStacksAreTheTemplates(t *testing.T) {
	t.Parallel()
	type template struct {
		Parameters map[string]struct {
			Default any `yaml:"Default"`
		} `yaml:"Parameters"`
	}
	deploys := 0
	for _, b := range fencedBlocks(t, runbookPath) {
		if !isShell(b.lang) {
			continue
		}
		lines, at := shellLines(b)
		for i, l := range lines {
			cmds, err := splitShell(l)
			if err != nil {
				continue
			}
			for _, w := range cmds {
				if len(w) < 3 || w[0] != "aws" || w[1] != "cloudformation" || (w[2] != "deploy" && w[2] != "create-stack-set") {
					continue
				}
				where := fmt.Sprintf("production.md:%d", at[i])
				file := ""
				given := map[string]bool{}
				for j := 3; j < len(w); j++ {
					switch {
					case w[j] == "--template-file" && j+1 < len(w):
						file = w[j+1]
					case w[j] == "--template-body" && j+1 < len(w):
						file = strings.TrimPrefix(w[j+1], "file://")
					case w[j] == "--parameter-overrides":
						for _, kv := range w[j+1:] {
							if strings.HasPrefix(kv, "--") {
								break
							}
							k, _, _ := strings.Cut(kv, "=")
							given[k] = true
						}
					case w[j] == "--parameters" && j+1 < len(w):
						for _, p := range w[j+1:] {
							if k, ok := strings.CutPrefix(p, "ParameterKey="); ok {
								k, _, _ = strings.Cut(k, ",")
								given[k] = true
							}
						}
					}
				}
				data, err := os.ReadFile(filepath.Join("../..", file))
				if err != nil {
					t.Errorf("%s: the template %q: %v", where, file, err)
					continue
				}
				var tpl template
				if err := yaml.Unmarshal(data, &tpl); err != nil || len(tpl.Parameters) == 0 {
					t.Errorf("%s: %s has no parameters (%v)", where, file, err)
					continue
				}
				for k := range given {
					if _, ok := tpl.Parameters[k]; !ok {
						t.Errorf("%s: %s has no parameter %s", where, file, k)
					}
				}
				for k, p := range tpl.Parameters {
					if p.Default == nil && !given[k] {
						t.Errorf("%s: %s requires %s, which the command does not give", where, file, k)
					}
				}
				deploys++
			}
		}
	}
	if deploys < 4 {
		t.Errorf("%d CloudFormation commands in the runbook; want the broker's stack (role and Lambda), the target stack and its StackSet", deploys)
	}
}
