package githubapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/codeowners"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/request"
)

// maxRevocationReads bounds the base reads a revocation PR may cause; past it
// only code owners may revoke (requesters are not looked up).
const maxRevocationReads = 100

// Facts gathers what approval.Decide needs about pr: its files and reviews,
// the request it adds (read at the head), and eligibility.yaml and CODEOWNERS
// read at the base commit, never at the head. The number of calls depends on
// the PR, never on the size of the repository.
func (r *Repo) Facts(ctx context.Context, pr *github.PullRequest) (*approval.Facts, error) {
	number := pr.GetNumber()
	head, base := pr.GetHead().GetSHA(), pr.GetBase().GetSHA()
	if head == "" || base == "" {
		return nil, fmt.Errorf("pull request #%d has no head or base commit", number)
	}
	f := &approval.Facts{
		Number:  number,
		Author:  approval.User{ID: pr.GetUser().GetID(), Login: pr.GetUser().GetLogin(), Bot: pr.GetUser().GetType() == "Bot"},
		HeadSHA: head,
		BaseSHA: base,
	}
	if pr.MergedAt != nil {
		f.MergedAt = pr.GetMergedAt().Time
	}
	files, err := r.PullRequestFiles(ctx, number)
	if err != nil {
		return nil, err
	}
	for _, cf := range files {
		f.Files = append(f.Files, approval.FileChange{Path: cf.GetFilename(), PreviousPath: cf.GetPreviousFilename(), Status: cf.GetStatus()})
	}
	reviews, err := r.Reviews(ctx, number)
	if err != nil {
		return nil, err
	}
	for _, rv := range reviews {
		f.Reviews = append(f.Reviews, approval.Review{
			Reviewer:    approval.User{ID: rv.GetUser().GetID(), Login: rv.GetUser().GetLogin(), Bot: rv.GetUser().GetType() == "Bot"},
			State:       rv.GetState(),
			CommitID:    rv.GetCommitID(),
			SubmittedAt: rv.GetSubmittedAt().Time,
		})
	}

	if f.Policy, err = r.optional(ctx, eligibility.File, base, eligibility.MaxSize); err != nil {
		return nil, err
	}
	f.CodeOwnersPath, f.CodeOwners, err = codeowners.Find(ctx, func(ctx context.Context, path string) ([]byte, error) {
		data, err := r.FileAt(ctx, path, base, codeowners.MaxSize)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", codeowners.ErrNotFound, err)
		}
		return data, err
	})
	if err != nil {
		return nil, err
	}

	var added []string
	removed := 0
	for _, fc := range f.Files {
		switch {
		case fc.Path == eligibility.File && fc.Status != "removed":
			if f.PolicyAtHead, err = r.FileAt(ctx, eligibility.File, head, eligibility.MaxSize); err != nil {
				return nil, err
			}
		case !request.IsRequestPath(fc.Path):
		case fc.Status == "added":
			added = append(added, fc.Path)
		case fc.Status == "removed":
			removed++
		}
	}
	if len(added) == 1 {
		f.Added, err = r.FileAt(ctx, added[0], head, request.MaxSize)
		if errors.Is(err, ErrTooLarge) {
			f.Added, f.AddedTooLarge = nil, true
		} else if err != nil {
			return nil, err
		}
	}
	if removed == len(f.Files) && removed <= maxRevocationReads {
		f.Deleted = map[string][]byte{}
		for _, fc := range f.Files {
			data, err := r.FileAt(ctx, fc.Path, base, request.MaxSize)
			if err != nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			if err == nil {
				f.Deleted[fc.Path] = data
			}
		}
	}
	return f, nil
}

// optional reads a file that may be missing (nil, nil).
func (r *Repo) optional(ctx context.Context, path, ref string, maxBytes int64) ([]byte, error) {
	data, err := r.FileAt(ctx, path, ref, maxBytes)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return data, err
}
