package gitlog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/fileerr"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

// history is what both implementations read: the git command and go-git.
type history interface {
	Head(ctx context.Context, branch string) (string, error)
	IsAncestor(ctx context.Context, ancestor, commit string) (bool, error)
	CommitTime(ctx context.Context, commit string) (time.Time, error)
	FirstParents(ctx context.Context, head string, exclude []string, fn func(sha string, at time.Time) bool) error
	Log(ctx context.Context, q gitlog.Query) ([]gitlog.Commit, error)
	FileAt(ctx context.Context, path, commit string, maxBytes int64) ([]byte, error)
	Blobs(ctx context.Context, shas []string, maxBytes int64) ([]gitlog.Blob, error)
	Ref(ctx context.Context, name string) (string, error)
	SetRef(ctx context.Context, name, sha string) error
}

// go-git answers every question exactly as the git command does, on a
// history holding additions, edits, deletions, a type change, nested
// policy files, an old-dated commit and a merge.
func TestGoGitAnswersAsTheGitCommand(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	anchor := r.Commit(t0.Add(-5*time.Hour), "anchor", map[string]string{"eligibility.yaml": "v: 1\n", ".github/CODEOWNERS": "* @a\n", "README.md": "x\n"})
	r.Commit(t0.Add(-4*time.Hour), "add", map[string]string{"requests/prod/2026-11/a.yaml": "a: 1\n", "requests/staging/2026-11/b.yaml": "b: 1\n"})
	r.Commit(t0.Add(-3*time.Hour), "policy", map[string]string{"eligibility.yaml": "v: 2\n", "docs/CODEOWNERS": "* @b\n"})
	r.Commit(t0.AddDate(-2, 0, 0), "old date, edit and delete", map[string]string{"requests/prod/2026-11/a.yaml": "a: 2\n", "requests/staging/2026-11/b.yaml": ""})
	if err := os.Remove(filepath.Join(r.Dir, "requests/prod/2026-11/a.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../README.md", filepath.Join(r.Dir, "requests/prod/2026-11/a.yaml")); err != nil {
		t.Fatal(err)
	}
	r.Git(t0.Add(-time.Hour), "add", "-A")
	r.Git(t0.Add(-time.Hour), "commit", "-q", "-m", "type change")
	r.Git(time.Time{}, "checkout", "-q", "-b", "side")
	r.Commit(t0.Add(-50*time.Minute), "side", map[string]string{"requests/prod/2026-11/c.yaml": "c: 1\n"})
	r.Git(time.Time{}, "checkout", "-q", "main")
	r.Git(t0.Add(-40*time.Minute), "merge", "-q", "--no-ff", "-m", "merge side", "side")
	head := r.Git(time.Time{}, "rev-parse", "HEAD")

	cli := gitlog.Repo{Dir: r.Dir}
	gg, err := gitlog.OpenGoGit(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ask := func(h history) map[string]any {
		out := map[string]any{}
		out["head"], out["headErr"] = h.Head(ctx, "main")
		for name, paths := range map[string][]string{"requests": {"requests/"}, "policy": {"eligibility.yaml", ".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}} {
			all, err := h.Log(ctx, gitlog.Query{Head: head, Paths: paths, Max: 100})
			out[name], out[name+"Err"] = all, err
			since, err := h.Log(ctx, gitlog.Query{Head: head, Exclude: []string{anchor}, Paths: paths, Max: 100})
			out[name+"SinceAnchor"], out[name+"SinceAnchorErr"] = since, err
		}
		var walked []string
		out["walkErr"] = h.FirstParents(ctx, head, []string{anchor}, func(sha string, at time.Time) bool {
			walked = append(walked, sha+"@"+at.Format(time.RFC3339))
			return true
		})
		out["walk"] = walked
		out["ancestor"], _ = h.IsAncestor(ctx, anchor, head)
		out["notAncestor"], _ = h.IsAncestor(ctx, head, anchor)
		out["time"], _ = h.CommitTime(ctx, anchor)
		data, err := h.FileAt(ctx, "eligibility.yaml", head, 100)
		out["file"], out["fileErr"] = string(data), err == nil
		for name, want := range map[string]error{"requests/prod/2026-11/a.yaml": fileerr.ErrNotRegular, "nope": fileerr.ErrNotExist} {
			_, err := h.FileAt(ctx, name, head, 100)
			out["fileAt "+name] = errors.Is(err, want)
		}
		_, err = h.FileAt(ctx, "README.md", head, 1)
		out["tooLarge"] = errors.Is(err, fileerr.ErrTooLarge)
		return out
	}
	want, got := ask(cli), ask(gg)
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return (a == nil) == (b == nil) })); diff != "" {
		t.Errorf("go-git differs from the git command (-git +go-git):\n%s", diff)
	}
	reqs := want["requests"].([]gitlog.Commit)
	pols := want["policySinceAnchor"].([]gitlog.Commit)
	if len(reqs) != 4 || len(pols) != 1 || len(want["walk"].([]string)) != 5 || want["ancestor"] != true || want["notAncestor"] != false {
		t.Fatalf("the history is not what the test means to compare: %d request commits, %d policy commits, walk %v", len(reqs), len(pols), want["walk"])
	}
	if c := reqs[1].Changes[0]; c.Status != 'T' || c.Mode != "120000" {
		t.Errorf("the type change reads %+v", c)
	}
	var shas []string
	for _, c := range reqs {
		for _, ch := range c.Changes {
			shas = append(shas, ch.Blob, ch.OldBlob)
		}
	}
	shas = append(shas, "0000000000000000000000000000000000000000")
	b1, err1 := cli.Blobs(ctx, shas, 100)
	b2, err2 := gg.Blobs(ctx, shas, 100)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if diff := cmp.Diff(b1, b2); diff != "" {
		t.Errorf("Blobs differ (-git +go-git):\n%s", diff)
	}
	if err := gg.SetRef(ctx, "refs/elevate/last-head", anchor); err != nil {
		t.Fatal(err)
	}
	if got, err := cli.Ref(ctx, "refs/elevate/last-head"); err != nil || got != anchor {
		t.Errorf("a ref set by go-git reads %q through git, %v", got, err)
	}
}
