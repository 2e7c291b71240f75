package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/elevate-gitops/elevate/internal/accessrepo"
	"github.com/elevate-gitops/elevate/internal/golden"
	"github.com/elevate-gitops/elevate/internal/version"
)

const elevateSHA = "0123456789abcdef0123456789abcdef01234567"

// runInit runs `elevate init` as built from build.
func runInit(t *testing.T, build version.Info, args ...string) (int, string) {
	t.Helper()
	f, out, errOut := testFactory(nil)
	root := NewCmdRoot(f)
	for _, c := range root.Commands() {
		if c.Name() == "init" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(NewCmdInit(f, func(ctx context.Context, o *InitOptions) error {
		o.Build = build
		return initRun(ctx, o)
	}))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return ExitOK, out.String() + errOut.String()
	}
	return ExitCode(err), out.String() + errOut.String() + err.Error()
}

// A new access repository passes elevate policy lint and actionlint, its
// judge runs the elevate Action at the commit given, and init prints what
// is left with the values to use.
func TestInitWritesARepositoryLintAndActionlintAccept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "access")
	code, out := runInit(t, version.Info{}, "init", dir, "--action-ref", elevateSHA, "--repo", "acme/access",
		"--account", "prod=111111111111", "--account", "staging=222222222222", "--admins", "@acme/security", "--approvers", "@acme/sre", "--requesters", "@acme/engineering")
	if code != ExitOK {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	golden.Assert(t, "init", strings.ReplaceAll(out, dir, "DIR"))

	lint := newWorld(t)
	if code := lint.run("policy", "lint", "--dir", dir); code != ExitOK {
		t.Errorf("elevate policy lint: exit %d\n%s%s", code, lint.out, lint.err)
	}
	problems := actionlintProblems(t, dir)
	if len(problems) > 0 {
		t.Errorf("actionlint:\n%s", strings.Join(problems, "\n"))
	}
	wf, err := os.ReadFile(filepath.Join(dir, ".github/workflows/elevate.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(wf), "uses: "+accessrepo.DefaultActionRepo+"@"+elevateSHA+" ") {
		t.Errorf("the judge does not run the elevate Action at %s:\n%s", elevateSHA, wf)
	}
	for _, p := range []string{"README.md", "requests/README.md", "requests/prod/.gitkeep", "requests/staging/.gitkeep", ".github/CODEOWNERS", ".github/workflows/elevate-review.yml"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// actionlintProblems lints the workflows of the repository in dir.
func actionlintProblems(t *testing.T, dir string) []string {
	t.Helper()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, ".github/workflows/*.yml"))
	if err != nil || len(paths) != 2 {
		t.Fatalf("workflows %v, %v", paths, err)
	}
	errs, err := l.LintFiles(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// Without --action-ref the Action's commit is the one the binary was built
// from; a binary that does not know it, or was built from a modified
// tree, asks for the flag.
func TestInitPinsTheBinarysOwnCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out := runInit(t, version.Info{Module: "v1.4.0", Revision: elevateSHA}, "init", dir)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	wf, _ := os.ReadFile(filepath.Join(dir, ".github/workflows/elevate.yml"))
	if !strings.Contains(string(wf), "@"+elevateSHA+" # elevate v1.4.0") {
		t.Errorf("the judge is not pinned to the binary's commit and release:\n%s", wf)
	}
	for _, tt := range []struct {
		build version.Info
		want  string
	}{
		{version.Info{Module: "(devel)"}, "does not know the commit it was built from: pass --action-ref"},
		{version.Info{Revision: elevateSHA, Modified: true}, "built from a modified checkout"},
	} {
		code, out := runInit(t, tt.build, "init", t.TempDir())
		if code != ExitUsage || !strings.Contains(out, tt.want) {
			t.Errorf("%+v: exit %d, %q; want 2 and %q", tt.build, code, out, tt.want)
		}
	}
}

func TestInitRefusesAndLeavesNothingHalfWritten(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"a short SHA", []string{"--action-ref", "0123456"}, "want the full 40-character commit SHA"},
		{"a tag", []string{"--action-ref", "v1.0.0"}, "a tag or branch can be moved"},
		{"an account without an id", []string{"--action-ref", elevateSHA, "--account", "prod"}, "want NAME=ID"},
		{"an account id too short", []string{"--action-ref", elevateSHA, "--account", "prod=1234"}, "12-digit"},
		{"an account YAML reads as a boolean", []string{"--action-ref", elevateSHA, "--account", "true=111111111111"}, "not a YAML word"},
		{"an account YAML reads as a number", []string{"--action-ref", elevateSHA, "--account", "0777=111111111111"}, "starting with a letter"},
		{"an account twice", []string{"--action-ref", elevateSHA, "--account", "prod=111111111111", "--account", "prod=222222222222"}, "named twice"},
		{"a repository without an owner", []string{"--action-ref", elevateSHA, "--repo", "access"}, "want OWNER/NAME"},
		{"a team with spaces", []string{"--action-ref", elevateSHA, "--approvers", "@acme/s re"}, "want @org/team or a GitHub login"},
	} {
		dir := t.TempDir()
		code, out := runInit(t, version.Info{}, append([]string{"init", dir}, tt.args...)...)
		if code != ExitUsage || !strings.Contains(out, tt.want) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", tt.name, code, out, tt.want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s: wrote %d entries", tt.name, len(entries))
		}
	}

	// An existing file is never overwritten, and nothing else is written.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".github"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".github/CODEOWNERS"), []byte("* @someone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runInit(t, version.Info{}, "init", dir, "--action-ref", elevateSHA)
	if code != ExitError || !strings.Contains(out, "CODEOWNERS already exists") {
		t.Fatalf("exit %d, %q", code, out)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, ".github/CODEOWNERS")); string(data) != "* @someone\n" {
		t.Errorf("CODEOWNERS was overwritten: %q", data)
	}
	if _, err := os.Stat(filepath.Join(dir, "eligibility.yaml")); err == nil {
		t.Error("eligibility.yaml was written beside the refusal")
	}
}
