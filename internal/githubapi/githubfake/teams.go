package githubfake

import (
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
)

// membershipKey names a user in a team; GitHub compares all three
// case-insensitively, so they are stored lower-cased.
type membershipKey struct{ org, slug, login string }

func newMembershipKey(org, slug, login string) membershipKey {
	return membershipKey{strings.ToLower(org), strings.ToLower(slug), strings.ToLower(login)}
}

// TeamMember sets login's membership of team org/slug: state is "active",
// "pending" (invited, not yet accepted) or "" to remove it.
func (f *Fake) TeamMember(org, slug, login, state string) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	k := newMembershipKey(org, slug, login)
	switch state {
	case "active", "pending":
		f.memberships[k] = state
	case "":
		delete(f.memberships, k)
	default:
		f.t.Fatalf("githubfake: TeamMember: state %q, want active, pending or empty", state)
	}
}

// getMembership serves GET /orgs/{org}/teams/{team_slug}/memberships/{username}.
func (f *Fake) getMembership(c *call) {
	org, slug, login := c.r.PathValue("org"), c.r.PathValue("team_slug"), c.r.PathValue("username")
	state, ok := f.memberships[newMembershipKey(org, slug, login)]
	if !ok {
		c.notFound()
		return
	}
	c.json(http.StatusOK, &github.Membership{
		URL:   github.String(f.URL + "/orgs/" + org + "/teams/" + slug + "/memberships/" + login),
		Role:  github.String("member"),
		State: github.String(state),
	})
}
