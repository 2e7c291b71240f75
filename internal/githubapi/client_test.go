package githubapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
)

func TestNewClientBaseURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		apiURL, wantBase, wantUpload string
	}{
		{"", "https://api.github.com/", "https://uploads.github.com/"},
		{"https://api.github.com", "https://api.github.com/", "https://uploads.github.com/"},
		{"https://api.github.com/", "https://api.github.com/", "https://uploads.github.com/"},
		{"https://ghe.example.com", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/uploads/"},
		{"https://ghe.example.com/", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/uploads/"},
		{"https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/uploads/"},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/uploads/"},
		{"https://api.acme.ghe.com", "https://api.acme.ghe.com/", "https://api.acme.ghe.com/"},
		{"http://127.0.0.1:1234", "http://127.0.0.1:1234/", "http://127.0.0.1:1234/"},
		{"http://localhost:1234/", "http://localhost:1234/", "http://localhost:1234/"},
		{"http://[::1]:1234", "http://[::1]:1234/", "http://[::1]:1234/"},
		{"http://127.0.0.1:1234/api/v3", "http://127.0.0.1:1234/api/v3/", "http://127.0.0.1:1234/api/v3/"},
	}
	for _, tc := range cases {
		t.Run(tc.apiURL, func(t *testing.T) {
			t.Parallel()
			gh, err := githubapi.NewClient(tc.apiURL, "", nil)
			if err != nil {
				t.Fatalf("NewClient(%q): %v", tc.apiURL, err)
			}
			if got := gh.BaseURL.String(); got != tc.wantBase {
				t.Errorf("NewClient(%q).BaseURL = %q, want %q", tc.apiURL, got, tc.wantBase)
			}
			if got := gh.UploadURL.String(); got != tc.wantUpload {
				t.Errorf("NewClient(%q).UploadURL = %q, want %q", tc.apiURL, got, tc.wantUpload)
			}
		})
	}
}

func TestNewClientRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, apiURL string
	}{
		{"plain http to a remote host", "http://ghe.example.com"},
		{"not http", "ftp://ghe.example.com"},
		{"credentials in the URL", "https://user:secret@ghe.example.com"},
		{"no host", "https:///api/v3"},
		{"query", "https://ghe.example.com/api/v3?x=1"},
		{"unparsable", "https://ghe example.com/%zz"},
		{"unparsable with a password", "https://user:secret@ghe.example.com/%zz"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh, err := githubapi.NewClient(tc.apiURL, "tok", nil)
			if err == nil {
				t.Fatalf("NewClient(%q) = %v, want an error", tc.apiURL, gh.BaseURL)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("NewClient(%q) error %q leaks the password", tc.apiURL, err)
			}
		})
	}
}

// TestNewClientToken checks the token is sent as a bearer token, and that a
// bad token is an error that is not ErrNotFound.
func TestNewClientToken(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t)
	f.Repo("acme", "access")
	f.Token("good", &github.User{Login: github.String("alice")})
	f.AddPull(&github.PullRequest{Number: github.Int(1)}, nil)

	gh, err := githubapi.NewClient(f.URL, "good", &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	repo := mustRepo(t, gh, "acme/access")
	if _, err := repo.PullRequest(context.Background(), 1); err != nil {
		t.Errorf("PullRequest with a good token: %v", err)
	}

	bad, err := githubapi.NewClient(f.URL, "bad", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustRepo(t, bad, "acme/access").PullRequest(context.Background(), 1)
	if err == nil || errors.Is(err, githubapi.ErrNotFound) {
		t.Errorf("PullRequest with a bad token: err = %v, want a non-404 error", err)
	}
	if err != nil && strings.Contains(err.Error(), "bad") && !strings.Contains(err.Error(), "Bad credentials") {
		t.Errorf("error %q may contain the token", err)
	}
}

func TestNewRepo(t *testing.T) {
	t.Parallel()
	gh := github.NewClient(nil)
	cases := []struct {
		fullName  string
		wantOwner string
		wantName  string
		wantErr   bool
	}{
		{"acme/access", "acme", "access", false},
		{"Acme-1/access.git_x-y", "Acme-1", "access.git_x-y", false},
		{"acme", "", "", true},
		{"acme/", "", "", true},
		{"/access", "", "", true},
		{"acme/access/extra", "", "", true},
		{"-acme/access", "", "", true},
		{"acme/..", "", "", true},
		{"ac me/access", "", "", true},
		{"", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.fullName, func(t *testing.T) {
			t.Parallel()
			r, err := githubapi.NewRepo(gh, tc.fullName)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("NewRepo(%q) = %+v, want an error", tc.fullName, r)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewRepo(%q): %v", tc.fullName, err)
			}
			if r.Owner != tc.wantOwner || r.Name != tc.wantName || r.GH != gh {
				t.Errorf("NewRepo(%q) = %s/%s, want %s/%s", tc.fullName, r.Owner, r.Name, tc.wantOwner, tc.wantName)
			}
		})
	}
	if _, err := githubapi.NewRepo(nil, "acme/access"); err == nil {
		t.Error("NewRepo(nil, ...) succeeded, want an error")
	}
}

func mustRepo(t *testing.T, gh *github.Client, fullName string) *githubapi.Repo {
	t.Helper()
	r, err := githubapi.NewRepo(gh, fullName)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestNewClientRefusesCrossHostRedirect checks the token never follows a
// redirect to another host.
func TestNewClientRefusesCrossHostRedirect(t *testing.T) {
	t.Parallel()
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"number":1}`))
	}))
	t.Cleanup(other.Close)
	// Same loopback address, other port: another host for HTTP.
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(redirector.Close)

	gh, err := githubapi.NewClient(redirector.URL, "secret-token", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustRepo(t, gh, "acme/access").PullRequest(context.Background(), 1)
	if err == nil {
		t.Error("PullRequest through a cross-host redirect succeeded, want an error")
	}
	if leaked.Load() {
		t.Error("the token was sent to the redirect target")
	}
	if err != nil && strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error %q contains the token", err)
	}
}
