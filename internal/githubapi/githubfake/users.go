package githubfake

import (
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
)

// Rename gives the account id the login now, as GitHub does when its
// owner renames it: the old login is then nobody's.
func (f *Fake) Rename(id int64, login string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.renamed == nil {
		f.renamed = map[int64]string{}
	}
	f.renamed[id] = login
}

// current is u under the login its account holds now.
func (f *Fake) current(u *github.User) *github.User {
	if u == nil {
		return nil
	}
	if login, ok := f.renamed[u.GetID()]; ok {
		u = clone(u)
		u.Login = github.String(login)
	}
	return u
}

// getUserByLogin serves GET /users/{username}: the users the fake knows (a
// token's, a pull request's author, a reviewer's), by login, the latest
// one named so; 404 for any other login, as GitHub answers for a login
// nobody holds.
func (f *Fake) getUserByLogin(c *call) {
	login := c.r.PathValue("username")
	f.answerUser(c, func(u *github.User) bool { return strings.EqualFold(u.GetLogin(), login) })
}

// getUserByID serves GET /user/{account_id}: the user the fake knows by
// that id, under the login it holds now.
func (f *Fake) getUserByID(c *call) {
	id, ok := c.pathInt("account_id")
	if !ok {
		return
	}
	f.answerUser(c, func(u *github.User) bool { return u.GetID() == id })
}

// answerUser answers with the last user the fake knows, under its current
// login, that match accepts; 404 when there is none.
func (f *Fake) answerUser(c *call, match func(*github.User) bool) {
	var found *github.User
	see := func(u *github.User) {
		if u = f.current(u); u != nil && match(u) {
			found = u
		}
	}
	for _, u := range f.tokens {
		see(u)
	}
	for _, p := range f.repo.pulls {
		see(p.pr.User)
		for _, r := range p.reviews {
			see(r.User)
		}
	}
	if found == nil {
		c.notFound()
		return
	}
	c.json(http.StatusOK, clone(found))
}
