package githubfake

import (
	"net/http"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"
)

// maxStatusDescription is GitHub's limit on a status description.
const maxStatusDescription = 140

// Statuses returns copies of the commit statuses created on sha, oldest first.
func (f *Fake) Statuses(sha string) []*github.RepoStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cloneAll(f.repo.statuses[sha])
}

// knownCommit reports whether sha is a stored commit or the head or base of
// a pull request.
func (f *Fake) knownCommit(sha string) bool {
	if _, ok := f.repo.commits[sha]; ok {
		return true
	}
	for _, p := range f.repo.pulls {
		if p.pr.GetHead().GetSHA() == sha || p.pr.GetBase().GetSHA() == sha {
			return true
		}
	}
	return false
}

// createStatus serves POST /repos/{owner}/{repo}/statuses/{sha}.
func (f *Fake) createStatus(c *call) {
	var body struct {
		State       *string `json:"state"`
		TargetURL   *string `json:"target_url"`
		Description *string `json:"description"`
		Context     *string `json:"context"`
	}
	if !c.decode(&body) {
		return
	}
	if body.State == nil {
		c.invalid("Status", "state", "missing_field", "")
		return
	}
	switch *body.State {
	case "error", "failure", "pending", "success":
	default:
		c.invalid("Status", "state", "custom", "state is not included in the list")
		return
	}
	if body.Description != nil && utf8.RuneCountInString(*body.Description) > maxStatusDescription {
		c.invalid("Status", "description", "custom", "description is too long (maximum is 140 characters)")
		return
	}
	sha := c.r.PathValue("sha")
	if !f.knownCommit(sha) {
		c.error(http.StatusUnprocessableEntity, "No commit found for SHA: "+sha)
		return
	}
	context := "default"
	if body.Context != nil && *body.Context != "" {
		context = *body.Context
	}
	now := f.timestamp()
	st := &github.RepoStatus{
		ID:          github.Int64(f.id()),
		URL:         github.String(f.apiURL("/statuses/%s", sha)),
		State:       body.State,
		TargetURL:   body.TargetURL,
		Description: body.Description,
		Context:     github.String(context),
		Creator:     c.actor(),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	f.repo.statuses[sha] = append(f.repo.statuses[sha], st)
	c.json(http.StatusCreated, st)
}
