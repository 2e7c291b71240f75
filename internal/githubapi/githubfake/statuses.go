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

// combinedStatus serves GET commits/{ref}/status: the latest status of each
// context, newest first, and the combined state as GitHub computes it.
func (f *Fake) combinedStatus(c *call) {
	ref := c.r.PathValue("ref")
	sha, ok := f.resolve(ref)
	if !ok {
		sha = ref
	}
	if !f.knownCommit(sha) {
		c.error(http.StatusUnprocessableEntity, "No commit found for SHA: "+ref)
		return
	}
	latest := map[string]*github.RepoStatus{}
	var order []string
	all := f.repo.statuses[sha]
	for i := len(all) - 1; i >= 0; i-- {
		st := all[i]
		if _, seen := latest[st.GetContext()]; !seen {
			latest[st.GetContext()] = st
			order = append(order, st.GetContext())
		}
	}
	state := "pending"
	if len(order) > 0 {
		state = "success"
		for _, ctx := range order {
			switch latest[ctx].GetState() {
			case "error", "failure":
				state = "failure"
			case "pending":
				if state != "failure" {
					state = "pending"
				}
			}
		}
	}
	var statuses []*github.RepoStatus
	for _, ctx := range order {
		statuses = append(statuses, latest[ctx])
	}
	c.json(http.StatusOK, &github.CombinedStatus{State: github.String(state), SHA: github.String(sha), TotalCount: github.Int(len(statuses)), Statuses: statuses})
}
