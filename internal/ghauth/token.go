package ghauth

import (
	"fmt"
	"strconv"
	"time"

	"github.com/cli/oauth/api"
)

// renewBefore is how long before its expiry a stored login is renewed: a
// token that would expire while a call is on its way is renewed first.
const renewBefore = 5 * time.Minute

// Token is what `elevate login` stores for a GitHub host: the user token
// elevate's app issued and, when GitHub gave them, its expiry and the
// refresh token that renews it. The JSON names are the token file's.
type Token struct {
	// Access is the user token (gho_… for an OAuth app, ghu_… for a
	// GitHub App).
	Access string `json:"token"`
	// Expiry is when Access stops working; zero when it does not expire.
	Expiry time.Time `json:"expires_at,omitzero"`
	// Refresh renews Access once (GitHub rotates it); "" when GitHub gave
	// none.
	Refresh string `json:"refresh_token,omitempty"`
	// RefreshExpiry is when Refresh stops working; zero when unknown.
	RefreshExpiry time.Time `json:"refresh_token_expires_at,omitzero"`
	// ClientID is the app that issued the token, which alone can renew it.
	ClientID string `json:"client_id,omitempty"`
	// UserID is the GitHub user the token acts for (0: unknown, a file
	// written before elevate recorded it).
	UserID int64 `json:"user_id,omitempty"`
}

// String never shows the secrets.
func (t Token) String() string {
	return fmt.Sprintf("ghauth.Token{user %d, expires %s, refreshable %v}", t.UserID, t.Expiry.Format(time.RFC3339), t.Refresh != "")
}

// GoString never shows the secrets either.
func (t Token) GoString() string { return t.String() }

// needsRenewal reports whether t is expired at now or expires within
// renewBefore. A token without an expiry never needs it.
func (t Token) needsRenewal(now time.Time) bool {
	return !t.Expiry.IsZero() && !now.Before(t.Expiry.Add(-renewBefore))
}

// renewable reports whether t's refresh token may still work at now.
func (t Token) renewable(now time.Time) bool {
	return t.Refresh != "" && t.ClientID != "" && (t.RefreshExpiry.IsZero() || now.Before(t.RefreshExpiry))
}

// check refuses a token that no GitHub answer holds. It never quotes a
// secret.
func (t Token) check() error {
	if err := checkToken(t.Access); err != nil {
		return err
	}
	if t.Refresh != "" {
		if err := checkToken(t.Refresh); err != nil {
			return fmt.Errorf("refresh token: %w", err)
		}
	}
	if t.ClientID != "" && !printable(t.ClientID) {
		return fmt.Errorf("client id is not printable")
	}
	return nil
}

// tokenFrom reads a token answer of GitHub's OAuth token endpoint, as
// cli/oauth parsed it (JSON numbers become strings), received at now from
// clientID's app. A missing or unreadable expires_in means no expiry.
func tokenFrom(answer *api.FormResponse, clientID string, now time.Time) (Token, error) {
	t := Token{Access: answer.Get("access_token"), Refresh: answer.Get("refresh_token"), ClientID: clientID}
	if t.Access == "" {
		return Token{}, answer.Err()
	}
	if t.check() != nil {
		return Token{}, fmt.Errorf("answered a malformed token")
	}
	t.Expiry = after(now, answer.Get("expires_in"))
	t.RefreshExpiry = after(now, answer.Get("refresh_token_expires_in"))
	return t, nil
}

// after is now plus seconds, or zero when seconds is not a positive number.
func after(now time.Time, seconds string) time.Time {
	n, err := strconv.ParseInt(seconds, 10, 64)
	if err != nil || n <= 0 || n > 10*365*24*3600 {
		return time.Time{}
	}
	return now.Add(time.Duration(n) * time.Second).UTC().Truncate(time.Second)
}

// LoginError says the stored `elevate login`, the only token the broker
// accepts, is missing or can no longer be used.
type LoginError struct {
	// Host is the GitHub host whose login was looked up.
	Host string
	// Expired is true when there was a login but it expired and could not
	// be renewed (no refresh token, or GitHub refused it).
	Expired bool
}

func (e *LoginError) Error() string {
	if e.Expired {
		return fmt.Sprintf("your `elevate login` for %s has expired and cannot be renewed: run `elevate login` again", e.Host)
	}
	return fmt.Sprintf("no `elevate login` for %s: run `elevate login` (the broker refuses GH_TOKEN, GITHUB_TOKEN and `gh auth token`)", e.Host)
}
