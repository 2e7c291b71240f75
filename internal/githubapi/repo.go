package githubapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"
)

// Bounds on listings. GitHub itself lists at most 3000 files of a pull
// request; the other bounds keep a caller from paging forever.
const (
	perPage         = 100
	maxPRFiles      = 3000
	maxPRFilePages  = maxPRFiles / perPage
	maxReviewPages  = 50
	maxCommentPages = 30
	maxDescription  = 140 // GitHub's limit on a commit status description, in characters
)

// StatusContext is the context of elevate's commit status: the check
// branch protection requires.
const StatusContext = "elevate"

var (
	ownerRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// Repo is one repository through the API.
type Repo struct {
	Owner, Name string
	GH          *github.Client
}

// NewRepo returns the repository fullName ("owner/name") served by gh.
func NewRepo(gh *github.Client, fullName string) (*Repo, error) {
	if gh == nil {
		return nil, errors.New("new repo: nil GitHub client")
	}
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || !ownerRE.MatchString(owner) || !nameRE.MatchString(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("repository %q: want OWNER/NAME", fullName)
	}
	return &Repo{Owner: owner, Name: name, GH: gh}, nil
}

// FullName returns "owner/name".
func (r *Repo) FullName() string { return r.Owner + "/" + r.Name }

// PullRequest returns pull request number.
func (r *Repo) PullRequest(ctx context.Context, number int) (*github.PullRequest, error) {
	pr, _, err := r.GH.PullRequests.Get(ctx, r.Owner, r.Name, number)
	if err != nil {
		return nil, wrap(err, "get pull request #%d", number)
	}
	return pr, nil
}

// PullRequestFiles returns every file changed by pull request number. GitHub
// lists at most 3000 files; a pull request that reaches that cap may be
// truncated, so it is an error.
func (r *Repo) PullRequestFiles(ctx context.Context, number int) ([]*github.CommitFile, error) {
	files, err := listAll(ctx, maxPRFilePages, func(opts *github.ListOptions) ([]*github.CommitFile, *github.Response, error) {
		return r.GH.PullRequests.ListFiles(ctx, r.Owner, r.Name, number, opts)
	})
	if err != nil {
		return nil, wrap(err, "list files of #%d", number)
	}
	if len(files) >= maxPRFiles {
		return nil, fmt.Errorf("list files of #%d: %d files reach GitHub's listing cap of %d; the list may be incomplete", number, len(files), maxPRFiles)
	}
	return files, nil
}

// Reviews returns every review of pull request number, oldest first.
func (r *Repo) Reviews(ctx context.Context, number int) ([]*github.PullRequestReview, error) {
	reviews, err := listAll(ctx, maxReviewPages, func(opts *github.ListOptions) ([]*github.PullRequestReview, *github.Response, error) {
		return r.GH.PullRequests.ListReviews(ctx, r.Owner, r.Name, number, opts)
	})
	if err != nil {
		return nil, wrap(err, "list reviews of #%d", number)
	}
	return reviews, nil
}

// FileAt returns the raw bytes of path at ref (a commit SHA or a branch).
// Files above the contents API's 1 MiB limit are read through the blob API.
// A file larger than maxBytes is an error; so is a directory, a symlink or a
// submodule. A missing file or ref is an error matching ErrNotFound.
func (r *Repo) FileAt(ctx context.Context, path, ref string, maxBytes int64) ([]byte, error) {
	switch {
	case path == "" || strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/"):
		return nil, fmt.Errorf("read %q at %s: invalid path", path, ref)
	case ref == "":
		return nil, fmt.Errorf("read %s: empty ref", path)
	case maxBytes <= 0:
		return nil, fmt.Errorf("read %s at %s: maxBytes must be positive", path, ref)
	}
	file, dir, _, err := r.GH.Repositories.GetContents(ctx, r.Owner, r.Name, path, &github.RepositoryContentGetOptions{Ref: ref})
	if err != nil {
		return nil, wrap(err, "read %s at %s", path, ref)
	}
	if file == nil {
		return nil, fmt.Errorf("read %s at %s: a directory (%d entries) %w", path, ref, len(dir), ErrNotRegular)
	}
	if t := file.GetType(); t != "file" {
		return nil, fmt.Errorf("read %s at %s: a %s %w", path, ref, t, ErrNotRegular)
	}
	if int64(file.GetSize()) > maxBytes {
		return nil, fmt.Errorf("read %s at %s: %d bytes: %w of %d", path, ref, file.GetSize(), ErrTooLarge, maxBytes)
	}

	var content string // the raw field: RepositoryContent.GetContent decodes
	if file.Content != nil {
		content = *file.Content
	}
	var data []byte
	switch enc := file.GetEncoding(); {
	case enc == "base64" && content != "":
		data, err = base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: decode content: %w", path, ref, err)
		}
	case enc == "none" || (content == "" && file.GetSize() > 0):
		data, err = r.blob(ctx, file.GetSHA(), maxBytes)
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: %w", path, ref, err)
		}
	case enc == "" || enc == "base64": // an empty file
		data = []byte(content)
	default:
		return nil, fmt.Errorf("read %s at %s: unsupported content encoding %q", path, ref, enc)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("read %s at %s: %d bytes: %w of %d", path, ref, len(data), ErrTooLarge, maxBytes)
	}
	return data, nil
}

// blob reads a git blob by its SHA through the Git database API.
func (r *Repo) blob(ctx context.Context, sha string, maxBytes int64) ([]byte, error) {
	if sha == "" {
		return nil, errors.New("get blob: content omitted and no blob sha given")
	}
	b, _, err := r.GH.Git.GetBlob(ctx, r.Owner, r.Name, sha)
	if err != nil {
		return nil, wrap(err, "get blob %s", sha)
	}
	if int64(b.GetSize()) > maxBytes {
		return nil, fmt.Errorf("get blob %s: %d bytes: %w of %d", sha, b.GetSize(), ErrTooLarge, maxBytes)
	}
	switch enc := b.GetEncoding(); enc {
	case "base64":
		data, err := base64.StdEncoding.DecodeString(b.GetContent())
		if err != nil {
			return nil, fmt.Errorf("get blob %s: decode content: %w", sha, err)
		}
		return data, nil
	case "utf-8", "utf8":
		return []byte(b.GetContent()), nil
	default:
		return nil, fmt.Errorf("get blob %s: unsupported encoding %q", sha, enc)
	}
}

// ActiveTeamMember reports whether login is an active member (or
// maintainer) of the team org/slug. No membership, or an invitation not yet
// accepted ("pending"), is false.
func (r *Repo) ActiveTeamMember(ctx context.Context, org, slug, login string) (bool, error) {
	if org == "" || slug == "" || login == "" {
		return false, fmt.Errorf("get membership of %q in %s/%s: empty org, team or login", login, org, slug)
	}
	m, _, err := r.GH.Teams.GetTeamMembershipBySlug(ctx, org, slug, login)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap(err, "get membership of %s in %s/%s", login, org, slug)
	}
	return m.GetState() == "active", nil
}

// SetStatus sets the commit status with context "elevate" on sha. state is
// one of error, failure, pending, success. description is cut to GitHub's
// 140 characters, ending in "…" when cut. targetURL may be "".
func (r *Repo) SetStatus(ctx context.Context, sha, state, description, targetURL string) error {
	switch state {
	case "error", "failure", "pending", "success":
	default:
		return fmt.Errorf("set status on %s: invalid state %q", sha, state)
	}
	if sha == "" {
		return errors.New("set status: empty sha")
	}
	st := &github.RepoStatus{
		State:       github.String(state),
		Description: github.String(truncate(description, maxDescription)),
		Context:     github.String(StatusContext),
	}
	if targetURL != "" {
		st.TargetURL = github.String(targetURL)
	}
	if _, _, err := r.GH.Repositories.CreateStatus(ctx, r.Owner, r.Name, sha, st); err != nil {
		return wrap(err, "set status %s on %s", state, sha)
	}
	return nil
}

// truncate cuts s to at most n runes, marking a cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}

// UpsertComment edits the first comment on issue or pull request number
// that an App wrote and whose body contains marker, or creates one. body is written
// as is and should contain marker; a comment that already reads body is
// left alone. It returns the comment's HTML URL.
func (r *Repo) UpsertComment(ctx context.Context, number int, marker, body string) (string, error) {
	return r.UpdateComment(ctx, number, marker, func(string) string { return body })
}

// RequestReviewers asks for the reviews of users (logins) and teams (slugs
// of the repository's organisation) on pull request number.
func (r *Repo) RequestReviewers(ctx context.Context, number int, users, teams []string) error {
	if _, _, err := r.GH.PullRequests.RequestReviewers(ctx, r.Owner, r.Name, number, github.ReviewersRequest{Reviewers: users, TeamReviewers: teams}); err != nil {
		return wrap(err, "request reviews on #%d", number)
	}
	return nil
}

// Comments lists the comments of issue or PR number (at most
// maxCommentPages pages; more is an error).
func (r *Repo) Comments(ctx context.Context, number int) ([]*github.IssueComment, error) {
	comments, more, err := r.listComments(ctx, number)
	if err == nil && more {
		err = fmt.Errorf("more than %d comments", maxCommentPages*perPage)
	}
	if err != nil {
		return nil, wrap(err, "list comments of #%d", number)
	}
	return comments, nil
}

// FirstComments lists the first maxCommentPages pages of comments of issue
// or PR number; more says there were others, left unread.
func (r *Repo) FirstComments(ctx context.Context, number int) (comments []*github.IssueComment, more bool, err error) {
	comments, more, err = r.listComments(ctx, number)
	if err != nil {
		return nil, false, wrap(err, "list comments of #%d", number)
	}
	return comments, more, nil
}

func (r *Repo) listComments(ctx context.Context, number int) ([]*github.IssueComment, bool, error) {
	return listFirst(ctx, maxCommentPages, func(opts *github.ListOptions) ([]*github.IssueComment, *github.Response, error) {
		return r.GH.Issues.ListComments(ctx, r.Owner, r.Name, number, &github.IssueListCommentsOptions{ListOptions: *opts})
	})
}

// UpdateComment is UpsertComment with the new body computed from the old
// one ("" when there is none yet): a sticky comment that carries its own
// state, such as a count, is updated from what it says.
func (r *Repo) UpdateComment(ctx context.Context, number int, marker string, update func(old string) string) (string, error) {
	if marker == "" {
		return "", fmt.Errorf("upsert comment on #%d: empty marker", number)
	}
	// Only an App's comment is ever taken for elevate's: a person, or a
	// workflow under the shared bot, who posts the marker first gets a
	// comment of their own.
	return r.UpdateCommentWhere(ctx, number, func(c *github.IssueComment) bool {
		return IsApp(c.GetUser()) && strings.Contains(c.GetBody(), marker)
	}, update, nil)
}

// ErrNotCreated says UpdateCommentWhere found no comment to edit and was
// not to create one: another replica claimed its creation. Try again
// later, to edit the one it creates.
var ErrNotCreated = errors.New("no comment to edit yet, and another replica creates it")

// ErrCreateUnclaimed says the creation of a comment could not be claimed
// (the claim store failed): nothing was written; try again later.
var ErrCreateUnclaimed = errors.New("could not claim the creation of the comment")

// UpdateCommentWhere edits the first comment mine matches, or creates one
// when create (nil: always) says this caller may: a comment written once
// per grant is created by one replica however many run. Evidence comments
// match only what elevate itself wrote (prcomment's Mine*), so a
// look-alike someone else posted is never edited or counted.
func (r *Repo) UpdateCommentWhere(ctx context.Context, number int, mine func(*github.IssueComment) bool, update func(old string) string, create func(context.Context) (bool, error)) (string, error) {
	comments, err := r.Comments(ctx, number)
	if err != nil {
		return "", err
	}
	for _, c := range comments {
		if !mine(c) {
			continue
		}
		body := update(c.GetBody())
		if c.GetBody() == body {
			return c.GetHTMLURL(), nil
		}
		edited, _, err := r.GH.Issues.EditComment(ctx, r.Owner, r.Name, c.GetID(), &github.IssueComment{Body: github.String(body)})
		if err != nil {
			return "", wrap(err, "edit comment %d on #%d", c.GetID(), number)
		}
		return edited.GetHTMLURL(), nil
	}
	if create != nil {
		ok, err := create(ctx)
		if err != nil {
			return "", fmt.Errorf("comment on #%d: %w: %w", number, ErrCreateUnclaimed, err)
		}
		if !ok {
			return "", ErrNotCreated
		}
	}
	created, _, err := r.GH.Issues.CreateComment(ctx, r.Owner, r.Name, number, &github.IssueComment{Body: github.String(update(""))})
	if err != nil {
		return "", wrap(err, "create comment on #%d", number)
	}
	return created.GetHTMLURL(), nil
}

// SharedBot is the account every workflow run's GITHUB_TOKEN writes as:
// what it wrote is anybody's word.
const SharedBot = "github-actions[bot]"

// IsApp reports whether u is a GitHub App's bot (no person can post as
// one), other than the workflows' shared bot.
func IsApp(u *github.User) bool {
	return u.GetType() == "Bot" && !strings.EqualFold(u.GetLogin(), SharedBot)
}

// listAll follows GitHub's pagination with per_page=100 for at most
// maxPages pages. A listing with more pages is an error, never a silent
// truncation.
func listAll[T any](ctx context.Context, maxPages int, fetch func(*github.ListOptions) ([]T, *github.Response, error)) ([]T, error) {
	all, more, err := listFirst(ctx, maxPages, fetch)
	if err == nil && more {
		err = fmt.Errorf("more than %d pages of %d", maxPages, perPage)
	}
	if err != nil {
		return nil, err
	}
	return all, nil
}

// listFirst is listAll that stops after maxPages pages, saying whether
// more were left.
func listFirst[T any](ctx context.Context, maxPages int, fetch func(*github.ListOptions) ([]T, *github.Response, error)) ([]T, bool, error) {
	var all []T
	opts := &github.ListOptions{PerPage: perPage, Page: 1}
	for pages := 1; ; pages++ {
		items, resp, err := fetch(opts)
		if err != nil {
			return nil, false, err
		}
		all = append(all, items...)
		if resp == nil || resp.NextPage == 0 {
			return all, false, nil
		}
		if resp.NextPage <= opts.Page {
			return nil, false, fmt.Errorf("page %d links back to page %d", opts.Page, resp.NextPage)
		}
		if pages >= maxPages {
			return all, true, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		opts.Page = resp.NextPage
	}
}

// PullsWithCommit lists the pull requests associated with commit sha (for a
// merge commit: the PR it merged).
func (r *Repo) PullsWithCommit(ctx context.Context, sha string) ([]*github.PullRequest, error) {
	prs, err := listAll(ctx, 5, func(opts *github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
		return r.GH.PullRequests.ListPullRequestsWithCommit(ctx, r.Owner, r.Name, sha, opts)
	})
	if err != nil {
		return nil, wrap(err, "list pull requests of commit %s", sha)
	}
	return prs, nil
}
