//go:build unix

package awsprofile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A missing file reads as empty, and is written 0600 in a directory made
// 0700.
func TestWriteNewFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), ".aws", "config")
	f, err := Read(path, "")
	if err != nil || f.Exists || len(f.Data) != 0 {
		t.Fatalf("Read of a missing file = %+v, %v", f, err)
	}
	if err := f.Write([]byte("[default]\n")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %v", p, fi.Mode(), err, want)
		}
	}
	leftovers(t, filepath.Dir(path), 1)
}

// An existing file keeps its mode; a symlinked one stays a symlink and
// the file it points to is what changes.
func TestWriteKeepsModeAndSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "aws-config")
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("[default]\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(real, 0o640); err != nil { // whatever the umask
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	f, err := Read(link, "")
	if err != nil || !f.Exists || string(f.Data) != "[default]\n" {
		t.Fatalf("Read = %+v, %v", f, err)
	}
	if err := f.Write([]byte("[default]\nregion = eu-west-1\n")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v %v", fi.Mode(), err)
	}
	data, _ := os.ReadFile(real)
	if fi, _ := os.Stat(real); string(data) != "[default]\nregion = eu-west-1\n" || fi.Mode().Perm() != 0o640 {
		t.Errorf("target: %q mode %v", data, fi.Mode().Perm())
	}
	leftovers(t, filepath.Dir(real), 1)
}

// A file that changed after Read is not written over.
func TestWriteRefusesAFileChangedSinceRead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("[default]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("[default]\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Write([]byte("[default]\nregion = eu-west-1\n")); err == nil || !strings.Contains(err.Error(), "changed while elevate was editing it") {
		t.Errorf("Write over a changed file: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "[default]\nregion = us-east-1\n" {
		t.Errorf("the file is now %q", data)
	}
	leftovers(t, filepath.Dir(path), 1)

	// The same for a file that appeared after Read found none.
	path = filepath.Join(t.TempDir(), "config")
	if f, err = Read(path, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("[default]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Write([]byte("x")); err == nil {
		t.Error("Write over a file that appeared: no error")
	}
}

func TestReadRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("#\n", MaxSize/2+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "absent"), dangling); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		big:      "over the 1048576 (1 MiB) elevate edits",
		dir:      "is not a regular file: set AWS_CONFIG_FILE",
		dangling: "set AWS_CONFIG_FILE to your AWS config file",
	} {
		if _, err := Read(path, ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Read(%s) = %v, want an error saying %q", path, err, want)
		}
	}
}

// leftovers fails t unless dir holds n entries: no temporary file is left.
func leftovers(t *testing.T, dir string, n int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != n {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %q (%v), want %d entries", dir, names, err, n)
	}
}
