package demo_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/identity"
)

// The README and the pages under docs/ are claims about the code: the
// tests below hold them to it. The runbook, docs/production.md, has tests
// of its own (runbook_test.go).

const repoRoot = "../.."

// docFiles are README.md and every page under docs/, as paths from here.
func docFiles(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 5 {
		t.Fatalf("found %d pages under docs/; is the path wrong?", len(pages))
	}
	return append([]string{filepath.Join(repoRoot, "README.md")}, pages...)
}

func readDoc(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// rel names file for a message, from the repository's root.
func rel(file string) string {
	r, err := filepath.Rel(repoRoot, file)
	if err != nil {
		return file
	}
	return filepath.ToSlash(r)
}

// section is the text of the heading that starts with heading, up to the
// next heading of the same or a higher level.
func section(t *testing.T, file, heading string) string {
	t.Helper()
	text := readDoc(t, file)
	start := strings.Index(text, "\n"+heading)
	if start < 0 {
		t.Fatalf("%s has no section %q", rel(file), heading)
	}
	level := strings.Index(heading, " ")
	rest := text[start+1+len(heading):]
	for _, l := range regexp.MustCompile(`(?m)^#{1,6} `).FindAllStringIndex(rest, -1) {
		if l[1]-l[0]-1 <= level {
			return text[start+1 : start+1+len(heading)+l[0]]
		}
	}
	return text[start+1:]
}

// Every test the trust-model table cites exists: the table is a claim
// about the code, and a renamed or deleted test must fail here.
func TestTrustTableNamesRealTests(t *testing.T) {
	t.Parallel()
	table := section(t, filepath.Join(repoRoot, "docs", "security.md"), "## Who can do what: the trust model")
	cited := regexp.MustCompile("`(Test[A-Za-z0-9_]+)`").FindAllStringSubmatch(table, -1)
	if len(cited) < 20 {
		t.Fatalf("the table cites %d tests; every row must name its tests", len(cited))
	}
	var sources strings.Builder
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		sources.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cited {
		if !strings.Contains(sources.String(), "func "+c[1]+"(") {
			t.Errorf("docs/security.md cites %s, which no test file defines", c[1])
		}
	}
}

// The pages' policies are the tested ones too: every JSON policy in the
// README and docs/ is one the moto end-to-end tests create, and the
// broker's page shows all of them.
func TestDocsPoliciesAreTheTestedOnes(t *testing.T) {
	t.Parallel()
	for _, file := range docFiles(t) {
		if filepath.Base(file) == "production.md" {
			continue // TestRunbookPoliciesAreTheTestedOnes
		}
		shown := checkPolicies(t, file)
		if filepath.Base(file) != "broker.md" {
			continue
		}
		for name := range policies {
			if !shown[name] {
				t.Errorf("docs/broker.md does not show %s", name)
			}
		}
	}
}

// The pages stand on their own: no page points at a document that is not
// in the repository (a specification, its section numbers, an issue).
func TestDocsNameNoSpecOrIssue(t *testing.T) {
	t.Parallel()
	files := docFiles(t)
	workflows, _ := filepath.Glob(filepath.Join(repoRoot, ".github", "workflows", "*.yml"))
	if len(workflows) < 2 {
		t.Fatalf("found %d workflows; is the path wrong?", len(workflows))
	}
	files = append(files, workflows...)
	files = append(files, filepath.Join(repoRoot, "action.yml"), filepath.Join(repoRoot, "requests", "README.md"))
	bad := regexp.MustCompile(`§|(?i)\bspecs?\b|\bissues? #?[0-9]+`)
	for _, file := range files {
		for i, line := range strings.Split(readDoc(t, file), "\n") {
			if m := bad.FindString(line); m != "" {
				t.Errorf("%s:%d names %q, which is not in the repository: say it here instead: %s", rel(file), i+1, m, strings.TrimSpace(line))
			}
		}
	}
}

func TestDocsNameNoSpecOrIssueCatches(t *testing.T) {
	t.Parallel()
	bad := regexp.MustCompile(`§|(?i)\bspecs?\b|\bissues? #?[0-9]+`)
	for _, line := range []string{"see SPEC §5", "as the spec says", "fixed in issue 10", "(issue #8)", "the SPECS"} {
		if !bad.MatchString(line) {
			t.Errorf("%q is not caught", line)
		}
	}
	for _, line := range []string{"respecting the limit", "a special case", "--time-to-live-specification", "issues a session"} {
		if bad.MatchString(line) {
			t.Errorf("%q is caught", line)
		}
	}
}

var (
	fenced     = regexp.MustCompile("(?ms)^\\s*```.*?^\\s*```[ \t]*$")
	codeSpan   = regexp.MustCompile("`[^`\n]*`")
	mdLink     = regexp.MustCompile(`\[([^\]]*)\]\(([^)\s]+)\)`)
	mdHeading  = regexp.MustCompile(`(?m)^#{1,6} +(.+?)\s*$`)
	slugStrip  = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	schemeLink = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`)
)

// anchors are the ids GitHub gives the headings of a Markdown text.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range mdHeading.FindAllStringSubmatch(fenced.ReplaceAllString(text, ""), -1) {
		h := mdLink.ReplaceAllString(m[1], "$1")
		h = strings.NewReplacer("`", "", "*", "").Replace(h)
		slug := strings.ReplaceAll(slugStrip.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

func TestAnchors(t *testing.T) {
	t.Parallel()
	got := anchors("# elevate\n## 2. The GitHub App, the OAuth app and the `elevate` environment\n### /healthz\n## eligibility.yaml\n" +
		"```sh\n# not a heading\n```\n## Targets: roles, permission sets, several at once\n## Limits\n## Limits\n")
	for _, want := range []string{"elevate", "2-the-github-app-the-oauth-app-and-the-elevate-environment", "healthz", "eligibilityyaml",
		"targets-roles-permission-sets-several-at-once", "limits", "limits-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code block is taken for a heading")
	}
}

// Every relative link of the README and docs/ points at a file of the
// repository, and at one of its headings when it names one.
func TestDocsLinksResolve(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, file := range docFiles(t) {
		text := readDoc(t, file)
		prose := codeSpan.ReplaceAllString(fenced.ReplaceAllString(text, ""), "")
		for _, m := range mdLink.FindAllStringSubmatch(prose, -1) {
			target := m[2]
			if schemeLink.MatchString(target) {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s links to %s, which does not exist", rel(file), target)
					continue
				}
			}
			checked++
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			if !anchors(readDoc(t, dest))[anchor] {
				t.Errorf("%s links to %s, but %s has no heading #%s", rel(file), target, rel(dest), anchor)
			}
		}
	}
	if checked < 30 {
		t.Errorf("checked %d links; is the extraction broken?", checked)
	}
}

// The broker's flag table in docs/broker.md is the broker's flags: each
// flag of broker.Config is a row, each row is a flag, and a default shown
// as one value is the flag's default.
func TestBrokerFlagTableIsTheCode(t *testing.T) {
	t.Parallel()
	table := section(t, filepath.Join(repoRoot, "docs", "broker.md"), "## Flags and environment")
	defaults, err := broker.ParseConfig(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	code := map[string]reflect.Value{}
	v := reflect.ValueOf(defaults)
	for i := range v.NumField() {
		if name := v.Type().Field(i).Tag.Get("flag"); name != "" {
			code[name] = v.Field(i)
		}
	}
	rows := map[string]bool{"version": true} // cmd/elevate-broker answers --version itself
	flagName := regexp.MustCompile("`--([a-z0-9-]+)`")
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`--") {
			continue
		}
		names := flagName.FindAllStringSubmatch(cells[1], -1)
		for _, n := range names {
			rows[n[1]] = true
			field, ok := code[n[1]]
			if !ok {
				if n[1] != "version" {
					t.Errorf("docs/broker.md lists --%s, which the broker does not have", n[1])
				}
				continue
			}
			// A default of one code span, for a row of one flag, is checked.
			def := strings.TrimSpace(cells[2])
			if len(names) != 1 || !regexp.MustCompile("^`[^`]+`$").MatchString(def) {
				continue
			}
			def = strings.Trim(def, "`")
			var want string
			switch x := field.Interface().(type) {
			case time.Duration:
				d, err := time.ParseDuration(def)
				if err != nil || d != x {
					t.Errorf("docs/broker.md: --%s defaults to %q, the broker to %s", n[1], def, x)
				}
				continue
			case string:
				want = x
				if n[1] == "oidc-events" && x == "" {
					want = strings.Join(identity.DefaultEvents, ",") // what "" stands for
				}
			default:
				want = fmt.Sprint(x)
			}
			if def != want {
				t.Errorf("docs/broker.md: --%s defaults to %q, the broker to %q", n[1], def, want)
			}
		}
	}
	for name := range code {
		if !rows[name] {
			t.Errorf("docs/broker.md has no row for --%s", name)
		}
	}
}

// Every elevate and elevate-broker command the README and docs/ show parses
// with today's command tree and flags, as the runbook's do.
func TestDocsCommandsParse(t *testing.T) {
	t.Parallel()
	seen := 0
	for _, file := range docFiles(t) {
		if filepath.Base(file) == "production.md" {
			continue // TestRunbookCommandsParse
		}
		for _, c := range docCommands(t, file, fencedBlocks(t, file)) {
			seen++
			checkCommand(t, c)
		}
	}
	if seen < 15 {
		t.Errorf("found %d commands in the README and docs/; is the extraction broken?", seen)
	}
}

// Every ELEVATE_* variable the README and docs/ name is read by the code
// or the workflows.
func TestDocsEnvironmentVariablesExist(t *testing.T) {
	t.Parallel()
	known := readEnvNames(t)
	for _, file := range docFiles(t) {
		for _, m := range slices.Compact(slices.Sorted(slices.Values(envLiteral.FindAllString(readDoc(t, file), -1)))) {
			if _, ok := known[m]; !ok {
				t.Errorf("%s names %s, which neither the code nor the workflows read", rel(file), m)
			}
		}
	}
}

// The README is a front door, not the manual.
func TestREADMEIsShort(t *testing.T) {
	t.Parallel()
	text := readDoc(t, filepath.Join(repoRoot, "README.md"))
	if n := strings.Count(text, "\n"); n > 150 {
		t.Errorf("README.md has %d lines; keep it under 150 and move the detail to a page under docs/", n)
	}
}
