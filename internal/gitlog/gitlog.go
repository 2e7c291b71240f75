// Package gitlog is elevate's one reader of git: it reads a repository with
// go-git (no git binary is needed, so the broker runs on Lambda and in
// distroless images), and fetches over HTTPS. It supplies content addressed
// by SHA: the trees of two commits compared (Diff), files and blobs, and,
// for the offline audit, first-parent history. What happened to a branch is
// never inferred from git's graph by the broker: that is GitHub's record.
// Every read is bounded: changes, entries, bytes.
package gitlog

import (
	"errors"
	"time"
)

// Git modes of regular files. Anything else (120000 a symlink, 160000 a
// submodule) is no request or policy file.
const (
	ModeFile       = "100644"
	ModeExecutable = "100755"
)

// NoCommit is git's name for "no commit": the before of a branch's creation
// and the after of its deletion in GitHub's activity.
const NoCommit = "0000000000000000000000000000000000000000"

// Change is one file added ('A'), modified ('M'), deleted ('D') or changed
// in type ('T') between two trees.
type Change struct {
	Path    string
	Status  byte
	Mode    string // after the change; "" when deleted
	Blob    string // blob SHA after the change; "" when deleted
	OldBlob string // blob SHA before the change; "" when added
}

// Regular reports whether the path is a regular file after the change, or deleted.
func (c Change) Regular() bool {
	return c.Status == 'D' || c.Mode == ModeFile || c.Mode == ModeExecutable
}

// Commit is a first-parent commit and the changes it made under the paths
// asked for.
type Commit struct {
	SHA     string
	Parent  string    // first parent; "" for a root commit
	At      time.Time // committer date, UTC: a hint, never trusted
	Changes []Change
}

// ErrTooMany is returned when a read holds more than its bound of changes.
var ErrTooMany = errors.New("too many changes")

// Query selects first-parent history for Log.
type Query struct {
	Head    string   // the newest commit
	Exclude []string // commits whose history is left out (exclusive bounds)
	Paths   []string // path prefixes ("requests/") or files
	Max     int      // at most this many changes; more is ErrTooMany
}

// Blob is one object read by SHA.
type Blob struct {
	Data    []byte // nil when the blob is over max bytes
	Size    int64  // the blob's full size
	Missing bool
}
