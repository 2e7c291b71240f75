package githubapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// RateLimited reports whether err is GitHub saying it is rate-limiting —
// the primary limit (403 or 429 with X-RateLimit-Remaining 0), a secondary
// limit (403 or 429 naming it, or with Retry-After), or any 429 — and how
// long it asked to wait (0 when it did not say): X-RateLimit-Reset, or
// Retry-After.
func RateLimited(err error, now time.Time) (wait time.Duration, limited bool) {
	var rl *github.RateLimitError
	var arl *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &rl):
		return max(0, rl.Rate.Reset.Sub(now)), true
	case errors.As(err, &arl):
		return max(0, arl.GetRetryAfter()), true
	case errors.As(err, &er) && er.Response != nil:
		r := er.Response
		limited := r.StatusCode == http.StatusTooManyRequests ||
			r.StatusCode == http.StatusForbidden && (r.Header.Get("Retry-After") != "" || r.Header.Get("X-Ratelimit-Remaining") == "0" ||
				strings.Contains(strings.ToLower(er.Message), "rate limit"))
		if !limited {
			return 0, false
		}
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err == nil && s > 0 {
			return time.Duration(s) * time.Second, true
		}
		if s, err := strconv.ParseInt(r.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil && s > 0 {
			return max(0, time.Unix(s, 0).Sub(now)), true
		}
		return 0, true
	}
	return 0, false
}
