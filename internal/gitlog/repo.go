package gitlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/elevate-gitops/elevate/internal/fileerr"
	"github.com/elevate-gitops/elevate/internal/outbound"
)

// objectCache bounds the decoded objects go-git keeps: enough for the
// trees of a look-back window, small enough for a 512 MB Lambda.
const objectCache = 64 * cache.MiByte

// Token returns a token for HTTPS git access (a GitHub App installation
// token, minted and renewed by its caller, or a fixed token). It is sent as
// the password of HTTP basic auth and kept nowhere: not in the clone's
// config, not in a process's argv or environment.
type Token func(ctx context.Context) (string, error)

// Repo is a git repository read, and fetched over HTTPS, with go-git: the
// broker needs no git binary (Lambda's provided.al2023, distroless images).
// It is safe for concurrent use (calls are serialised: go-git's storage is
// not).
type Repo struct {
	mu    sync.Mutex
	trees map[plumbing.Hash]tree   // read, by hash (under mu)
	spare [][]byte                 // buffers of trees let go, for the next (under mu)
	cache cache.Object             // go-git's object cache, which also verifies (see object)
	roots map[string]plumbing.Hash // commit -> its tree (under mu)
	repo  *git.Repository
	// url is origin's URL as it was checked when the repository was
	// opened, kept in memory: the clone's config file is not read again,
	// so whoever can write the state directory cannot send the token, or
	// take the branch from, anywhere else.
	url      string
	token    Token
	progress progressLine // the remote's last word during a fetch
	gitDir   string       // where the repository is, for Fork
	storage  *filesystem.Storage
}

// progressLine keeps the last line of a fetch's progress messages.
type progressLine struct {
	mu   sync.Mutex
	last string
}

func (p *progressLine) Write(b []byte) (int, error) {
	lines := strings.FieldsFunc(string(b), func(r rune) bool { return r == '\r' || r == '\n' })
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(lines) > 0 {
		p.last = strings.TrimSpace(lines[len(lines)-1])
	}
	return len(b), nil
}

// Progress is the remote's last progress message during a fetch ("" when
// no fetch is running).
func (g *Repo) Progress() string {
	g.progress.mu.Lock()
	defer g.progress.mu.Unlock()
	return g.progress.last
}

// Open opens the repository at dir (a checkout or a bare clone).
func Open(dir string) (*Repo, error) {
	gitDir := dir
	if fi, err := os.Stat(filepath.Join(dir, ".git")); err == nil && fi.IsDir() {
		gitDir = filepath.Join(dir, ".git")
	}
	if _, err := os.Stat(filepath.Join(gitDir, "HEAD")); err != nil {
		return nil, fmt.Errorf("open the git repository %s: %w", dir, err)
	}
	st, objects := storage(gitDir)
	repo, err := git.Open(st, nil)
	if err != nil {
		return nil, fmt.Errorf("open the git repository %s: %w", dir, err)
	}
	g := &Repo{repo: repo, cache: objects, gitDir: gitDir, storage: st}
	if remote, err := repo.Remote("origin"); err == nil && len(remote.Config().URLs) > 0 {
		g.url = remote.Config().URLs[0]
	}
	return g, nil
}

func storage(gitDir string) (*filesystem.Storage, cache.Object) {
	// Alternates (git clone --shared) name object directories by absolute
	// path: they are read from the root of the file system.
	objects := cache.NewObjectLRU(objectCache)
	return filesystem.NewStorageWithOptions(osfs.New(gitDir), objects, filesystem.Options{KeepDescriptors: true, AlternatesFS: osfs.New("/")}), objects
}

// Clone opens the bare clone of url in dir, creating it (with origin
// set to url, which carries no credentials) when dir holds none yet; Head
// fetches. A clone of another repository in dir is an error. url must be
// https, or http on a loopback host.
func Clone(ctx context.Context, url, dir string, token Token) (*Repo, error) {
	if _, _, err := outbound.ParseURL("ledger URL", url); err != nil {
		return nil, err
	}
	installTransport()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the clone's directory: %w", err)
	}
	var repo *git.Repository
	var err error
	st, objects := storage(dir)
	if _, statErr := os.Stat(filepath.Join(dir, "HEAD")); statErr == nil {
		repo, err = git.Open(st, nil)
		if err != nil {
			return nil, fmt.Errorf("open the clone in %s: %w", dir, err)
		}
		remote, err := repo.Remote("origin")
		if err != nil || len(remote.Config().URLs) != 1 || remote.Config().URLs[0] != url {
			return nil, fmt.Errorf("%s holds a clone of another repository than %s: give another --state-dir or remove it", dir, url)
		}
	} else {
		repo, err = git.Init(st, nil)
		if err != nil {
			return nil, fmt.Errorf("create the clone in %s: %w", dir, err)
		}
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
			return nil, fmt.Errorf("set the clone's origin: %w", err)
		}
	}
	return &Repo{repo: repo, cache: objects, url: url, token: token, gitDir: dir, storage: st}, nil
}

// Fork opens another reader of the same repository, with its own caches,
// to read in parallel with g (go-git's storage is not safe for concurrent
// use): it sees what g has fetched so far. It reads only; Close it.
func (g *Repo) Fork() (*Repo, error) {
	st, objects := storage(g.gitDir)
	repo, err := git.Open(st, nil)
	if err != nil {
		return nil, fmt.Errorf("open the git repository %s again: %w", g.gitDir, err)
	}
	return &Repo{repo: repo, cache: objects, gitDir: g.gitDir, storage: st}, nil
}

// Close lets go of the files g holds open.
func (g *Repo) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.storage.Close()
}

// Refused reports whether the remote refused the clone outright (a wrong
// token, or no such repository): a mistake to fix, unlike a remote failing.
func Refused(err error) bool {
	return errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrRepositoryNotFound)
}

func (g *Repo) auth(ctx context.Context) (transport.AuthMethod, error) {
	if g.token == nil {
		return nil, nil
	}
	tok, err := g.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("get a token for git: %w", err)
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: tok}, nil
}

// Head fetches branch from origin when there is one and returns where it
// is: where origin said it was, never what a ref file in the clone says.
func (g *Repo) Head(ctx context.Context, branch string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.url == "" {
		ref, err := g.repo.Reference(plumbing.NewBranchReferenceName(branch), true)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", branch, err)
		}
		return ref.Hash().String(), nil
	}
	auth, err := g.auth(ctx)
	if err != nil {
		return "", err
	}
	head, err := g.remoteHead(ctx, branch, auth)
	if err != nil || head == "" {
		return "", err
	}
	spec := config.RefSpec("+refs/heads/" + branch + ":refs/remotes/origin/" + branch)
	defer func() {
		g.progress.mu.Lock()
		g.progress.last = ""
		g.progress.mu.Unlock()
	}()
	err = g.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RemoteURL: g.url, RefSpecs: []config.RefSpec{spec}, Auth: auth, Tags: git.NoTags, Progress: &g.progress})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", fmt.Errorf("fetch %s: %w", branch, fetchError(err))
	}
	if _, err := g.commit(head); err != nil {
		return "", fmt.Errorf("fetch %s: %.12s is not in the clone after the fetch (the branch moved meanwhile?): %w", branch, head, err)
	}
	return head, nil
}

// fetchError says what to do about the usual failures; go-git's errors
// never carry the token.
func fetchError(err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		// go-git appends the server's answer; the sentinel says it all.
		return fmt.Errorf("%w: the token was refused; check --github-token or the GitHub App's Contents permission", transport.ErrAuthenticationRequired)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%w: check the --ledger URL and that the token can read it", transport.ErrRepositoryNotFound)
	}
	return err
}

// RemoteHead asks origin where branch is, in one round trip; "" without
// a remote.
func (g *Repo) RemoteHead(ctx context.Context, branch string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.url == "" {
		return "", nil
	}
	auth, err := g.auth(ctx)
	if err != nil {
		return "", err
	}
	return g.remoteHead(ctx, branch, auth)
}

// remoteHead lists origin's branches at the URL kept in memory.
func (g *Repo) remoteHead(ctx context.Context, branch string, auth transport.AuthMethod) (string, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{g.url}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return "", fmt.Errorf("list origin's branches: %w", fetchError(err))
	}
	want := plumbing.NewBranchReferenceName(branch)
	for _, r := range refs {
		if r.Name() == want {
			return r.Hash().String(), nil
		}
	}
	return "", nil
}

// Ref returns the commit ref (refs/heads/main, refs/remotes/origin/main)
// points at, "" when there is none.
func (g *Repo) Ref(_ context.Context, name string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ref, err := g.repo.Reference(plumbing.ReferenceName(name), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ref.Hash().String(), nil
}

func (g *Repo) commit(sha string) (*object.Commit, error) {
	if !plumbing.IsHash(sha) {
		return nil, fmt.Errorf("%q is not a commit SHA: %w", sha, fileerr.ErrNotExist)
	}
	c, err := g.commitObject(plumbing.NewHash(sha))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("commit %.12s: %w", sha, fileerr.ErrNotExist)
	}
	return c, err
}

// commitObject decodes the commit h, checked against its hash.
func (g *Repo) commitObject(h plumbing.Hash) (*object.Commit, error) {
	obj, err := g.object(plumbing.CommitObject, h)
	if err != nil {
		return nil, err
	}
	return object.DecodeCommit(g.repo.Storer, obj)
}

// ErrCorrupt says an object's content does not hash to its name.
var ErrCorrupt = errors.New("the clone holds an object whose content does not match its name (corrupt, or tampered with)")

// object reads object h of type typ and checks that its content hashes to
// h: git's names are only as good as that check, and a clone in a
// directory someone else can write may hold anything under any name.
// go-git hashes what it resolves from a delta to key its cache by, and a
// MemoryObject's hash is always computed from its content, so an object
// found there under h needs no second hash; anything else is hashed here.
func (g *Repo) object(typ plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	obj, err := g.repo.Storer.EncodedObject(typ, h)
	if err != nil {
		return nil, err
	}
	if verified(obj, h) {
		return obj, nil
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if g.cache != nil {
		// Reading a packed object resolved it into the cache.
		if c, ok := g.cache.Get(h); ok && c.Type() == typ && verified(c, h) {
			return c, nil
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, obj.Size()+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != obj.Size() || plumbing.ComputeHash(typ, data) != h {
		return nil, fmt.Errorf("%s %s: %w", typ, h, ErrCorrupt)
	}
	mo := &plumbing.MemoryObject{}
	mo.SetType(typ)
	mo.SetSize(int64(len(data)))
	if _, err := mo.Write(data); err != nil {
		return nil, err
	}
	return mo, nil
}

// verified reports whether obj is a MemoryObject whose content hashes to
// h (its Hash is computed from its content, once).
func verified(obj plumbing.EncodedObject, h plumbing.Hash) bool {
	mo, ok := obj.(*plumbing.MemoryObject)
	return ok && mo.Hash() == h
}

// FirstParents walks head's first-parent chain down to (not into) a commit
// of exclude, newest first, until fn returns false. Exclusions are met on
// the chain: on a default branch the older heads and the trust anchor are.
func (g *Repo) FirstParents(ctx context.Context, head string, exclude []string, fn func(sha string, at time.Time) bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.walk(ctx, head, exclude, func(c *object.Commit) (bool, error) {
		return fn(c.Hash.String(), c.Committer.When.UTC()), nil
	})
}

func (g *Repo) walk(ctx context.Context, head string, exclude []string, fn func(*object.Commit) (bool, error)) error {
	c, err := g.commit(head)
	if err != nil {
		return err
	}
	for {
		if slices.Contains(exclude, c.Hash.String()) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := fn(c)
		if err != nil || !more || c.NumParents() == 0 {
			return err
		}
		if c, err = g.commitObject(c.ParentHashes[0]); err != nil {
			return fmt.Errorf("read the parent of %.12s: %w", c.Hash, err)
		}
	}
}

// Diff lists the changes under paths from the tree of commit from to the
// tree of commit to, sorted by path: the tree comparison every move of a
// branch is judged by, whatever the commits' parents claim. from (or to)
// "" or NoCommit is an empty tree. More than max changes is ErrTooMany.
func (g *Repo) Diff(ctx context.Context, from, to string, paths []string, max int) ([]Change, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.trim()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := g.treeOf(from)
	if err != nil {
		return nil, err
	}
	b, err := g.treeOf(to)
	if err != nil {
		return nil, err
	}
	if a.hash == b.hash {
		return nil, nil
	}
	var out []Change
	if err := g.diffTrees(a, b, "", pathMatcher(paths), &out); err != nil {
		return nil, fmt.Errorf("compare %.12s with %.12s: %w", from, to, err)
	}
	if len(out) > max {
		return nil, fmt.Errorf("compare %.12s with %.12s: %w (over %d)", from, to, ErrTooMany, max)
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// treeOf is the tree of commit sha, empty for no commit.
func (g *Repo) treeOf(sha string) (tree, error) {
	if sha == "" || sha == NoCommit {
		return tree{}, nil
	}
	if h, ok := g.roots[sha]; ok {
		return g.tree(h)
	}
	h, err := g.commitTree(sha)
	if err != nil {
		return tree{}, err
	}
	if len(g.roots) >= maxTrees {
		clear(g.roots)
	}
	if g.roots == nil {
		g.roots = map[string]plumbing.Hash{}
	}
	g.roots[sha] = h
	return g.tree(h)
}

// commitTree is the tree of commit sha, read from the commit's first line
// (a commit object starts "tree <hex>\n"): nothing else of it is needed
// to compare two commits' trees.
func (g *Repo) commitTree(sha string) (plumbing.Hash, error) {
	if !plumbing.IsHash(sha) {
		return plumbing.ZeroHash, fmt.Errorf("%q is not a commit SHA: %w", sha, fileerr.ErrNotExist)
	}
	obj, err := g.object(plumbing.CommitObject, plumbing.NewHash(sha))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return plumbing.ZeroHash, fmt.Errorf("commit %.12s: %w", sha, fileerr.ErrNotExist)
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	r, err := obj.Reader()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer r.Close()
	var line [len("tree ") + 40 + 1]byte
	if _, err := io.ReadFull(r, line[:]); err != nil || string(line[:5]) != "tree " || line[45] != '\n' || !plumbing.IsHash(string(line[5:45])) {
		return plumbing.ZeroHash, fmt.Errorf("commit %.12s does not start with its tree: %w", sha, ErrCorrupt)
	}
	return plumbing.NewHash(string(line[5:45])), nil
}

// Log lists the first-parent commits of q.Head that change q.Paths, newest
// first, with each change under q.Paths and its git modes, as Repo.Log does.
func (g *Repo) Log(ctx context.Context, q Query) ([]Commit, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := pathMatcher(q.Paths)
	var out []Commit
	changes := 0
	err := g.walk(ctx, q.Head, q.Exclude, func(c *object.Commit) (bool, error) {
		g.trim()
		cur, err := g.tree(c.TreeHash)
		if err != nil {
			return false, err
		}
		var parentTree tree
		parent := ""
		if c.NumParents() > 0 {
			p, err := g.commitObject(c.ParentHashes[0])
			if err != nil {
				return false, err
			}
			if parentTree, err = g.tree(p.TreeHash); err != nil {
				return false, err
			}
			parent = p.Hash.String()
		}
		var found []Change
		if err := g.diffTrees(parentTree, cur, "", m, &found); err != nil {
			return false, err
		}
		if len(found) == 0 {
			return true, nil
		}
		if changes += len(found); changes > q.Max {
			return false, ErrTooMany
		}
		slices.SortFunc(found, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
		out = append(out, Commit{SHA: c.Hash.String(), Parent: parent, At: c.Committer.When.UTC(), Changes: found})
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// matcher tells which paths of a tree diff matter: files under a prefix
// ("requests/") or named ("eligibility.yaml"), and trees that may hold them.
type matcher struct{ paths []string }

func pathMatcher(paths []string) matcher { return matcher{paths} }

// wants reports whether the file at p matters.
func (m matcher) wants(p string) bool {
	for _, w := range m.paths {
		if strings.HasSuffix(w, "/") && strings.HasPrefix(p, w) || p == w || strings.HasPrefix(p, w+"/") {
			return true
		}
	}
	return false
}

// descends reports whether the tree at dir may hold a file that matters.
func (m matcher) descends(dir string) bool {
	for _, w := range m.paths {
		if strings.HasPrefix(w, dir+"/") || strings.HasPrefix(dir+"/", strings.TrimSuffix(w, "/")+"/") {
			return true
		}
	}
	return false
}

// diffTrees appends the changes from a to b (either empty) under dir.
// Both trees' entries are in git's order, so they are walked side by side;
// entries with equal hashes and modes are skipped without reading them, so
// a move costs the trees on the paths that matter and changed.
func (g *Repo) diffTrees(a, b tree, dir string, m matcher, out *[]Change) error {
	var o, c treeEntry
	var err error
	i, j := 0, 0
	haveO, haveC := false, false
	// Two versions of a tree mostly share a prefix and a suffix of their
	// bytes: entries in the shared prefix are equal and skipped by their
	// length alone, and once both sides have the same shared suffix left,
	// nothing more differs.
	prefix, suffix := sharedPrefix(a.data, b.data), sharedSuffix(a.data, b.data)
	for {
		if !haveO && !haveC {
			if len(a.data)-i == len(b.data)-j && len(a.data)-i <= suffix {
				return nil
			}
			if i == j && i < prefix {
				if end, ok := entryEnd(a.data, i); ok && end <= prefix {
					i, j = end, end
					continue
				}
			}
		}
		if !haveO && i < len(a.data) {
			if o, i, err = a.next(i); err != nil {
				return err
			}
			haveO = true
		}
		if !haveC && j < len(b.data) {
			if c, j, err = b.next(j); err != nil {
				return err
			}
			haveC = true
		}
		if !haveO && !haveC {
			return nil
		}
		var po, pc *treeEntry
		switch {
		case !haveC:
			po = &o
		case !haveO:
			pc = &c
		default:
			switch order := compareEntries(&o, &c); {
			case order < 0:
				po = &o
			case order > 0:
				pc = &c
			default:
				po, pc = &o, &c
			}
		}
		if po != nil {
			haveO = false
		}
		if pc != nil {
			haveC = false
		}
		if po != nil && pc != nil && po.hash == pc.hash && po.mode == pc.mode {
			continue
		}
		var name []byte
		if po != nil {
			name = po.name
		} else {
			name = pc.name
		}
		p := string(name)
		if dir != "" {
			p = dir + "/" + p
		}
		oTree, cTree := po != nil && po.mode == filemode.Dir, pc != nil && pc.mode == filemode.Dir
		if (oTree || cTree) && m.descends(p) {
			var ot, ct tree
			if oTree {
				if ot, err = g.tree(po.hash); err != nil {
					return err
				}
			}
			if cTree {
				if ct, err = g.tree(pc.hash); err != nil {
					return err
				}
			}
			if err := g.diffTrees(ot, ct, p, m, out); err != nil {
				return err
			}
		}
		if !m.wants(p) || oTree || cTree {
			continue
		}
		switch {
		case po != nil && pc != nil:
			status := byte('M')
			if kind(po.mode) != kind(pc.mode) {
				status = 'T'
			}
			*out = append(*out, Change{Path: p, Status: status, Mode: modeString(pc.mode), Blob: pc.hash.String(), OldBlob: po.hash.String()})
		case pc != nil:
			*out = append(*out, Change{Path: p, Status: 'A', Mode: modeString(pc.mode), Blob: pc.hash.String()})
		default:
			*out = append(*out, Change{Path: p, Status: 'D', OldBlob: po.hash.String()})
		}
	}
}

// maxTrees bounds the trees kept: a move's trees are the next move's, so
// each is read once.
const maxTrees = 64

// tree reads the tree h, remembering it until the next trim.
func (g *Repo) tree(h plumbing.Hash) (tree, error) {
	if t, ok := g.trees[h]; ok {
		return t, nil
	}
	obj, err := g.object(plumbing.TreeObject, h)
	if err != nil {
		return tree{}, err
	}
	r, err := obj.Reader()
	if err != nil {
		return tree{}, err
	}
	defer r.Close()
	var buf []byte
	if i, _ := slices.BinarySearchFunc(g.spare, obj.Size(), func(b []byte, n int64) int { return cmp.Compare(int64(cap(b)), n) }); i < len(g.spare) {
		buf, g.spare = g.spare[i][:obj.Size()], slices.Delete(g.spare, i, i+1)
	} else {
		buf = make([]byte, obj.Size())
	}
	if _, err := io.ReadFull(r, buf); err != nil {
		return tree{}, err
	}
	t := tree{hash: h, data: buf}
	if g.trees == nil {
		g.trees = map[plumbing.Hash]tree{}
	}
	g.trees[h] = t
	return t, nil
}

// trim lets the trees read go once there are maxTrees, keeping their
// buffers for the next: a month folder's tree is read at every merge into
// it. It is called between reads, never while a tree is in use.
func (g *Repo) trim() {
	if len(g.trees) < maxTrees {
		return
	}
	g.spare = g.spare[:0]
	for _, t := range g.trees {
		g.spare = append(g.spare, t.data)
	}
	slices.SortFunc(g.spare, func(a, b []byte) int { return cap(a) - cap(b) })
	clear(g.trees)
}

// kind groups modes as git's type changes do: a regular file (either mode),
// a symlink, a submodule.
func kind(m filemode.FileMode) filemode.FileMode {
	if m == filemode.Executable {
		return filemode.Regular
	}
	return m
}

func modeString(m filemode.FileMode) string { return fmt.Sprintf("%06o", uint32(m)) }

// FileAt reads path at commit: a regular file of at most maxBytes.
func (g *Repo) FileAt(_ context.Context, path, commit string, maxBytes int64) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.trim()
	tree, err := g.treeOf(commit)
	if err != nil {
		return nil, err
	}
	e, err := g.entry(tree, path)
	if errors.Is(err, fileerr.ErrNotExist) {
		return nil, fmt.Errorf("%s at %.12s: %w", path, commit, fileerr.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s at %.12s: %w", path, commit, err)
	}
	if e.mode != filemode.Regular && e.mode != filemode.Executable {
		return nil, fmt.Errorf("%s at %.12s (mode %s) %w", path, commit, modeString(e.mode), fileerr.ErrNotRegular)
	}
	b, err := g.blob(e.hash, maxBytes)
	switch {
	case err != nil:
		return nil, err
	case b.Data == nil:
		return nil, fmt.Errorf("%s at %.12s: %d bytes %w of %d", path, commit, b.Size, fileerr.ErrTooLarge, maxBytes)
	}
	return b.Data, nil
}

// entry finds path in tree, reading each tree on the way through tree (so
// each is checked against its hash).
func (g *Repo) entry(t tree, path string) (treeEntry, error) {
	dir, rest, more := strings.Cut(path, "/")
	e, ok, err := t.find(dir)
	switch {
	case err != nil:
		return treeEntry{}, err
	case !ok:
		return treeEntry{}, fileerr.ErrNotExist
	case !more:
		return e, nil
	case e.mode != filemode.Dir:
		return treeEntry{}, fileerr.ErrNotExist
	}
	sub, err := g.tree(e.hash)
	if err != nil {
		return treeEntry{}, err
	}
	return g.entry(sub, rest)
}

// Blobs reads blobs by SHA; one over maxBytes has nil Data.
func (g *Repo) Blobs(_ context.Context, shas []string, maxBytes int64) ([]Blob, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Blob, len(shas))
	for i, sha := range shas {
		if !plumbing.IsHash(sha) {
			out[i].Missing = true
			continue
		}
		b, err := g.blob(plumbing.NewHash(sha), maxBytes)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			out[i].Missing = true
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// blob reads blob h, checked against its hash; one over maxBytes is not
// read (its Data is nil: never used).
func (g *Repo) blob(h plumbing.Hash, maxBytes int64) (Blob, error) {
	obj, err := g.repo.Storer.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return Blob{}, err
	}
	b := Blob{Size: obj.Size()}
	if b.Size > maxBytes {
		return b, nil
	}
	r, err := obj.Reader()
	if err != nil {
		return Blob{}, err
	}
	defer r.Close()
	if b.Data, err = io.ReadAll(io.LimitReader(r, maxBytes+1)); err != nil {
		return Blob{}, err
	}
	if int64(len(b.Data)) != b.Size || plumbing.ComputeHash(plumbing.BlobObject, b.Data) != h {
		return Blob{}, fmt.Errorf("blob %s: %w", h, ErrCorrupt)
	}
	return b, nil
}

// Root returns the first commit of the first-parent chain of commit.
func (g *Repo) Root(ctx context.Context, commit string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	root := ""
	err := g.walk(ctx, commit, nil, func(c *object.Commit) (bool, error) {
		root = c.Hash.String()
		return true, nil
	})
	return root, err
}
