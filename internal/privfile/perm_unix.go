//go:build unix

package privfile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// EnforceModes says whether file modes and owners mean anything here.
const EnforceModes = true

// OpenNoFollow makes opening a symlink fail.
const OpenNoFollow = syscall.O_NOFOLLOW

// CheckOwner refuses a file or directory that is not the user's.
func CheckOwner(fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("cannot tell its owner")
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("owned by uid %d, not %d", st.Uid, uid)
	}
	return nil
}

// CheckPrivate refuses a file that is not the user's or that anyone else
// may read or write.
func CheckPrivate(fi os.FileInfo) error {
	if err := CheckOwner(fi); err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("mode %#o lets other users in", m)
	}
	return nil
}
