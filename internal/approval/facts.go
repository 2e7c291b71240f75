package approval

import (
	"time"
)

// User is a GitHub account.
type User struct {
	ID    int64 // the identity: logins can be renamed and reused
	Login string
	Bot   bool
}

// FileChange is one entry of a PR's changed files, as GitHub lists them.
type FileChange struct {
	Path         string
	PreviousPath string // set for renames
	Status       string // added, removed, modified, renamed, copied, changed, unchanged
	Blob         string // git blob SHA at the head ("" when GitHub gives none)
}

// Review states, as GitHub's REST API spells them.
const (
	StateApproved         = "APPROVED"
	StateChangesRequested = "CHANGES_REQUESTED"
	StateDismissed        = "DISMISSED"
	StateCommented        = "COMMENTED"
)

// Review is one submitted review.
type Review struct {
	Reviewer    User
	State       string
	CommitID    string
	SubmittedAt time.Time
}

// Base is the policy a PR is judged against: eligibility.yaml and CODEOWNERS
// read at one commit, never at the PR's head (PolicyAt reads it).
type Base struct {
	Ref string // the commit they were read at
	// Policy is eligibility.yaml; nil when it is missing.
	Policy []byte
	// CodeOwnersPath and CodeOwners are the CODEOWNERS file found where
	// GitHub looks; the path is "" when there is none.
	CodeOwnersPath string
	CodeOwners     []byte
}

// Facts are everything the decision reads about one PR: what Gather reads
// about the PR itself, and the Base it is judged against.
type Facts struct {
	Number  int
	Author  User
	HeadSHA string
	BaseSHA string
	Files   []FileChange
	Reviews []Review
	// MergedAt is set for a merged PR: reviews after it do not count.
	MergedAt time.Time

	// Added is the content at the head of the request file the PR adds, when
	// it adds exactly one file under requests/.
	Added []byte
	// AddedTooLarge is set instead of Added when the file is over request.MaxSize.
	AddedTooLarge bool
	// AddedNotRegular is set instead of Added when the path is a symlink or
	// a submodule at the head.
	AddedNotRegular bool
	// Deleted holds the base content of each request file a revocation PR
	// deletes; a missing entry means its requester is unknown.
	Deleted map[string][]byte
	// PolicyAtHead is eligibility.yaml at the head when the PR changes it.
	PolicyAtHead []byte

	// RecordedRequester is the requester elevate's own merge record (the
	// Action's merge comment, its MAC verified by the caller) names for
	// this author's id: it lets a merged request whose author has been
	// renamed since still match its file. Empty when there is none.
	RecordedRequester string
	// UnreviewedEmergencies are the author's earlier emergency grants that
	// no owner had approved when this PR was judged (EmergencyReviewed),
	// by request id. An emergency request is refused while there is one.
	UnreviewedEmergencies []string

	Base
}
