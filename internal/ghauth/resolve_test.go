package ghauth_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/ghauth"
)

func TestGitHubToken(t *testing.T) {
	t.Parallel()
	const ghToken, githubToken = "gho_fromGHTOKEN", "ghs_fromGITHUBTOKEN"
	tests := []struct {
		name       string
		env        map[string]string
		stored     map[string]string // host -> token; nil means no store
		expired    bool              // the stored tokens expired and have no refresh token
		corrupt    bool
		wantToken  string
		wantSource string
		wantNoTok  string // host of the *NoTokenError
		wantErr    string
	}{
		{
			name:      "GH_TOKEN first",
			env:       map[string]string{"GH_TOKEN": ghToken, "GITHUB_TOKEN": githubToken},
			stored:    map[string]string{"github.com": dotcomToken},
			wantToken: ghToken, wantSource: "GH_TOKEN",
		},
		{
			name:      "GITHUB_TOKEN second",
			env:       map[string]string{"GITHUB_TOKEN": githubToken},
			stored:    map[string]string{"github.com": dotcomToken},
			wantToken: githubToken, wantSource: "GITHUB_TOKEN",
		},
		{
			name:      "blank GH_TOKEN is unset",
			env:       map[string]string{"GH_TOKEN": "  ", "GITHUB_TOKEN": " " + githubToken + "\n"},
			wantToken: githubToken, wantSource: "GITHUB_TOKEN",
		},
		{
			name:      "variables win over a bad GITHUB_API_URL",
			env:       map[string]string{"GH_TOKEN": ghToken, "GITHUB_API_URL": "http://ghe.example.com"},
			wantToken: ghToken, wantSource: "GH_TOKEN",
		},
		{
			name:      "stored for github.com",
			env:       map[string]string{"GH_TOKEN": "", "GITHUB_TOKEN": "\t"},
			stored:    map[string]string{"github.com": dotcomToken, "ghe.example.com": gheToken},
			wantToken: dotcomToken, wantSource: "stored",
		},
		{
			name:      "stored for the enterprise host",
			env:       map[string]string{"GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			stored:    map[string]string{"github.com": dotcomToken, "ghe.example.com": gheToken},
			wantToken: gheToken, wantSource: "stored",
		},
		{
			name:      "stored only for another host",
			env:       map[string]string{"GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			stored:    map[string]string{"github.com": dotcomToken},
			wantNoTok: "ghe.example.com",
		},
		{
			name:      "empty store",
			stored:    map[string]string{},
			wantNoTok: "github.com",
		},
		{
			name:      "no store",
			wantNoTok: "github.com",
		},
		{
			name:    "unreadable store",
			stored:  map[string]string{"github.com": dotcomToken},
			corrupt: true,
			wantErr: "run `elevate login` again",
		},
		{
			name:    "stored login expired past renewal",
			stored:  map[string]string{"github.com": dotcomToken},
			expired: true,
			wantErr: "has expired and cannot be renewed: run `elevate login` again",
		},
		{
			name:      "GH_TOKEN wins over an expired login",
			env:       map[string]string{"GH_TOKEN": ghToken},
			stored:    map[string]string{"github.com": dotcomToken},
			expired:   true,
			wantToken: ghToken, wantSource: "GH_TOKEN",
		},
		{
			name:    "bad GITHUB_API_URL",
			env:     map[string]string{"GITHUB_API_URL": "ftp://ghe.example.com"},
			wantErr: "scheme must be https",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var store *ghauth.Store
			if tt.stored != nil {
				store = newStore(t)
				for h, tok := range tt.stored {
					saved := ghauth.Token{Access: tok}
					if tt.expired {
						saved.Expiry = time.Now().Add(-time.Hour)
					}
					if err := store.Save(h, saved); err != nil {
						t.Fatal(err)
					}
				}
				if tt.corrupt {
					if err := os.WriteFile(store.Path, []byte(`{"hosts":`+dotcomToken), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			getenv := func(k string) string { return tt.env[k] }
			tok, src, err := ghauth.GitHubToken(t.Context(), getenv, &ghauth.Session{Store: store, APIURL: tt.env["GITHUB_API_URL"]})
			noTokens(t, err)
			switch {
			case tt.wantNoTok != "":
				var nt *ghauth.NoTokenError
				if !errors.As(err, &nt) || nt.Host != tt.wantNoTok {
					t.Fatalf("GitHubToken: err = %v, want *NoTokenError for %s", err, tt.wantNoTok)
				}
				for _, s := range []string{"elevate login", "GH_TOKEN"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("NoTokenError %q does not mention %s", err, s)
					}
				}
			case tt.wantErr != "":
				var nt *ghauth.NoTokenError
				if err == nil || errors.As(err, &nt) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("GitHubToken: err = %v, want an error containing %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("GitHubToken: %v", err)
				}
				if tok != tt.wantToken || src != tt.wantSource {
					t.Errorf("GitHubToken = %q from %q, want %q from %q", tok, src, tt.wantToken, tt.wantSource)
				}
			}
			if err != nil && (tok != "" || src != "") {
				t.Errorf("GitHubToken returned %q from %q with an error", tok, src)
			}
		})
	}
}
