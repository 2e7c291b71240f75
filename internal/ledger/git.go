package ledger

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

// git runs git in a clone. Every call has a deadline from ctx.
type git struct {
	dir string
}

func (g git) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", g.dir, "-c", "core.quotepath=off"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// hasRemote reports whether the clone has a remote named origin.
func (g git) hasRemote(ctx context.Context) bool {
	out, err := g.run(ctx, "remote")
	return err == nil && bytes.Contains(append([]byte("\n"), out...), []byte("\norigin\n"))
}

func (g git) fetch(ctx context.Context, branch string) error {
	_, err := g.run(ctx, "fetch", "--quiet", "--no-tags", "origin", "+refs/heads/"+branch+":refs/remotes/origin/"+branch)
	return err
}

// resolve returns the commit SHA of ref, or "" when it does not exist.
func (g git) resolve(ctx context.Context, ref string) (string, error) {
	out, err := g.run(ctx, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return "", nil
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

func (g git) isAncestor(ctx context.Context, old, head string) bool {
	_, err := g.run(ctx, "merge-base", "--is-ancestor", old, head)
	return err == nil
}

// change is one request file added, modified or deleted by a first-parent commit.
type change struct {
	commit string
	at     time.Time
	status byte // 'A', 'M' or 'D'
	path   string
}

// log lists first-parent changes under requests/ in rangeSpec (e.g. "HEAD" or
// "old..new"), oldest first, back to since (zero: no bound).
func (g git) log(ctx context.Context, rangeSpec string, since time.Time) ([]change, error) {
	args := []string{"log", "--first-parent", "--no-renames", "--diff-filter=ADM", "--name-status", "--format=%x00%H %ct"}
	if !since.IsZero() {
		args = append(args, "--since="+strconv.FormatInt(since.Unix(), 10))
	}
	args = append(args, rangeSpec, "--", "requests/")
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", g.dir, "-c", "core.quotepath=off"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git log: %w", err)
	}
	var out []change
	var commit string
	var at time.Time
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case line[0] == 0:
			sha, ts, _ := strings.Cut(line[1:], " ")
			sec, _ := strconv.ParseInt(ts, 10, 64)
			commit, at = sha, time.Unix(sec, 0).UTC()
		case len(line) > 2 && line[1] == '\t':
			out = append(out, change{commit: commit, at: at, status: line[0], path: line[2:]})
		}
	}
	if err := sc.Err(); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("read git log: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git log: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	// git lists newest first; the index replays oldest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// blobs reads "<commit>:<path>" objects in one git process. A missing object
// yields nil. Each blob is bounded by max bytes (larger ones yield nil).
func (g git) blobs(ctx context.Context, specs []string, max int64) ([][]byte, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	cmd := exec.CommandContext(ctx, "git", "-C", g.dir, "cat-file", "--batch")
	cmd.Stdin = strings.NewReader(strings.Join(specs, "\n") + "\n")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	r := bufio.NewReaderSize(stdout, 64<<10)
	out := make([][]byte, len(specs))
	for i := range specs {
		header, err := r.ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("read git cat-file: %w", err)
		}
		fields := strings.Fields(header)
		if len(fields) != 3 { // "<spec> missing"
			continue
		}
		size, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("git cat-file header %q", header)
		}
		if fields[1] != "blob" || size > max {
			if _, err := io.CopyN(io.Discard, r, size+1); err != nil {
				return nil, err
			}
			continue
		}
		data := make([]byte, size+1)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("read git cat-file: %w", err)
		}
		out[i] = data[:size]
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	return out, nil
}
