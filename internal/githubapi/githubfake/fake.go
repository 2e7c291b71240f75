package githubfake

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

// docsURL is the documentation_url GitHub puts in error bodies.
const docsURL = "https://docs.github.com/rest"

// maxBody bounds a request body (PUT contents carries whole files).
const maxBody = 10 << 20

// Fake is a GitHub REST API served over httptest.
type Fake struct {
	// URL is the base URL of the server, without a trailing slash.
	URL string

	t   reporter
	srv *httptest.Server
	mux *http.ServeMux

	mu     sync.Mutex
	routes map[string]*route // by pattern
	total  int
	now    func() time.Time
	nextID int64

	tokens    map[string]*github.User // empty: no authentication required
	tokenApps map[string]string       // token -> client id of the app it was issued to
	renamed   map[int64]string        // account id -> its login since a rename
	oauthApps map[string]*oauthApp    // by client id; ClientID's is always there

	repo        *repoState
	memberships map[membershipKey]string // state: active or pending
	app         *app
	down        *Fault // BreakAll: every route answers so
}

// route is one registered pattern.
type route struct {
	pattern    string
	appJWT     bool // authenticated by a GitHub App's JWT, not a token
	basicAuth  bool // authenticated by an app's client id and secret (the handler checks them)
	repoScoped bool // pattern starts with /repos/{owner}/{repo}
	disabled   bool
	fault      *Fault
	calls      int
	h          func(*call)
}

// call is one request being served; handlers run with Fake.mu held.
type call struct {
	f    *Fake
	w    http.ResponseWriter
	r    *http.Request
	user *github.User // the token's user; nil if anonymous
}

// reporter is where the fake reports misuse: a test, or a log for the demo.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// New starts a fake GitHub API; t.Cleanup stops it.
func New(t testing.TB) *Fake {
	t.Helper()
	f := start(t)
	t.Cleanup(f.srv.Close)
	return f
}

// NewServer starts the fake outside a test (the local demo's stand-in for
// GitHub): unexpected requests are logged through logf; misuse panics.
func NewServer(logf func(format string, args ...any)) (*Fake, func()) {
	f := start(logReporter{logf})
	return f, f.srv.Close
}

type logReporter struct{ logf func(string, ...any) }

func (logReporter) Helper()                             {}
func (l logReporter) Errorf(format string, args ...any) { l.logf(format, args...) }
func (logReporter) Fatalf(format string, args ...any)   { panic(fmt.Sprintf(format, args...)) }

func start(t reporter) *Fake {
	f := &Fake{
		t:           t,
		mux:         http.NewServeMux(),
		routes:      map[string]*route{},
		now:         func() time.Time { return time.Now().UTC().Truncate(time.Second) },
		nextID:      1000,
		tokens:      map[string]*github.User{},
		tokenApps:   map[string]string{},
		oauthApps:   map[string]*oauthApp{ClientID: {clientID: ClientID, secret: ClientSecret, name: "elevate", id: 1}},
		repo:        newRepoState(),
		memberships: map[membershipKey]string{},
	}
	f.registerRoutes()
	f.mux.HandleFunc("/", f.unrouted)
	f.srv = httptest.NewServer(f.mux)
	f.URL = f.srv.URL
	return f
}

// registerRoutes lists every route the fake serves. Add new endpoints here.
func (f *Fake) registerRoutes() {
	// Users.
	f.handle("GET /user", f.getUser)
	f.handle("GET /users/{username}", f.getUserByLogin)
	f.handle("GET /user/{account_id}", f.getUserByID)

	// Repository, contents and the Git database.
	f.handle("GET /repos/{owner}/{repo}", f.getRepo)
	f.routes["GET /repos/{owner}/{repo}"].repoScoped = false // also answers for OtherRepository
	f.handle("GET /repos/{owner}/{repo}/activity", f.listActivity)
	f.handle("GET /repos/{owner}/{repo}/contents/{path...}", f.getContents)
	f.handle("PUT /repos/{owner}/{repo}/contents/{path...}", f.putContents)
	f.handle("DELETE /repos/{owner}/{repo}/contents/{path...}", f.deleteContents)
	f.handle("GET /repos/{owner}/{repo}/git/blobs/{file_sha}", f.getBlob)
	f.handle("GET /repos/{owner}/{repo}/git/ref/{ref...}", f.getRef)
	f.handle("POST /repos/{owner}/{repo}/git/refs", f.createRef)

	// Pull requests.
	f.handle("GET /repos/{owner}/{repo}/pulls", f.listPulls)
	f.handle("POST /repos/{owner}/{repo}/pulls", f.createPull)
	f.handle("GET /repos/{owner}/{repo}/pulls/{number}", f.getPull)
	f.handle("GET /repos/{owner}/{repo}/pulls/{number}/files", f.listPullFiles)
	f.handle("GET /repos/{owner}/{repo}/pulls/{number}/reviews", f.listReviews)
	f.handle("POST /repos/{owner}/{repo}/pulls/{number}/requested_reviewers", f.requestReviewers)
	f.handle("GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls", f.listCommitPulls)

	// Commit statuses.
	f.handle("POST /repos/{owner}/{repo}/statuses/{sha}", f.createStatus)
	f.handle("GET /repos/{owner}/{repo}/commits/{ref}/status", f.combinedStatus)

	// Issue comments.
	f.handle("GET /repos/{owner}/{repo}/issues/{number}/comments", f.listComments)
	f.handle("POST /repos/{owner}/{repo}/issues/{number}/comments", f.createComment)
	f.handle("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", f.editComment)

	// GitHub Apps (authenticated by the App's JWT).
	f.handle("GET /repos/{owner}/{repo}/installation", f.getInstallation)
	f.handle("POST /app/installations/{installation_id}/access_tokens", f.createInstallationToken)
	f.routes["GET /repos/{owner}/{repo}/installation"].appJWT = true
	f.handle("GET /app", f.getApp)
	f.routes["GET /app"].appJWT = true
	f.routes["POST /app/installations/{installation_id}/access_tokens"].appJWT = true

	// Teams.
	f.handle("GET /orgs/{org}/teams/{team_slug}/memberships/{username}", f.getMembership)

	// OAuth apps' user tokens (authenticated by the app's client id and secret).
	f.handle("POST /applications/{client_id}/token", f.checkToken)
	f.routes["POST /applications/{client_id}/token"].basicAuth = true
}

// handle registers h under pattern, counting calls and applying the checks
// every route shares: disabled routes, authentication, the repository.
func (f *Fake) handle(pattern string, h func(*call)) {
	_, path, _ := strings.Cut(pattern, " ")
	rt := &route{pattern: pattern, repoScoped: strings.HasPrefix(path, "/repos/{owner}/{repo}"), h: h}
	f.routes[pattern] = rt
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		rt.calls++
		f.total++
		c := &call{f: f, w: w, r: r}
		if ft := cmp.Or(f.down, rt.fault); ft != nil {
			if ft.Delay > 0 || ft.Until != nil {
				f.mu.Unlock()
				var delay <-chan time.Time
				if ft.Delay > 0 {
					delay = time.After(ft.Delay)
				}
				select {
				case <-delay:
				case <-ft.Until:
				case <-r.Context().Done():
				}
				f.mu.Lock()
			}
			if ft.Status != 0 {
				for k, v := range ft.Header {
					w.Header()[k] = v
				}
				c.error(ft.Status, cmp.Or(ft.Message, http.StatusText(ft.Status)))
				return
			}
		}
		if rt.disabled {
			f.t.Errorf("githubfake: unexpected request %s %s (route %q is disabled)", r.Method, r.URL.RequestURI(), rt.pattern)
			c.notFound()
			return
		}
		switch {
		case rt.basicAuth:
		case rt.appJWT:
			if !f.authenticateApp(r) {
				c.error(http.StatusUnauthorized, "A JSON web token could not be decoded")
				return
			}
		default:
			user, ok := f.authenticate(r)
			if !ok {
				c.error(http.StatusUnauthorized, "Bad credentials")
				return
			}
			c.user = user
		}
		if rt.repoScoped && !f.isRepo(r.PathValue("owner"), r.PathValue("repo")) {
			want := "(none: call Repo)"
			if f.repo != nil {
				want = f.repo.owner + "/" + f.repo.name
			}
			f.t.Errorf("githubfake: unexpected request %s %s: repository %s/%s, want %s",
				r.Method, r.URL.RequestURI(), r.PathValue("owner"), r.PathValue("repo"), want)
			c.notFound()
			return
		}
		rt.h(c)
	})
}

// unrouted answers requests that match no route.
func (f *Fake) unrouted(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	f.t.Errorf("githubfake: unexpected request %s %s (no such route)", r.Method, r.URL.RequestURI())
	(&call{f: f, w: w, r: r}).notFound()
}

// Client returns an unauthenticated go-github client pointed at the fake.
// For an authenticated one use Client().WithAuthToken(tok).
func (f *Fake) Client() *github.Client {
	gh := github.NewClient(&http.Client{Timeout: 30 * time.Second})
	base, err := url.Parse(f.URL + "/")
	if err != nil {
		panic(err) // httptest URLs always parse
	}
	gh.BaseURL = base
	gh.UploadURL = base
	return gh
}

// Calls returns how many requests reached route, the pattern as registered,
// for example "GET /repos/{owner}/{repo}/pulls/{number}/reviews".
func (f *Fake) Calls(route string) int {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	rt, ok := f.routes[route]
	if !ok {
		f.t.Fatalf("githubfake: Calls(%q): no such route; routes are %q", route, f.patterns())
		return 0
	}
	return rt.calls
}

// TotalCalls returns how many requests the fake has received, routed or not.
func (f *Fake) TotalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// CallsExcept returns how many requests the fake has received other than
// those of routes, counted at one instant: a worker calling those routes
// meanwhile cannot make the difference move.
func (f *Fake) CallsExcept(routes ...string) int {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.total
	for _, route := range routes {
		rt, ok := f.routes[route]
		if !ok {
			f.t.Fatalf("githubfake: CallsExcept(%q): no such route; routes are %q", route, f.patterns())
			return 0
		}
		n -= rt.calls
	}
	return n
}

// Disable marks routes as unexpected: a request to one of them fails the
// test and is answered 404.
func (f *Fake) Disable(routes ...string) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range routes {
		rt, ok := f.routes[p]
		if !ok {
			f.t.Fatalf("githubfake: Disable(%q): no such route; routes are %q", p, f.patterns())
			return
		}
		rt.disabled = true
	}
}

// Fault is how a route misbehaves: it answers after Delay (or once Until
// is closed), and, when Status is set, with that status, Header
// (Retry-After, X-RateLimit-*) and Message instead of its own answer, as
// GitHub does when it is down, slow or rate-limiting.
type Fault struct {
	Status  int
	Header  http.Header
	Message string
	Delay   time.Duration
	Until   <-chan struct{}
}

// Break makes route answer as ft says until Heal.
func (f *Fake) Break(route string, ft Fault) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	rt, ok := f.routes[route]
	if !ok {
		f.t.Fatalf("githubfake: Break(%q): no such route; routes are %q", route, f.patterns())
		return
	}
	rt.fault = &ft
}

// BreakAll makes every route answer as ft says until HealAll: GitHub down,
// slow or rate-limiting as a whole.
func (f *Fake) BreakAll(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = &ft
}

// HealAll ends BreakAll.
func (f *Fake) HealAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = nil
}

// Heal makes route answer normally again.
func (f *Fake) Heal(route string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rt, ok := f.routes[route]; ok {
		rt.fault = nil
	}
}

// patterns lists registered routes, sorted.
func (f *Fake) patterns() []string {
	var ps []string
	for p := range f.routes {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Clock replaces the source of timestamps (created_at, updated_at).
func (f *Fake) Clock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// id returns a fresh object id.
func (f *Fake) id() int64 {
	f.nextID++
	return f.nextID
}

// timestamp returns the current time as go-github's Timestamp.
func (f *Fake) timestamp() *github.Timestamp {
	return &github.Timestamp{Time: f.now()}
}

// Token registers tok as a valid token for user, issued to the default app
// (ClientID). Once any token is registered, every request must carry
// "Authorization: Bearer <tok>" (or "token <tok>") with a registered token,
// or it is answered 401.
func (f *Fake) Token(tok string, user *github.User) {
	f.t.Helper()
	f.register(tok, user, ClientID)
}

// register records tok as user's, issued to app clientID.
func (f *Fake) register(tok string, user *github.User, clientID string) {
	f.t.Helper()
	if tok == "" || user == nil || user.Login == nil {
		f.t.Fatalf("githubfake: Token: need a token and a user with a login")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := clone(user)
	if u.ID == nil {
		u.ID = github.Int64(f.id())
	}
	if u.Type == nil {
		u.Type = github.String("User")
	}
	f.tokens[tok] = u
	f.tokenApps[tok] = clientID
}

// authenticate returns the caller's user. ok is false when tokens are
// registered and the request does not carry one of them.
func (f *Fake) authenticate(r *http.Request) (user *github.User, ok bool) {
	tok := bearer(r.Header.Get("Authorization"))
	if u, found := f.tokens[tok]; found && tok != "" {
		return u, true
	}
	return nil, len(f.tokens) == 0
}

// bearer extracts the token of "Bearer X" or "token X".
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !(strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token")) {
		return ""
	}
	return strings.TrimSpace(tok)
}

// actionsBot is who writes when the caller is anonymous, as on a workflow
// run with GITHUB_TOKEN.
func actionsBot() *github.User {
	return &github.User{
		Login: github.String("github-actions[bot]"),
		ID:    github.Int64(41898282),
		Type:  github.String("Bot"),
	}
}

// actor returns the caller, or github-actions[bot] if anonymous.
func (c *call) actor() *github.User {
	if c.user != nil {
		return clone(c.user)
	}
	return actionsBot()
}

// getUser serves GET /user.
func (f *Fake) getUser(c *call) {
	if c.user == nil {
		c.error(http.StatusUnauthorized, "Requires authentication")
		return
	}
	c.json(http.StatusOK, c.user)
}

// ---- responses ----

// json writes v as GitHub does.
func (c *call) json(status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		c.f.t.Errorf("githubfake: encode response to %s %s: %v", c.r.Method, c.r.URL.Path, err)
		status, body = http.StatusInternalServerError, []byte(`{"message":"Server Error"}`)
	}
	c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	c.w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// errorBody is GitHub's error JSON.
type errorBody struct {
	Message          string         `json:"message"`
	Errors           []github.Error `json:"errors,omitempty"`
	DocumentationURL string         `json:"documentation_url"`
	Status           string         `json:"status"`
}

// error writes GitHub's error JSON.
func (c *call) error(status int, message string) {
	c.json(status, errorBody{Message: message, DocumentationURL: docsURL, Status: strconv.Itoa(status)})
}

// notFound writes GitHub's 404.
func (c *call) notFound() { c.error(http.StatusNotFound, "Not Found") }

// invalid writes GitHub's 422 "Validation Failed" with one error.
func (c *call) invalid(resource, field, code, message string) {
	c.json(http.StatusUnprocessableEntity, errorBody{
		Message:          "Validation Failed",
		Errors:           []github.Error{{Resource: resource, Field: field, Code: code, Message: message}},
		DocumentationURL: docsURL,
		Status:           "422",
	})
}

// decode reads the JSON request body into v, answering 400 if it cannot.
func (c *call) decode(v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		c.error(http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// pathInt parses an integer path value, answering 404 if it is not one.
func (c *call) pathInt(name string) (int64, bool) {
	n, err := strconv.ParseInt(c.r.PathValue(name), 10, 64)
	if err != nil || n <= 0 {
		c.notFound()
		return 0, false
	}
	return n, true
}

// wantsRaw reports whether the client asked for raw bytes.
func (c *call) wantsRaw() bool {
	return strings.Contains(c.r.Header.Get("Accept"), ".raw")
}

// raw writes data as GitHub's raw media type.
func (c *call) raw(data []byte) {
	c.w.Header().Set("Content-Type", "application/vnd.github.raw")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(data)
}

// clone deep-copies a go-github value through its JSON form.
func clone[T any](v T) T {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("githubfake: clone %T: %v", v, err))
	}
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		panic(fmt.Sprintf("githubfake: clone %T: %v", v, err))
	}
	return out
}

// cloneAll deep-copies a slice.
func cloneAll[T any](vs []T) []T {
	out := make([]T, 0, len(vs))
	for _, v := range vs {
		out = append(out, clone(v))
	}
	return out
}

// Close stops the server now: later calls fail to connect, as when GitHub is down.
func (f *Fake) Close() { f.srv.Close() }

// Latency makes every call answer after d, as a GitHub that far away does
// (0: at once). It is BreakAll with a delay only.
func (f *Fake) Latency(d time.Duration) {
	if d == 0 {
		f.HealAll()
		return
	}
	f.BreakAll(Fault{Delay: d})
}
