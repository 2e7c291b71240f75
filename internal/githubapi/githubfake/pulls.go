package githubfake

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-github/v60/github"
)

// maxPullFiles is GitHub's cap on the files listed for a pull request.
const maxPullFiles = 3000

// pull is one pull request with what the API lists about it.
type pull struct {
	pr      *github.PullRequest
	files   []*github.CommitFile
	reviews []*github.PullRequestReview
	tracked bool     // opened through the API: head and files follow the head branch
	commits []string // other commits GitHub associates with it (a rebase merge's)
}

// AddPull adds pull request pr (Number required), or replaces the one with
// its number, with the files GET pulls/{number}/files lists. Reviews set
// earlier are kept. Fields left nil that GitHub always sends (id, state, url,
// html_url) are filled in.
func (f *Fake) AddPull(pr *github.PullRequest, files []*github.CommitFile) {
	f.t.Helper()
	if pr == nil || pr.GetNumber() <= 0 {
		f.t.Fatalf("githubfake: AddPull: pull request needs a positive Number")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := clone(pr)
	if p.ID == nil {
		p.ID = github.Int64(f.id())
	}
	if p.State == nil {
		p.State = github.String("open")
	}
	n := p.GetNumber()
	old := f.repo.pulls[n]
	np := &pull{pr: p, files: cloneAll(files)}
	if old != nil {
		np.reviews, np.commits = old.reviews, old.commits
	}
	f.repo.pulls[n] = np
}

// Pull returns a copy of pull request number as the API serves it, or nil.
func (f *Fake) Pull(number int) *github.PullRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.repo.pulls[number]
	if !ok {
		return nil
	}
	return f.pullJSON(p)
}

// PullFiles returns a copy of the files of pull request number.
func (f *Fake) PullFiles(number int) []*github.CommitFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.repo.pulls[number]
	if !ok {
		return nil
	}
	return cloneAll(p.files)
}

// SetReviews replaces the reviews of pull request number (added with
// AddPull), in the order GitHub lists them: oldest first.
func (f *Fake) SetReviews(number int, reviews []*github.PullRequestReview) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.mustPull("SetReviews", number)
	if p == nil {
		return
	}
	p.reviews = nil
	for _, r := range reviews {
		p.reviews = append(p.reviews, f.newReview(r))
	}
}

// mustPull is pull request number for a test helper named what; a missing
// one fails the test. f.mu is held.
func (f *Fake) mustPull(what string, number int) *pull {
	p, ok := f.repo.pulls[number]
	if !ok {
		f.t.Fatalf("githubfake: %s(%d): no such pull request; call AddPull first", what, number)
		return nil
	}
	return p
}

// AddReview appends one review to pull request number.
func (f *Fake) AddReview(number int, review *github.PullRequestReview) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.mustPull("AddReview", number)
	if p == nil {
		return
	}
	p.reviews = append(p.reviews, f.newReview(review))
}

// newReview copies r, filling id and submitted_at when nil.
func (f *Fake) newReview(r *github.PullRequestReview) *github.PullRequestReview {
	r = clone(r)
	if r.ID == nil {
		r.ID = github.Int64(f.id())
	}
	if r.SubmittedAt == nil {
		r.SubmittedAt = f.timestamp()
	}
	return r
}

// pullJSON returns a copy of p.pr with the URLs GitHub always sends.
func (f *Fake) pullJSON(p *pull) *github.PullRequest {
	pr := clone(p.pr)
	n := pr.GetNumber()
	if pr.URL == nil {
		pr.URL = github.String(f.apiURL("/pulls/%d", n))
	}
	if pr.HTMLURL == nil {
		pr.HTMLURL = github.String(f.htmlURL("/pull/%d", n))
	}
	if pr.IssueURL == nil {
		pr.IssueURL = github.String(f.apiURL("/issues/%d", n))
	}
	return pr
}

// lookupPull finds the pull request of the {number} path value, answering
// 404 if there is none.
func (f *Fake) lookupPull(c *call) (*pull, bool) {
	n, ok := c.pathInt("number")
	if !ok {
		return nil, false
	}
	p, ok := f.repo.pulls[int(n)]
	if !ok {
		c.notFound()
	}
	return p, ok
}

// getPull serves GET /repos/{owner}/{repo}/pulls/{number}.
func (f *Fake) getPull(c *call) {
	if p, ok := f.lookupPull(c); ok {
		c.json(http.StatusOK, f.pullJSON(p))
	}
}

// requestReviewers serves POST /repos/{owner}/{repo}/pulls/{number}/requested_reviewers:
// users by login and teams by slug, never the PR's author (422, as GitHub).
func (f *Fake) requestReviewers(c *call) {
	var body struct {
		Reviewers     []string `json:"reviewers"`
		TeamReviewers []string `json:"team_reviewers"`
	}
	if !c.decode(&body) {
		return
	}
	p, ok := f.lookupPull(c)
	if !ok {
		return
	}
	for _, login := range body.Reviewers {
		if strings.EqualFold(login, p.pr.GetUser().GetLogin()) {
			c.invalid("PullRequest", "reviewers", "custom", "Review cannot be requested from pull request author.")
			return
		}
	}
	for _, login := range body.Reviewers {
		p.pr.RequestedReviewers = append(p.pr.RequestedReviewers, &github.User{Login: github.String(login), ID: github.Int64(f.id()), Type: github.String("User")})
	}
	for _, slug := range body.TeamReviewers {
		p.pr.RequestedTeams = append(p.pr.RequestedTeams, &github.Team{Slug: github.String(slug), Name: github.String(slug), ID: github.Int64(f.id())})
	}
	c.json(http.StatusCreated, f.pullJSON(p))
}

// RequestedReviewers lists the logins and team slugs whose reviews pull
// request number asked for.
func (f *Fake) RequestedReviewers(number int) (users, teams []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.repo.pulls[number]
	if !ok {
		return nil, nil
	}
	for _, u := range p.pr.RequestedReviewers {
		users = append(users, u.GetLogin())
	}
	for _, t := range p.pr.RequestedTeams {
		teams = append(teams, t.GetSlug())
	}
	return users, teams
}

// listPullFiles serves GET /repos/{owner}/{repo}/pulls/{number}/files,
// listing at most 3000 files like GitHub.
func (f *Fake) listPullFiles(c *call) {
	if p, ok := f.lookupPull(c); ok {
		c.json(http.StatusOK, paginate(c, p.files[:min(len(p.files), maxPullFiles)]))
	}
}

// listReviews serves GET /repos/{owner}/{repo}/pulls/{number}/reviews.
func (f *Fake) listReviews(c *call) {
	p, ok := f.lookupPull(c)
	if !ok {
		return
	}
	reviews := paginate(c, p.reviews)
	out := make([]*github.PullRequestReview, 0, len(reviews))
	for _, r := range reviews {
		r = clone(r)
		if r.PullRequestURL == nil {
			r.PullRequestURL = github.String(f.apiURL("/pulls/%d", p.pr.GetNumber()))
		}
		if r.HTMLURL == nil {
			r.HTMLURL = github.String(f.htmlURL("/pull/%d#pullrequestreview-%d", p.pr.GetNumber(), r.GetID()))
		}
		out = append(out, r)
	}
	c.json(http.StatusOK, out)
}

// listPulls serves GET /repos/{owner}/{repo}/pulls with the state, head
// ("owner:branch"), base and direction filters; newest first by default.
func (f *Fake) listPulls(c *call) {
	q := c.r.URL.Query()
	state := cmp.Or(q.Get("state"), "open")
	var out []*github.PullRequest
	for _, p := range f.repo.pulls {
		pr := p.pr
		switch {
		case state != "all" && pr.GetState() != state,
			q.Get("base") != "" && pr.GetBase().GetRef() != q.Get("base"),
			q.Get("head") != "" && !f.headMatches(pr, q.Get("head")):
			continue
		}
		out = append(out, f.pullJSON(p))
	}
	slices.SortFunc(out, func(a, b *github.PullRequest) int { return b.GetNumber() - a.GetNumber() })
	if q.Get("direction") == "asc" {
		slices.Reverse(out)
	}
	c.json(http.StatusOK, paginate(c, out))
}

// headMatches reports whether pr's head is head ("owner:branch" or "branch").
func (f *Fake) headMatches(pr *github.PullRequest, head string) bool {
	owner, branch, ok := strings.Cut(head, ":")
	if !ok {
		owner, branch = f.repo.owner, head
	}
	if pr.GetHead().GetRef() != branch {
		return false
	}
	if label := pr.GetHead().GetLabel(); label != "" {
		return strings.EqualFold(label, owner+":"+branch)
	}
	return strings.EqualFold(owner, f.repo.owner)
}

// AssociateCommit makes GitHub list pull request number for commit sha, as
// it does for the commits a rebase merge put on the base branch.
func (f *Fake) AssociateCommit(number int, sha string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.repo.pulls[number]; ok {
		p.commits = append(p.commits, sha)
	}
}

// listCommitPulls serves GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls:
// the pull requests merged as that commit, whose head it is, or that it
// came with (AssociateCommit).
func (f *Fake) listCommitPulls(c *call) {
	sha := c.r.PathValue("commit_sha")
	var out []*github.PullRequest
	for _, p := range f.repo.pulls {
		if p.pr.GetMergeCommitSHA() == sha || p.pr.GetHead().GetSHA() == sha || slices.Contains(p.commits, sha) {
			out = append(out, f.pullJSON(p))
		}
	}
	slices.SortFunc(out, func(a, b *github.PullRequest) int { return a.GetNumber() - b.GetNumber() })
	c.json(http.StatusOK, paginate(c, out))
}

// createPull serves POST /repos/{owner}/{repo}/pulls: it opens a pull
// request from a branch of the repository, listing the files that differ
// from the base branch. Later commits to the head branch update it.
func (f *Fake) createPull(c *call) {
	var body github.NewPullRequest
	if !c.decode(&body) {
		return
	}
	if body.GetTitle() == "" {
		c.invalid("PullRequest", "title", "missing_field", "")
		return
	}
	headOwner, head, ok := strings.Cut(body.GetHead(), ":")
	if !ok {
		headOwner, head = f.repo.owner, body.GetHead()
	}
	headSHA, headOK := f.repo.branches[head]
	if !headOK || !strings.EqualFold(headOwner, f.repo.owner) {
		c.invalid("PullRequest", "head", "invalid", "")
		return
	}
	baseSHA, baseOK := f.repo.branches[body.GetBase()]
	if !baseOK {
		c.invalid("PullRequest", "base", "invalid", "")
		return
	}
	for _, p := range f.repo.pulls {
		if p.pr.GetState() == "open" && p.pr.GetHead().GetRef() == head && p.pr.GetBase().GetRef() == body.GetBase() {
			c.invalid("PullRequest", "", "custom", fmt.Sprintf("A pull request already exists for %s:%s.", f.repo.owner, head))
			return
		}
	}
	files := diffTrees(f.repo.commits[baseSHA].files, f.repo.commits[headSHA].files)
	if len(files) == 0 {
		c.invalid("PullRequest", "", "custom", fmt.Sprintf("No commits between %s and %s", body.GetBase(), head))
		return
	}
	n := 1
	for k := range f.repo.pulls {
		n = max(n, k+1)
	}
	now := f.timestamp()
	branch := func(ref, sha string) *github.PullRequestBranch {
		return &github.PullRequestBranch{
			Label: github.String(f.repo.owner + ":" + ref),
			Ref:   github.String(ref),
			SHA:   github.String(sha),
			Repo:  &github.Repository{ID: github.Int64(f.repo.id), Name: github.String(f.repo.name), FullName: github.String(f.repo.owner + "/" + f.repo.name)},
		}
	}
	p := &pull{
		pr: &github.PullRequest{
			ID:        github.Int64(f.id()),
			Number:    github.Int(n),
			State:     github.String("open"),
			Title:     body.Title,
			Body:      body.Body,
			Draft:     github.Bool(body.GetDraft()),
			Merged:    github.Bool(false),
			User:      c.actor(),
			Head:      branch(head, headSHA),
			Base:      branch(body.GetBase(), baseSHA),
			CreatedAt: now,
			UpdatedAt: now,
		},
		tracked: true,
	}
	f.setPullFiles(p, files)
	f.repo.pulls[n] = p
	c.json(http.StatusCreated, f.pullJSON(p))
}

// refreshPulls moves the head of open pull requests opened through the API
// from branch to its new tip.
func (f *Fake) refreshPulls(branch string) {
	sha := f.repo.branches[branch]
	for _, p := range f.repo.pulls {
		if !p.tracked || p.pr.GetState() != "open" || p.pr.GetHead().GetRef() != branch {
			continue
		}
		p.pr.Head.SHA = github.String(sha)
		p.pr.UpdatedAt = f.timestamp()
		f.setPullFiles(p, diffTrees(f.repo.commits[p.pr.GetBase().GetSHA()].files, f.repo.commits[sha].files))
	}
}

// setPullFiles sets the files of p and the counts GitHub reports with them.
func (f *Fake) setPullFiles(p *pull, files []*github.CommitFile) {
	adds, dels := 0, 0
	for _, cf := range files {
		adds += cf.GetAdditions()
		dels += cf.GetDeletions()
		cf.BlobURL = github.String(f.htmlURL("/blob/%s/%s", p.pr.GetHead().GetSHA(), escapePath(cf.GetFilename())))
		cf.RawURL = github.String(f.htmlURL("/raw/%s/%s", p.pr.GetHead().GetSHA(), escapePath(cf.GetFilename())))
		cf.ContentsURL = github.String(f.apiURL("/contents/%s?ref=%s", escapePath(cf.GetFilename()), p.pr.GetHead().GetSHA()))
	}
	p.files = files
	p.pr.ChangedFiles = github.Int(len(files))
	p.pr.Additions = github.Int(adds)
	p.pr.Deletions = github.Int(dels)
}

// diffTrees lists the files that differ between two snapshots, by path,
// the way the pull request files API does (renames are not detected).
func diffTrees(base, head map[string][]byte) []*github.CommitFile {
	paths := slices.Sorted(maps.Keys(head))
	for p := range base {
		if _, ok := head[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []*github.CommitFile
	for _, p := range paths {
		old, inBase := base[p]
		cur, inHead := head[p]
		var cf *github.CommitFile
		switch {
		case !inBase:
			cf = fileDiff(p, "added", nil, cur)
		case !inHead:
			cf = fileDiff(p, "removed", old, nil)
		case !bytes.Equal(old, cur):
			cf = fileDiff(p, "modified", old, cur)
		default:
			continue
		}
		out = append(out, cf)
	}
	return out
}

// fileDiff describes one changed file with a whole-file patch.
func fileDiff(path, status string, old, cur []byte) *github.CommitFile {
	oldLines, curLines := lines(old), lines(cur)
	var patch strings.Builder
	fmt.Fprintf(&patch, "@@ -%s +%s @@", hunkRange(len(oldLines)), hunkRange(len(curLines)))
	for _, l := range oldLines {
		patch.WriteString("\n-" + l)
	}
	for _, l := range curLines {
		patch.WriteString("\n+" + l)
	}
	sha := blobSHA(cur)
	if status == "removed" {
		sha = blobSHA(old)
	}
	return &github.CommitFile{
		SHA:       github.String(sha),
		Filename:  github.String(path),
		Status:    github.String(status),
		Additions: github.Int(len(curLines)),
		Deletions: github.Int(len(oldLines)),
		Changes:   github.Int(len(curLines) + len(oldLines)),
		Patch:     github.String(patch.String()),
	}
}

// lines splits data into lines without their newlines.
func lines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// hunkRange formats a unified diff range for a whole file of n lines.
func hunkRange(n int) string {
	if n == 0 {
		return "0,0"
	}
	return fmt.Sprintf("1,%d", n)
}
