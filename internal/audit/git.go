package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// maxLogLine bounds one line of git log output. Request paths are short; a
// longer line is a path that is no request file, skipped whole.
const maxLogLine = 64 << 10

// git runs git in a checkout. Every call ends with ctx.
type git struct{ dir string }

func (g git) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "git", append([]string{"-C", g.dir, "-c", "core.quotepath=off", "--literal-pathspecs"}, args...)...)
}

// resolve returns the commit SHA of ref, or "" when there is no such ref.
func (g git) resolve(ctx context.Context, ref string) (string, error) {
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

// change is one request file added, modified or deleted by a first-parent commit.
type change struct {
	commit string
	at     time.Time // commit time, UTC
	status byte      // 'A', 'M' or 'D'
	path   string
}

// errTooMany is returned by log when the output holds more than max changes.
var errTooMany = errors.New("too many changes")

// log lists first-parent changes under requests/ of head with the given
// --diff-filter, newest first, back to since (zero: all history). paths,
// when given, limits the log to those files (passed on stdin, so any number
// fits). At most max changes are read; more is errTooMany.
func (g git) log(ctx context.Context, head, filter string, since time.Time, paths []string, max int) ([]change, error) {
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
	stop := func(err error) ([]change, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	var out []change
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
				return stop(errTooMany)
			}
			out = append(out, change{commit: commit, at: at, status: line[0], path: line[2:]})
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

// blob is what git cat-file answered for one object.
type blob struct {
	data    []byte // nil when the blob is over max bytes
	size    int64  // the blob's full size
	missing bool
}

// blobs reads "<rev>:<path>" objects in one git cat-file process. A blob
// over max bytes is skipped, not read into memory.
func (g git) blobs(ctx context.Context, specs []string, max int64) ([]blob, error) {
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
	stop := func(err error) ([]blob, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("read git cat-file: %w", err)
	}
	r := bufio.NewReaderSize(stdout, 64<<10)
	out := make([]blob, len(specs))
	for i, spec := range specs {
		header, err := readLine(r, 4<<10)
		if err != nil {
			return stop(err)
		}
		// "<sha> <type> <size>", or "<spec> missing" / "<spec> ambiguous".
		if strings.HasSuffix(header, " missing") || strings.HasSuffix(header, " ambiguous") {
			out[i].missing = true
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
		out[i].size, out[i].missing = size, !isBlob
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
			out[i].data = data
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
