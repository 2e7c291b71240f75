package cli

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/ghauth/ghauthtest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

const (
	// loginClientID is elevate's app in these tests.
	loginClientID = "Iv1.0123456789abcdef"
	// The refresh tokens of Codertocat's login, and what they renew into.
	loginRefresh   = "ghr_codertocatRefreshToken1"
	renewedToken   = "ghu_codertocatRenewedToken2"
	renewedRefresh = "ghr_codertocatRefreshToken2"
)

// recorder is a reverse proxy that records, for each request it passes
// on, the path and the token of its Authorization header.
type recorder struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	seen  []string // "METHOD PATH TOKEN"
}

func newRecorder(t *testing.T, target string) *recorder {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	return &recorder{proxy: httputil.NewSingleHostReverseProxy(u)}
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	auth := req.Header.Get("Authorization")
	_, token, _ := strings.Cut(auth, " ")
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.Path+" "+token)
	r.mu.Unlock()
	r.proxy.ServeHTTP(w, req)
}

// tokens counts the requests by the token they carried.
func (r *recorder) tokens() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[string]int{}
	for _, s := range r.seen {
		n[s[strings.LastIndex(s, " ")+1:]]++
	}
	return n
}

// paths are the requests' "METHOD PATH".
func (r *recorder) paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var p []string
	for _, s := range r.seen {
		p = append(p, s[:strings.LastIndex(s, " ")])
	}
	return p
}

// routed is a world whose broker and GitHub the CLI reaches through
// recorders, with GitHub's OAuth endpoints (ghauthtest) on GitHub's host,
// and Codertocat's login, of elevate's app, stored for that host.
type routed struct {
	*world
	broker, github *recorder
	oauth          *ghauthtest.OAuth
}

func newRouted(t *testing.T) *routed {
	t.Helper()
	w := newWorld(t)
	r := &routed{world: w, broker: newRecorder(t, w.h.URL), github: newRecorder(t, w.h.GitHub.Fake.URL)}
	brokerSrv := httptest.NewServer(r.broker)
	t.Cleanup(brokerSrv.Close)
	r.oauth = ghauthtest.New(t, loginClientID, r.github)
	w.env["ELEVATE_BROKER_URL"] = brokerSrv.URL
	w.env["GITHUB_API_URL"] = r.oauth.URL
	w.login(ghauth.Token{Access: brokertest.UserToken, ClientID: loginClientID, UserID: vt.Author.GetID()})
	return r
}

// expiringLogin is Codertocat's login of elevate's app that expires at
// expiry, renewable with loginRefresh into renewedToken (which GitHub
// knows as Codertocat's).
func (r *routed) expiringLogin(expiry time.Time) {
	r.h.GitHub.Fake.Token(renewedToken, vt.Author)
	r.oauth.Grant(loginRefresh, ghauthtest.Grant{
		Access: renewedToken, Refresh: renewedRefresh,
		ExpiresIn: ghauthtest.TokenLifetime, RefreshExpiresIn: ghauthtest.RefreshLifetime,
	})
	r.login(ghauth.Token{
		Access: brokertest.UserToken, Expiry: expiry, Refresh: loginRefresh,
		RefreshExpiry: r.f.Now().Add(30 * 24 * time.Hour), ClientID: loginClientID, UserID: vt.Author.GetID(),
	})
}

// noStdin fails the test when a command reads its input: nothing may
// prompt.
type noStdin struct{ t *testing.T }

func (n noStdin) Read([]byte) (int, error) {
	n.t.Error("the command read its input: it prompted")
	return 0, io.EOF
}

// Every call to the broker carries the token `elevate login` stored, never
// GH_TOKEN or GITHUB_TOKEN, which serve the CLI's own GitHub calls only: a
// token a person gave any other app would otherwise get their credentials.
func TestBrokerGetsOnlyTheLoginToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        map[string]string // "" deletes
		args       []string
		wantGitHub string // the token GitHub's API saw ("": it was not called)
	}{
		{name: "credentials, process", args: []string{"credentials", "--account", "prod", "--role", "Admin"}},
		{name: "credentials, env", args: []string{"credentials", "--request", vt.RequestID, "--format", "env"}},
		{name: "credentials, json", args: []string{"credentials", "--account", "prod", "--role", "Admin", "--format", "json"}},
		{name: "console", args: []string{"console", "--account", "prod", "--role", "Admin"}},
		{name: "status", args: []string{"status", "--all"}, wantGitHub: personalToken},
		{name: "extend, by a suffix", args: []string{"extend", "codertocat-admin-inc1", "--duration", "1h"}, wantGitHub: personalToken},
		{name: "revoke, by a suffix", args: []string{"revoke", "codertocat-admin-inc1", "--reason", "done"}, wantGitHub: personalToken},
		{
			name: "status with GITHUB_TOKEN", env: map[string]string{"GH_TOKEN": "", "GITHUB_TOKEN": personalToken},
			args: []string{"status"}, wantGitHub: personalToken,
		},
		{
			name: "status with neither: GitHub gets the login too", env: map[string]string{"GH_TOKEN": ""},
			args: []string{"status"}, wantGitHub: brokertest.UserToken,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRouted(t)
			onMain(r.world)
			for k, v := range tt.env {
				if v == "" {
					delete(r.env, k)
				} else {
					r.env[k] = v
				}
			}
			if code := r.run(tt.args...); code != 0 {
				t.Fatalf("exit %d: %s", code, r.err)
			}
			if got := r.broker.tokens(); !cmp.Equal(slices.Sorted(maps.Keys(got)), []string{brokertest.UserToken}) {
				t.Errorf("the broker got the tokens %v, want only the login's", got)
			}
			gh := r.github.tokens()
			if tt.wantGitHub == "" && len(gh) > 0 || tt.wantGitHub != "" && !cmp.Equal(slices.Sorted(maps.Keys(gh)), []string{tt.wantGitHub}) {
				t.Errorf("GitHub's API got the tokens %v, want only %q", gh, tt.wantGitHub)
			}
		})
	}
}

// credential_process runs with no one at the keyboard: an expired login is
// renewed through GitHub without a prompt, and the renewed one is stored
// and used from then on.
func TestCredentialProcessRenewsTheLoginWithoutPrompting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		left      time.Duration // until the stored login expires
		wantToken string        // what the broker gets
		renewals  int
	}{
		{name: "expired an hour ago", left: -time.Hour, wantToken: renewedToken, renewals: 1},
		{name: "expires in two minutes", left: 2 * time.Minute, wantToken: renewedToken, renewals: 1},
		{name: "valid for hours: used as it is", left: 7 * time.Hour, wantToken: brokertest.UserToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRouted(t)
			r.f.IO.In = noStdin{t}
			r.expiringLogin(r.f.Now().Add(tt.left))
			for _, run := range []string{"first", "second"} {
				code := r.run("credentials", "--account", "prod", "--role", "Admin", "--format", "process", "--no-cache")
				var out struct{ Version int }
				if code != 0 || json.Unmarshal(r.out.Bytes(), &out) != nil || out.Version != 1 {
					t.Fatalf("%s run: exit %d, stdout %q, stderr %q", run, code, r.out, r.err)
				}
				if r.err.Len() != 0 {
					t.Errorf("%s run wrote to stderr (a prompt?): %q", run, r.err)
				}
			}
			if got := r.broker.tokens(); !cmp.Equal(got, map[string]int{tt.wantToken: 2}) {
				t.Errorf("the broker got %v, want %s twice", got, tt.wantToken)
			}
			if n := r.oauth.Renewals(); n != tt.renewals {
				t.Errorf("%d renewals, want %d (the second run uses what the first stored)", n, tt.renewals)
			}
			for _, p := range r.github.paths() {
				t.Errorf("GitHub's API was called (%s): a renewal needs only the OAuth endpoint", p)
			}
			host, _ := ghauth.HostFor(r.env["GITHUB_API_URL"])
			stored, err := r.store.Load(host)
			if err != nil || stored.Access != tt.wantToken || stored.ClientID != loginClientID || stored.UserID != vt.Author.GetID() {
				t.Errorf("stored afterwards: %v, %v; want %s of Codertocat and elevate's app", stored, err, tt.wantToken)
			}
			if tt.renewals > 0 && (stored.Refresh != renewedRefresh || !stored.Expiry.Equal(r.f.Now().Add(8*time.Hour).UTC().Truncate(time.Second))) {
				t.Errorf("the renewal stored refresh token %v and expiry %v; want the new ones", stored.Refresh == renewedRefresh, stored.Expiry)
			}
		})
	}
}

// Without a usable login, every broker command fails at once with one
// line that says to run `elevate login` (and that GH_TOKEN will not do),
// credential_process included: it never prompts.
func TestBrokerCommandsWithoutAUsableLogin(t *testing.T) {
	t.Parallel()
	r := newRouted(t)
	r.f.IO.In = noStdin{t}
	relogin := func(tok ghauth.Token) func(*world) {
		return func(w *world) {
			loggedOut(w)
			w.login(tok)
		}
	}
	expired := r.f.Now().Add(-time.Hour)
	refreshable := ghauth.Token{Access: brokertest.UserToken, Expiry: expired, Refresh: loginRefresh, ClientID: loginClientID}
	credentials := []string{"credentials", "--account", "prod", "--role", "Admin"}
	before := r.broker.tokens()
	checkFailures(t, r.world, "login", []failureCase{
		{"no login token, GH_TOKEN set", loggedOut, credentials, ExitError},
		{"no login token (console)", loggedOut, []string{"console", "--request", vt.RequestID}, ExitError},
		{"no login token (status)", loggedOut, []string{"status"}, ExitError},
		{"expired and not refreshable", relogin(ghauth.Token{Access: brokertest.UserToken, Expiry: expired}), credentials, ExitError},
		{"expired, GitHub refuses the refresh token", relogin(refreshable), credentials, ExitError},
		{"expired, refresh token expired too", relogin(withRefreshExpiry(refreshable, expired)), credentials, ExitError},
		{"expired, GitHub in trouble", func(w *world) {
			relogin(refreshable)(w)
			r.oauth.Break(http.StatusBadGateway)
		}, credentials, ExitError},
		{"expired, GitHub unreachable", func(w *world) {
			w.env["GITHUB_API_URL"] = "http://127.0.0.1:1"
			relogin(refreshable)(w)
		}, credentials, ExitError},
	})
	if got := r.broker.tokens(); !cmp.Equal(got, before) {
		t.Errorf("the broker was called without a usable login: %v", got)
	}
}

func withRefreshExpiry(t ghauth.Token, at time.Time) ghauth.Token { t.RefreshExpiry = at; return t }

// `elevate login` stores the token elevate's app issued with its refresh
// token, expiry, app and user; the broker gets that token from then on.
func TestLoginStoresWhatRenewsIt(t *testing.T) {
	t.Parallel()
	r := newRouted(t)
	loggedOut(r.world)
	r.h.GitHub.Fake.Token(renewedToken, vt.Author)
	r.oauth.Device(ghauthtest.Grant{
		Access: renewedToken, Refresh: renewedRefresh,
		ExpiresIn: ghauthtest.TokenLifetime, RefreshExpiresIn: ghauthtest.RefreshLifetime,
	})
	r.env["ELEVATE_GITHUB_CLIENT_ID"] = loginClientID
	if code := r.run("login"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err)
	}
	if !strings.Contains(r.err.String(), ghauthtest.UserCode) || !strings.Contains(r.err.String(), "as Codertocat") {
		t.Errorf("stderr %q: want the one-time code and who logged in", r.err)
	}
	now := r.f.Now().UTC().Truncate(time.Second)
	want := ghauth.Token{
		Access: renewedToken, Expiry: now.Add(8 * time.Hour), Refresh: renewedRefresh,
		RefreshExpiry: now.Add(ghauthtest.RefreshLifetime * time.Second), ClientID: loginClientID, UserID: vt.Author.GetID(),
	}
	host, _ := ghauth.HostFor(r.env["GITHUB_API_URL"])
	got, err := r.store.Load(host)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	if code := r.run("credentials", "--account", "prod", "--role", "Admin"); code != 0 {
		t.Fatalf("credentials after login: exit %d: %s", code, r.err)
	}
	if got := r.broker.tokens(); !cmp.Equal(got, map[string]int{renewedToken: 1}) {
		t.Errorf("the broker got %v, want the new login's token", got)
	}
}
