//go:build unix

package privfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/privfile"
)

func TestEnsureDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	if err := privfile.EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want 0700", fi.Mode().Perm())
	}
	loose := filepath.Join(root, "loose")
	if err := os.Mkdir(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := privfile.EnsureDir(loose); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Errorf("a loose directory kept mode %v", fi.Mode().Perm())
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := privfile.EnsureDir(link); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked directory: %v", err)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := privfile.EnsureDir(file); err == nil {
		t.Error("a file was accepted as a directory")
	}
	if err := privfile.EnsureDir(""); err == nil {
		t.Error("an empty path was accepted")
	}
}

func TestWriteAtomicThenReadPrivate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "secret.json")
	if err := privfile.WriteAtomic(dir, p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := privfile.WriteAtomic(dir, p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if b, err := privfile.ReadPrivate(p, 16); err != nil || string(b) != "two" {
		t.Errorf("ReadPrivate = %q, %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want the one (no temporary files)", len(entries))
	}
}

func TestReadPrivateRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, mode os.FileMode, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", 0o600, "ok")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		path, want string
	}{
		"readable by the group": {write("group", 0o640, "x"), "lets other users in"},
		"over the size limit":   {write("big", 0o600, strings.Repeat("x", 17)), "over 16 bytes"},
		"a symlink":             {link, "open"},
		"a directory":           {dir, "not a regular file"},
	} {
		if _, err := privfile.ReadPrivate(tt.path, 16); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tt.want)
		}
	}
	if _, err := privfile.ReadPrivate(filepath.Join(dir, "missing"), 16); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}
