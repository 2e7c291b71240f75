// Package privfile keeps a user's secrets on disk: a 0700 directory that is
// really theirs, files written atomically with mode 0600, and reads that
// refuse anything another user could have planted or read.
package privfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// EnsureDir creates dir with mode 0700 and refuses one that is a symlink,
// not a directory, or not the user's. A directory of the user's with a
// looser mode is tightened to 0700.
func EnsureDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symlink; remove it", dir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory; remove it", dir)
	}
	if err := CheckOwner(fi); err != nil {
		return fmt.Errorf("%s: %w; remove it", dir, err)
	}
	if fi.Mode().Perm() != 0o700 && EnforceModes {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict %s: %w", dir, err)
		}
	}
	return nil
}

// WriteAtomic writes b to a new 0600 temporary file in dir and renames it
// to p, so readers see the old file or the new one, never a part.
func WriteAtomic(dir, p string, b []byte) (err error) {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(b); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// ReadPrivate reads the file at p if it is safe to trust: opened without
// following a symlink, a regular file, the user's, unreadable by anyone
// else, and at most max bytes. A missing file is an error matching
// os.ErrNotExist.
func ReadPrivate(p string, max int64) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|OpenNoFollow, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	if err := CheckPrivate(fi); err != nil {
		return nil, fmt.Errorf("%s: %w; run `chmod 600` on it", p, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is over %d bytes", p, max)
	}
	return b, nil
}
