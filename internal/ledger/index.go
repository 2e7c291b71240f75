package ledger

import (
	"crypto/sha256"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/request"
)

// Grant is a request file present on the branch.
type Grant struct {
	ID      string
	Path    string
	Request *request.Request // nil when the file does not parse: it never issues
	Invalid string           // why the file is not a valid request
	// Step is the recorded move (or merge of a merge-queue batch) that
	// last added or changed the file (a type change included): its After
	// must be the merge commit of the PR that added it, and its At is
	// GitHub's time of the move.
	Step   custody.Move
	Digest [sha256.Size]byte // of the file's bytes on the branch
	Blob   string            // their git blob SHA
	// Seq orders Step against the steps that changed policy files.
	Seq int64
}

// Commit is where the step that added the file left the branch.
func (g *Grant) Commit() string { return g.Step.After }

// ref is what the chain of custody verifies about g.
func (g *Grant) ref() custody.Grant {
	return custody.Grant{ID: g.ID, Path: g.Path, Step: g.Step, Digest: g.Digest}
}

// key names g's verdict: the step and the file.
func (g *Grant) key() string { return g.Step.Before + ".." + g.Step.After + ":" + g.Path }

// mergeSlack bounds how much later than its recorded move GitHub may time
// a grant's merge (merged_at, the verified start of its window): both are
// GitHub's record of one merge.
const mergeSlack = time.Hour

// mayBeOpen reports whether g's window can be open at now or later, from
// its recorded move alone: a grant that cannot is never worth a GitHub
// call to verify.
func (g *Grant) mayBeOpen(now time.Time) bool {
	if g.Request == nil {
		return false
	}
	_, end := g.Request.Window(g.Step.At.Add(mergeSlack))
	return now.Before(end)
}

// Removal records a request file deleted on the branch: a revocation.
type Removal struct {
	ID      string
	Commit  string           // where the step that deleted it left the branch
	At      time.Time        // GitHub's time of that step
	Request *request.Request // the deleted request, when it was in the index
	Blob    string           // the deleted file's blob SHA
	// Added is the step that had added it, with its Path and Seq, when it
	// was in the index: a revoked emergency still waits for its review.
	Added custody.Move
	Path  string
	Seq   int64
}

// setContent parses the file's bytes into g.
func (g *Grant) setContent(data []byte) {
	g.Digest = sha256.Sum256(data)
	req, err := request.Parse(g.Path, data)
	if err != nil {
		g.Invalid = err.Error()
		return
	}
	req.Lines = nil // positions serve annotations, not issuance: keep grants small
	g.Request = req
}

// Index is one immutable snapshot of the ledger.
type Index struct {
	Head string // the branch head in git
	// Judged is where the last move GitHub recorded left the branch: Head,
	// unless the activity lags behind it.
	Judged    custody.Mark
	Policy    *eligibility.Policy // at Head; nil when PolicyErr is set
	PolicyErr error
	Horizon   time.Time // moves before it were not read for requests: no window from then can be open
	SyncedAt  time.Time
	// Chain is the verified history of the policy files since the anchor.
	Chain *custody.Chain
	// settled, when set, is the index at Judged: this one adds the move
	// from there to Head that GitHub's activity does not list yet.
	settled *Index

	policy    []custody.Step // steps since the anchor that changed policy files, oldest first
	policySeq []int64        // their Seq
	topSeq    int64

	grants       map[string]*Grant   // by id
	byName       map[string][]string // name -> ids, for suffix look-ups
	byRole       map[roleKey][]*Grant
	removed      map[string]*Removal // by id
	removedByAsk map[askKey]*Removal
	// emergencies are the emergency requests added in the window, by path
	// and step, whatever became of them since (revoked, or the path used
	// again): each waits for its owners' review before its author's next.
	emergencies map[string]*Grant
}

type (
	askKey  struct{ login, account, role string }
	roleKey struct{ account, role string }
)

func newIndex() *Index {
	return &Index{grants: map[string]*Grant{}, byName: map[string][]string{}, byRole: map[roleKey][]*Grant{}, removed: map[string]*Removal{}, removedByAsk: map[askKey]*Removal{},
		emergencies: map[string]*Grant{}}
}

// Unrecorded reports whether the branch head is ahead of what GitHub's
// activity lists: a grant or policy change there is "not yet".
func (x *Index) Unrecorded() bool { return x.settled != nil }

// Recorded is the index as GitHub recorded the branch: x itself, or, while
// x holds a move GitHub has not listed yet, the index before it. What is
// announced is what GitHub recorded: a move not listed yet may still be
// split into several merges, each with its own commit.
func (x *Index) Recorded() *Index { return x.settledIndex() }

// settledIndex is the index at the last recorded move.
func (x *Index) settledIndex() *Index {
	if x.settled != nil {
		return x.settled
	}
	return x
}

// unsettled reports whether a policy change is waiting for GitHub, so the
// next sync must ask again even if the head has not moved.
func (x *Index) unsettled() bool {
	if x.Chain.Head().Pending != nil {
		return true
	}
	for _, v := range x.Chain.Verdicts {
		if v.Retry {
			return true
		}
	}
	return false
}

// TrustBefore is the policy trust just before g's step.
func (x *Index) TrustBefore(g *Grant) custody.State {
	n := sort.Search(len(x.policySeq), func(i int) bool { return x.policySeq[i] >= g.Seq })
	return x.Chain.At(n)
}

// UntrustedCommits counts the policy changes since the anchor that did not verify.
func (x *Index) UntrustedCommits() int {
	n := 0
	for _, v := range x.Chain.Verdicts {
		if v.Checked && !v.OK {
			n++
		}
	}
	return n
}

// Len is the number of grants indexed.
func (x *Index) Len() int { return len(x.grants) }

// Grant returns the grant with id, or with the unambiguous suffix id.
func (x *Index) Grant(id string) (*Grant, bool) { return byID(x, x.grants, id) }

// Removed returns the revocation of id (or of its unambiguous suffix).
func (x *Index) Removed(id string) (*Removal, bool) { return byID(x, x.removed, id) }

// byID looks id up in m, as a full id or an unambiguous suffix of one.
func byID[T any](x *Index, m map[string]*T, id string) (*T, bool) {
	if v, ok := m[id]; ok {
		return v, true
	}
	if ids := x.resolveSuffix(id, func(full string) bool { _, ok := m[full]; return ok }); len(ids) == 1 {
		return m[ids[0]], true
	}
	return nil, false
}

// Ambiguous reports the ids a suffix could mean when it means more than one.
func (x *Index) Ambiguous(suffix string) []string {
	ids := x.resolveSuffix(suffix, func(string) bool { return true })
	if len(ids) > 1 {
		return ids
	}
	return nil
}

func (x *Index) resolveSuffix(suffix string, keep func(string) bool) []string {
	name := suffix[strings.LastIndexByte(suffix, '/')+1:]
	var out []string
	for _, id := range x.byName[name] {
		if (id == suffix || strings.HasSuffix(id, "/"+suffix)) && keep(id) {
			out = append(out, id)
		}
	}
	return out
}

// ByRole returns the grants with a target of account and role (a role,
// or ps/NAME for a permission set), whoever they name.
func (x *Index) ByRole(account, role string) []*Grant {
	return x.byRole[roleKey{account, role}]
}

// Grants calls fn for every grant.
func (x *Index) Grants(fn func(*Grant)) {
	for _, g := range x.grants {
		fn(g)
	}
}

// clone copies the maps so a sync can build the next snapshot while readers use this one.
func (x *Index) clone() *Index {
	n := newIndex()
	n.Head, n.Judged, n.Policy, n.PolicyErr, n.Horizon = x.Head, x.Judged, x.Policy, x.PolicyErr, x.Horizon
	n.policy, n.policySeq, n.topSeq = slices.Clone(x.policy), slices.Clone(x.policySeq), x.topSeq
	for id, g := range x.grants {
		n.add(id, g)
	}
	for id, r := range x.removed {
		n.remove(id, r)
	}
	maps.Copy(n.emergencies, x.emergencies)
	return n
}

// noteEmergency remembers g when it is an emergency request.
func (x *Index) noteEmergency(g *Grant) {
	if g.Request != nil && g.Request.Emergency && g.Step.After != "" {
		x.emergencies[g.Path+"@"+g.Step.After] = g
	}
}

// remove records the deletion of id, dropping its grant.
func (x *Index) remove(id string, r *Removal) {
	if g, ok := x.grants[id]; ok {
		if r.Request == nil {
			r.Request = g.Request
		}
		if r.Added.After == "" {
			r.Added, r.Path, r.Seq = g.Step, g.Path, g.Seq
		}
	}
	if r.Added.After != "" {
		x.noteEmergency(r.grant())
	}
	x.drop(id)
	x.removed[id] = r
	name := id[strings.LastIndexByte(id, '/')+1:]
	x.byName[name] = appendUnique(x.byName[name], id)
	if r.Request != nil {
		for _, t := range r.Request.AllTargets() {
			x.removedByAsk[askKey{strings.ToLower(r.Request.Requester), t.Account, t.Qualified()}] = r
		}
	}
}

// RemovedByAsk returns the latest revocation of a grant login held for
// account and role (a role, or ps/NAME for a permission set).
func (x *Index) RemovedByAsk(login, account, role string) (*Removal, bool) {
	r, ok := x.removedByAsk[askKey{strings.ToLower(login), account, role}]
	return r, ok
}

func (x *Index) add(id string, g *Grant) {
	x.noteEmergency(g)
	x.drop(id)
	x.grants[id] = g
	name := id[strings.LastIndexByte(id, '/')+1:]
	x.byName[name] = appendUnique(x.byName[name], id)
	if g.Request != nil {
		for _, t := range g.Request.AllTargets() {
			k := askKey{strings.ToLower(g.Request.Requester), t.Account, t.Qualified()}
			rk := roleKey{t.Account, t.Qualified()}
			x.byRole[rk] = append(x.byRole[rk], g)
			if r, ok := x.removedByAsk[k]; ok && r.ID == id {
				delete(x.removedByAsk, k)
			}
		}
	}
	delete(x.removed, id)
}

func (x *Index) drop(id string) {
	g, ok := x.grants[id]
	if !ok {
		return
	}
	delete(x.grants, id)
	if g.Request == nil {
		return
	}
	for _, t := range g.Request.AllTargets() {
		k := roleKey{t.Account, t.Qualified()}
		list := x.byRole[k]
		for i, other := range list {
			if other == g {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(x.byRole, k)
		} else {
			x.byRole[k] = list
		}
	}
}

func appendUnique(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// verdictKeys names the verdicts the index can still use: those of its
// grants and of the window's emergencies. Any other is history.
func (x *Index) verdictKeys() []string {
	keys := make([]string, 0, len(x.grants)+len(x.emergencies))
	for _, g := range x.grants {
		keys = append(keys, g.key())
	}
	for _, g := range x.emergencies {
		keys = append(keys, g.key())
	}
	// A revoked grant's verdict says whose access ends with it: Identity
	// Center's assignment is that person's.
	for _, r := range x.removed {
		if r.Added.After != "" {
			keys = append(keys, r.grant().key())
		}
	}
	return keys
}

// grant is the revoked grant as it was in the index.
func (r *Removal) grant() *Grant {
	return &Grant{ID: r.ID, Path: r.Path, Request: r.Request, Step: r.Added, Seq: r.Seq, Blob: r.Blob}
}

// Revocations calls fn for every revocation the index holds.
func (x *Index) Revocations(fn func(*Removal)) {
	for _, r := range x.removed {
		fn(r)
	}
}
