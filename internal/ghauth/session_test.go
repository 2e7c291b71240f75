package ghauth_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/ghauth/ghauthtest"
)

const (
	oldToken   = "ghu_oldDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"
	oldRefresh = "ghr_oldEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE"
	newToken   = "ghu_newFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
	newRefresh = "ghr_newGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG"
)

// sessionNow is the clock of the session tests.
var sessionNow = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

// stored is a login of elevate's app that expires at expiry (zero: never).
func stored(expiry time.Time) ghauth.Token {
	return ghauth.Token{
		Access: oldToken, Expiry: expiry, Refresh: oldRefresh, RefreshExpiry: sessionNow.Add(90 * 24 * time.Hour),
		ClientID: fakeClientID, UserID: 583231,
	}
}

// renewed is what the fake's grant of oldRefresh renews into, received at sessionNow.
var renewed = ghauth.Token{
	Access: newToken, Expiry: sessionNow.Add(ghauthtest.TokenLifetime * time.Second),
	Refresh: newRefresh, RefreshExpiry: sessionNow.Add(ghauthtest.RefreshLifetime * time.Second),
	ClientID: fakeClientID, UserID: 583231,
}

// noLoginSecrets fails the test if err shows a token of the session tests.
func noLoginSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{oldToken, oldRefresh, newToken, newRefresh} {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows a secret", err)
		}
	}
}

func TestSessionToken(t *testing.T) {
	t.Parallel()
	expired := stored(sessionNow.Add(-time.Hour))
	tests := []struct {
		name    string
		login   *ghauth.Token // nil: nothing stored
		apiPath string        // appended to the fake's URL for GITHUB_API_URL
		grant   *ghauthtest.Grant
		broken  int // the token endpoint answers this status
		want    ghauth.Token
		// wantStored is the file's login afterwards; zero means want.
		wantStored ghauth.Token
		wantLogin  *ghauth.LoginError // the error, when it is a *LoginError
		wantErr    string             // the error otherwise
		renewals   int
	}{
		{name: "nothing stored", wantLogin: &ghauth.LoginError{}},
		{
			name:  "a token that does not expire is used as it is",
			login: &ghauth.Token{Access: oldToken}, want: ghauth.Token{Access: oldToken},
		},
		{name: "an hour left: used as it is", login: ptr(stored(sessionNow.Add(time.Hour))), want: stored(sessionNow.Add(time.Hour))},
		{
			name: "four minutes left: renewed first", login: ptr(stored(sessionNow.Add(4 * time.Minute))),
			grant: fullGrant(), want: renewed, renewals: 1,
		},
		{name: "expired: renewed", login: ptr(expired), grant: fullGrant(), want: renewed, renewals: 1},
		{
			name: "expired on GitHub Enterprise: renewed on the web host", login: ptr(expired), apiPath: "/api/v3",
			grant: fullGrant(), want: renewed, renewals: 1,
		},
		{
			name: "renewed into a token that does not expire", login: ptr(expired),
			grant: &ghauthtest.Grant{Access: newToken}, want: ghauth.Token{Access: newToken, ClientID: fakeClientID, UserID: 583231}, renewals: 1,
		},
		{
			name: "expired without a refresh token", login: &ghauth.Token{Access: oldToken, Expiry: sessionNow.Add(-time.Minute), ClientID: fakeClientID},
			wantLogin: &ghauth.LoginError{Expired: true},
		},
		{
			name: "expired, and so is its refresh token", login: ptr(withRefreshExpiry(expired, sessionNow.Add(-time.Second))),
			grant: fullGrant(), wantLogin: &ghauth.LoginError{Expired: true},
		},
		{
			name: "expired, app unknown (a file from before the client id was kept)", login: ptr(withClientID(expired, "")),
			grant: fullGrant(), wantLogin: &ghauth.LoginError{Expired: true},
		},
		{name: "GitHub refuses the refresh token", login: ptr(expired), wantLogin: &ghauth.LoginError{Expired: true}},
		{
			name: "GitHub does not know the app", login: ptr(withClientID(expired, "Iv1.another")),
			grant: fullGrant(), wantLogin: &ghauth.LoginError{Expired: true},
		},
		{
			name: "GitHub in trouble: try again, the login is kept", login: ptr(expired), grant: fullGrant(), broken: http.StatusBadGateway,
			wantErr: "answered HTTP 502; try again",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := ghauthtest.New(t, fakeClientID, nil)
			if tt.grant != nil {
				gh.Grant(oldRefresh, *tt.grant)
			}
			gh.Break(tt.broken)
			host, err := ghauth.HostFor(gh.URL)
			if err != nil {
				t.Fatal(err)
			}
			store := newStore(t)
			if tt.login != nil {
				if err := store.Save(host, *tt.login); err != nil {
					t.Fatal(err)
				}
			}
			s := &ghauth.Session{Store: store, APIURL: gh.URL + tt.apiPath, HTTPClient: gh.Client(), Now: func() time.Time { return sessionNow }}
			got, err := s.Token(t.Context())
			noLoginSecrets(t, err)
			var le *ghauth.LoginError
			switch {
			case tt.wantLogin != nil:
				want := *tt.wantLogin
				want.Host = host
				if !errors.As(err, &le) || *le != want {
					t.Fatalf("Token: %v, %v; want %#v", got, err, want)
				}
				for _, s := range []string{"elevate login", host} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%q does not say %q", err, s)
					}
				}
			case tt.wantErr != "":
				if err == nil || errors.As(err, &le) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Token: %v, %v; want an error saying %q", got, err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Token (-want +got):\n%s", diff)
				}
			}
			if err != nil && got != (ghauth.Token{}) {
				t.Errorf("Token returned %v with an error", got)
			}
			if n := gh.Renewals(); n != tt.renewals {
				t.Errorf("%d renewals, want %d", n, tt.renewals)
			}
			// What is stored: the renewed login, or the one there was.
			wantStored := tt.wantStored
			switch {
			case wantStored != (ghauth.Token{}):
			case tt.renewals > 0:
				wantStored = tt.want
			case tt.login != nil:
				wantStored = *tt.login
			}
			after, _ := store.Load(host)
			if diff := cmp.Diff(wantStored, after); diff != "" {
				t.Errorf("stored afterwards (-want +got):\n%s", diff)
			}
		})
	}
}

// expiredLogin is a login that expired a minute ago, stored for the host of
// gh, which renews it with fullGrant.
func expiredLogin(t *testing.T) (*ghauthtest.OAuth, *ghauth.Store) {
	t.Helper()
	gh := ghauthtest.New(t, fakeClientID, nil)
	gh.Grant(oldRefresh, *fullGrant())
	host, _ := ghauth.HostFor(gh.URL)
	store := newStore(t)
	if err := store.Save(host, stored(sessionNow.Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	return gh, store
}

// session is the login in store, renewed through gh, at sessionNow.
func session(gh *ghauthtest.OAuth, store *ghauth.Store) *ghauth.Session {
	return &ghauth.Session{Store: store, APIURL: gh.URL, HTTPClient: gh.Client(), Now: func() time.Time { return sessionNow }}
}

func fullGrant() *ghauthtest.Grant {
	return &ghauthtest.Grant{Access: newToken, Refresh: newRefresh, ExpiresIn: ghauthtest.TokenLifetime, RefreshExpiresIn: ghauthtest.RefreshLifetime}
}

func ptr[T any](v T) *T { return &v }

func withRefreshExpiry(t ghauth.Token, at time.Time) ghauth.Token { t.RefreshExpiry = at; return t }
func withClientID(t ghauth.Token, id string) ghauth.Token         { t.ClientID = id; return t }

// The AWS CLI may start several credential processes at once: one renews
// the login, the others wait and use what it stored. Without the lock, all
// but one would spend a refresh token GitHub has already spent, and fail.
func TestSessionRenewsOnceForConcurrentCallers(t *testing.T) {
	t.Parallel()
	skipWithoutModes(t) // flock
	gh, store := expiredLogin(t)
	const callers = 8
	var wg sync.WaitGroup
	got := make([]ghauth.Token, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			// Each caller its own Session, as each process has.
			got[i], errs[i] = session(gh, &ghauth.Store{Path: store.Path}).Token(t.Context())
		})
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || got[i].Access != newToken {
			t.Errorf("caller %d: %v, %v; want the renewed token", i, got[i], errs[i])
		}
	}
	if n := gh.Renewals(); n != 1 {
		t.Errorf("%d renewals, want 1", n)
	}
}

// The renewal speaks GitHub's wire format: a form with the refresh grant,
// the app's client id and no client secret, JSON asked for.
func TestSessionRenewalRequest(t *testing.T) {
	t.Parallel()
	gh, store := expiredLogin(t)
	if _, err := session(gh, store).Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	form, head := gh.Last()
	want := url.Values{"client_id": {fakeClientID}, "grant_type": {"refresh_token"}, "refresh_token": {oldRefresh}}
	if diff := cmp.Diff(want, form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	if a, ct := head.Get("Accept"), head.Get("Content-Type"); a != "application/json" || ct != "application/x-www-form-urlencoded" {
		t.Errorf("Accept %q, Content-Type %q", a, ct)
	}
}
