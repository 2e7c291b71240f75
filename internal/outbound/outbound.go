// Package outbound holds the rules every call elevate makes to another
// service follows, whoever makes it (the broker to GitHub and the OIDC
// issuer, the CLI to the broker and GitHub): URLs that never carry a token
// in clear over a network, and response bodies with a bound.
package outbound

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ParseURL parses raw, the URL of what (for messages, e.g. "GitHub API
// URL"): http(s) with a host, https unless the host is loopback, and no
// credentials, query or fragment. Errors never repeat a password.
func ParseURL(what, raw string) (u *url.URL, loopback bool, err error) {
	u, err = url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Error repeats the whole URL, which might carry a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, false, fmt.Errorf("parse %s: %w", what, err)
	}
	if u.User != nil {
		return nil, false, fmt.Errorf("%s %q: must not carry credentials", what, u.Redacted())
	}
	shown := u.String()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, false, fmt.Errorf("%s %q: scheme must be https", what, shown)
	case u.Host == "" || u.Hostname() == "":
		return nil, false, fmt.Errorf("%s %q: missing host", what, shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, false, fmt.Errorf("%s %q: must not have a query or fragment", what, shown)
	}
	loopback = IsLoopback(u.Hostname())
	if u.Scheme == "http" && !loopback {
		return nil, false, fmt.Errorf("%s %q: plain http is only allowed for loopback hosts; use https", what, shown)
	}
	return u, loopback, nil
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrBodyTooLarge is returned by a bounded body read past its bound.
var ErrBodyTooLarge = errors.New("response body over the limit")

// LimitBodies returns a copy of c (nil: a zero client) whose responses fail
// reads past max bytes instead of being truncated silently.
func LimitBodies(c *http.Client, max int64) *http.Client {
	out := &http.Client{}
	if c != nil {
		*out = *c
	}
	base := out.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = limitTransport{base: base, max: max}
	return out
}

type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// limitedBody fails reads past its bound.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - 1, ErrBodyTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
