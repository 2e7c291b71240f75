package githubapi

import (
	"net/url"
	"strings"
)

// WebHost returns the web root (scheme and host, no path) of the GitHub
// instance whose REST API is at apiURL, where the OAuth endpoints
// /login/device/code and /login/oauth/access_token live:
//
//   - "" and https://api.github.com give https://github.com;
//   - a GitHub Enterprise Server URL, https://ghe.example.com/api/v3 or
//     https://ghe.example.com, gives https://ghe.example.com;
//   - an "api." host of GitHub Enterprise Cloud with data residency,
//     https://api.octocorp.ghe.com, gives https://octocorp.ghe.com;
//   - a loopback URL (127.0.0.0/8, ::1, localhost), such as an httptest
//     server, gives the same scheme and host.
//
// apiURL must be https (http only for loopback hosts) and carry no
// credentials, query or fragment. The host is lower-cased.
func WebHost(apiURL string) (*url.URL, error) {
	u, loopback, err := ParseAPIURL(apiURL)
	if err != nil {
		return nil, err
	}
	host := strings.ToLower(u.Host)
	hostname := strings.ToLower(u.Hostname())
	switch {
	case loopback:
	case hostname == "api.github.com":
		host = "github.com" + strings.TrimPrefix(host, "api.github.com")
	case strings.HasPrefix(hostname, "api.") && !isGHESPath(u.Path):
		// GitHub Enterprise Cloud with data residency: api.SUB.ghe.com
		// serves the API of SUB.ghe.com.
		host = strings.TrimPrefix(host, "api.")
	}
	return &url.URL{Scheme: u.Scheme, Host: host}, nil
}

// isGHESPath reports whether p is GitHub Enterprise Server's API prefix.
func isGHESPath(p string) bool {
	return strings.TrimSuffix(p, "/") == "/api/v3"
}
