package audit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/prcomment"
	"github.com/elevate-gitops/elevate/internal/request"
)

// periodSlack is how many first-parent commits in a row must be dated
// before the period before an offline audit stops reading: a single commit
// pushed with an old date hides nothing behind it.
const periodSlack = 100

// PRSource is what Build reads from GitHub; *githubapi.Repo implements it.
// A nil PRSource means offline: the audit comes from git alone.
type PRSource interface {
	custody.Activity
	PullsWithCommit(ctx context.Context, sha string) ([]*github.PullRequest, error)
	Reviews(ctx context.Context, number int) ([]*github.PullRequestReview, error)
	// FirstComments lists a PR's first comments, saying whether there were
	// more (a PR may carry any number; the audit reads a bounded share).
	FirstComments(ctx context.Context, number int) ([]*github.IssueComment, bool, error)
}

// DefaultMaxEntries bounds the changes an audit reads when Options.MaxEntries is 0.
const DefaultMaxEntries = 100000

// ReviewWindow is how long after its merge an emergency grant may wait for
// an approval before the audit flags it.
const ReviewWindow = 24 * time.Hour

// Options say what to audit.
type Options struct {
	Dir    string // the local git checkout; default "."
	Branch string // default "main"; refs/heads/<Branch>, else refs/remotes/origin/<Branch>
	// Since is how far back to read merges; 0 reads the whole history.
	Since time.Duration
	Now   time.Time // default time.Now()
	// GitHub adds pull request data; nil audits offline.
	GitHub PRSource
	// MaxEntries bounds the changes read from git (default DefaultMaxEntries);
	// a longer history is an error that asks for a shorter Since.
	MaxEntries int
	// Verify, with GitHub, runs the broker's chain of custody from Anchor
	// (the trust anchor; default the branch's first commit) over the report.
	Verify Verifier
	Anchor string
	// Members answers team look-ups for the owner rule of emergency reviews
	// (nil: only owners named by login count).
	Members eligibility.Membership
	// CommentKey verifies the state of the broker's comments (how grants
	// were used, sessions ended); nil reads none of it, since anyone with
	// write access can post or edit a comment.
	CommentKey *prcomment.Key
}

// The states of an entry: the broker's (brokerapi), where a replaced file
// counts as revoked and an invalid one never granted.
const (
	StateActive    = string(brokerapi.StateActive)
	StateScheduled = string(brokerapi.StateScheduled)
	StateExpired   = string(brokerapi.StateExpired)
	StateRevoked   = string(brokerapi.StateRevoked)
	StateInvalid   = string(brokerapi.StateInvalid)
)

// Entry is one request file merged on the branch.
type Entry struct {
	ID, Path, Requester, Account, Role, Reason, Ticket string
	Duration                                           time.Duration
	Emergency                                          bool
	// Commit is the first-parent commit that added the file; MergedAt its
	// commit time, or the pull request's merged_at when GitHub is used.
	Commit   string
	MergedAt time.Time
	// Start and End are the window: [max(MergedAt, not_before), +Duration).
	Start, End time.Time
	State      string // StateActive, StateScheduled, StateExpired, StateRevoked, StateInvalid
	// RevokedAt and RevokedCommit record the first-parent commit that deleted
	// (or replaced) the file, when one did.
	RevokedAt     time.Time
	RevokedCommit string
	// PR is the pull request merged as Commit (0 offline, or for a direct
	// push); Approvers the distinct logins, other than the requester, with an
	// APPROVED review on it, sorted.
	PR        int
	Approvers []string
	// EmergencyUnreviewed marks an emergency grant with no APPROVED review by
	// anyone other than the requester within ReviewWindow after the merge.
	// Offline it is true for every emergency grant (see Report.Offline).
	EmergencyUnreviewed bool
	// Invalid says why the file never granted anything ("" for a grant).
	Invalid string
	// Verification is set by --verify: Verified, Unverified or BeforeAnchor;
	// VerifyReason says why not, VerifyCommit names the commit at fault.
	Verification, VerifyReason, VerifyCommit string
	// Online, from the broker's comments on the PRs: the first session
	// (when, by whom), how many sessions, and, when its sessions were ended
	// early, the time before which every one issued is denied.
	FirstUsed     time.Time
	FirstUsedBy   string
	Sessions      int
	SessionsEnded time.Time
	// Activity is what the grant's sessions did, as CloudTrail recorded it,
	// from the broker's verified activity comment; nil without one. Every
	// string in it was read from a log file: whoever shows it escapes it.
	// It covers the whole request, so each of its targets' rows holds it.
	Activity *activity.Summary
	// Extends is the grant whose window this one continues without a gap
	// (elevate extend): same requester, account and role, starting where it
	// ends; ExtendedBy lists the grants that continue this one.
	Extends    string
	ExtendedBy []string
}

// Hours is how long the entry granted access: the window, cut short by a
// revocation; 0 for an invalid file.
func (e *Entry) Hours() float64 {
	if e.Invalid != "" || e.End.IsZero() {
		return 0
	}
	end := e.End
	if !e.RevokedAt.IsZero() && e.RevokedAt.Before(end) {
		end = e.RevokedAt
	}
	if !end.After(e.Start) {
		return 0
	}
	return end.Sub(e.Start).Hours()
}

// Total sums the grants of one account and role.
type Total struct {
	Account, Role string
	Grants        int
	Hours         float64
	Emergency     int
	People        int
}

// Report is the audit of one branch.
type Report struct {
	Generated time.Time
	Since     time.Time // zero: the whole history
	Branch    string
	Head      string // the commit audited
	// Offline is true when no GitHub source was given: no PR data, and every
	// emergency grant counts as unreviewed.
	Offline bool
	Entries []Entry // newest first
	// Verified is set when the chain of custody was checked (Options.Verify);
	// Policy then lists the policy changes of the period and every one
	// before it that did not verify, newest first, and Rewritten says whether
	// GitHub shows a force push after the anchor.
	Verified  bool
	Anchor    string
	Policy    []PolicyChange
	Rewritten string
	// CommentsRead is set when the broker's comments were read and verified
	// (Options.CommentKey). Skipped lists the PRs with more comments than
	// the audit reads: what they say past that is not in the report.
	CommentsRead bool
	Skipped      []int
	// Totals of the grants merged since Since, by hours, most first: which
	// systems need the most human access.
	Totals []Total
}

// Build reads the audit trail of o.Branch in the checkout o.Dir.
func Build(ctx context.Context, o Options) (*Report, error) {
	o.Dir = cmp.Or(o.Dir, ".")
	o.Branch = cmp.Or(o.Branch, "main")
	o.MaxEntries = cmp.Or(o.MaxEntries, DefaultMaxEntries)
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	switch {
	case o.Since < 0:
		return nil, fmt.Errorf("audit: since must not be negative, got %s", o.Since)
	case o.MaxEntries < 0:
		return nil, fmt.Errorf("audit: max entries must not be negative, got %d", o.MaxEntries)
	case strings.HasPrefix(o.Branch, "-") || strings.ContainsAny(o.Branch, " \t\n\\:~^?*[") || strings.Contains(o.Branch, ".."):
		return nil, fmt.Errorf("audit: %q is not a branch name", o.Branch)
	}
	g, err := gitlog.Open(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	head, err := g.Ref(ctx, "refs/heads/"+o.Branch)
	if err == nil && head == "" {
		head, err = g.Ref(ctx, "refs/remotes/origin/"+o.Branch)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: resolve branch %s in %s: %w", o.Branch, o.Dir, err)
	}
	if head == "" {
		return nil, fmt.Errorf("audit: branch %s not found in %s (neither refs/heads/%[1]s nor refs/remotes/origin/%[1]s)", o.Branch, o.Dir)
	}
	rep := &Report{Generated: o.Now.UTC(), Branch: o.Branch, Head: head, Offline: o.GitHub == nil}
	if o.Since > 0 {
		rep.Since = o.Now.Add(-o.Since).UTC().Truncate(time.Second)
	}

	r := &reader{git: g, head: head, since: rep.Since, max: o.MaxEntries, now: o.Now}
	if o.GitHub != nil {
		anchor := o.Anchor
		if anchor == "" {
			if anchor, err = g.Root(ctx, head); err != nil {
				return nil, fmt.Errorf("audit %s: %w", o.Branch, err)
			}
		}
		rep.Anchor = anchor
		if err := r.recorded(ctx, rep, o.GitHub, o.Branch, anchor); err != nil {
			return nil, fmt.Errorf("audit %s: %w", o.Branch, err)
		}
	}
	versions, err := r.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit %s at %.12s: %w", o.Branch, head, err)
	}
	if o.GitHub != nil {
		if rep.Skipped, err = addPullRequests(ctx, o.GitHub, o.Branch, versions); err != nil {
			return nil, fmt.Errorf("audit %s: %w", o.Branch, err)
		}
		if err := reviewEmergencies(ctx, g, o.Members, versions, o.Now); err != nil {
			return nil, fmt.Errorf("audit %s: %w", o.Branch, err)
		}
		rep.CommentsRead = o.CommentKey != nil
	}
	if o.Verify != nil {
		rep.Verified = true
		if err := r.verify(ctx, rep, o.Verify, versions); err != nil {
			return nil, fmt.Errorf("audit %s: verify the chain of custody: %w", o.Branch, err)
		}
	}
	rep.Entries = make([]Entry, 0, len(versions))
	for _, v := range versions {
		v.settle(o.Now, rep.Offline)
		v.story(o.CommentKey)
		rep.Entries = append(rep.Entries, v.perTarget()...)
	}
	linkExtensions(rep.Entries)
	slices.SortStableFunc(rep.Entries, func(a, b Entry) int {
		return cmp.Or(b.MergedAt.Compare(a.MergedAt), strings.Compare(a.ID, b.ID), strings.Compare(a.Commit, b.Commit))
	})
	rep.Totals = totals(rep.Entries, rep.Since)
	return rep, nil
}

// version is one version of a request file read from git, with what the
// audit learns about it.
type version struct {
	*Entry
	spec   string           // "<rev>:<path>" of its bytes
	req    *request.Request // parsed bytes; nil when invalid
	older  bool             // merged before the period, revoked in it
	digest [32]byte         // of its bytes, for --verify
	// irregular is the git mode of a path that is not a regular file (a
	// symlink or submodule): never a request.
	irregular string
	before    string // where the branch was just before the merge
	// From GitHub: the pull request, its APPROVED reviews, and the comments
	// of its PR and of the PR that revoked it; reviewed is set for an
	// emergency an owner approved within ReviewWindow of its merge.
	pr        *github.PullRequest
	prAuthor  string
	reviews   []*github.PullRequestReview
	approvals []Approval
	comments  []*github.IssueComment
	reviewed  bool
}

// reader turns history into entries: online, the moves GitHub recorded
// (each judged by the trees at its ends, dated by GitHub); offline, the
// checkout's first-parent history, dated by the commits themselves.
type reader struct {
	git   *gitlog.Repo
	head  string
	since time.Time
	max   int
	now   time.Time
	// Online: the recorded steps since the anchor, oldest first, and the
	// request changes they made as commits (newest first), each named by
	// where its step left the branch.
	steps    []custody.Step
	commits  []gitlog.Commit
	stepOf   map[string]custody.Move
	rewrite  *custody.RewrittenError
	reachErr *custody.NotReachedError
}

// change is one file change with its first-parent commit.
type change struct {
	gitlog.Change
	Commit string
	Parent string // the branch just before: its policy judged the change
	At     time.Time
}

// flatten lists the changes of commits (newest first) newest first.
func flatten(commits []gitlog.Commit) []change {
	var out []change
	for _, c := range commits {
		for _, ch := range c.Changes {
			out = append(out, change{Change: ch, Commit: c.SHA, Parent: c.Parent, At: c.At})
		}
	}
	return out
}

// cut finds where an offline read can stop: the end of a run of
// periodSlack first-parent commits dated before the period (a single
// commit pushed with an old date hides nothing behind it). "" reads the
// whole history.
func (r *reader) cut(ctx context.Context) (string, error) {
	if r.since.IsZero() {
		return "", nil
	}
	cut, run := "", 0
	err := r.git.FirstParents(ctx, r.head, nil, func(sha string, at time.Time) bool {
		if !at.Before(r.since) {
			run = 0
			return true
		}
		if run++; run >= periodSlack {
			cut = sha
			return false
		}
		return true
	})
	return cut, err
}

// history is the request changes to read, newest first: online what the
// recorded moves changed, offline the checkout's first-parent log.
func (r *reader) history(ctx context.Context) ([]gitlog.Commit, error) {
	if r.stepOf != nil {
		return r.commits, nil
	}
	cut, err := r.cut(ctx)
	if err != nil {
		return nil, err
	}
	q := gitlog.Query{Head: r.head, Paths: []string{"requests/"}, Max: r.max}
	if cut != "" {
		q.Exclude = []string{cut}
	}
	return r.git.Log(ctx, q)
}

func (r *reader) read(ctx context.Context) ([]*version, error) {
	commits, err := r.history(ctx)
	if errors.Is(err, gitlog.ErrTooMany) {
		return nil, r.tooMany()
	}
	if err != nil {
		return nil, err
	}
	changes := flatten(commits)
	var versions []*version
	open := map[string]*version{}            // path -> its current version, when merged in the period
	var orphans []change                     // deletions of files merged before the period
	for i := len(changes) - 1; i >= 0; i-- { // oldest first
		c := changes[i]
		if !r.since.IsZero() && c.At.Before(r.since) {
			continue
		}
		p, err := request.ParsePath(c.Path)
		if err != nil {
			continue // README, .gitkeep, or a path the check rejects
		}
		if v := open[c.Path]; v != nil {
			v.RevokedAt, v.RevokedCommit = c.At, c.Commit
			delete(open, c.Path)
		} else if c.Status == 'D' {
			orphans = append(orphans, c)
		}
		if c.Status == 'D' {
			continue
		}
		v := &version{Entry: &Entry{ID: p.ID(), Path: c.Path, Account: p.Account, Commit: c.Commit, MergedAt: c.At}, spec: c.Blob, before: c.Parent}
		if !c.Regular() {
			v.irregular = c.Mode
		}
		versions = append(versions, v)
		open[c.Path] = v
	}
	older, err := r.merges(ctx, orphans, changes)
	if err != nil {
		return nil, err
	}
	versions = append(versions, older...)

	specs := make([]string, len(versions))
	for i, v := range versions {
		specs[i] = v.spec
	}
	blobs, err := r.git.Blobs(ctx, specs, request.MaxSize)
	if err != nil {
		return nil, err
	}
	out := versions[:0]
	for i, v := range versions {
		v.parse(blobs[i])
		if v.older && v.Commit != "" && (v.req == nil || !v.RevokedAt.Before(v.End)) {
			// A file merged before the period whose deletion in the period
			// revoked nothing (clean-up after its window, or an invalid file).
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

func (r *reader) tooMany() error {
	if r.since.IsZero() {
		return fmt.Errorf("the history holds more than %d request file changes: audit a shorter period (--since)", r.max)
	}
	return fmt.Errorf("more than %d request file changes since %s: audit a shorter period (--since)", r.max, r.since.Format(time.RFC3339))
}

// merges finds, for deletions in the period of files merged before it,
// the change that merged each file (the latest add or edit before the
// period): online among the recorded changes already read, offline in one
// more git log limited to those paths. The file's bytes are read as they
// were just before the deletion.
func (r *reader) merges(ctx context.Context, orphans []change, read []change) ([]*version, error) {
	if len(orphans) == 0 {
		return nil, nil
	}
	changes := read
	if r.stepOf == nil {
		paths := make([]string, len(orphans))
		for i, c := range orphans {
			paths[i] = c.Path
		}
		commits, err := r.git.Log(ctx, gitlog.Query{Head: r.head, Paths: paths, Max: r.max - len(read)})
		if errors.Is(err, gitlog.ErrTooMany) {
			return nil, r.tooMany()
		}
		if err != nil {
			return nil, fmt.Errorf("find the merges of %d revoked files: %w", len(orphans), err)
		}
		changes = flatten(commits)
	}
	out := make([]*version, 0, len(orphans))
	for _, d := range orphans {
		p, _ := request.ParsePath(d.Path) // orphans hold request paths only
		v := &version{
			Entry: &Entry{ID: p.ID(), Path: d.Path, Account: p.Account, RevokedAt: d.At, RevokedCommit: d.Commit},
			spec:  cmp.Or(d.OldBlob, gitlog.NoCommit), older: true,
		}
		for _, c := range changes { // newest first: the latest merge before the period
			if c.Path == d.Path && c.Status != 'D' && !c.At.After(d.At) && (r.since.IsZero() || c.At.Before(r.since)) {
				v.Commit, v.MergedAt, v.before = c.Commit, c.At, c.Parent
				if !c.Regular() {
					v.irregular = c.Mode
				}
				break
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// parse reads the version's bytes into its entry.
func (v *version) parse(b gitlog.Blob) {
	switch {
	case v.Commit == "":
		v.Invalid = "deleted in the period, but the commit that merged it is not in the branch's first-parent history"
		return
	case v.irregular != "":
		v.Invalid = fmt.Sprintf("%s is not a regular file (git mode %s): a symlink or submodule is never a request", v.Path, v.irregular)
		return
	case b.Missing:
		v.Invalid = fmt.Sprintf("git has no blob %.12s for %s", v.spec, v.Path)
		return
	case b.Data == nil:
		v.Invalid = fmt.Sprintf("%s: file is %d bytes, over the %d-byte limit", v.Path, b.Size, request.MaxSize)
		return
	}
	v.digest = sha256.Sum256(b.Data)
	req, err := request.Parse(v.Path, b.Data)
	if err != nil {
		v.Invalid = err.Error()
		return
	}
	req.Lines = nil
	e := v.Entry
	first := req.AllTargets()[0]
	e.Requester, e.Account, e.Role, e.Reason, e.Ticket = req.Requester, first.Account, first.Qualified(), req.Reason, req.Ticket
	e.Duration, e.Emergency = req.Duration, req.Emergency
	if p, _ := request.ParsePath(v.Path); p.Account != req.Account {
		e.Invalid = fmt.Sprintf("%s: account %q does not match its folder requests/%s/", v.Path, req.Account, p.Account)
		return
	}
	v.req = req
	e.Start, e.End = req.Window(e.MergedAt)
}

// perTarget is v's entry once per target of its request, in file order
// (a permission set's role as ps/NAME): the audit's rows, which sort keeps
// together as one request's.
func (v *version) perTarget() []Entry {
	if v.req == nil || len(v.req.Targets) == 0 {
		return []Entry{*v.Entry}
	}
	out := make([]Entry, len(v.req.Targets))
	for i, t := range v.req.Targets {
		out[i] = *v.Entry
		out[i].Account, out[i].Role = t.Account, t.Qualified()
	}
	return out
}

// settle computes the window, the state and the emergency flag at now.
func (v *version) settle(now time.Time, offline bool) {
	e := v.Entry
	e.Approvers = nil
	seen := map[string]bool{}
	for _, a := range v.approvals {
		k := strings.ToLower(a.Login)
		if seen[k] || strings.EqualFold(a.Login, e.Requester) || strings.EqualFold(a.Login, v.prAuthor) {
			continue
		}
		seen[k] = true
		e.Approvers = append(e.Approvers, a.Login)
	}
	slices.SortFunc(e.Approvers, func(a, b string) int { return cmp.Compare(strings.ToLower(a), strings.ToLower(b)) })
	if v.req == nil {
		e.State, e.Start, e.End, e.EmergencyUnreviewed = StateInvalid, time.Time{}, time.Time{}, false
		return
	}
	e.Start, e.End = v.req.Window(e.MergedAt)
	switch {
	case !e.RevokedAt.IsZero() && e.RevokedAt.Before(e.End):
		e.State = StateRevoked
	case now.Before(e.Start):
		e.State = StateScheduled
	case now.Before(e.End):
		e.State = StateActive
	default:
		e.State = StateExpired
	}
	e.EmergencyUnreviewed = e.Emergency && (offline || !v.reviewed)
}

// story reads, from the broker's comments that key verifies, how the grant
// was used, what its sessions did and whether they were ended.
func (v *version) story(key *prcomment.Key) {
	e := v.Entry
	if st, ok := key.Sessions(v.comments, e.ID); ok {
		e.FirstUsed, e.FirstUsedBy, e.Sessions = st.First, st.FirstBy, st.Count
	}
	if ended, ok := key.EndedOf(v.comments, e.ID); ok {
		e.SessionsEnded = ended.Before
	}
	if s, ok := key.ActivityOf(v.comments, e.ID); ok {
		e.Activity = &s
	}
}

// linkExtensions marks each grant that continues another without a gap.
func linkExtensions(entries []Entry) {
	type chainKey struct{ requester, account, role string }
	byEnd := map[chainKey]map[time.Time]int{}
	for i, e := range entries {
		if e.State == StateInvalid || e.End.IsZero() {
			continue
		}
		k := chainKey{strings.ToLower(e.Requester), e.Account, e.Role}
		if byEnd[k] == nil {
			byEnd[k] = map[time.Time]int{}
		}
		byEnd[k][e.End.UTC()] = i
	}
	for i := range entries {
		e := &entries[i]
		if e.State == StateInvalid || e.Start.IsZero() {
			continue
		}
		if j, ok := byEnd[chainKey{strings.ToLower(e.Requester), e.Account, e.Role}][e.Start.UTC()]; ok && j != i {
			e.Extends = entries[j].ID
			entries[j].ExtendedBy = append(entries[j].ExtendedBy, e.ID)
		}
	}
}

// Approval is one APPROVED review of a merged PR: who, and when.
type Approval struct {
	Login string
	At    time.Time
}

// Approvals are the APPROVED reviews among reviews, with a reviewer and a
// time.
func Approvals(reviews []*github.PullRequestReview) []Approval {
	var out []Approval
	for _, r := range reviews {
		if strings.EqualFold(r.GetState(), "APPROVED") && r.GetUser().GetLogin() != "" && r.SubmittedAt != nil {
			out = append(out, Approval{Login: r.GetUser().GetLogin(), At: r.GetSubmittedAt().UTC()})
		}
	}
	return out
}

// totals sums the valid grants merged since since, most hours first.
func totals(entries []Entry, since time.Time) []Total {
	type key struct{ account, role string }
	byKey := map[key]*Total{}
	people := map[key]map[string]bool{}
	for i := range entries {
		e := &entries[i]
		if e.Invalid != "" || e.MergedAt.Before(since) {
			continue
		}
		k := key{e.Account, e.Role}
		t := byKey[k]
		if t == nil {
			t = &Total{Account: e.Account, Role: e.Role}
			byKey[k], people[k] = t, map[string]bool{}
		}
		t.Grants++
		t.Hours += e.Hours()
		if e.Emergency {
			t.Emergency++
		}
		people[k][strings.ToLower(e.Requester)] = true
	}
	out := make([]Total, 0, len(byKey))
	for k, t := range byKey {
		t.People = len(people[k])
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Total) int {
		return cmp.Or(cmp.Compare(b.Hours, a.Hours), cmp.Compare(b.Grants, a.Grants), strings.Compare(a.Account, b.Account), strings.Compare(a.Role, b.Role))
	})
	return out
}
