// Package accessrepo holds the files of a new access repository — the
// policy, CODEOWNERS, the two workflows running the elevate Action by a
// pinned commit, the requests folders and a README for its users — and
// writes them (elevate init).
package accessrepo

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

//go:embed all:template
var files embed.FS

// DefaultActionRepo is where the elevate Action lives.
const DefaultActionRepo = "elevate-gitops/elevate"

// Account is one AWS account of the new policy.
type Account struct{ Name, ID string }

// Options are what a new access repository is made of.
type Options struct {
	Repo       string // owner/name of the access repository on GitHub
	Branch     string // its default branch
	ActionRepo string // owner/name of the elevate Action
	ActionRef  string // the full commit SHA of the elevate Action
	// ActionVersion names the release of ActionRef in a comment ("" = unknown).
	ActionVersion string
	Accounts      []Account
	Admins        string // who owns the repository itself (@org/team or login)
	Approvers     string // who approves requests (@org/team or login)
	Requesters    string // who may request (@org/team or login)
}

var (
	fullSHA  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	repoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$`)
	owner    = regexp.MustCompile(`^@?[A-Za-z0-9][A-Za-z0-9-]{0,38}(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$`)
	// account names start with a letter and are no YAML keyword, so that
	// eligibility.yaml reads them as strings.
	account   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	yamlWords = map[string]bool{"true": true, "false": true, "null": true, "yes": true, "no": true, "on": true, "off": true, "y": true, "n": true}
	accountID = regexp.MustCompile(`^[0-9]{12}$`)
	branch    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$`)
)

// Check reports the first option that cannot make a working repository.
func (o Options) Check() error {
	switch {
	case !repoName.MatchString(o.Repo):
		return fmt.Errorf("--repo %q: want OWNER/NAME of the access repository on GitHub", o.Repo)
	case !branch.MatchString(o.Branch) || strings.Contains(o.Branch, ".."):
		return fmt.Errorf("--branch %q: not a branch name", o.Branch)
	case !repoName.MatchString(o.ActionRepo):
		return fmt.Errorf("--action-repo %q: want OWNER/NAME", o.ActionRepo)
	case !fullSHA.MatchString(o.ActionRef):
		return fmt.Errorf("--action-ref %q: want the full 40-character commit SHA of %s (a tag or branch can be moved)", o.ActionRef, o.ActionRepo)
	case len(o.Accounts) == 0:
		return errors.New("--account: name at least one account as NAME=ID")
	}
	for _, who := range []struct{ flag, v string }{{"--admins", o.Admins}, {"--approvers", o.Approvers}, {"--requesters", o.Requesters}} {
		if !owner.MatchString(who.v) {
			return fmt.Errorf("%s %q: want @org/team or a GitHub login", who.flag, who.v)
		}
	}
	seen := map[string]bool{}
	for _, a := range o.Accounts {
		if !account.MatchString(a.Name) || yamlWords[a.Name] || !accountID.MatchString(a.ID) {
			return fmt.Errorf("--account %s=%s: want NAME=ID, a lower-case name starting with a letter (not a YAML word such as true or null) and a 12-digit AWS account id", a.Name, a.ID)
		}
		if seen[a.Name] {
			return fmt.Errorf("--account %s: named twice", a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

// data is what the templates see.
type data struct {
	Options
	RuleName, AccountNames, FirstAccount string
}

func (o Options) data() data {
	names := make([]string, len(o.Accounts))
	for i, a := range o.Accounts {
		names[i] = a.Name
	}
	return data{Options: o, RuleName: "requesters", AccountNames: strings.Join(names, ", "), FirstAccount: names[0]}
}

// File is one file of the new repository.
type File struct {
	Path string // slash-separated, relative to the repository root
	Data []byte
}

// Files renders the repository's files.
func Files(o Options) ([]File, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	o.Admins, o.Approvers, o.Requesters = at(o.Admins), at(o.Approvers), who(o.Requesters)
	if o.ActionVersion == "" {
		o.ActionVersion = "(devel)"
	}
	d := o.data()
	width := 0
	for _, a := range o.Accounts {
		width = max(width, len(a.Name))
	}
	funcs := template.FuncMap{"pad": func(name string) string { return strings.Repeat(" ", width-len(name)) }}
	var out []File
	err := fs.WalkDir(files, "template", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		raw, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Delims("[[", "]]").Funcs(funcs).Option("missingkey=error").Parse(string(raw))
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, d); err != nil {
			return err
		}
		out = append(out, File{Path: strings.TrimPrefix(p, "template/"), Data: b.Bytes()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, a := range o.Accounts {
		out = append(out, File{Path: path.Join("requests", a.Name, ".gitkeep")})
	}
	return out, nil
}

// at writes a team or login the way CODEOWNERS names it: @org/team, @login.
func at(who string) string {
	return "@" + strings.TrimPrefix(who, "@")
}

// who writes a team or login the way a rule's who names it: @org/team, login.
func who(s string) string {
	if strings.Contains(s, "/") {
		return at(s)
	}
	return strings.TrimPrefix(s, "@")
}

// Write writes the repository into dir, which must not hold any of its
// files already: nothing is overwritten, nothing is written outside dir
// (through a symbolic link or a race), and on an error nothing is left
// half-written.
func Write(dir string, o Options) ([]File, error) {
	out, err := Files(o)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	for _, f := range out {
		if _, err := root.Lstat(filepath.FromSlash(f.Path)); err == nil {
			return nil, fmt.Errorf("%s already exists: elevate init writes a new repository and overwrites nothing", filepath.Join(dir, filepath.FromSlash(f.Path)))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, filepath.FromSlash(f.Path)), err)
		}
	}
	var written []string
	undo := func() {
		for _, p := range written {
			_ = root.Remove(p)
		}
	}
	for _, f := range out {
		p := filepath.FromSlash(f.Path)
		if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			undo()
			return nil, err
		}
		// O_EXCL: a file that appeared since the check is not overwritten.
		fh, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			undo()
			return nil, err
		}
		written = append(written, p)
		if _, err := fh.Write(f.Data); err != nil {
			fh.Close()
			undo()
			return nil, err
		}
		if err := fh.Close(); err != nil {
			undo()
			return nil, err
		}
	}
	return out, nil
}
