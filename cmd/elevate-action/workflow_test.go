package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/elevate-gitops/elevate/internal/accessrepo"
	"github.com/elevate-gitops/elevate/internal/validate"
)

// Where the judge runs, and with what: rules checked on every workflow of
// this repository and on those elevate init writes for an access
// repository. Each check is a function over a parsed workflow, so the tests
// below also show it catching the workflows it exists to refuse.

const workflowDir = "../../.github/workflows"

// untrustedTriggers run a workflow file from a branch anyone with push
// access, or any PR, controls: GitHub runs the PR's own copy for
// pull_request and pull_request_review(_comment), and the pushed branch's
// copy for push.
var untrustedTriggers = []string{"pull_request", "pull_request_review", "pull_request_review_comment", "push"}

var (
	fullSHA       = regexp.MustCompile(`^[^@\s]+@[0-9a-f]{40}$`)
	dockerDigest  = regexp.MustCompile(`^docker://[^@\s]+@sha256:[0-9a-f]{64}$`)
	versionNote   = regexp.MustCompile(`^#\s*v\d+(\.\d+){0,2}\b`)
	secretsExpr   = regexp.MustCompile(`\$\{\{[^}]*\bsecrets\b`)
	expression    = regexp.MustCompile(`\$\{\{`)
	headRef       = regexp.MustCompile(`(?i)head`)
	githubToken   = regexp.MustCompile(`(?i)github\.token|GITHUB_TOKEN`)
	appTokenInput = regexp.MustCompile(`^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.token\s*\}\}$`)
	// elevateAction is the elevate Action pinned by commit, as access
	// repositories run it; its comment names elevate's release.
	elevateAction = regexp.MustCompile(`^[^@\s/]+/elevate@[0-9a-f]{40}$`)
	elevateNote   = regexp.MustCompile(`^#\s*elevate\b`)
)

type workflow struct {
	path string
	raw  []byte

	Name        string
	On          yaml.Node
	Permissions yaml.Node
	Jobs        map[string]*job
}

type job struct {
	Environment     yaml.Node
	Permissions     yaml.Node
	Uses            string
	Secrets         yaml.Node
	ContinueOnError yaml.Node `yaml:"continue-on-error"`
	Steps           []*step
}

type step struct {
	ID              string
	Name            string
	If              string
	Uses            string
	Run             string
	With            map[string]string
	Env             map[string]string
	ContinueOnError yaml.Node `yaml:"continue-on-error"`

	usesComment string // the comment on the uses: line, e.g. "# v7.0.1"
}

func (s *step) UnmarshalYAML(n *yaml.Node) error {
	type plain step
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "uses" {
			s.usesComment = n.Content[i+1].LineComment
		}
	}
	return nil
}

func parseWorkflow(path string, data []byte) (*workflow, error) {
	wf := &workflow{path: path, raw: data}
	if err := yaml.Unmarshal(data, wf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if wf.On.Kind == 0 {
		return nil, fmt.Errorf("%s: no on: triggers", path)
	}
	return wf, nil
}

// repoWorkflows parses every workflow of the repository.
func repoWorkflows(t *testing.T) []*workflow {
	t.Helper()
	return dirWorkflows(t, workflowDir)
}

// accessWorkflows parses the workflows elevate init writes.
func accessWorkflows(t *testing.T) []*workflow {
	t.Helper()
	dir := t.TempDir()
	if _, err := accessrepo.Write(dir, accessrepo.Options{Repo: "acme/access", Branch: "main", ActionRepo: accessrepo.DefaultActionRepo,
		ActionRef: "0123456789abcdef0123456789abcdef01234567", ActionVersion: "v1.0.0", Accounts: []accessrepo.Account{{Name: "prod", ID: "111111111111"}},
		Admins: "@acme/security", Approvers: "@acme/sre", Requesters: "@acme/sre"}); err != nil {
		t.Fatal(err)
	}
	return dirWorkflows(t, filepath.Join(dir, ".github/workflows"))
}

// workflowSets are this repository's workflows and an access repository's.
func workflowSets(t *testing.T) map[string][]*workflow {
	t.Helper()
	return map[string][]*workflow{"this repository": repoWorkflows(t), "elevate init": accessWorkflows(t)}
}

func dirWorkflows(t *testing.T, workflowDir string) []*workflow {
	t.Helper()
	var paths []string
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(workflowDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	sort.Strings(paths)
	if len(paths) == 0 {
		t.Fatalf("no workflows under %s", workflowDir)
	}
	var out []*workflow
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		wf, err := parseWorkflow(filepath.Base(p), data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, wf)
	}
	return out
}

func parseString(t *testing.T, name, text string) *workflow {
	t.Helper()
	wf, err := parseWorkflow(name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

// triggers returns the events of on: with their types (nil when any).
func (wf *workflow) triggers() map[string][]string {
	out := map[string][]string{}
	switch n := wf.On; n.Kind {
	case yaml.ScalarNode:
		out[n.Value] = nil
	case yaml.SequenceNode:
		for _, e := range n.Content {
			out[e.Value] = nil
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			var cfg struct{ Types []string }
			_ = n.Content[i+1].Decode(&cfg)
			out[n.Content[i].Value] = cfg.Types
		}
	}
	return out
}

func (wf *workflow) jobNames() []string {
	names := make([]string, 0, len(wf.Jobs))
	for name := range wf.Jobs {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// scalars returns every scalar value under n (keys excluded).
func scalars(n *yaml.Node) []string {
	var out []string
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, false)
			}
		case yaml.MappingNode:
			for i, c := range n.Content {
				walk(c, i%2 == 0)
			}
		case yaml.ScalarNode:
			if !isKey {
				out = append(out, n.Value)
			}
		case yaml.AliasNode:
			walk(n.Alias, isKey)
		}
	}
	walk(n, false)
	return out
}

// permissionProblems lists the permissions of n that grant more than read.
// An absent block (the repository's default, possibly write) is a problem.
func permissionProblems(where string, n yaml.Node, required bool) []string {
	switch n.Kind {
	case 0:
		if required {
			return []string{where + ": no permissions block: the token would get the repository's default permissions"}
		}
		return nil
	case yaml.ScalarNode:
		if n.Value == "read-all" || n.Value == "{}" {
			return nil
		}
		return []string{fmt.Sprintf("%s: permissions %q", where, n.Value)}
	case yaml.MappingNode:
		var out []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v := n.Content[i+1].Value; v != "read" && v != "none" {
				out = append(out, fmt.Sprintf("%s: permission %s: %s", where, n.Content[i].Value, v))
			}
		}
		return out
	}
	return []string{where + ": permissions is neither a map nor a scalar"}
}

// untrustedProblems: a workflow that an untrusted trigger runs may read no
// secret and hold no permission above read.
func untrustedProblems(wf *workflow) []string {
	var untrusted []string
	for _, tr := range untrustedTriggers {
		if _, ok := wf.triggers()[tr]; ok {
			untrusted = append(untrusted, tr)
		}
	}
	if len(untrusted) == 0 {
		return nil
	}
	where := fmt.Sprintf("%s (on %s)", wf.path, strings.Join(untrusted, ", "))
	var root yaml.Node
	if err := yaml.Unmarshal(wf.raw, &root); err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, v := range scalars(&root) {
		if secretsExpr.MatchString(v) {
			out = append(out, fmt.Sprintf("%s reads a secret: %q", where, v))
		}
	}
	out = append(out, permissionProblems(where, wf.Permissions, true)...)
	for _, name := range wf.jobNames() {
		j := wf.Jobs[name]
		jw := where + " job " + name
		out = append(out, permissionProblems(jw, j.Permissions, false)...)
		if j.Secrets.Kind != 0 {
			out = append(out, jw+" passes secrets to a reusable workflow")
		}
		if j.Environment.Kind != 0 {
			out = append(out, jw+" uses an environment, whose secrets it could read")
		}
	}
	return out
}

// pinningProblems: every action and reusable workflow is pinned to a full
// commit SHA, with its version in a comment (local ./ actions excepted).
func pinningProblems(wf *workflow) []string {
	var out []string
	check := func(where, uses, comment string) {
		switch {
		case uses == "" || strings.HasPrefix(uses, "./"):
		case strings.HasPrefix(uses, "docker://"):
			if !dockerDigest.MatchString(uses) {
				out = append(out, fmt.Sprintf("%s: %s is not pinned by digest", where, uses))
			}
		case !fullSHA.MatchString(uses):
			out = append(out, fmt.Sprintf("%s: %s is not pinned to a full commit SHA", where, uses))
		case elevateAction.MatchString(uses) && elevateNote.MatchString(comment):
		case !versionNote.MatchString(comment):
			out = append(out, fmt.Sprintf("%s: %s has no # vX.Y.Z comment naming its version", where, uses))
		}
	}
	for _, name := range wf.jobNames() {
		j := wf.Jobs[name]
		check(wf.path+" job "+name, j.Uses, "# v0") // a reusable workflow's comment is not parsed here
		for i, s := range j.Steps {
			check(fmt.Sprintf("%s job %s step %d", wf.path, name, i+1), s.Uses, s.usesComment)
		}
	}
	return out
}

// injectionProblems: no run: script interpolates an expression; values
// reach scripts through env only.
func injectionProblems(wf *workflow) []string {
	var out []string
	for _, name := range wf.jobNames() {
		for i, s := range wf.Jobs[name].Steps {
			if expression.MatchString(s.Run) {
				out = append(out, fmt.Sprintf("%s job %s step %d: ${{ }} inside run: (script injection); pass it through env", wf.path, name, i+1))
			}
		}
	}
	return out
}

// runsValidator reports whether step s runs the validator: the elevate
// Action (this repository's own, or pinned by commit), or a built binary.
func runsValidator(s *step) bool {
	if s.Uses == "./" || elevateAction.MatchString(s.Uses) {
		return true
	}
	return strings.Contains(s.Run, "elevate-action") && !strings.HasPrefix(strings.TrimSpace(s.Run), "go build ")
}

// validatorToken is the token step s gives the validator.
func validatorToken(s *step) string {
	if s.Uses != "" {
		return s.With["token"]
	}
	return s.Env["INPUT_TOKEN"]
}

// judgingJobs returns the jobs that build or run the validator.
func judgingJobs(wf *workflow) map[string]*job {
	out := map[string]*job{}
	for name, j := range wf.Jobs {
		for _, s := range j.Steps {
			if strings.Contains(s.Run, "elevate-action") || runsValidator(s) {
				out[name] = j
			}
		}
	}
	return out
}

func isTrue(n yaml.Node) bool { return n.Kind != 0 && n.Value != "false" }

// judgeProblems: the judging job runs in the elevate environment, mints the
// App's installation token and passes exactly that token, never GITHUB_TOKEN.
func judgeProblems(wf *workflow, name string, j *job) []string {
	where := wf.path + " job " + name
	var out []string
	env := j.Environment.Value
	if j.Environment.Kind == yaml.MappingNode {
		var e struct{ Name string }
		_ = j.Environment.Decode(&e)
		env = e.Name
	}
	if env != "elevate" {
		out = append(out, fmt.Sprintf("%s: environment %q, want elevate (it holds the App's key, for the default branch only)", where, env))
	}
	if isTrue(j.ContinueOnError) {
		out = append(out, where+": continue-on-error would let a judge without a token pass")
	}
	var mint *step
	for _, s := range j.Steps {
		if strings.HasPrefix(s.Uses, "actions/create-github-app-token@") {
			mint = s
		}
	}
	if mint == nil {
		return append(out, where+": no actions/create-github-app-token step")
	}
	if mint.ID == "" {
		out = append(out, where+": the create-github-app-token step has no id")
	}
	if isTrue(mint.ContinueOnError) || mint.If != "" {
		out = append(out, where+": the create-github-app-token step may be skipped or fail without failing the job")
	}
	if got := mint.With["app-id"] + mint.With["client-id"]; got != "${{ vars.ELEVATE_APP_ID }}" {
		out = append(out, fmt.Sprintf("%s: the App is %q, want ${{ vars.ELEVATE_APP_ID }}", where, got))
	}
	if got := mint.With["private-key"]; got != "${{ secrets.ELEVATE_APP_PRIVATE_KEY }}" {
		out = append(out, fmt.Sprintf("%s: the App key is %q, want ${{ secrets.ELEVATE_APP_PRIVATE_KEY }}", where, got))
	}
	runs := 0
	for _, s := range j.Steps {
		if runsValidator(s) {
			runs++
		}
	}
	if runs != 1 {
		out = append(out, fmt.Sprintf("%s: %d steps run the validator, want one", where, runs))
	}
	for _, s := range j.Steps {
		for _, kv := range []map[string]string{s.With, s.Env} {
			for k, v := range kv {
				if githubToken.MatchString(v) || (s != mint && k == "GITHUB_TOKEN") {
					out = append(out, fmt.Sprintf("%s: %s: %s falls back to the workflow's GITHUB_TOKEN", where, orName(s), k))
				}
			}
		}
		if !runsValidator(s) {
			continue
		}
		m := appTokenInput.FindStringSubmatch(validatorToken(s))
		if m == nil || m[1] != mint.ID {
			out = append(out, fmt.Sprintf("%s: %s: the token is %q, want exactly ${{ steps.%s.outputs.token }}", where, orName(s), validatorToken(s), mint.ID))
		}
	}
	return out
}

// baseProblems: the judging job checks out the base once, without keeping
// credentials, to run the validator from it; one that runs the elevate
// Action pinned by commit checks out nothing. No step refers to the PR's
// head.
func baseProblems(wf *workflow, name string, j *job) []string {
	where := wf.path + " job " + name
	var out []string
	checkouts, want := 0, 1
	for _, s := range j.Steps {
		if elevateAction.MatchString(s.Uses) {
			want = 0
		}
	}
	for _, s := range j.Steps {
		if strings.HasPrefix(s.Uses, "actions/checkout@") {
			checkouts++
			if ref := s.With["ref"]; ref != "${{ github.sha }}" {
				out = append(out, fmt.Sprintf("%s: checkout ref %q, want the default branch's tip whose workflow runs (${{ github.sha }}); a PR's base.sha can be old", where, ref))
			}
			if s.With["persist-credentials"] != "false" {
				out = append(out, where+": checkout must set persist-credentials: false")
			}
			if _, ok := s.With["allow-unsafe-pr-checkout"]; ok {
				out = append(out, where+": checkout allows unsafe PR checkouts")
			}
			if r := s.With["repository"]; r != "" {
				out = append(out, fmt.Sprintf("%s: checkout of another repository %q", where, r))
			}
		}
		values := []string{s.Run, s.If}
		for _, kv := range []map[string]string{s.With, s.Env} {
			for _, v := range kv {
				values = append(values, v)
			}
		}
		for _, v := range values {
			if headRef.MatchString(v) {
				out = append(out, fmt.Sprintf("%s: %s refers to the head: %q", where, orName(s), v))
			}
		}
	}
	switch {
	case checkouts != want && want == 0:
		out = append(out, fmt.Sprintf("%s: %d checkouts, want none: the pinned elevate Action reads the PR through the API", where, checkouts))
	case checkouts != want:
		out = append(out, fmt.Sprintf("%s: %d checkouts, want exactly one (of the base)", where, checkouts))
	}
	return out
}

func orName(s *step) string {
	if s.Name != "" {
		return fmt.Sprintf("step %q", s.Name)
	}
	if s.Uses != "" {
		return "step " + s.Uses
	}
	return "a run step"
}

func report(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

// oldJudge is an earlier judging workflow, as it must never be again: it ran on
// pull_request_review, so GitHub ran the PR's own copy of it with the
// token, and its token fell back to GITHUB_TOKEN.
const oldJudge = `name: elevate
on:
  pull_request_target:
    types: [opened, synchronize, reopened, closed]
    branches: [main]
  pull_request_review:
    types: [submitted, dismissed]
permissions:
  contents: read
  pull-requests: write
  statuses: write
jobs:
  judge:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - uses: actions/setup-go@v5
      - run: go build -o "$RUNNER_TEMP/elevate-action" ./cmd/elevate-action
      - env:
          INPUT_TOKEN: ${{ secrets.ELEVATE_TOKEN || github.token }}
        run: '"$RUNNER_TEMP/elevate-action"'
`

// No workflow that a PR branch or a push can run reads a secret or holds a
// permission above read.
func TestUntrustedTriggersHoldNoSecretsOrWrite(t *testing.T) {
	t.Parallel()
	for _, set := range workflowSets(t) {
		for _, wf := range set {
			report(t, untrustedProblems(wf))
		}
	}
	bad := []struct{ name, text, want string }{
		{"the old judge", oldJudge, "reads a secret"},
		{"write on review", "on: pull_request_review\npermissions:\n  statuses: write\njobs: {}\n", "permission statuses: write"},
		{"write-all on push", "on: [push]\npermissions: write-all\njobs: {}\n", `permissions "write-all"`},
		{"default permissions", "on:\n  pull_request:\njobs: {}\n", "no permissions block"},
		{"job write", "on: pull_request\npermissions: {}\njobs:\n  j:\n    permissions:\n      contents: write\n    steps: []\n", "job j: permission contents: write"},
		{"environment", "on: push\npermissions: {}\njobs:\n  j:\n    environment: elevate\n    steps: []\n", "uses an environment"},
		{"secret in env", "on: pull_request_review\npermissions: {}\njobs:\n  j:\n    steps:\n      - env:\n          K: ${{ secrets.ELEVATE_APP_PRIVATE_KEY }}\n        run: true\n", "reads a secret"},
		{"inherited secrets", "on: push\npermissions: {}\njobs:\n  j:\n    uses: ./.github/workflows/x.yml\n    secrets: inherit\n", "passes secrets"},
	}
	for _, b := range bad {
		problems := untrustedProblems(parseString(t, b.name+".yml", b.text))
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, b.want) }) {
			t.Errorf("%s: problems %q lack %q", b.name, problems, b.want)
		}
	}
	if p := untrustedProblems(parseString(t, "target.yml", "on: pull_request_target\njobs:\n  j:\n    steps:\n      - env:\n          K: ${{ secrets.K }}\n        run: true\n")); len(p) != 0 {
		t.Errorf("pull_request_target runs the base's copy, yet: %q", p)
	}
}

// Every third-party action is pinned to a full commit SHA.
func TestActionsArePinnedByCommit(t *testing.T) {
	t.Parallel()
	uses := 0
	for _, set := range workflowSets(t) {
		for _, wf := range set {
			report(t, pinningProblems(wf))
			for _, j := range wf.Jobs {
				for _, s := range j.Steps {
					if s.Uses != "" {
						uses++
					}
				}
			}
		}
	}
	if uses == 0 {
		t.Fatal("no uses: found; the parser is broken")
	}
	for _, b := range []struct{ uses, comment string }{
		{"actions/checkout@v4", "# v4"},
		{"actions/checkout@3d3c42e", "# v7.0.1"},
		{"actions/checkout@main", ""},
		{"actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", ""},
		{"docker://alpine:3", ""},
		{"acme/elevate@0123456", "# elevate v1.0.0"},
		{"acme/elevate@0123456789abcdef0123456789abcdef01234567", ""},
	} {
		text := "on: push\njobs:\n  j:\n    steps:\n      - uses: " + b.uses + " " + b.comment + "\n"
		if len(pinningProblems(parseString(t, "pin.yml", text))) == 0 {
			t.Errorf("uses: %s %s was accepted", b.uses, b.comment)
		}
	}
	ok := "on: push\njobs:\n  j:\n    steps:\n      - uses: ./local\n      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n"
	if p := pinningProblems(parseString(t, "pin.yml", ok)); len(p) != 0 {
		t.Errorf("pinned uses refused: %q", p)
	}
}

// No run: script interpolates an expression.
func TestNoExpressionsInRunScripts(t *testing.T) {
	t.Parallel()
	for _, set := range workflowSets(t) {
		for _, wf := range set {
			report(t, injectionProblems(wf))
		}
	}
	bad := "on: pull_request_review\njobs:\n  j:\n    steps:\n      - run: echo ${{ github.event.review.body }}\n"
	if len(injectionProblems(parseString(t, "inject.yml", bad))) == 0 {
		t.Error("an expression inside run: was accepted")
	}
}

// judge returns the one judging job of a set of workflows.
func judge(t *testing.T, set []*workflow) (*workflow, string, *job) {
	t.Helper()
	var found []string
	var wf0 *workflow
	var name0 string
	var job0 *job
	for _, wf := range set {
		for name, j := range judgingJobs(wf) {
			found = append(found, wf.path+":"+name)
			wf0, name0, job0 = wf, name, j
		}
	}
	if len(found) != 1 {
		t.Fatalf("judging jobs = %v, want exactly one", found)
	}
	return wf0, name0, job0
}

// The judge runs from the default branch only, in the elevate environment,
// with the App's installation token and nothing else.
func TestJudgeMintsTheAppTokenInTheElevateEnvironment(t *testing.T) {
	t.Parallel()
	for setName, set := range workflowSets(t) {
		t.Run(setName, func(t *testing.T) { checkJudge(t, set, setName == "elevate init") })
	}
	for _, b := range []struct{ name, text, want string }{
		{"the old judge", oldJudge, "no actions/create-github-app-token step"},
		{"no environment", strings.Replace(judgeText(t), "    environment: elevate\n", "", 1), `environment ""`},
		{"another environment", strings.Replace(judgeText(t), "environment: elevate", "environment: ci", 1), `environment "ci"`},
		{"fallback", strings.Replace(judgeText(t), "token: ${{ steps.app-token.outputs.token }}", "token: ${{ steps.app-token.outputs.token || github.token }}", 1), "falls back"},
		{"GITHUB_TOKEN beside", strings.Replace(judgeText(t), "        uses: ./\n", "        uses: ./\n        env:\n          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n", 1), "falls back"},
		{"another token", strings.Replace(judgeText(t), "token: ${{ steps.app-token.outputs.token }}", "token: ${{ secrets.SOME_PAT }}", 1), "want exactly ${{ steps.app-token.outputs.token }}"},
		{"token may fail", strings.Replace(judgeText(t), "        id: app-token\n", "        id: app-token\n        continue-on-error: true\n", 1), "may be skipped or fail"},
		{"no mint", regexp.MustCompile(`actions/create-github-app-token@\S+`).ReplaceAllString(judgeText(t), "actions/other@1b10c78c7865c340bc4f6099eb2f838309f1e8c3"), "no actions/create-github-app-token step"},
	} {
		w := parseString(t, b.name+".yml", b.text)
		var problems []string
		for n, jj := range judgingJobs(w) {
			problems = append(problems, judgeProblems(w, n, jj)...)
		}
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, b.want) }) {
			t.Errorf("%s: problems %q lack %q", b.name, problems, b.want)
		}
	}
}

// checkJudge checks the judging job of set: the one job, in elevate.yml,
// on the two triggers, with no permission beyond its own (none at all where
// it runs the elevate Action pinned by commit: the App's token does it all).
func checkJudge(t *testing.T, set []*workflow, pinned bool) {
	t.Helper()
	wf, name, j := judge(t, set)
	if wf.path != "elevate.yml" {
		t.Errorf("the judge is in %s, want elevate.yml", wf.path)
	}
	report(t, judgeProblems(wf, name, j))

	tr := wf.triggers()
	if len(tr) != 2 {
		t.Errorf("triggers = %v, want pull_request_target and workflow_run only", tr)
	}
	if got := strings.Join(tr["pull_request_target"], ","); got != "opened,synchronize,reopened,closed" {
		t.Errorf("pull_request_target types = %s", got)
	}
	if got := strings.Join(tr["workflow_run"], ","); got != "completed" {
		t.Errorf("workflow_run types = %s", got)
	}
	var on struct {
		WorkflowRun struct{ Workflows []string } `yaml:"workflow_run"`
	}
	if err := wf.On.Decode(&on); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(on.WorkflowRun.Workflows, []string{validate.ReviewWorkflow}) {
		t.Errorf("workflow_run workflows = %v, want [%s] (the name the Action accepts)", on.WorkflowRun.Workflows, validate.ReviewWorkflow)
	}
	if problems := permissionProblems("top level", wf.Permissions, true); wf.Permissions.Kind != yaml.MappingNode || len(wf.Permissions.Content) != 0 || len(problems) != 0 {
		t.Errorf("top-level permissions must be {}: %q", problems)
	}
	var perms map[string]string
	if err := j.Permissions.Decode(&perms); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"contents": "read", "pull-requests": "write", "statuses": "write"}
	if pinned {
		want = map[string]string{}
	}
	if fmt.Sprint(perms) != fmt.Sprint(want) {
		t.Errorf("job permissions = %v, want %v", perms, want)
	}

}

func judgeText(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(workflowDir, "elevate.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The judge checks out the base, never the head.
func TestJudgeChecksOutTheBaseNeverTheHead(t *testing.T) {
	t.Parallel()
	for _, set := range workflowSets(t) {
		wf, name, j := judge(t, set)
		report(t, baseProblems(wf, name, j))
	}
	pinned := string(accessWorkflows(t)[0].raw)
	if !strings.Contains(pinned, "pull_request_target") {
		pinned = string(accessWorkflows(t)[1].raw)
	}
	for _, b := range []struct{ name, text, want string }{
		{"the old judge", oldJudge, "refers to the head"},
		{"head ref", strings.Replace(judgeText(t), "ref: ${{ github.sha }}", "ref: ${{ github.event.pull_request.head.sha }}", 1), "checkout ref"},
		{"the PR's old base", strings.Replace(judgeText(t), "ref: ${{ github.sha }}", "ref: ${{ github.event.pull_request.base.sha || github.sha }}", 1), "a PR's base.sha can be old"},
		{"workflow_run head", strings.Replace(judgeText(t), "ref: ${{ github.sha }}", "ref: ${{ github.event.workflow_run.head_sha }}", 1), "refers to the head"},
		{"credentials kept", strings.Replace(judgeText(t), "persist-credentials: false", "persist-credentials: true", 1), "persist-credentials"},
		{"unsafe", strings.Replace(judgeText(t), "persist-credentials: false", "persist-credentials: false\n          allow-unsafe-pr-checkout: true", 1), "unsafe"},
		{"head in the Action's inputs", strings.Replace(judgeText(t), "          token:", "          sha: ${{ github.event.workflow_run.head_sha }}\n          token:", 1), "refers to the head"},
		{"no checkout for this repository's own Action", regexp.MustCompile(`(?s)      - name: Check out.*?persist-credentials: false\n`).ReplaceAllString(judgeText(t), ""), "want exactly one (of the base)"},
		{"a checkout beside the pinned Action", strings.Replace(pinned, "      - name: Judge\n", "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n        with:\n          ref: ${{ github.sha }}\n          persist-credentials: false\n      - name: Judge\n", 1), "want none"},
	} {
		w := parseString(t, b.name+".yml", b.text)
		var problems []string
		for n, jj := range judgingJobs(w) {
			problems = append(problems, baseProblems(w, n, jj)...)
		}
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, b.want) }) {
			t.Errorf("%s: problems %q lack %q", b.name, problems, b.want)
		}
	}
}

// The review workflow only wakes the judge: named as the judge's
// workflow_run expects, on review events, with nothing to steal and nothing
// run from the PR.
func TestReviewWorkflowOnlyWakesTheJudge(t *testing.T) {
	t.Parallel()
	for setName, set := range workflowSets(t) {
		t.Run(setName, func(t *testing.T) { checkReview(t, set) })
	}
}

func checkReview(t *testing.T, set []*workflow) {
	t.Helper()
	var review *workflow
	for _, wf := range set {
		if wf.Name == validate.ReviewWorkflow {
			if review != nil {
				t.Fatalf("two workflows are named %s", validate.ReviewWorkflow)
			}
			review = wf
		}
	}
	if review == nil {
		t.Fatalf("no workflow is named %s", validate.ReviewWorkflow)
	}
	tr := review.triggers()
	if len(tr) != 1 || strings.Join(tr["pull_request_review"], ",") != "submitted,dismissed" {
		t.Errorf("triggers = %v, want pull_request_review [submitted dismissed] only", tr)
	}
	if review.Permissions.Kind != yaml.MappingNode || len(review.Permissions.Content) != 0 {
		t.Error("top-level permissions must be {}")
	}
	if len(review.Jobs) != 1 {
		t.Errorf("%d jobs, want one", len(review.Jobs))
	}
	for name, j := range review.Jobs {
		for _, s := range j.Steps {
			if s.Uses != "" {
				t.Errorf("job %s uses %s: the review workflow runs no action (it is the PR's own copy)", name, s.Uses)
			}
		}
		if len(judgingJobs(review)) != 0 {
			t.Errorf("job %s runs the validator", name)
		}
	}
}
