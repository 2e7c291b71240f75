package stsfake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fake is STS and the console federation endpoint, served over httptest.
type Fake struct {
	// URL is the base URL of the server, without a trailing slash: the STS
	// endpoint.
	URL string

	srv    *httptest.Server
	report func(format string, args ...any) // an unexpected request
	now    func() time.Time

	mu         sync.Mutex
	keys       map[string]*principal // by access key id
	calls      map[string]int        // by Action
	lastAssume url.Values
	delay      time.Duration
	failNext   *stsError
	tokens     map[string]signinGrant // sign-in tokens by value
}

// principal is a key the fake accepts.
type principal struct {
	secret  string
	token   string    // session token; empty for a long-term key
	expires time.Time // zero for a long-term key
	issued  bool      // issued by AssumeRole here

	arn     string // the caller identity's ARN
	userID  string
	account string
	role    bool // a role session: AssumeRole from it is role chaining
	chained bool // issued to a caller that was itself a role session
}

// signinGrant is what a sign-in token stands for.
type signinGrant struct {
	arn     string
	expires time.Time
}

// signinTokenLifetime is how long AWS honours a sign-in token.
const signinTokenLifetime = 15 * time.Minute

// New starts a fake; t.Cleanup stops it. Requests the fake does not expect
// fail t.
func New(t testing.TB) *Fake {
	t.Helper()
	f := newFake(func(format string, args ...any) {
		t.Helper()
		t.Errorf("stsfake: "+format, args...)
	})
	t.Cleanup(f.srv.Close)
	return f
}

// NewServer starts a fake outside a test, for a demo binary: what New would
// report as a test failure is logged. Call the returned function to stop it.
func NewServer() (*Fake, func()) {
	f := newFake(func(format string, args ...any) {
		log.Printf("stsfake: unexpected request: "+format, args...)
	})
	return f, f.srv.Close
}

func newFake(report func(string, ...any)) *Fake {
	f := &Fake{
		report: report,
		now:    time.Now,
		keys:   map[string]*principal{},
		calls:  map[string]int{},
		tokens: map[string]signinGrant{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// AddKey makes a long-term access key known to the fake: the broker's own IAM
// user, typically. arn is the identity GetCallerIdentity reports for it
// (arn:aws:iam::<account>:user/<name>); an assumed-role ARN
// (arn:aws:sts::<account>:assumed-role/<role>/<session>) makes it a role
// session, so that AssumeRole from it is role chaining, as when the broker
// runs on Lambda.
func (f *Fake) AddKey(accessKeyID, secret, arn string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || len(parts[4]) != 12 {
		f.report("AddKey(%q): %q is not an ARN with a 12-digit account", accessKeyID, arn)
		return
	}
	p := &principal{secret: secret, arn: arn, account: parts[4]}
	if strings.HasPrefix(parts[5], "assumed-role/") {
		p.role = true
		p.userID = uniqueID("AROA", strings.Join(strings.Split(parts[5], "/")[:2], "/"))
		if i := strings.LastIndexByte(parts[5], '/'); i >= 0 {
			p.userID += ":" + parts[5][i+1:]
		}
	} else {
		p.userID = uniqueID("AIDA", arn)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.keys[accessKeyID]; dup {
		f.report("AddKey(%q): key already known", accessKeyID)
		return
	}
	f.keys[accessKeyID] = p
}

// SetDelay makes AssumeRole answer only after d, standing for the network
// latency of the real STS in benchmarks. The wait ends early if the caller
// gives up.
func (f *Fake) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Calls reports how many requests named action: "AssumeRole",
// "GetCallerIdentity", or the federation endpoint's "getSigninToken" and
// "login". Every request counts, whether or not it was answered with an
// error.
func (f *Fake) Calls(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[action]
}

// LastAssumeRole returns a copy of the form parameters of the last
// authenticated AssumeRole (Action, Version, RoleArn, Tags.member.1.Key, …),
// whatever its answer; nil if there was none.
func (f *Fake) LastAssumeRole() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lastAssume == nil {
		return nil
	}
	out := make(url.Values, len(f.lastAssume))
	for k, v := range f.lastAssume {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// FailNext makes the next authenticated AssumeRole answer an STS error with
// code and HTTP status, e.g. ("AccessDenied", 403) or ("Throttling", 400).
// Only one call fails: an SDK client that retries the code (throttling, 5xx)
// succeeds on its retry.
func (f *Fake) FailNext(code string, status int) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = &stsError{status: status, typ: typ, code: code, message: "stsfake: injected failure"}
}

// clock is the fake's current time.
func (f *Fake) clock() time.Time {
	f.mu.Lock()
	now := f.now
	f.mu.Unlock()
	return now()
}

// SigninURL is the federation endpoint: URL + "/federation".
func (f *Fake) SigninURL() string {
	return f.URL + "/federation"
}

// serve routes a request.
func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/":
		if r.Method != http.MethodPost {
			f.report("%s %s: STS takes POST /", r.Method, r.URL.Path)
			writeSTSError(w, &stsError{status: http.StatusMethodNotAllowed, typ: "Sender", code: "InvalidAction",
				message: "stsfake serves POST / only"})
			return
		}
		f.serveSTS(w, r)
	case "/federation":
		f.serveFederation(w, r)
	default:
		f.report("%s %s: no such path", r.Method, r.URL.Path)
		writeSTSError(w, &stsError{status: http.StatusNotFound, typ: "Sender", code: "InvalidAction",
			message: "stsfake does not serve " + r.URL.Path})
	}
}

// count records one request naming action.
func (f *Fake) count(action string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[action]++
}

// randomString is n random bytes in the given encoding.
func randomString(n int, enc func([]byte) string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return enc(b)
}

// accessKeyAlphabet is what AWS access key ids are made of.
const accessKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// newAccessKeyID is a fresh ASIA… id, 20 characters like AWS's.
func newAccessKeyID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = accessKeyAlphabet[int(b[i])%len(accessKeyAlphabet)]
	}
	return "ASIA" + string(b)
}

// uniqueID is a stable 21-character IAM unique id (AIDA…, AROA…) for seed.
func uniqueID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	b := make([]byte, 17)
	for i := range b {
		b[i] = accessKeyAlphabet[int(sum[i])%len(accessKeyAlphabet)]
	}
	return prefix + string(b)
}

// newRequestID is a fresh UUID-shaped request id.
func newRequestID() string {
	h := randomString(16, hex.EncodeToString)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

var (
	b64    = base64.StdEncoding.EncodeToString
	b64url = base64.RawURLEncoding.EncodeToString
)
