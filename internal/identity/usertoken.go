package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
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

// verifyUserToken verifies a GitHub user token with GET /user, through the
// cache.
func (v *Verifier) verifyUserToken(ctx context.Context, token string) (*Identity, error) {
	if !isUserToken(token) {
		return nil, unauthenticated("malformed token: neither a JWT nor a GitHub token", nil)
	}
	key := sha256.Sum256([]byte(token))
	if id, ok := v.users.get(key, v.now()); ok {
		return id, nil
	}
	gh, err := githubapi.NewClient(v.apiURL, token, v.client)
	if err != nil {
		return nil, &UpstreamError{Op: "GitHub client", Err: err}
	}
	u, _, err := gh.Users.Get(ctx, "")
	if err != nil {
		return nil, userLookupError(err)
	}
	if u.GetID() <= 0 || u.GetLogin() == "" {
		return nil, &UpstreamError{Op: "GET /user", Err: errors.New("GitHub answered a user without id or login")}
	}
	id := Identity{UserID: u.GetID(), Login: u.GetLogin(), Via: ViaGitHubToken}
	v.users.put(key, id, v.now(), v.cacheTTL)
	return &id, nil
}

// isUserToken reports whether tok has the shape of a GitHub token (ghp_…,
// gho_…, ghu_…, github_pat_…, or a classic 40-hex token).
func isUserToken(tok string) bool {
	if len(tok) == 0 || len(tok) > maxUserTokenLen {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// userLookupError classifies a failed GET /user: GitHub refusing the token
// is a refusal; anything else means GitHub could not answer.
func userLookupError(err error) error {
	var rl *github.RateLimitError
	var arl *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &rl), errors.As(err, &arl):
		return &UpstreamError{Op: "GET /user", Err: err}
	case errors.As(err, &er) && er.Response != nil:
		switch er.Response.StatusCode {
		case http.StatusUnauthorized:
			return unauthenticated("GitHub rejected the token (expired, revoked or invalid)", err)
		case http.StatusForbidden, http.StatusNotFound:
			return unauthenticated("the token cannot read its GitHub user: use a user token", err)
		}
	}
	return &UpstreamError{Op: "GET /user", Err: err}
}

// userCache maps the SHA-256 of a token to its identity until an expiry.
// The raw token is never held.
type userCache struct {
	mu      sync.Mutex
	max     int
	entries map[[sha256.Size]byte]cachedUser
}

type cachedUser struct {
	id      Identity
	expires time.Time
}

func newUserCache(max int) *userCache {
	return &userCache{max: max, entries: map[[sha256.Size]byte]cachedUser{}}
}

// get returns a copy of the identity cached for key, if not expired at now.
func (c *userCache) get(key [sha256.Size]byte, now time.Time) (*Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, key)
		return nil, false
	}
	id := e.id
	return &id, true
}

// put caches id under key until now+ttl. When the cache is full it first
// drops expired entries, then, if still full, the entry expiring soonest
// (the oldest, as the TTL is fixed).
func (c *userCache) put(key [sha256.Size]byte, id Identity, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	c.entries[key] = cachedUser{id: id, expires: now.Add(ttl)}
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
