package approval

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/codeowners"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/request"
	"github.com/elevate-gitops/elevate/internal/strictyaml"
)

// State is a verdict on a PR.
type State string

const (
	Approved State = "approved"
	Pending  State = "pending"
	Rejected State = "rejected"
)

// Kind is what a PR does to the access repository.
type Kind string

const (
	KindRequest    Kind = "request"    // adds one request file
	KindRevocation Kind = "revocation" // only deletes request files
	KindChange     Kind = "change"     // changes the repository itself: policy, CODEOWNERS, code
)

// Reason is one cause of a rejection, located where it can be.
type Reason struct {
	File    string
	Line    int
	Field   string
	Message string
}

func (r Reason) String() string {
	if r.File == "" {
		return r.Message
	}
	return (&strictyaml.Error{File: r.File, Line: r.Line, Field: r.Field, Message: r.Message}).Error()
}

// Verdict is the decision on one PR.
type Verdict struct {
	State State
	Kind  Kind

	// For requests.
	Path     string // the request file
	ID       string // the request id (path without requests/ and .yaml)
	Request  *request.Request
	Policy   *eligibility.Decision
	Required int // approvals needed

	// Approvers are the owners whose approval counts, by login (for a
	// request, of any target).
	Approvers []string
	// Targets is the decision on each target of a request, in file order.
	Targets []TargetVerdict
	// Waiting lists, per file (or request target) still lacking approval,
	// who could give it.
	Waiting []Waiting
	// AskReviews are the approvers GitHub does not ask on its own (a
	// rule's approvers, another account folder's owners) of the targets
	// still waiting, as CODEOWNERS writes them: the Action requests their
	// reviews.
	AskReviews []string
	// Revoked lists the request ids a revocation PR removes.
	Revoked []string
	// Reasons say why the PR is rejected, every one of them.
	Reasons []Reason
}

// Waiting is a file, or a target of a request, that still needs approvals
// and the owners who may give them.
type Waiting struct {
	Path    string
	Target  string // "prod:Admin", for a request
	Missing int
	Owners  []string
}

// TargetVerdict is the decision on one target of a request: who approves
// it, how many must, and who has.
type TargetVerdict struct {
	Target    request.Target
	Rules     []string // the rules that matched
	Required  int
	Approvers []string // whose approval of the head counts for it
	// Owners are who may approve it: the rule's approvers, or the
	// CODEOWNERS of the target's account folder (ByRule false).
	Owners []string
	ByRule bool
}

// Summary is the one-line outcome, fit for a commit status.
func (v *Verdict) Summary() string {
	switch v.State {
	case Rejected:
		return v.Reasons[0].String()
	case Pending:
		w := v.Waiting[0]
		if w.Target != "" && len(v.Targets) > 1 {
			return fmt.Sprintf("awaiting %d approval(s) for %s from %s (%d of %d targets waiting)", w.Missing, w.Target, strings.Join(w.Owners, ", "), len(v.Waiting), len(v.Targets))
		}
		return fmt.Sprintf("awaiting %d approval(s) on %s from %s", w.Missing, w.Path, strings.Join(w.Owners, ", "))
	}
	switch v.Kind {
	case KindRevocation:
		return "revokes " + strings.Join(v.Revoked, ", ")
	case KindChange:
		return "approved by its code owners: " + strings.Join(v.Approvers, ", ")
	}
	if v.Request != nil && v.Request.Emergency {
		return "EMERGENCY break-glass request: merge grants it without approval; owners must review it within 24h"
	}
	if v.Required == 0 {
		return "no approval required: merge to grant"
	}
	return "approved by " + strings.Join(v.Approvers, ", ") + ": merge to grant"
}

// Decide judges a PR. now is the clock (the merge time when the broker
// re-judges a merged PR). It returns an error only when a team membership
// could not be read; the caller must then refuse (fail closed).
func Decide(ctx context.Context, f *Facts, members eligibility.Membership, now time.Time) (*Verdict, error) {
	teams := eligibility.NewMemo(members)
	j := &judge{ctx: ctx, f: f, members: teams, now: now, teams: teams}
	var v *Verdict
	var err error
	switch kind(f.Files) {
	case KindChange:
		v, err = j.change()
	case KindRevocation:
		v, err = j.revocation()
	default:
		v, err = j.request()
	}
	if err != nil {
		return nil, err
	}
	switch {
	case len(v.Reasons) > 0:
		v.State = Rejected
	case len(v.Waiting) > 0:
		v.State = Pending
	default:
		v.State = Approved
	}
	return v, nil
}

func kind(files []FileChange) Kind {
	requests, removed := 0, 0
	for _, fc := range files {
		if touchesRequests(fc) {
			requests++
			if fc.Status == "removed" {
				removed++
			}
		}
	}
	switch {
	case requests == 0:
		return KindChange
	case removed == len(files):
		return KindRevocation
	}
	return KindRequest
}

func touchesRequests(fc FileChange) bool {
	return request.IsRequestPath(fc.Path) || (fc.PreviousPath != "" && request.IsRequestPath(fc.PreviousPath))
}

type judge struct {
	ctx     context.Context
	f       *Facts
	members eligibility.Membership
	now     time.Time
	owners  *codeowners.File
	ownErr  error
	loaded  bool
	teams   *eligibility.Memo
}

func (j *judge) codeOwners() (*codeowners.File, error) {
	if !j.loaded {
		j.loaded = true
		if j.f.CodeOwnersPath == "" {
			j.owners = &codeowners.File{}
		} else {
			j.owners, j.ownErr = codeowners.Parse(j.f.CodeOwnersPath, j.f.CodeOwners)
		}
	}
	return j.owners, j.ownErr
}

// ownersOf returns the owners of path at the base, or the reason there are none.
func (j *judge) ownersOf(path string) ([]codeowners.Owner, *Reason) {
	file, err := j.codeOwners()
	if err != nil {
		return nil, &Reason{File: j.f.CodeOwnersPath, Message: "CODEOWNERS cannot be parsed, so no approval can be checked (fix it first): " + err.Error()}
	}
	owners, err := file.Owners(path)
	if err != nil {
		return nil, &Reason{File: path, Message: err.Error()}
	}
	return owners, nil
}

// isOwner reports whether u is one of owners: by login, or as an active
// member of an owning team. Bots count only when listed by login.
func (j *judge) isOwner(u User, owners []codeowners.Owner) (bool, error) {
	for _, o := range owners {
		if o.Login != "" && strings.EqualFold(o.Login, u.Login) {
			return true, nil
		}
	}
	if u.Bot {
		return false, nil
	}
	for _, o := range owners {
		if o.Team == "" {
			continue
		}
		in, err := j.teams.ActiveTeamMember(j.ctx, o.Org, o.Team, u.Login)
		if err != nil || in {
			return in, err
		}
	}
	return false, nil
}

// standing returns each reviewer's standing verdict: their latest review that
// approves, requests changes or was dismissed. Later comments change nothing.
// For a merged PR, reviews after the merge (GitHub accepts them) are ignored:
// the decision is the one at merge time.
func standing(reviews []Review, mergedAt time.Time) []Review {
	sorted := slices.Clone(reviews)
	slices.SortStableFunc(sorted, func(a, b Review) int { return a.SubmittedAt.Compare(b.SubmittedAt) })
	latest := map[int64]int{}
	var out []Review
	for _, r := range sorted {
		if !mergedAt.IsZero() && r.SubmittedAt.After(mergedAt) {
			continue
		}
		switch r.State {
		case StateApproved, StateChangesRequested, StateDismissed:
		default:
			continue
		}
		if i, ok := latest[r.Reviewer.ID]; ok {
			out[i] = r
			continue
		}
		latest[r.Reviewer.ID] = len(out)
		out = append(out, r)
	}
	return out
}

// approvers returns the logins whose approval of the head counts for a file
// owned by owners: approving, on the head commit, an owner, not the author.
func (j *judge) approvers(owners []codeowners.Owner) ([]string, error) {
	var out []string
	for _, r := range standing(j.f.Reviews, j.f.MergedAt) {
		if r.State != StateApproved || r.CommitID != j.f.HeadSHA {
			continue
		}
		if r.Reviewer.ID == j.f.Author.ID || strings.EqualFold(r.Reviewer.Login, j.f.Author.Login) {
			continue
		}
		ok, err := j.isOwner(r.Reviewer, owners)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r.Reviewer.Login)
		}
	}
	return out, nil
}

// waiting describes who may still approve path, leaving out the author.
func (j *judge) waiting(path string, missing int, owners []codeowners.Owner) Waiting {
	w := Waiting{Path: path, Missing: missing}
	for _, o := range owners {
		if o.Login != "" && strings.EqualFold(o.Login, j.f.Author.Login) {
			continue
		}
		w.Owners = append(w.Owners, o.String())
	}
	return w
}

func (j *judge) request() (*Verdict, error) {
	v := &Verdict{Kind: KindRequest}
	var added []FileChange
	var others []string
	for _, fc := range j.f.Files {
		switch {
		case !touchesRequests(fc):
			others = append(others, fc.Path)
		case fc.Status == "added":
			added = append(added, fc)
		case fc.Status == "renamed":
			v.Reasons = append(v.Reasons, Reason{File: fc.Path, Message: fmt.Sprintf("request files are never renamed (%s -> %s): open a new request instead", fc.PreviousPath, fc.Path)})
		case fc.Status == "removed":
			v.Reasons = append(v.Reasons, Reason{File: fc.Path, Message: "a request PR cannot also delete request files: revoke in a PR of its own"})
		default:
			v.Reasons = append(v.Reasons, Reason{File: fc.Path, Message: fmt.Sprintf("request files are never edited (%s): open a new request instead", fc.Status)})
		}
	}
	if len(others) > 0 {
		v.Reasons = append(v.Reasons, Reason{Message: fmt.Sprintf("a request PR adds one request file and changes nothing else; this PR also changes %s: open a separate PR for those", listSome(others, 5))})
	}
	if len(added) != 1 {
		if len(added) > 1 {
			v.Reasons = append(v.Reasons, Reason{Message: fmt.Sprintf("a request PR adds exactly one request file; this PR adds %d", len(added))})
		}
		return v, nil
	}
	path := added[0].Path
	v.Path = path
	reject := func(line int, field, format string, args ...any) {
		v.Reasons = append(v.Reasons, Reason{File: path, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	p, pathErr := request.ParsePath(path)
	if pathErr != nil {
		v.Reasons = append(v.Reasons, located(pathErr))
	} else {
		v.ID = p.ID()
		if p.Month > j.now.UTC().Format("2006-01") {
			reject(0, "", "month folder %s is in the future: file the request under the month it is written, %s", p.Month, request.PathFor(p.Account, j.now, p.Name))
		}
	}
	if j.f.AddedTooLarge {
		reject(0, "", "the file is over the %d-byte limit for request files", request.MaxSize)
		return v, nil
	}
	if j.f.AddedNotRegular {
		reject(0, "", "a request must be a regular file, not a symlink or a submodule")
		return v, nil
	}
	req, err := request.Parse(path, j.f.Added)
	if err != nil {
		v.Reasons = append(v.Reasons, located(err))
		return v, nil
	}
	v.Request = req
	if pathErr == nil && p.Account != req.Account {
		reject(req.Lines["account"], "account", "the file is under requests/%s/ but asks for account %s: CODEOWNERS routes review by folder, so file it as %s", p.Account, req.Account, request.PathFor(req.Account, j.now, p.Name))
	}
	// The grant belongs to the author's numeric id. Once merged, a login
	// renamed since matches the file only through elevate's merge record,
	// which names that id: an admin's bypass merge of a file naming
	// someone else matches nothing.
	if !strings.EqualFold(req.Requester, j.f.Author.Login) {
		switch {
		case j.f.MergedAt.IsZero():
			reject(req.Lines["requester"], "requester", "requester is %s but the PR was opened by %s: people request access for themselves only", req.Requester, j.f.Author.Login)
		case !strings.EqualFold(req.Requester, j.f.RecordedRequester):
			reject(req.Lines["requester"], "requester", "requester is %s but the PR's author is %s, and no merge record of elevate's names %s as that author: people request access for themselves only", req.Requester, j.f.Author.Login, req.Requester)
		}
	}
	if req.Emergency && len(j.f.UnreviewedEmergencies) > 0 {
		reject(req.Lines["emergency"], "emergency", "%s already has an emergency grant its owners have not reviewed (%s): a second emergency waits until they approve it; ask with approvals instead", j.f.Author.Login, listSome(j.f.UnreviewedEmergencies, 3))
	}
	if !req.NotBefore.IsZero() && req.NotBefore.After(j.now.Add(request.MaxNotBeforeAhead)) {
		reject(req.Lines["not_before"], "not_before", "%s is more than 30 days ahead", req.NotBefore.Format(time.RFC3339))
	}
	policy, reason := j.policy()
	if reason != nil {
		v.Reasons = append(v.Reasons, *reason)
		return v, nil
	}
	// The policy at merge time names the login the author had then: the
	// requester, where elevate's merge record vouches for the rename.
	login := j.f.Author.Login
	if !j.f.MergedAt.IsZero() && strings.EqualFold(req.Requester, j.f.RecordedRequester) {
		login = req.Requester
	}
	month, name := j.now.UTC().Format("2006-01"), "request"
	if pathErr == nil {
		month, name = p.Month, p.Name
	}
	if err := j.targets(v, req, policy, login, month, name); err != nil {
		return nil, err
	}
	return v, nil
}

// targets judges each target of req on its own: eligible under the policy,
// approved by its own approvers (the rule's, else the CODEOWNERS of its
// account's folder). One review may count for several targets.
func (j *judge) targets(v *Verdict, req *request.Request, policy *eligibility.Policy, login, month, name string) error {
	listed := len(req.Targets) > 0
	approvedBy := map[string]bool{}
	var judged []TargetVerdict
	var ownerSets [][]codeowners.Owner // each judged target's
	for i, t := range req.AllTargets() {
		// Where a problem of this target is reported: its own item in a
		// list, the file's fields otherwise.
		line := func(f string) (int, string) {
			if listed && (f == "account" || f == "role" || f == "permission_set") {
				return req.Lines[request.TargetField(i)], request.TargetField(i) + "." + f
			}
			return req.Lines[f], f
		}
		decision, err := policy.Evaluate(j.ctx, eligibility.Ask{
			Login: login, Account: t.Account, Role: t.Role, PermissionSet: t.PermissionSet,
			Duration: req.Duration, Ticket: req.Ticket, Emergency: req.Emergency,
		}, j.members)
		var notEligible *eligibility.NotEligibleError
		switch {
		case errors.As(err, &notEligible):
			for _, pr := range notEligible.Problems {
				l, f := line(pr.Field)
				msg := pr.Message
				if listed {
					msg = t.String() + ": " + msg
				}
				v.Reasons = append(v.Reasons, Reason{File: v.Path, Line: l, Field: f, Message: msg})
			}
			continue
		case err != nil:
			return err
		}
		if t.IsPermissionSet() {
			if _, ok := policy.IdentityCenter.Users[j.f.Author.ID]; !ok {
				l, f := line("permission_set")
				v.Reasons = append(v.Reasons, Reason{File: v.Path, Line: l, Field: f, Message: fmt.Sprintf(
					"%s (GitHub user id %d) has no Identity Center user in identity_center.users of %s: ask its owners to add \"%d\": <your Identity Center UserName>", j.f.Author.Login, j.f.Author.ID, eligibility.File, j.f.Author.ID)})
				continue
			}
		}
		tv := TargetVerdict{Target: t, Rules: decision.Rules, Required: decision.Approvals}
		var owners []codeowners.Owner
		if len(decision.Approvers) > 0 {
			tv.ByRule = true
			for _, a := range decision.Approvers {
				owners = append(owners, codeowners.Owner{Login: a.Login, Org: a.Org, Team: a.Team})
			}
		} else {
			var reason *Reason
			path := request.Path{Account: t.Account, Month: month, Name: name}.String()
			if owners, reason = j.ownersOf(path); reason != nil {
				v.Reasons = append(v.Reasons, *reason)
				continue
			}
		}
		for _, o := range owners {
			tv.Owners = append(tv.Owners, o.String())
		}
		if tv.Approvers, err = j.approvers(owners); err != nil {
			return err
		}
		for _, a := range tv.Approvers {
			approvedBy[a] = true
		}
		judged = append(judged, tv)
		ownerSets = append(ownerSets, owners)
		if i == 0 || decision.Approvals > v.Required {
			v.Policy, v.Required = decision, max(v.Required, decision.Approvals)
		}
	}
	if len(v.Reasons) > 0 {
		return nil
	}
	v.Targets = judged
	for k, tv := range judged {
		missing := tv.Required - len(tv.Approvers)
		if missing <= 0 {
			continue
		}
		w := j.waiting(v.Path, missing, ownerSets[k])
		w.Target = tv.Target.String()
		v.Waiting = append(v.Waiting, w)
		// GitHub asks the CODEOWNERS of the file it changes, and only them.
		if tv.ByRule || tv.Target.Account != req.Account {
			for _, o := range w.Owners {
				if !slices.Contains(v.AskReviews, o) {
					v.AskReviews = append(v.AskReviews, o)
				}
			}
		}
	}
	v.Approvers = sortedLogins(approvedBy)
	return nil
}

// EmergencyReviewed returns the owners who have approved a merged emergency
// request PR by until: the request decision's own rule (an owner of the
// file under the CODEOWNERS f was judged against, active team members
// included, never its author, approving its head), with the reviews after
// the merge counted too, as an emergency's review comes after it. f is the
// merged PR's facts with its Base.
func EmergencyReviewed(ctx context.Context, f *Facts, members eligibility.Membership, until time.Time) ([]string, error) {
	var path string
	for _, fc := range f.Files {
		if fc.Status == "added" && request.IsRequestPath(fc.Path) {
			path = fc.Path
		}
	}
	if path == "" {
		return nil, nil
	}
	after := *f
	after.MergedAt = until
	teams := eligibility.NewMemo(members)
	j := &judge{ctx: ctx, f: &after, members: teams, now: until, teams: teams}
	if by, judged, err := j.reviewedTargets(path); judged || err != nil {
		return by, err
	}
	owners, reason := j.ownersOf(path)
	if reason != nil {
		return nil, nil
	}
	return j.approvers(owners)
}

// reviewedTargets is EmergencyReviewed by the request decision's own
// approvers: each target's (its rule's approvers, else its account
// folder's owners) must have approved it, so a first target in a friendly
// folder never stands for a second one's approvers. judged is false when
// the file or the policy cannot be read (the file's owners then decide).
func (j *judge) reviewedTargets(path string) (by []string, judged bool, err error) {
	p, perr := request.ParsePath(path)
	if j.f.Added == nil || perr != nil {
		return nil, false, nil
	}
	req, rerr := request.Parse(path, j.f.Added)
	policy, reason := j.policy()
	if rerr != nil || reason != nil {
		return nil, false, nil
	}
	login := j.f.Author.Login
	if strings.EqualFold(req.Requester, j.f.RecordedRequester) {
		login = req.Requester
	}
	v := &Verdict{Path: path}
	if err := j.targets(v, req, policy, login, p.Month, p.Name); err != nil {
		return nil, true, err
	}
	if len(v.Reasons) > 0 {
		return nil, false, nil
	}
	for _, tv := range v.Targets {
		if len(tv.Approvers) == 0 {
			return nil, true, nil
		}
	}
	return v.Approvers, true, nil
}

func (j *judge) policy() (*eligibility.Policy, *Reason) {
	if j.f.Policy == nil {
		return nil, &Reason{File: eligibility.File, Message: "missing at the base commit: no request can be judged"}
	}
	p, err := eligibility.Parse(eligibility.File, j.f.Policy)
	if err != nil {
		r := located(err)
		r.Message = "the policy at the base commit is invalid, so no request can be judged: " + r.Message
		return nil, &r
	}
	return p, nil
}

func (j *judge) revocation() (*Verdict, error) {
	v := &Verdict{Kind: KindRevocation}
	for _, fc := range j.f.Files {
		id := strings.TrimSuffix(strings.TrimPrefix(fc.Path, "requests/"), ".yaml")
		requester := ""
		if data, ok := j.f.Deleted[fc.Path]; ok {
			if req, err := request.Parse(fc.Path, data); err == nil {
				requester = req.Requester
			}
		}
		if requester != "" && strings.EqualFold(requester, j.f.Author.Login) {
			v.Revoked = append(v.Revoked, id)
			continue
		}
		owners, reason := j.ownersOf(fc.Path)
		if reason == nil {
			ok, err := j.isOwner(j.f.Author, owners)
			if err != nil {
				return nil, err
			}
			if ok {
				v.Revoked = append(v.Revoked, id)
				continue
			}
		}
		who := "its CODEOWNERS"
		if requester != "" {
			who = requester + " (its requester) or its CODEOWNERS"
		}
		v.Reasons = append(v.Reasons, Reason{File: fc.Path, Message: fmt.Sprintf("%s may not revoke this request: only %s may", j.f.Author.Login, who)})
	}
	return v, nil
}

func (j *judge) change() (*Verdict, error) {
	v := &Verdict{Kind: KindChange}
	var paths []string
	for _, fc := range j.f.Files {
		paths = append(paths, fc.Path)
		if fc.PreviousPath != "" && fc.PreviousPath != fc.Path {
			paths = append(paths, fc.PreviousPath)
		}
		if fc.Path == eligibility.File {
			if fc.Status == "removed" {
				v.Reasons = append(v.Reasons, Reason{File: fc.Path, Message: "eligibility.yaml cannot be deleted: every request would be rejected"})
			} else if _, err := eligibility.Parse(eligibility.File, j.f.PolicyAtHead); err != nil {
				r := located(err)
				r.Message = "the new policy is invalid: " + r.Message
				v.Reasons = append(v.Reasons, r)
			}
		}
	}
	slices.Sort(paths)
	approvedBy := map[string]bool{}
	for _, path := range slices.Compact(paths) {
		owners, reason := j.ownersOf(path)
		if reason != nil {
			v.Reasons = append(v.Reasons, *reason)
			continue
		}
		approvers, err := j.approvers(owners)
		if err != nil {
			return nil, err
		}
		if len(approvers) == 0 {
			v.Waiting = append(v.Waiting, j.waiting(path, 1, owners))
		}
		for _, a := range approvers {
			approvedBy[a] = true
		}
	}
	v.Approvers = sortedLogins(approvedBy)
	return v, nil
}

// sortedLogins lists a set of logins in case-insensitive order.
func sortedLogins(set map[string]bool) []string {
	var out []string // nil when none, as the verdict always had
	for a := range set {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

// located turns a parse error into a Reason that keeps its file and line.
func located(err error) Reason {
	var e *strictyaml.Error
	if errors.As(err, &e) {
		return Reason{File: e.File, Line: e.Line, Field: e.Field, Message: e.Message}
	}
	return Reason{Message: err.Error()}
}

func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
