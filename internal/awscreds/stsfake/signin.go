package stsfake

import (
	"crypto/subtle"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Console session limits of getSigninToken's SessionDuration.
const (
	minConsoleSeconds = 900
	maxConsoleSeconds = 43200
)

// serveFederation answers GET /federation: getSigninToken and login.
func (f *Fake) serveFederation(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		f.report("%s /federation: the federation endpoint takes GET", r.Method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	action := q.Get("Action")
	f.count(action)
	switch action {
	case "getSigninToken":
		f.getSigninToken(w, q)
	case "login":
		f.login(w, q)
	default:
		f.report("GET /federation with unexpected Action %q", action)
		http.Error(w, "Invalid Action", http.StatusBadRequest)
	}
}

// getSigninToken exchanges issued credentials for a sign-in token.
func (f *Fake) getSigninToken(w http.ResponseWriter, q url.Values) {
	var session struct {
		SessionID    string `json:"sessionId"`
		SessionKey   string `json:"sessionKey"`
		SessionToken string `json:"sessionToken"`
	}
	if err := json.Unmarshal([]byte(q.Get("Session")), &session); err != nil ||
		session.SessionID == "" || session.SessionKey == "" || session.SessionToken == "" {
		http.Error(w, "Invalid credentials parameter", http.StatusBadRequest)
		return
	}
	now := f.clock()
	f.mu.Lock()
	p, ok := f.keys[session.SessionID]
	f.mu.Unlock()
	if !ok || !p.issued || !now.Before(p.expires) ||
		subtle.ConstantTimeCompare([]byte(p.secret), []byte(session.SessionKey)) != 1 ||
		subtle.ConstantTimeCompare([]byte(p.token), []byte(session.SessionToken)) != 1 {
		http.Error(w, "Invalid credentials parameter", http.StatusBadRequest)
		return
	}
	if raw, present := q["SessionDuration"]; present {
		n, err := strconv.Atoi(raw[0])
		if err != nil || n < minConsoleSeconds || n > maxConsoleSeconds {
			http.Error(w, "Invalid SessionDuration", http.StatusBadRequest)
			return
		}
		if p.chained {
			// AWS refuses SessionDuration for credentials from role chaining.
			http.Error(w, "Invalid credentials parameter", http.StatusBadRequest)
			return
		}
	}
	token := randomString(96, b64url)
	f.mu.Lock()
	f.tokens[token] = signinGrant{arn: p.arn, expires: now.Add(signinTokenLifetime)}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"SigninToken": token})
}

// login answers a sign-in with a page naming the session, for a token the
// fake issued.
func (f *Fake) login(w http.ResponseWriter, q url.Values) {
	token, dest := q.Get("SigninToken"), q.Get("Destination")
	f.mu.Lock()
	g, ok := f.tokens[token]
	f.mu.Unlock()
	if !ok || !f.clock().Before(g.expires) {
		http.Error(w, "Invalid SigninToken", http.StatusBadRequest)
		return
	}
	if u, err := url.Parse(dest); dest == "" || err != nil || !u.IsAbs() {
		http.Error(w, "Invalid Destination", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString("<!doctype html>\n<title>AWS Management Console (stsfake)</title>\n")
	b.WriteString("<p>Signed in as <code>" + html.EscapeString(g.arn) + "</code>.</p>\n")
	b.WriteString(`<p>Continue to <a href="` + html.EscapeString(dest) + `">` + html.EscapeString(dest) + "</a>.</p>\n")
	if issuer := q.Get("Issuer"); issuer != "" {
		b.WriteString("<p>Issued by " + html.EscapeString(issuer) + ".</p>\n")
	}
	_, _ = w.Write([]byte(b.String()))
}
