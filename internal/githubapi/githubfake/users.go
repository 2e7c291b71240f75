package githubfake

import (
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
)

// getUserByLogin serves GET /users/{username}: the users the fake knows (a
// token's, a pull request's author, a reviewer's), by login, the latest
// one named so; 404 for any other login, as GitHub answers for a login
// nobody holds.
func (f *Fake) getUserByLogin(c *call) {
	login := strings.ToLower(c.r.PathValue("username"))
	var found *github.User
	see := func(u *github.User) {
		if u != nil && strings.ToLower(u.GetLogin()) == login {
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
