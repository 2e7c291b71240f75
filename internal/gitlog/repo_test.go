package gitlog_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/elevate-gitops/elevate/internal/fileerr"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

var (
	requestPaths = []string{"requests/"}
	policyPaths  = []string{"eligibility.yaml", ".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}
)

// history holds additions, edits, deletions, a type change, nested policy
// files, an old-dated commit and a merge; it returns the commits in order.
func history(t *testing.T) (*ledgertest.Repo, []string) {
	t.Helper()
	r := ledgertest.New(t)
	shas := []string{r.Commit(t0.Add(-5*time.Hour), "anchor", map[string]string{"eligibility.yaml": "v: 1\n", ".github/CODEOWNERS": "* @a\n", "README.md": "x\n"})}
	shas = append(shas, r.Commit(t0.Add(-4*time.Hour), "add", map[string]string{"requests/prod/2026-11/a.yaml": "a: 1\n", "requests/staging/2026-11/b.yaml": "b: 1\n"}))
	shas = append(shas, r.Commit(t0.Add(-3*time.Hour), "policy", map[string]string{"eligibility.yaml": "v: 2\n", "docs/CODEOWNERS": "* @b\n"}))
	shas = append(shas, r.Commit(t0.AddDate(-2, 0, 0), "old date, edit and delete", map[string]string{"requests/prod/2026-11/a.yaml": "a: 2\n", "requests/staging/2026-11/b.yaml": ""}))
	if err := os.Remove(filepath.Join(r.Dir, "requests/prod/2026-11/a.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../README.md", filepath.Join(r.Dir, "requests/prod/2026-11/a.yaml")); err != nil {
		t.Fatal(err)
	}
	r.Git(t0.Add(-time.Hour), "add", "-A")
	r.Git(t0.Add(-time.Hour), "commit", "-q", "-m", "type change")
	shas = append(shas, r.Git(time.Time{}, "rev-parse", "HEAD"))
	r.Git(time.Time{}, "checkout", "-q", "-b", "side")
	r.Commit(t0.Add(-50*time.Minute), "side", map[string]string{"requests/prod/2026-11/c.yaml": "c: 1\n"})
	r.Git(time.Time{}, "checkout", "-q", "main")
	r.Git(t0.Add(-40*time.Minute), "merge", "-q", "--no-ff", "-m", "merge side", "side")
	return r, append(shas, r.Git(time.Time{}, "rev-parse", "HEAD"))
}

// Diff compares two trees exactly as `git diff-tree` does, for adjacent
// commits and for commits far apart (a move of several merges), whatever
// lies between them.
func TestDiffAnswersAsGit(t *testing.T) {
	t.Parallel()
	r, shas := history(t)
	g := open(t, r.Dir)
	o := oracle{t, r.Dir}
	ctx := context.Background()
	compared := 0
	for i := range shas {
		for j := range shas {
			for _, paths := range [][]string{requestPaths, policyPaths} {
				got, err := g.Diff(ctx, shas[i], shas[j], paths, 100)
				if err != nil {
					t.Fatal(err)
				}
				want := o.diff(shas[i], shas[j], paths...)
				if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("Diff(%d, %d, %v) (-git +go-git):\n%s", i, j, paths, diff)
				}
				compared += len(want)
			}
		}
	}
	if compared < 20 {
		t.Fatalf("the history compares only %d changes", compared)
	}
	added, err := g.Diff(ctx, gitlog.NoCommit, shas[1], requestPaths, 100)
	if err != nil || len(added) != 2 || added[0].Status != 'A' {
		t.Errorf("Diff from no commit = %+v, %v", added, err)
	}
	if _, err := g.Diff(ctx, shas[0], shas[1], requestPaths, 1); !errors.Is(err, gitlog.ErrTooMany) {
		t.Errorf("Diff over its bound = %v, want ErrTooMany", err)
	}
	if _, err := g.Diff(ctx, shas[0], "f00d000000000000000000000000000000000000", requestPaths, 10); !errors.Is(err, fileerr.ErrNotExist) {
		t.Errorf("Diff to an unknown commit = %v, want ErrNotExist", err)
	}
}

// Log lists first-parent history as `git log --first-parent --raw` does:
// modes, type changes, and old committer dates that stop nothing.
func TestLogAnswersAsGit(t *testing.T) {
	t.Parallel()
	r, shas := history(t)
	g := open(t, r.Dir)
	o := oracle{t, r.Dir}
	head := shas[len(shas)-1]
	for _, paths := range [][]string{requestPaths, policyPaths} {
		got, err := g.Log(context.Background(), gitlog.Query{Head: head, Paths: paths, Max: 100})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(o.log(head, paths...), got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Log(%v) (-git +go-git):\n%s", paths, diff)
		}
	}
	reqs, _ := g.Log(context.Background(), gitlog.Query{Head: head, Paths: requestPaths, Max: 100})
	if len(reqs) != 4 {
		t.Fatalf("the history is not what the test means: %d request commits", len(reqs))
	}
	if c := reqs[1].Changes[0]; c.Status != 'T' || c.Mode != "120000" || c.Regular() {
		t.Errorf("the type change reads %+v", c)
	}
	if _, err := g.Log(context.Background(), gitlog.Query{Head: head, Paths: requestPaths, Max: 1}); !errors.Is(err, gitlog.ErrTooMany) {
		t.Errorf("Log over its bound = %v, want ErrTooMany", err)
	}
	var walked []string
	if err := g.FirstParents(context.Background(), head, []string{shas[0]}, func(sha string, _ time.Time) bool { walked = append(walked, sha); return true }); err != nil {
		t.Fatal(err)
	}
	if want := []string{shas[5], shas[4], shas[3], shas[2], shas[1]}; !cmp.Equal(walked, want) {
		t.Errorf("FirstParents = %v, want %v", walked, want)
	}
}

// FileAt reads only regular files, within a size; Blobs reads by SHA.
func TestFileAtAndBlobs(t *testing.T) {
	t.Parallel()
	r, shas := history(t)
	g := open(t, r.Dir)
	ctx := context.Background()
	head := shas[len(shas)-1]
	if data, err := g.FileAt(ctx, "eligibility.yaml", head, 100); err != nil || string(data) != "v: 2\n" {
		t.Errorf("FileAt = %q, %v", data, err)
	}
	for name, want := range map[string]error{"requests/prod/2026-11/a.yaml": fileerr.ErrNotRegular, "nope": fileerr.ErrNotExist, "requests": fileerr.ErrNotRegular} {
		if _, err := g.FileAt(ctx, name, head, 100); !errors.Is(err, want) {
			t.Errorf("FileAt(%s) = %v, want %v", name, err, want)
		}
	}
	if _, err := g.FileAt(ctx, "README.md", head, 1); !errors.Is(err, fileerr.ErrTooLarge) {
		t.Errorf("FileAt over the limit = %v, want ErrTooLarge", err)
	}
	o := oracle{t, r.Dir}
	blob := o.diff(shas[0], shas[1], requestPaths...)[0].Blob
	got, err := g.Blobs(ctx, []string{blob, gitlog.NoCommit, "not-a-sha"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []gitlog.Blob{{Data: []byte("a: 1\n"), Size: 5}, {Missing: true}, {Missing: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Blobs (-want +got):\n%s", diff)
	}
	if got, _ := g.Blobs(ctx, []string{blob}, 2); got[0].Data != nil || got[0].Size != 5 {
		t.Errorf("a blob over the limit = %+v", got[0])
	}
	if ref, err := g.Ref(ctx, "refs/heads/main"); err != nil || ref != head {
		t.Errorf("Ref(main) = %q, %v", ref, err)
	}
	if root, err := g.Root(ctx, head); err != nil || root != shas[0] {
		t.Errorf("Root = %q, %v", root, err)
	}
}

// A clone made with --shared keeps its objects in the source's object
// directory (an alternate, named by absolute path): they are read there.
func TestSharedCloneReadsAlternates(t *testing.T) {
	t.Parallel()
	r, shas := history(t)
	dir := filepath.Join(t.TempDir(), "shared")
	r.Git(time.Time{}, "clone", "-q", "--shared", r.Dir, dir)
	g := open(t, dir)
	got, err := g.Diff(context.Background(), shas[0], shas[1], requestPaths, 100)
	if err != nil || len(got) != 2 {
		t.Fatalf("Diff in a shared clone = %+v, %v", got, err)
	}
}

func open(t *testing.T, dir string) *gitlog.Repo {
	t.Helper()
	g, err := gitlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// An object whose content does not hash to its name (a clone someone else
// could write) is an error, never content: git's names are only as good
// as that check.
func TestTamperedObjectIsCorrupt(t *testing.T) {
	t.Parallel()
	r, shas := history(t)
	ctx := context.Background()
	blob := r.Git(time.Time{}, "rev-parse", shas[1]+":requests/prod/2026-11/a.yaml")
	for name, tamper := range map[string]struct {
		sha, content string
		read         func(g *gitlog.Repo) error
	}{
		"request blob": {blob, "blob 5\x00a: 9\n", func(g *gitlog.Repo) error { _, err := g.Blobs(ctx, []string{blob}, 100); return err }},
		"month tree": {r.Git(time.Time{}, "rev-parse", shas[1]+":requests/prod/2026-11"), "tree 0\x00", func(g *gitlog.Repo) error {
			_, err := g.Diff(ctx, shas[0], shas[1], requestPaths, 100)
			return err
		}},
		"policy blob": {r.Git(time.Time{}, "rev-parse", shas[0]+":eligibility.yaml"), "blob 5\x00v: 9\n", func(g *gitlog.Repo) error {
			_, err := g.FileAt(ctx, "eligibility.yaml", shas[0], 100)
			return err
		}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "clone")
			r.Git(time.Time{}, "clone", "-q", "--no-local", r.Dir, dir)
			ledgertest.Tamper(t, filepath.Join(dir, ".git"), tamper.sha, tamper.content)
			if err := tamper.read(open(t, dir)); !errors.Is(err, gitlog.ErrCorrupt) {
				t.Fatalf("a tampered %s was read: %v, want ErrCorrupt", name, err)
			}
		})
	}
}

// A remote that accepts the connection and then says nothing fails the
// fetch once it has been silent for the stall timeout: a first clone has
// no deadline, so a silent remote must not hold it for ever.
func TestSilentRemoteFailsTheFetch(t *testing.T) {
	defer gitlog.SetStallTimeout(300 * time.Millisecond)()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	repo, err := gitlog.Clone(context.Background(), "http://"+ln.Addr().String()+"/acme/access.git", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := repo.Head(context.Background(), "main"); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a silent remote gave a head")
		}
	case <-time.After(time.Minute):
		t.Fatal("the fetch from a silent remote is still waiting after a minute")
	}
}

// Comparing versions of a large folder (the prefix and suffix they share
// skipped) gives what git diff-tree gives, for adds, edits and deletions
// at its start, middle and end, and between versions far apart.
func TestDiffOfLargeFoldersMatchesGit(t *testing.T) {
	t.Parallel()
	r := ledgertest.New(t)
	o := oracle{t: t, dir: r.Dir}
	files := map[string]string{}
	for i := range 300 {
		files[fmt.Sprintf("requests/prod/2026-11/r%03d.yaml", i)] = fmt.Sprint(i)
	}
	commits := []string{r.Commit(t0, "many", files)}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 30 {
		change := map[string]string{}
		for range 1 + rng.IntN(4) {
			i := rng.IntN(320) // some beyond the first 300: new files at the end
			p := fmt.Sprintf("requests/prod/2026-11/r%03d.yaml", i)
			switch _, ok := files[p]; {
			case ok && rng.IntN(2) == 0:
				change[p] = "" // deleted
				delete(files, p)
			default:
				change[p] = fmt.Sprintf("%d-%d", i, step)
				files[p] = change[p]
			}
		}
		commits = append(commits, r.Commit(t0.Add(time.Duration(step+1)*time.Minute), "step", change))
	}
	g, err := gitlog.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(commits); i++ {
		for _, from := range []string{commits[i-1], commits[0]} {
			got, err := g.Diff(context.Background(), from, commits[i], []string{"requests/"}, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if want := o.diff(from, commits[i], "requests/"); !cmp.Equal(got, want, cmpopts.EquateEmpty()) {
				t.Fatalf("%.8s..%.8s: %s", from, commits[i], cmp.Diff(want, got, cmpopts.EquateEmpty()))
			}
		}
	}
}
