package githubapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
)

// App is a GitHub App installation on one repository.
type App struct {
	Client *github.Client // acts as the installation
	// Token returns the installation token, minted and renewed (before it
	// expires, within the hour) by ghinstallation: for git over HTTPS.
	Token func(ctx context.Context) (string, error)
	// Bot is the login the App writes as (<slug>[bot]): the only author of
	// the comments elevate reads back.
	Bot string
}

// NewAppClient authenticates as the GitHub App appID's installation on
// repository fullName ("owner/name"), with the App's private key (PEM).
func NewAppClient(ctx context.Context, apiURL string, appID int64, key []byte, fullName string, httpClient *http.Client) (*App, error) {
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
	inst, _, err := asApp.Apps.FindRepositoryInstallation(ctx, owner, name)
	if err != nil {
		return nil, wrap(err, "find the installation of GitHub App %d on %s", appID, fullName)
	}
	self, _, err := asApp.Apps.Get(ctx, "")
	if err != nil {
		return nil, wrap(err, "read GitHub App %d", appID)
	}
	if self.GetSlug() == "" {
		return nil, fmt.Errorf("GitHub App %d has no slug", appID)
	}
	installation := ghinstallation.NewFromAppsTransport(apps, inst.GetID())
	installation.BaseURL = apps.BaseURL
	gh, err := NewClient(apiURL, "", withTransport(httpClient, installation))
	if err != nil {
		return nil, err
	}
	return &App{Client: gh, Token: installation.Token, Bot: self.GetSlug() + "[bot]"}, nil
}

func withTransport(hc *http.Client, rt http.RoundTripper) *http.Client {
	out := &http.Client{Timeout: defaultTimeout}
	if hc != nil {
		*out = *hc
	}
	out.Transport = rt
	return out
}
