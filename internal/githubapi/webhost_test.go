package githubapi_test

import (
	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/githubapi"
)

func TestWebHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		apiURL   string
		want     string
		wantHost string
		wantErr  string
	}{
		{apiURL: "", want: "https://github.com", wantHost: "github.com"},
		{apiURL: "https://api.github.com", want: "https://github.com", wantHost: "github.com"},
		{apiURL: "https://api.github.com/", want: "https://github.com", wantHost: "github.com"},
		{apiURL: " HTTPS://API.GitHub.com/ ", want: "https://github.com", wantHost: "github.com"},
		{apiURL: "https://github.com", want: "https://github.com", wantHost: "github.com"},
		{apiURL: "https://ghe.example.com/api/v3", want: "https://ghe.example.com", wantHost: "ghe.example.com"},
		{apiURL: "https://ghe.example.com/api/v3/", want: "https://ghe.example.com", wantHost: "ghe.example.com"},
		{apiURL: "https://ghe.example.com", want: "https://ghe.example.com", wantHost: "ghe.example.com"},
		{apiURL: "https://GHE.Example.com:8443/api/v3", want: "https://ghe.example.com:8443", wantHost: "ghe.example.com:8443"},
		{apiURL: "https://api.octocorp.ghe.com", want: "https://octocorp.ghe.com", wantHost: "octocorp.ghe.com"},
		{apiURL: "https://api.corp.example/api/v3", want: "https://api.corp.example", wantHost: "api.corp.example"},
		{apiURL: "http://127.0.0.1:53121", want: "http://127.0.0.1:53121", wantHost: "127.0.0.1:53121"},
		{apiURL: "http://127.0.0.1:53121/api/v3/", want: "http://127.0.0.1:53121", wantHost: "127.0.0.1:53121"},
		{apiURL: "http://localhost:8080/", want: "http://localhost:8080", wantHost: "localhost:8080"},
		{apiURL: "http://[::1]:9000", want: "http://[::1]:9000", wantHost: "[::1]:9000"},
		{apiURL: "http://ghe.example.com/api/v3", wantErr: "use https"},
		{apiURL: "http://api.github.com", wantErr: "use https"},
		{apiURL: "ftp://ghe.example.com", wantErr: "scheme must be https"},
		{apiURL: "ghe.example.com", wantErr: "scheme must be https"},
		{apiURL: "https://", wantErr: "missing host"},
		{apiURL: "https://:443/api/v3", wantErr: "missing host"},
		{apiURL: "https://ghe.example.com/api/v3?x=1", wantErr: "query or fragment"},
		{apiURL: "https://ghe.example.com/api/v3#frag", wantErr: "query or fragment"},
		{apiURL: "https://user:s3cret-pass@ghe.example.com/api/v3", wantErr: "must not carry credentials"},
		{apiURL: "https://ghe.example.com/\x7f", wantErr: "parse GitHub API URL"},
	}
	for _, tt := range tests {
		t.Run(tt.apiURL, func(t *testing.T) {
			t.Parallel()
			got, err := githubapi.WebHost(tt.apiURL)
			host, herr := ghauth.HostFor(tt.apiURL)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("WebHost(%q) = %v, %v; want an error containing %q", tt.apiURL, got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret-pass") {
					t.Errorf("error %q shows the password", err)
				}
				if herr == nil {
					t.Errorf("HostFor(%q): nil error", tt.apiURL)
				}
				return
			}
			if err != nil {
				t.Fatalf("WebHost(%q): %v", tt.apiURL, err)
			}
			if got.String() != tt.want {
				t.Errorf("WebHost(%q) = %q, want %q", tt.apiURL, got, tt.want)
			}
			if herr != nil || host != tt.wantHost {
				t.Errorf("HostFor(%q) = %q, %v; want %q", tt.apiURL, host, herr, tt.wantHost)
			}
		})
	}
}
