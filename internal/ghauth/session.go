package ghauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cli/oauth/api"

	"github.com/elevate-gitops/elevate/internal/githubapi"
)

// refreshGrant is the grant_type of a renewal (RFC 6749 section 6).
const refreshGrant = "refresh_token"

// Session is the login `elevate login` stored for the GitHub host in use:
// the one token the broker accepts. It never prompts: a login that is
// missing, or expired past renewal, is a *LoginError that says to run
// `elevate login`.
type Session struct {
	// Store holds the login; nil means none.
	Store *Store
	// APIURL is the GitHub REST API (GITHUB_API_URL; "" is github.com):
	// its host names the login, and its web host renews it.
	APIURL string
	// HTTPClient carries the renewal; nil means a client with a 30 s
	// timeout. It is copied, not modified; redirects are never followed.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Token returns the stored login, renewed first when it is expired or
// expires within five minutes and GitHub gave a refresh token with it.
//
// A renewal asks WebHost(APIURL)/login/oauth/access_token with the refresh
// grant, the app's client id and no client secret (GitHub asks for none
// when the token came from the device flow, as DeviceLogin's do; the CLI
// has none), and stores the new token and refresh token before it returns. GitHub spends a refresh
// token on first use, so renewals take a lock beside the token file and
// read the file again under it: of several processes started at once,
// one renews and the others use what it stored.
//
// A refusal by GitHub (a refresh token expired, revoked or spent) is a
// *LoginError with Expired set; a network failure or a server error is an
// error of its own, since trying again may work.
func (s *Session) Token(ctx context.Context) (Token, error) {
	host, err := HostFor(s.APIURL)
	if err != nil {
		return Token{}, fmt.Errorf("find the elevate login: %w", err)
	}
	t, err := s.usable(host)
	if err != nil || !t.needsRenewal(s.now()) {
		return t, err
	}
	unlock, err := s.Store.lock(ctx)
	if err != nil {
		return Token{}, err
	}
	defer unlock()
	// Another process may have renewed it while this one waited.
	if t, err = s.usable(host); err != nil || !t.needsRenewal(s.now()) {
		return t, err
	}
	renewed, err := s.renew(ctx, host, t)
	if err != nil {
		return Token{}, err
	}
	if err := s.Store.Save(host, renewed); err != nil {
		// GitHub has spent the old refresh token: without the new one, the
		// next renewal is refused.
		return Token{}, fmt.Errorf("renewed your `elevate login` for %s but could not store it (%w): run `elevate login` again", host, err)
	}
	return renewed, nil
}

// usable loads host's login and refuses one that needs renewal but cannot
// have it.
func (s *Session) usable(host string) (Token, error) {
	t, err := s.Store.Load(host)
	if errors.Is(err, ErrNoToken) {
		return Token{}, &LoginError{Host: host}
	}
	if err != nil {
		return Token{}, err
	}
	if now := s.now(); t.needsRenewal(now) && !t.renewable(now) {
		return Token{}, &LoginError{Host: host, Expired: true}
	}
	return t, nil
}

// renew spends t's refresh token for a new token of the same app and user.
func (s *Session) renew(ctx context.Context, host string, t Token) (Token, error) {
	web, err := githubapi.WebHost(s.APIURL)
	if err != nil {
		return Token{}, fmt.Errorf("renew your `elevate login` for %s: %w", host, err)
	}
	poster := &formPoster{ctx: ctx, hc: oauthClient(s.HTTPClient)}
	answer, err := api.PostForm(poster, web.JoinPath("login", "oauth", "access_token").String(), url.Values{
		"client_id":     {t.ClientID},
		"grant_type":    {refreshGrant},
		"refresh_token": {t.Refresh},
	})
	if err != nil {
		return Token{}, fmt.Errorf("renew your `elevate login` for %s: %w", host, err)
	}
	renewed, err := tokenFrom(answer, t.ClientID, s.now())
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Code != "":
		// GitHub answered, and said no (bad_refresh_token, …).
		return Token{}, &LoginError{Host: host, Expired: true}
	case errors.As(err, &ae):
		return Token{}, fmt.Errorf("renew your `elevate login` for %s: GitHub answered %s; try again", host, ae)
	case err != nil:
		return Token{}, fmt.Errorf("renew your `elevate login` for %s: GitHub %w", host, err)
	}
	renewed.UserID = t.UserID
	return renewed, nil
}

func (s *Session) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
