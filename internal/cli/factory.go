package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/credcache"
	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/outbound"
)

// IOStreams: data to Out, progress and prompts to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Factory gives commands their dependencies.
type Factory struct {
	IO      IOStreams
	Getenv  func(string) string
	Now     func() time.Time
	HTTP    *http.Client
	WorkDir string // where the local checkout is looked for
	// Cache returns the credential cache; TokenStore the stored login.
	Cache      func() (*credcache.Cache, error)
	TokenStore func() (*ghauth.Store, error)
	// Browser opens a URL.
	Browser func(url string) error
}

// NewFactory is the Factory of the real program.
func NewFactory(io IOStreams, getenv func(string) string, workDir string) *Factory {
	return &Factory{
		IO: io, Getenv: getenv, Now: time.Now, WorkDir: workDir,
		HTTP:       &http.Client{Timeout: 30 * time.Second},
		Cache:      credcache.Default,
		TokenStore: ghauth.DefaultStore,
		Browser:    openBrowser,
	}
}

func openBrowser(url string) error {
	for _, name := range []string{"xdg-open", "open", "wslview"} {
		if path, err := exec.LookPath(name); err == nil {
			return exec.Command(path, url).Start()
		}
	}
	return errors.New("no browser opener found (xdg-open, open): copy the URL instead")
}

// login is the stored `elevate login` of the GitHub host in use, renewed
// through GitHub when it expires: the only token the broker accepts.
func (f *Factory) login() *ghauth.Session {
	var store *ghauth.Store
	if f.TokenStore != nil {
		if s, err := f.TokenStore(); err == nil {
			store = s
		}
	}
	return &ghauth.Session{Store: store, APIURL: f.APIURL(), HTTPClient: f.githubHTTP(), Now: f.Now}
}

// githubToken is the token of the CLI's own GitHub calls: GH_TOKEN,
// GITHUB_TOKEN, then `elevate login`.
func (f *Factory) githubToken(ctx context.Context) (string, error) {
	token, _, err := ghauth.GitHubToken(ctx, f.Getenv, f.login())
	return token, err
}

// githubHTTP is the HTTP client of calls to GitHub.
func (f *Factory) githubHTTP() *http.Client {
	return withNetworkErrors(f.HTTP, "GitHub", "GITHUB_API_URL")
}

// APIURL is GITHUB_API_URL or github.com's.
func (f *Factory) APIURL() string { return f.Getenv("GITHUB_API_URL") }

// ErrNoBroker says ELEVATE_BROKER_URL is not set.
var ErrNoBroker = errors.New("ELEVATE_BROKER_URL is not set: export ELEVATE_BROKER_URL=https://elevate.example.com (ask your platform team)")

// BrokerURL is ELEVATE_BROKER_URL.
func (f *Factory) BrokerURL() (string, error) {
	u := strings.TrimSuffix(f.Getenv("ELEVATE_BROKER_URL"), "/")
	if u == "" {
		return "", ErrNoBroker
	}
	// The login token goes in every request: never in clear over a network.
	if _, _, err := outbound.ParseURL("ELEVATE_BROKER_URL", u); err != nil {
		return "", fmt.Errorf("%w (your GitHub login token is sent with every call; plain http only to this machine)", err)
	}
	return u, nil
}

// Repo is the access repository on GitHub: ELEVATE_REPO, or the checkout's origin.
func (f *Factory) Repo(ctx context.Context) (*githubapi.Repo, error) {
	name := f.Getenv("ELEVATE_REPO")
	if name == "" {
		var err error
		if name, err = f.guessRepo(ctx); err != nil {
			return nil, err
		}
	}
	token, err := f.githubToken(ctx)
	if err != nil {
		return nil, err
	}
	gh, err := githubapi.NewClient(f.APIURL(), token, f.githubHTTP())
	if err != nil {
		return nil, err
	}
	return githubapi.NewRepo(gh, name)
}

// guessRepo is owner/name of the checkout's origin remote, when that remote
// is on the GitHub host in use (GITHUB_API_URL's web host): a remote on any
// other host names another repository, never the access repository.
func (f *Factory) guessRepo(ctx context.Context) (string, error) {
	web, err := githubapi.WebHost(f.APIURL())
	if err != nil {
		return "", err
	}
	remote := originRemote(ctx, f.WorkDir)
	if remote == "" {
		return "", errors.New("which access repository? set ELEVATE_REPO=owner/name, or run elevate inside its checkout")
	}
	if name := ownerName(remote, web.Hostname()); name != "" {
		return name, nil
	}
	where := "is a local path"
	if host, _, ok := remoteHostPath(remote); ok {
		where = "is on " + host
	}
	return "", fmt.Errorf("the origin remote of this checkout %s, not a repository on %s (the GitHub host in use): set ELEVATE_REPO=owner/name, or GITHUB_API_URL if the access repository is on GitHub Enterprise", where, web.Hostname())
}

// originRemote is the URL of the origin remote of the checkout at dir.
func originRemote(ctx context.Context, dir string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "remote", "get-url", "origin").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

var remotePathRE = regexp.MustCompile(`^/?([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+?)(?:\.git)?/?$`)

// ownerName is owner/name of a remote URL on host, or "" for a remote on
// another host, a local path, or a path that is not owner/name.
func ownerName(remote, host string) string {
	h, path, ok := remoteHostPath(remote)
	if !ok || !strings.EqualFold(h, host) {
		return ""
	}
	m := remotePathRE.FindStringSubmatch(path)
	if m == nil {
		return ""
	}
	return m[1] + "/" + m[2]
}

// remoteHostPath splits a git remote into its host name (no user, no port)
// and path: scheme://[user@]host[:port]/path or scp-like [user@]host:path.
func remoteHostPath(remote string) (host, path string, ok bool) {
	if strings.Contains(remote, "://") {
		u, err := url.Parse(remote)
		if err != nil || u.Hostname() == "" {
			return "", "", false
		}
		return u.Hostname(), u.Path, true
	}
	colon := strings.Index(remote, ":")
	if colon <= 0 || strings.Contains(remote[:colon], "/") {
		return "", "", false // a local path
	}
	host = remote[:colon]
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = host[at+1:]
	}
	return host, remote[colon+1:], host != ""
}

// checkout returns the top of the local git checkout.
func (f *Factory) checkout(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", f.WorkDir, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", errors.New("not inside a checkout of the access repository: cd into it (or clone it) first")
	}
	return strings.TrimSpace(string(out)), nil
}
