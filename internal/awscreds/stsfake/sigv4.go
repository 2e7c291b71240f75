package stsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDateForm  = "20060102T150405Z"
	// maxClockSkew is how far a request's X-Amz-Date may be from now.
	maxClockSkew = 15 * time.Minute
)

// authHeader is a parsed SigV4 Authorization header.
type authHeader struct {
	accessKeyID   string
	date          string // yyyymmdd
	region        string
	service       string
	signedHeaders []string
	signature     string
}

// authenticate verifies the SigV4 signature of r (whose body is body) and
// returns the principal that signed it.
func (f *Fake) authenticate(r *http.Request, body []byte) (*principal, *stsError) {
	raw := r.Header.Get("Authorization")
	if raw == "" {
		return nil, &stsError{status: http.StatusForbidden, typ: "Sender", code: "MissingAuthenticationToken",
			message: "Request is missing Authentication Token"}
	}
	ah, err := parseAuthHeader(raw)
	if err != nil {
		return nil, &stsError{status: http.StatusBadRequest, typ: "Sender", code: "IncompleteSignature", message: err.Error()}
	}

	f.mu.Lock()
	p, ok := f.keys[ah.accessKeyID]
	f.mu.Unlock()
	if !ok {
		return nil, errInvalidToken()
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if p.token != "" || token != "" {
		if subtle.ConstantTimeCompare([]byte(p.token), []byte(token)) != 1 {
			return nil, errInvalidToken()
		}
	}

	if ah.service != "sts" {
		return nil, errSignature("Credential should be scoped to correct service: 'sts'. ")
	}
	if ah.region == "" {
		return nil, errSignature("Credential should be scoped to a valid region. ")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	at, err := time.Parse(amzDateForm, amzDate)
	if err != nil {
		return nil, &stsError{status: http.StatusBadRequest, typ: "Sender", code: "IncompleteSignature",
			message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
	}
	if at.Format("20060102") != ah.date {
		return nil, errSignature(fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			ah.date, at.Format("20060102"), amzDate))
	}
	now := f.clock()
	if skew := now.Sub(at); skew > maxClockSkew || skew < -maxClockSkew {
		return nil, errSignature(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).UTC().Format(amzDateForm), now.UTC().Format(amzDateForm)))
	}
	if !contains(ah.signedHeaders, "host") || !contains(ah.signedHeaders, "x-amz-date") {
		return nil, errSignature("The request signature must sign the host and x-amz-date headers.")
	}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != hashHex(body) {
		return nil, errSignature("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}

	creq := canonicalRequest(r, ah.signedHeaders, hashHex(body))
	scope := strings.Join([]string{ah.date, ah.region, ah.service, "aws4_request"}, "/")
	toSign := strings.Join([]string{sigAlgorithm, amzDate, scope, hashHex([]byte(creq))}, "\n")
	key := hmacSHA256([]byte("AWS4"+p.secret), ah.date)
	key = hmacSHA256(key, ah.region)
	key = hmacSHA256(key, ah.service)
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(ah.signature))) {
		return nil, errSignature("The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}

	if !p.expires.IsZero() && !now.Before(p.expires) {
		return nil, &stsError{status: http.StatusBadRequest, typ: "Sender", code: "ExpiredToken",
			message: "The security token included in the request is expired"}
	}
	return p, nil
}

// parseAuthHeader reads "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…".
func parseAuthHeader(raw string) (authHeader, error) {
	var ah authHeader
	rest, ok := strings.CutPrefix(raw, sigAlgorithm+" ")
	if !ok {
		return ah, fmt.Errorf("Authorization header must use %s", sigAlgorithm)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ah, errors.New("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters")
		}
		fields[k] = v
	}
	cred, sh, sig := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if cred == "" || sh == "" || sig == "" {
		return ah, errors.New("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters")
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return ah, errors.New("Credential must have the form <key>/<date>/<region>/<service>/aws4_request")
	}
	ah.accessKeyID, ah.date, ah.region, ah.service = scope[0], scope[1], scope[2], scope[3]
	ah.signedHeaders = strings.Split(sh, ";")
	ah.signature = sig
	return ah, nil
}

// canonicalRequest is SigV4's canonical form of r over signedHeaders.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(path + "\n")
	b.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, name := range signedHeaders {
		b.WriteString(name + ":" + headerValue(r, name) + "\n")
	}
	b.WriteString("\n")
	b.WriteString(strings.Join(signedHeaders, ";") + "\n")
	b.WriteString(payloadHash)
	return b.String()
}

// headerValue is the canonical value of the header name in r: values
// trimmed, inner runs of spaces collapsed, joined with commas.
func headerValue(r *http.Request, name string) string {
	var values []string
	switch name {
	case "host":
		values = []string{r.Host}
	case "content-length":
		values = r.Header.Values(name)
		if len(values) == 0 {
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		values = r.Header.Values(name)
	}
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// canonicalQuery sorts and RFC 3986-encodes the query.
func canonicalQuery(q url.Values) string {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, pair{uriEncode(k), uriEncode(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.k + "=" + p.v
	}
	return strings.Join(out, "&")
}

func uriEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func errInvalidToken() *stsError {
	return &stsError{status: http.StatusForbidden, typ: "Sender", code: "InvalidClientTokenId",
		message: "The security token included in the request is invalid."}
}

func errSignature(msg string) *stsError {
	return &stsError{status: http.StatusForbidden, typ: "Sender", code: "SignatureDoesNotMatch", message: msg}
}
