// Package oidcfake is a local OpenID Connect issuer shaped like GitHub
// Actions' (https://token.actions.githubusercontent.com), for tests and the
// local demo.
//
// It serves the discovery document and the JWKS over httptest on loopback,
// and mints tokens carrying GitHub Actions' claim set, signed RS256 with the
// issuer's key (kid set), in the manner of coreos/go-oidc's own tests:
//
//	iss := oidcfake.New(t)
//	tok := iss.Mint(oidcfake.Claims{Actor: "octocat", ActorID: 583231, Audience: "elevate", Repository: "acme/access"})
//	... verify tok against identity.Config{Issuer: iss.URL, Audience: "elevate"} ...
//
// It also mints the tokens a verifier must refuse: signed by a key not in the
// JWKS (MintWithUnknownKey), unsigned (MintUnsigned), from another issuer
// (MintWithIssuer), and HS256 keyed with bytes of the public key
// (MintHS256), the classic algorithm-confusion attack.
//
// The RSA keys are generated once per process and shared by every Issuer, so
// that many parallel tests do not each pay for key generation; each Issuer
// still serves only its own URL as the issuer.
package oidcfake

import (
	"cmp"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Paths the issuer serves, as GitHub's does.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks"
)

// DefaultAudience is the audience of a token whose Claims leave it empty.
const DefaultAudience = "elevate"

// Defaults of the claims that say which code ran, for whom: a token whose
// Claims leave them empty comes from the first attempt of a run its actor
// started by hand (workflow_dispatch) of DefaultWorkflow on the protected
// main branch of its repository.
const (
	DefaultRepository = "octo-org/octo-repo"
	DefaultEvent      = "workflow_dispatch"
	DefaultRef        = "refs/heads/main"
	// DefaultWorkflow is the workflow file and ref of a token's
	// workflow_ref and job_workflow_ref, after its repository.
	DefaultWorkflow = ".github/workflows/elevate.yml@" + DefaultRef
	// DefaultWorkflowRef is the workflow_ref (and job_workflow_ref) of a
	// token of DefaultRepository: WorkflowRef(DefaultRepository).
	DefaultWorkflowRef = DefaultRepository + "/" + DefaultWorkflow
)

// WorkflowRef is the workflow_ref (and job_workflow_ref) the issuer puts in
// tokens of repository (OWNER/NAME) whose Claims leave them empty.
func WorkflowRef(repository string) string { return repository + "/" + DefaultWorkflow }

// defaultLifetime is how long a token lives when Claims gives no expiry.
const defaultLifetime = 5 * time.Minute

// Issuer is a running fake OIDC issuer.
type Issuer struct {
	// URL is the issuer URL (the "iss" of its tokens), without a trailing
	// slash, for example http://127.0.0.1:40123.
	URL string

	t   testing.TB // nil for NewServer
	srv *httptest.Server

	mu             sync.Mutex
	discoveryCalls int
	jwksCalls      int
	unreachable    bool
	rotated        bool // the JWKS also serves rotatedKey, and Mint signs with it
}

// signingKey is an RSA key and its kid.
type signingKey struct {
	priv *rsa.PrivateKey
	kid  string
}

var (
	keysOnce   sync.Once
	issuerKey  signingKey // served in the JWKS
	unknownKey signingKey // never served
	rotatedKey signingKey // served and used after Rotate
)

// keys returns the process-wide issuer key and unknown key.
func keys() (known, unknown signingKey) {
	keysOnce.Do(func() {
		issuerKey = newSigningKey()
		unknownKey = newSigningKey()
		rotatedKey = newSigningKey()
	})
	return issuerKey, unknownKey
}

// newSigningKey generates a 2048-bit RSA key whose kid is its RFC 7638
// thumbprint, hex encoded.
func newSigningKey() signingKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("oidcfake: generate RSA key: %v", err))
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		panic(fmt.Sprintf("oidcfake: key thumbprint: %v", err))
	}
	return signingKey{priv: priv, kid: hex.EncodeToString(tp)}
}

// New starts an issuer; t.Cleanup stops it. A request for a path the
// issuer does not serve fails the test.
func New(t testing.TB) *Issuer {
	t.Helper()
	i := start(t)
	t.Cleanup(i.srv.Close)
	return i
}

// NewServer starts an issuer without a test, for a demo binary; call the
// returned function to stop it.
func NewServer() (*Issuer, func()) {
	i := start(nil)
	return i, i.srv.Close
}

// start builds and starts the server.
func start(t testing.TB) *Issuer {
	keys()
	i := &Issuer{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, i.serveDiscovery)
	mux.HandleFunc("GET "+JWKSPath, i.serveJWKS)
	mux.HandleFunc("/", i.serveUnknown)
	i.srv = httptest.NewServer(i.gate(mux))
	i.URL = i.srv.URL
	return i
}

// gate drops every connection while the issuer is unreachable.
func (i *Issuer) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.mu.Lock()
		down := i.unreachable
		i.mu.Unlock()
		if !down {
			next.ServeHTTP(w, r)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "unreachable", http.StatusServiceUnavailable)
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})
}

// SetUnreachable makes the issuer drop every connection without an answer
// (down) or serve again (up), at the same URL.
func (i *Issuer) SetUnreachable(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.unreachable = down
}

// DiscoveryCalls returns how many times the discovery document was served.
func (i *Issuer) DiscoveryCalls() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.discoveryCalls
}

// JWKSCalls returns how many times the JWKS was served.
func (i *Issuer) JWKSCalls() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksCalls
}

// serveDiscovery answers GET /.well-known/openid-configuration with the
// fields GitHub's issuer publishes.
func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.discoveryCalls++
	i.mu.Unlock()
	writeJSON(w, map[string]any{
		"issuer":                                i.URL,
		"jwks_uri":                              i.URL + JWKSPath,
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
		"claims_supported": []string{
			"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id",
			"repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt", "actor",
			"actor_id", "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref", "event_name",
			"ref_type", "ref_protected", "environment", "job_workflow_ref", "job_workflow_sha",
			"repository_visibility", "runner_environment",
		},
	})
}

// serveJWKS answers GET /.well-known/jwks with the issuer's public key.
func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.jwksCalls++
	i.mu.Unlock()
	k, _ := keys()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig"}}}
	i.mu.Lock()
	if i.rotated {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &rotatedKey.priv.PublicKey, KeyID: rotatedKey.kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	i.mu.Unlock()
	writeJSON(w, set)
}

// Rotate publishes a new signing key in the JWKS, beside the old one, and
// signs every later Mint with it, as GitHub does when it rotates keys.
func (i *Issuer) Rotate() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rotated = true
}

// serveUnknown answers any other request 404, failing the test if there is
// one.
func (i *Issuer) serveUnknown(w http.ResponseWriter, r *http.Request) {
	if i.t != nil {
		i.t.Errorf("oidcfake: unexpected request %s %s", r.Method, r.URL.RequestURI())
	}
	http.NotFound(w, r)
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

// Claims are the parts of a GitHub Actions token a test chooses; Mint fills
// in the rest of GitHub's claim set.
type Claims struct {
	Actor      string    // "actor"; empty: the claim is left out
	ActorID    int64     // "actor_id", encoded as a string of digits as GitHub does; 0: left out
	Audience   string    // "aud"; empty: DefaultAudience
	Repository string    // "repository" (owner/name); empty: DefaultRepository
	Subject    string    // "sub"; empty: "repo:<repository>:ref:<ref>"
	IssuedAt   time.Time // "iat" and "nbf"; zero: now
	ExpiresAt  time.Time // "exp"; zero: IssuedAt + 5m

	// Which code ran, and why: each empty one takes the default above.
	WorkflowRef    string // "workflow_ref", the run's workflow; empty: WorkflowRef(repository)
	JobWorkflowRef string // "job_workflow_ref", the job's (a reusable workflow's); empty: the workflow_ref
	EventName      string // "event_name"; empty: DefaultEvent
	Ref            string // "ref"; empty: DefaultRef
	RefProtected   string // "ref_protected", a string as GitHub sends it; empty: "true"
	RunAttempt     string // "run_attempt", a string as GitHub sends it; empty: "1"

	// Extra sets claims after the defaults, replacing any of the same
	// name; a nil value removes the claim. Use it for odd shapes, such as
	// actor_id as a JSON number or as something not numeric.
	Extra map[string]any
}

// Mint returns a token signed RS256 by the issuer's key (the new one after
// Rotate), with its kid.
func (i *Issuer) Mint(c Claims) string {
	k, _ := keys()
	i.mu.Lock()
	if i.rotated {
		k = rotatedKey
	}
	i.mu.Unlock()
	return signRS256(k, i.claims(c, i.URL))
}

// MintWithUnknownKey returns a token signed RS256 by a key the JWKS does
// not hold; its kid has the same format as the issuer's.
func (i *Issuer) MintWithUnknownKey(c Claims) string {
	_, u := keys()
	return signRS256(u, i.claims(c, i.URL))
}

// MintWithKid returns a token signed by a key the JWKS does not hold, under
// a kid of the caller's choosing: a forger naming kids the issuer never
// published.
func (i *Issuer) MintWithKid(c Claims, kid string) string {
	_, u := keys()
	u.kid = kid
	return signRS256(u, i.claims(c, i.URL))
}

// MintWithIssuer returns a token signed by the issuer's key whose "iss" is
// iss rather than the issuer's URL.
func (i *Issuer) MintWithIssuer(c Claims, iss string) string {
	k, _ := keys()
	return signRS256(k, i.claims(c, iss))
}

// MintUnsigned returns an unsecured token: header {"alg":"none"} and an
// empty signature.
func (i *Issuer) MintUnsigned(c Claims) string {
	k, _ := keys()
	header := map[string]any{"alg": "none", "typ": "JWT", "kid": k.kid}
	return segment(header) + "." + segment(i.claims(c, i.URL)) + "."
}

// MintHS256 returns a token MACed HS256 with secret, carrying the issuer's
// kid. With secret = PublicKeyPEM() it is the algorithm-confusion attack on
// verifiers that accept whatever "alg" a token names.
func (i *Issuer) MintHS256(c Claims, secret []byte) string {
	k, _ := keys()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		panic(fmt.Sprintf("oidcfake: HS256 signer: %v", err))
	}
	return sign(signer, i.claims(c, i.URL))
}

// PublicKeyPEM returns the issuer's public key as PEM ("PUBLIC KEY", PKIX).
func (i *Issuer) PublicKeyPEM() []byte {
	k, _ := keys()
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		panic(fmt.Sprintf("oidcfake: marshal public key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// claims builds GitHub Actions' claim set for c, issued by iss.
func (i *Issuer) claims(c Claims, iss string) map[string]any {
	repo := cmp.Or(c.Repository, DefaultRepository)
	owner, _, _ := strings.Cut(repo, "/")
	ref := cmp.Or(c.Ref, DefaultRef)
	sub := cmp.Or(c.Subject, "repo:"+repo+":ref:"+ref)
	workflow := cmp.Or(c.WorkflowRef, WorkflowRef(repo))
	aud := c.Audience
	if aud == "" {
		aud = DefaultAudience
	}
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	exp := c.ExpiresAt
	if exp.IsZero() {
		exp = iat.Add(defaultLifetime)
	}
	sha := sha256.Sum256([]byte(repo + sub + iat.String()))
	m := map[string]any{
		"iss":                   iss,
		"aud":                   aud,
		"sub":                   sub,
		"iat":                   iat.Unix(),
		"nbf":                   iat.Unix(),
		"exp":                   exp.Unix(),
		"jti":                   randomJTI(),
		"ref":                   ref,
		"ref_type":              "branch",
		"ref_protected":         cmp.Or(c.RefProtected, "true"),
		"sha":                   hex.EncodeToString(sha[:20]),
		"repository":            repo,
		"repository_id":         stableID(repo),
		"repository_owner":      owner,
		"repository_owner_id":   stableID(owner),
		"repository_visibility": "private",
		"run_id":                fmt.Sprint(iat.UnixNano() % 1e10),
		"run_number":            "1",
		"run_attempt":           cmp.Or(c.RunAttempt, "1"),
		"runner_environment":    "github-hosted",
		"workflow":              "elevate",
		"workflow_ref":          workflow,
		"workflow_sha":          hex.EncodeToString(sha[:20]),
		"job_workflow_ref":      cmp.Or(c.JobWorkflowRef, workflow),
		"job_workflow_sha":      hex.EncodeToString(sha[:20]),
		"event_name":            cmp.Or(c.EventName, DefaultEvent),
		"head_ref":              "",
		"base_ref":              "",
	}
	if c.Actor != "" {
		m["actor"] = c.Actor
	}
	if c.ActorID != 0 {
		m["actor_id"] = fmt.Sprint(c.ActorID)
	}
	for name, v := range c.Extra {
		if v == nil {
			delete(m, name)
			continue
		}
		m[name] = v
	}
	return m
}

// signRS256 signs claims with k, setting kid and typ.
func signRS256(k signingKey, claims map[string]any) string {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		panic(fmt.Sprintf("oidcfake: RS256 signer: %v", err))
	}
	return sign(signer, claims)
}

// sign returns the compact serialisation of claims signed by signer.
func sign(signer jose.Signer, claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(fmt.Sprintf("oidcfake: encode claims: %v", err))
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(fmt.Sprintf("oidcfake: sign: %v", err))
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		panic(fmt.Sprintf("oidcfake: serialise: %v", err))
	}
	return tok
}

// segment is the base64url (unpadded) JSON of v.
func segment(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("oidcfake: encode segment: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// randomJTI returns a random UUID-shaped token id.
func randomJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// RepositoryID and OwnerID are the repository_id and repository_owner_id
// the issuer puts in tokens of repository (OWNER/NAME).
func RepositoryID(repository string) int64 { return mustInt(stableID(repository)) }

// OwnerID is the repository_owner_id of tokens from owner's repositories.
func OwnerID(owner string) int64 { return mustInt(stableID(owner)) }

func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

// stableID derives a numeric id, as a string like GitHub's, from name.
func stableID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return fmt.Sprint(binary.BigEndian.Uint32(sum[:4]))
}
