package identity_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/identity"
)

var octocatUser = &github.User{Login: github.String("octocat"), ID: github.Int64(583231)}

// assertCalls fails unless GitHub saw want token checks, and no other call.
func assertCalls(t testing.TB, gh *githubfake.Fake, want int) {
	t.Helper()
	if checks, total := gh.Calls(checkRoute), gh.TotalCalls(); checks != want || total != want {
		t.Errorf("GitHub calls = %d, of which token checks %d; want %d token checks and nothing else", total, checks, want)
	}
}

// A token GitHub says was issued to elevate's app speaks for its user, by
// the check's user.id and user.login; GET /user is never asked.
func TestVerifyUserToken(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.Token(userTok, octocatUser)
	gh.Disable("GET /user")
	v := newVerifier(t, identity.Config{GitHubAPIURL: gh.URL})

	id, err := v.Verify(context.Background(), "bearer "+userTok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(&identity.Identity{UserID: 583231, Login: "octocat", Via: "github-token"}, id); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
	assertCalls(t, gh, 1)
}

// A token another app was given (an unrelated OAuth app, the GitHub CLI) is
// a valid token of its user, and still speaks for nobody here.
func TestVerifyUserTokenOfAnotherAppIsRefused(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.OAuthApp("Iv1.0therapp0000000", "other-secret")
	gh.AppToken("Iv1.0therapp0000000", userTok, octocatUser)
	v := newVerifier(t, identity.Config{GitHubAPIURL: gh.URL})
	for range 2 {
		id, err := v.Verify(context.Background(), "Bearer "+userTok)
		assertRefused(t, id, err, "not issued by elevate's GitHub app")
		assertNoToken(t, err, userTok)
	}
	assertCalls(t, gh, 1) // refusals are cached too
}

// GitHub answering for another app's client id (it never should) is a
// refusal too: the app is compared, not assumed.
func TestVerifyUserTokenCheckNamingAnotherAppIsRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1,"token":"`+userTok+`","app":{"client_id":"Iv1.0therapp0000000","name":"other"},"user":{"login":"octocat","id":583231}}`)
	}))
	t.Cleanup(srv.Close)
	v := newVerifier(t, identity.Config{GitHubAPIURL: srv.URL})
	id, err := v.Verify(context.Background(), "Bearer "+userTok)
	assertRefused(t, id, err, "not issued by elevate's GitHub app")
}

func TestVerifyUserTokenUnknownIsRefused(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.Token(userTok, octocatUser)
	v := newVerifier(t, identity.Config{GitHubAPIURL: gh.URL})
	id, err := v.Verify(context.Background(), "Bearer "+otherTok)
	assertRefused(t, id, err, "run `elevate login`")
	assertNoToken(t, err, otherTok)
}

// Tokens that cannot be a token of elevate's app are refused before any
// call: strings not shaped like a GitHub token, personal access tokens,
// installation and refresh tokens.
func TestVerifyUserTokenRefusedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	v := newVerifier(t, identity.Config{GitHubAPIURL: gh.URL})
	for tok, want := range map[string]string{
		"password": "malformed",
		"gho_":     "malformed",
		"ghx_0123456789abcdefghijABCDEFGHIJ012345":                                          "malformed",
		"ghp_0123456789abcdefghijABCDEFGHIJ012345":                                          "personal access token",
		"github_pat_11AAAAAAA0abcdefghij_klmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456": "personal access token",
		"ghs_0123456789abcdefghijABCDEFGHIJ012345":                                          "installation token",
		"ghr_0123456789abcdefghijABCDEFGHIJ012345":                                          "refresh token",
	} {
		id, err := v.Verify(context.Background(), "Bearer "+tok)
		assertRefused(t, id, err, want)
		assertNoToken(t, err, tok)
	}
	assertCalls(t, gh, 0)
}

// Without elevate's app configured no user token counts, and GitHub is not
// asked.
func TestVerifyUserTokenWithoutAppIsRefused(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.Token(userTok, octocatUser)
	v, err := identity.New(identity.Config{GitHubAPIURL: gh.URL})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), "Bearer "+userTok)
	assertRefused(t, id, err, "--github-client-id")
	assertCalls(t, gh, 0)
}

// Answers and refusals are cached by the token's hash for at most a minute:
// a token costs at most one GitHub call a minute, and a revoked token stops
// working within that minute.
func TestVerifyUserTokenCache(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.Token(userTok, octocatUser)
	clk := newClock()
	v := newVerifier(t, identity.Config{GitHubAPIURL: gh.URL, Now: clk.Now})
	verify := func(tok string) error {
		t.Helper()
		id, err := v.Verify(context.Background(), "Bearer "+tok)
		if err == nil {
			if id.UserID != 583231 || id.Login != "octocat" {
				t.Errorf("identity = %+v", id)
			}
			id.UserID = 1 // a caller changing its copy must not change the cache
		}
		return err
	}
	calls := func(want int, when string) {
		t.Helper()
		if got := gh.Calls(checkRoute); got != want {
			t.Errorf("%s: token checks = %d, want %d", when, got, want)
		}
	}
	for range 3 {
		if err := verify(userTok); err != nil {
			t.Fatal(err)
		}
		if err := verify(otherTok); err == nil {
			t.Fatal("an unknown token was accepted")
		}
	}
	calls(2, "three times each of an accepted and a refused token")
	clk.Advance(time.Minute - time.Second)
	_, _ = verify(userTok), verify(otherTok)
	calls(2, "within the minute")
	clk.Advance(time.Second)
	_, _ = verify(userTok), verify(otherTok)
	calls(4, "after the minute")
}

// Concurrent first requests with one token share one check.
func TestVerifyUserTokenConcurrentRequestsShareOneCheck(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.Token(userTok, octocatUser)
	v := newVerifier(t, identity.Config{GitHubAPIURL: gh.URL})
	hold := make(chan struct{})
	gh.Break(checkRoute, githubfake.Fault{Until: hold}) // answers normally once released
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), "Bearer "+userTok); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	close(hold)
	wg.Wait()
	assertCalls(t, gh, 1)
}

// When GitHub rate-limits the check nobody can be told apart: the answer is
// *RateLimitedError (503), never a refusal, and it is not cached.
func TestVerifyUserTokenRateLimitedIsNoRefusal(t *testing.T) {
	t.Parallel()
	reset := fmt.Sprint(time.Now().Add(-time.Second).Unix()) // past: go-github asks again at once
	tests := map[string]githubfake.Fault{
		"primary, 403": {Status: http.StatusForbidden, Message: "API rate limit exceeded",
			Header: http.Header{"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {reset}}},
		"primary, 429": {Status: http.StatusTooManyRequests, Message: "API rate limit exceeded",
			Header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {reset}}},
		"secondary, 403": {Status: http.StatusForbidden, Message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			Header: http.Header{"Retry-After": {"60"}}},
		"secondary, 429": {Status: http.StatusTooManyRequests, Message: "You have exceeded a secondary rate limit."},
	}
	for name, fault := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gh := githubfake.New(t)
			gh.Token(userTok, octocatUser)
			v := newVerifier(t, identity.Config{GitHubAPIURL: gh.URL})
			gh.Break(checkRoute, fault)
			id, err := v.Verify(context.Background(), "Bearer "+userTok)
			var limited *identity.RateLimitedError
			if id != nil || !errors.As(err, &limited) || errors.As(err, new(*identity.UnauthenticatedError)) {
				t.Fatalf("Verify = %v, %T %v; want *RateLimitedError", id, err, err)
			}
			assertNoToken(t, err, userTok)
			gh.Heal(checkRoute)
			if _, err := v.Verify(context.Background(), "Bearer "+userTok); err != nil {
				t.Errorf("after the limit: %v (a rate-limited check must not be cached)", err)
			}
		})
	}
}

// githubAnswering is a GitHub API whose token check answers status.
func githubAnswering(t *testing.T, status int, header http.Header) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/applications/") || !strings.HasSuffix(r.URL.Path, "/token") {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		}
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":"%s"}`, http.StatusText(status))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// GitHub failing, or refusing the broker's own app credentials, is an
// *UpstreamError: the verification did not complete, which is no refusal.
func TestVerifyUserTokenGitHubFailures(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name       string
		apiURL     string
		wantReason string // the caller's message, when the broker is at fault
	}{
		{name: "GitHub unreachable", apiURL: closed.URL},
		{name: "GitHub 500", apiURL: githubAnswering(t, http.StatusInternalServerError, nil)},
		{name: "GitHub 502", apiURL: githubAnswering(t, http.StatusBadGateway, nil)},
		{name: "bad client credentials, 401", apiURL: githubAnswering(t, http.StatusUnauthorized, nil), wantReason: "--github-client-secret"},
		{name: "bad client credentials, 422", apiURL: githubAnswering(t, http.StatusUnprocessableEntity, nil), wantReason: "--github-client-secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, identity.Config{GitHubAPIURL: tc.apiURL})
			id, err := v.Verify(context.Background(), "Bearer "+userTok)
			assertUpstream(t, id, err)
			var up *identity.UpstreamError
			if errors.As(err, &up) && !strings.Contains(up.Reason, tc.wantReason) {
				t.Errorf("Reason = %q, want it to contain %q", up.Reason, tc.wantReason)
			}
			assertNoToken(t, err, userTok)
		})
	}
}

// A broker whose client secret GitHub refuses says so in its error (the
// broker logs it), without the secret.
func TestVerifyUserTokenWrongClientSecret(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.Token(userTok, octocatUser)
	const wrong = "not-the-client-secret"
	v := newVerifier(t, identity.Config{GitHubAPIURL: gh.URL, ClientID: githubfake.ClientID, ClientSecret: wrong})
	id, err := v.Verify(context.Background(), "Bearer "+userTok)
	assertUpstream(t, id, err)
	if !strings.Contains(err.Error(), "--github-client-secret") {
		t.Errorf("error %q does not name the broker's app credentials", err)
	}
	for _, s := range errorTexts(err) {
		if strings.Contains(s, wrong) {
			t.Errorf("error text holds the client secret: %q", s)
		}
	}
}

// A caller who gives up while the check is in flight gets an
// *UpstreamError; the check goes on for the others.
func TestVerifyUserTokenCallerGivesUp(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.Token(userTok, octocatUser)
	v := newVerifier(t, identity.Config{GitHubAPIURL: gh.URL})
	hold := make(chan struct{})
	gh.Break(checkRoute, githubfake.Fault{Until: hold})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id, err := v.Verify(ctx, "Bearer "+userTok)
	assertUpstream(t, id, err)
	close(hold)
	if _, err := v.Verify(context.Background(), "Bearer "+userTok); err != nil {
		t.Fatalf("Verify after the check: %v", err)
	}
	assertCalls(t, gh, 1)
}
