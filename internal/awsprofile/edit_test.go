package awsprofile

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/golden"
)

// ours is what the CLI passes: elevate's profiles and its sso-session.
func ours(name string) bool {
	return strings.HasPrefix(name, "profile elevate-") || name == "sso-session elevate"
}

func role(account, role string) Section {
	return Section{Name: "profile elevate-" + account + "-" + role, Keys: []Key{
		{"credential_process", "elevate credentials --account " + account + " --role " + role},
	}}
}

func set(account, id, name string) Section {
	return Section{Name: "profile elevate-" + account + "-" + name, Keys: []Key{
		{"sso_session", "elevate"}, {"sso_account_id", id}, {"sso_role_name", name},
	}}
}

var session = Section{Name: "sso-session elevate", Keys: []Key{
	{"sso_start_url", "https://d-1234567890.awsapps.com/start"}, {"sso_region", "eu-west-1"}, {"sso_registration_scopes", "sso:account:access"},
}}

// mark is a section as Apply writes it.
func mark(s Section) string { return s.Text("\n") }

var (
	admin    = role("prod", "Admin")
	readOnly = role("prod", "ReadOnly")
	deploy   = role("staging", "Deploy")
	prodSet  = set("prod", "111111111111", "ProdAdmin")
	all      = []Section{admin, readOnly, deploy, prodSet, session}
)

// foreign is a config file of someone's own: comments, a default profile,
// an sso-session of another name, a service subsection, odd spacing.
const foreign = `# my AWS config
[default]
region = eu-west-1
output = json

; work
[profile work]
sso_session = corp
sso_account_id = 222222222222
sso_role_name = Developer
s3 =
  max_concurrent_requests = 20

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1
`

func TestApply(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		file string
		want []Section
	}{
		{"empty", "", all},
		{"foreign", foreign, all},
		{"foreign-without-final-newline", "[default]\nregion = eu-west-1", []Section{admin}},
		{"foreign-ending-in-blank-lines", "[default]\nregion = eu-west-1\n\n\n", []Section{admin}},
		{"unchanged", foreign + "\n" + mark(admin) + "\n" + mark(prodSet) + "\n" + mark(session), []Section{admin, prodSet, session}},
		// A section written with other values (another --command or
		// --region, a person's edit) is rewritten where it stands.
		{"updated-in-place", "[default]\n\n" + mark(admin) + "region = us-east-1\n\n[profile work]\nregion = eu-west-1\n", []Section{admin}},
		{"edited-with-a-comment-inside", mark(admin) + "# mine\nregion = us-east-1\n\n# the next one is mine\n[profile work]\n", []Section{admin}},
		// Stale sections go with the blank lines that set them apart.
		{"stale-in-the-middle", "[default]\n\n" + mark(admin) + "\n" + mark(readOnly) + "\n[profile work]\nregion = eu-west-1\n", []Section{admin}},
		{"stale-at-the-end", foreign + "\n" + mark(readOnly) + "\n" + mark(session), nil},
		{"stale-at-the-start", mark(readOnly) + "\n[default]\nregion = eu-west-1\n", nil},
		{"stale-before-a-comment", "[default]\n\n" + mark(readOnly) + "# the next one is mine\n[profile work]\n", nil},
		// New sections join elevate's own, after the last of them.
		{"added-after-elevates", mark(admin) + "\n[profile work]\nregion = eu-west-1\n", []Section{admin, deploy, prodSet}},
		// A section of the same name that elevate did not write is left
		// alone and skipped; an elevate section of that name goes, since
		// the AWS CLI refuses a name twice.
		{"same-name-foreign", "[profile elevate-prod-Admin]\nregion = eu-west-1\n\n" + mark(readOnly), []Section{admin, readOnly}},
		{"same-name-foreign-and-elevates", mark(admin) + "\n[profile elevate-prod-Admin]\nregion = eu-west-1\n", []Section{admin}},
		{"same-name-quoted", "[profile \"elevate-prod-Admin\"]\nregion = eu-west-1\n", []Section{admin}},
		{"same-name-default-spelling", "[profile   elevate-prod-Admin]\nregion = eu-west-1\n", []Section{admin}},
		// The marker counts only above a name elevate writes.
		{"marker-above-a-name-elevate-does-not-write", mark(Section{Name: "profile mine", Keys: []Key{{"region", "eu-west-1"}}}), []Section{admin}},
		{"marker-not-directly-above", "# written by elevate configure\n\n[profile elevate-prod-Admin]\nregion = eu-west-1\n", []Section{admin}},
		{"older-marker-wording", "# written by elevate configure\n[profile elevate-prod-Admin]\ncredential_process = elevate credentials --account prod --role Admin\n", []Section{admin}},
		{"duplicate", mark(admin) + "\n" + mark(admin), []Section{admin}},
		// An indented line after a key continues its value, even when it
		// looks like a header.
		{"continuation-like-a-header", "[profile work]\ns3 =\n  [profile elevate-prod-Admin]\n", []Section{admin}},
		{"crlf", strings.ReplaceAll(foreign+"\n"+mark(readOnly), "\n", "\r\n"), []Section{admin}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, changes, err := Apply([]byte(tt.file), tt.want, ours)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "--- file\n%s--- changes\n", out)
			for _, c := range changes {
				fmt.Fprintf(&b, "%s %s", c.Action, c.Name)
				if c.Why != "" {
					fmt.Fprintf(&b, " (%s)", c.Why)
				}
				b.WriteString("\n")
			}
			golden.Assert(t, "apply/"+tt.name, b.String())

			// What elevate did not write is in the output, byte for byte.
			lines := splitLines(tt.file)
			inOurs := make([]bool, len(lines))
			for _, s := range findSections(lines, ours) {
				if !s.ours && !strings.Contains(string(out), joinLines(lines[s.start:s.end])) {
					t.Errorf("section %s changed", s.name)
				}
				for i := s.start; s.ours && i < s.end; i++ {
					inOurs[i] = true
				}
			}
			for i, l := range lines {
				if l.kind == comment && !inOurs[i] && !strings.Contains(string(out), l.text+l.end) {
					t.Errorf("comment %q lost", l.text)
				}
			}
			// A second run changes nothing.
			again, changes, err := Apply(out, tt.want, ours)
			if err != nil || string(again) != string(out) {
				t.Errorf("second run changed the file (%v):\n%s", err, again)
			}
			for _, c := range changes {
				if c.Action != Unchanged && c.Action != Skipped {
					t.Errorf("second run: %s %s", c.Action, c.Name)
				}
			}
		})
	}
}

// Removing every section elevate wrote gives back the file it started
// from, but for blank lines it ended with.
func TestApplyThenRemoveGivesTheFileBack(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ file, want string }{
		{"", ""},
		{foreign, foreign},
		{strings.ReplaceAll(foreign, "\n", "\r\n"), strings.ReplaceAll(foreign, "\n", "\r\n")},
		{"[default]\nregion = eu-west-1\n\n\n", "[default]\nregion = eu-west-1\n"},
	} {
		out, _, err := Apply([]byte(tt.file), all, ours)
		if err != nil {
			t.Fatal(err)
		}
		back, changes, err := Apply(out, nil, ours)
		if err != nil {
			t.Fatal(err)
		}
		if string(back) != tt.want {
			t.Errorf("from %q, got back %q, want %q", tt.file, back, tt.want)
		}
		if len(changes) != len(all) {
			t.Errorf("removed %d sections, want %d", len(changes), len(all))
		}
	}
}

func TestApplyRefusesSectionsItCannotWrite(t *testing.T) {
	t.Parallel()
	for _, s := range []Section{
		{Name: "profile mine", Keys: []Key{{"region", "eu-west-1"}}}, // not a name elevate writes
		{Name: "profile  elevate-x", Keys: nil},                      // not as the AWS CLI names it
		{Name: "profile elevate-x]", Keys: nil},
		{Name: "profile elevate-x", Keys: []Key{{"region", "eu-west-1\n[default]"}}},
		{Name: "profile elevate-x", Keys: []Key{{"a = b", "c"}}},
		{Name: "profile elevate-x", Keys: []Key{{"region", " eu-west-1"}}},
	} {
		if _, _, err := Apply(nil, []Section{s}, ours); err == nil {
			t.Errorf("%q %q: no error", s.Name, s.Keys)
		}
	}
	if _, _, err := Apply(nil, []Section{admin, admin}, ours); err == nil {
		t.Error("a section wanted twice: no error")
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ header, want string }{
		{"default", "profile default"},
		{"profile default", "profile default"},
		{"profile elevate-prod-Admin", "profile elevate-prod-Admin"},
		{"profile   elevate-prod-Admin ", "profile elevate-prod-Admin"},
		{`profile "elevate-prod-Admin"`, "profile elevate-prod-Admin"},
		{`profile 'elevate-prod-Admin'`, "profile elevate-prod-Admin"},
		{`profile elevate\-prod-Admin`, "profile elevate-prod-Admin"},
		{`profile "elevate prod"`, "profile elevate prod"},
		{"profile a b", "profile a b"},             // three words: no profile
		{`profile "unclosed`, `profile "unclosed`}, // the AWS CLI skips it
		{"sso-session elevate", "sso-session elevate"},
		{"sso-session  'elevate'", "sso-session elevate"},
		{" profile elevate-x", " profile elevate-x"}, // not a profile to the AWS CLI
		{"plugins", "plugins"},
	} {
		if got := Name(tt.header); got != tt.want {
			t.Errorf("Name(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestShellSplit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"a b\tc", []string{"a", "b", "c"}},
		{`a"b c"d`, []string{"ab cd"}},
		{`'a\b'`, []string{`a\b`}},
		{`"a\"b\\c\d"`, []string{`a"b\c\d`}},
		{`a\ b`, []string{"a b"}},
		{`''`, []string{""}},
	} {
		got, err := shellSplit(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("shellSplit(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`"a`, `'a`, `a\`} {
		if _, err := shellSplit(bad); err == nil {
			t.Errorf("shellSplit(%q): no error", bad)
		}
	}
}
