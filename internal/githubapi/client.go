package githubapi

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/fileerr"
	"github.com/elevate-gitops/elevate/internal/outbound"
)

// ErrNotFound is returned (wrapped) when GitHub answers 404. It matches
// fs.ErrNotExist, so readers of files need not know this package.
var ErrNotFound = fmt.Errorf("not found on GitHub: %w", fs.ErrNotExist)

// ErrTooLarge and ErrNotRegular are the shared file errors (package fileerr).
var (
	ErrTooLarge   = fileerr.ErrTooLarge
	ErrNotRegular = fileerr.ErrNotRegular
)

// DefaultAPIURL is the REST API of github.com.
const DefaultAPIURL = "https://api.github.com/"

// defaultTimeout bounds every call when the caller supplies no http.Client.
const defaultTimeout = 30 * time.Second

// userAgent identifies elevate to GitHub.
const userAgent = "elevate"

// NewClient builds a go-github client.
//
// apiURL may be "" (https://api.github.com/), "https://api.github.com", a
// GitHub Enterprise Server URL with or without "/api/v3" (for example
// https://ghe.example.com or https://ghe.example.com/api/v3/), or a loopback
// URL such as an httptest server (http://127.0.0.1:port).
//
// api.github.com, hosts that go-github recognises as API hosts ("api." prefix,
// as on GitHub Enterprise Cloud with data residency) and loopback hosts
// (127.0.0.0/8, ::1, localhost) are used as given with a trailing slash; any
// other host gets go-github's WithEnterpriseURLs treatment, which appends
// "/api/v3/" when it is missing. Plain http is accepted only for loopback
// hosts, so a token is never sent in clear over the network.
//
// httpClient may be nil, in which case a client with a 30 s timeout is used;
// it is copied, not modified. Redirects to another host are refused (unless
// httpClient sets its own CheckRedirect), because go-github would send the
// token along. token may be "" for unauthenticated calls.
func NewClient(apiURL, token string, httpClient *http.Client) (*github.Client, error) {
	base, upload, err := normaliseAPIURL(apiURL)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: defaultTimeout}
	if httpClient != nil {
		hc = new(http.Client)
		*hc = *httpClient
	}
	if hc.CheckRedirect == nil {
		// go-github sets the token on every request its transport sends,
		// redirects included: never follow one to another host.
		hc.CheckRedirect = sameHostRedirects
	}
	gh := github.NewClient(hc)
	gh.UserAgent = userAgent
	if token != "" {
		gh = gh.WithAuthToken(token)
	}
	gh.BaseURL = base
	gh.UploadURL = upload
	return gh, nil
}

// ParseAPIURL parses and checks a GitHub API URL ("" is api.github.com)
// with outbound.ParseURL's rules: https unless loopback, no credentials,
// query or fragment.
func ParseAPIURL(apiURL string) (u *url.URL, loopback bool, err error) {
	if strings.TrimSpace(apiURL) == "" {
		apiURL = DefaultAPIURL
	}
	return outbound.ParseURL("GitHub API URL", apiURL)
}

// normaliseAPIURL returns the REST base URL and upload URL for apiURL.
func normaliseAPIURL(apiURL string) (base, upload *url.URL, err error) {
	u, loopback, err := ParseAPIURL(apiURL)
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""

	host := strings.ToLower(u.Hostname())
	if loopback || host == "api.github.com" || strings.HasPrefix(host, "api.") || strings.Contains(host, ".api.") {
		if host == "api.github.com" {
			up, _ := url.Parse("https://uploads.github.com/")
			return u, up, nil
		}
		up := *u
		return u, &up, nil
	}
	// GitHub Enterprise Server: go-github's own rules, with the upload URL
	// derived from the host rather than from the API path.
	up := url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/api/uploads/"}
	c, err := github.NewClient(nil).WithEnterpriseURLs(u.String(), up.String())
	if err != nil {
		return nil, nil, fmt.Errorf("GitHub Enterprise URL %q: %w", apiURL, err)
	}
	return c.BaseURL, c.UploadURL, nil
}

// sameHostRedirects follows at most 10 redirects, all on the first
// request's scheme and host.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if first := via[0].URL; req.URL.Host != first.Host || req.URL.Scheme != first.Scheme {
		return fmt.Errorf("refusing redirect from %s to another host %s", first.Host, req.URL.Host)
	}
	return nil
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool { return outbound.IsLoopback(host) }

// isNotFound reports whether err is GitHub's answer 404.
func isNotFound(err error) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotFound
}

// wrap adds lowercase context to err; a 404 also matches ErrNotFound.
func wrap(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if isNotFound(err) {
		return fmt.Errorf("%s: %w: %w", msg, ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}
