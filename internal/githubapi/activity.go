package githubapi

import (
	"context"
	"fmt"
	"net/url"

	"github.com/google/go-github/v60/github"
)

// maxActivityPages bounds one listing of the activity: a longer listing
// is an error, never a silent truncation.
const maxActivityPages = 2000

// Activity types GitHub records for a branch.
const (
	ActivityPush           = "push"
	ActivityForcePush      = "force_push"
	ActivityBranchCreation = "branch_creation"
	ActivityBranchDeletion = "branch_deletion"
	ActivityPRMerge        = "pr_merge"
	ActivityMergeQueue     = "merge_queue_merge"
)

// Activity is one entry of GitHub's "List repository activities"
// (GET /repos/{owner}/{repo}/activity), which go-github v60 does not cover.
// The fields are GitHub's documented ones.
type Activity struct {
	ID           int64            `json:"id"`
	NodeID       string           `json:"node_id"`
	Before       string           `json:"before"`
	After        string           `json:"after"`
	Ref          string           `json:"ref"`
	Timestamp    github.Timestamp `json:"timestamp"`
	ActivityType string           `json:"activity_type"`
	Actor        *github.User     `json:"actor"`
}

// Activity lists what GitHub's repository activity records of branch
// (pushes, force pushes, merges, creation and deletion), newest first,
// until stop returns true for an entry (not returned) or the list ends.
// The listing pages by cursor (the "after" parameter of the Link header).
func (r *Repo) Activity(ctx context.Context, branch string, stop func(Activity) bool) ([]Activity, error) {
	q := url.Values{}
	q.Set("ref", "refs/heads/"+branch)
	q.Set("direction", "desc")
	q.Set("per_page", fmt.Sprint(perPage))
	var all []Activity
	for page := 0; ; page++ {
		if page == maxActivityPages {
			return nil, fmt.Errorf("list the activity of %s: more than %d pages", branch, maxActivityPages)
		}
		req, err := r.GH.NewRequest("GET", fmt.Sprintf("repos/%s/%s/activity?%s", r.Owner, r.Name, q.Encode()), nil)
		if err != nil {
			return nil, err
		}
		var items []Activity
		resp, err := r.GH.Do(ctx, req, &items)
		if err != nil {
			return nil, wrap(err, "list the activity of %s", branch)
		}
		for _, a := range items {
			if stop != nil && stop(a) {
				return all, nil
			}
			all = append(all, a)
		}
		if resp.After == "" || resp.After == q.Get("after") {
			return all, nil
		}
		q.Set("after", resp.After)
	}
}

// RepositoryIDs returns the numeric ids of repository fullName and of its
// owner: names can be renamed and reclaimed, ids cannot.
func RepositoryIDs(ctx context.Context, gh *github.Client, fullName string) (repoID, ownerID int64, err error) {
	r, err := NewRepo(gh, fullName)
	if err != nil {
		return 0, 0, err
	}
	repo, _, err := gh.Repositories.Get(ctx, r.Owner, r.Name)
	if err != nil {
		return 0, 0, wrap(err, "get repository %s", fullName)
	}
	if repo.GetID() == 0 || repo.GetOwner().GetID() == 0 {
		return 0, 0, fmt.Errorf("get repository %s: GitHub answered without ids", fullName)
	}
	return repo.GetID(), repo.GetOwner().GetID(), nil
}

// PullsForHead returns the open pull requests whose head is branch of owner
// ("owner:branch"), for events that name a branch rather than a PR.
func (r *Repo) PullsForHead(ctx context.Context, owner, branch string) ([]*github.PullRequest, error) {
	prs, err := listAll(ctx, 5, func(opts *github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
		return r.GH.PullRequests.List(ctx, r.Owner, r.Name, &github.PullRequestListOptions{State: "open", Head: owner + ":" + branch, ListOptions: *opts})
	})
	if err != nil {
		return nil, wrap(err, "list pull requests from %s:%s", owner, branch)
	}
	return prs, nil
}
