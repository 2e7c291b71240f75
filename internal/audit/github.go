package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/custody"
)

// gitHubWorkers bounds the GitHub look-ups in flight.
const gitHubWorkers = 4

// pullInfo is what GitHub says about one grant commit.
type pullInfo struct {
	number    int
	pr        *github.PullRequest
	approvals []Approval
	comments  []string // bodies
}

// addPullRequests finds, for each grant commit, the merged pull request
// whose merge_commit_sha is that commit, its APPROVED reviews and its
// comments, and the comments of the pull request that revoked it. The pull
// request's merged_at replaces the commit time. A commit no merged pull
// request produced (a direct push) keeps PR 0 and no approvers. Any error
// from GitHub is returned: the audit is never silently partial.
func addPullRequests(ctx context.Context, src PRSource, branch string, versions []*version) error {
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
		return err
	}
	for i, sha := range commits {
		info := infos[i]
		if info.pr == nil {
			continue
		}
		for _, v := range byCommit[sha] {
			v.PR = info.number
			v.MergedAt = info.pr.GetMergedAt().UTC()
			v.prAuthor = info.pr.GetUser().GetLogin()
			v.approvals = info.approvals
			v.comments = append(v.comments, info.comments...)
		}
	}
	infos, err = pullsOf(ctx, src, branch, revocations, func(sha string) string { return "the revocation of " + byRevocation[sha][0].ID })
	if err != nil {
		return err
	}
	for i, sha := range revocations {
		for _, v := range byRevocation[sha] {
			v.comments = append(v.comments, infos[i].comments...)
		}
	}
	return nil
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
	comments, err := src.Comments(ctx, merged.GetNumber())
	if err != nil {
		return pullInfo{}, fmt.Errorf("read the comments of #%d: %w", merged.GetNumber(), err)
	}
	info := pullInfo{number: merged.GetNumber(), pr: merged}
	for _, c := range comments {
		info.comments = append(info.comments, c.GetBody())
	}
	info.approvals = Approvals(reviews)
	return info, nil
}
