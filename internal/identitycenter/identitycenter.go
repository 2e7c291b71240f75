package identitycenter

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
)

// SSOAdmin is the part of sso-admin the reconciler calls;
// *ssoadmin.Client satisfies it.
type SSOAdmin interface {
	ListAccountAssignments(ctx context.Context, in *ssoadmin.ListAccountAssignmentsInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.ListAccountAssignmentsOutput, error)
	CreateAccountAssignment(ctx context.Context, in *ssoadmin.CreateAccountAssignmentInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.CreateAccountAssignmentOutput, error)
	DeleteAccountAssignment(ctx context.Context, in *ssoadmin.DeleteAccountAssignmentInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.DeleteAccountAssignmentOutput, error)
	DescribeAccountAssignmentCreationStatus(ctx context.Context, in *ssoadmin.DescribeAccountAssignmentCreationStatusInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.DescribeAccountAssignmentCreationStatusOutput, error)
	DescribeAccountAssignmentDeletionStatus(ctx context.Context, in *ssoadmin.DescribeAccountAssignmentDeletionStatusInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.DescribeAccountAssignmentDeletionStatusOutput, error)
	GetInlinePolicyForPermissionSet(ctx context.Context, in *ssoadmin.GetInlinePolicyForPermissionSetInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.GetInlinePolicyForPermissionSetOutput, error)
	PutInlinePolicyToPermissionSet(ctx context.Context, in *ssoadmin.PutInlinePolicyToPermissionSetInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.PutInlinePolicyToPermissionSetOutput, error)
	ProvisionPermissionSet(ctx context.Context, in *ssoadmin.ProvisionPermissionSetInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.ProvisionPermissionSetOutput, error)
	DescribePermissionSetProvisioningStatus(ctx context.Context, in *ssoadmin.DescribePermissionSetProvisioningStatusInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.DescribePermissionSetProvisioningStatusOutput, error)
	ListAccountsForProvisionedPermissionSet(ctx context.Context, in *ssoadmin.ListAccountsForProvisionedPermissionSetInput, optFns ...func(*ssoadmin.Options)) (*ssoadmin.ListAccountsForProvisionedPermissionSetOutput, error)
}

// IdentityStore is the part of identitystore the reconciler calls;
// *identitystore.Client satisfies it.
type IdentityStore interface {
	GetUserId(ctx context.Context, in *identitystore.GetUserIdInput, optFns ...func(*identitystore.Options)) (*identitystore.GetUserIdOutput, error)
}

// Config says which Identity Center the broker acts on, which permission
// sets are elevate's, and who the requesters are there.
type Config struct {
	InstanceARN     string
	IdentityStoreID string
	// PermissionSets are the permission sets eligibility.yaml lists, by
	// name: elevate's alone. An assignment of one that no open grant
	// explains is removed and announced; other sets are never touched.
	PermissionSets map[string]string // name -> ARN
	// Users maps a requester's numeric GitHub id to their Identity Center
	// UserName (resolved to a UserId with identitystore GetUserId).
	Users map[int64]string
}

// Target is one permission-set target of a verified grant that is open, or
// ended (its window's end passed or it was revoked) within the caller's
// look-back. Targets whose Start is still ahead are accepted and want
// nothing yet.
type Target struct {
	Request     string // request id, e.g. "payments/2026-12/alice-ps"
	PR          int
	GitHubID    int64
	Login       string
	AccountName string // as eligibility.yaml names it
	AccountID   string // 12 digits
	// PermissionSet is the set's name, a key of Config.PermissionSets.
	PermissionSet string
	Start, End    time.Time // the window [Start, End)
	// RevokedAt is zero unless the grant ended early (a revocation, or
	// lost eligibility); the grant then ends at the earlier of End and
	// RevokedAt.
	RevokedAt time.Time
}

// end is when t's access ends: End, or RevokedAt where earlier.
func (t Target) end() time.Time {
	if !t.RevokedAt.IsZero() && t.RevokedAt.Before(t.End) {
		return t.RevokedAt
	}
	return t.End
}

// Kinds of notices.
const (
	// NoticeFailed: an assignment could not be made or removed (AWS
	// answered FAILED, the requester has no Identity Center user, the Deny
	// that ends it could not be written). It is tried again on the next
	// Reconcile, and announced again: the caller dedups.
	NoticeFailed = "assignment_failed"
	// NoticeRefused: the Deny that ends the grant's access on time would
	// take the permission set's inline policy over IAM's 10,240
	// characters; the assignment is not made.
	NoticeRefused = "assignment_refused"
	// NoticeRemoved: an assignment of a managed permission set that no
	// open grant explains (made by hand, say) was removed.
	NoticeRemoved = "assignment_removed"
)

// Notice is something people should hear of.
type Notice struct {
	Kind    string
	Request string // "" for an assignment no grant explains
	PR      int
	Target  string // "payments:ps/PaymentsAdmin": account name (or id) and permission set
	Reason  string
}

// State is the assignment state of one target of a request.
type State string

const (
	// StateUnknown: Reconcile has not seen the target, or could not read
	// its account's assignments yet.
	StateUnknown State = ""
	// StatePending: the window has not started, or AWS has not said
	// SUCCEEDED yet.
	StatePending State = "pending"
	// StateActive: the assignment exists (AWS said SUCCEEDED, or lists
	// it). An ended target whose assignment could not be removed yet also
	// stays active: its access is still live.
	StateActive State = "active"
	// StateFailed: the assignment could not be made; tried again on the
	// next Reconcile.
	StateFailed State = "failed"
	// StateRefused: over the inline policy's size limit.
	StateRefused State = "refused"
	// StateEnded: the window is over and the person's assignment is gone
	// (or kept only for another of their open grants).
	StateEnded State = "ended"
)

// Options tune a Reconciler; the zero value is usable.
type Options struct {
	// Notify hears of each notice, synchronously; nil drops them (they
	// are logged).
	Notify func(Notice)
	Logger *slog.Logger // nil: no logs
	// Sleep waits between tries and between polls (default: a timer that
	// ctx cancels). Tests inject one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand is the jitter's source, in [0, 1) (default math/rand/v2).
	Rand func() float64
	// PollLimit bounds the status polls of one asynchronous write
	// (default 10); a write still IN_PROGRESS then is looked at again on
	// the next Reconcile, never issued twice.
	PollLimit int
	// Attempts bounds the tries of one call answered ConflictException or
	// throttling (default 6).
	Attempts int
	// Backoff is the first wait between tries and polls (default 500 ms),
	// doubling up to maxWait, jittered into [w/2, w).
	Backoff time.Duration
	// Current, when set, is asked before each permission set, each write
	// of an inline policy and each creation: false stops the round (the
	// grants it was given may since have been revoked, and a stale round
	// must never re-create or re-extend). Deletions already decided go on.
	Current func() bool
	// KeepEnded is how long a Deny statement is kept after its end once
	// its assignment is gone (default 12 h, the longest session a
	// permission set can give): removing it sooner would let a session
	// issued before the end work again until it expires.
	KeepEnded time.Duration
}

const (
	defaultPollLimit = 10
	defaultAttempts  = 6
	defaultBackoff   = 500 * time.Millisecond
	defaultKeepEnded = 12 * time.Hour
	// maxWait caps one wait between tries or polls.
	maxWait = 20 * time.Second
	// callTimeout bounds one AWS call.
	callTimeout = 30 * time.Second
	// listGrace is how long a creation or deletion AWS said SUCCEEDED is
	// trusted over a ListAccountAssignments that does not show it yet.
	listGrace = 2 * time.Minute
	// userTTL is how long a UserName's UserId is cached.
	userTTL = time.Hour
	// inflightTTL is how long a write still IN_PROGRESS after PollLimit is
	// looked at again instead of issued anew.
	inflightTTL = time.Hour
)

// Reconciler makes Identity Center's account assignments of the managed
// permission sets match the open grants. Its methods are safe for
// concurrent use; Reconcile calls run one at a time.
type Reconciler struct {
	admin SSOAdmin
	store IdentityStore
	cfg   Config
	opts  Options
	log   *slog.Logger
	calls atomic.Int64

	mu          sync.Mutex // one Reconcile at a time; guards the fields below
	users       map[string]cachedUser
	recent      map[assignKey]recentWrite
	inflight    map[assignKey]inflightWrite
	provisioned map[pairKey]string // the account's view of the policy last provisioned there
	seeded      map[string]bool    // permission sets whose provisioned accounts were asked once
	names       map[string]string  // account id -> name, for notices

	stateMu sync.RWMutex
	states  map[stateKey]State
}

type cachedUser struct {
	id string
	at time.Time
}

// assignKey is one USER assignment: a permission set (ARN), an account and
// an Identity Center UserId.
type assignKey struct{ ps, account, user string }

// pairKey is a permission set (ARN) in an account.
type pairKey struct{ ps, account string }

type stateKey struct{ request, account, ps string }

// recentWrite is a creation or deletion AWS said SUCCEEDED at.
type recentWrite struct {
	created bool
	at      time.Time
}

// inflightWrite is a creation or deletion still IN_PROGRESS after
// PollLimit polls.
type inflightWrite struct {
	create    bool
	requestID string
	at        time.Time
}

// New returns a Reconciler acting on cfg's Identity Center through admin
// and store.
func New(admin SSOAdmin, store IdentityStore, cfg Config, opts Options) *Reconciler {
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.PollLimit <= 0 {
		opts.PollLimit = defaultPollLimit
	}
	if opts.Attempts <= 0 {
		opts.Attempts = defaultAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = defaultBackoff
	}
	if opts.KeepEnded <= 0 {
		opts.KeepEnded = defaultKeepEnded
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{
		admin:       admin,
		store:       store,
		cfg:         cfg,
		opts:        opts,
		log:         log,
		users:       map[string]cachedUser{},
		recent:      map[assignKey]recentWrite{},
		inflight:    map[assignKey]inflightWrite{},
		provisioned: map[pairKey]string{},
		seeded:      map[string]bool{},
		names:       map[string]string{},
		states:      map[stateKey]State{},
	}
}

// State reports the assignment state of one target of a request, as the
// last Reconcile left it; StateUnknown for a target it has not seen.
func (r *Reconciler) State(request, accountName, permissionSet string) State {
	r.stateMu.RLock()
	defer r.stateMu.RUnlock()
	return r.states[stateKey{request, accountName, permissionSet}]
}

// Calls reports how many AWS API calls (each try counts) the Reconciler
// made so far.
func (r *Reconciler) Calls() int64 { return r.calls.Load() }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
