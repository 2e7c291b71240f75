package approval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/codeowners"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/fileerr"
	"github.com/elevate-gitops/elevate/internal/request"
)

// maxRevocationReads bounds the base reads a revocation PR may cause; past it
// only code owners may revoke (requesters are not looked up).
const maxRevocationReads = 100

// FileReader reads one file at a commit. A missing file is an error matching
// fileerr.ErrNotExist; a file over maxBytes one matching fileerr.ErrTooLarge;
// a symlink, submodule or directory one matching fileerr.ErrNotRegular. The
// GitHub API (githubapi.Repo) and a local clone (the ledger's history) both
// serve it.
type FileReader interface {
	FileAt(ctx context.Context, path, ref string, maxBytes int64) ([]byte, error)
}

// Source is what Gather reads about a pull request through GitHub's API.
type Source interface {
	FileReader
	PullRequest(ctx context.Context, number int) (*github.PullRequest, error)
	PullRequestFiles(ctx context.Context, number int) ([]*github.CommitFile, error)
	Reviews(ctx context.Context, number int) ([]*github.PullRequestReview, error)
}

// HeadMovedError says the PR's head changed while its facts were read: the
// files listed may not be the head's, so nothing may be judged on them.
type HeadMovedError struct {
	Number     int
	Was, IsNow string
}

func (e *HeadMovedError) Error() string {
	return fmt.Sprintf("the head of #%d moved from %.12s to %.12s while it was read; judge it again", e.Number, e.Was, e.IsNow)
}

// IsTooLarge reports whether err says a file is over its size limit.
func IsTooLarge(err error) bool { return errors.Is(err, fileerr.ErrTooLarge) }

// IsNotRegular reports whether err says a path is not a regular file.
func IsNotRegular(err error) bool { return errors.Is(err, fileerr.ErrNotRegular) }

// Gather reads what Decide needs about pr from GitHub: its files and reviews,
// the request it adds (at the head) and the requests a revocation deletes (at
// the base). The policy files are not read here: the caller picks the commit
// they are judged at with PolicyAt (the PR's base for the Action, the merge's
// first parent for the broker). For an open PR it re-reads the PR after
// listing its files and refuses with *HeadMovedError if the head moved, so
// the verdict is about the exact head it names. The number of calls depends
// on the PR, never on the size of the repository.
func Gather(ctx context.Context, src Source, pr *github.PullRequest) (*Facts, error) {
	number := pr.GetNumber()
	head, base := pr.GetHead().GetSHA(), pr.GetBase().GetSHA()
	if head == "" || base == "" {
		return nil, fmt.Errorf("pull request #%d has no head or base commit", number)
	}
	f := &Facts{
		Number:  number,
		Author:  userOf(pr.GetUser()),
		HeadSHA: head,
		BaseSHA: base,
	}
	if pr.MergedAt != nil {
		f.MergedAt = pr.GetMergedAt().Time
	}
	files, err := src.PullRequestFiles(ctx, number)
	if err != nil {
		return nil, err
	}
	for _, cf := range files {
		f.Files = append(f.Files, FileChange{Path: cf.GetFilename(), PreviousPath: cf.GetPreviousFilename(), Status: cf.GetStatus(), Blob: cf.GetSHA()})
	}
	if pr.MergedAt == nil {
		now, err := src.PullRequest(ctx, number)
		if err != nil {
			return nil, err
		}
		if now.GetHead().GetSHA() != head {
			return nil, &HeadMovedError{Number: number, Was: head, IsNow: now.GetHead().GetSHA()}
		}
	}
	reviews, err := src.Reviews(ctx, number)
	if err != nil {
		return nil, err
	}
	f.Reviews = reviewsOf(reviews)

	var added []string
	removed := 0
	for _, fc := range f.Files {
		switch {
		case fc.Path == eligibility.File && fc.Status != "removed":
			if f.PolicyAtHead, err = src.FileAt(ctx, eligibility.File, head, eligibility.MaxSize); err != nil && !IsNotRegular(err) {
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
		f.Added, err = src.FileAt(ctx, added[0], head, request.MaxSize)
		switch {
		case IsTooLarge(err):
			f.Added, f.AddedTooLarge = nil, true
		case IsNotRegular(err):
			f.Added, f.AddedNotRegular = nil, true
		case err != nil:
			return nil, err
		}
	}
	if removed == len(f.Files) && removed <= maxRevocationReads {
		f.Deleted = map[string][]byte{}
		for _, fc := range f.Files {
			data, err := src.FileAt(ctx, fc.Path, base, request.MaxSize)
			if err != nil && !IsTooLarge(err) && !IsNotRegular(err) && !errors.Is(err, fileerr.ErrNotExist) {
				return nil, err
			}
			if err == nil {
				f.Deleted[fc.Path] = data
			}
		}
	}
	return f, nil
}

// ReviewedEmergency is EmergencyReviewed of the merged request PR pr that
// added path, with its reviews, under the policy read from src at before
// (where the branch was just before the merge): who of its owners approved
// it by until.
func ReviewedEmergency(ctx context.Context, src FileReader, members eligibility.Membership, pr *github.PullRequest, path, before string, reviews []*github.PullRequestReview, until time.Time) ([]string, error) {
	f, err := emergencyFacts(ctx, src, pr, path, before, reviews)
	if err != nil {
		return nil, err
	}
	return EmergencyReviewed(ctx, f, members, until)
}

func emergencyFacts(ctx context.Context, src FileReader, pr *github.PullRequest, path, before string, reviews []*github.PullRequestReview) (*Facts, error) {
	f := &Facts{
		Number: pr.GetNumber(), Author: userOf(pr.GetUser()), HeadSHA: pr.GetHead().GetSHA(),
		Files: []FileChange{{Path: path, Status: "added"}}, MergedAt: pr.GetMergedAt().Time,
		Reviews: reviewsOf(reviews),
	}
	var err error
	if f.Base, err = PolicyAt(ctx, src, before); err != nil {
		return nil, err
	}
	// The file as reviewed says which targets' approvers must review it.
	data, err := src.FileAt(ctx, path, f.HeadSHA, request.MaxSize)
	switch {
	case err == nil:
		f.Added = data
	case IsTooLarge(err) || IsNotRegular(err) || errors.Is(err, fileerr.ErrNotExist):
	default:
		return nil, err
	}
	return f, nil
}

func reviewsOf(reviews []*github.PullRequestReview) []Review {
	out := make([]Review, 0, len(reviews))
	for _, rv := range reviews {
		out = append(out, Review{
			Reviewer:    userOf(rv.GetUser()),
			State:       rv.GetState(),
			CommitID:    rv.GetCommitID(),
			SubmittedAt: rv.GetSubmittedAt().Time,
		})
	}
	return out
}

func userOf(u *github.User) User {
	return User{ID: u.GetID(), Login: u.GetLogin(), Bot: u.GetType() == "Bot"}
}

// PolicyAt reads eligibility.yaml and the CODEOWNERS GitHub would use at ref.
// A path that is not a regular file counts as missing: it is no policy.
func PolicyAt(ctx context.Context, src FileReader, ref string) (Base, error) {
	b := Base{Ref: ref}
	data, err := src.FileAt(ctx, eligibility.File, ref, eligibility.MaxSize)
	switch {
	case err == nil:
		b.Policy = data
	case errors.Is(err, fileerr.ErrNotExist) || IsNotRegular(err):
	default:
		return b, fmt.Errorf("read %s at %.12s: %w", eligibility.File, ref, err)
	}
	b.CodeOwnersPath, b.CodeOwners, err = codeowners.Find(ctx, func(ctx context.Context, path string) ([]byte, error) {
		data, err := src.FileAt(ctx, path, ref, codeowners.MaxSize)
		if IsNotRegular(err) {
			return nil, fmt.Errorf("%s: %w", path, codeowners.ErrNotFound)
		}
		return data, err
	})
	if err != nil {
		return b, fmt.Errorf("read CODEOWNERS at %.12s: %w", ref, err)
	}
	return b, nil
}
