package accessrepo

import (
	"os"
	"path/filepath"
	"testing"
)

func options() Options {
	return Options{Repo: "acme/access", Branch: "main", ActionRepo: DefaultActionRepo, ActionRef: "0123456789abcdef0123456789abcdef01234567",
		Accounts: []Account{{Name: "prod", ID: "111111111111"}}, Admins: "@acme/security", Approvers: "@acme/sre", Requesters: "@acme/sre"}
}

// A directory of DIR that is a symbolic link out of it is not written
// through: nothing lands outside DIR.
func TestWriteNeverLeavesTheDirectory(t *testing.T) {
	t.Parallel()
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, ".github")); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, options()); err == nil {
		t.Fatal("init wrote through a symbolic link out of its directory")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote %d entries outside the directory", len(entries))
	}
	if _, err := os.Stat(filepath.Join(dir, "eligibility.yaml")); err == nil {
		t.Error("eligibility.yaml was left beside the failure")
	}
}
