package githubfake

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/go-github/v60/github"
)

// contentsLimit is the size above which GitHub's contents API omits the
// content (encoding "none") and the blob API must be used.
const contentsLimit = 1 << 20

// repoState is the one repository the fake serves.
type repoState struct {
	owner, name   string // "" until Repo is called
	id            int64
	defaultBranch string
	commits       map[string]*commit // by SHA
	branches      map[string]string  // branch name -> commit SHA
	blobs         map[string][]byte  // git blob SHA -> content
	pulls         map[int]*pull      // by number
	statuses      map[string][]*github.RepoStatus
	comments      []*comment // in creation order
	activity      []activity // oldest first
	ownerID       int64
	others        map[string]*github.Repository // other repositories GET /repos/{owner}/{repo} answers for, by lower-case full name
}

// commit is a full tree snapshot.
type commit struct {
	sha, parent, message string
	files                map[string][]byte // path -> content
}

func newRepoState() *repoState {
	return &repoState{
		id:            1296269,
		ownerID:       1,
		others:        map[string]*github.Repository{},
		defaultBranch: "main",
		commits:       map[string]*commit{},
		branches:      map[string]string{},
		blobs:         map[string][]byte{},
		pulls:         map[int]*pull{},
		statuses:      map[string][]*github.RepoStatus{},
	}
}

// Repo sets the repository the fake serves. Requests naming any other
// repository fail the test.
func (f *Fake) Repo(owner, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repo.owner, f.repo.name = owner, name
}

// DefaultBranch sets the repository's default branch ("main" unless set),
// which the contents API reads when no ref is given.
func (f *Fake) DefaultBranch(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repo.defaultBranch = name
}

// isRepo reports whether owner/name is the repository set with Repo
// (GitHub compares them case-insensitively).
func (f *Fake) isRepo(owner, name string) bool {
	return f.repo.owner != "" && strings.EqualFold(owner, f.repo.owner) && strings.EqualFold(name, f.repo.name)
}

// Commit stores a full tree snapshot at sha: files maps paths (no leading
// slash) to contents. The contents API serves them with ?ref=sha.
func (f *Fake) Commit(sha string, files map[string][]byte) {
	f.t.Helper()
	if sha == "" {
		f.t.Fatalf("githubfake: Commit: empty sha")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.storeCommit(&commit{sha: sha, files: maps.Clone(files)})
}

// storeCommit records c and its blobs.
func (f *Fake) storeCommit(c *commit) {
	if c.files == nil {
		c.files = map[string][]byte{}
	}
	for p, data := range c.files {
		data = slices.Clone(data)
		c.files[p] = data
		f.repo.blobs[blobSHA(data)] = data
	}
	f.repo.commits[c.sha] = c
}

// Branch points branch name at the commit sha (stored with Commit).
func (f *Fake) Branch(name, sha string) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.repo.commits[sha]; !ok {
		f.t.Fatalf("githubfake: Branch(%q, %q): unknown commit; call Commit first", name, sha)
		return
	}
	f.moveBranch(name, sha)
}

// moveBranch points name at sha and lets pull requests opened through the
// API from that branch follow it.
func (f *Fake) moveBranch(name, sha string) {
	f.repo.branches[name] = sha
	f.refreshPulls(name)
}

// BranchSHA returns the commit branch name points at.
func (f *Fake) BranchSHA(name string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sha, ok := f.repo.branches[name]
	return sha, ok
}

// File returns the content of path at ref (a branch or commit SHA).
func (f *Fake) File(ref, path string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sha, ok := f.resolve(ref)
	if !ok {
		return nil, false
	}
	data, ok := f.repo.commits[sha].files[path]
	return slices.Clone(data), ok
}

// resolve turns a ref (branch, refs/heads/branch, full or abbreviated commit
// SHA; "" for the default branch) into a stored commit SHA.
func (f *Fake) resolve(ref string) (string, bool) {
	if ref == "" {
		ref = f.repo.defaultBranch
	}
	if sha, ok := f.repo.branches[strings.TrimPrefix(ref, "refs/heads/")]; ok {
		return sha, true
	}
	if _, ok := f.repo.commits[ref]; ok {
		return ref, true
	}
	if len(ref) >= 7 {
		var found string
		for sha := range f.repo.commits {
			if strings.HasPrefix(sha, ref) {
				if found != "" {
					return "", false // ambiguous
				}
				found = sha
			}
		}
		return found, found != ""
	}
	return "", false
}

// blobSHA is git's object id of a blob: sha1("blob <len>\x00" + data).
func blobSHA(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// newCommitSHA returns a fresh, unique commit SHA.
func (f *Fake) newCommitSHA(parent, message string) string {
	sum := sha1.Sum(fmt.Appendf(nil, "commit %s\x00%s\x00%d", parent, message, f.id()))
	return hex.EncodeToString(sum[:])
}

// encodeBase64 encodes like GitHub: base64 in lines of 60 characters, each
// ending in a newline.
func encodeBase64(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 60 {
		b.WriteString(enc[:60])
		b.WriteByte('\n')
		enc = enc[60:]
	}
	if enc != "" {
		b.WriteString(enc)
		b.WriteByte('\n')
	}
	return b.String()
}

// apiURL returns an absolute API URL on the fake for the repository.
func (f *Fake) apiURL(format string, args ...any) string {
	return f.URL + "/repos/" + f.repo.owner + "/" + f.repo.name + fmt.Sprintf(format, args...)
}

// htmlURL returns an absolute "web" URL on the fake for the repository.
func (f *Fake) htmlURL(format string, args ...any) string {
	return f.URL + "/" + f.repo.owner + "/" + f.repo.name + fmt.Sprintf(format, args...)
}

// escapePath escapes a repository path for a URL.
func escapePath(p string) string { return (&url.URL{Path: p}).EscapedPath() }

// fileContent describes a file the way the contents API does.
func (f *Fake) fileContent(ref, path string, data []byte, withContent bool) *github.RepositoryContent {
	sha := blobSHA(data)
	rc := &github.RepositoryContent{
		Type:    github.String("file"),
		Size:    github.Int(len(data)),
		Name:    github.String(path[strings.LastIndex(path, "/")+1:]),
		Path:    github.String(path),
		SHA:     github.String(sha),
		URL:     github.String(f.apiURL("/contents/%s?ref=%s", escapePath(path), url.QueryEscape(ref))),
		GitURL:  github.String(f.apiURL("/git/blobs/%s", sha)),
		HTMLURL: github.String(f.htmlURL("/blob/%s/%s", ref, escapePath(path))),
	}
	if withContent {
		if len(data) > contentsLimit {
			rc.Content, rc.Encoding = github.String(""), github.String("none")
		} else {
			rc.Content, rc.Encoding = github.String(encodeBase64(data)), github.String("base64")
		}
	}
	return rc
}

// dirEntries lists the directory dir ("" for the root) of files, or nil if
// there is no such directory.
func (f *Fake) dirEntries(ref, dir string, files map[string][]byte) []*github.RepositoryContent {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	subdirs := map[string]*strings.Builder{} // what a directory's tree SHA is computed over
	var entries []*github.RepositoryContent
	for _, p := range slices.Sorted(maps.Keys(files)) {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(rest, "/")
		if !isDir {
			entries = append(entries, f.fileContent(ref, p, files[p], false))
			continue
		}
		h, seen := subdirs[name]
		if !seen {
			h = &strings.Builder{}
			subdirs[name] = h
			entries = append(entries, &github.RepositoryContent{
				Type: github.String("dir"),
				Size: github.Int(0),
				Name: github.String(name),
				Path: github.String(prefix + name),
			})
		}
		fmt.Fprintf(h, "%s %s\n", p, blobSHA(files[p]))
	}
	if len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if e.GetType() != "dir" {
			continue
		}
		sum := sha1.Sum([]byte("tree\x00" + subdirs[e.GetName()].String()))
		sha := hex.EncodeToString(sum[:])
		e.SHA = github.String(sha)
		e.URL = github.String(f.apiURL("/contents/%s?ref=%s", escapePath(e.GetPath()), url.QueryEscape(ref)))
		e.GitURL = github.String(f.apiURL("/git/trees/%s", sha))
		e.HTMLURL = github.String(f.htmlURL("/tree/%s/%s", ref, escapePath(e.GetPath())))
	}
	slices.SortFunc(entries, func(a, b *github.RepositoryContent) int { return strings.Compare(a.GetName(), b.GetName()) })
	return entries
}

// getContents serves GET /repos/{owner}/{repo}/contents/{path...}.
func (f *Fake) getContents(c *call) {
	ref := c.r.URL.Query().Get("ref")
	sha, ok := f.resolve(ref)
	if !ok {
		c.error(http.StatusNotFound, "No commit found for the ref "+ref)
		return
	}
	if ref == "" {
		ref = f.repo.defaultBranch
	}
	files := f.repo.commits[sha].files
	path := strings.Trim(c.r.PathValue("path"), "/")
	if data, ok := files[path]; ok {
		if c.wantsRaw() {
			c.raw(data)
			return
		}
		c.json(http.StatusOK, f.fileContent(ref, path, data, true))
		return
	}
	if entries := f.dirEntries(ref, path, files); entries != nil {
		c.json(http.StatusOK, entries)
		return
	}
	c.notFound()
}

// getBlob serves GET /repos/{owner}/{repo}/git/blobs/{file_sha}.
func (f *Fake) getBlob(c *call) {
	sha := c.r.PathValue("file_sha")
	data, ok := f.repo.blobs[sha]
	if !ok {
		c.notFound()
		return
	}
	if c.wantsRaw() {
		c.raw(data)
		return
	}
	c.json(http.StatusOK, &github.Blob{
		SHA:      github.String(sha),
		Size:     github.Int(len(data)),
		URL:      github.String(f.apiURL("/git/blobs/%s", sha)),
		Content:  github.String(encodeBase64(data)),
		Encoding: github.String("base64"),
	})
}

// fileChange is the body of PUT and DELETE contents, as GitHub documents it.
type fileChange struct {
	Message *string `json:"message"`
	Content *string `json:"content"` // base64
	SHA     *string `json:"sha"`
	Branch  *string `json:"branch"`
}

// putContents serves PUT /repos/{owner}/{repo}/contents/{path...}: it
// creates or updates one file with a new commit on a branch.
func (f *Fake) putContents(c *call) {
	var body fileChange
	if !c.decode(&body) {
		return
	}
	switch {
	case body.Message == nil:
		c.invalid("Commit", "message", "missing_field", "")
		return
	case body.Content == nil:
		c.invalid("Commit", "content", "missing_field", "")
		return
	}
	data, err := base64.StdEncoding.DecodeString(*body.Content)
	if err != nil {
		c.error(http.StatusUnprocessableEntity, "content is not valid Base64")
		return
	}
	path := strings.Trim(c.r.PathValue("path"), "/")
	branch, parent, ok := f.branchTip(c, body.Branch)
	if !ok {
		return
	}
	old, exists := f.repo.commits[parent].files[path]
	if exists && !f.checkFileSHA(c, path, old, body.SHA) {
		return
	}
	files := maps.Clone(f.repo.commits[parent].files)
	files[path] = data
	cm := f.newCommit(parent, *body.Message, files)
	f.moveBranch(branch, cm.sha)
	status := http.StatusCreated
	if exists {
		status = http.StatusOK
	}
	c.json(status, &github.RepositoryContentResponse{
		Content: f.fileContent(branch, path, data, false),
		Commit:  f.commitJSON(cm),
	})
}

// deleteContents serves DELETE /repos/{owner}/{repo}/contents/{path...}.
func (f *Fake) deleteContents(c *call) {
	var body fileChange
	if !c.decode(&body) {
		return
	}
	if body.Message == nil {
		c.invalid("Commit", "message", "missing_field", "")
		return
	}
	path := strings.Trim(c.r.PathValue("path"), "/")
	branch, parent, ok := f.branchTip(c, body.Branch)
	if !ok {
		return
	}
	old, exists := f.repo.commits[parent].files[path]
	if !exists {
		c.notFound()
		return
	}
	if !f.checkFileSHA(c, path, old, body.SHA) {
		return
	}
	files := maps.Clone(f.repo.commits[parent].files)
	delete(files, path)
	cm := f.newCommit(parent, *body.Message, files)
	f.moveBranch(branch, cm.sha)
	c.json(http.StatusOK, map[string]any{"content": nil, "commit": f.commitJSON(cm)})
}

// branchTip resolves the branch a write goes to (the default branch if
// none), answering 404 if it does not exist.
func (f *Fake) branchTip(c *call, branch *string) (name, sha string, ok bool) {
	name = f.repo.defaultBranch
	if branch != nil && *branch != "" {
		name = strings.TrimPrefix(*branch, "refs/heads/")
	}
	sha, ok = f.repo.branches[name]
	if !ok {
		c.error(http.StatusNotFound, "Branch "+name+" not found")
	}
	return name, sha, ok
}

// checkFileSHA enforces GitHub's rule that changing an existing file names
// its current blob SHA.
func (f *Fake) checkFileSHA(c *call, path string, old []byte, sha *string) bool {
	if sha == nil || *sha == "" {
		c.error(http.StatusUnprocessableEntity, "Invalid request.\n\n\"sha\" wasn't supplied.")
		return false
	}
	if cur := blobSHA(old); *sha != cur {
		c.error(http.StatusConflict, fmt.Sprintf("%s does not match %s", path, *sha))
		return false
	}
	return true
}

// newCommit stores a commit of files on top of parent.
func (f *Fake) newCommit(parent, message string, files map[string][]byte) *commit {
	cm := &commit{sha: f.newCommitSHA(parent, message), parent: parent, message: message, files: files}
	f.storeCommit(cm)
	return cm
}

// commitJSON describes a commit as the Git database API does.
func (f *Fake) commitJSON(cm *commit) github.Commit {
	gc := github.Commit{
		SHA:     github.String(cm.sha),
		Message: github.String(cm.message),
		URL:     github.String(f.apiURL("/git/commits/%s", cm.sha)),
		HTMLURL: github.String(f.htmlURL("/commit/%s", cm.sha)),
	}
	if cm.parent != "" {
		gc.Parents = []*github.Commit{{
			SHA: github.String(cm.parent),
			URL: github.String(f.apiURL("/git/commits/%s", cm.parent)),
		}}
	}
	return gc
}

// reference describes a branch as the Git refs API does.
func (f *Fake) reference(branch, sha string) *github.Reference {
	return &github.Reference{
		Ref: github.String("refs/heads/" + branch),
		URL: github.String(f.apiURL("/git/refs/heads/%s", branch)),
		Object: &github.GitObject{
			Type: github.String("commit"),
			SHA:  github.String(sha),
			URL:  github.String(f.apiURL("/git/commits/%s", sha)),
		},
	}
}

// getRef serves GET /repos/{owner}/{repo}/git/ref/{ref...} for branches
// ("heads/<name>").
func (f *Fake) getRef(c *call) {
	branch, ok := strings.CutPrefix(c.r.PathValue("ref"), "heads/")
	sha, found := f.repo.branches[branch]
	if !ok || !found {
		c.notFound()
		return
	}
	c.json(http.StatusOK, f.reference(branch, sha))
}

// createRef serves POST /repos/{owner}/{repo}/git/refs for branches.
func (f *Fake) createRef(c *call) {
	var body struct {
		Ref *string `json:"ref"`
		SHA *string `json:"sha"`
	}
	if !c.decode(&body) {
		return
	}
	if body.Ref == nil || body.SHA == nil {
		c.invalid("Reference", "ref", "missing_field", "")
		return
	}
	branch, ok := strings.CutPrefix(*body.Ref, "refs/heads/")
	if !ok || branch == "" {
		c.error(http.StatusUnprocessableEntity, "Reference name is invalid (githubfake creates only refs/heads/*)")
		return
	}
	if _, ok := f.repo.commits[*body.SHA]; !ok {
		c.error(http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	if _, ok := f.repo.branches[branch]; ok {
		c.error(http.StatusUnprocessableEntity, "Reference already exists")
		return
	}
	f.moveBranch(branch, *body.SHA)
	c.json(http.StatusCreated, f.reference(branch, *body.SHA))
}

// OtherRepository makes GET /repos/{owner}/{repo} answer for another
// repository (fullName "owner/name") with the given ids: the broker
// resolves --oidc-repositories that way.
func (f *Fake) OtherRepository(fullName string, id, ownerID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	owner, name, _ := strings.Cut(fullName, "/")
	f.repo.others[strings.ToLower(fullName)] = &github.Repository{
		ID: github.Int64(id), Name: github.String(name), FullName: github.String(fullName),
		Owner: &github.User{Login: github.String(owner), ID: github.Int64(ownerID), Type: github.String("Organization")},
	}
}

// getRepo serves GET /repos/{owner}/{repo}.
func (f *Fake) getRepo(c *call) {
	if !f.isRepo(c.r.PathValue("owner"), c.r.PathValue("repo")) {
		full := c.r.PathValue("owner") + "/" + c.r.PathValue("repo")
		if r, ok := f.repo.others[strings.ToLower(full)]; ok && f.seenByInstallation(c.r, full) {
			c.json(http.StatusOK, r)
			return
		}
		c.notFound()
		return
	}
	c.json(http.StatusOK, &github.Repository{
		ID:            github.Int64(f.repo.id),
		Name:          github.String(f.repo.name),
		FullName:      github.String(f.repo.owner + "/" + f.repo.name),
		Owner:         &github.User{Login: github.String(f.repo.owner), ID: github.Int64(f.repo.ownerID), Type: github.String("Organization")},
		Private:       github.Bool(true),
		Visibility:    github.String("private"),
		DefaultBranch: github.String(f.repo.defaultBranch),
		URL:           github.String(f.apiURL("")),
		HTMLURL:       github.String(f.htmlURL("")),
	})
}
