package githubfake

import (
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"
)

// maxCommentBody is GitHub's limit on a comment body, in characters.
const maxCommentBody = 65536

// comment is an issue comment and the issue (pull request) it is on.
type comment struct {
	issue int
	c     *github.IssueComment
}

// Comments returns copies of the comments on issue (pull request) number,
// oldest first.
func (f *Fake) Comments(number int) []*github.IssueComment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*github.IssueComment
	for _, cm := range f.repo.comments {
		if cm.issue == number {
			out = append(out, clone(cm.c))
		}
	}
	return out
}

// AddComment puts a comment by user on issue (pull request) number, as if
// they had posted it: for tests that need many.
func (f *Fake) AddComment(number int, user *github.User, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, now := f.id(), f.timestamp()
	f.repo.comments = append(f.repo.comments, &comment{issue: number, c: &github.IssueComment{
		ID: github.Int64(id), Body: github.String(body), User: clone(user), CreatedAt: now, UpdatedAt: now,
		AuthorAssociation: github.String("NONE"),
		HTMLURL:           github.String(f.htmlURL("/pull/%d#issuecomment-%d", number, id)),
	}})
}

// commentBody decodes {"body": ...} and checks it as GitHub does.
func commentBody(c *call) (string, bool) {
	var body struct {
		Body *string `json:"body"`
	}
	if !c.decode(&body) {
		return "", false
	}
	switch {
	case body.Body == nil || *body.Body == "":
		c.invalid("IssueComment", "body", "missing_field", "")
		return "", false
	case utf8.RuneCountInString(*body.Body) > maxCommentBody:
		c.invalid("IssueComment", "body", "custom", fmt.Sprintf("body is too long (maximum is %d characters)", maxCommentBody))
		return "", false
	}
	return *body.Body, true
}

// listComments serves GET /repos/{owner}/{repo}/issues/{number}/comments.
func (f *Fake) listComments(c *call) {
	p, ok := f.lookupPull(c)
	if !ok {
		return
	}
	var all []*github.IssueComment
	for _, cm := range f.repo.comments {
		if cm.issue == p.pr.GetNumber() {
			all = append(all, cm.c)
		}
	}
	c.json(http.StatusOK, paginate(c, all))
}

// createComment serves POST /repos/{owner}/{repo}/issues/{number}/comments.
func (f *Fake) createComment(c *call) {
	p, ok := f.lookupPull(c)
	if !ok {
		return
	}
	body, ok := commentBody(c)
	if !ok {
		return
	}
	n, id, now := p.pr.GetNumber(), f.id(), f.timestamp()
	ic := &github.IssueComment{
		ID:                github.Int64(id),
		Body:              github.String(body),
		User:              c.actor(),
		CreatedAt:         now,
		UpdatedAt:         now,
		AuthorAssociation: github.String("NONE"),
		URL:               github.String(f.apiURL("/issues/comments/%d", id)),
		HTMLURL:           github.String(f.htmlURL("/pull/%d#issuecomment-%d", n, id)),
		IssueURL:          github.String(f.apiURL("/issues/%d", n)),
	}
	f.repo.comments = append(f.repo.comments, &comment{issue: n, c: ic})
	c.json(http.StatusCreated, ic)
}

// editComment serves PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}.
func (f *Fake) editComment(c *call) {
	id, ok := c.pathInt("comment_id")
	if !ok {
		return
	}
	for _, cm := range f.repo.comments {
		if cm.c.GetID() != id {
			continue
		}
		body, ok := commentBody(c)
		if !ok {
			return
		}
		cm.c.Body = github.String(body)
		cm.c.UpdatedAt = f.timestamp()
		c.json(http.StatusOK, cm.c)
		return
	}
	c.notFound()
}
