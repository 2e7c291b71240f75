package custody

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/request"
)

// Grant is a request file on the branch, with the recorded step that last
// added or changed it.
type Grant struct {
	ID     string
	Path   string
	Step   Move              // Before and After: the trees compared; Type and At: what GitHub recorded
	Digest [sha256.Size]byte // of the file's bytes on the branch
	// Earlier, for an emergency request, are the other emergency requests
	// on the branch, each with the trust before it: one of the same author,
	// merged before and unreviewed by its owners at this merge, refuses it.
	Earlier []Earlier
}

// Earlier is another emergency request on the branch and the trust before it.
type Earlier struct {
	Grant
	Trust State
}

// Verification is the chain's word on a grant.
type Verification struct {
	OK          bool
	Reason      string // why not, when !OK
	PR          int
	AuthorID    int64 // the grant belongs to this GitHub user
	AuthorLogin string
	MergedAt    time.Time // authoritative start of the window
	// Untrusted is set when the policy before the step is not trusted: the
	// grant is refused as untrusted history.
	Untrusted *UntrustedError
	// Retry marks a refusal that is asked again next time: a merge GitHub
	// recorded (or a head it has not) but has not linked to its pull
	// request yet.
	Retry bool `json:",omitempty"`
}

// Grant re-verifies g: the step that added it ends at the merge commit of
// a PR into the branch that approval.Decide approved at its merge time,
// judged against eligibility.yaml and CODEOWNERS as the branch was just
// before the step, which st (the trust before it) must show trusted; the
// PR added exactly the bytes on the branch. An error means "could not
// verify now": ask again later.
func (c *Checker) Grant(ctx context.Context, st State, g Grant) (*Verification, error) {
	v, err := c.grant(ctx, st, g)
	if v != nil && st.unsettled {
		v.Retry = true // judged under a refusal that may still turn: asked again
	}
	return v, err
}

func (c *Checker) grant(ctx context.Context, st State, g Grant) (*Verification, error) {
	if st.Pending != nil {
		return nil, st.Pending
	}
	if st.Untrusted != nil {
		return &Verification{Reason: "the policy it was judged under is not trusted: " + st.Untrusted.Error(), Untrusted: st.Untrusted, Retry: st.Untrusted.Retry}, nil
	}
	m := c.readMerge(ctx, g.Step)
	switch {
	case m.err != nil:
		return nil, m.err
	case m.reason != "" && m.retry:
		// Not certain yet: refused as untrusted history (503), asked again.
		return &Verification{Reason: m.reason, Retry: true, Untrusted: &UntrustedError{Path: g.Path, Commit: g.Step.After, Reason: m.reason}}, nil
	case m.reason != "":
		return &Verification{Reason: m.reason}, nil
	}
	pr, facts := m.pr, m.facts
	out := &Verification{PR: pr.GetNumber(), AuthorID: pr.GetUser().GetID(), AuthorLogin: pr.GetUser().GetLogin(), MergedAt: pr.GetMergedAt().Time}
	// The branch as it was just before the step, not the PR's base.sha,
	// which may be older and looser. st is trusted, so the last trusted
	// version of each policy file is the one at the step's before.
	var err error
	if facts.Base, err = approval.PolicyAt(ctx, st.Reader(c), g.Step.Before); err != nil {
		return nil, err
	}
	facts.Base.Ref = g.Step.Before
	if facts.RecordedRequester, err = c.recordedRequester(ctx, pr, g.ID, facts.Added); err != nil {
		return nil, err
	}
	if facts.UnreviewedEmergencies, err = c.unreviewed(ctx, g.Earlier, out.AuthorID, out.MergedAt); err != nil {
		return nil, err
	}
	verdict, err := approval.Decide(ctx, facts, c.Members, out.MergedAt)
	if err != nil {
		return nil, err
	}
	switch {
	case verdict.State != approval.Approved:
		out.Reason = fmt.Sprintf("PR #%d was merged without a passing verdict: %s", pr.GetNumber(), verdict.Summary())
	case verdict.Kind != approval.KindRequest || verdict.Path != g.Path:
		out.Reason = fmt.Sprintf("PR #%d did not add %s", pr.GetNumber(), g.Path)
	case sha256.Sum256(facts.Added) != g.Digest:
		out.Reason = fmt.Sprintf("%s on the branch differs from what PR #%d had approved", g.Path, pr.GetNumber())
	default:
		out.OK = true
	}
	return out, nil
}

// unreviewed lists the emergency requests among earlier that author's PRs
// merged before mergedAt (or in the same second: neither counts as
// first) and that no owner had approved by then, by the
// request decision's own rule (approval.EmergencyReviewed).
func (c *Checker) unreviewed(ctx context.Context, earlier []Earlier, author int64, mergedAt time.Time) ([]string, error) {
	var out []string
	for _, e := range earlier {
		if e.Step.At.After(mergedAt) {
			continue
		}
		m := c.readMerge(ctx, e.Step)
		if m.err != nil {
			return nil, m.err
		}
		if m.reason != "" || m.pr.GetUser().GetID() != author || m.pr.GetMergedAt().After(mergedAt) {
			continue
		}
		f := *m.facts
		var err error
		if f.Base, err = approval.PolicyAt(ctx, e.Trust.Reader(c), e.Step.Before); err != nil {
			return nil, err
		}
		by, err := approval.EmergencyReviewed(ctx, &f, c.Members, mergedAt)
		if err != nil {
			return nil, err
		}
		if len(by) == 0 {
			out = append(out, e.ID)
		}
	}
	return out, nil
}

// recordedRequester is the requester elevate's merge record on pr names for
// its author's id, when the checker has the key to verify it and the
// record is there ("" otherwise). Only a file whose requester is not the
// author's login now needs one: the PR's comments are read for it alone.
func (c *Checker) recordedRequester(ctx context.Context, pr *github.PullRequest, id string, added []byte) (string, error) {
	if c.CommentKey == nil || c.Comments == nil {
		return "", nil
	}
	if req, err := request.Parse("requests/"+id+".yaml", added); err != nil || strings.EqualFold(req.Requester, pr.GetUser().GetLogin()) {
		return "", nil // invalid (Decide says why), or no rename to explain
	}
	comments, _, err := c.Comments.FirstComments(ctx, pr.GetNumber())
	if err != nil {
		return "", err
	}
	r, ok := c.CommentKey.MergeRecordOf(comments, id)
	if !ok || r.AuthorID != pr.GetUser().GetID() {
		return "", nil
	}
	// A rename leaves the old login to nobody (or to whoever claims it
	// later): a requester someone else holds now was never this author,
	// whatever a record says.
	holder, err := c.Comments.UserID(ctx, r.Requester)
	if err != nil {
		return "", err
	}
	if holder != 0 && holder != r.AuthorID {
		return "", nil
	}
	return r.Requester, nil
}
