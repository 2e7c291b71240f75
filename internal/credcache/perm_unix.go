//go:build unix

package credcache

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// enforceModes says whether file modes and owners mean anything here.
const enforceModes = true

// openNoFollow makes opening a symlink fail.
const openNoFollow = syscall.O_NOFOLLOW

// checkOwner refuses a file or directory that is not the user's.
func checkOwner(fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("cannot tell its owner")
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("owned by uid %d, not %d", st.Uid, uid)
	}
	return nil
}

// checkPrivate refuses a file that is not the user's or that anyone else
// may read or write.
func checkPrivate(fi os.FileInfo) error {
	if err := checkOwner(fi); err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("mode %#o lets other users in", m)
	}
	return nil
}
