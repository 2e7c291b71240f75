package githubfake_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
)

// appClient is go-github authenticated as an app, as GitHub's token check
// requires: HTTP Basic auth with the client id and secret.
func appClient(f *githubfake.Fake, id, secret string) *github.Client {
	c := f.Client()
	tr := &github.BasicAuthTransport{Username: id, Password: secret}
	gh := github.NewClient(tr.Client())
	gh.BaseURL, gh.UploadURL = c.BaseURL, c.UploadURL
	return gh
}

func status(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

func TestCheckToken(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t)
	alice := &github.User{Login: github.String("alice"), ID: github.Int64(42)}
	f.Token("gho_aliceToken", alice)
	f.OAuthApp("Iv1.other", "other-secret")
	f.AppToken("Iv1.other", "gho_aliceOtherAppToken", alice)
	ctx := context.Background()
	elevate := appClient(f, githubfake.ClientID, githubfake.ClientSecret)

	a, _, err := elevate.Authorizations.Check(ctx, githubfake.ClientID, "gho_aliceToken")
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if a.GetApp().GetClientID() != githubfake.ClientID || a.GetUser().GetID() != 42 || a.GetUser().GetLogin() != "alice" ||
		a.GetToken() != "gho_aliceToken" || a.GetTokenLastEight() != "iceToken" || a.GetHashedToken() == "" {
		t.Errorf("authorization = %v", a)
	}
	// The other app's token is the same user's, valid for the API, but not elevate's.
	if _, _, err := elevate.Authorizations.Check(ctx, githubfake.ClientID, "gho_aliceOtherAppToken"); status(err) != http.StatusNotFound {
		t.Errorf("another app's token: %v, want 404", err)
	}
	if u, _, err := f.Client().WithAuthToken("gho_aliceOtherAppToken").Users.Get(ctx, ""); err != nil || u.GetLogin() != "alice" {
		t.Errorf("another app's token on GET /user: %v %v", u, err)
	}
	other := appClient(f, "Iv1.other", "other-secret")
	if a, _, err := other.Authorizations.Check(ctx, "Iv1.other", "gho_aliceOtherAppToken"); err != nil || a.GetApp().GetClientID() != "Iv1.other" {
		t.Errorf("the other app checking its token: %v %v", a, err)
	}
	if _, _, err := elevate.Authorizations.Check(ctx, githubfake.ClientID, "gho_unknown"); status(err) != http.StatusNotFound {
		t.Errorf("unknown token: %v, want 404", err)
	}
	if _, _, err := elevate.Authorizations.Check(ctx, githubfake.ClientID, ""); status(err) != http.StatusUnprocessableEntity {
		t.Errorf("no token: %v, want 422", err)
	}
	wrong := appClient(f, githubfake.ClientID, "wrong-secret")
	if _, _, err := wrong.Authorizations.Check(ctx, githubfake.ClientID, "gho_aliceToken"); status(err) != http.StatusUnauthorized {
		t.Errorf("wrong client secret: %v, want 401", err)
	}
	if _, _, err := f.Client().WithAuthToken("gho_aliceToken").Authorizations.Check(ctx, githubfake.ClientID, "gho_aliceToken"); status(err) != http.StatusUnauthorized {
		t.Errorf("a user token instead of the app's credentials: %v, want 401", err)
	}
	if _, _, err := elevate.Authorizations.Check(ctx, "Iv1.other", "gho_aliceOtherAppToken"); status(err) != http.StatusNotFound {
		t.Errorf("checking for another app: %v, want 404", err)
	}
	if got := f.Calls("POST /applications/{client_id}/token"); got != 8 {
		t.Errorf("calls = %d, want 8", got)
	}
}

// Fault injection works on the token check, as on every route: a rate
// limit is GitHub's answer, headers included.
func TestCheckTokenRateLimited(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t)
	f.Token("gho_aliceToken", &github.User{Login: github.String("alice"), ID: github.Int64(42)})
	f.Break("POST /applications/{client_id}/token", githubfake.Fault{Status: http.StatusForbidden, Message: "API rate limit exceeded",
		Header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1"}}})
	_, _, err := appClient(f, githubfake.ClientID, githubfake.ClientSecret).Authorizations.Check(context.Background(), githubfake.ClientID, "gho_aliceToken")
	var rl *github.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("Check = %T %v, want *github.RateLimitError", err, err)
	}
}
