package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi"
)

// defaultUserCacheEntries bounds the user-token cache.
const defaultUserCacheEntries = 10_000

// maxUserTokenLen bounds a GitHub user token; GitHub documents up to 255
// characters.
const maxUserTokenLen = 255

// checkOp names GitHub's "check a token" call in errors and logs.
const checkOp = "check the user token with GitHub (POST /applications/{client_id}/token)"

// Refusals of user tokens, each one line that says what to do.
const (
	reasonMalformed  = "malformed token: neither a GitHub Actions OIDC token nor a GitHub token: run `elevate login` and send the token it stores"
	reasonNoApp      = "this broker has no GitHub app configured (--github-client-id), so it accepts no GitHub user tokens: ask its operator to set --github-client-id and --github-client-secret, or call it from a listed workflow with an Actions OIDC token"
	reasonOtherApp   = "this token was not issued by elevate's GitHub app (tokens of other apps, gh auth token among them, are refused): run `elevate login` and send the token it stores"
	reasonAppRefused = "GitHub refused the broker's own app credentials, so it cannot check user tokens now: tell the broker's operator to check --github-client-id and --github-client-secret"
)

// clientIDShape is what a GitHub app's client id looks like (Iv1.…, Iv23…,
// or an OAuth app's hex); it goes into a URL path.
var clientIDShape = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// newAppClient returns the client that checks user tokens as elevate's app
// (HTTP Basic auth with its client id and secret), or nil when no client id
// is configured. It validates apiURL either way.
func newAppClient(apiURL, clientID, secret string, client *http.Client) (*github.Client, error) {
	if _, err := githubapi.NewClient(apiURL, "", client); err != nil {
		return nil, err
	}
	switch {
	case clientID == "" && secret == "":
		return nil, nil
	case clientID == "" || secret == "":
		return nil, errors.New("GitHub app: give both the client id and the client secret, or neither")
	case !clientIDShape.MatchString(clientID):
		return nil, fmt.Errorf("GitHub app client id %q: want letters, digits, '.', '_' or '-'", clientID)
	}
	basic := *client
	basic.Transport = &github.BasicAuthTransport{Username: clientID, Password: secret, Transport: client.Transport}
	return githubapi.NewClient(apiURL, "", &basic)
}

// checked is GitHub's answer about one user token: an identity, or a
// refusal (reason set).
type checked struct {
	id     Identity
	reason string
}

// verifyUserToken accepts a GitHub user token only when GitHub says it was
// issued to elevate's own app. Answers and refusals are cached by the
// token's SHA-256 for at most a minute, and one check at a time runs per
// token, so a token costs at most one GitHub call a minute.
func (v *Verifier) verifyUserToken(ctx context.Context, token string) (*Identity, error) {
	if reason := tokenShape(token); reason != "" {
		return nil, unauthenticated(reason, nil)
	}
	if v.app == nil {
		return nil, unauthenticated(reasonNoApp, nil)
	}
	key := sha256.Sum256([]byte(token))
	// The check outlives a caller who gives up (others may wait for it),
	// bounded by the client's timeout.
	res, err := v.users.do(ctx, key, func() (checked, error) { return v.check(context.WithoutCancel(ctx), token) }, v.now, v.cacheTTL)
	var limited *RateLimitedError
	var up *UpstreamError
	switch {
	case err != nil && !errors.As(err, &limited) && !errors.As(err, &up):
		return nil, &UpstreamError{Op: checkOp, Err: err} // the caller gave up waiting
	case err != nil:
		return nil, err
	case res.reason != "":
		return nil, unauthenticated(res.reason, nil)
	}
	id := res.id
	return &id, nil
}

// check asks GitHub whether token was issued to elevate's app, and to whom.
func (v *Verifier) check(ctx context.Context, token string) (checked, error) {
	a, _, err := v.app.Authorizations.Check(ctx, v.clientID, token)
	if err != nil {
		var er *github.ErrorResponse
		if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotFound {
			return checked{reason: reasonOtherApp}, nil
		}
		return checked{}, checkError(err)
	}
	if a.GetApp().GetClientID() != v.clientID {
		return checked{reason: reasonOtherApp}, nil
	}
	u := a.GetUser()
	if u.GetID() <= 0 || u.GetLogin() == "" {
		return checked{}, &UpstreamError{Op: checkOp, Err: errors.New("GitHub answered without the token's user id or login")}
	}
	return checked{id: Identity{UserID: u.GetID(), Login: u.GetLogin(), Via: ViaGitHubToken}}, nil
}

// tokenShape refuses, before any call, a token GitHub never issues to an
// app for a user: "" when token is shaped like one (gho_… of an OAuth app,
// ghu_… of a GitHub App, or a classic 40-hex OAuth token).
func tokenShape(tok string) string {
	if len(tok) == 0 || len(tok) > maxUserTokenLen {
		return reasonMalformed
	}
	for _, p := range []struct{ prefix, kind string }{
		{"ghp_", "a personal access token"},
		{"github_pat_", "a fine-grained personal access token"},
		{"ghs_", "a GitHub App installation token (such as a workflow's GITHUB_TOKEN)"},
		{"ghr_", "a refresh token"},
	} {
		if strings.HasPrefix(tok, p.prefix) && isAlnum(tok[len(p.prefix):], p.prefix == "github_pat_") {
			return p.kind + " is refused: only a token of elevate's GitHub app counts; run `elevate login` and send the token it stores"
		}
	}
	switch {
	case strings.HasPrefix(tok, "gho_") && isAlnum(tok[4:], false),
		strings.HasPrefix(tok, "ghu_") && isAlnum(tok[4:], false),
		len(tok) == 40 && isHex(tok):
		return ""
	}
	return reasonMalformed
}

// isAlnum reports whether s is non-empty ASCII letters and digits (and
// underscores, when underscore).
func isAlnum(s string, underscore bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || underscore && c == '_') {
			return false
		}
	}
	return s != ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkError classifies a failed check: rate limiting is *RateLimitedError
// (the broker answers 503, never 401); GitHub refusing the app's own
// credentials, or failing, is *UpstreamError.
func checkError(err error) error {
	if wait, limited := githubapi.RateLimited(err, time.Now()); limited {
		return &RateLimitedError{Err: err, RetryAfter: wait}
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		switch er.Response.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusUnprocessableEntity:
			return &UpstreamError{Op: checkOp, Reason: reasonAppRefused,
				Err: fmt.Errorf("GitHub refused the broker's app credentials (is --github-client-id or --github-client-secret wrong?): %w", err)}
		}
	}
	return &UpstreamError{Op: checkOp, Err: err}
}

// userCache maps the SHA-256 of a token to GitHub's answer about it until
// an expiry, and runs at most one check per token at a time. The raw token
// is never held.
type userCache struct {
	mu      sync.Mutex
	max     int
	entries map[[sha256.Size]byte]cachedUser
	flights map[[sha256.Size]byte]*flight[checked]
}

type cachedUser struct {
	checked
	expires time.Time
}

func newUserCache(max int) *userCache {
	return &userCache{max: max, entries: map[[sha256.Size]byte]cachedUser{}, flights: map[[sha256.Size]byte]*flight[checked]{}}
}

// do returns the answer cached for key, or that of the check in flight for
// it, or runs check (detached from ctx) and caches its answer for ttl. A
// failed check is not cached.
func (c *userCache) do(ctx context.Context, key [sha256.Size]byte, check func() (checked, error), now func() time.Time, ttl time.Duration) (checked, error) {
	c.mu.Lock()
	if res, ok := c.getLocked(key, now()); ok {
		c.mu.Unlock()
		return res, nil
	}
	f := c.flights[key]
	if f == nil {
		f = newFlight[checked]()
		c.flights[key] = f
		go func() {
			res, err := check()
			c.mu.Lock()
			if err == nil {
				c.putLocked(key, res, now(), ttl)
			}
			delete(c.flights, key)
			c.mu.Unlock()
			f.finish(res, err)
		}()
	}
	c.mu.Unlock()
	return f.wait(ctx)
}

// get returns the answer cached for key, if not expired at now.
func (c *userCache) get(key [sha256.Size]byte, now time.Time) (checked, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.getLocked(key, now)
}

func (c *userCache) getLocked(key [sha256.Size]byte, now time.Time) (checked, bool) {
	e, ok := c.entries[key]
	if !ok {
		return checked{}, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, key)
		return checked{}, false
	}
	return e.checked, true
}

// put caches res under key until now+ttl.
func (c *userCache) put(key [sha256.Size]byte, res checked, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, res, now, ttl)
}

// putLocked caches res under key until now+ttl. When the cache is full it
// first drops expired entries, then, if still full, the entry expiring
// soonest (the oldest, as the TTL is fixed).
func (c *userCache) putLocked(key [sha256.Size]byte, res checked, now time.Time, ttl time.Duration) {
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	c.entries[key] = cachedUser{checked: res, expires: now.Add(ttl)}
}

// evictLocked makes room for one entry.
func (c *userCache) evictLocked(now time.Time) {
	var oldestKey [sha256.Size]byte
	var oldest time.Time
	found := false
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
			continue
		}
		if !found || e.expires.Before(oldest) {
			oldestKey, oldest, found = k, e.expires, true
		}
	}
	if len(c.entries) >= c.max && found {
		delete(c.entries, oldestKey)
	}
}

// len returns the number of entries, for tests.
func (c *userCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
