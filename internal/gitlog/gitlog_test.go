package gitlog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/fileerr"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// A type change (file -> symlink) is a change git reports with its mode,
// and an old committer date stops nothing: the walk is bounded by commits.
func TestLogReportsModesAndIgnoresDates(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	first := r.Commit(t0.Add(-time.Hour), "add", map[string]string{"requests/prod/2026-11/a.yaml": "a: 1\n", "README.md": "x\n"})
	if err := os.Remove(filepath.Join(r.Dir, "requests/prod/2026-11/a.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../README.md", filepath.Join(r.Dir, "requests/prod/2026-11/a.yaml")); err != nil {
		t.Fatal(err)
	}
	r.Git(t0, "add", "-A")
	r.Git(t0.AddDate(-3, 0, 0), "commit", "-q", "-m", "symlink, dated three years ago")
	swap := r.Git(t0, "rev-parse", "HEAD")
	g := gitlog.Repo{Dir: r.Dir}
	got, err := g.Log(context.Background(), gitlog.Query{Head: swap, Paths: []string{"requests/"}, Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].SHA != swap || got[1].SHA != first || got[0].Parent != first || got[1].Parent != "" {
		t.Fatalf("log = %+v", got)
	}
	c := got[0].Changes[0]
	if c.Status != 'T' || c.Mode != "120000" || c.Regular() || c.Path != "requests/prod/2026-11/a.yaml" {
		t.Errorf("type change = %+v", c)
	}
	if a := got[1].Changes[0]; a.Status != 'A' || a.Mode != gitlog.ModeFile || !a.Regular() || len(a.Blob) != 40 {
		t.Errorf("addition = %+v", a)
	}
	if _, err := g.FileAt(context.Background(), "requests/prod/2026-11/a.yaml", swap, 1<<10); !errors.Is(err, fileerr.ErrNotRegular) {
		t.Errorf("FileAt on a symlink = %v, want ErrNotRegular", err)
	}
	if _, err := g.FileAt(context.Background(), "nope.yaml", swap, 1<<10); !errors.Is(err, fileerr.ErrNotExist) {
		t.Errorf("FileAt on a missing file = %v, want ErrNotExist", err)
	}
	if _, err := g.FileAt(context.Background(), "requests/prod/2026-11/a.yaml", first, 2); !errors.Is(err, fileerr.ErrTooLarge) {
		t.Errorf("FileAt over the limit = %v, want ErrTooLarge", err)
	}
	if data, err := g.FileAt(context.Background(), "requests/prod/2026-11/a.yaml", first, 1<<10); err != nil || string(data) != "a: 1\n" {
		t.Errorf("FileAt = %q, %v", data, err)
	}
	if _, err := g.Log(context.Background(), gitlog.Query{Head: swap, Paths: []string{"requests/"}, Max: 1}); !errors.Is(err, gitlog.ErrTooMany) {
		t.Errorf("Max 1 = %v, want ErrTooMany", err)
	}
	var walked []string
	if err := g.FirstParents(context.Background(), swap, nil, func(sha string, at time.Time) bool { walked = append(walked, sha); return true }); err != nil || len(walked) != 2 {
		t.Errorf("FirstParents = %v, %v", walked, err)
	}
	only, err := g.Log(context.Background(), gitlog.Query{Head: swap, Exclude: []string{first}, Paths: []string{"requests/"}, Max: 10})
	if err != nil || len(only) != 1 || only[0].SHA != swap {
		t.Errorf("Log excluding the first commit = %+v, %v", only, err)
	}
}

func TestIsAncestor(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	a := r.Commit(t0, "a", map[string]string{"a": "1\n"})
	b := r.Commit(t0, "b", map[string]string{"a": "2\n"})
	g := gitlog.Repo{Dir: r.Dir}
	for _, tt := range []struct {
		x, y string
		want bool
	}{{a, b, true}, {b, a, false}, {a, a, true}} {
		if got, err := g.IsAncestor(context.Background(), tt.x, tt.y); err != nil || got != tt.want {
			t.Errorf("IsAncestor(%.7s, %.7s) = %v, %v", tt.x, tt.y, got, err)
		}
	}
	if _, err := g.IsAncestor(context.Background(), "0123456789012345678901234567890123456789", b); err == nil {
		t.Error("an unknown commit must be an error, not a no")
	}
	if at, err := g.CommitTime(context.Background(), a); err != nil || !at.Equal(t0) {
		t.Errorf("CommitTime = %v, %v", at, err)
	}
}
