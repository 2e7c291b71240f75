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

// Facts are everything the decision reads about one PR. Base files are read at
// the PR's base commit, never from its head.
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
	// Deleted holds the base content of each request file a revocation PR
	// deletes; a missing entry means its requester is unknown.
	Deleted map[string][]byte
	// Policy is eligibility.yaml at the base; nil when it is missing.
	Policy []byte
	// PolicyAtHead is eligibility.yaml at the head when the PR changes it.
	PolicyAtHead []byte
	// CodeOwnersPath and CodeOwners are the CODEOWNERS file found at the
	// base where GitHub looks; the path is "" when there is none.
	CodeOwnersPath string
	CodeOwners     []byte
}
