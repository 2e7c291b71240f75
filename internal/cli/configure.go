package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/awsprofile"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/request"
)

// ConfigureOptions are the inputs of `elevate configure`.
type ConfigureOptions struct {
	IO      IOStreams
	Repo    func(context.Context) (*githubapi.Repo, error)
	Getenv  func(string) string
	Write   bool
	Region  string // written into every profile when set
	Command string // how the AWS CLI runs elevate
}

// ssoSession is the name of the sso-session elevate's SSO profiles share.
const ssoSession = "elevate"

// NewCmdConfigure builds `elevate configure`.
func NewCmdConfigure(f *Factory, runF func(context.Context, *ConfigureOptions) error) *cobra.Command {
	opts := &ConfigureOptions{IO: f.IO, Repo: f.Repo, Getenv: f.Getenv}
	cmd := &cobra.Command{
		Use:   "configure [--write] [--region REGION] [--command PATH]",
		Short: "Write AWS CLI profiles for what you may request",
		Long: "Shows, as AWS config file sections, a profile for each role and permission set you may\n" +
			"request under eligibility.yaml on the default branch: elevate-ACCOUNT-ROLE runs\n" +
			"`elevate credentials` as its credential_process; elevate-ACCOUNT-SET signs in with AWS SSO\n" +
			"(sso-session elevate). With --write they go into your AWS config file (AWS_CONFIG_FILE, or\n" +
			"~/.aws/config), each under a comment line starting \"# written by elevate configure\":\n" +
			"elevate rewrites or removes only sections with that line and leaves every other line as\n" +
			"it is; a section of the same name without it is skipped.",
		Example: "  elevate configure                     # show what would be written\n" +
			"  elevate configure --write --region eu-west-1\n" +
			"  aws sts get-caller-identity --profile elevate-prod-Admin",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Region != "" && !regionRE.MatchString(opts.Region) {
				return flagErrorf("--region %q is not an AWS region, like eu-west-1", opts.Region)
			}
			if err := checkCommand(opts.Command); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return configureRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Write, "write", false, "edit the AWS config file (without it, only show what would change)")
	cmd.Flags().StringVar(&opts.Region, "region", "", "add region = REGION to every profile (default: none; AWS_REGION or your default applies)")
	cmd.Flags().StringVar(&opts.Command, "command", "elevate", "how credential_process runs elevate: a name on PATH or an absolute path")
	return cmd
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)

// checkCommand refuses a --command that a credential_process line could
// not carry, or that names no program.
func checkCommand(c string) error {
	switch {
	case c == "":
		return flagErrorf("--command is empty: give elevate's name on PATH or its absolute path")
	case strings.ContainsFunc(c, func(r rune) bool { return r < ' ' || r == 0x7f || strings.ContainsRune("\"'`$%", r) }):
		return flagErrorf("--command %q: a path with quotes, $, %% or control characters cannot be written safely; link elevate from a plainer path", c)
	case strings.ContainsRune(c, '\\') && runtime.GOOS != "windows":
		return flagErrorf("--command %q: a backslash cannot be written safely; link elevate from a plainer path", c)
	case strings.ContainsAny(c, `/\`) && !filepath.IsAbs(c):
		return flagErrorf("--command %q: give a name on PATH or an absolute path (the AWS CLI runs it from any directory)", c)
	}
	if filepath.IsAbs(c) {
		if fi, err := os.Stat(c); err != nil || !fi.Mode().IsRegular() {
			return flagErrorf("--command %s: no such program", c)
		}
	}
	return nil
}

// commandWord is c as the first word of a credential_process line, which
// the AWS CLI splits as a shell would: double-quoted when it holds more
// than letters, digits and ._-+/:@=,.
func commandWord(c string) string {
	if strings.ContainsFunc(c, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+/:@=,", r))
	}) {
		return `"` + c + `"`
	}
	return c
}

// elevateSection says which sections of an AWS config file are elevate's
// to write: profiles named elevate-… and the sso-session elevate.
func elevateSection(name string) bool {
	return strings.HasPrefix(name, "profile elevate-") || name == "sso-session "+ssoSession
}

func configureRun(ctx context.Context, opts *ConfigureOptions) error {
	path, name, err := awsConfigPath(opts.Getenv)
	if err != nil {
		return err
	}
	may, err := requestable(ctx, opts.Repo)
	if err != nil {
		return &HintError{Before: "configure reads eligibility.yaml at the default branch, and the teams it names, from GitHub", Err: err}
	}
	want, notes := configSections(may, opts)
	file, err := awsprofile.Read(path, name)
	if err != nil {
		return err
	}
	out, changes, err := awsprofile.Apply(file.Data, want, elevateSection)
	if err != nil {
		return err
	}

	errOut := opts.IO.ErrOut
	fmt.Fprintln(errOut, may.summary())
	for _, n := range notes {
		fmt.Fprintln(errOut, n)
	}
	if may.hasRoles() && !strings.ContainsAny(opts.Command, `/\`) && !onPath(opts.Getenv, opts.Command) {
		hint := "give --command with its absolute path"
		if exe, err := os.Executable(); err == nil {
			hint += " (this one is " + exe + ")"
		}
		fmt.Fprintf(errOut, "%s is not on your PATH, and the AWS CLI runs credential_process by name: put it on PATH, or %s\n", opts.Command, hint)
	}
	if !opts.Write {
		var text []string
		for i, c := range changes {
			if i < len(want) && c.Action != awsprofile.Skipped {
				text = append(text, want[i].Text("\n"))
			}
		}
		if _, err := io.WriteString(opts.IO.Out, strings.Join(text, "\n")); err != nil {
			return err
		}
	}
	changed := string(out) != string(file.Data)
	if opts.Write && changed {
		if err := file.Write(out); err != nil {
			return err
		}
	}
	counts := report(errOut, name, may.login, changes, opts.Write)
	switch {
	case !changed:
		fmt.Fprintf(errOut, "%s is up to date%s\n", name, counts)
	case !opts.Write:
		fmt.Fprintf(errOut, "to make these changes: %s\n", writeCommand(opts))
	default:
		fmt.Fprintf(errOut, "wrote %s%s\n", name, counts)
	}
	return nil
}

// writeCommand is the command line that writes what this one showed.
func writeCommand(opts *ConfigureOptions) string {
	c := "elevate configure --write"
	if opts.Region != "" {
		c += " --region " + opts.Region
	}
	if opts.Command != "elevate" {
		c += " --command " + commandWord(opts.Command)
	}
	return c
}

// report prints a line per section that changes, or would, and returns the
// counts, as " (2 added, 1 unchanged)".
func report(w io.Writer, path, login string, changes []awsprofile.Change, written bool) string {
	n := map[awsprofile.Action]int{}
	for _, c := range changes {
		n[c.Action]++
		verb := c.Action.String()
		if !written {
			verb = map[awsprofile.Action]string{awsprofile.Added: "would add", awsprofile.Updated: "would update",
				awsprofile.Removed: "would remove", awsprofile.Skipped: "would skip"}[c.Action]
		}
		switch c.Action {
		case awsprofile.Added, awsprofile.Updated:
			fmt.Fprintf(w, "%s %s\n", verb, c.Name)
		case awsprofile.Removed:
			why := map[string]string{
				"not wanted": login + " may no longer request it",
				"shadowed":   "a section of that name that elevate did not write is in the file",
				"duplicate":  "a second copy",
			}[c.Why]
			fmt.Fprintf(w, "%s %s: %s\n", verb, c.Name, why)
		case awsprofile.Skipped:
			fmt.Fprintf(w, "%s %s: %s has a section of that name that elevate did not write; rename or delete it there, then run elevate configure --write again\n", verb, c.Name, path)
		}
	}
	var parts []string
	for _, a := range []awsprofile.Action{awsprofile.Added, awsprofile.Updated, awsprofile.Removed, awsprofile.Skipped, awsprofile.Unchanged} {
		if n[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[a], a))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// awsConfigPath is the AWS config file, as the AWS CLI finds it:
// AWS_CONFIG_FILE (~ expanded), or ~/.aws/config; and how to call it in
// messages (as the person wrote it, or ~/.aws/config).
func awsConfigPath(getenv func(string) string) (path, name string, err error) {
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	p := getenv("AWS_CONFIG_FILE")
	switch {
	case p == "" && home == "":
		return "", "", fmt.Errorf("cannot tell where your AWS config file is (no home directory): set AWS_CONFIG_FILE")
	case p == "":
		return filepath.Join(home, ".aws", "config"), filepath.Join("~", ".aws", "config"), nil
	case p == "~" || strings.HasPrefix(p, "~/"):
		if home == "" {
			return "", "", fmt.Errorf("AWS_CONFIG_FILE=%s starts with ~ but there is no home directory: give the full path", p)
		}
		return filepath.Join(home, p[1:]), p, nil
	}
	return p, p, nil
}

// onPath reports whether name is a program in a directory of PATH.
func onPath(getenv func(string) string, name string) bool {
	names := []string{name}
	if runtime.GOOS == "windows" {
		names = append(names, name+".exe")
	}
	for _, dir := range filepath.SplitList(getenv("PATH")) {
		if dir == "" {
			continue
		}
		for _, n := range names {
			fi, err := os.Stat(filepath.Join(dir, n))
			if err == nil && fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode()&0o111 != 0) {
				return true
			}
		}
	}
	return false
}

// requestables is what the signed-in person may request, by the policy at
// the default branch.
type requestables struct {
	login  string
	id     int64
	policy *eligibility.Policy
	// targets, by account (sorted), roles then permission sets, each sorted.
	targets []request.Target
}

func (r *requestables) hasRoles() bool {
	for _, t := range r.targets {
		if !t.IsPermissionSet() {
			return true
		}
	}
	return false
}

// summary is one line: who may request how much.
func (r *requestables) summary() string {
	roles, sets := 0, 0
	accounts := map[string]bool{}
	for _, t := range r.targets {
		accounts[t.Account] = true
		if t.IsPermissionSet() {
			sets++
		} else {
			roles++
		}
	}
	if len(r.targets) == 0 {
		return fmt.Sprintf("%s may request nothing under %s on the default branch: no profiles to write (ask its code owners for a rule)", r.login, eligibility.File)
	}
	return fmt.Sprintf("%s may request %s and %s in %s under %s on the default branch",
		r.login, plural(roles, "role"), plural(sets, "permission set"), plural(len(accounts), "account"), eligibility.File)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// requestable reads the policy at the default branch and lists what the
// signed-in person may request, teams included, as the policy's Eligible
// decides.
func requestable(ctx context.Context, repoFn func(context.Context) (*githubapi.Repo, error)) (*requestables, error) {
	repo, err := repoFn(ctx)
	if err != nil {
		return nil, err
	}
	me, err := repo.Me(ctx)
	if err != nil {
		return nil, err
	}
	_, sha, err := repo.DefaultBranch(ctx)
	if err != nil {
		return nil, err
	}
	data, err := repo.FileAt(ctx, eligibility.File, sha, eligibility.MaxSize)
	if err != nil {
		return nil, err
	}
	policy, err := eligibility.Parse(eligibility.File, data)
	if err != nil {
		return nil, fmt.Errorf("%w (ask its code owners to fix it)", err)
	}
	r := &requestables{login: me.GetLogin(), id: me.GetID(), policy: policy}
	members := eligibility.NewMemo(repo)
	for _, account := range policy.AccountNames() {
		names, err := eligibleRoles(ctx, policy, r.login, account, members)
		if err != nil {
			return nil, err
		}
		var sets []request.Target
		for _, n := range names {
			if set, ok := strings.CutPrefix(n, request.PermissionSetPrefix); ok {
				sets = append(sets, request.Target{Account: account, PermissionSet: set})
			} else {
				r.targets = append(r.targets, request.Target{Account: account, Role: n})
			}
		}
		r.targets = append(r.targets, sets...)
	}
	return r, nil
}

// configSections are the sections for what may be requested, and a line
// for each target that gets none.
func configSections(may *requestables, opts *ConfigureOptions) ([]awsprofile.Section, []string) {
	var (
		want    []awsprofile.Section
		notes   []string
		byName  = map[string]request.Target{}
		sets    []string
		noUser  []string
		command = commandWord(opts.Command)
	)
	ic := may.policy.IdentityCenter
	for _, t := range may.targets {
		name := t.Name()
		if t.IsPermissionSet() && (ic == nil || ic.Users[may.id] == "") {
			noUser = append(noUser, t.Account+"/"+name)
			continue
		}
		profile := "profile elevate-" + t.Account + "-" + name
		if other, taken := byName[profile]; taken {
			notes = append(notes, fmt.Sprintf("%s is taken by %s: none is written for %s (%s)", profile, describeTarget(other), describeTarget(t), howElse(t, may)))
			continue
		}
		byName[profile] = t
		var keys []awsprofile.Key
		if t.IsPermissionSet() {
			sets = append(sets, name)
			keys = []awsprofile.Key{{Name: "sso_session", Value: ssoSession}, {Name: "sso_account_id", Value: may.policy.Accounts[t.Account]}, {Name: "sso_role_name", Value: name}}
		} else {
			keys = []awsprofile.Key{{Name: "credential_process", Value: command + " credentials --account " + t.Account + " --role " + t.Role}}
		}
		if opts.Region != "" {
			keys = append(keys, awsprofile.Key{Name: "region", Value: opts.Region})
		}
		want = append(want, awsprofile.Section{Name: profile, Keys: keys})
	}
	if len(sets) > 0 {
		want = append(want, awsprofile.Section{Name: "sso-session " + ssoSession, Keys: []awsprofile.Key{
			{Name: "sso_start_url", Value: ic.PortalURL}, {Name: "sso_region", Value: ic.Region}, {Name: "sso_registration_scopes", Value: "sso:account:access"},
		}})
	}
	if len(noUser) > 0 {
		notes = append(notes, fmt.Sprintf("no AWS SSO profile for %s: %s (GitHub user id %d) has no Identity Center user in identity_center.users of %s; ask its code owners to add \"%d\": <your Identity Center UserName>",
			strings.Join(noUser, ", "), may.login, may.id, eligibility.File, may.id))
	}
	return want, notes
}

func describeTarget(t request.Target) string {
	if t.IsPermissionSet() {
		return "permission set " + t.PermissionSet + " in " + t.Account
	}
	return "role " + t.Role + " in " + t.Account
}

// howElse says how to use a target whose profile name is taken.
func howElse(t request.Target, may *requestables) string {
	if t.IsPermissionSet() {
		return fmt.Sprintf("add an AWS SSO profile of another name by hand: sso_session = %s, sso_account_id = %s, sso_role_name = %s", ssoSession, may.policy.Accounts[t.Account], t.PermissionSet)
	}
	return fmt.Sprintf("add a profile of another name by hand with credential_process = elevate credentials --account %s --role %s", t.Account, t.Role)
}
