package cli

import (
	"context"
	"errors"
	"net/http"
)

// networkTransport turns a failure to reach a service into a *NetworkError
// that names its host and the variable to check.
type networkTransport struct {
	base         http.RoundTripper
	service, env string
}

func (t networkTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil || errors.Is(r.Context().Err(), context.Canceled) {
		return resp, err
	}
	return nil, &NetworkError{Service: t.service, Host: r.URL.Host, Env: t.env, Timeout: isTimeout(err) || errors.Is(r.Context().Err(), context.DeadlineExceeded), Err: err}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// withNetworkErrors is a copy of hc whose failures to connect say which
// service was out of reach and which variable names it.
func withNetworkErrors(hc *http.Client, service, env string) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = networkTransport{base: base, service: service, env: env}
	return c
}
