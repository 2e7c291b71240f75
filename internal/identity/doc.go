// Package identity says who is calling the broker.
//
// Every broker request carries "Authorization: Bearer <token>", where the
// token is either a GitHub Actions OIDC JWT or a GitHub user token
// (README, "API"). Verifier.Verify turns the header into an Identity whose
// UserID, the numeric GitHub user id, is the identity everywhere; Login is
// for display and session names only.
//
// OIDC JWTs are verified with github.com/coreos/go-oidc/v3 against the
// configured issuer and audience, RS256 only, with keys from the issuer's
// JWKS. The identity comes from the actor_id and actor claims; sub is never
// parsed for identity, because its format varies by repository and can be
// customised. Discovery is lazy: New never reaches the network, so the
// broker starts while the issuer is down, and a failed discovery is retried
// on the next JWT. The JWKS is cached; a token naming a key the cache does
// not hold triggers a refetch at most once per keyRefetchInterval, so
// forged tokens cannot make the broker hammer the issuer, and cached keys
// are refreshed after keyMaxAge so a key the issuer withdraws stops being
// trusted.
//
// User tokens are verified by GET {api}/user through githubapi.NewClient.
// Successful lookups are cached by the SHA-256 of the token for at most
// five minutes (so a revoked token keeps working for up to that long);
// failures are not cached. The raw token is never stored, logged or put in
// an error.
//
// Every refusal is an *UnauthenticatedError (the broker answers 401);
// failures to reach the issuer or GitHub are *UpstreamError (502). Either
// way Verify returns no Identity: a verification that cannot complete never
// succeeds.
package identity
