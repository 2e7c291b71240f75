package ghauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/outbound"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cli/oauth/api"
	"github.com/cli/oauth/device"
)

const (
	// defaultLoginTimeout bounds each HTTP call of the device flow when the
	// caller gives no client.
	defaultLoginTimeout = 30 * time.Second

	// maxAnswer bounds each answer of the OAuth endpoints.
	maxAnswer = 64 << 10

	// defaultInterval is RFC 8628's polling interval when the server gives
	// none (or, off loopback, a non-positive one).
	defaultInterval = 5

	// defaultExpiresIn is how long a code lives when the server does not
	// say: GitHub's 15 minutes.
	defaultExpiresIn = 900

	userAgent = "elevate"
)

// DefaultScopes are the OAuth scopes DeviceLogin asks for by default.
var DefaultScopes = []string{"read:org", "repo"}

// DeviceOptions configure DeviceLogin.
type DeviceOptions struct {
	// APIURL is the GitHub REST API (GITHUB_API_URL); "" means
	// https://api.github.com. The OAuth endpoints are on WebHost(APIURL).
	APIURL string
	// ClientID is the OAuth app's client id (ELEVATE_GITHUB_CLIENT_ID);
	// required. The app must have device flow enabled.
	ClientID string
	// Scopes to ask for; nil means DefaultScopes.
	Scopes []string
	// HTTPClient carries both calls; nil means a client with a 30 s
	// timeout. It is copied, not modified; redirects are never followed.
	HTTPClient *http.Client
	// Prompt shows the one-time code and where to enter it; nil means
	// PromptTo(os.Stderr).
	Prompt func(code, verificationURL string)
	// Now is the clock the token's expiry is counted from; nil means
	// time.Now.
	Now func() time.Time
}

// PromptTo returns a Prompt that writes the one-time code and the
// verification URL to w (the CLI's error stream; the code is not data).
func PromptTo(w io.Writer) func(code, verificationURL string) {
	return func(code, verificationURL string) {
		fmt.Fprintf(w, "First copy your one-time code: %s\n", code)
		fmt.Fprintf(w, "Then open %s in your browser and enter it.\n", verificationURL)
	}
}

// DeviceLogin runs GitHub's OAuth device flow and returns the user's token,
// with its expiry and refresh token when GitHub gave them (a GitHub App
// whose user tokens expire), for o.ClientID's app.
//
// It asks WebHost(o.APIURL)/login/device/code for a code, hands the user
// code and verification URL to o.Prompt, and polls
// /login/oauth/access_token at the interval the server sets until the user
// approves (or denies) the code in a browser, the code expires, or ctx is
// done. Off loopback hosts a missing or zero interval is taken as 5 s, so
// a broken server cannot make it spin; tests serve interval 0 from an
// httptest server to finish at once.
func DeviceLogin(ctx context.Context, o DeviceOptions) (Token, error) {
	clientID := strings.TrimSpace(o.ClientID)
	if clientID == "" {
		return Token{}, errors.New("github login: no OAuth client id; set ELEVATE_GITHUB_CLIENT_ID")
	}
	web, err := githubapi.WebHost(o.APIURL)
	if err != nil {
		return Token{}, fmt.Errorf("github login: %w", err)
	}
	scopes := o.Scopes
	if scopes == nil {
		scopes = DefaultScopes
	}
	prompt := o.Prompt
	if prompt == nil {
		prompt = PromptTo(os.Stderr)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	poster := &recordingPoster{next: &formPoster{ctx: ctx, hc: oauthClient(o.HTTPClient)}}
	codeURL := web.JoinPath("login", "device", "code").String()
	tokenURL := web.JoinPath("login", "oauth", "access_token").String()

	code, err := device.RequestCode(poster, codeURL, clientID, scopes)
	if err != nil {
		return Token{}, loginError(ctx, web.Host, err)
	}
	if code.DeviceCode == "" || !printable(code.UserCode) || !printable(code.VerificationURI) {
		return Token{}, fmt.Errorf("github login: %s answered a device code without a usable code or verification URL", web.Host)
	}
	if code.Interval <= 0 && !githubapi.IsLoopback(web.Hostname()) {
		code.Interval = defaultInterval
	}
	if code.ExpiresIn <= 0 {
		code.ExpiresIn = defaultExpiresIn
	}
	prompt(code.UserCode, code.VerificationURI)

	if _, err := device.Wait(ctx, poster, tokenURL, device.WaitOptions{ClientID: clientID, DeviceCode: code}); err != nil {
		return Token{}, loginError(ctx, web.Host, err)
	}
	// cli/oauth keeps the token and refresh token but drops the expiries:
	// read them from the answer that carried the token.
	tok, err := tokenFrom(poster.last, clientID, now())
	if err != nil {
		return Token{}, fmt.Errorf("github login: %s %w", web.Host, err)
	}
	return tok, nil
}

// oauthClient is the client of calls to GitHub's OAuth endpoints: a copy of
// hc (nil: one with a 30 s timeout) that bounds answers and never follows
// a redirect.
func oauthClient(hc *http.Client) *http.Client {
	c := outbound.LimitBodies(hc, maxAnswer)
	if hc == nil {
		c.Timeout = defaultLoginTimeout
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error {
		return errors.New("redirect refused")
	}
	return c
}

// loginError explains err, from the device flow against host, and says what
// to do next. Server messages are kept (they never hold the token); the
// device code is never shown.
func loginError(ctx context.Context, host string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("github login: cancelled: %w", ctxErr)
	}
	if errors.Is(err, device.ErrUnsupported) {
		return fmt.Errorf("github login: %s refused the device flow for this client id; check ELEVATE_GITHUB_CLIENT_ID and enable device flow in the OAuth app's settings: %w", host, err)
	}
	var ue *url.Error
	if errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &ue) {
		// device.Wait gives up when the code's expires_in has passed; an
		// HTTP timeout, also a DeadlineExceeded, comes as a *url.Error.
		return errors.New("github login: the one-time code expired; run `elevate login` again")
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case "access_denied":
			return errors.New("github login: the request was denied in the browser; run `elevate login` again")
		case "expired_token":
			return errors.New("github login: the one-time code expired; run `elevate login` again")
		case "incorrect_client_credentials", "unsupported_grant_type", "incorrect_device_code", "device_flow_disabled":
			return fmt.Errorf("github login: %s refused the login (%w); check ELEVATE_GITHUB_CLIENT_ID and the OAuth app's settings", host, err)
		}
		return fmt.Errorf("github login: %s answered: %w", host, err)
	}
	return fmt.Errorf("github login: %w", err)
}

// printable reports whether s is non-empty and safe to print to a terminal.
func printable(s string) bool {
	if s == "" || len(s) > 2048 {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// formPoster is the client cli/oauth posts through: ctx-bound requests,
// JSON asked for (form-encoded answers work too), answers bounded.
type formPoster struct {
	ctx context.Context
	hc  *http.Client
}

func (p *formPoster) PostForm(u string, v url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// recordingPoster posts through next and keeps the last answer, parsed as
// cli/oauth parses it, so that fields cli/oauth drops can be read.
type recordingPoster struct {
	next *formPoster
	last *api.FormResponse
}

func (p *recordingPoster) PostForm(u string, v url.Values) (*http.Response, error) {
	resp, err := p.next.PostForm(u, v)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	replay := func() *http.Response {
		r := *resp
		r.Body = io.NopCloser(bytes.NewReader(body))
		return &r
	}
	if p.last, err = api.PostForm(answered{replay()}, u, v); err != nil {
		return nil, err
	}
	return replay(), nil
}

// answered is a poster whose every post gets resp.
type answered struct{ resp *http.Response }

func (a answered) PostForm(string, url.Values) (*http.Response, error) { return a.resp, nil }
