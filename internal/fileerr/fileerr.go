// Package fileerr holds the errors every reader of repository files returns,
// whether it reads through GitHub's API or a local clone, so that the code
// judging files tells "missing", "too large" and "not a regular file" apart
// without knowing where the bytes came from.
package fileerr

import (
	"errors"
	"io/fs"
)

var (
	// ErrNotExist is returned (wrapped) for a missing file or commit.
	ErrNotExist = fs.ErrNotExist
	// ErrTooLarge is returned (wrapped) for a file over the caller's limit.
	ErrTooLarge = errors.New("exceeds the size limit")
	// ErrNotRegular is returned (wrapped) for a symlink, a submodule or a
	// directory where a regular file was expected.
	ErrNotRegular = errors.New("is not a regular file")
)
