// Package gitlog reads the first-parent history of a git checkout with the
// git command: which files each merge added, changed, deleted or changed the
// type of, with their git modes, and their contents, in one process each,
// bounded in lines, entries and bytes. Walks are bounded by commits, never by
// dates: a commit with an old committer date hides nothing behind it.
package gitlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/fileerr"
)

// maxLogLine bounds one line of git log output. Request paths are short; a
// longer line is a path that is no request file, skipped whole.
const maxLogLine = 64 << 10

// Repo is a git checkout. Every call ends with ctx.
type Repo struct{ Dir string }

func (g Repo) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "git", append([]string{"-C", g.Dir, "-c", "core.quotepath=off", "--literal-pathspecs"}, args...)...)
}

// Head fetches branch from origin when the checkout has that remote, and
// returns the commit the branch is at (origin's copy when there is one); ""
// when there is no such branch.
func (g Repo) Head(ctx context.Context, branch string) (string, error) {
	if !g.HasRemote(ctx) {
		return g.Resolve(ctx, "refs/heads/"+branch)
	}
	if err := g.Fetch(ctx, branch); err != nil {
		return "", err
	}
	return g.Resolve(ctx, "refs/remotes/origin/"+branch)
}

// RemoteHead asks origin for the commit branch is at, in one round trip
// (git ls-remote); "" without a remote.
func (g Repo) RemoteHead(ctx context.Context, branch string) (string, error) {
	if !g.HasRemote(ctx) {
		return "", nil
	}
	out, err := g.command(ctx, "ls-remote", "--heads", "origin", "refs/heads/"+branch).Output()
	if err != nil {
		return "", fmt.Errorf("git ls-remote origin %s: %w", branch, err)
	}
	sha, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\t")
	return sha, nil
}

// Ref returns the commit ref points at, "" when there is no such ref.
func (g Repo) Ref(ctx context.Context, ref string) (string, error) { return g.Resolve(ctx, ref) }

// SetRef points ref at sha.
func (g Repo) SetRef(ctx context.Context, ref, sha string) error { return g.UpdateRef(ctx, ref, sha) }

// HasRemote reports whether the checkout has a remote named origin.
func (g Repo) HasRemote(ctx context.Context) bool {
	out, err := g.command(ctx, "remote").Output()
	return err == nil && slices.Contains(strings.Fields(string(out)), "origin")
}

// Fetch updates refs/remotes/origin/<branch> from origin.
func (g Repo) Fetch(ctx context.Context, branch string) error {
	cmd := g.command(ctx, "fetch", "--quiet", "--no-tags", "origin", "+refs/heads/"+branch+":refs/remotes/origin/"+branch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git fetch %s: %w: %s", branch, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// IsAncestor reports whether ancestor is an ancestor of commit, or equal
// to it. An unknown commit is an error, never a "no".
func (g Repo) IsAncestor(ctx context.Context, ancestor, commit string) (bool, error) {
	cmd := g.command(ctx, "merge-base", "--is-ancestor", ancestor, commit)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4 << 10}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 1 && ctx.Err() == nil:
		return false, nil
	}
	return false, fmt.Errorf("git merge-base --is-ancestor %.12s %.12s: %w: %s", ancestor, commit, err, strings.TrimSpace(stderr.String()))
}

// CommitTime returns the committer date of commit.
func (g Repo) CommitTime(ctx context.Context, commit string) (time.Time, error) {
	out, err := g.command(ctx, "show", "-s", "--format=%ct", commit+"^{commit}", "--").Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("git show %.12s: %w", commit, err)
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("git show %.12s: unexpected date %q", commit, out)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// Root returns the first commit of ref's first-parent chain.
func (g Repo) Root(ctx context.Context, ref string) (string, error) {
	out, err := g.command(ctx, "rev-list", "--first-parent", "--max-parents=0", ref, "--").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-list %s: %w", ref, err)
	}
	sha := strings.TrimSpace(string(out))
	if len(sha) < 40 || strings.ContainsAny(sha, "\n ") {
		return "", fmt.Errorf("git rev-list %s: no single root commit", ref)
	}
	return sha, nil
}

// UpdateRef points ref (for example refs/elevate/last-head) at sha.
func (g Repo) UpdateRef(ctx context.Context, ref, sha string) error {
	if out, err := g.command(ctx, "update-ref", ref, sha).CombinedOutput(); err != nil {
		return fmt.Errorf("git update-ref %s: %w: %s", ref, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Resolve returns the commit SHA of ref, or "" when there is no such ref.
func (g Repo) Resolve(ctx context.Context, ref string) (string, error) {
	cmd := g.command(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 && ctx.Err() == nil {
			return "", nil
		}
		return "", fmt.Errorf("git rev-parse %s: %w: %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Git modes of regular files. Anything else (120000 a symlink, 160000 a
// submodule) is no request or policy file.
const (
	ModeFile       = "100644"
	ModeExecutable = "100755"
)

// Change is one file a first-parent commit added ('A'), modified ('M'),
// deleted ('D') or changed the type of ('T'), as git records it.
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

// ErrTooMany is returned by Log when the output holds more than Max changes.
var ErrTooMany = errors.New("too many changes")

// Query selects first-parent history for Log.
type Query struct {
	Head    string   // the newest commit
	Exclude []string // commits whose history is left out (exclusive bounds)
	Paths   []string // path prefixes ("requests/") or files; passed on stdin, so any number fits
	Max     int      // at most this many changes; more is ErrTooMany
	// Until, when set, is asked about each commit the log lists, newest
	// first; true ends the log before that commit, without reading further.
	Until func(sha string, at time.Time) bool
}

// Log lists the first-parent commits of q.Head that change q.Paths, newest
// first, with every change under q.Paths: additions, modifications,
// deletions and type changes, with their git modes. It never stops on a
// date: the bounds are commits.
func (g Repo) Log(ctx context.Context, q Query) ([]Commit, error) {
	args := []string{"log", "--first-parent", "--no-renames", "--raw", "--no-abbrev", "-z", "--format=%x00%x00%H %P %ct", "--stdin"}
	var stdin strings.Builder
	stdin.WriteString(q.Head + "\n")
	for _, x := range q.Exclude {
		stdin.WriteString("^" + x + "\n")
	}
	stdin.WriteString("--\n")
	for _, p := range q.Paths {
		stdin.WriteString(p + "\n")
	}
	r, wait, stop, err := g.stream(ctx, stdin.String(), args...)
	if err != nil {
		return nil, err
	}
	out, ended, err := parseRawLog(r, q.Max, q.Until)
	if err != nil || ended {
		stop()
		return out, err
	}
	if err := wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseRawLog reads `git log --raw -z` with the format "\0\0%H %P %ct":
// each commit starts with two NULs, then its header line, then for each
// change ":<old mode> <new mode> <old sha> <new sha> <status>\0<path>\0".
func parseRawLog(r *bufio.Reader, max int, until func(string, time.Time) bool) (out []Commit, ended bool, err error) {
	changes := 0
	for {
		tok, err := readField(r, maxLogLine)
		if errors.Is(err, io.EOF) {
			return out, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read git log: %w", err)
		}
		tok = strings.TrimLeft(tok, "\n")
		switch {
		case tok == "":
			continue
		case tok[0] == ':':
			if len(out) == 0 {
				return nil, false, fmt.Errorf("read git log: a change before any commit")
			}
			path, err := readField(r, maxLogLine)
			if err != nil {
				return nil, false, fmt.Errorf("read git log: %w", err)
			}
			f := strings.Fields(tok[1:])
			if len(f) != 5 || len(f[4]) == 0 {
				return nil, false, fmt.Errorf("read git log: unexpected change %q", tok)
			}
			if path == "" {
				continue // a path over maxLogLine: no request or policy file
			}
			if changes == max {
				return nil, false, ErrTooMany
			}
			changes++
			c := Change{Path: path, Status: f[4][0], Mode: f[1], Blob: f[3], OldBlob: f[2]}
			if c.Status == 'D' {
				c.Mode, c.Blob = "", ""
			}
			if c.Status == 'A' {
				c.OldBlob = ""
			}
			cm := &out[len(out)-1]
			cm.Changes = append(cm.Changes, c)
		default:
			head := tok
			f := strings.Fields(head)
			if len(f) < 2 || len(f[0]) < 40 {
				return nil, false, fmt.Errorf("read git log: unexpected commit line %q", head)
			}
			sec, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				return nil, false, fmt.Errorf("read git log: unexpected commit line %q", head)
			}
			cm := Commit{SHA: f[0], At: time.Unix(sec, 0).UTC()}
			if until != nil && until(cm.SHA, cm.At) {
				return out, true, nil
			}
			if len(f) > 2 {
				cm.Parent = f[1]
			}
			out = append(out, cm)
		}
	}
}

// FirstParents walks the first-parent chain of head, newest first, leaving
// out commits reachable from exclude, calling fn with each commit and its
// committer date until fn returns false.
func (g Repo) FirstParents(ctx context.Context, head string, exclude []string, fn func(sha string, at time.Time) bool) error {
	var stdin strings.Builder
	stdin.WriteString(head + "\n")
	for _, x := range exclude {
		stdin.WriteString("^" + x + "\n")
	}
	r, wait, stop, err := g.stream(ctx, stdin.String(), "rev-list", "--first-parent", "--timestamp", "--stdin")
	if err != nil {
		return err
	}
	for {
		line, err := readLine(r, 4<<10)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			stop()
			return fmt.Errorf("read git rev-list: %w", err)
		}
		ts, sha, ok := strings.Cut(line, " ")
		sec, perr := strconv.ParseInt(ts, 10, 64)
		if !ok || perr != nil || len(sha) < 40 {
			stop()
			return fmt.Errorf("read git rev-list: unexpected line %q", line)
		}
		if !fn(sha, time.Unix(sec, 0).UTC()) {
			stop() // the rest of the history is not needed
			return nil
		}
	}
	return wait()
}

// readLine reads one line without its newline; see readUntil.
func readLine(r *bufio.Reader, max int) (string, error) { return readUntil(r, '\n', max) }

// readField reads up to the next NUL; see readUntil.
func readField(r *bufio.Reader, max int) (string, error) { return readUntil(r, 0, max) }

// readUntil reads up to delim and returns what came before it. A piece
// longer than max is read to its end and returned as "" (it holds no
// request or policy path); a last piece without delim is returned as is.
func readUntil(r *bufio.Reader, delim byte, max int) (string, error) {
	var b []byte
	long := false
	for {
		chunk, err := r.ReadSlice(delim)
		if !long {
			if len(b)+len(chunk) > max+1 {
				long, b = true, nil
			} else {
				b = append(b, chunk...)
			}
		}
		switch {
		case err == nil:
			if long {
				return "", nil
			}
			return string(b[:len(b)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(b) > 0:
			return strings.TrimRight(string(b), "\n"), nil
		default:
			return "", err
		}
	}
}

// stream starts git with stdin and returns its buffered stdout, and a
// wait that reports git's own error with the first 4 KiB of its stderr.
// stop kills git when the caller reads no further.
func (g Repo) stream(ctx context.Context, stdin string, args ...string) (out *bufio.Reader, wait func() error, stop func(), err error) {
	cmd := g.command(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4 << 10}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	wait = func() error {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return bufio.NewReaderSize(stdout, 64<<10), wait, stop, nil
}

// Blob is what git cat-file answered for one object.
type Blob struct {
	Data    []byte // nil when the blob is over max bytes
	Size    int64  // the blob's full size
	Missing bool
}

// Blobs reads blobs by their SHA in one git cat-file process. A blob over
// max bytes is skipped, not read into memory.
func (g Repo) Blobs(ctx context.Context, specs []string, max int64) ([]Blob, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	r, wait, kill, err := g.stream(ctx, strings.Join(specs, "\n")+"\n", "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	stop := func(err error) ([]Blob, error) {
		kill()
		return nil, fmt.Errorf("read git cat-file: %w", err)
	}
	out := make([]Blob, len(specs))
	for i, spec := range specs {
		header, err := readLine(r, 4<<10)
		if err != nil {
			return stop(err)
		}
		// "<sha> <type> <size>", or "<spec> missing" / "<spec> ambiguous".
		if strings.HasSuffix(header, " missing") || strings.HasSuffix(header, " ambiguous") {
			out[i].Missing = true
			continue
		}
		fields := strings.Fields(header)
		if len(fields) != 3 {
			return stop(fmt.Errorf("unexpected header %q for %s", header, spec))
		}
		size, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil || size < 0 {
			return stop(fmt.Errorf("unexpected header %q for %s", header, spec))
		}
		isBlob := fields[1] == "blob"
		out[i].Size, out[i].Missing = size, !isBlob
		keep := int64(0)
		if isBlob && size <= max {
			keep = size
		}
		data := make([]byte, keep)
		if _, err := io.ReadFull(r, data); err != nil {
			return stop(err)
		}
		if _, err := io.CopyN(io.Discard, r, size-keep+1); err != nil { // the rest and the newline
			return stop(err)
		}
		if isBlob && size <= max {
			out[i].Data = data
		}
	}
	if err := wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// FileAt reads path at commit: a regular file of at most maxBytes. A
// missing file is fileerr.ErrNotExist, a symlink, submodule or directory
// fileerr.ErrNotRegular, a larger file fileerr.ErrTooLarge (all wrapped).
func (g Repo) FileAt(ctx context.Context, path, commit string, maxBytes int64) ([]byte, error) {
	out, err := g.command(ctx, "ls-tree", "-z", "--full-tree", commit, "--", path).Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-tree %.12s %s: %w", commit, path, err)
	}
	entry, _, _ := strings.Cut(string(out), "\x00")
	meta, name, ok := strings.Cut(entry, "\t")
	f := strings.Fields(meta)
	switch {
	case entry == "":
		return nil, fmt.Errorf("%s at %.12s: %w", path, commit, fileerr.ErrNotExist)
	case !ok || name != path || len(f) != 3:
		return nil, fmt.Errorf("git ls-tree %.12s %s: unexpected answer %q", commit, path, entry)
	case f[1] != "blob" || (f[0] != ModeFile && f[0] != ModeExecutable):
		return nil, fmt.Errorf("%s at %.12s (mode %s) %w", path, commit, f[0], fileerr.ErrNotRegular)
	}
	blobs, err := g.Blobs(ctx, []string{f[2]}, maxBytes)
	if err != nil {
		return nil, err
	}
	switch b := blobs[0]; {
	case b.Missing:
		return nil, fmt.Errorf("%s at %.12s: %w", path, commit, fileerr.ErrNotExist)
	case b.Data == nil:
		return nil, fmt.Errorf("%s at %.12s: %d bytes %w of %d", path, commit, b.Size, fileerr.ErrTooLarge, maxBytes)
	default:
		return b.Data, nil
	}
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
