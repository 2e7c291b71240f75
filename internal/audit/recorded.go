package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/gitlog"
)

// recorded reads what GitHub recorded of branch since anchor, as the broker
// reads it: the moves of the branch, each judged by the trees at its two
// ends and dated by GitHub, so that the period is selected by GitHub's
// times, never by a date a commit claims. A rewrite or a record that does
// not reach back is kept for the report; reading goes on from the last
// point the record vouches for.
func (r *reader) recorded(ctx context.Context, rep *Report, src PRSource, branch, anchor string) error {
	moves, err := custody.Recorded(ctx, src, branch, custody.Mark{Head: anchor}, nil)
	if !errors.As(err, &r.reachErr) && err != nil {
		return fmt.Errorf("read what GitHub recorded of %s: %w", branch, err)
	}
	end := -1
	for i := len(moves) - 1; i >= 0; i-- {
		if moves[i].After == r.head {
			end = i
			break
		}
	}
	if end < 0 && r.head != anchor && len(moves) > 0 {
		return fmt.Errorf("the checkout's %s is at %.12s, where GitHub's record of the branch never left it: fetch it (git fetch origin %s) and audit again", branch, r.head, branch)
	}
	moves = moves[:end+1]
	from := anchor
	if r.reachErr != nil && len(moves) > 0 {
		from = moves[0].Before
	}
	r.rewrite = custody.Follow(from, moves)
	// After a rewrite, what came before it is not the branch's history.
	for i := len(moves) - 1; i >= 0; i-- {
		if custody.Follow(moves[i].Before, moves[i:]) != nil {
			moves = moves[i+1:]
			break
		}
	}
	steps, err := custody.Steps(ctx, r.git, custody.MergesInto(src, branch), moves, time.Time{}, r.now)
	if err != nil {
		return err
	}
	r.steps, r.stepOf = steps, make(map[string]custody.Move, len(steps))
	n := 0
	for _, st := range slices.Backward(steps) {
		r.stepOf[st.After] = st.Move
		var reqs []gitlog.Change
		for _, ch := range st.Changes {
			if custody.IsRequestChange(ch) {
				reqs = append(reqs, ch)
			}
		}
		if len(reqs) == 0 {
			continue
		}
		if n += len(reqs); n > r.max {
			return r.tooMany()
		}
		r.commits = append(r.commits, gitlog.Commit{SHA: st.After, Parent: st.Before, At: st.At, Changes: reqs})
	}
	return nil
}
