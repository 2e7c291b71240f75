package githubapi

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/google/go-github/v60/github"
)

// Me returns the token's user.
func (r *Repo) Me(ctx context.Context) (*github.User, error) {
	u, _, err := r.GH.Users.Get(ctx, "")
	if err != nil {
		return nil, wrap(err, "get the authenticated user")
	}
	return u, nil
}

// UserID is the id of the account that holds login now, 0 when nobody
// does (GitHub answers 404).
func (r *Repo) UserID(ctx context.Context, login string) (int64, error) {
	u, resp, err := r.GH.Users.Get(ctx, login)
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, wrap(err, "look up the GitHub user %s", login)
	}
	return u.GetID(), nil
}

// LoginOf is the login the account with numeric id holds now.
func (r *Repo) LoginOf(ctx context.Context, id int64) (string, error) {
	u, _, err := r.GH.Users.GetByID(ctx, id)
	if err != nil {
		return "", wrap(err, "look up GitHub user %d", id)
	}
	return u.GetLogin(), nil
}

// DefaultBranch returns the repository's default branch and its head SHA.
func (r *Repo) DefaultBranch(ctx context.Context) (name, sha string, err error) {
	repo, _, err := r.GH.Repositories.Get(ctx, r.Owner, r.Name)
	if err != nil {
		return "", "", wrap(err, "get repository %s", r.FullName())
	}
	name = repo.GetDefaultBranch()
	ref, _, err := r.GH.Git.GetRef(ctx, r.Owner, r.Name, "heads/"+name)
	if err != nil {
		return "", "", wrap(err, "get branch %s", name)
	}
	return name, ref.GetObject().GetSHA(), nil
}

// CreateBranch creates refs/heads/name at sha.
func (r *Repo) CreateBranch(ctx context.Context, name, sha string) error {
	_, _, err := r.GH.Git.CreateRef(ctx, r.Owner, r.Name, &github.Reference{Ref: github.String("refs/heads/" + name), Object: &github.GitObject{SHA: github.String(sha)}})
	if err != nil {
		return wrap(err, "create branch %s", name)
	}
	return nil
}

// CreateFile commits a new file on branch.
func (r *Repo) CreateFile(ctx context.Context, branch, path, message string, content []byte) error {
	_, _, err := r.GH.Repositories.CreateFile(ctx, r.Owner, r.Name, path, &github.RepositoryContentFileOptions{
		Message: github.String(message), Content: content, Branch: github.String(branch),
	})
	if err != nil {
		return wrap(err, "commit %s on %s", path, branch)
	}
	return nil
}

// DeleteFile commits the deletion of path, whose current content is content, on branch.
func (r *Repo) DeleteFile(ctx context.Context, branch, path, message string, content []byte) error {
	_, _, err := r.GH.Repositories.DeleteFile(ctx, r.Owner, r.Name, path, &github.RepositoryContentFileOptions{
		Message: github.String(message), SHA: github.String(BlobSHA(content)), Branch: github.String(branch),
	})
	if err != nil {
		return wrap(err, "delete %s on %s", path, branch)
	}
	return nil
}

// BlobSHA is git's object id of a blob with content: what the contents API calls sha.
func BlobSHA(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// CreatePull opens a pull request from head into base.
func (r *Repo) CreatePull(ctx context.Context, head, base, title, body string) (*github.PullRequest, error) {
	pr, _, err := r.GH.PullRequests.Create(ctx, r.Owner, r.Name, &github.NewPullRequest{
		Title: github.String(title), Head: github.String(head), Base: github.String(base), Body: github.String(body),
	})
	if err != nil {
		return nil, wrap(err, "open a pull request from %s", head)
	}
	return pr, nil
}

// OpenPulls lists the open pull requests (at most 10 pages).
func (r *Repo) OpenPulls(ctx context.Context) ([]*github.PullRequest, error) {
	prs, err := listAll(ctx, 10, func(opts *github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
		return r.GH.PullRequests.List(ctx, r.Owner, r.Name, &github.PullRequestListOptions{State: "open", ListOptions: *opts})
	})
	if err != nil {
		return nil, wrap(err, "list open pull requests")
	}
	return prs, nil
}

// RecentlyMerged lists the merged pull requests among the newest pages×100
// closed into base, newest first.
func (r *Repo) RecentlyMerged(ctx context.Context, base string, pages int) ([]*github.PullRequest, error) {
	prs, _, err := listFirst(ctx, pages, func(opts *github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
		return r.GH.PullRequests.List(ctx, r.Owner, r.Name, &github.PullRequestListOptions{State: "closed", Base: base, Sort: "created", Direction: "desc", ListOptions: *opts})
	})
	if err != nil {
		return nil, wrap(err, "list the pull requests closed into %s", base)
	}
	var out []*github.PullRequest
	for _, pr := range prs {
		if pr.MergedAt != nil {
			out = append(out, pr)
		}
	}
	return out, nil
}

// Status returns the state and description of context on ref, "" when absent.
func (r *Repo) Status(ctx context.Context, ref, context string) (state, description string, err error) {
	combined, _, err := r.GH.Repositories.GetCombinedStatus(ctx, r.Owner, r.Name, ref, &github.ListOptions{PerPage: 100})
	if err != nil {
		return "", "", wrap(err, "get the status of %s", ref)
	}
	for _, s := range combined.Statuses {
		if s.GetContext() == context {
			return s.GetState(), s.GetDescription(), nil
		}
	}
	return "", "", nil
}
