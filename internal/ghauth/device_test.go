package ghauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/ghauth"
)

const (
	fakeClientID   = "Iv1.0123456789abcdef"
	fakeDeviceCode = "3584d83530557fdd1f46af8289938c8ef79f9dc5"
	fakeUserCode   = "WDJB-MJHT"
	fakeToken      = "gho_16C7e42F292c6912E7710c838347Ae178B4a"
	fakeRefresh    = "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498"
	deviceGrant    = "urn:ietf:params:oauth:grant-type:device_code"
	pendingDesc    = "The authorization request is still pending."
)

// fakeGitHub serves GitHub's device flow endpoints on the web host, in
// GitHub's shapes: form-encoded answers unless the request accepts JSON,
// errors as HTTP 200 with an "error" field. Any other request fails the
// test.
type fakeGitHub struct {
	fakeConfig
	t *testing.T

	mu    sync.Mutex
	codes int
	polls int
}

// fakeConfig says how fakeGitHub answers.
type fakeConfig struct {
	// wantScope is the scope the code request must carry.
	wantScope string
	// formOnly answers form-encoded even when JSON is asked for.
	formOnly bool
	// codeStatus and codeError, if set, answer the code request instead.
	codeStatus int
	codeError  string
	// pending is how many polls answer authorization_pending.
	pending int
	// final answers the poll after the pending ones; nil means the token.
	final url.Values
}

// newFake starts a fakeGitHub; its URL is the web and API host at once.
func newFake(t *testing.T, cfg fakeConfig) (*fakeGitHub, *httptest.Server) {
	f := &fakeGitHub{fakeConfig: cfg, t: t}
	return f, f.server()
}

func (f *fakeGitHub) server() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/device/code", f.code)
	mux.HandleFunc("POST /login/oauth/access_token", f.token)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.t.Errorf("fake GitHub: unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	f.t.Cleanup(srv.Close)
	return srv
}

func (f *fakeGitHub) form(w http.ResponseWriter, r *http.Request) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("fake GitHub: %s Content-Type = %q", r.URL.Path, ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("fake GitHub: %s: %v", r.URL.Path, err)
		http.Error(w, "bad form", http.StatusBadRequest)
		return false
	}
	if got := r.PostForm.Get("client_id"); got != fakeClientID {
		f.t.Errorf("fake GitHub: %s client_id = %q, want %q", r.URL.Path, got, fakeClientID)
	}
	return true
}

func (f *fakeGitHub) code(w http.ResponseWriter, r *http.Request) {
	if !f.form(w, r) {
		return
	}
	f.mu.Lock()
	f.codes++
	f.mu.Unlock()
	if got := r.PostForm.Get("scope"); got != f.wantScope {
		f.t.Errorf("fake GitHub: scope = %q, want %q", got, f.wantScope)
	}
	if f.codeStatus != 0 {
		f.answer(w, r, f.codeStatus, url.Values{"error": {f.codeError}})
		return
	}
	f.answer(w, r, http.StatusOK, url.Values{
		"device_code":      {fakeDeviceCode},
		"user_code":        {fakeUserCode},
		"verification_uri": {"https://github.com/login/device"},
		"expires_in":       {"899"},
		"interval":         {"0"},
	})
}

func (f *fakeGitHub) token(w http.ResponseWriter, r *http.Request) {
	if !f.form(w, r) {
		return
	}
	if got := r.PostForm.Get("grant_type"); got != deviceGrant {
		f.t.Errorf("fake GitHub: grant_type = %q, want %q", got, deviceGrant)
	}
	if got := r.PostForm.Get("device_code"); got != fakeDeviceCode {
		f.t.Errorf("fake GitHub: device_code = %q, want %q", got, fakeDeviceCode)
		f.answer(w, r, http.StatusOK, url.Values{"error": {"incorrect_device_code"}})
		return
	}
	f.mu.Lock()
	f.polls++
	n := f.polls
	f.mu.Unlock()
	switch {
	case n <= f.pending:
		f.answer(w, r, http.StatusOK, url.Values{
			"error":             {"authorization_pending"},
			"error_description": {pendingDesc},
			"error_uri":         {"https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"},
		})
	case f.final != nil:
		f.answer(w, r, http.StatusOK, f.final)
	default:
		f.answer(w, r, http.StatusOK, url.Values{
			"access_token": {fakeToken},
			"token_type":   {"bearer"},
			"scope":        {"read:org,repo"},
		})
	}
}

// answer writes v as GitHub does: JSON (numbers for expires_in and
// interval) when the request accepts it, form-encoded otherwise.
func (f *fakeGitHub) answer(w http.ResponseWriter, r *http.Request, status int, v url.Values) {
	if f.formOnly || !strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprint(w, v.Encode())
		return
	}
	m := map[string]any{}
	for k := range v {
		m[k] = v.Get(k)
		if k == "expires_in" || k == "interval" || k == "refresh_token_expires_in" {
			var n int
			fmt.Sscan(v.Get(k), &n)
			m[k] = n
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(m)
}

func (f *fakeGitHub) counts() (codes, polls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.codes, f.polls
}

// noSecrets fails the test if err shows the token or the device code.
func noSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{fakeToken, fakeRefresh, fakeDeviceCode} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows a secret", err)
		}
	}
}

func TestDeviceLogin(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	// A GitHub App whose user tokens expire answers with their lifetimes
	// and a refresh token (GitHub's documented answer).
	expiring := url.Values{
		"access_token": {fakeToken}, "token_type": {"bearer"}, "scope": {""},
		"expires_in": {"28800"}, "refresh_token": {fakeRefresh}, "refresh_token_expires_in": {"15897600"},
	}
	noExpiry := ghauth.Token{Access: fakeToken, ClientID: fakeClientID}
	withExpiry := ghauth.Token{
		Access: fakeToken, Expiry: now.Add(8 * time.Hour), Refresh: fakeRefresh,
		RefreshExpiry: now.Add(15897600 * time.Second), ClientID: fakeClientID,
	}
	tests := []struct {
		name     string
		formOnly bool
		pending  int
		final    url.Values
		want     ghauth.Token
	}{
		{name: "json answers", pending: 2, want: noExpiry},
		{name: "form-encoded answers", formOnly: true, pending: 2, want: noExpiry},
		{name: "approved at once", want: noExpiry},
		{name: "expiring token, json", pending: 1, final: expiring, want: withExpiry},
		{name: "expiring token, form-encoded", formOnly: true, final: expiring, want: withExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFake(t, fakeConfig{wantScope: "read:org repo", formOnly: tt.formOnly, pending: tt.pending, final: tt.final})
			var prompted []string
			start := time.Now()
			tok, err := ghauth.DeviceLogin(t.Context(), ghauth.DeviceOptions{
				APIURL:     srv.URL,
				ClientID:   fakeClientID,
				HTTPClient: srv.Client(),
				Prompt:     func(code, u string) { prompted = append(prompted, code, u) },
				Now:        func() time.Time { return now },
			})
			if err != nil {
				t.Fatalf("DeviceLogin: %v", err)
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("DeviceLogin took %v", elapsed)
			}
			if diff := cmp.Diff(tt.want, tok); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
			if want := []string{fakeUserCode, "https://github.com/login/device"}; strings.Join(prompted, " ") != strings.Join(want, " ") {
				t.Errorf("Prompt got %q, want %q", prompted, want)
			}
			if codes, polls := f.counts(); codes != 1 || polls != tt.pending+1 {
				t.Errorf("fake saw %d code requests and %d polls, want 1 and %d", codes, polls, tt.pending+1)
			}
		})
	}
}

func TestDeviceLoginScopes(t *testing.T) {
	t.Parallel()
	_, srv := newFake(t, fakeConfig{wantScope: "repo"})
	_, err := ghauth.DeviceLogin(t.Context(), ghauth.DeviceOptions{
		APIURL: srv.URL + "/api/v3", ClientID: fakeClientID, HTTPClient: srv.Client(),
		Scopes: []string{"repo"}, Prompt: func(string, string) {},
	})
	if err != nil {
		t.Fatalf("DeviceLogin: %v", err)
	}
}

func TestPromptTo(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	ghauth.PromptTo(&b)(fakeUserCode, "https://github.com/login/device")
	want := "First copy your one-time code: WDJB-MJHT\nThen open https://github.com/login/device in your browser and enter it.\n"
	if b.String() != want {
		t.Errorf("PromptTo wrote %q, want %q", b.String(), want)
	}
}

func TestDeviceLoginFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fake    fakeConfig
		wantErr string
	}{
		{
			name:    "denied in the browser",
			fake:    fakeConfig{pending: 1, final: url.Values{"error": {"access_denied"}, "error_description": {"The authorization request was denied."}}},
			wantErr: "denied in the browser; run `elevate login` again",
		},
		{
			name:    "code expired",
			fake:    fakeConfig{final: url.Values{"error": {"expired_token"}}},
			wantErr: "expired; run `elevate login` again",
		},
		{
			name:    "device flow disabled",
			fake:    fakeConfig{codeStatus: http.StatusBadRequest, codeError: "device_flow_disabled"},
			wantErr: "enable device flow",
		},
		{
			name:    "unknown client id",
			fake:    fakeConfig{codeStatus: http.StatusNotFound, codeError: "Not Found"},
			wantErr: "check ELEVATE_GITHUB_CLIENT_ID",
		},
		{
			name:    "server error",
			fake:    fakeConfig{codeStatus: http.StatusInternalServerError, codeError: "boom"},
			wantErr: "boom",
		},
		{
			name:    "incorrect client credentials",
			fake:    fakeConfig{final: url.Values{"error": {"incorrect_client_credentials"}}},
			wantErr: "check ELEVATE_GITHUB_CLIENT_ID",
		},
		{
			name:    "malformed refresh token",
			fake:    fakeConfig{final: url.Values{"access_token": {fakeToken}, "refresh_token": {"ghr_ " + fakeRefresh}, "expires_in": {"28800"}}},
			wantErr: "malformed token",
		},
		{
			name:    "malformed token",
			fake:    fakeConfig{final: url.Values{"access_token": {fakeToken + "\n" + fakeToken}, "token_type": {"bearer"}}},
			wantErr: "malformed token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.fake
			cfg.wantScope = "read:org repo"
			_, srv := newFake(t, cfg)
			tok, err := ghauth.DeviceLogin(t.Context(), ghauth.DeviceOptions{
				APIURL: srv.URL, ClientID: fakeClientID, HTTPClient: srv.Client(), Prompt: func(string, string) {},
			})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DeviceLogin: token %q, err %v; want an error containing %q", tok, err, tt.wantErr)
			}
			if tok != (ghauth.Token{}) {
				t.Errorf("DeviceLogin returned a token with an error")
			}
			noSecrets(t, err)
		})
	}
}

func TestDeviceLoginNeedsClientID(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t, fakeConfig{})
	_, err := ghauth.DeviceLogin(t.Context(), ghauth.DeviceOptions{APIURL: srv.URL, ClientID: "  ", HTTPClient: srv.Client()})
	if err == nil || !strings.Contains(err.Error(), "ELEVATE_GITHUB_CLIENT_ID") {
		t.Fatalf("DeviceLogin without a client id: err = %v, want one naming ELEVATE_GITHUB_CLIENT_ID", err)
	}
	if codes, _ := f.counts(); codes != 0 {
		t.Errorf("DeviceLogin without a client id called GitHub")
	}
}

func TestDeviceLoginRefusesPlainHTTP(t *testing.T) {
	t.Parallel()
	_, err := ghauth.DeviceLogin(t.Context(), ghauth.DeviceOptions{APIURL: "http://ghe.example.com/api/v3", ClientID: fakeClientID})
	if err == nil || !strings.Contains(err.Error(), "use https") {
		t.Fatalf("DeviceLogin over plain http: err = %v, want a refusal", err)
	}
}

func TestDeviceLoginCancelled(t *testing.T) {
	t.Parallel()
	_, srv := newFake(t, fakeConfig{wantScope: "read:org repo", pending: 1 << 30})
	ctx, cancel := context.WithCancel(t.Context())
	_, err := ghauth.DeviceLogin(ctx, ghauth.DeviceOptions{
		APIURL: srv.URL, ClientID: fakeClientID, HTTPClient: srv.Client(),
		Prompt: func(string, string) { cancel() },
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("DeviceLogin after cancel: err = %v, want context.Canceled", err)
	}
}

func TestDeviceLoginRefusesRedirects(t *testing.T) {
	t.Parallel()
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed to %s", r.URL)
	}))
	t.Cleanup(elsewhere.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	_, err := ghauth.DeviceLogin(t.Context(), ghauth.DeviceOptions{
		APIURL: srv.URL, ClientID: fakeClientID, HTTPClient: srv.Client(), Prompt: func(string, string) {},
	})
	if err == nil || !strings.Contains(err.Error(), "redirect refused") {
		t.Fatalf("DeviceLogin against a redirect: err = %v, want a refusal", err)
	}
}
