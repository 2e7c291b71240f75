package githubfake

import (
	"crypto/rsa"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-github/v60/github"
)

// app is a GitHub App installed on the fake's repository.
type app struct {
	id             int64
	key            *rsa.PublicKey
	installationID int64
	token          string
	bot            *github.User
	installed      map[string]bool // other repositories of the installation, by lower-case full name
}

// Install adds another repository (OtherRepository) to the App's
// installation: its token sees only the repository and those.
func (f *Fake) Install(fullName string) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.app == nil {
		f.t.Fatalf("githubfake: Install(%q) before App", fullName)
		return
	}
	f.app.installed[strings.ToLower(fullName)] = true
}

// seenByInstallation reports whether the caller may see the other
// repository fullName: any caller but the App's installation, which sees
// those it was installed on.
func (f *Fake) seenByInstallation(r *http.Request, fullName string) bool {
	return f.app == nil || bearer(r.Header.Get("Authorization")) != f.app.token || f.app.installed[strings.ToLower(fullName)]
}

// App installs a GitHub App on the repository: its JWTs must be RS256-signed
// by key with iss = id; its installation token is token, acting as bot.
func (f *Fake) App(id int64, key *rsa.PublicKey, installationID int64, token string, bot *github.User) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.app = &app{id: id, key: key, installationID: installationID, token: token, bot: bot, installed: map[string]bool{}}
}

// authenticateApp verifies "Authorization: Bearer <JWT>" as GitHub does for Apps.
func (f *Fake) authenticateApp(r *http.Request) bool {
	if f.app == nil {
		return false
	}
	tok, err := jwt.ParseSigned(bearer(r.Header.Get("Authorization")), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return false
	}
	var claims jwt.Claims
	if err := tok.Claims(f.app.key, &claims); err != nil {
		return false
	}
	if claims.Issuer != strconv.FormatInt(f.app.id, 10) {
		return false
	}
	// GitHub accepts App JWTs valid for at most 10 minutes.
	return claims.ValidateWithLeeway(jwt.Expected{Time: time.Now()}, time.Minute) == nil &&
		claims.Expiry != nil && claims.IssuedAt != nil && claims.Expiry.Time().Sub(claims.IssuedAt.Time()) <= 11*time.Minute
}

// getApp serves GET /app: the App the JWT is for, its slug its bot's
// login without [bot].
func (f *Fake) getApp(c *call) {
	c.json(http.StatusOK, &github.App{ID: github.Int64(f.app.id), Slug: github.String(strings.TrimSuffix(f.app.bot.GetLogin(), "[bot]"))})
}

func (f *Fake) getInstallation(c *call) {
	c.json(http.StatusOK, &github.Installation{ID: github.Int64(f.app.installationID), AppID: github.Int64(f.app.id)})
}

func (f *Fake) createInstallationToken(c *call) {
	id, ok := c.pathInt("installation_id")
	if !ok || id != f.app.installationID {
		c.notFound()
		return
	}
	f.tokens[f.app.token] = f.app.bot
	c.json(http.StatusCreated, &github.InstallationToken{
		Token:     github.String(f.app.token),
		ExpiresAt: &github.Timestamp{Time: time.Now().Add(time.Hour).UTC().Truncate(time.Second)},
	})
}
