package custody

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/google/go-github/v60/github"
	"golang.org/x/sync/errgroup"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/request"
)

// What happened to the branch is what GitHub recorded: every push, force
// push, merge, creation and deletion of the branch, with the commit before
// and after it. Git's commit graph is data anyone who can push shapes as
// they like (a merge whose first parent is an older commit descends from
// the head, yet drops everything since from the first-parent chain), so the
// broker never walks it to decide what merged: each recorded move is judged
// by the trees at its two ends.

// Move types: GitHub's activity types, and the broker's own for a head the
// activity does not list yet.
const (
	MovePush           = githubapi.ActivityPush
	MoveForcePush      = githubapi.ActivityForcePush
	MoveBranchCreation = githubapi.ActivityBranchCreation
	MoveBranchDeletion = githubapi.ActivityBranchDeletion
	MovePRMerge        = githubapi.ActivityPRMerge
	MoveMergeQueue     = githubapi.ActivityMergeQueue
	MoveUnrecorded     = "unrecorded"
)

// ListingDelay is how long a merge GitHub has not listed yet (in its
// activity, or as the merge of a pull request) is "not yet", counted from
// when the broker first saw it or GitHub timed it, whichever is earlier;
// never from a date a commit claims for itself.
const ListingDelay = 30 * time.Second

// Bounds of one look at the activity and of the moves it holds.
const (
	// maxStepChanges bounds the ledger-file changes of one step.
	maxStepChanges = 100_000
	// maxBatch bounds the commits of a merge-queue batch split into merges.
	maxBatch = 250
)

// Move is one move of the branch head as GitHub's repository activity
// recorded it, or (Type MoveUnrecorded) a head the activity does not list yet.
type Move struct {
	ID     int64     `json:",omitempty"` // the activity entry; 0 when unrecorded
	Type   string    // a Move* type
	Before string    // where the branch was (gitlog.NoCommit: nowhere)
	After  string    // where it went
	At     time.Time // GitHub's time of the move; unrecorded: when the broker first saw it
	Actor  string    `json:",omitempty"`
}

// merged reports whether the move is one GitHub records for a merge it made.
func (m Move) merged() bool { return m.Type == MovePRMerge || m.Type == MoveMergeQueue }

// Mark is a point of the branch's recorded history: the activity entry
// whose move left the branch at Head. ID 0 names the trust anchor, found by
// its commit.
type Mark struct {
	ID   int64  `json:",omitempty"`
	Head string `json:",omitempty"`
}

// RewrittenError says the branch was reshaped after the anchor: a force
// push, a deletion or re-creation, a move that does not start where the
// last one left the branch, or a record that does not reach back.
type RewrittenError struct {
	Before, After string
	At            time.Time
	Actor         string
	Why           string
}

func (e *RewrittenError) Error() string {
	msg := fmt.Sprintf("the branch was rewritten: %s", e.Why)
	if e.Before != "" || e.After != "" {
		msg += fmt.Sprintf(" (%.12s -> %.12s", e.Before, e.After)
		if e.Actor != "" {
			msg += " by " + e.Actor
		}
		if !e.At.IsZero() {
			msg += " at " + e.At.UTC().Format(time.RFC3339)
		}
		msg += ")"
	}
	return msg + "; review the branch (elevate audit --verify --from SHA) and restart the broker with --trust-anchor set to a commit you have reviewed"
}

// NotReachedError says GitHub's activity does not reach back to a mark:
// what happened between it and the oldest recorded move is unknown.
type NotReachedError struct {
	Mark   Mark
	Oldest string // the before of the oldest move listed; "" when none is
}

func (e *NotReachedError) Error() string {
	return fmt.Sprintf("GitHub's activity of the branch does not reach back to %.12s", e.Mark.Head)
}

// ErrNotRecorded says a merge is not listed by GitHub yet: an answer of
// "not yet" (503 not_synced), never a refusal.
var ErrNotRecorded = errors.New("not recorded by GitHub yet")

// Activity is what Moves asks GitHub (githubapi.Repo serves it).
type Activity interface {
	Activity(ctx context.Context, branch string, stop func(githubapi.Activity) bool) ([]githubapi.Activity, error)
}

// Moves lists the moves of the branch GitHub recorded after from (see
// Recorded).
func (c *Checker) Moves(ctx context.Context, from Mark, seen func(Move)) ([]Move, error) {
	return Recorded(ctx, c.GitHub, c.Branch, from, seen)
}

// Recorded lists the moves of branch GitHub recorded after from, oldest
// first: those after the entry from.ID, or, for the anchor (ID 0), those
// after the latest move that brought the branch to it by a push or merge.
// A force push or re-creation landing on the anchor does not say which of
// its times an operator reviewed, so the listing goes on to the first time
// the branch was there, and Follow sees the rewrite. When the activity does
// not reach back to from, it returns every move listed and a
// *NotReachedError. seen, when set, is told of each move as its page
// arrives, newest first, before the listing ends.
func Recorded(ctx context.Context, gh Activity, branch string, from Mark, seen func(Move)) ([]Move, error) {
	ref := "refs/heads/" + branch
	found := false
	list, err := gh.Activity(ctx, branch, func(a githubapi.Activity) bool {
		if a.Ref != ref {
			return false
		}
		rewrite := a.ActivityType == MoveForcePush || a.ActivityType == MoveBranchCreation
		// A mark is its entry and where that left the branch: an entry of
		// that id elsewhere is not it.
		if (from.ID != 0 && a.ID == from.ID && a.After == from.Head) || (from.ID == 0 && a.After == from.Head && !rewrite) {
			found = true
		}
		if !found && seen != nil {
			seen(moveOf(a))
		}
		return found
	})
	if err != nil {
		return nil, err
	}
	moves := make([]Move, 0, len(list))
	for _, a := range slices.Backward(list) {
		if a.Ref != ref {
			continue
		}
		m := moveOf(a)
		if n := len(moves); n > 0 {
			// Kept for every grant of the window: a move's before is
			// the last one's after, held once, and its type and actor
			// are a few names.
			prev := moves[n-1]
			if m.Before == prev.After {
				m.Before = prev.After
			}
			if m.Type == prev.Type {
				m.Type = prev.Type
			}
			if m.Actor == prev.Actor {
				m.Actor = prev.Actor
			}
		}
		moves = append(moves, m)
	}
	if found {
		return moves, nil
	}
	if from.ID == 0 {
		// The first time a rewrite (the branch's creation, say) left it there.
		for i, m := range moves {
			if m.After == from.Head {
				return moves[i+1:], nil
			}
		}
		if len(moves) > 0 && moves[0].Before == from.Head {
			return moves, nil
		}
	}
	nr := &NotReachedError{Mark: from}
	if len(moves) > 0 {
		nr.Oldest = moves[0].Before
	}
	return moves, nr
}

func moveOf(a githubapi.Activity) Move {
	return Move{ID: a.ID, Type: a.ActivityType, Before: a.Before, After: a.After, At: a.Timestamp.UTC(), Actor: a.Actor.GetLogin()}
}

// Follow checks that moves (oldest first) carry the branch on from from,
// each starting where the last one left it, with no force push, deletion or
// re-creation: the first that does not is the rewrite.
func Follow(from string, moves []Move) *RewrittenError {
	at := from
	for _, m := range moves {
		rw := &RewrittenError{Before: m.Before, After: m.After, At: m.At, Actor: m.Actor}
		switch {
		case m.Type == MoveForcePush:
			rw.Why = "GitHub's activity shows a force push"
		case m.Type == MoveBranchDeletion:
			rw.Why = "GitHub's activity shows the branch deleted"
		case m.Type == MoveBranchCreation:
			rw.Why = "GitHub's activity shows the branch created again"
		case m.Before != at:
			rw.Why = fmt.Sprintf("a recorded move starts at %.12s, not where the last one left the branch (%.12s)", m.Before, at)
		default:
			at = m.After
			continue
		}
		return rw
	}
	return nil
}

// Git is what the chain reads from the clone: policy files at a commit,
// trees compared, and the first parents of a merge-queue batch.
type Git interface {
	approval.FileReader
	Diff(ctx context.Context, from, to string, paths []string, max int) ([]Change, error)
	FirstParents(ctx context.Context, head string, exclude []string, fn func(sha string, at time.Time) bool) error
}

// LedgerPaths are the files a step's changes are read for: request files
// and policy files.
var LedgerPaths = append([]string{"requests/"}, PolicyPaths...)

// Steps reads what each move changed, comparing the trees at its two ends:
// the policy files always, the request files of moves at or after horizon
// (an earlier move's requests have no window left). A merge-queue batch
// that changed the ledger's files is split into its merges, each the merge
// of a pull request GitHub lists for that commit; the trees at the ends of
// each are compared, so nothing between them counts. A batch whose commits
// GitHub has not linked yet is "not yet" (ErrNotRecorded) until
// ListingDelay after GitHub recorded it (now is the broker's clock). Moves
// are oldest first.
func Steps(ctx context.Context, git Git, merges Merges, moves []Move, horizon, now time.Time) ([]Step, error) {
	return StepsAhead(ctx, git, merges, moves, horizon, now, nil)
}

// StepsAhead is Steps using what ahead compared already (nil: nothing).
func StepsAhead(ctx context.Context, git Git, merges Merges, moves []Move, horizon, now time.Time, ahead *Ahead) ([]Step, error) {
	diffs, err := diffAll(ctx, git, moves, horizon, ahead)
	if err != nil {
		return nil, err
	}
	steps := make([]Step, 0, len(moves))
	for i, m := range moves {
		paths := pathsOf(m, horizon)
		changes := diffs[i]
		if m.Type == MoveMergeQueue && len(changes) > 0 {
			split, err := splitBatch(ctx, git, merges, m, paths, now)
			if err != nil {
				return nil, err
			}
			if split != nil {
				steps = append(steps, split...)
				continue
			}
		}
		steps = append(steps, Step{Move: m, Changes: changes})
	}
	return steps, nil
}

// pathsOf is what a move's trees are compared for: the policy files
// always, the request files of moves at or after horizon.
func pathsOf(m Move, horizon time.Time) []string {
	if m.At.Before(horizon) {
		return PolicyPaths
	}
	return LedgerPaths
}

// forker is a Git that opens more readers of the same repository, to
// compare many moves' trees on every core (gitlog.Repo).
type forker interface {
	Fork() (*gitlog.Repo, error)
}

// parallelMoves is how many moves make comparing them on every core
// worth opening more readers: a cold start's, not a webhook's.
const parallelMoves = 2000

// diffAll compares the trees of every move, in contiguous runs (a move's
// after is the next one's before, read once) on as many readers as there
// are cores when there are many moves.
func diffAll(ctx context.Context, git Git, moves []Move, horizon time.Time, ahead *Ahead) ([][]Change, error) {
	out := make([][]Change, len(moves))
	// What ahead compared already is taken as it is; only the rest is
	// shared among the workers, so none is left with all of it.
	var todo []int
	var rest []Move
	for i, m := range moves {
		if changes, ok := ahead.known(m, horizon); ok {
			out[i] = changes
			continue
		}
		todo, rest = append(todo, i), append(rest, m)
	}
	run := func(g Git, idx []int) error {
		for _, i := range idx {
			m := moves[i]
			changes, err := g.Diff(ctx, m.Before, m.After, pathsOf(m, horizon), maxStepChanges)
			if err != nil {
				return fmt.Errorf("compare the trees of the move %.12s -> %.12s: %w", m.Before, m.After, err)
			}
			out[i] = changes
		}
		return nil
	}
	f, ok := git.(forker)
	workers := min(runtime.GOMAXPROCS(0), 8)
	if !ok || len(todo) < parallelMoves || workers < 2 {
		return out, run(git, todo)
	}
	var eg errgroup.Group
	bounds := balance(rest, horizon, workers)
	for w := range workers {
		idx := todo[bounds[w]:bounds[w+1]]
		if w == 0 {
			eg.Go(func() error { return run(git, idx) })
			continue
		}
		eg.Go(func() error {
			fork, err := f.Fork()
			if err != nil {
				return err
			}
			defer fork.Close()
			return run(fork, idx)
		})
	}
	return out, eg.Wait()
}

// windowCost is how much more comparing a move in the window costs than
// one before it: its request folders are read, not only the root.
const windowCost = 16

// balance splits moves into workers contiguous runs of about equal cost,
// returning their workers+1 bounds.
func balance(moves []Move, horizon time.Time, workers int) []int {
	cost := func(m Move) int {
		if m.At.Before(horizon) {
			return 1
		}
		return windowCost
	}
	total := 0
	for _, m := range moves {
		total += cost(m)
	}
	bounds := []int{0}
	sum := 0
	for i, m := range moves {
		sum += cost(m)
		if len(bounds) < workers && sum*workers >= total*len(bounds) {
			bounds = append(bounds, i+1)
		}
	}
	for len(bounds) <= workers {
		bounds = append(bounds, len(moves))
	}
	return bounds
}

// Merges says whether GitHub lists a pull request merged into the branch
// exactly as commit sha (Checker serves it).
type Merges interface {
	MergedAs(ctx context.Context, sha string) (bool, error)
}

// MergedAs reports whether GitHub lists a pull request merged into the
// branch exactly as commit sha.
func (c *Checker) MergedAs(ctx context.Context, sha string) (bool, error) {
	return MergesInto(c.GitHub, c.Branch).MergedAs(ctx, sha)
}

// Pulls lists the pull requests GitHub associates with a commit.
type Pulls interface {
	PullsWithCommit(ctx context.Context, sha string) ([]*github.PullRequest, error)
}

// MergeOf is the pull request GitHub lists as merged into branch exactly
// as commit sha (its merge_commit_sha), or nil: the one way elevate links a
// commit to the merge that made it.
// Several pull requests GitHub lists as merged exactly there is
// ErrAmbiguousMerge: whose grant or approval it was is not certain.
func MergeOf(ctx context.Context, gh Pulls, branch, sha string) (*github.PullRequest, error) {
	prs, err := gh.PullsWithCommit(ctx, sha)
	if err != nil {
		return nil, fmt.Errorf("find the PR merged as %.12s: %w", sha, err)
	}
	var found []*github.PullRequest
	for _, pr := range prs {
		if pr.MergedAt != nil && pr.GetMergeCommitSHA() == sha && pr.GetBase().GetRef() == branch {
			found = append(found, pr)
		}
	}
	if len(found) > 1 {
		return found[0], fmt.Errorf("GitHub lists %d pull requests merged as %.12s: %w", len(found), sha, ErrAmbiguousMerge)
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return nil, nil
}

// ErrAmbiguousMerge says GitHub lists several pull requests merged as one commit.
var ErrAmbiguousMerge = errors.New("which pull request merged it is ambiguous: it grants nothing and trusts nothing")

// MergesInto answers MergedAs for branch from gh.
func MergesInto(gh Pulls, branch string) Merges { return prMerges{gh, branch} }

type prMerges struct {
	gh     Pulls
	branch string
}

func (m prMerges) MergedAs(ctx context.Context, sha string) (bool, error) {
	pr, err := MergeOf(ctx, m.gh, m.branch, sha)
	if errors.Is(err, ErrAmbiguousMerge) {
		return true, nil // a merge there, judged (and refused) on its own
	}
	return pr != nil, err
}

// splitBatch divides a merge-queue batch at the commits GitHub lists as the
// merge of a pull request into the branch; nil when the batch's first
// parents do not lead back to its before within maxBatch commits.
func splitBatch(ctx context.Context, git Git, merges Merges, m Move, paths []string, now time.Time) ([]Step, error) {
	var chain []string
	reached := false
	err := git.FirstParents(ctx, m.After, nil, func(sha string, _ time.Time) bool {
		if sha == m.Before {
			reached = true
			return false
		}
		chain = append(chain, sha)
		return len(chain) < maxBatch
	})
	if err != nil || !reached {
		return nil, err
	}
	ends := []string{m.Before}
	for _, sha := range slices.Backward(chain) {
		if sha == m.After {
			break
		}
		ok, err := merges.MergedAs(ctx, sha)
		switch {
		case err != nil:
			return nil, err
		case ok:
			ends = append(ends, sha)
		case now.Sub(m.At) < ListingDelay:
			return nil, fmt.Errorf("GitHub lists no pull request merged as %.12s of the merge-queue batch to %.12s yet: %w", sha, m.After, ErrNotRecorded)
		}
	}
	ends = append(ends, m.After)
	steps := make([]Step, 0, len(ends)-1)
	for i := 1; i < len(ends); i++ {
		changes, err := git.Diff(ctx, ends[i-1], ends[i], paths, maxStepChanges)
		if err != nil {
			return nil, err
		}
		mv := m
		mv.Before, mv.After = ends[i-1], ends[i]
		steps = append(steps, Step{Move: mv, Changes: changes})
	}
	return steps, nil
}

// IsRequestChange reports whether a change is to a request file.
func IsRequestChange(ch Change) bool {
	_, err := request.ParsePath(ch.Path)
	return err == nil
}
