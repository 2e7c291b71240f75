// Package ghauthtest serves GitHub's OAuth endpoints over httptest, in
// GitHub's wire format, for tests of `elevate login` and of the renewal of
// the token it stores: the refresh grant, and a device flow that is
// approved at once.
package ghauthtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// GitHub's documented lifetimes of a GitHub App's user token and refresh
// token, in seconds.
const (
	TokenLifetime   = 28800
	RefreshLifetime = 15897600
)

// UserCode is the one-time code of the fake's device flow.
const UserCode = "WDJB-MJHT"

// deviceCode is the device code of the fake's device flow.
const deviceCode = "3584d83530557fdd1f46af8289938c8ef79f9dc5"

// Grant is what one refresh token renews into, or a device flow gives.
type Grant struct {
	// Access and Refresh are the new token and refresh token; Refresh ""
	// sends none.
	Access, Refresh string
	// ExpiresIn and RefreshExpiresIn are the lifetimes sent, in seconds;
	// 0 sends none.
	ExpiresIn, RefreshExpiresIn int
}

// OAuth answers POST /login/oauth/access_token with the refresh grant as
// GitHub does: form-encoded requests, JSON answers when the request
// accepts them (form-encoded otherwise), refusals as HTTP 200 with an
// "error" field, and a refresh token that works once. After Device, it
// also serves one device flow (POST /login/device/code, then the device
// grant), approved at once. A request that is not form-encoded, names
// another grant, or carries a client secret (the CLI has none) fails the
// test. Other requests go to the next handler, or fail the test when there
// is none.
type OAuth struct {
	// URL is the web host (and API host) to point GITHUB_API_URL at.
	URL string

	t        testing.TB
	clientID string
	srv      *httptest.Server
	next     http.Handler

	mu       sync.Mutex
	grants   map[string]Grant
	spent    map[string]bool
	renewals int
	status   int
	lastForm url.Values
	lastHead http.Header
	device   *Grant
}

// New starts an OAuth fake for the app clientID; next (may be nil) serves
// everything but the token endpoint.
func New(t testing.TB, clientID string, next http.Handler) *OAuth {
	o := &OAuth{t: t, clientID: clientID, next: next, grants: map[string]Grant{}, spent: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", o.token)
	mux.HandleFunc("POST /login/device/code", o.code)
	mux.HandleFunc("/", o.other)
	o.srv = httptest.NewServer(mux)
	t.Cleanup(o.srv.Close)
	o.URL = o.srv.URL
	return o
}

// Client is a client of the fake's server.
func (o *OAuth) Client() *http.Client { return o.srv.Client() }

// Grant makes refresh renew, once, into g.
func (o *OAuth) Grant(refresh string, g Grant) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.grants[refresh] = g
}

// Device makes the next device flow give g, approved at once.
func (o *OAuth) Device(g Grant) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.device = &g
}

// Break makes every token request answer status with an HTML page, as a
// proxy in trouble does; 0 heals.
func (o *OAuth) Break(status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.status = status
}

// Last is the form and headers of the last token request.
func (o *OAuth) Last() (url.Values, http.Header) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastForm, o.lastHead
}

// Renewals is how many renewals the fake granted.
func (o *OAuth) Renewals() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.renewals
}

func (o *OAuth) other(w http.ResponseWriter, r *http.Request) {
	if o.next == nil {
		o.t.Errorf("OAuth fake: unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
		return
	}
	o.next.ServeHTTP(w, r)
}

func (o *OAuth) token(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		o.t.Errorf("OAuth fake: Content-Type = %q, want a form", ct)
	}
	if err := r.ParseForm(); err != nil {
		o.t.Errorf("OAuth fake: %v", err)
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	form := r.PostForm
	if _, ok := form["client_secret"]; ok {
		o.t.Errorf("OAuth fake: the CLI sent a client secret")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lastForm, o.lastHead = form, r.Header.Clone()
	if o.status != 0 {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(o.status)
		fmt.Fprint(w, "<html><body>Unicorn!</body></html>")
		return
	}
	if form.Get("client_id") != o.clientID {
		answer(w, r, url.Values{
			"error":             {"incorrect_client_credentials"},
			"error_description": {"The client_id and/or client_secret passed are incorrect."},
		})
		return
	}
	switch g := form.Get("grant_type"); g {
	case "refresh_token":
	case "urn:ietf:params:oauth:grant-type:device_code":
		if o.device == nil || form.Get("device_code") != deviceCode {
			answer(w, r, url.Values{"error": {"incorrect_device_code"}})
			return
		}
		granted := *o.device
		o.device = nil
		answer(w, r, granted.values())
		return
	default:
		o.t.Errorf("OAuth fake: grant_type = %q", g)
		answer(w, r, url.Values{"error": {"unsupported_grant_type"}})
		return
	}
	refresh := form.Get("refresh_token")
	g, ok := o.grants[refresh]
	if !ok || o.spent[refresh] {
		answer(w, r, url.Values{
			"error":             {"bad_refresh_token"},
			"error_description": {"The refresh token passed is incorrect or expired."},
			"error_uri":         {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-refresh-token"},
		})
		return
	}
	o.spent[refresh] = true
	o.renewals++
	answer(w, r, g.values())
}

// values is GitHub's answer that gives g.
func (g Grant) values() url.Values {
	v := url.Values{"access_token": {g.Access}, "token_type": {"bearer"}, "scope": {""}}
	if g.Refresh != "" {
		v.Set("refresh_token", g.Refresh)
	}
	if g.ExpiresIn != 0 {
		v.Set("expires_in", strconv.Itoa(g.ExpiresIn))
	}
	if g.RefreshExpiresIn != 0 {
		v.Set("refresh_token_expires_in", strconv.Itoa(g.RefreshExpiresIn))
	}
	return v
}

// code starts the device flow: interval 0, so that the poll comes at once.
func (o *OAuth) code(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != o.clientID {
		o.t.Errorf("OAuth fake: device code request for client %q (%v)", r.PostForm.Get("client_id"), err)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	answer(w, r, url.Values{
		"device_code": {deviceCode}, "user_code": {UserCode}, "verification_uri": {"https://github.com/login/device"},
		"expires_in": {"899"}, "interval": {"0"},
	})
}

// answer writes v as GitHub does, with HTTP 200: JSON (numbers for the
// lifetimes) when the request accepts it, form-encoded otherwise.
func answer(w http.ResponseWriter, r *http.Request, v url.Values) {
	if !strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		fmt.Fprint(w, v.Encode())
		return
	}
	m := map[string]any{}
	for k := range v {
		m[k] = v.Get(k)
		if n, err := strconv.Atoi(v.Get(k)); err == nil && (strings.HasSuffix(k, "expires_in") || k == "interval") {
			m[k] = n
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(m)
}
