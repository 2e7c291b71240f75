package awscreds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultSigninURL is the AWS federation endpoint.
	DefaultSigninURL = "https://signin.aws.amazon.com/federation"
	// DefaultDestination is where the console sign-in lands.
	DefaultDestination = "https://console.aws.amazon.com/"

	// Console session limits of getSigninToken's SessionDuration.
	minConsoleDuration = 900 * time.Second
	maxConsoleDuration = 12 * time.Hour

	defaultConsoleTimeout = 10 * time.Second
	maxSigninAnswer       = 64 << 10
)

// Console turns temporary credentials into an AWS console sign-in URL through
// the federation endpoint (the getSigninToken flow of
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_enable-console-custom-url.html).
type Console struct {
	// SigninURL is the federation endpoint; empty means DefaultSigninURL.
	SigninURL string
	// HTTP carries the getSigninToken call; nil means a client with a 10 s
	// timeout. Redirects are never followed: the request carries secrets.
	HTTP *http.Client
	// Issuer is shown by the console as where the user came from; empty
	// leaves it out.
	Issuer string
	// Destination is the console page to open; empty means
	// DefaultDestination.
	Destination string
}

// signinSession is the Session parameter of getSigninToken.
type signinSession struct {
	SessionID    string `json:"sessionId"`
	SessionKey   string `json:"sessionKey"`
	SessionToken string `json:"sessionToken"`
}

// URL exchanges creds for a sign-in token and returns the login URL:
//
//	{SigninURL}?Action=login&Issuer=…&Destination=…&SigninToken=…
//
// sessionDuration, if > 0, is sent as SessionDuration (900 s to 12 h, whole
// seconds) and sets the console session's length; 0 leaves it to AWS (the
// credentials' own lifetime, at most 1 h when the broker's credentials are
// themselves a role, where AWS rejects SessionDuration). The session policy
// of the credentials applies to the console session too.
//
// The returned URL is a bearer secret for its token's 15 minutes. Errors
// never include the credentials, the token, or a URL that carries them.
func (c Console) URL(ctx context.Context, creds Credentials, sessionDuration time.Duration) (string, error) {
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" || creds.SessionToken == "" {
		return "", errors.New("console sign-in: temporary credentials (key id, secret and session token) are required")
	}
	if sessionDuration != 0 && (sessionDuration < minConsoleDuration || sessionDuration > maxConsoleDuration) {
		return "", fmt.Errorf("console sign-in: session duration %s is outside 15m..12h", sessionDuration)
	}
	endpoint := c.SigninURL
	if endpoint == "" {
		endpoint = DefaultSigninURL
	}
	base, err := url.Parse(endpoint)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.RawQuery != "" {
		return "", fmt.Errorf("console sign-in: signin url %q is not an absolute http(s) url without a query", endpoint)
	}
	dest := c.Destination
	if dest == "" {
		dest = DefaultDestination
	}
	if u, err := url.Parse(dest); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("console sign-in: destination %q is not an absolute http(s) url", dest)
	}

	token, err := c.signinToken(ctx, base, creds, sessionDuration)
	if err != nil {
		return "", err
	}

	// The documented order: Action, Issuer, Destination, SigninToken.
	var q strings.Builder
	q.WriteString("Action=login")
	if c.Issuer != "" {
		q.WriteString("&Issuer=" + url.QueryEscape(c.Issuer))
	}
	q.WriteString("&Destination=" + url.QueryEscape(dest))
	q.WriteString("&SigninToken=" + url.QueryEscape(token))
	login := *base
	login.RawQuery = q.String()
	return login.String(), nil
}

// signinToken calls Action=getSigninToken.
func (c Console) signinToken(ctx context.Context, base *url.URL, creds Credentials, sessionDuration time.Duration) (string, error) {
	where := base.Redacted() // never the query: it holds the credentials
	session, err := json.Marshal(signinSession{
		SessionID:    creds.AccessKeyID,
		SessionKey:   creds.SecretAccessKey,
		SessionToken: creds.SessionToken,
	})
	if err != nil {
		return "", fmt.Errorf("console sign-in: encode session: %w", err)
	}
	q := url.Values{"Action": {"getSigninToken"}, "Session": {string(session)}}
	if sessionDuration > 0 {
		q.Set("SessionDuration", strconv.Itoa(int(sessionDuration/time.Second)))
	}
	u := *base
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("console sign-in: build request to %s: %w", where, stripURL(err))
	}
	req.Header.Set("Accept", "application/json")

	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: defaultConsoleTimeout}
	}
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		return "", fmt.Errorf("console sign-in: get signin token from %s: %w", where, stripURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The body is not echoed: nothing from this exchange goes into errors.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxSigninAnswer))
		return "", fmt.Errorf("console sign-in: federation endpoint %s answered %s", where, resp.Status)
	}
	var answer struct {
		SigninToken string
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxSigninAnswer))
	if err := dec.Decode(&answer); err != nil {
		return "", fmt.Errorf("console sign-in: federation endpoint %s answered something other than a signin token", where)
	}
	if answer.SigninToken == "" {
		return "", fmt.Errorf("console sign-in: federation endpoint %s answered an empty signin token", where)
	}
	return answer.SigninToken, nil
}

// stripURL drops the request URL (which carries the credentials) from an
// error of net/http, keeping what it wraps for errors.Is.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
