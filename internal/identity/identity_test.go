package identity_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/identity"
	"github.com/elevate-gitops/elevate/internal/identity/oidcfake"
)

const (
	audience = "elevate"
	userTok  = "gho_0123456789abcdefghijABCDEFGHIJ012345"
	otherTok = "gho_revokedrevokedrevokedrevokedrevoked1"

	// checkRoute is GitHub's "check a token" in the fake.
	checkRoute = "POST /applications/{client_id}/token"
)

// clock is an injectable, advanceable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// octocat is the caller most tests mint tokens for.
func octocat() oidcfake.Claims {
	return oidcfake.Claims{Actor: "octocat", ActorID: 583231, Audience: audience, Repository: "acme/access"}
}

// with returns octocat's claims changed by f.
func with(f func(*oidcfake.Claims)) oidcfake.Claims {
	c := octocat()
	f(&c)
	return c
}

func newVerifier(t testing.TB, cfg identity.Config) *identity.Verifier {
	t.Helper()
	if cfg.RepositoryOwners == nil {
		cfg.RepositoryOwners = []string{"octo-org", "acme"} // oidcfake's default owner, and octocat()'s
	}
	if cfg.Repositories == nil {
		cfg.Repositories = []identity.Repository{allowed("octo-org/octo-repo"), allowed("acme/access")}
	}
	if cfg.Workflows == nil {
		cfg.Workflows = []string{oidcfake.DefaultWorkflowRef, oidcfake.WorkflowRef("acme/access")}
	}
	if cfg.ClientID == "" && cfg.ClientSecret == "" {
		cfg.ClientID, cfg.ClientSecret = githubfake.ClientID, githubfake.ClientSecret
	}
	v, err := identity.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// allowed is repository as the broker resolves it through GitHub's API.
func allowed(repository string) identity.Repository {
	owner, _, _ := strings.Cut(repository, "/")
	return identity.Repository{Name: repository, ID: oidcfake.RepositoryID(repository), OwnerID: oidcfake.OwnerID(owner)}
}

// errorTexts returns the text of err and of every error it wraps.
func errorTexts(err error) []string {
	var out []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		out = append(out, e.Error(), fmt.Sprintf("%+v", e))
	}
	return out
}

// assertNoToken fails if any error text in err's chain holds tok.
func assertNoToken(t *testing.T, err error, tok string) {
	t.Helper()
	for _, s := range errorTexts(err) {
		if strings.Contains(s, tok) {
			t.Errorf("error text holds the token: %q", s)
		}
	}
}

// assertRefused checks Verify refused with a reason containing want.
func assertRefused(t *testing.T, id *identity.Identity, err error, want string) {
	t.Helper()
	if id != nil {
		t.Errorf("Verify returned identity %+v with error %v", id, err)
	}
	var ue *identity.UnauthenticatedError
	if !errors.As(err, &ue) {
		t.Fatalf("Verify error = %T %v, want *UnauthenticatedError", err, err)
	}
	if !strings.Contains(ue.Reason, want) {
		t.Errorf("Reason = %q, want it to contain %q", ue.Reason, want)
	}
}

// assertUpstream checks Verify failed with an *UpstreamError.
func assertUpstream(t *testing.T, id *identity.Identity, err error) {
	t.Helper()
	if id != nil {
		t.Errorf("Verify returned identity %+v with error %v", id, err)
	}
	var up *identity.UpstreamError
	if !errors.As(err, &up) {
		t.Fatalf("Verify error = %T %v, want *UpstreamError", err, err)
	}
	var ue *identity.UnauthenticatedError
	if errors.As(err, &ue) {
		t.Errorf("upstream failure also matches *UnauthenticatedError: %v", err)
	}
}

func TestVerifyJWT(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	v := newVerifier(t, identity.Config{Issuer: iss.URL, Audience: audience})
	now := time.Now()
	want := &identity.Identity{UserID: 583231, Login: "octocat", Via: "oidc", Workflow: "acme/access/.github/workflows/elevate.yml@refs/heads/main"}

	valid := iss.Mint(octocat())
	parts := strings.Split(valid, ".")
	forged := iss.Mint(with(func(c *oidcfake.Claims) { c.ActorID = 1 }))
	tampered := parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]

	tests := []struct {
		name       string
		token      string
		want       *identity.Identity
		wantReason string // for refusals
	}{
		{name: "valid", token: valid, want: want},
		{name: "actor_id as JSON number", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.Extra = map[string]any{"actor_id": 583231}
		})), want: want},
		{name: "sub claiming another user is ignored", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.Subject = "repo:acme/access:actor:admin:actor_id:1"
			c.Extra = map[string]any{"user_id": 1, "login": "admin"}
		})), want: want},
		{name: "audience elsewhere in a list", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.Extra = map[string]any{"aud": []string{"sts.amazonaws.com", audience}}
		})), want: want},

		{name: "wrong audience", token: iss.Mint(with(func(c *oidcfake.Claims) { c.Audience = "sts.amazonaws.com" })),
			wantReason: "audience"},
		{name: "wrong issuer", token: iss.MintWithIssuer(octocat(), "https://token.actions.githubusercontent.com"),
			wantReason: "not issued by"},
		{name: "expired", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.IssuedAt, c.ExpiresAt = now.Add(-20*time.Minute), now.Add(-10*time.Minute)
		})), wantReason: "expired"},
		{name: "no exp", token: iss.Mint(with(func(c *oidcfake.Claims) { c.Extra = map[string]any{"exp": nil} })),
			wantReason: "expired"},
		{name: "not yet valid", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.IssuedAt, c.ExpiresAt = now.Add(30*time.Minute), now.Add(40*time.Minute)
		})), wantReason: "not valid yet"},
		{name: "alg none", token: iss.MintUnsigned(octocat()), wantReason: "RS256"},
		{name: "unknown key", token: iss.MintWithUnknownKey(octocat()), wantReason: "signature"},
		{name: "HS256 keyed with the public key", token: iss.MintHS256(octocat(), iss.PublicKeyPEM()),
			wantReason: "RS256"},
		{name: "tampered payload", token: tampered, wantReason: "signature"},
		{name: "missing actor_id", token: iss.Mint(with(func(c *oidcfake.Claims) { c.ActorID = 0 })),
			wantReason: "actor_id"},
		{name: "non-numeric actor_id", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.Extra = map[string]any{"actor_id": "octocat"}
		})), wantReason: "actor_id"},
		{name: "negative actor_id", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.Extra = map[string]any{"actor_id": "-583231"}
		})), wantReason: "actor_id"},
		{name: "zero actor_id", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.Extra = map[string]any{"actor_id": "0"}
		})), wantReason: "actor_id"},
		{name: "fractional actor_id", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.Extra = map[string]any{"actor_id": 583231.5}
		})), wantReason: "actor_id"},
		{name: "actor_id overflowing int64", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.Extra = map[string]any{"actor_id": "99999999999999999999"}
		})), wantReason: "actor_id"},
		{name: "actor_id as an object", token: iss.Mint(with(func(c *oidcfake.Claims) {
			c.Extra = map[string]any{"actor_id": map[string]int{"id": 583231}}
		})), wantReason: "actor_id"},
		{name: "missing actor", token: iss.Mint(with(func(c *oidcfake.Claims) { c.Actor = "" })),
			wantReason: "actor"},
		{name: "three garbage segments", token: "aaaa.bbbb.cccc", wantReason: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(context.Background(), "Bearer "+tc.token)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if diff := cmp.Diff(tc.want, id); diff != "" {
					t.Errorf("identity (-want +got):\n%s", diff)
				}
				return
			}
			assertRefused(t, id, err, tc.wantReason)
			assertNoToken(t, err, tc.token)
		})
	}
}

func TestVerifyJWTExpiredUsesInjectedClock(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	clk := newClock()
	v := newVerifier(t, identity.Config{Issuer: iss.URL, Now: clk.Now})
	tok := iss.Mint(with(func(c *oidcfake.Claims) { c.IssuedAt, c.ExpiresAt = clk.Now(), clk.Now().Add(5*time.Minute) }))
	if _, err := v.Verify(context.Background(), "Bearer "+tok); err != nil {
		t.Fatalf("Verify before expiry: %v", err)
	}
	clk.Advance(6 * time.Minute)
	id, err := v.Verify(context.Background(), "Bearer "+tok)
	assertRefused(t, id, err, "expired")
}

func TestNewDoesNotReachTheNetwork(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	gh := githubfake.New(t)
	if _, err := identity.New(identity.Config{Issuer: iss.URL, GitHubAPIURL: gh.URL}); err != nil {
		t.Fatalf("New: %v", err)
	}
	if d, j, g := iss.DiscoveryCalls(), iss.JWKSCalls(), gh.TotalCalls(); d+j+g != 0 {
		t.Errorf("New made requests: discovery %d, JWKS %d, GitHub %d; want none", d, j, g)
	}
}

func TestVerifyJWTIssuerUnreachableFailsClosedThenRecovers(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	iss.SetUnreachable(true)
	v, err := identity.New(identity.Config{Issuer: iss.URL, Audience: audience, RepositoryOwners: []string{"octo-org", "acme"},
		Repositories: []identity.Repository{allowed("octo-org/octo-repo"), allowed("acme/access")}, Workflows: []string{oidcfake.WorkflowRef("acme/access")}})
	if err != nil {
		t.Fatalf("New with the issuer down: %v (the broker must start while the issuer is unreachable)", err)
	}
	tok := iss.Mint(octocat())
	for i := range 2 { // and retried, not remembered as failed
		id, err := v.Verify(context.Background(), "Bearer "+tok)
		assertUpstream(t, id, err)
		assertNoToken(t, err, tok)
		if i == 0 && !strings.Contains(err.Error(), "discovery") {
			t.Errorf("error %q does not say discovery failed", err)
		}
	}

	iss.SetUnreachable(false)
	id, err := v.Verify(context.Background(), "Bearer "+tok)
	if err != nil {
		t.Fatalf("Verify after the issuer came back: %v", err)
	}
	if id.UserID != 583231 {
		t.Errorf("UserID = %d, want 583231", id.UserID)
	}
}

func TestVerifyJWTCachesDiscoveryAndKeys(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	v := newVerifier(t, identity.Config{Issuer: iss.URL})
	tok := iss.Mint(octocat())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), "Bearer "+tok); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	wg.Wait()
	if d, j := iss.DiscoveryCalls(), iss.JWKSCalls(); d != 1 || j != 1 {
		t.Errorf("discovery calls %d, JWKS calls %d; want 1 and 1", d, j)
	}
}

// A token naming an unknown kid refetches the JWKS at once, but each kid at
// most once per 5 s, and any two such refetches at least a second apart:
// forged kids cannot flood the issuer.
func TestVerifyJWTUnknownKeyRefetchIsRateLimited(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	clk := newClock()
	v := newVerifier(t, identity.Config{Issuer: iss.URL, Now: clk.Now})
	claims := with(func(c *oidcfake.Claims) { c.IssuedAt, c.ExpiresAt = clk.Now(), clk.Now().Add(time.Hour) })
	if _, err := v.Verify(context.Background(), "Bearer "+iss.Mint(claims)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	forged := iss.MintWithUnknownKey(claims)
	for range 10 {
		id, err := v.Verify(context.Background(), "Bearer "+forged)
		assertRefused(t, id, err, "signature")
	}
	if got := iss.JWKSCalls(); got != 2 {
		t.Errorf("JWKS calls after 10 tokens with one unknown kid = %d, want 2 (one refetch for the kid)", got)
	}
	clk.Advance(4 * time.Second)
	assertRefused(t, nil, verifyErr(v, forged), "signature")
	if got := iss.JWKSCalls(); got != 2 {
		t.Errorf("the same kid 4 s later refetched: %d calls", got)
	}
	clk.Advance(2 * time.Second)
	assertRefused(t, nil, verifyErr(v, forged), "signature")
	if got := iss.JWKSCalls(); got != 3 {
		t.Errorf("the same kid 6 s later: %d calls, want 3", got)
	}
	// A flood of distinct forged kids: at most one refetch a second.
	clk.Advance(time.Minute)
	before := iss.JWKSCalls()
	for i := range 100 {
		assertRefused(t, nil, verifyErr(v, iss.MintWithKid(claims, fmt.Sprintf("forged-%d", i))), "signature")
		if i%10 == 9 {
			clk.Advance(time.Second)
		}
	}
	if got := iss.JWKSCalls() - before; got > 11 {
		t.Errorf("100 forged kids over 10 s caused %d refetches, want at most 11", got)
	}
}

// A key the issuer has just rotated in is accepted at once; a kid it never
// published is still refused.
func TestVerifyJWTRotatedKeyAcceptedAtOnce(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	clk := newClock()
	v := newVerifier(t, identity.Config{Issuer: iss.URL, Now: clk.Now})
	claims := with(func(c *oidcfake.Claims) { c.IssuedAt, c.ExpiresAt = clk.Now(), clk.Now().Add(time.Hour) })
	if _, err := v.Verify(context.Background(), "Bearer "+iss.Mint(claims)); err != nil {
		t.Fatal(err)
	}
	iss.Rotate()
	start := time.Now()
	if _, err := v.Verify(context.Background(), "Bearer "+iss.Mint(claims)); err != nil {
		t.Fatalf("a token signed with the rotated key: %v", err)
	}
	t.Logf("rotated key accepted %s after rotation, with %d JWKS fetches", time.Since(start).Round(time.Millisecond), iss.JWKSCalls())
	if got := iss.JWKSCalls(); got != 2 {
		t.Errorf("JWKS calls = %d, want 2 (the first fetch, and one for the rotated kid)", got)
	}
	assertRefused(t, nil, verifyErr(v, iss.MintWithUnknownKey(claims)), "signature")
}

func verifyErr(v *identity.Verifier, token string) error {
	_, err := v.Verify(context.Background(), "Bearer "+token)
	return err
}

func TestVerifyJWTStaleKeysFailClosedWhenJWKSUnreachable(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	clk := newClock()
	v := newVerifier(t, identity.Config{Issuer: iss.URL, Now: clk.Now})
	if _, err := v.Verify(context.Background(), "Bearer "+iss.Mint(octocat())); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	clk.Advance(2 * time.Hour)
	iss.SetUnreachable(true)
	tok := iss.Mint(with(func(c *oidcfake.Claims) { c.IssuedAt, c.ExpiresAt = clk.Now(), clk.Now().Add(5*time.Minute) }))
	id, err := v.Verify(context.Background(), "Bearer "+tok)
	assertUpstream(t, id, err)

	iss.SetUnreachable(false)
	if _, err := v.Verify(context.Background(), "Bearer "+tok); err != nil {
		t.Fatalf("Verify after the JWKS came back: %v", err)
	}
	if got := iss.JWKSCalls(); got != 2 {
		t.Errorf("JWKS calls = %d, want 2", got)
	}
}

func TestVerifyJWTCanceledContext(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	iss.SetUnreachable(true)
	v := newVerifier(t, identity.Config{Issuer: iss.URL})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id, err := v.Verify(ctx, "Bearer "+iss.Mint(octocat()))
	assertUpstream(t, id, err)
}

func TestVerifyMalformedAuthorization(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	gh := githubfake.New(t)
	v := newVerifier(t, identity.Config{Issuer: iss.URL, GitHubAPIURL: gh.URL})
	tests := []struct {
		name, header, wantReason string
	}{
		{"empty", "", "missing Authorization"},
		{"blank", "   ", "missing Authorization"},
		{"Basic", "Basic x", "scheme"},
		{"Basic with credentials", "Basic b2N0b2NhdDpwYXNzd29yZA==", "scheme"},
		{"token scheme", "token " + userTok, "scheme"},
		{"Bearer alone", "Bearer", "no token"},
		{"Bearer and space", "Bearer ", "no token"},
		{"Bearer glued", "Bearer" + userTok, "scheme"},
		{"two tokens", "Bearer " + userTok + " " + otherTok, "malformed"},
		{"control character", "Bearer ghp_abc\x00def", "malformed"},
		{"newline", "Bearer ghp_abc\r\nX-Evil: 1", "malformed"},
		{"non-ASCII", "Bearer ghp_ábc", "malformed"},
		{"only padding", "Bearer ===", "malformed"},
		{"user token with a slash", "Bearer ghp_abc/def", "malformed"},
		{"too long", "Bearer " + strings.Repeat("a", 17<<10), "longer than"},
		{"user token too long", "Bearer ghp_" + strings.Repeat("a", 300), "malformed"},
		{"JSON serialised JWS", `Bearer {"payload":"x"}`, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(context.Background(), tc.header)
			assertRefused(t, id, err, tc.wantReason)
			if strings.Contains(tc.header, userTok) {
				assertNoToken(t, err, userTok)
			}
		})
	}
	t.Cleanup(func() {
		if d, j, g := iss.DiscoveryCalls(), iss.JWKSCalls(), gh.TotalCalls(); d+j+g != 0 {
			t.Errorf("malformed headers reached the network: discovery %d, JWKS %d, GitHub %d", d, j, g)
		}
	})
}

func TestErrorsNeverContainTheToken(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	down := oidcfake.New(t)
	down.SetUnreachable(true)
	gh := githubfake.New(t)
	gh.Token(userTok, &github.User{Login: github.String("octocat"), ID: github.Int64(583231)})
	v := newVerifier(t, identity.Config{Issuer: iss.URL, GitHubAPIURL: gh.URL})
	vDown := newVerifier(t, identity.Config{Issuer: down.URL, GitHubAPIURL: githubAnswering(t, http.StatusInternalServerError, nil)})
	tests := []struct {
		name  string
		v     *identity.Verifier
		token string
	}{
		{"wrong audience", v, iss.Mint(with(func(c *oidcfake.Claims) { c.Audience = "other" }))},
		{"unknown key", v, iss.MintWithUnknownKey(octocat())},
		{"alg none", v, iss.MintUnsigned(octocat())},
		{"revoked user token", v, otherTok},
		{"issuer unreachable", vDown, down.Mint(octocat())},
		{"GitHub 500", vDown, userTok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := tc.v.Verify(context.Background(), "Bearer "+tc.token)
			if err == nil || id != nil {
				t.Fatalf("Verify = %+v, %v; want an error", id, err)
			}
			assertNoToken(t, err, tc.token)
		})
	}
}

func TestNewConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     identity.Config
		wantErr string // "": valid
	}{
		{name: "zero value", cfg: identity.Config{}},
		{name: "GitHub Enterprise", cfg: identity.Config{GitHubAPIURL: "https://ghe.example.com/api/v3"}},
		{name: "issuer with trailing slash", cfg: identity.Config{Issuer: "https://token.actions.githubusercontent.com/"}},
		{name: "TTL at the maximum", cfg: identity.Config{UserCacheTTL: time.Minute}},
		{name: "TTL over the maximum", cfg: identity.Config{UserCacheTTL: time.Minute + time.Second}, wantErr: "TTL"},
		{name: "elevate's app", cfg: identity.Config{ClientID: "Iv1.0123456789abcdef", ClientSecret: "s"}},
		{name: "client id without secret", cfg: identity.Config{ClientID: "Iv1.0123456789abcdef"}, wantErr: "client secret"},
		{name: "client secret without id", cfg: identity.Config{ClientSecret: "s"}, wantErr: "client id"},
		{name: "client id with a slash", cfg: identity.Config{ClientID: "Iv1/../../user", ClientSecret: "s"}, wantErr: "client id"},
		{name: "listed workflows", cfg: identity.Config{Workflows: []string{"acme/deploy-tools/.github/workflows/elevate.yml@refs/heads/main",
			"acme/deploy-tools/.github/workflows/db.yaml@refs/heads/release/v2"}}},
		{name: "workflow without its ref", cfg: identity.Config{Workflows: []string{"acme/deploy-tools/.github/workflows/elevate.yml"}}, wantErr: "OWNER/NAME/.github/workflows/FILE.yml@refs/heads/BRANCH"},
		{name: "workflow on a tag", cfg: identity.Config{Workflows: []string{"acme/deploy-tools/.github/workflows/elevate.yml@refs/tags/v1"}}, wantErr: "refs/heads"},
		{name: "workflow by a glob", cfg: identity.Config{Workflows: []string{"acme/*/.github/workflows/elevate.yml@refs/heads/main"}}, wantErr: "workflow"},
		{name: "workflow file path only", cfg: identity.Config{Workflows: []string{".github/workflows/elevate.yml@refs/heads/main"}}, wantErr: "workflow"},
		{name: "negative TTL", cfg: identity.Config{UserCacheTTL: -time.Second}, wantErr: "TTL"},
		{name: "plain http issuer", cfg: identity.Config{Issuer: "http://issuer.example.com"}, wantErr: "https"},
		{name: "issuer with credentials", cfg: identity.Config{Issuer: "https://u:p@issuer.example.com"}, wantErr: "credentials"},
		{name: "issuer without host", cfg: identity.Config{Issuer: "https://"}, wantErr: "host"},
		{name: "plain http GitHub", cfg: identity.Config{GitHubAPIURL: "http://github.example.com"}, wantErr: "https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := identity.New(tc.cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("New error = %v, want one containing %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), ":p@") {
				t.Errorf("New error %q repeats a password", err)
			}
		})
	}
}

func BenchmarkVerifyJWT(b *testing.B) {
	iss := oidcfake.New(b)
	v := newVerifier(b, identity.Config{Issuer: iss.URL})
	header := "Bearer " + iss.Mint(with(func(c *oidcfake.Claims) { c.ExpiresAt = time.Now().Add(time.Hour) }))
	ctx := context.Background()
	if _, err := v.Verify(ctx, header); err != nil {
		b.Fatalf("Verify: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, header); err != nil {
			b.Fatalf("Verify: %v", err)
		}
	}
}

// BenchmarkVerifyUserTokenCached verifies a user token whose application
// token check is cached: no GitHub call after the first.
func BenchmarkVerifyUserTokenCached(b *testing.B) {
	gh := githubfake.New(b)
	gh.Token(userTok, &github.User{Login: github.String("octocat"), ID: github.Int64(583231)})
	v := newVerifier(b, identity.Config{GitHubAPIURL: gh.URL})
	header := "Bearer " + userTok
	ctx := context.Background()
	if _, err := v.Verify(ctx, header); err != nil {
		b.Fatalf("Verify: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, header); err != nil {
			b.Fatalf("Verify: %v", err)
		}
	}
	assertCalls(b, gh, 1)
}

// Any workflow anywhere can mint a token for audience elevate with the actor
// who triggered it: only the listed repositories' tokens are accepted, by
// id, and the owner list, when set, must pass too.
func TestOIDCTokenSourceMustBeAListedRepository(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	// Every workflow is listed: the repository is what refuses.
	workflows := []string{oidcfake.WorkflowRef("octo-org/access"), oidcfake.WorkflowRef("octo-org/issue-bot"), oidcfake.WorkflowRef("mallory/stars-trap")}
	v := newVerifier(t, identity.Config{Issuer: iss.URL, RepositoryOwners: []string{"Octo-Org"}, Repositories: []identity.Repository{allowed("octo-org/access")}, Workflows: workflows})
	var unauth *identity.UnauthenticatedError
	ok := iss.Mint(oidcfake.Claims{Actor: "alice", ActorID: 7, Repository: "octo-org/access"})
	if id, err := v.Verify(context.Background(), "Bearer "+ok); err != nil || id.UserID != 7 {
		t.Fatalf("listed repository: %v %v", id, err)
	}
	for name, token := range map[string]string{
		"a repository not listed, same organisation": iss.Mint(oidcfake.Claims{Actor: "alice", ActorID: 7, Repository: "octo-org/issue-bot"}),
		"another organisation":                       iss.Mint(oidcfake.Claims{Actor: "alice", ActorID: 7, Repository: "mallory/stars-trap"}),
		// The organisation was deleted and its name reclaimed: names match, ids do not.
		"owner name matches, owner id does not": iss.Mint(oidcfake.Claims{Actor: "alice", ActorID: 7, Repository: "octo-org/access",
			Extra: map[string]any{"repository_owner_id": "99999"}}),
		"repository id does not match": iss.Mint(oidcfake.Claims{Actor: "alice", ActorID: 7, Repository: "octo-org/access",
			Extra: map[string]any{"repository_id": "12345"}}),
		"no repository_id claim": iss.Mint(oidcfake.Claims{Actor: "alice", ActorID: 7, Repository: "octo-org/access",
			Extra: map[string]any{"repository_id": nil}}),
	} {
		if _, err := v.Verify(context.Background(), "Bearer "+token); !errors.As(err, &unauth) {
			t.Errorf("%s: err = %v, want unauthenticated", name, err)
		}
	}
	narrower := newVerifier(t, identity.Config{Issuer: iss.URL, RepositoryOwners: []string{"someone-else"}, Repositories: []identity.Repository{allowed("octo-org/access")}, Workflows: workflows})
	if _, err := narrower.Verify(context.Background(), "Bearer "+ok); !errors.As(err, &unauth) {
		t.Errorf("owner list not passed: err = %v, want unauthenticated", err)
	}
	none := newVerifier(t, identity.Config{Issuer: iss.URL, Repositories: []identity.Repository{}, Workflows: workflows})
	if _, err := none.Verify(context.Background(), "Bearer "+ok); !errors.As(err, &unauth) || !strings.Contains(err.Error(), "--oidc-repositories") {
		t.Fatalf("no repositories configured: err = %v, want unauthenticated naming --oidc-repositories", err)
	}
}
