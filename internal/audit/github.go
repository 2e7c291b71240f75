package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/eligibility"
)

// gitHubWorkers bounds the GitHub look-ups in flight.
const gitHubWorkers = 4

// pullInfo is what GitHub says about one grant commit.
type pullInfo struct {
	number   int
	pr       *github.PullRequest
	reviews  []*github.PullRequestReview
	comments []*github.IssueComment
	more     bool // more comments than were read
}

// addPullRequests finds, for each grant commit, the merged pull request
// whose merge_commit_sha is that commit, its APPROVED reviews and its
// comments, and the comments of the pull request that revoked it. The pull
// request's merged_at replaces the commit time. A commit no merged pull
// request produced (a direct push) keeps PR 0 and no approvers. Any error
// from GitHub is returned: the audit is never silently partial. skipped
// lists the PRs with more comments than are read.
func addPullRequests(ctx context.Context, src PRSource, branch string, versions []*version) (skipped []int, err error) {
	byCommit, byRevocation := map[string][]*version{}, map[string][]*version{}
	var commits, revocations []string
	for _, v := range versions {
		if v.Commit != "" {
			if _, ok := byCommit[v.Commit]; !ok {
				commits = append(commits, v.Commit)
			}
			byCommit[v.Commit] = append(byCommit[v.Commit], v)
		}
		if v.RevokedCommit != "" {
			if _, ok := byRevocation[v.RevokedCommit]; !ok {
				revocations = append(revocations, v.RevokedCommit)
			}
			byRevocation[v.RevokedCommit] = append(byRevocation[v.RevokedCommit], v)
		}
	}
	infos, err := pullsOf(ctx, src, branch, commits, func(sha string) string { return byCommit[sha][0].ID })
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	skip := func(info pullInfo) {
		if info.more && !seen[info.number] {
			seen[info.number] = true
			skipped = append(skipped, info.number)
		}
	}
	for i, sha := range commits {
		info := infos[i]
		if info.pr == nil {
			continue
		}
		skip(info)
		for _, v := range byCommit[sha] {
			v.PR = info.number
			v.MergedAt = info.pr.GetMergedAt().UTC()
			v.pr, v.prAuthor, v.reviews = info.pr, info.pr.GetUser().GetLogin(), info.reviews
			v.approvals = Approvals(info.reviews)
			v.comments = append(v.comments, info.comments...)
		}
	}
	infos, err = pullsOf(ctx, src, branch, revocations, func(sha string) string { return "the revocation of " + byRevocation[sha][0].ID })
	if err != nil {
		return nil, err
	}
	for i, sha := range revocations {
		skip(infos[i])
		for _, v := range byRevocation[sha] {
			v.comments = append(v.comments, infos[i].comments...)
		}
	}
	slices.Sort(skipped)
	return skipped, nil
}

// pullsOf runs pullOf for each commit, gitHubWorkers at a time; label names
// a commit in an error.
func pullsOf(ctx context.Context, src PRSource, branch string, commits []string, label func(sha string) string) ([]pullInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	infos := make([]pullInfo, len(commits))
	errs := make([]error, len(commits))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(gitHubWorkers, len(commits)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(commits) {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[i] = err
					return
				}
				sha := commits[i]
				infos[i], errs[i] = pullOf(ctx, src, branch, sha)
				if errs[i] != nil {
					errs[i] = fmt.Errorf("%s (commit %.12s): %w", label(sha), sha, errs[i])
					cancel()
				}
			}
		})
	}
	wg.Wait()
	// The first failure in history order, not a cancellation it caused
	// (unless the caller's context ended: then that is the failure).
	var first error
	for _, err := range errs {
		switch {
		case err == nil:
		case first == nil:
			first = err
		case errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled):
			first = err
		}
	}
	return infos, first
}

// pullOf finds the merged pull request of sha and its approvals.
func pullOf(ctx context.Context, src PRSource, branch, sha string) (pullInfo, error) {
	merged, err := custody.MergeOf(ctx, src, branch, sha)
	if err != nil {
		return pullInfo{}, err
	}
	if merged == nil {
		return pullInfo{}, nil
	}
	reviews, err := src.Reviews(ctx, merged.GetNumber())
	if err != nil {
		return pullInfo{}, fmt.Errorf("read the reviews of #%d: %w", merged.GetNumber(), err)
	}
	comments, more, err := src.FirstComments(ctx, merged.GetNumber())
	if err != nil {
		return pullInfo{}, fmt.Errorf("read the comments of #%d: %w", merged.GetNumber(), err)
	}
	return pullInfo{number: merged.GetNumber(), pr: merged, reviews: reviews, comments: comments, more: more}, nil
}

// reviewEmergencies marks each emergency grant that an owner approved within
// ReviewWindow of its merge, by the request decision's own rule
// (approval.EmergencyReviewed) under the policy just before the merge.
func reviewEmergencies(ctx context.Context, git approval.FileReader, members eligibility.Membership, versions []*version, now time.Time) error {
	if members == nil {
		members = noTeams{}
	}
	for _, v := range versions {
		if v.req == nil || !v.req.Emergency || v.pr == nil || v.before == "" {
			continue
		}
		until := v.MergedAt.Add(ReviewWindow)
		if now.Before(until) {
			until = now
		}
		by, err := approval.ReviewedEmergency(ctx, git, members, v.pr, v.Path, v.before, v.reviews, until)
		if err != nil {
			return fmt.Errorf("the review of %s: %w", v.ID, err)
		}
		v.reviewed = len(by) > 0
	}
	return nil
}

// noTeams is membership with no teams: only owners named by login count.
type noTeams struct{}

func (noTeams) ActiveTeamMember(context.Context, string, string, string) (bool, error) {
	return false, nil
}
