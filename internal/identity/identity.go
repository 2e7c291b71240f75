package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/outbound"
)

// Defaults and bounds of Config.
const (
	DefaultIssuer       = "https://token.actions.githubusercontent.com"
	DefaultAudience     = "elevate"
	DefaultHTTPTimeout  = 10 * time.Second
	DefaultUserCacheTTL = time.Minute
	MaxUserCacheTTL     = time.Minute
)

// DefaultEvents are the events whose runs speak for their actor when
// Config.Events is empty: a run the actor started by hand.
var DefaultEvents = []string{"workflow_dispatch"}

// Via values of Identity.
const (
	ViaOIDC        = "oidc"
	ViaGitHubToken = "github-token"
)

const (
	// maxTokenLen bounds the token in the Authorization header. GitHub
	// Actions tokens are about 1.5 KiB.
	maxTokenLen = 16 << 10
	// maxResponseBody bounds every response body read from the issuer or
	// GitHub.
	maxResponseBody = 1 << 20
	// minTokenLenToRedact: tokens at least this long are scrubbed from
	// error text as a last line of defence (shorter strings are malformed
	// tokens and would match ordinary words).
	minTokenLenToRedact = 8
)

// Identity is a verified caller.
type Identity struct {
	UserID int64  // the identity everywhere: GitHub numeric user id
	Login  string // display / session names only
	Via    string // ViaOIDC or ViaGitHubToken
	// Workflow is, for an Actions token, the workflow that minted it
	// (its workflow_ref claim, e.g. acme/tools/.github/workflows/db.yml@refs/heads/main).
	Workflow string
}

// Config configures a Verifier. The zero value refuses every token: Actions
// tokens need Repositories and Workflows, user tokens ClientID and
// ClientSecret.
type Config struct {
	Issuer       string       // default DefaultIssuer; https, or http on a loopback host
	Audience     string       // default DefaultAudience
	GitHubAPIURL string       // default https://api.github.com/ (GitHub Enterprise ok, see githubapi.NewClient)
	HTTPClient   *http.Client // outbound; copied; default (or Timeout 0): DefaultHTTPTimeout
	Now          func() time.Time
	// UserCacheTTL is how long GitHub's answer about a user token, an
	// acceptance or a refusal, is kept; default DefaultUserCacheTTL, at
	// most MaxUserCacheTTL.
	UserCacheTTL time.Duration

	// ClientID and ClientSecret are elevate's own GitHub app (the OAuth
	// app or GitHub App that `elevate login` signs in with): a user token
	// counts only when GitHub's "check a token" API says it was issued to
	// this app. A token any other app was given, or a personal access
	// token, would otherwise speak for its owner. Without a ClientID every
	// user token is refused. ClientSecret is a secret: LogValue redacts it.
	ClientID     string
	ClientSecret string

	// Workflows are the workflows whose Actions tokens speak for their
	// actor, as exact refs OWNER/NAME/.github/workflows/FILE.yml@refs/heads/BRANCH:
	// a token's job_workflow_ref and its workflow_ref must both be listed
	// (a listed reusable workflow called from an unlisted one is not
	// enough). Any workflow of a listed repository, on any branch, runs
	// with the actor of whoever triggered it: only code the repository's
	// owners reviewed, started by that person, may speak for them. None
	// listed: every Actions token is refused.
	Workflows []string
	// Events are the event_name values whose runs speak for their actor;
	// empty: DefaultEvents. A run for a pull request, a review, a comment
	// or a push has as actor whoever happened to trigger it.
	Events []string
	// Repositories are the repositories whose workflows' Actions tokens are
	// accepted, matched by the token's repository_id and
	// repository_owner_id claims (names can be renamed and reclaimed; ids
	// cannot). Any workflow anywhere can mint a token for any audience with
	// the actor of whoever triggered it, so tokens from other repositories
	// are refused; with none configured, every Actions token is refused.
	Repositories []Repository
	// RepositorySource, when set, replaces Repositories: the list as
	// resolved so far, asked at each Actions token, so an entry GitHub
	// could not resolve at start is refused until it can, not fatal.
	RepositorySource RepositorySource
	// RepositoryOwners, when set, is a coarser list a token must also pass:
	// the organisations (by the repository_owner claim) allowed.
	RepositoryOwners []string
}

// LogValue writes c with its secret redacted.
func (c Config) LogValue() slog.Value {
	secret := ""
	if c.ClientSecret != "" {
		secret = "REDACTED"
	}
	return slog.GroupValue(
		slog.String("issuer", c.Issuer), slog.String("audience", c.Audience), slog.String("github_api_url", c.GitHubAPIURL),
		slog.String("client_id", c.ClientID), slog.String("client_secret", secret),
		slog.Any("workflows", c.Workflows), slog.Any("events", c.Events),
		slog.Any("repositories", c.Repositories), slog.Any("repository_owners", c.RepositoryOwners))
}

// Repository is an allowed source of Actions tokens, by its ids as
// GitHub's API reports them (the broker resolves OWNER/NAME at start).
type Repository struct {
	Name    string // OWNER/NAME, for messages
	ID      int64
	OwnerID int64
}

// RepositorySource says what the allowed repositories resolved to so far.
type RepositorySource interface {
	// Repositories lists those resolved to ids, and those not (yet) with
	// why. It may try again the entries whose retry is due, within ctx.
	Repositories(ctx context.Context) (resolved []Repository, unresolved []Unresolved)
}

// Unresolved is an allowed repository whose ids are not known.
type Unresolved struct {
	Name string // OWNER/NAME
	// Reason says why, safe to show a caller (no token, no secret).
	Reason string
	// Definitive is set when GitHub answered that it cannot see the
	// repository (not found), rather than failing or rate-limiting.
	Definitive bool
	// RetryAfter, when set, is how long until the next attempt.
	RetryAfter time.Duration
}

// staticRepositories is a fixed list.
type staticRepositories []Repository

func (s staticRepositories) Repositories(context.Context) ([]Repository, []Unresolved) { return s, nil }

// UnavailableError means the broker cannot tell now whether the token
// counts (a repository it accepts tokens from is not resolved because
// GitHub failed): 503, never a 401 that may not be true.
type UnavailableError struct {
	Reason     string
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string { return "identity: unavailable: " + e.Reason }

// UnauthenticatedError is a refusal: the header is missing or malformed, or
// the token is not valid. Reason is safe to show the caller and never holds
// the token.
type UnauthenticatedError struct {
	Reason string
	err    error // the underlying cause, if any, for errors.As
}

func (e *UnauthenticatedError) Error() string { return "unauthenticated: " + e.Reason }

// Unwrap returns the underlying cause, such as *oidc.TokenExpiredError.
func (e *UnauthenticatedError) Unwrap() error { return e.err }

// UpstreamError means the verification could not complete: the issuer or
// GitHub is unreachable or answered with an error of its own.
type UpstreamError struct {
	Op  string // what failed, for example "OIDC discovery at https://…"
	Err error
	// Reason, when set, is safe to show the caller and says what to do
	// (for a broker misconfigured rather than GitHub down).
	Reason string
}

func (e *UpstreamError) Error() string { return "identity: " + e.Op + ": " + e.Err.Error() }

func (e *UpstreamError) Unwrap() error { return e.Err }

// RateLimitedError means GitHub is rate-limiting the broker's checks of
// user tokens: nobody can be told apart now, which is no refusal.
type RateLimitedError struct {
	Err error
	// RetryAfter is how long GitHub asked to wait, when it said.
	RetryAfter time.Duration
}

// rateLimitedReason is the caller's message for a *RateLimitedError.
const rateLimitedReason = "GitHub is rate-limiting the broker's checks of user tokens, so it cannot tell who you are right now: try again in a minute"

func (e *RateLimitedError) Error() string { return "identity: rate limited: " + e.Err.Error() }

func (e *RateLimitedError) Unwrap() error { return e.Err }

// Reason is safe to show the caller and says what to do.
func (e *RateLimitedError) Reason() string { return rateLimitedReason }

// unauthenticated returns a refusal.
func unauthenticated(reason string, cause error) *UnauthenticatedError {
	return &UnauthenticatedError{Reason: reason, err: cause}
}

// Verifier verifies Authorization headers. It is safe for concurrent use.
type Verifier struct {
	now      func() time.Time
	cacheTTL time.Duration

	oidc      *issuer
	owners    []string
	repos     RepositorySource
	workflows []string
	events    []string

	app      *github.Client // elevate's app, for the check of user tokens; nil: none configured
	clientID string
	users    *userCache
}

// New returns a Verifier for cfg. It does not reach the network.
func New(cfg Config) (*Verifier, error) {
	iss := strings.TrimSuffix(cfg.Issuer, "/") // tokens' iss has no trailing slash
	if iss == "" {
		iss = DefaultIssuer
	}
	if err := checkURL(iss); err != nil {
		return nil, fmt.Errorf("OIDC issuer: %w", err)
	}
	aud := cfg.Audience
	if aud == "" {
		aud = DefaultAudience
	}
	ttl := cfg.UserCacheTTL
	switch {
	case ttl == 0:
		ttl = DefaultUserCacheTTL
	case ttl < 0 || ttl > MaxUserCacheTTL:
		return nil, fmt.Errorf("user cache TTL %s: must be between 0 and %s", ttl, MaxUserCacheTTL)
	}
	for _, w := range cfg.Workflows {
		if err := CheckWorkflowRef(w); err != nil {
			return nil, err
		}
	}
	events := cfg.Events
	if len(events) == 0 {
		events = DefaultEvents
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	client := outboundClient(cfg.HTTPClient)
	app, err := newAppClient(cfg.GitHubAPIURL, cfg.ClientID, cfg.ClientSecret, client)
	if err != nil {
		return nil, err
	}
	return &Verifier{
		now:       now,
		cacheTTL:  ttl,
		oidc:      newIssuer(iss, aud, client, now),
		owners:    cfg.RepositoryOwners,
		repos:     cmp.Or[RepositorySource](cfg.RepositorySource, staticRepositories(cfg.Repositories)),
		workflows: slices.Clone(cfg.Workflows),
		events:    slices.Clone(events),
		app:       app,
		clientID:  cfg.ClientID,
		users:     newUserCache(defaultUserCacheEntries),
	}, nil
}

// Verify returns the caller named by authorization, the raw value of the
// Authorization header. Every refusal is an *UnauthenticatedError; a failure
// to reach the issuer or GitHub is an *UpstreamError. It never returns an
// Identity with an error, nor an error text holding the token.
func (v *Verifier) Verify(ctx context.Context, authorization string) (*Identity, error) {
	token, err := bearerToken(authorization)
	if err != nil {
		return nil, err
	}
	var id *Identity
	if looksLikeJWT(token) {
		id, err = v.verifyJWT(ctx, token)
	} else {
		id, err = v.verifyUserToken(ctx, token)
	}
	if err != nil {
		return nil, redact(err, token)
	}
	if id == nil || id.UserID <= 0 || id.Login == "" {
		// Unreachable by construction; fail closed if it ever is reached.
		return nil, unauthenticated("token did not yield a GitHub user", nil)
	}
	return id, nil
}

// tokenKinds names the tokens the broker accepts, for refusals.
const tokenKinds = "the token `elevate login` stored, or a GitHub Actions OIDC token"

// bearerToken extracts the token of "Bearer <token>". The scheme is
// case-insensitive (RFC 7235); the token must be an RFC 6750 b64token.
func bearerToken(h string) (string, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", unauthenticated("missing Authorization header: send \"Authorization: Bearer <token>\" with "+tokenKinds, nil)
	}
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated("Authorization scheme must be Bearer: send \"Authorization: Bearer <token>\" with "+tokenKinds, nil)
	}
	tok := strings.TrimLeft(rest, " ")
	switch {
	case tok == "":
		return "", unauthenticated("Authorization header has no token after Bearer: send "+tokenKinds, nil)
	case len(tok) > maxTokenLen:
		return "", unauthenticated(fmt.Sprintf("token longer than %d bytes: send %s", maxTokenLen, tokenKinds), nil)
	case !isB64Token(tok):
		return "", unauthenticated("malformed token: send "+tokenKinds, nil)
	}
	return tok, nil
}

// isB64Token reports whether s is 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// looksLikeJWT reports whether tok is meant as a compact JWS. GitHub user
// tokens never hold a dot, so any dot sends the token down the JWT path,
// where a malformed one is refused, rather than to GitHub.
func looksLikeJWT(tok string) bool { return strings.Contains(tok, ".") }

// redact makes sure no error text carries token. The reasons built by this
// package never do; this guards against text quoted from upstream.
func redact(err error, token string) error {
	if len(token) < minTokenLenToRedact || !strings.Contains(err.Error(), token) {
		return err
	}
	var ue *UpstreamError
	var rl *RateLimitedError
	switch {
	case errors.As(err, &ue):
		return &UpstreamError{Op: ue.Op, Reason: ue.Reason, Err: errors.New("upstream error (details withheld)")}
	case errors.As(err, &rl):
		return &RateLimitedError{RetryAfter: rl.RetryAfter, Err: errors.New("rate limited (details withheld)")}
	}
	return unauthenticated("invalid token", nil)
}

// outboundClient copies c (or builds a client), enforcing a timeout and a
// bound on response bodies.
func outboundClient(c *http.Client) *http.Client {
	out := outbound.LimitBodies(c, maxResponseBody)
	if out.Timeout <= 0 {
		out.Timeout = DefaultHTTPTimeout
	}
	return out
}

// checkURL accepts https URLs, and http ones on loopback hosts (tests and
// the local demo), without credentials, query or fragment.
func checkURL(raw string) error {
	_, _, err := outbound.ParseURL("URL", raw)
	return err
}
