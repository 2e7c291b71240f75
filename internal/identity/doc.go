// Package identity says who is calling the broker.
//
// Every broker request carries "Authorization: Bearer <token>", where the
// token is either a GitHub Actions OIDC JWT or a GitHub user token of
// elevate's own app (docs/broker.md, "API"). Verifier.Verify turns the header into an Identity whose
// UserID, the numeric GitHub user id, is the identity everywhere; Login is
// for display and session names only.
//
// OIDC JWTs are verified with github.com/coreos/go-oidc/v3 against the
// configured issuer and audience, RS256 only, with keys from the issuer's
// JWKS. The identity comes from the actor_id and actor claims; sub is never
// parsed for identity, because its format varies by repository and can be
// customised. A token speaks for its actor only from code that person chose
// to run: a workflow of a listed repository (Config.Repositories, by id)
// whose job_workflow_ref and workflow_ref are both listed exactly
// (Config.Workflows), on a protected ref (ref_protected), triggered by a
// listed event (Config.Events, default workflow_dispatch), on the first
// attempt of its run (run_attempt "1": a re-run keeps the first run's
// actor, whoever re-runs it). Discovery is lazy: New never reaches the
// network, so the broker starts while the issuer is down, and a failed
// discovery is retried on the next JWT. The JWKS is cached; a token naming a
// key the cache does not hold triggers a refetch at most once per
// unknownKidInterval, so forged tokens cannot make the broker hammer the
// issuer, and cached keys are refreshed after keyMaxAge so a key the issuer
// withdraws stops being trusted.
//
// A user token counts only when GitHub says it was issued to elevate's own
// app (Config.ClientID and ClientSecret): GitHub's "check a token" API,
// POST {api}/applications/{client_id}/token with the app's credentials,
// answers the token's user. Otherwise a token the person once gave any
// other app, or a personal access token, would be enough to act as them.
// A token not shaped like an app's user token (gho_, ghu_, or a classic
// 40-hex one) is refused before any call. Answers and refusals are cached by
// the SHA-256 of the token for at most a minute, and concurrent requests
// with one token share one check, so a token costs at most one GitHub call
// a minute. The raw token is never stored, logged or put in an error.
//
// Every refusal is an *UnauthenticatedError (the broker answers 401) whose
// Reason is one line saying what did not match and what to do; GitHub
// rate-limiting the check is a *RateLimitedError (503: nobody can be told
// apart, which is no refusal); failures to reach the issuer or GitHub, or
// GitHub refusing the app's own credentials, are *UpstreamError (502).
// Either way Verify returns no Identity: a verification that cannot
// complete never succeeds.
package identity
