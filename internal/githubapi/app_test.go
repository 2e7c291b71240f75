package githubapi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
)

func TestNewAppClientActsAsTheInstallation(t *testing.T) {
	t.Parallel()
	f, pemBytes := installedApp(t)
	app, err := NewAppClient(f.URL, 12345, pemBytes, "acme/access", nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.TotalCalls() != 0 || app.Bot() != "" {
		t.Fatalf("NewAppClient called GitHub (%d calls) or knows a bot (%q) before first use", f.TotalCalls(), app.Bot())
	}
	me, _, err := app.Client.Users.Get(context.Background(), "")
	if err != nil || me.GetLogin() != "elevate[bot]" {
		t.Fatalf("as the installation: %v %v", me, err)
	}
	if f.Calls("POST /app/installations/{installation_id}/access_tokens") != 1 || f.Calls("GET /repos/{owner}/{repo}/installation") != 1 {
		t.Error("the installation was not found and its token minted exactly once")
	}
	if app.Bot() != "elevate[bot]" {
		t.Errorf("the App writes as %q, want elevate[bot] (its slug's bot)", app.Bot())
	}
	if tok, err := app.Token(context.Background()); err != nil || tok != "ghs_installationToken" {
		t.Errorf("the token for git = %q, %v", tok, err)
	}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	bad := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})
	wrong, err := NewAppClient(f.URL, 12345, bad, "acme/access", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Resolve(context.Background()); err == nil {
		t.Error("a JWT signed by another key was accepted")
	}
}

// A failed look-up of the installation is answered again, without asking
// GitHub, until its backoff has passed: every call goes through it.
func TestAppLookUpFailureIsNotAskedAgainAtOnce(t *testing.T) {
	t.Parallel()
	f, pemBytes := installedApp(t)
	f.Break("GET /repos/{owner}/{repo}/installation", githubfake.Fault{Status: http.StatusInternalServerError})
	app, err := NewAppClient(f.URL, 12345, pemBytes, "acme/access", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, _, err := app.Client.Users.Get(context.Background(), ""); err == nil {
			t.Fatal("a call succeeded while the installation cannot be found")
		}
	}
	if n := f.Calls("GET /repos/{owner}/{repo}/installation"); n != 1 {
		t.Errorf("GitHub was asked %d times for the installation within the backoff, want 1", n)
	}
}

// installedApp is the GitHub fake with App 12345 (bot elevate[bot])
// installed on acme/access (installation 777), and the App's key as PEM.
func installedApp(t *testing.T) (*githubfake.Fake, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := githubfake.New(t)
	f.Repo("acme", "access")
	f.App(12345, &key.PublicKey, 777, "ghs_installationToken", &github.User{Login: github.String("elevate[bot]"), ID: github.Int64(9), Type: github.String("Bot")})
	return f, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}
