package githubfake

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/google/go-github/v60/github"
)

// The fake's default app: the OAuth app (or GitHub App) `elevate login`
// signs in with. Token registers tokens issued to it.
const (
	ClientID     = "Iv1.e1e7a7efa4e00001"
	ClientSecret = "fake-client-secret-of-elevates-app"
)

// oauthApp is an app that users sign in to, whose tokens
// POST /applications/{client_id}/token checks.
type oauthApp struct {
	clientID, secret, name string
	id                     int64
}

// OAuthApp registers another app users may sign in to (an OAuth app or a
// GitHub App, by its client id), for tokens registered with AppToken.
func (f *Fake) OAuthApp(clientID, secret string) {
	f.t.Helper()
	if clientID == "" || secret == "" {
		f.t.Fatalf("githubfake: OAuthApp: need a client id and a secret")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oauthApps[clientID] = &oauthApp{clientID: clientID, secret: secret, name: "app " + clientID, id: f.id()}
}

// AppToken registers tok as a token app clientID (registered with
// OAuthApp, or ClientID) was given for user: valid for the API, as user,
// and known to that app's token check only. Token is AppToken(ClientID, …).
func (f *Fake) AppToken(clientID, tok string, user *github.User) {
	f.t.Helper()
	f.mu.Lock()
	_, ok := f.oauthApps[clientID]
	f.mu.Unlock()
	if !ok {
		f.t.Fatalf("githubfake: AppToken: no app with client id %q; register it with OAuthApp", clientID)
		return
	}
	f.register(tok, user, clientID)
}

// checkToken serves POST /applications/{client_id}/token, GitHub's "check a
// token": HTTP Basic auth with the app's client id and secret, the body
// {"access_token": "…"}; 200 with the authorization when the token is one
// the app was given, 404 when it is not, 422 without a token, 401 when the
// app's credentials are wrong.
func (f *Fake) checkToken(c *call) {
	id, secret, ok := c.r.BasicAuth()
	a := f.oauthApps[id]
	if !ok || a == nil || subtle.ConstantTimeCompare([]byte(secret), []byte(a.secret)) != 1 {
		c.error(http.StatusUnauthorized, "Bad credentials")
		return
	}
	if c.r.PathValue("client_id") != id {
		c.notFound()
		return
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if !c.decode(&body) {
		return
	}
	if body.AccessToken == "" {
		c.invalid("Authorization", "access_token", "missing_field", "")
		return
	}
	user, found := f.tokens[body.AccessToken]
	if !found || f.tokenApps[body.AccessToken] != id {
		c.notFound()
		return
	}
	sum := sha256.Sum256([]byte(body.AccessToken))
	tok := body.AccessToken
	c.json(http.StatusOK, &github.Authorization{
		ID:             github.Int64(a.id*1000 + user.GetID()%1000),
		URL:            github.String(fmt.Sprintf("%s/authorizations/%d", f.URL, a.id)),
		Scopes:         []github.Scope{github.ScopeRepo, github.ScopeReadOrg},
		Token:          github.String(tok),
		TokenLastEight: github.String(tok[max(0, len(tok)-8):]),
		HashedToken:    github.String(hex.EncodeToString(sum[:])),
		App:            &github.AuthorizationApp{ClientID: github.String(a.clientID), Name: github.String(a.name), URL: github.String("https://github.com/apps/elevate")},
		CreatedAt:      f.timestamp(),
		UpdatedAt:      f.timestamp(),
		User:           clone(user),
	})
}
