// Package ledgertest writes git history for tests of the ledger and of what
// reads it (the broker, the CLI's audit, the demo).
package ledgertest

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Repo is a git repository a test writes commits into.
type Repo struct {
	t   testing.TB
	Dir string
}

// New makes an empty repository on branch main in a temporary directory.
func New(t testing.TB) *Repo {
	t.Helper()
	r := &Repo{t: t, Dir: t.TempDir()}
	r.Git(time.Time{}, "init", "-q", "-b", "main")
	return r
}

// Open wraps an existing repository.
func Open(t testing.TB, dir string) *Repo { return &Repo{t: t, Dir: dir} }

// Git runs git in the repository with author and committer dates at (zero: now).
func (r *Repo) Git(at time.Time, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.Dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=elevate-test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=elevate-test", "GIT_COMMITTER_EMAIL=test@example.com", "GIT_CONFIG_NOSYSTEM=1")
	if !at.IsZero() {
		d := fmt.Sprintf("%d +0000", at.Unix())
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (an empty content deletes the file) and commits them
// at time at; it returns the new commit's SHA.
func (r *Repo) Commit(at time.Time, msg string, files map[string]string) string {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.Dir, p)
		if content == "" {
			r.Git(at, "rm", "-q", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.Git(at, "add", p)
	}
	r.Git(at, "commit", "-q", "-m", msg)
	return r.Git(at, "rev-parse", "HEAD")
}

// Root returns the repository's first commit on main, the trust anchor of
// tests (as make run and make demo use).
func (r *Repo) Root() string {
	r.t.Helper()
	return r.Git(time.Time{}, "rev-list", "--max-parents=0", "--first-parent", "main")
}

// Tamper rewrites object sha in the git directory gitDir with content (its
// raw form, "<type> <size>\x00<data>"), as someone who can write the
// directory could: the packs are unpacked into loose objects first, so the
// object is read from the file written.
func Tamper(t testing.TB, gitDir, sha, content string) {
	t.Helper()
	packs, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "*.pack"))
	for _, p := range packs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(os.Remove(p), os.Remove(strings.TrimSuffix(p, ".pack")+".idx")); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("git", "--git-dir", gitDir, "unpack-objects", "-q")
		cmd.Stdin = bytes.NewReader(data)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git unpack-objects: %v %s", err, out)
		}
	}
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	_, _ = w.Write([]byte(content))
	_ = w.Close()
	obj := filepath.Join(gitDir, "objects", sha[:2], sha[2:])
	if err := errors.Join(os.Chmod(obj, 0o600), os.WriteFile(obj, z.Bytes(), 0o600)); err != nil {
		t.Fatal(err)
	}
}
