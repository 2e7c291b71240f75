package request

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Path is the parsed location of a request file:
// requests/<account>/<yyyy-mm>/<name>.yaml.
type Path struct {
	Account string // the account directory; must equal the file's account
	Month   string // yyyy-mm, the month (UTC) the request was written
	Name    string // without .yaml
}

const (
	pathDir  = "requests"
	pathExt  = ".yaml"
	pathForm = "request files live at requests/<account>/<yyyy-mm>/<name>.yaml, e.g. requests/prod/2026-11/alice-admin-inc4821.yaml"
)

var (
	monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)
	nameRE  = regexp.MustCompile(`^[a-z0-9-]{1,80}$`)
)

// ParsePath parses a repository path of a request file. Its error is an
// *Error with File set to p and a message that shows the expected form.
func ParsePath(p string) (Path, error) {
	fail := func(format string, args ...any) (Path, error) {
		return Path{}, &Error{File: p, Message: fmt.Sprintf(format, args...) + "; " + pathForm}
	}
	switch {
	case p == "":
		return fail("empty path")
	case strings.Contains(p, `\`):
		return fail("backslashes are not allowed in a path")
	case strings.HasPrefix(p, "/"):
		return fail("the path must be relative to the repository root")
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		switch s {
		case "":
			return fail("empty path segment")
		case ".", "..":
			return fail("%q is not allowed in a path", s)
		}
	}
	if segs[0] != pathDir {
		return fail("not under %s/", pathDir)
	}
	if len(segs) == 3 && accountRE.MatchString(segs[1]) && validFile(segs[2]) {
		return Path{}, &Error{File: p, Message: fmt.Sprintf("missing the month folder: expected %s/%s/<yyyy-mm>/%s", pathDir, segs[1], segs[2])}
	}
	if len(segs) != 4 {
		return fail("expected 4 path segments, found %d", len(segs))
	}
	account, month, file := segs[1], segs[2], segs[3]
	if !accountRE.MatchString(account) {
		return fail("%s is not an account name (lowercase letters, digits and hyphens)", quote(account))
	}
	if !monthRE.MatchString(month) {
		return fail("%s is not a month folder of the form yyyy-mm", quote(month))
	}
	if strings.HasSuffix(file, ".yml") {
		return fail("use the .yaml extension, not .yml")
	}
	name, ok := strings.CutSuffix(file, pathExt)
	if !ok {
		return fail("%s does not end in .yaml", quote(file))
	}
	if !ValidName(name) {
		return fail("%s is not a valid name (1-80 lowercase letters, digits and hyphens)", quote(name))
	}
	return Path{Account: account, Month: month, Name: name}, nil
}

func validFile(file string) bool {
	name, ok := strings.CutSuffix(file, pathExt)
	return ok && ValidName(name)
}

// String returns the repository path, e.g. "requests/prod/2026-11/name.yaml".
func (p Path) String() string {
	return pathDir + "/" + p.Account + "/" + p.Month + "/" + p.Name + pathExt
}

// ID returns the request's id, e.g. "prod/2026-11/name".
func (p Path) ID() string {
	return p.Account + "/" + p.Month + "/" + p.Name
}

// PathFor returns the path of a request for account written at written.
// It does not validate account or name.
func PathFor(account string, written time.Time, name string) Path {
	return Path{Account: account, Month: written.UTC().Format("2006-01"), Name: name}
}

// IsRequestPath reports whether p is under requests/, at any depth and with
// any extension. It classifies the files a pull request changes.
func IsRequestPath(p string) bool {
	return strings.HasPrefix(p, pathDir+"/")
}

// ValidName reports whether name is a valid request name: 1-80 lowercase
// letters, digits and hyphens.
func ValidName(name string) bool {
	return nameRE.MatchString(name)
}
