package demo_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/cli"
)

// The runbook docs/production.md is a claim about the code: the
// commands it tells an operator to run must parse with today's flags, its
// environment files must be a configuration the broker accepts, and the
// policies it shows must be the ones the moto end-to-end tests create.

const runbookPath = "../../docs/production.md"

// runbookSections are the headings an operator walks, in order.
var runbookSections = []string{
	"## 0. Rehearse in the sandbox",
	"## 1. Create the access repository",
	"## 2. The GitHub App, the OAuth app and the `elevate` environment",
	"## 3. Branch protection",
	"## 4. AWS roles",
	"## 5. Deploy the broker",
	"### As a systemd service",
	"### As a Lambda function URL",
	"## 6. The webhook",
	"## 7. Your users",
	"## 8. The first request",
	"## 9. Troubleshooting",
}

// block is one fenced code block of a Markdown file.
type block struct {
	lang string
	line int // of the opening fence, 1-based
	text string
}

func fencedBlocks(t *testing.T, file string) []block {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	var cur *block
	var body []string
	for i, l := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: i + 1}
			body = nil
		case cur != nil && trimmed == "```":
			cur.text = strings.Join(body, "\n")
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, l)
		}
	}
	if cur != nil {
		t.Fatalf("%s: the block opened at line %d is never closed", file, cur.line)
	}
	return out
}

func isShell(lang string) bool { return lang == "sh" || lang == "bash" || lang == "shell" }

// shellLines joins continuation lines (a trailing backslash) and returns each
// logical line with the file line it starts on.
func shellLines(b block) (lines []string, at []int) {
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(b.text, "\n") {
		if cur.Len() == 0 {
			start = b.line + 1 + i
		}
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(l)
		lines, at = append(lines, cur.String()), append(at, start)
		cur.Reset()
	}
	if cur.Len() > 0 {
		lines, at = append(lines, cur.String()), append(at, start)
	}
	return lines, at
}

// substitution stands for the value of a command substitution or a
// variable: a full commit SHA, so that --trust-anchor "$(git rev-list …)"
// parses; a flag that wants a number or duration must not be given one.
const substitution = "0123456789abcdef0123456789abcdef01234567"

// splitShell splits one logical shell line into simple commands (at |, ||,
// &&, ; and parentheses) of words, with quotes removed, comments and
// redirections dropped, and $(…) / $VAR replaced by substitution.
func splitShell(line string) ([][]string, error) {
	var cmds [][]string
	var words []string
	var w strings.Builder
	inWord, redirect := false, false
	endWord := func() {
		if inWord {
			if redirect {
				redirect = false // the redirection's target
			} else {
				words = append(words, w.String())
			}
		}
		w.Reset()
		inWord = false
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errUnclosed("'")
			}
			w.WriteString(line[i+1 : i+1+j])
			inWord, i = true, i+1+j
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				switch {
				case line[i] == '\\' && i+1 < len(line):
					i++
					w.WriteByte(line[i])
				case line[i] == '$':
					i = skipExpansion(line, i) - 1
					w.WriteString(substitution)
				default:
					w.WriteByte(line[i])
				}
			}
			if i >= len(line) {
				return nil, errUnclosed(`"`)
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
			inWord = true
		case c == '$':
			i = skipExpansion(line, i) - 1
			w.WriteString(substitution)
			inWord = true
		case c == '#' && !inWord:
			endCmd()
			return cmds, nil
		case c == ' ' || c == '\t':
			endWord()
		case c == '|' || c == '&' || c == ';' || c == '(' || c == ')':
			endCmd()
		case c == '>' || c == '<':
			if w.String() == "2" || w.String() == "1" {
				w.Reset()
				inWord = false
			}
			endWord()
			if i+1 < len(line) && (line[i+1] == '>' || line[i+1] == '&') {
				i++
			}
			redirect = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	endCmd()
	return cmds, nil
}

// skipExpansion returns the index after the expansion that starts at line[i]
// ('$'): $(…) with nesting, ${…}, or $NAME.
func skipExpansion(line string, i int) int {
	switch {
	case i+1 < len(line) && line[i+1] == '(':
		depth := 0
		for j := i + 1; j < len(line); j++ {
			switch line[j] {
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(line)
	case i+1 < len(line) && line[i+1] == '{':
		if j := strings.IndexByte(line[i:], '}'); j >= 0 {
			return i + j + 1
		}
		return len(line)
	}
	j := i + 1
	for j < len(line) && (line[j] == '_' || line[j] >= 'A' && line[j] <= 'Z' || line[j] >= 'a' && line[j] <= 'z' || line[j] >= '0' && line[j] <= '9') {
		j++
	}
	return j
}

type errUnclosed string

func (e errUnclosed) Error() string { return "unclosed " + string(e) + " quote" }

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// command is an invocation of one of elevate's binaries found in the doc.
type command struct {
	where string            // file:line
	name  string            // elevate, elevate-broker or elevate-action
	args  []string          // after the program
	env   map[string]string // assignments before it on the same line
}

var binaries = []string{"elevate", "elevate-broker", "elevate-action"}

// commandsIn returns the invocations of elevate's binaries in one simple
// command: directly, after sudo/env/exec, or after leading assignments.
func commandsIn(where string, words []string) []command {
	env := map[string]string{}
	i := 0
	for ; i < len(words); i++ {
		if w := words[i]; assignment.MatchString(w) {
			k, v, _ := strings.Cut(w, "=")
			env[k] = v
			continue
		}
		if slices.Contains([]string{"sudo", "env", "exec", "export"}, words[i]) {
			continue
		}
		break
	}
	if i >= len(words) {
		return nil
	}
	name := path.Base(words[i])
	if !slices.Contains(binaries, name) {
		return nil
	}
	return []command{{where: where, name: name, args: words[i+1:], env: env}}
}

// docCommands returns every invocation of elevate's binaries in the shell
// blocks of file, and the credential_process lines of its ini blocks.
func docCommands(t *testing.T, file string, blocks []block) []command {
	t.Helper()
	var out []command
	for _, b := range blocks {
		switch {
		case isShell(b.lang):
			lines, at := shellLines(b)
			for i, l := range lines {
				cmds, err := splitShell(l)
				if err != nil {
					t.Errorf("%s:%d: %v: %s", file, at[i], err, l)
					continue
				}
				for _, words := range cmds {
					out = append(out, commandsIn(filepath.Base(file)+":"+strconv.Itoa(at[i]), words)...)
				}
			}
		case b.lang == "ini":
			for i, l := range strings.Split(b.text, "\n") {
				k, v, ok := strings.Cut(l, "=")
				if !ok || strings.TrimSpace(k) != "credential_process" {
					continue
				}
				cmds, err := splitShell(v)
				if err != nil || len(cmds) != 1 {
					t.Errorf("%s:%d: credential_process is not one command: %s", file, b.line+1+i, v)
					continue
				}
				found := commandsIn(filepath.Base(file)+":"+strconv.Itoa(b.line+1+i), cmds[0])
				if len(found) == 0 {
					t.Errorf("%s:%d: credential_process does not run elevate: %s", file, b.line+1+i, v)
				}
				out = append(out, found...)
			}
		}
	}
	return out
}

// parseElevate parses argv with the real command tree without running it:
// the command must exist, its flags must be today's and its positional
// arguments must fit.
func parseElevate(argv []string) error {
	f := &cli.Factory{
		IO:     cli.IOStreams{In: &bytes.Buffer{}, Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
		Getenv: func(string) string { return "" },
	}
	root := cli.NewCmdRoot(f)
	cmd, rest, err := root.Find(argv)
	if err != nil {
		return err
	}
	if cmd == root || !cmd.Runnable() {
		return errString("names no command: " + strings.Join(argv, " "))
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return err
	}
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return err
	}
	return cmd.ValidateFlagGroups()
}

type errString string

func (e errString) Error() string { return string(e) }

var (
	jqAdds = regexp.MustCompile(`\.Variables \+= \{([^}]*)\}`)
	jqPair = regexp.MustCompile(`(ELEVATE_[A-Z_]+): (?:"([^"]*)"|\$[a-z]+)`)
)

// brokerEnvNames maps each ELEVATE_<FLAG> the broker reads to its flag,
// and each variable it reads from the environment only to "".
func brokerEnvNames() map[string]string {
	out := map[string]string{}
	typ := reflect.TypeFor[broker.Config]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Tag.Get("flag"); name != "" {
			out["ELEVATE_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = name
		} else if env := typ.Field(i).Tag.Get("env"); env != "" {
			out[env] = ""
		}
	}
	return out
}

// parseBroker parses a broker invocation as cmd/elevate-broker does: over
// env, with --version answered before any other flag is read.
func parseBroker(args []string, env map[string]string) error {
	if slices.Contains(args, "--version") || slices.Contains(args, "-version") {
		if len(args) != 1 {
			return errString("--version takes no other argument")
		}
		return nil
	}
	_, err := broker.ParseConfig(args, func(k string) string { return env[k] })
	return err
}

// checkCommand parses one command of a page with today's flags.
func checkCommand(t *testing.T, c command) {
	t.Helper()
	var err error
	switch c.name {
	case "elevate":
		err = parseElevate(c.args)
	case "elevate-broker":
		err = parseBroker(c.args, c.env)
	case "elevate-action":
		// The Action reads only its environment (go-githubactions).
		if len(c.args) > 0 && !slices.Equal(c.args, []string{"--version"}) {
			err = errString("elevate-action takes no arguments but --version")
		}
	default:
		return
	}
	if err != nil {
		t.Errorf("%s: %s %s: %v", c.where, c.name, strings.Join(c.args, " "), err)
	}
}

// The commands of the runbook parse with today's flags, and its broker
// settings are a configuration the broker accepts.
func TestRunbookCommandsParse(t *testing.T) {
	t.Parallel()
	blocks := fencedBlocks(t, runbookPath)
	cmds := docCommands(t, runbookPath, blocks)
	seen := map[string]int{}
	for _, c := range cmds {
		seen[c.name]++
		checkCommand(t, c)
	}
	if seen["elevate"] < 10 || seen["elevate-broker"] < 2 {
		t.Errorf("found %d elevate and %d elevate-broker commands; the runbook walks many more (is the extraction broken?)", seen["elevate"], seen["elevate-broker"])
	}
}

// Every block that is the broker's environment file, and the environment
// of the Lambda function, is a configuration ParseConfig accepts.
func TestRunbookBrokerEnvironmentsParse(t *testing.T) {
	t.Parallel()
	if found := len(runbookBrokers(t)); found < 2 {
		t.Errorf("found %d broker environments; the runbook has the systemd environment file and the Lambda function's", found)
	}
}

// runbookBroker is a broker configuration the runbook shows.
type runbookBroker struct {
	where string
	cfg   broker.Config
}

// runbookBrokers are the runbook's broker environment files and Lambda
// environments, as ParseConfig reads them; what it refuses is an error.
func runbookBrokers(t *testing.T) []runbookBroker {
	t.Helper()
	names := brokerEnvNames()
	var out []runbookBroker
	for _, b := range fencedBlocks(t, runbookPath) {
		if !isShell(b.lang) {
			continue
		}
		lines, at := shellLines(b)
		if strings.TrimSpace(lines[0]) == "# /etc/elevate/broker.env" {
			env := map[string]string{
				// systemd: LoadCredential=app-key:… and StateDirectory=.
				"CREDENTIALS_DIRECTORY": "/run/credentials/elevate-broker.service",
				"STATE_DIRECTORY":       "/var/lib/elevate-broker",
			}
			for i, l := range lines[1:] {
				l = strings.TrimSpace(l)
				if l == "" || strings.HasPrefix(l, "#") {
					continue
				}
				k, v, ok := strings.Cut(l, "=")
				if _, known := names[k]; !ok || !known {
					t.Errorf("production.md:%d: %q is not an ELEVATE_<FLAG> of the broker", at[i+1], l)
					continue
				}
				env[k] = v
			}
			cfg, err := broker.ParseConfig(nil, func(k string) string { return env[k] })
			if err != nil {
				t.Errorf("production.md:%d: the broker refuses this environment file: %v", b.line, err)
			}
			out = append(out, runbookBroker{fmt.Sprintf("production.md:%d (environment file)", b.line), cfg})
			continue
		}
		// Variables a later step of the block adds with jq (the App's
		// multi-line key) are part of the function's environment.
		later := map[string]string{}
		for _, l := range lines {
			for _, m := range jqAdds.FindAllStringSubmatch(l, -1) {
				for _, kv := range jqPair.FindAllStringSubmatch(m[1], -1) {
					later[kv[1]] = cmp.Or(kv[2], "-----BEGIN RSA PRIVATE KEY-----")
				}
			}
		}
		for i, l := range lines {
			cmds, err := splitShell(l)
			if err != nil {
				continue // reported by TestRunbookCommandsParse
			}
			for _, words := range cmds {
				if len(words) < 3 || words[0] != "aws" || words[1] != "lambda" || words[2] != "create-function" {
					continue
				}
				k := slices.Index(words, "--environment")
				if k < 0 || k+1 >= len(words) {
					t.Errorf("production.md:%d: aws lambda create-function without --environment", at[i])
					continue
				}
				vars, ok := strings.CutPrefix(words[k+1], "Variables={")
				vars, ok2 := strings.CutSuffix(vars, "}")
				if !ok || !ok2 {
					t.Errorf("production.md:%d: --environment %q is not Variables={…}", at[i], words[k+1])
					continue
				}
				env := map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}
				for k, v := range later {
					if _, known := names[k]; !known {
						t.Errorf("production.md:%d: %s is not a variable the broker reads", at[i], k)
					}
					env[k] = v
				}
				for _, kv := range strings.Split(vars, ",") {
					k, v, _ := strings.Cut(kv, "=")
					if _, known := names[k]; !known {
						t.Errorf("production.md:%d: %s is not an ELEVATE_<FLAG> of the broker", at[i], k)
					}
					env[k] = v
				}
				cfg, err := broker.ParseConfig(nil, func(k string) string { return env[k] })
				if err != nil {
					t.Errorf("production.md:%d: the broker refuses the Lambda environment: %v", at[i], err)
				}
				out = append(out, runbookBroker{fmt.Sprintf("production.md:%d (Lambda)", at[i]), cfg})
			}
		}
	}
	for _, c := range docCommands(t, runbookPath, fencedBlocks(t, runbookPath)) {
		if c.name != "elevate-broker" || slices.Contains(c.args, "--version") {
			continue
		}
		cfg, err := broker.ParseConfig(c.args, func(k string) string { return c.env[k] })
		if err == nil {
			out = append(out, runbookBroker{c.where + " (flags)", cfg})
		}
	}
	return out
}

// envLiteral is an ELEVATE_* name in a file.
var envLiteral = regexp.MustCompile(`ELEVATE_[A-Z0-9_]*[A-Z0-9]`)

// readEnvNames returns every ELEVATE_* name the code, the workflows or
// action.yml read (not the docs, tests, fakes or the demo): the names a
// page may tell a person to set.
func readEnvNames(t *testing.T) map[string]string {
	t.Helper()
	known := brokerEnvNames()
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "docs" || strings.HasPrefix(n, ".") && n != ".github" && n != "." && n != ".." {
				return filepath.SkipDir
			}
			return nil
		}
		code := strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") && !strings.Contains(p, "fake") && !strings.Contains(p, "internal/demo")
		workflow := strings.Contains(p, filepath.Join(".github", "workflows")) || filepath.Base(p) == "action.yml"
		if !code && !workflow {
			return nil
		}
		data, err := os.ReadFile(p)
		for _, m := range envLiteral.FindAllString(string(data), -1) {
			known[m] = p
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return known
}

// Every ELEVATE_* name the runbook mentions is read by the code: a broker
// flag's variable, one the CLI reads, or one the workflows use.
func TestRunbookEnvironmentVariablesExist(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	known := readEnvNames(t)
	for _, m := range slices.Compact(slices.Sorted(slices.Values(envLiteral.FindAllString(string(doc), -1)))) {
		if _, ok := known[m]; !ok {
			t.Errorf("production.md names %s, which neither the code nor the workflows read", m)
		}
	}
}

// policies are the documents the moto end-to-end tests create, by name.
var policies = map[string]string{
	"brokertest.TrustPolicy":            brokertest.TrustPolicy,
	"brokertest.BrokerPolicy":           brokertest.BrokerPolicy,
	"brokertest.EndSessionsTrustPolicy": brokertest.EndSessionsTrustPolicy,
	"brokertest.EndSessionsPolicy":      brokertest.EndSessionsPolicy,
	"brokertest.IdentityCenterPolicy":   brokertest.IdentityCenterPolicy,
}

// allPolicies are the policies a page may show: those of the broker's
// moto tests, and the trail's (activityPolicies).
func allPolicies() map[string]string {
	out := maps.Clone(policies)
	maps.Copy(out, activityPolicies)
	return out
}

// checkPolicies checks that every JSON block of file is valid JSON, that
// each policy among them equals one the moto tests create (or the trail's
// bucket policy, held to the tested read policy), and returns the names
// of those it shows.
func checkPolicies(t *testing.T, file string) map[string]bool {
	t.Helper()
	want := map[string]any{}
	for name, p := range allPolicies() {
		// The tests' broker is an IAM user; the stacks' is a role.
		for _, doc := range []string{p, strings.ReplaceAll(p, ":user/elevate-broker", ":role/elevate-broker")} {
			var v any
			if err := json.Unmarshal([]byte(doc), &v); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want[name+"@"+doc] = v
		}
	}
	shown := map[string]bool{}
	for _, b := range fencedBlocks(t, file) {
		if b.lang != "json" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(b.text), &v); err != nil {
			t.Errorf("%s:%d: not valid JSON: %v", file, b.line, err)
			continue
		}
		obj, ok := v.(map[string]any)
		if _, policy := obj["Statement"]; !ok || !policy {
			continue
		}
		match := ""
		for name, w := range want {
			if reflect.DeepEqual(v, w) {
				match, _, _ = strings.Cut(name, "@")
			}
		}
		if match == "" {
			t.Errorf("%s:%d: this policy is none of those the moto end-to-end tests create (%s); keep the doc and internal/broker/brokertest/moto.go (or internal/demo/activity_test.go) in step", file, b.line, strings.Join(slices.Sorted(maps.Keys(allPolicies())), ", "))
			continue
		}
		shown[match] = true
	}
	// Policies written inline in shell commands are valid JSON too.
	inline := regexp.MustCompile(`'(\{.*?\})'`)
	for _, b := range fencedBlocks(t, file) {
		if !isShell(b.lang) {
			continue
		}
		for _, m := range inline.FindAllStringSubmatch(b.text, -1) {
			if strings.Contains(m[1], "$") {
				continue // a jq filter, not JSON
			}
			if !json.Valid([]byte(m[1])) {
				t.Errorf("%s:%d: the inline JSON %s is not valid", file, b.line, m[1])
			}
		}
	}
	return shown
}

// The runbook's policies are valid JSON and are the ones the moto
// end-to-end tests create, and it shows all four.
func TestRunbookPoliciesAreTheTestedOnes(t *testing.T) {
	t.Parallel()
	shown := checkPolicies(t, runbookPath)
	for name := range policies {
		if !shown[name] {
			t.Errorf("production.md does not show %s", name)
		}
	}
}

// The runbook walks every step, in order.
func TestRunbookSections(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	var headings []string
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "## ") || strings.HasPrefix(l, "### ") {
			headings = append(headings, strings.TrimSpace(l))
		}
	}
	last := -1
	for _, s := range runbookSections {
		i := slices.Index(headings, s)
		switch {
		case i < 0:
			t.Errorf("production.md has no section %q", s)
		case i < last:
			t.Errorf("production.md: section %q is out of order", s)
		default:
			last = i
		}
	}
	text := string(doc)
	for _, want := range []string{
		"ELEVATE_GITHUB_CLIENT_ID", "Enable Device Flow", // elevate login
		"deploy/systemd/elevate-broker.service", "make lambda", "provided.al2023",
		"deploy/aws/broker.yaml", "deploy/aws/target-account.yaml", "Runtime=lambda", "every minute", "1-hour cap", // AWS
		"credential_process = elevate credentials", // users
	} {
		if !strings.Contains(text, want) {
			t.Errorf("production.md does not mention %q", want)
		}
	}
}

// The shell splitter the tests above rely on.
func TestSplitShell(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want [][]string
	}{
		{`elevate status`, [][]string{{"elevate", "status"}}},
		{`elevate request --reason "two words" --ticket 'A B'  # comment`, [][]string{{"elevate", "request", "--reason", "two words", "--ticket", "A B"}}},
		{`X=1 elevate-broker --trust-anchor "$(git rev-list --max-parents=0 HEAD)" > log 2>&1`, [][]string{{"X=1", "elevate-broker", "--trust-anchor", substitution}}},
		{`make dist && cd dist | tee x; (cd a && zip b)`, [][]string{{"make", "dist"}, {"cd", "dist"}, {"tee", "x"}, {"cd", "a"}, {"zip", "b"}}},
		{`export GH_TOKEN=$(gh auth token)`, [][]string{{"export", "GH_TOKEN=" + substitution}}},
	}
	for _, tt := range tests {
		got, err := splitShell(tt.line)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitShell(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
	if _, err := splitShell(`elevate request --reason "open`); err == nil {
		t.Error("an unclosed quote must be an error")
	}
}
