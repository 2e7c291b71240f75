package githubapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
)

// App is a GitHub App installation on one repository. It reaches GitHub
// only when first used: a broker starts whatever GitHub's state, and finds
// its installation (and its bot) with the first call that needs them.
type App struct {
	Client *github.Client // acts as the installation
	lazy   *installation
}

// Token returns the installation token, minted and renewed (before it
// expires, within the hour) by ghinstallation: for git over HTTPS.
func (a *App) Token(ctx context.Context) (string, error) {
	t, err := a.lazy.get(ctx)
	if err != nil {
		return "", err
	}
	return t.Token(ctx)
}

// Bot is the login the App writes as (<slug>[bot]), the only author of the
// comments elevate reads back; "" until the installation was found.
func (a *App) Bot() string {
	if b := a.lazy.bot.Load(); b != nil {
		return *b
	}
	return ""
}

// Resolve finds the installation and the App's bot now, if not yet done.
func (a *App) Resolve(ctx context.Context) error {
	_, err := a.lazy.get(ctx)
	return err
}

// NewAppClient authenticates as the GitHub App appID's installation on
// repository fullName ("owner/name"), with the App's private key (PEM). It
// makes no call: the installation is looked up on first use, and again on
// each use until that succeeds.
func NewAppClient(apiURL string, appID int64, key []byte, fullName string, httpClient *http.Client) (*App, error) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok {
		return nil, fmt.Errorf("repository %q: want owner/name", fullName)
	}
	base, _, err := normaliseAPIURL(apiURL)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport
	if httpClient != nil && httpClient.Transport != nil {
		transport = httpClient.Transport
	}
	apps, err := ghinstallation.NewAppsTransport(transport, appID, key)
	if err != nil {
		return nil, fmt.Errorf("GitHub App %d: %w", appID, err)
	}
	apps.BaseURL = strings.TrimSuffix(base.String(), "/")
	asApp, err := NewClient(apiURL, "", withTransport(httpClient, apps))
	if err != nil {
		return nil, err
	}
	lazy := &installation{apps: apps, asApp: asApp, appID: appID, owner: owner, name: name, sem: make(chan struct{}, 1)}
	gh, err := NewClient(apiURL, "", withTransport(httpClient, lazy))
	if err != nil {
		return nil, err
	}
	return &App{Client: gh, lazy: lazy}, nil
}

// installation is a RoundTripper acting as the App's installation, found
// on first use. A failed look-up is returned to the caller (wrapped in
// *url.Error, so a rate limit still reads as one), and to every caller
// until GitHub's wait (or lookUpBackoff) has passed.
type installation struct {
	apps        *ghinstallation.AppsTransport
	asApp       *github.Client
	appID       int64
	owner, name string
	sem         chan struct{} // one look-up at a time; waiting for it ends with the caller's context
	found       *ghinstallation.Transport
	bot         atomic.Pointer[string]
	failed      error     // the last look-up's error, answered again until retryAt
	retryAt     time.Time // no look-up before then: GitHub's wait, or lookUpBackoff
}

// lookUpBackoff is the least wait after a failed look-up: every call the
// broker makes goes through it, and GitHub failing must not be asked again
// for each of them.
const lookUpBackoff = 2 * time.Second

func (l *installation) RoundTrip(req *http.Request) (*http.Response, error) {
	t, err := l.get(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.RoundTrip(req)
}

func (l *installation) get(ctx context.Context) (*ghinstallation.Transport, error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("find the installation of GitHub App %d: %w", l.appID, ctx.Err())
	}
	defer func() { <-l.sem }()
	if l.found != nil {
		return l.found, nil
	}
	if time.Now().Before(l.retryAt) {
		return nil, l.failed
	}
	t, err := l.lookUp(ctx)
	if err != nil {
		wait, _ := RateLimited(err, time.Now())
		l.failed, l.retryAt = err, time.Now().Add(max(wait, lookUpBackoff))
		return nil, err
	}
	l.found = t
	return t, nil
}

// lookUp finds the installation on the repository and the App's bot.
func (l *installation) lookUp(ctx context.Context) (*ghinstallation.Transport, error) {
	full := l.owner + "/" + l.name
	inst, _, err := l.asApp.Apps.FindRepositoryInstallation(ctx, l.owner, l.name)
	if err != nil {
		return nil, wrap(err, "find the installation of GitHub App %d on %s", l.appID, full)
	}
	self, _, err := l.asApp.Apps.Get(ctx, "")
	if err != nil {
		return nil, wrap(err, "read GitHub App %d", l.appID)
	}
	if self.GetSlug() == "" {
		return nil, fmt.Errorf("GitHub App %d has no slug", l.appID)
	}
	t := ghinstallation.NewFromAppsTransport(l.apps, inst.GetID())
	t.BaseURL = l.apps.BaseURL
	bot := self.GetSlug() + "[bot]"
	l.bot.Store(&bot)
	return t, nil
}

func withTransport(hc *http.Client, rt http.RoundTripper) *http.Client {
	out := &http.Client{Timeout: defaultTimeout}
	if hc != nil {
		*out = *hc
	}
	out.Transport = rt
	return out
}
