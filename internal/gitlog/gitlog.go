// Package gitlog reads the first-parent history of a git checkout with the
// git command: which files each merge added, changed or deleted, and their
// contents, in one process each, bounded in lines, entries and bytes.
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
)

// maxLogLine bounds one line of git log output. Request paths are short; a
// longer line is a path that is no request file, skipped whole.
const maxLogLine = 64 << 10

// Repo is a git checkout. Every call ends with ctx.
type Repo struct{ Dir string }

func (g Repo) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "git", append([]string{"-C", g.Dir, "-c", "core.quotepath=off", "--literal-pathspecs"}, args...)...)
}

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

// IsAncestor reports whether old is an ancestor of head.
func (g Repo) IsAncestor(ctx context.Context, old, head string) bool {
	return g.command(ctx, "merge-base", "--is-ancestor", old, head).Run() == nil
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

// Change is one file added, modified or deleted by a first-parent commit.
type Change struct {
	Commit string
	At     time.Time // commit time, UTC
	Status byte      // 'A', 'M' or 'D'
	Path   string
}

// ErrTooMany is returned by Log when the output holds more than max changes.
var ErrTooMany = errors.New("too many changes")

// Log lists first-parent changes under requests/ of head (a revision or a
// range like old..new) with the given --diff-filter, newest first, back to
// since (zero: all history). paths, when given, limits the log to those files
// (passed on stdin, so any number fits). At most max changes are read; more
// is ErrTooMany.
func (g Repo) Log(ctx context.Context, head, filter string, since time.Time, paths []string, max int) ([]Change, error) {
	args := []string{"log", "--first-parent", "--no-renames", "--diff-filter=" + filter, "--name-status", "--format=%x00%H %ct"}
	if !since.IsZero() {
		args = append(args, "--since="+strconv.FormatInt(since.Unix(), 10))
	}
	var stdin io.Reader
	if len(paths) > 0 {
		args = append(args, "--stdin", head)
		stdin = strings.NewReader("--\n" + strings.Join(paths, "\n") + "\n")
	} else {
		args = append(args, head, "--", "requests/")
	}
	cmd := g.command(ctx, args...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4 << 10}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("git log: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git log: %w", err)
	}
	stop := func(err error) ([]Change, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	var out []Change
	var commit string
	var at time.Time
	r := bufio.NewReaderSize(stdout, 64<<10)
	for {
		line, err := readLine(r, maxLogLine)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stop(fmt.Errorf("read git log: %w", err))
		}
		switch {
		case line == "":
		case line[0] == 0:
			sha, ts, _ := strings.Cut(line[1:], " ")
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || len(sha) < 40 {
				return stop(fmt.Errorf("read git log: unexpected commit line %q", line[1:]))
			}
			commit, at = sha, time.Unix(sec, 0).UTC()
		case len(line) > 2 && line[1] == '\t' && commit != "":
			if len(out) == max {
				return stop(ErrTooMany)
			}
			out = append(out, Change{Commit: commit, At: at, Status: line[0], Path: line[2:]})
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git log: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// readLine reads one line without its newline. A line longer than max is
// read to its end and returned as "" (it holds no request path).
func readLine(r *bufio.Reader, max int) (string, error) {
	var b []byte
	long := false
	for {
		chunk, err := r.ReadSlice('\n')
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
			return strings.TrimSuffix(string(b), "\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(b) > 0:
			return string(b), nil
		default:
			return "", err
		}
	}
}

// Blob is what git cat-file answered for one object.
type Blob struct {
	Data    []byte // nil when the blob is over max bytes
	Size    int64  // the blob's full size
	Missing bool
}

// Blobs reads "<rev>:<path>" objects in one git cat-file process. A blob
// over max bytes is skipped, not read into memory.
func (g Repo) Blobs(ctx context.Context, specs []string, max int64) ([]Blob, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	cmd := g.command(ctx, "cat-file", "--batch")
	cmd.Stdin = strings.NewReader(strings.Join(specs, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4 << 10}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	stop := func(err error) ([]Blob, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("read git cat-file: %w", err)
	}
	r := bufio.NewReaderSize(stdout, 64<<10)
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
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
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
