package broker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/identity"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/prcomment"
	"github.com/elevate-gitops/elevate/internal/request"
)

// MaxBody bounds every request body.
const MaxBody = 64 << 10

// Identifier authenticates the Authorization header.
type Identifier interface {
	Verify(ctx context.Context, authorization string) (*identity.Identity, error)
}

// AssumeRoler is the one STS call the broker makes.
type AssumeRoler interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// Signer turns credentials into a console sign-in URL.
type Signer interface {
	URL(ctx context.Context, creds awscreds.Credentials, sessionDuration time.Duration) (string, error)
}

// Ledger is what the broker reads grants from.
type Ledger interface {
	Index() *ledger.Index
	Find(ctx context.Context, ask ledger.Ask) (*ledger.Found, error)
	GrantsOf(ctx context.Context, userID int64, login string) ([]brokerapi.Grant, error)
	Health() (time.Time, error)
	// Trust says why nothing can be issued now (rewritten, stale,
	// untrusted policy at the head), or nil.
	Trust() error
	// Progress says what a sync in progress is doing ("" when none is).
	Progress() string
}

// Server serves the broker API.
type Server struct {
	Identity Identifier
	Ledger   Ledger
	STS      AssumeRoler
	Console  Signer
	Members  eligibility.Membership
	Webhook  *Webhook // nil: /v1/webhook answers 404
	Metrics  *Metrics
	Logger   *slog.Logger
	Now      func() time.Time
	// STSTimeout bounds each AssumeRole call; default 10s.
	STSTimeout time.Duration
	// Degraded, when set, says why the broker can verify nothing (no
	// --repo): /healthz reports it.
	Degraded string
	// Warnings, when set, lists what works only in part (a repository of
	// --oidc-repositories not resolved): /healthz reports them, still 200.
	Warnings func() []string

	// Chained is set when the broker's own AWS credentials are a role's
	// temporary ones: sessions are capped at 1 h and console sign-ins carry
	// no SessionDuration, as AWS requires of role chaining.
	Chained bool

	// Usage, when set, tells each grant's PR of its sessions, afterwards.
	Usage *usage
	// Activity, when set, remembers the sessions issued, whose keys its
	// summaries of the trail look for.
	Activity *activityReporter
	// Assignments, with --identity-center, says where each permission-set
	// target's account assignment is, for GET /v1/grants.
	Assignments interface {
		State(request, account, permissionSet string) string
	}

	draining atomic.Bool // set by Serve on shutdown: /healthz answers 503
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Metrics == nil {
		s.Metrics = NewMetrics(s.Ledger)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+brokerapi.PathCredentials, s.instrument("credentials", s.credentials))
	mux.Handle("POST "+brokerapi.PathConsole, s.instrument("console", s.console))
	mux.Handle("GET "+brokerapi.PathGrants, s.instrument("grants", s.grants))
	mux.Handle("POST "+brokerapi.PathWebhook, s.instrument("webhook", s.webhook))
	mux.HandleFunc("GET "+brokerapi.PathHealth, s.healthz)
	mux.Handle("GET "+brokerapi.PathMetrics, s.Metrics.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, code: brokerapi.CodeNotFound, message: "no such endpoint: see docs/broker.md in the elevate repository for the API"})
	})
	return mux
}

// apiError is an answer the client can act on; cause is logged, never sent.
type apiError struct {
	status     int
	code       string
	message    string
	cause      error
	retryAfter time.Duration // set: the Retry-After header
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.message + ": " + e.cause.Error()
	}
	return e.code + ": " + e.message
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // URLs and <placeholders> stay readable
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="elevate"`)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter/time.Second)))
	}
	writeJSON(w, e.status, brokerapi.Error{Code: e.code, Message: e.message})
}

func readBody(w http.ResponseWriter, r *http.Request) (brokerapi.GrantRequest, *apiError) {
	var b brokerapi.GrantRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return b, &apiError{status: http.StatusRequestEntityTooLarge, code: brokerapi.CodeTooLarge, message: fmt.Sprintf("the body is over %d bytes: send {\"request\":\"<id>\"} or {\"account\":…,\"role\":…}", MaxBody)}
		}
		return b, badRequest("the body must be JSON like {\"request\":\"prod/2026-11/alice-admin\"} or {\"account\":\"prod\",\"role\":\"Admin\"}: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return b, badRequest("the body must hold one JSON object")
	}
	switch {
	case (b.Account == "") != (b.Role == ""):
		return b, badRequest("give account and role together (with request, they choose one target of a grant of several)")
	case b.Request == "" && b.Account == "":
		return b, badRequest("give request, or both account and role")
	case len(b.Request) > 200 || len(b.Account) > 64 || len(b.Role) > 64:
		return b, badRequest("request, account or role is too long")
	}
	return b, nil
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: brokerapi.CodeBadRequest, message: fmt.Sprintf(format, args...)}
}

// authenticate says who is calling: a refused token is 401 with the
// identity package's one-line reason (what did not match, what to do);
// GitHub rate-limiting the check of user tokens is 503, never 401; any
// other failure to verify is 502.
func (s *Server) authenticate(r *http.Request) (*identity.Identity, *apiError) {
	id, err := s.Identity.Verify(r.Context(), r.Header.Get("Authorization"))
	var (
		unauth  *identity.UnauthenticatedError
		limited *identity.RateLimitedError
		unavail *identity.UnavailableError
		up      *identity.UpstreamError
	)
	switch {
	case errors.As(err, &unauth):
		return nil, &apiError{status: http.StatusUnauthorized, code: brokerapi.CodeUnauthenticated, message: unauth.Reason, cause: err}
	case errors.As(err, &limited):
		return nil, &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodeUpstream, message: limited.Reason(), cause: err,
			retryAfter: cmp.Or(limited.RetryAfter.Round(time.Second), time.Minute)}
	case errors.As(err, &unavail):
		return nil, &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodeUpstream, message: unavail.Reason, cause: err,
			retryAfter: max(unavail.RetryAfter.Round(time.Second), time.Second)}
	case errors.As(err, &up) && up.Reason != "":
		return nil, &apiError{status: http.StatusBadGateway, code: brokerapi.CodeUpstream, message: up.Reason, cause: err}
	case err != nil:
		return nil, &apiError{status: http.StatusBadGateway, code: brokerapi.CodeUpstream, message: "could not verify your identity with GitHub; try again", cause: err}
	}
	return id, nil
}

// issue authenticates, finds the grant, re-checks eligibility at the head
// and assumes the role.
func (s *Server) issue(r *http.Request, body brokerapi.GrantRequest, id *identity.Identity) (*issued, *apiError) {
	ctx := r.Context()
	if err := s.Ledger.Trust(); err != nil {
		return nil, refusal(err, ledger.Ask{})
	}
	x := s.Ledger.Index()
	if x == nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodeNotSynced, message: "the broker has not read the ledger yet; try again in a minute"}
	}
	if x.Policy == nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodePolicyInvalid, message: "eligibility.yaml at the branch head is invalid, so nothing can be issued: ask its owners to fix it", cause: x.PolicyErr}
	}
	ask := ledger.Ask{UserID: id.UserID, Login: id.Login, RequestID: body.Request, Account: body.Account, Role: body.Role}
	if ask.RequestID == "" {
		if err := s.eligibleAsked(ctx, x.Policy, id, ask.Account, ask.Role); err != nil {
			return nil, err
		}
	}
	found, err := s.Ledger.Find(ctx, ask)
	if err != nil {
		return nil, refusal(err, ask)
	}
	// The target found is checked whatever the ask: a role and a
	// permission set may share a name, and the check above may have
	// passed for the other.
	target := found.Target
	if err := s.eligible(ctx, x.Policy, id, target); err != nil {
		return nil, err
	}
	if target.IsPermissionSet() {
		// The broker holds no permission-set credentials: Identity Center
		// signs the person in through its portal.
		portal := "the AWS access portal"
		if ic := x.Policy.IdentityCenter; ic != nil {
			portal = ic.PortalURL
		}
		return nil, &apiError{status: http.StatusConflict, code: brokerapi.CodeUseSSO, message: fmt.Sprintf(
			"%s is an IAM Identity Center permission set, whose credentials the broker never holds: sign in with your AWS SSO profile, or at %s and choose %s in account %s", target, portal, target.PermissionSet, target.Account)}
	}
	accountID, _ := x.Policy.AccountID(target.Account)
	session := awscreds.Session{
		AccountID: accountID, Role: target.Role, Login: id.Login, UserID: id.UserID,
		RequestID: found.Grant.ID, PR: found.Verification.PR, WindowEnd: found.End,
		SessionDuration: x.Policy.SessionDuration, Chained: s.Chained, Now: s.Now(),
	}
	in, err := awscreds.AssumeRoleInput(session)
	var closed *awscreds.WindowClosedError
	if errors.As(err, &closed) {
		return nil, &apiError{status: http.StatusForbidden, code: brokerapi.CodeExpired, message: fmt.Sprintf("grant %s ended at %s: open a new request", found.Grant.ID, found.End.UTC().Format(time.RFC3339))}
	}
	if err != nil {
		return nil, &apiError{status: http.StatusInternalServerError, code: brokerapi.CodeInternal, message: "could not build the STS request", cause: err}
	}
	timeout := s.STSTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	stsCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := s.STS.AssumeRole(stsCtx, in)
	if err != nil {
		return nil, &apiError{status: http.StatusBadGateway, code: brokerapi.CodeUpstream, message: "AWS STS refused or failed: " + stsReason(err) + "; check the role's trust policy and the broker's permissions", cause: err}
	}
	creds, err := awscreds.FromSTS(out)
	if err != nil {
		return nil, &apiError{status: http.StatusBadGateway, code: brokerapi.CodeUpstream, message: "AWS STS answered without credentials", cause: err}
	}
	return &issued{creds: creds, found: found, session: session, sessionName: *in.RoleSessionName, sessionDuration: time.Duration(*in.DurationSeconds) * time.Second}, nil
}

type issued struct {
	creds           awscreds.Credentials
	found           *ledger.Found
	session         awscreds.Session
	sessionName     string
	sessionDuration time.Duration
}

// stsReason names the STS error code and nothing else (no request echo).
func stsReason(err error) string {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		return coded.ErrorCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "unreachable"
}

func (s *Server) eligible(ctx context.Context, p *eligibility.Policy, id *identity.Identity, target request.Target) *apiError {
	ok, err := p.Eligible(ctx, id.Login, target, s.Members)
	if err != nil {
		return &apiError{status: http.StatusBadGateway, code: brokerapi.CodeUpstream, message: "could not read team membership from GitHub; try again", cause: err}
	}
	if !ok {
		return &apiError{status: http.StatusForbidden, code: brokerapi.CodeNotEligible, message: fmt.Sprintf("%s is not eligible for %s in %s under eligibility.yaml at the branch head", id.Login, target.Qualified(), target.Account)}
	}
	return nil
}

// eligibleAsked checks an ask by account and role, where role is a role,
// ps/NAME, or a permission set's bare name.
func (s *Server) eligibleAsked(ctx context.Context, p *eligibility.Policy, id *identity.Identity, account, role string) *apiError {
	if ps, ok := strings.CutPrefix(role, request.PermissionSetPrefix); ok {
		return s.eligible(ctx, p, id, request.Target{Account: account, PermissionSet: ps})
	}
	err := s.eligible(ctx, p, id, request.Target{Account: account, Role: role})
	if err != nil && err.code == brokerapi.CodeNotEligible {
		if s.eligible(ctx, p, id, request.Target{Account: account, PermissionSet: role}) == nil {
			return nil
		}
	}
	return err
}

// refusal maps a ledger error to the API's codes and next steps.
func refusal(err error, ask ledger.Ask) *apiError {
	var (
		rewritten *custody.RewrittenError
		stale     *ledger.StaleError
		untrusted *custody.UntrustedError
		pending   *custody.PendingError
		noGrant   *ledger.NoActiveGrantError
		expired   *ledger.ExpiredError
		notYet    *ledger.NotYetError
		revoked   *ledger.RevokedError
		ambiguous *ledger.AmbiguousError
		verify    *ledger.VerifyError
		target    *ledger.TargetRequiredError
	)
	suggest := func(account, role string) string {
		return "open one with: elevate request --account " + cmp.Or(ask.Account, account, "ACCOUNT") + " --role " + cmp.Or(ask.Role, role, "ROLE") + " --duration 1h --reason \"...\""
	}
	var notSynced *ledger.NotSyncedError
	switch {
	case errors.As(err, &notSynced) && notSynced.Reason == "":
		return &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodeNotSynced, message: "the broker has not read the ledger yet; try again in a minute"}
	case errors.As(err, &notSynced):
		return &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodeNotSynced, message: notSynced.Error() + "; try again in a minute", cause: err}
	case errors.Is(err, custody.ErrNotRecorded):
		return &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodeNotSynced, message: "a change on the branch is not recorded by GitHub yet: " + err.Error() + "; try again in a minute", cause: err}
	case errors.As(err, &rewritten):
		return &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodeHistoryRewritten, message: rewritten.Error() + "; nothing is issued until then", cause: err}
	case errors.As(err, &stale):
		return &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodeLedgerStale, message: stale.Error() + ": the broker cannot tell whether grants were revoked; its operator must fix the sync", cause: err}
	case errors.As(err, &untrusted):
		return &apiError{status: http.StatusServiceUnavailable, code: brokerapi.CodeUntrustedHistory, message: untrusted.Error() + "; an approved PR that changes the file again restores trust", cause: err}
	case errors.As(err, &pending):
		return &apiError{status: http.StatusBadGateway, code: brokerapi.CodeUpstream, message: "could not verify the policy history with GitHub yet; try again", cause: err}
	case errors.As(err, &noGrant):
		return &apiError{status: http.StatusForbidden, code: brokerapi.CodeNoActiveGrant, message: noGrant.Error() + "; " + suggest("", "")}
	case errors.As(err, &notYet):
		return &apiError{status: http.StatusForbidden, code: brokerapi.CodeNoActiveGrant, message: notYet.Error() + "; try again then"}
	case errors.As(err, &expired):
		return &apiError{status: http.StatusForbidden, code: brokerapi.CodeExpired, message: expired.Error() + "; " + suggest(expired.Account, expired.Role)}
	case errors.As(err, &revoked):
		return &apiError{status: http.StatusForbidden, code: brokerapi.CodeRevoked, message: revoked.Error() + "; " + suggest(revoked.Account, revoked.Role)}
	case errors.As(err, &ambiguous):
		return &apiError{status: http.StatusBadRequest, code: brokerapi.CodeBadRequest, message: ambiguous.Error() + ": give the full id"}
	case errors.As(err, &target):
		return &apiError{status: http.StatusBadRequest, code: brokerapi.CodeTargetRequired, message: target.Error() + ", like elevate credentials --request " + target.ID + " --account " + target.Targets[0].Account + " --role " + target.Targets[0].Qualified()}
	case errors.As(err, &verify):
		return &apiError{status: http.StatusBadGateway, code: brokerapi.CodeUpstream, message: "could not verify the grant with GitHub yet; try again", cause: err}
	}
	return &apiError{status: http.StatusInternalServerError, code: brokerapi.CodeInternal, message: "unexpected error", cause: err}
}

func (s *Server) credentials(w http.ResponseWriter, r *http.Request) (string, *apiError) {
	return s.withGrant(w, r, "credentials", func(is *issued) (any, *apiError) {
		return brokerapi.Credentials{
			Version: 1, AccessKeyID: is.creds.AccessKeyID, SecretAccessKey: is.creds.SecretAccessKey,
			SessionToken: is.creds.SessionToken, Expiration: is.creds.Expiration.UTC(),
			Request: is.found.Grant.ID, WindowEnd: is.found.End.UTC(),
		}, nil
	})
}

func (s *Server) console(w http.ResponseWriter, r *http.Request) (string, *apiError) {
	return s.withGrant(w, r, "console", func(is *issued) (any, *apiError) {
		duration := is.sessionDuration
		if s.Chained {
			duration = 0 // AWS refuses SessionDuration for chained credentials
		}
		url, err := s.Console.URL(r.Context(), is.creds, duration)
		if err != nil {
			return nil, &apiError{status: http.StatusBadGateway, code: brokerapi.CodeUpstream, message: "the AWS sign-in endpoint failed; try again", cause: err}
		}
		return brokerapi.Console{URL: url, Request: is.found.Grant.ID, WindowEnd: is.found.End.UTC()}, nil
	})
}

// withGrant runs the shared path of both issuing endpoints and logs one line.
func (s *Server) withGrant(w http.ResponseWriter, r *http.Request, kind string, answer func(*issued) (any, *apiError)) (string, *apiError) {
	id, aerr := s.authenticate(r)
	if aerr != nil {
		return "", aerr
	}
	body, aerr := readBody(w, r)
	if aerr != nil {
		return id.Login, aerr
	}
	is, aerr := s.issue(r, body, id)
	if aerr != nil {
		return id.Login, aerr
	}
	resp, aerr := answer(is)
	if aerr != nil {
		return id.Login, aerr
	}
	s.Metrics.issued.WithLabelValues(kind).Inc()
	s.Activity.Issued(is.found.Grant.ID, activity.Issued{AccessKeyID: is.creds.AccessKeyID,
		ARN: "arn:aws:sts::" + is.session.AccountID + ":assumed-role/" + is.session.Role + "/" + is.sessionName})
	s.Usage.Record(session{Grant: is.found.Grant.ID, PR: is.found.Verification.PR, Session: prcomment.Session{
		Account: is.found.Target.Account, Role: is.session.Role, Login: id.Login, Via: via(id), At: s.Now(), Until: is.creds.Expiration}})
	s.Logger.Info("issued",
		"kind", kind, "github_login", id.Login, "github_id", id.UserID, "via", id.Via,
		"request", is.found.Grant.ID, "pr", is.found.Verification.PR,
		"role_arn", awscreds.RoleARN(is.session.AccountID, is.session.Role),
		"session_name", is.sessionName, "expiration", is.creds.Expiration.UTC(), "window_end", is.found.End.UTC())
	writeJSON(w, http.StatusOK, resp)
	return id.Login, nil
}

func (s *Server) grants(w http.ResponseWriter, r *http.Request) (string, *apiError) {
	id, aerr := s.authenticate(r)
	if aerr != nil {
		return "", aerr
	}
	if err := s.Ledger.Trust(); err != nil {
		return id.Login, refusal(err, ledger.Ask{})
	}
	list, err := s.Ledger.GrantsOf(r.Context(), id.UserID, id.Login)
	if err != nil {
		return id.Login, refusal(err, ledger.Ask{})
	}
	if s.Assignments != nil {
		for i := range list {
			for j, t := range list[i].Targets {
				if t.PermissionSet != "" {
					list[i].Targets[j].Assignment = s.Assignments.State(list[i].ID, t.Account, t.PermissionSet)
				}
			}
		}
	}
	if list == nil {
		list = []brokerapi.Grant{}
	}
	writeJSON(w, http.StatusOK, brokerapi.Grants{Login: id.Login, Grants: list})
	return id.Login, nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	x := s.Ledger.Index()
	last, err := s.Ledger.Health()
	body := brokerapi.Health{Status: brokerapi.HealthOK, Reason: s.Degraded}

	if terr := s.Ledger.Trust(); terr != nil && body.Reason == "" {
		body.Reason = refusal(terr, ledger.Ask{}).code + ": " + terr.Error()
	}
	status := http.StatusOK
	switch {
	case s.draining.Load():
		body.Status, body.Reason, status = brokerapi.HealthDraining, "the broker is stopping: it finishes the requests in flight", http.StatusServiceUnavailable
	case body.Reason != "":
		body.Status, status = brokerapi.HealthDegraded, http.StatusServiceUnavailable
	case x == nil:
		body.Status, status = brokerapi.HealthNotSynced, http.StatusServiceUnavailable
		body.Reason = "the ledger has not been read yet"
		if err != nil {
			body.Reason = "the first sync has not succeeded yet; the broker retries by itself: " + strings.SplitN(err.Error(), "\n", 2)[0]
		}
		body.Progress = s.Ledger.Progress()
	}
	if x != nil {
		age := int(s.Now().Sub(last).Seconds())
		body.Head, body.Grants, body.LastSyncAgeSeconds = x.Head, x.Len(), &age
	}
	if err != nil {
		body.LastSyncError = strings.SplitN(err.Error(), "\n", 2)[0]
	}
	if s.Warnings != nil {
		body.Warnings = s.Warnings()
	}
	writeJSON(w, status, body)
}

// instrument times a handler, counts refusals and logs each one.
func (s *Server) instrument(endpoint string, h func(http.ResponseWriter, *http.Request) (string, *apiError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		login, aerr := h(w, r)
		if aerr != nil {
			writeError(w, aerr)
			s.Metrics.refused.WithLabelValues(endpoint, aerr.code).Inc()
			level := slog.LevelWarn
			if aerr.status >= 500 {
				level = slog.LevelError
			}
			attrs := []any{"endpoint", endpoint, "status", aerr.status, "error", aerr.code, "github_login", login}
			if aerr.cause != nil {
				attrs = append(attrs, "cause", aerr.cause.Error())
			}
			s.Logger.Log(r.Context(), level, "refused", attrs...)
		}
		s.Metrics.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	})
}
