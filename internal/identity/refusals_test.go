package identity_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/golden"
	"github.com/elevate-gitops/elevate/internal/identity"
	"github.com/elevate-gitops/elevate/internal/identity/oidcfake"
)

// Each refused token gets one line that names what did not match and says
// what to do; the broker sends it as the message of its 401 (or 503 when
// GitHub rate-limits the check). The tokens are those of the broker's tests
// (internal/broker), which compare its answers with these files:
// testdata/refused/<name>.golden.
func TestRefusalMessages(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	gh := githubfake.New(t)
	gh.Token(userTok, octocatUser)
	gh.OAuthApp("Iv1.0therapp0000000", "other-secret")
	gh.AppToken("Iv1.0therapp0000000", otherTok, octocatUser)
	limited := githubfake.New(t)
	limited.Break(checkRoute, githubfake.Fault{Status: http.StatusTooManyRequests, Message: "You have exceeded a secondary rate limit."})

	v := newVerifier(t, identity.Config{Issuer: iss.URL, GitHubAPIURL: gh.URL})
	mint := func(f func(*oidcfake.Claims)) string {
		c := oidcfake.Claims{Actor: "Codertocat", ActorID: 21031067}
		f(&c)
		return iss.Mint(c)
	}
	verifier := func(cfg identity.Config) *identity.Verifier {
		cfg.Issuer = iss.URL
		return newVerifier(t, cfg)
	}
	tests := []struct {
		name   string
		v      *identity.Verifier
		header string
	}{
		{"header-missing", v, ""},
		{"actions-no-repositories", verifier(identity.Config{Repositories: []identity.Repository{}}), "Bearer " + mint(func(*oidcfake.Claims) {})},
		{"actions-other-repository", v, "Bearer " + mint(func(c *oidcfake.Claims) { c.Repository = "mallory/trap" })},
		{"actions-other-owner", verifier(identity.Config{RepositoryOwners: []string{"acme"}}), "Bearer " + mint(func(*oidcfake.Claims) {})},
		{"actions-no-workflows", verifier(identity.Config{Workflows: []string{}}), "Bearer " + mint(func(*oidcfake.Claims) {})},
		{"actions-job-workflow-unlisted", v, "Bearer " + mint(func(c *oidcfake.Claims) {
			c.WorkflowRef = "octo-org/octo-repo/.github/workflows/review.yml@refs/heads/main"
		})},
		{"actions-workflow-unlisted", v, "Bearer " + mint(func(c *oidcfake.Claims) {
			c.WorkflowRef, c.JobWorkflowRef = "octo-org/octo-repo/.github/workflows/review.yml@refs/heads/main", oidcfake.DefaultWorkflowRef
		})},
		{"actions-ref-unprotected", v, "Bearer " + mint(func(c *oidcfake.Claims) { c.RefProtected = "false" })},
		{"actions-event", v, "Bearer " + mint(func(c *oidcfake.Claims) { c.EventName = "pull_request_review" })},
		{"actions-run-attempt", v, "Bearer " + mint(func(c *oidcfake.Claims) { c.RunAttempt = "2" })},
		{"actions-repository-not-found", verifier(identity.Config{RepositorySource: pending{Name: "octo-org/octo-repo", Definitive: true,
			Reason: "GitHub answered not found: the broker's App or token cannot see it"}}), "Bearer " + mint(func(*oidcfake.Claims) {})},
		{"actions-repository-unresolved", verifier(identity.Config{RepositorySource: pending{Name: "octo-org/octo-repo", Reason: "GitHub answered 500 Internal Server Error"}}),
			"Bearer " + mint(func(*oidcfake.Claims) {})},
		{"user-other-app", v, "Bearer " + otherTok},
		{"user-malformed", v, "Bearer not-a-github-token"},
		{"user-personal-access-token", v, "Bearer ghp_0123456789abcdefghijABCDEFGHIJ012345"},
		{"user-no-app", mustNew(t, identity.Config{GitHubAPIURL: gh.URL}), "Bearer " + userTok},
		{"user-rate-limited", newVerifier(t, identity.Config{GitHubAPIURL: limited.URL}), "Bearer " + userTok},
		{"user-app-credentials-refused", newVerifier(t, identity.Config{GitHubAPIURL: gh.URL, ClientID: githubfake.ClientID, ClientSecret: "wrong"}), "Bearer " + userTok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.v.Verify(context.Background(), tc.header)
			msg := message(err)
			if msg == "" || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("Verify error %v: message %q, want one line", err, msg)
			}
			golden.Assert(t, "refused/"+tc.name, msg+"\n")
		})
	}
}

// message is what the broker tells the caller for err.
func message(err error) string {
	var unauth *identity.UnauthenticatedError
	var limited *identity.RateLimitedError
	var up *identity.UpstreamError
	var unavail *identity.UnavailableError
	switch {
	case errors.As(err, &unauth):
		return unauth.Reason
	case errors.As(err, &limited):
		return limited.Reason()
	case errors.As(err, &up):
		return up.Reason
	case errors.As(err, &unavail):
		return unavail.Reason
	}
	return ""
}

// pending is a RepositorySource with one repository not resolved.
type pending identity.Unresolved

func (p pending) Repositories(context.Context) ([]identity.Repository, []identity.Unresolved) {
	return nil, []identity.Unresolved{identity.Unresolved(p)}
}

func mustNew(t *testing.T, cfg identity.Config) *identity.Verifier {
	t.Helper()
	v, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
