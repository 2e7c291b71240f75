package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/outbound"
)

// Defaults and bounds of Config.
const (
	DefaultIssuer       = "https://token.actions.githubusercontent.com"
	DefaultAudience     = "elevate"
	DefaultHTTPTimeout  = 10 * time.Second
	DefaultUserCacheTTL = 5 * time.Minute
	MaxUserCacheTTL     = 5 * time.Minute
)

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

// Config configures a Verifier. The zero value verifies GitHub Actions
// tokens for audience "elevate" and user tokens against api.github.com.
type Config struct {
	Issuer       string       // default DefaultIssuer; https, or http on a loopback host
	Audience     string       // default DefaultAudience
	GitHubAPIURL string       // default https://api.github.com/ (GitHub Enterprise ok, see githubapi.NewClient)
	HTTPClient   *http.Client // outbound; copied; default (or Timeout 0): DefaultHTTPTimeout
	Now          func() time.Time
	UserCacheTTL time.Duration // default DefaultUserCacheTTL, at most MaxUserCacheTTL
	// Repositories are the repositories whose workflows' Actions tokens are
	// accepted, matched by the token's repository_id and
	// repository_owner_id claims (names can be renamed and reclaimed; ids
	// cannot). Any workflow anywhere can mint a token for any audience with
	// the actor of whoever triggered it, so tokens from other repositories
	// are refused; with none configured, every Actions token is refused.
	Repositories []Repository
	// RepositoryOwners, when set, is a coarser list a token must also pass:
	// the organisations (by the repository_owner claim) allowed.
	RepositoryOwners []string
}

// Repository is an allowed source of Actions tokens, by its ids as
// GitHub's API reports them (the broker resolves OWNER/NAME at start).
type Repository struct {
	Name    string // OWNER/NAME, for messages
	ID      int64
	OwnerID int64
}

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
}

func (e *UpstreamError) Error() string { return "identity: " + e.Op + ": " + e.Err.Error() }

func (e *UpstreamError) Unwrap() error { return e.Err }

// unauthenticated returns a refusal.
func unauthenticated(reason string, cause error) *UnauthenticatedError {
	return &UnauthenticatedError{Reason: reason, err: cause}
}

// Verifier verifies Authorization headers. It is safe for concurrent use.
type Verifier struct {
	apiURL   string
	client   *http.Client
	now      func() time.Time
	cacheTTL time.Duration

	oidc   *issuer
	owners []string
	repos  []Repository
	users  *userCache
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
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	client := outboundClient(cfg.HTTPClient)
	// Validate the GitHub API URL now rather than on the first user token.
	if _, err := githubapi.NewClient(cfg.GitHubAPIURL, "", client); err != nil {
		return nil, err
	}
	return &Verifier{
		apiURL:   cfg.GitHubAPIURL,
		client:   client,
		now:      now,
		cacheTTL: ttl,
		oidc:     newIssuer(iss, aud, client, now),
		owners:   cfg.RepositoryOwners,
		repos:    cfg.Repositories,
		users:    newUserCache(defaultUserCacheEntries),
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

// bearerToken extracts the token of "Bearer <token>". The scheme is
// case-insensitive (RFC 7235); the token must be an RFC 6750 b64token.
func bearerToken(h string) (string, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", unauthenticated("missing Authorization header: send \"Authorization: Bearer <token>\"", nil)
	}
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated("Authorization scheme must be Bearer", nil)
	}
	tok := strings.TrimLeft(rest, " ")
	switch {
	case tok == "":
		return "", unauthenticated("Authorization header has no token after Bearer", nil)
	case len(tok) > maxTokenLen:
		return "", unauthenticated(fmt.Sprintf("token longer than %d bytes", maxTokenLen), nil)
	case !isB64Token(tok):
		return "", unauthenticated("malformed token", nil)
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
	if errors.As(err, &ue) {
		return &UpstreamError{Op: ue.Op, Err: errors.New("upstream error (details withheld)")}
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
