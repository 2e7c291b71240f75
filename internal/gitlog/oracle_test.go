package gitlog_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/gitlog"
)

// oracle answers with the git command what Repo answers with go-git: the
// tests hold the one reader to git's own answers. It exists only here.
type oracle struct {
	t   *testing.T
	dir string
}

func (o oracle) git(args ...string) string {
	o.t.Helper()
	out, err := exec.Command("git", append([]string{"-C", o.dir, "-c", "core.quotepath=off"}, args...)...).Output()
	if err != nil {
		o.t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}

// diff is `git diff-tree -r --no-renames --raw` of two commits under paths.
func (o oracle) diff(from, to string, paths ...string) []gitlog.Change {
	o.t.Helper()
	out := o.git(append([]string{"diff-tree", "-r", "--no-renames", "--raw", "--no-abbrev", "-z", from, to, "--"}, paths...)...)
	return o.changes(strings.Split(out, "\x00"))
}

// changes parses raw diff fields: ":<old mode> <new mode> <old> <new> <status>", then the path.
func (o oracle) changes(f []string) []gitlog.Change {
	o.t.Helper()
	var out []gitlog.Change
	for i := 0; i+1 < len(f); i++ {
		tok := strings.TrimLeft(f[i], "\n")
		if !strings.HasPrefix(tok, ":") {
			continue
		}
		m := strings.Fields(tok[1:])
		c := gitlog.Change{Path: f[i+1], Status: m[4][0], Mode: m[1], Blob: m[3], OldBlob: m[2]}
		switch c.Status {
		case 'D':
			c.Mode, c.Blob = "", ""
		case 'A':
			c.OldBlob = ""
		}
		out = append(out, c)
		i++
	}
	return out
}

// log is `git log --first-parent --raw` of head under paths, newest first.
func (o oracle) log(head string, paths ...string) []gitlog.Commit {
	o.t.Helper()
	out := o.git(append([]string{"log", "--first-parent", "--no-renames", "--raw", "--no-abbrev", "-z", "--format=@@%H %P %ct", head, "--"}, paths...)...)
	var commits []gitlog.Commit
	f := strings.Split(out, "\x00")
	for i, tok := range f {
		tok = strings.TrimLeft(tok, "\n")
		if !strings.HasPrefix(tok, "@@") {
			continue
		}
		header, rest, _ := strings.Cut(tok[2:], "\n")
		h := strings.Fields(header)
		sec, _ := strconv.ParseInt(h[len(h)-1], 10, 64)
		c := gitlog.Commit{SHA: h[0], At: time.Unix(sec, 0).UTC()}
		if len(h) > 2 {
			c.Parent = h[1]
		}
		end := i + 1
		for end < len(f) && !strings.HasPrefix(strings.TrimLeft(f[end], "\n"), "@@") {
			end++
		}
		c.Changes = o.changes(append([]string{rest}, f[i+1:end]...))
		commits = append(commits, c)
	}
	return commits
}
