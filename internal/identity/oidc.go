package identity

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

const (
	// A token naming a key the cache lacks refetches the JWKS at once, so a
	// rotated key is accepted without delay; but each unknown kid at most
	// once per unknownKidInterval, and any two such refetches at least
	// refetchSpacing apart, so forged kids cannot flood the issuer.
	unknownKidInterval = 5 * time.Second
	refetchSpacing     = time.Second
	maxTrackedKids     = 1024
	// keyMaxAge: cached keys older than this are refetched before use, so
	// a key the issuer withdraws stops verifying tokens.
	keyMaxAge = time.Hour
	// minRSABits is the smallest RSA key accepted from the JWKS.
	minRSABits = 2048
)

// signingAlgs is the only algorithm GitHub Actions uses. Refusing any other
// shuts out "none" and HS256-with-the-public-key confusion.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256}

// issuer verifies JWTs of one OIDC issuer, discovering it lazily.
type issuer struct {
	url      string
	audience string
	client   *http.Client
	now      func() time.Time

	mu          sync.Mutex
	state       *issuerState          // nil until discovery succeeds
	discovering *flight[*issuerState] // the discovery in progress, if any
}

// issuerState is what discovery yields.
type issuerState struct {
	verifier *oidc.IDTokenVerifier
	keys     *keySet
}

func newIssuer(url, audience string, client *http.Client, now func() time.Time) *issuer {
	return &issuer{url: url, audience: audience, client: client, now: now}
}

// actorClaims are the claims identity is taken from, and those that say
// which code ran and why. sub is deliberately absent.
type actorClaims struct {
	Actor             string          `json:"actor"`
	ActorID           json.RawMessage `json:"actor_id"`
	Repository        string          `json:"repository"`
	RepositoryOwner   string          `json:"repository_owner"`
	RepositoryID      json.RawMessage `json:"repository_id"`
	RepositoryOwnerID json.RawMessage `json:"repository_owner_id"`
	WorkflowRef       string          `json:"workflow_ref"`
	JobWorkflowRef    string          `json:"job_workflow_ref"`
	EventName         string          `json:"event_name"`
	Ref               string          `json:"ref"`
	RefProtected      json.RawMessage `json:"ref_protected"`
	RunAttempt        json.RawMessage `json:"run_attempt"`
}

// verifyJWT verifies a GitHub Actions OIDC token.
func (v *Verifier) verifyJWT(ctx context.Context, token string) (*Identity, error) {
	jws, err := jose.ParseSignedCompact(token, signingAlgs)
	if err != nil {
		return nil, unauthenticated("malformed token or signing algorithm other than RS256: send "+tokenKinds, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, unauthenticated("token must carry exactly one signature: send the OIDC token as GitHub Actions issued it", nil)
	}
	st, err := v.oidc.discover(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.keys.ensure(ctx, jws.Signatures[0].Header.KeyID); err != nil {
		return nil, err
	}
	idt, err := st.verifier.Verify(ctx, token)
	if err != nil {
		return nil, v.oidc.refusal(err)
	}
	var c actorClaims
	if err := idt.Claims(&c); err != nil {
		return nil, unauthenticated("token claims are not a JSON object: send the OIDC token as GitHub Actions issued it", err)
	}
	uid, err := parseActorID(c.ActorID)
	if err != nil {
		return nil, unauthenticated("token actor_id claim: "+err.Error()+": send the OIDC token as GitHub Actions issued it", nil)
	}
	if c.Actor == "" {
		return nil, unauthenticated("token has no actor claim: send the OIDC token as GitHub Actions issued it", nil)
	}
	if err := v.allowedSource(ctx, c); err != nil {
		return nil, err
	}
	if err := v.trustedRun(c); err != nil {
		return nil, err
	}
	return &Identity{UserID: uid, Login: c.Actor, Via: ViaOIDC, Workflow: c.WorkflowRef}, nil
}

// allowedSource checks that the token comes from a workflow of an allowed
// repository, by id, and of an allowed owner when that list is set.
func (v *Verifier) allowedSource(ctx context.Context, c actorClaims) error {
	repos, unresolved := v.repos.Repositories(ctx)
	if len(repos) == 0 && len(unresolved) == 0 {
		return unauthenticated("this broker accepts no GitHub Actions tokens (--oidc-repositories is not set): run `elevate login` and send the token it stores", nil)
	}
	repoID, err1 := parseID(c.RepositoryID)
	ownerID, err2 := parseID(c.RepositoryOwnerID)
	if err1 != nil || err2 != nil {
		return unauthenticated("token has no numeric repository_id and repository_owner_id claims: send the OIDC token as GitHub Actions issued it", nil)
	}
	if !slices.ContainsFunc(repos, func(r Repository) bool { return r.ID == repoID && r.OwnerID == ownerID }) {
		// A token of a listed repository the broker has not resolved: only
		// its name says so, which proves nothing, so it is refused either
		// way; when GitHub is failing, the answer is "not now".
		if i := slices.IndexFunc(unresolved, func(u Unresolved) bool { return strings.EqualFold(u.Name, c.Repository) }); i >= 0 {
			u := unresolved[i]
			msg := fmt.Sprintf("the broker could not resolve %s of --oidc-repositories to its id (%s), so its Actions tokens are refused until it can", shown(u.Name), u.Reason)
			if u.Definitive {
				return unauthenticated(msg+": install elevate's GitHub App on that repository, or use `elevate login`", nil)
			}
			return &UnavailableError{Reason: msg + "; try again in a minute", RetryAfter: u.RetryAfter}
		}
		return unauthenticated(fmt.Sprintf("the token comes from a workflow of %s, outside --oidc-repositories (matched by repository and owner id): ask for the repository to be listed in --oidc-repositories", shown(c.Repository)), nil)
	}
	if len(v.owners) > 0 && !slices.ContainsFunc(v.owners, func(o string) bool { return strings.EqualFold(o, c.RepositoryOwner) }) {
		return unauthenticated(fmt.Sprintf("the token comes from a workflow of %s, outside the organisations of --oidc-repository-owner: ask for the organisation to be listed in --oidc-repository-owner", shown(c.RepositoryOwner)), nil)
	}
	return nil
}

// trustedRun checks that the token speaks for its actor: a listed workflow
// (both the job's and the run's) on a protected ref, run because the actor
// chose to run it (a listed event), on the run's first attempt (a re-run
// keeps the first run's actor, whoever re-runs it).
func (v *Verifier) trustedRun(c actorClaims) error {
	listed := func(ref string) bool { return ref != "" && slices.Contains(v.workflows, ref) }
	switch {
	case len(v.workflows) == 0:
		return unauthenticated("this broker lets no workflow speak for its actor (--oidc-workflows is not set): ask for the workflow to be listed in --oidc-workflows, or run `elevate login` and send the token it stores", nil)
	case !listed(c.JobWorkflowRef):
		return unauthenticated(fmt.Sprintf("the workflow %s (job_workflow_ref) is not listed in --oidc-workflows: ask for the workflow to be listed in --oidc-workflows", shown(c.JobWorkflowRef)), nil)
	case !listed(c.WorkflowRef):
		return unauthenticated(fmt.Sprintf("the calling workflow %s (workflow_ref) is not listed in --oidc-workflows, and a listed workflow called from it is not enough: ask for the workflow to be listed in --oidc-workflows", shown(c.WorkflowRef)), nil)
	case !isTrue(c.RefProtected):
		return unauthenticated(fmt.Sprintf("the run's ref %s is not protected (ref_protected is %s): run the workflow from a protected branch", shown(c.Ref), rawShown(c.RefProtected)), nil)
	case !slices.Contains(v.events, c.EventName):
		return unauthenticated(fmt.Sprintf("the run was triggered by %s (event_name), not by one of --oidc-events (%s): start the workflow yourself with %s", shown(c.EventName), strings.Join(v.events, ", "), strings.Join(v.events, " or ")), nil)
	}
	if a := string(c.RunAttempt); a != `"1"` && a != "1" {
		return unauthenticated(fmt.Sprintf("the token comes from attempt %s of its run (run_attempt), and a re-run keeps the first run's actor: start a new run of the workflow instead of re-running one", rawShown(c.RunAttempt)), nil)
	}
	return nil
}

// workflowRefShape is an exact workflow ref as GitHub puts it in
// workflow_ref and job_workflow_ref, on a branch.
var workflowRefShape = regexp.MustCompile(`^[A-Za-z0-9-]+/[A-Za-z0-9._-]+/\.github/workflows/[^/@\s]+\.ya?ml@refs/heads/\S+$`)

// CheckWorkflowRef checks that ref is a workflow as Config.Workflows lists
// it: OWNER/NAME/.github/workflows/FILE.yml@refs/heads/BRANCH.
func CheckWorkflowRef(ref string) error {
	if !workflowRefShape.MatchString(ref) {
		return fmt.Errorf("workflow %q: give it as OWNER/NAME/.github/workflows/FILE.yml@refs/heads/BRANCH, exactly as GitHub names it in workflow_ref", ref)
	}
	return nil
}

// isTrue reports whether a boolean claim is true, as GitHub sends it (the
// string "true") or as a JSON true. Anything else is false.
func isTrue(raw json.RawMessage) bool {
	return string(raw) == "true" || string(raw) == `"true"`
}

// maxShown bounds a claim quoted in a refusal.
const maxShown = 200

// shown quotes a claim for a one-line refusal: Go-quoted (no control
// character or newline survives) and bounded.
func shown(s string) string {
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return strconv.Quote(s)
}

// rawShown is shown for a claim of any JSON type: a string quoted, any
// other value as its JSON, a missing claim as "missing".
func rawShown(raw json.RawMessage) string {
	var s string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "missing"
	case json.Unmarshal(raw, &s) == nil:
		return shown(s)
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil {
		return "malformed"
	}
	s = compact.String()
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return s
}

// parseActorID accepts a positive integer given as a string of digits, as
// GitHub sends it, or as a JSON number.
func parseActorID(raw json.RawMessage) (int64, error) { return parseID(raw) }

// parseID reads one of GitHub's numeric id claims.
func parseID(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("missing")
	}
	digits := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &digits); err != nil {
			return 0, errors.New("not a string or number")
		}
	}
	if digits == "" || len(digits) > 19 {
		return 0, errors.New("not a GitHub user id")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, errors.New("not a GitHub user id")
		}
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || id <= 0 {
		return 0, errors.New("not a GitHub user id")
	}
	return id, nil
}

// refusal turns a go-oidc verification error into a refusal whose reason
// names the failed check. Matching go-oidc's messages only picks the
// wording: every branch refuses.
func (is *issuer) refusal(err error) *UnauthenticatedError {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return unauthenticated("token expired at "+expired.Expiry.UTC().Format(time.RFC3339)+": request a new OIDC token in the workflow just before calling the broker", err)
	case strings.Contains(msg, "different provider"):
		return unauthenticated(fmt.Sprintf("token was not issued by %s: send a GitHub Actions OIDC token of that issuer", is.url), err)
	case strings.Contains(msg, "audience"):
		return unauthenticated(fmt.Sprintf("token audience is not %q: request the OIDC token for audience %q", is.audience, is.audience), err)
	case strings.Contains(msg, "nbf"):
		return unauthenticated("token is not valid yet: try again in a minute", err)
	case strings.Contains(msg, "signature"):
		return unauthenticated("token signature does not verify with the issuer's keys: send the OIDC token as GitHub Actions issued it", err)
	default:
		return unauthenticated("invalid token: send "+tokenKinds, err)
	}
}

// discover returns the issuer's state, running discovery if it has not
// succeeded yet. Concurrent callers share one attempt; a failed attempt is
// retried by the next caller.
func (is *issuer) discover(ctx context.Context) (*issuerState, error) {
	is.mu.Lock()
	if st := is.state; st != nil {
		is.mu.Unlock()
		return st, nil
	}
	f := is.discovering
	if f == nil {
		f = newFlight[*issuerState]()
		is.discovering = f
		go func() {
			st, err := is.runDiscovery()
			is.mu.Lock()
			if err == nil {
				is.state = st
			}
			is.discovering = nil
			is.mu.Unlock()
			f.finish(st, err)
		}()
	}
	is.mu.Unlock()
	st, err := f.wait(ctx)
	if err != nil {
		return nil, &UpstreamError{Op: "OIDC discovery at " + is.url, Err: err}
	}
	return st, nil
}

// runDiscovery fetches the discovery document. It runs detached from any
// one request, bounded by the client's timeout.
func (is *issuer) runDiscovery() (*issuerState, error) {
	ctx := oidc.ClientContext(context.Background(), is.client)
	p, err := oidc.NewProvider(ctx, is.url)
	if err != nil {
		return nil, err
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, err
	}
	if meta.JWKSURI == "" {
		return nil, errors.New("discovery document has no jwks_uri")
	}
	if err := checkURL(meta.JWKSURI); err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	keys := &keySet{url: meta.JWKSURI, client: is.client, now: is.now}
	// The same construction as p.Verifier, with a key set that tells a
	// JWKS outage (upstream) from a key it does not hold (refusal) and
	// rate-limits refetches.
	verifier := oidc.NewVerifier(is.url, keys, &oidc.Config{
		ClientID:             is.audience,
		SupportedSigningAlgs: []string{string(jose.RS256)},
		Now:                  is.now,
	})
	return &issuerState{verifier: verifier, keys: keys}, nil
}

// keySet is the issuer's JWKS, fetched explicitly by ensure and read by
// VerifySignature, which never touches the network.
type keySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // of keys; zero until the first successful fetch
	fetching  *flight[[]jose.JSONWebKey]
	tried     map[string]time.Time // unknown kid -> when it last caused a refetch
	lastTry   time.Time            // the last refetch for an unknown kid
}

// ensure makes sure the cache is fresh enough to judge a token signed with
// kid: it fetches the JWKS if it never has, if the keys are older than
// keyMaxAge, or if kid is unknown (rate-limited: see unknownKidInterval).
// At most one fetch is in flight. A failed fetch is an *UpstreamError.
func (k *keySet) ensure(ctx context.Context, kid string) error {
	now := k.now()
	k.mu.Lock()
	if !k.fetchedAt.IsZero() && now.Sub(k.fetchedAt) < keyMaxAge {
		if k.hasLocked(kid) || k.fetching == nil && !k.mayRefetchLocked(kid, now) {
			k.mu.Unlock()
			return nil // known, or refused by VerifySignature without asking the issuer
		}
	}
	f := k.fetching
	if f == nil {
		f = newFlight[[]jose.JSONWebKey]()
		k.fetching = f
		go func() {
			keys, err := k.fetch()
			k.mu.Lock()
			if err == nil {
				k.keys, k.fetchedAt = keys, k.now()
			}
			k.fetching = nil
			k.mu.Unlock()
			f.finish(keys, err)
		}()
	}
	k.mu.Unlock()
	if _, err := f.wait(ctx); err != nil {
		return &UpstreamError{Op: "fetch OIDC keys from " + k.url, Err: err}
	}
	return nil
}

// mayRefetchLocked reports whether an unknown kid may cause a refetch now,
// and records it if so.
func (k *keySet) mayRefetchLocked(kid string, now time.Time) bool {
	if last, ok := k.tried[kid]; ok && now.Sub(last) < unknownKidInterval {
		return false
	}
	if now.Sub(k.lastTry) < refetchSpacing {
		return false
	}
	if k.tried == nil || len(k.tried) >= maxTrackedKids {
		k.tried = map[string]time.Time{}
	}
	k.tried[kid], k.lastTry = now, now
	return true
}

// hasLocked reports whether a cached key has kid (any key, if kid is "").
func (k *keySet) hasLocked(kid string) bool {
	for _, key := range k.keys {
		if kid == "" || key.KeyID == kid {
			return true
		}
	}
	return false
}

// VerifySignature implements oidc.KeySet with the cached keys only.
func (k *keySet) VerifySignature(_ context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(jwt, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must carry exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(&keys[i]); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("no key of the issuer verifies the token signature")
}

// fetch downloads the JWKS and keeps its RSA signing keys.
func (k *keySet) fetch() ([]jose.JSONWebKey, error) {
	req, err := http.NewRequest(http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS answered %s", resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if err := json.Unmarshal(raw, &key); err != nil {
			continue // a key type go-jose does not know: not ours to use
		}
		pub, ok := key.Key.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() < minRSABits {
			continue
		}
		if (key.Use != "" && key.Use != "sig") || (key.Algorithm != "" && key.Algorithm != string(jose.RS256)) {
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS holds no RS256 signing key")
	}
	return keys, nil
}

// flight is one operation whose result several goroutines wait for.
type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func newFlight[T any]() *flight[T] { return &flight[T]{done: make(chan struct{})} }

// finish records the result and releases the waiters; call it once.
func (f *flight[T]) finish(val T, err error) {
	f.val, f.err = val, err
	close(f.done)
}

// wait returns the result, or ctx's error if ctx ends first.
func (f *flight[T]) wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
