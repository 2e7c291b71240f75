package cli

import (
	"context"
	"crypto/sha1"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/awsprofile"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/golden"
	"github.com/elevate-gitops/elevate/internal/testenv"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// configurePolicy lets Codertocat request Admin and ReadOnly in prod (by
// login), Deploy in staging (through @acme/sre) and the permission set
// ProdAdmin in prod; Billing goes to @acme/finance, which Codertocat is not in.
func configurePolicy() string {
	p := strings.Replace(brokertest.Policy, "  prod: \"111111111111\"\n", "  prod: \"111111111111\"\n  staging: \"222222222222\"\n  dev: \"333333333333\"\n", 1)
	p = vt.WithPermissionSet(p, "ProdAdmin", "  - {name: prod-sets, who: [Codertocat], accounts: [prod], permission_sets: [ProdAdmin], max_duration: 4h, approvals: 1}\n")
	return p + "  - {name: staging-sre, who: [\"@acme/sre\"], accounts: [staging], roles: [Deploy], max_duration: 4h, approvals: 1}\n" +
		"  - {name: billing, who: [\"@acme/finance\"], accounts: [prod, dev], roles: [Billing], max_duration: 1h, approvals: 1}\n"
}

// configureWorld is the CLI's world with configurePolicy on the default
// branch, Codertocat in @acme/sre, a home of its own, and a PATH whose
// elevate is a stand-in that prints fixed credentials and records its
// arguments in args.txt beside it. It returns the config file's path:
// ~/.aws/config, as AWS_CONFIG_FILE is not set.
func configureWorld(t *testing.T) (*world, string) {
	t.Helper()
	w := newWorld(t)
	w.h.GitHub.Fake.TeamMember("acme", "sre", vt.Author.GetLogin(), "active")
	setPolicy(w, configurePolicy())
	home := t.TempDir()
	bin := filepath.Join(home, "bin")
	writeFiles(t, bin, map[string]string{"elevate": "#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/args.txt\"\n" +
		`echo '{"Version": 1, "AccessKeyId": "ASIAELEVATECONFIGURE", "SecretAccessKey": "secret", "SessionToken": "token", "Expiration": "2099-01-01T00:00:00Z"}'` + "\n"})
	if err := os.Chmod(filepath.Join(bin, "elevate"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.env["HOME"] = home
	w.env["PATH"] = bin
	return w, filepath.Join(home, ".aws", "config")
}

// setPolicy points GitHub's default branch at a commit whose
// eligibility.yaml is policy.
func setPolicy(w *world, policy string) {
	files := maps.Clone(w.h.GitHub.BaseFiles)
	files["eligibility.yaml"] = []byte(policy)
	sha := fmt.Sprintf("%x", sha1.Sum([]byte(policy)))
	w.h.GitHub.Fake.Commit(sha, files)
	w.h.GitHub.Fake.Branch("main", sha)
}

// transcript runs the CLI and writes what it printed.
func (w *world) transcript(b *strings.Builder, args ...string) int {
	code := w.run(args...)
	fmt.Fprintf(b, "$ elevate %s\n--- stdout\n%s--- stderr\n%s[exit %d]\n\n", strings.Join(args, " "), w.out, w.err, code)
	return code
}

// Without --write, configure shows the sections it would write and how to
// write them, and writes nothing.
func TestConfigurePrintsThePlan(t *testing.T) {
	t.Parallel()
	w, path := configureWorld(t)
	var b strings.Builder
	if code := w.transcript(&b, "configure"); code != 0 {
		t.Errorf("exit %d", code)
	}
	w.transcript(&b, "configure", "--region", "eu-west-1", "--command", filepath.Join(w.env["PATH"], "elevate"))
	golden.Assert(t, "configure-plan", strings.ReplaceAll(b.String(), w.env["PATH"], "BIN"))
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("without --write, %s was touched: %v", filepath.Dir(path), err)
	}
}

// A foreign config: comments, profiles of the person's own, and a profile
// that has the name of one elevate would write.
const foreignConfig = `# my own AWS config
[default]
region = eu-west-1

; the work account
[profile work]
sso_session = corp
sso_account_id = 444444444444
sso_role_name = Developer

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1

# mine, not elevate's
[profile elevate-prod-ReadOnly]
role_arn = arn:aws:iam::111111111111:role/ReadOnly
source_profile = default
`

// --write adds elevate's sections after the person's own, leaves those
// byte for byte, skips the profile of the same name, keeps the mode; a
// second run changes nothing; a target no longer requestable is removed.
func TestConfigureWrite(t *testing.T) {
	t.Parallel()
	w, path := configureWorld(t)
	writeFiles(t, filepath.Dir(path), map[string]string{"config": foreignConfig})
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if code := w.transcript(&b, "configure", "--write"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "configure-written", written)
	if !strings.HasPrefix(string(written), foreignConfig) {
		t.Error("the person's own lines changed")
	}
	before, err := os.Stat(path)
	if err != nil || before.Mode().Perm() != 0o640 {
		t.Errorf("mode %v (%v), want 0640 as it was", before.Mode(), err)
	}

	// Again: nothing changes, and the file is not even rewritten.
	if code := w.transcript(&b, "configure", "--write"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	again, _ := os.ReadFile(path)
	after, _ := os.Stat(path)
	if string(again) != string(written) || !os.SameFile(before, after) {
		t.Error("a second run rewrote the file")
	}

	// Codertocat leaves @acme/sre: staging's Deploy goes.
	w.h.GitHub.Fake.TeamMember("acme", "sre", vt.Author.GetLogin(), "")
	w.transcript(&b, "configure")
	if code := w.transcript(&b, "configure", "--write"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	golden.Assert(t, "configure-write", b.String())
	rewritten, _ := os.ReadFile(path)
	if want := strings.Replace(string(written), "\n"+awsprofile.Marker+"\n[profile elevate-staging-Deploy]\ncredential_process = elevate credentials --account staging --role Deploy\n", "", 1); string(rewritten) != want {
		t.Errorf("after Deploy went, the file is\n%s\nwant\n%s", rewritten, want)
	}

	// The Go SDK reads the profiles as written.
	ctx := context.Background()
	files := func(o *config.LoadSharedConfigOptions) {
		o.ConfigFiles, o.CredentialsFiles = []string{path}, []string{filepath.Join(t.TempDir(), "credentials")}
	}
	admin, err := config.LoadSharedConfigProfile(ctx, "elevate-prod-Admin", files)
	if err != nil || admin.CredentialProcess != "elevate credentials --account prod --role Admin" {
		t.Errorf("elevate-prod-Admin: %+v, %v", admin, err)
	}
	set, err := config.LoadSharedConfigProfile(ctx, "elevate-prod-ProdAdmin", files)
	if err != nil || set.SSOAccountID != "111111111111" || set.SSORoleName != "ProdAdmin" || set.SSOSession == nil ||
		set.SSOSession.SSOStartURL != "https://d-1234567890.awsapps.com/start" || set.SSOSession.SSORegion != "eu-west-1" {
		t.Errorf("elevate-prod-ProdAdmin: %+v %+v, %v", set, set.SSOSession, err)
	}
}

// Removing every rule of the person's removes every section elevate wrote,
// and the file is back to what it was.
func TestConfigureRemovesAllItWrote(t *testing.T) {
	t.Parallel()
	w, path := configureWorld(t)
	writeFiles(t, filepath.Dir(path), map[string]string{"config": foreignConfig})
	if code := w.run("configure", "--write"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	nobody := strings.ReplaceAll(strings.ReplaceAll(configurePolicy(), `"Codertocat", `, ""), "[Codertocat]", "[hubot]")
	w.h.GitHub.Fake.TeamMember("acme", "sre", vt.Author.GetLogin(), "")
	setPolicy(w, nobody)
	if code := w.run("configure", "--write"); code != 0 || !strings.Contains(w.err.String(), "Codertocat may request nothing") {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	if data, _ := os.ReadFile(path); string(data) != foreignConfig {
		t.Errorf("the file is\n%s\nwant it as it was\n%s", data, foreignConfig)
	}
}

// A new config file is 0600 in a directory made 0700.
func TestConfigureCreatesAPrivateFile(t *testing.T) {
	t.Parallel()
	w, path := configureWorld(t)
	if code := w.run("configure", "--write"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v (%v), want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}

// What stops configure says what to do next, in one line.
func TestConfigureFailures(t *testing.T) {
	t.Parallel()
	w, path := configureWorld(t)
	big := filepath.Join(w.env["HOME"], "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", awsprofile.MaxSize/10+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	checkFailures(t, w, "configure-failures", []failureCase{
		{"config file over 1 MiB", func(w *world) { w.env["AWS_CONFIG_FILE"] = "~/big" }, []string{"configure"}, ExitError},
		{"config file a directory", func(w *world) { w.env["AWS_CONFIG_FILE"] = "~/bin" }, []string{"configure", "--write"}, ExitError},
		{"GitHub unreachable", githubDown, []string{"configure"}, ExitError},
		{"no token", noToken, []string{"configure"}, ExitError},
		{"bad region", nil, []string{"configure", "--region", "europe"}, ExitUsage},
		{"relative command", nil, []string{"configure", "--command", "bin/elevate"}, ExitUsage},
		{"command with a quote", nil, []string{"configure", "--command", `/opt/el"evate`}, ExitUsage},
		{"missing command", nil, []string{"configure", "--command", "/nonexistent/elevate"}, ExitUsage},
		{"an argument", nil, []string{"configure", "prod"}, ExitUsage},
	})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failed configure touched %s: %v", path, err)
	}
}

// elevate not on PATH: the profiles still run it by name, and configure
// says how to fix that.
func TestConfigureSaysWhenElevateIsNotOnPath(t *testing.T) {
	t.Parallel()
	w, _ := configureWorld(t)
	w.env["PATH"] = t.TempDir()
	if code := w.run("configure"); code != 0 || !strings.Contains(w.err.String(), "elevate is not on your PATH, and the AWS CLI runs credential_process by name: put it on PATH, or give --command with its absolute path") {
		t.Errorf("exit %d: %s", code, w.err)
	}
	if !strings.Contains(w.out.String(), "credential_process = elevate credentials --account prod --role Admin\n") {
		t.Errorf("stdout:\n%s", w.out)
	}
}

// A person without an Identity Center user gets no SSO profile, and is
// told whom to ask; their roles are written as ever.
func TestConfigureWithoutAnIdentityCenterUser(t *testing.T) {
	t.Parallel()
	w, _ := configureWorld(t)
	policy := strings.Replace(configurePolicy(), fmt.Sprintf("    \"%d\": codertocat@example.com\n", vt.Author.GetID()), "    \"1\": someone@example.com\n", 1)
	setPolicy(w, policy)
	if code := w.run("configure"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	if strings.Contains(w.out.String(), "sso") || !strings.Contains(w.out.String(), "[profile elevate-prod-Admin]") ||
		!strings.Contains(w.err.String(), fmt.Sprintf("no AWS SSO profile for prod/ProdAdmin: Codertocat (GitHub user id %d) has no Identity Center user", vt.Author.GetID())) {
		t.Errorf("stdout:\n%s\nstderr:\n%s", w.out, w.err)
	}
}

func TestConfigureFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	with := func(o ConfigureOptions) ConfigureOptions {
		o.IO, o.Repo, o.Getenv = f.IO, f.Repo, f.Getenv
		return o
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	checkParse(t, func(runF func(context.Context, *ConfigureOptions) error) *cobra.Command {
		return NewCmdConfigure(f, runF)
	}, []parseCase[ConfigureOptions]{
		{argv: []string{}, want: with(ConfigureOptions{Command: "elevate"})},
		{argv: []string{"--write", "--region", "eu-west-1"}, want: with(ConfigureOptions{Write: true, Region: "eu-west-1", Command: "elevate"})},
		{argv: []string{"--command", exe}, want: with(ConfigureOptions{Command: exe})},
		{argv: []string{"--command", "elevate-v2"}, want: with(ConfigureOptions{Command: "elevate-v2"})},
		{argv: []string{"--region", "EU"}, wantErr: true},
		{argv: []string{"--command", ""}, wantErr: true},
		{argv: []string{"--command", "./elevate"}, wantErr: true},
		{argv: []string{"--command", "/bin/elevate $(id)"}, wantErr: true},
		{argv: []string{"--command", "/no/such/elevate"}, wantErr: true},
		{argv: []string{"--write", "x"}, wantErr: true},
	})
}

func TestAWSConfigPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env        map[string]string
		path, name string
	}{
		{map[string]string{"HOME": "/home/a"}, "/home/a/.aws/config", "~/.aws/config"},
		{map[string]string{"HOME": "/home/a", "AWS_CONFIG_FILE": "/etc/aws/config"}, "/etc/aws/config", "/etc/aws/config"},
		{map[string]string{"HOME": "/home/a", "AWS_CONFIG_FILE": "~/aws/config"}, "/home/a/aws/config", "~/aws/config"},
	} {
		path, name, err := awsConfigPath(func(k string) string { return tt.env[k] })
		if err != nil || path != tt.path || name != tt.name {
			t.Errorf("%v: %q, %q, %v; want %q, %q", tt.env, path, name, err, tt.path, tt.name)
		}
	}
}

func TestCommandWord(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"elevate":                              "elevate",
		"/usr/local/bin/elevate":               "/usr/local/bin/elevate",
		"/Users/a/Application Support/elevate": `"/Users/a/Application Support/elevate"`,
		"/opt/elevate;rm":                      `"/opt/elevate;rm"`,
	} {
		if got := commandWord(in); got != want {
			t.Errorf("commandWord(%q) = %s, want %s", in, got, want)
		}
	}
}

// The AWS CLI reads the written profiles: it lists them (v2), reads their
// keys (v1 and v2), and runs the credential_process of one (v2's
// export-credentials), here the PATH's stand-in elevate.
func TestConfigureAWSCLIReadsTheProfiles(t *testing.T) {
	t.Parallel()
	w, path := configureWorld(t)
	writeFiles(t, filepath.Dir(path), map[string]string{"config": foreignConfig})
	if code := w.run("configure", "--write"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	var clis []string
	for _, c := range []string{"/usr/bin/aws", "aws"} {
		if p, err := exec.LookPath(c); err == nil && !slices.Contains(clis, p) {
			clis = append(clis, p)
		}
	}
	if len(clis) == 0 {
		testenv.Missing(t, "the AWS CLI", "apt-get install awscli")
	}
	home := w.env["HOME"]
	env := []string{
		"PATH=" + w.env["PATH"] + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_CONFIG_FILE=" + path, // ~/.aws/config too, but said outright
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		env = append(env, "PYENV_ROOT="+root)
	}
	aws := func(cli string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, cli := range clis {
		version, err := aws(cli, "--version")
		if err != nil {
			t.Errorf("%s --version: %v\n%s", cli, err, version)
			continue
		}
		v2 := strings.HasPrefix(version, "aws-cli/2.")
		t.Logf("%s: %s", cli, strings.TrimSpace(version))
		for profile, key := range map[string][2]string{
			"elevate-prod-Admin":     {"credential_process", "elevate credentials --account prod --role Admin"},
			"elevate-staging-Deploy": {"credential_process", "elevate credentials --account staging --role Deploy"},
			"elevate-prod-ProdAdmin": {"sso_role_name", "ProdAdmin"},
			"elevate-prod-ReadOnly":  {"role_arn", "arn:aws:iam::111111111111:role/ReadOnly"}, // the person's own
		} {
			if out, err := aws(cli, "configure", "get", key[0], "--profile", profile); err != nil || strings.TrimSpace(out) != key[1] {
				t.Errorf("%s configure get %s --profile %s = %q, %v; want %q", cli, key[0], profile, out, err, key[1])
			}
		}
		if !v2 {
			continue
		}
		out, err := aws(cli, "configure", "list-profiles")
		if err != nil {
			t.Fatalf("%s configure list-profiles: %v\n%s", cli, err, out)
		}
		got := strings.Fields(out)
		slices.Sort(got)
		want := []string{"default", "elevate-prod-Admin", "elevate-prod-ProdAdmin", "elevate-prod-ReadOnly", "elevate-staging-Deploy", "work"}
		if !slices.Equal(got, want) {
			t.Errorf("%s configure list-profiles = %q, want %q", cli, got, want)
		}
		out, err = aws(cli, "configure", "export-credentials", "--profile", "elevate-prod-Admin", "--format", "env")
		if err != nil || !strings.Contains(out, "AWS_ACCESS_KEY_ID=ASIAELEVATECONFIGURE") {
			t.Errorf("%s configure export-credentials: %v\n%s", cli, err, out)
		}
		if args, _ := os.ReadFile(filepath.Join(w.env["PATH"], "args.txt")); string(args) != "credentials --account prod --role Admin\n" {
			t.Errorf("credential_process ran elevate with %q", args)
		}
	}
}

// A role and a permission set of the same name in one account would share
// a profile name: the role gets it, and configure says what to do for the set.
func TestConfigureNameTakenOnce(t *testing.T) {
	t.Parallel()
	w, _ := configureWorld(t)
	policy := vt.WithPermissionSet(brokertest.Policy, "Admin", "  - {name: prod-sets, who: [Codertocat], accounts: [prod], permission_sets: [Admin], max_duration: 4h, approvals: 1}\n")
	setPolicy(w, policy)
	if code := w.run("configure"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	if strings.Count(w.out.String(), "[profile elevate-prod-Admin]") != 1 || !strings.Contains(w.out.String(), "credential_process = elevate credentials --account prod --role Admin") ||
		!strings.Contains(w.err.String(), "profile elevate-prod-Admin is taken by role Admin in prod: none is written for permission set Admin in prod (add an AWS SSO profile of another name by hand: sso_session = elevate, sso_account_id = 111111111111, sso_role_name = Admin)") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", w.out, w.err)
	}
}
