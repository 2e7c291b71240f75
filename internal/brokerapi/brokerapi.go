// Package brokerapi is the broker's wire contract (docs/broker.md, "API"): the JSON the
// broker answers and the CLI, the tests and the demo read. It holds types and
// constants only, so that both ends import one declaration and neither
// imports the other's internals.
package brokerapi

import "time"

// Paths of the API.
const (
	PathCredentials = "/v1/credentials"
	PathConsole     = "/v1/console"
	PathGrants      = "/v1/grants"
	PathWebhook     = "/v1/webhook"
	PathHealth      = "/healthz"
	PathMetrics     = "/metrics"
)

// GrantRequest is the body of POST /v1/credentials and /v1/console: a
// request id (or its unambiguous suffix), or an account and role, or both
// to choose one target of a grant of several.
type GrantRequest struct {
	Request string `json:"request,omitempty"`
	Account string `json:"account,omitempty"`
	Role    string `json:"role,omitempty"`
}

// Credentials is the answer of POST /v1/credentials: AWS credential_process
// JSON (Version 1) plus the grant it came from.
type Credentials struct {
	Version         int
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	Request         string
	WindowEnd       time.Time
}

// Console is the answer of POST /v1/console.
type Console struct {
	URL       string    `json:"url"`
	Request   string    `json:"request"`
	WindowEnd time.Time `json:"window_end"`
}

// Grants is the answer of GET /v1/grants.
type Grants struct {
	Login  string  `json:"login"`
	Grants []Grant `json:"grants"`
}

// Grant is one of the caller's grants and its state.
type Grant struct {
	ID        string    `json:"request"`
	Account   string    `json:"account"`
	Role      string    `json:"role"`
	State     State     `json:"state"`
	Start     time.Time `json:"start,omitzero"`
	End       time.Time `json:"end"`
	PR        int       `json:"pr,omitempty"`
	Emergency bool      `json:"emergency,omitempty"`
	// Targets are every target of the grant; account and role above are
	// its first (a permission set as ps/NAME).
	Targets []Target `json:"targets,omitempty"`
}

// Target is one account and role, or account and Identity Center
// permission set, of a grant.
type Target struct {
	Account       string `json:"account"`
	Role          string `json:"role,omitempty"`
	PermissionSet string `json:"permission_set,omitempty"`
	// Assignment is an Identity Center target's account assignment:
	// pending, active (created and SUCCEEDED), failed, refused or ended.
	Assignment string `json:"assignment,omitempty"`
}

// State is where a grant is in its life.
type State string

const (
	StateActive    State = "active"    // merged, the window is open
	StateScheduled State = "scheduled" // merged, the window opens later (not_before)
	StateExpired   State = "expired"   // the window is over
	StateRevoked   State = "revoked"   // the file was deleted by a merged revocation
	StateInvalid   State = "invalid"   // the file does not parse: it never granted
	StateUntrusted State = "untrusted" // judged under a policy that is not trusted
)

// Error is every refusal's body: a code scripts branch on and a message
// that tells a person what to do next.
type Error struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

// Error codes, with the HTTP status each is answered with.
const (
	CodeUnauthenticated  = "unauthenticated"   // 401
	CodeNotEligible      = "not_eligible"      // 403
	CodeNoActiveGrant    = "no_active_grant"   // 403
	CodeExpired          = "expired"           // 403
	CodeRevoked          = "revoked"           // 403
	CodeBadRequest       = "bad_request"       // 400
	CodeNotFound         = "not_found"         // 404
	CodeTooLarge         = "too_large"         // 413
	CodeInternal         = "internal"          // 500
	CodeUpstream         = "upstream"          // 502
	CodeNotSynced        = "not_synced"        // 503
	CodePolicyInvalid    = "policy_invalid"    // 503
	CodeLedgerStale      = "ledger_stale"      // 503
	CodeUntrustedHistory = "untrusted_history" // 503
	CodeHistoryRewritten = "history_rewritten" // 503
	CodeTargetRequired   = "target_required"   // 400: a grant of several targets asked by id alone
	CodeUseSSO           = "use_sso"           // 409: an Identity Center target: sign in with AWS SSO
)

// Health is the answer of GET /healthz.
type Health struct {
	Status             string `json:"status"` // HealthOK, HealthDegraded, HealthNotSynced or HealthDraining
	Reason             string `json:"reason,omitempty"`
	Head               string `json:"head,omitempty"`
	Grants             int    `json:"grants"`
	LastSyncAgeSeconds *int   `json:"last_sync_age_seconds,omitempty"`
	LastSyncError      string `json:"last_sync_error,omitempty"`
	// Progress says what the first sync is doing while it runs (fetching,
	// reading GitHub's record, comparing trees).
	Progress string `json:"progress,omitempty"`
	// Warnings name what works only in part, such as a repository of
	// --oidc-repositories GitHub has not resolved (its tokens are refused).
	Warnings []string `json:"warnings,omitempty"`
}

// WebhookAnswer is the answer of POST /v1/webhook.
type WebhookAnswer struct {
	Status string `json:"status"` // synced, syncing, pong or ignored
	Reason string `json:"reason,omitempty"`
}

// Health states.
const (
	HealthOK        = "ok"
	HealthDegraded  = "degraded"
	HealthNotSynced = "not_synced"
	HealthDraining  = "draining" // stopping: finishing the requests in flight
)
