package outbound_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/outbound"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw      string
		loopback bool
		err      string
	}{
		{"https://api.github.com/", false, ""},
		{"http://127.0.0.1:8080", true, ""},
		{"http://[::1]:8080", true, ""},
		{"http://localhost", true, ""},
		{"http://api.github.com", false, "plain http is only allowed for loopback hosts"},
		{"https://user:hunter2@example.com", false, "must not carry credentials"},
		{"ftp://example.com", false, "scheme must be https"},
		{"https://", false, "missing host"},
		{"https://example.com/?token=x", false, "must not have a query"},
		{"https://example.com/#x", false, "must not have a query or fragment"},
		{"https://ex ample.com", false, "parse"},
	} {
		u, loopback, err := outbound.ParseURL("URL", tt.raw)
		switch {
		case tt.err == "" && (err != nil || u == nil || loopback != tt.loopback):
			t.Errorf("ParseURL(%q) = %v, %v, %v", tt.raw, u, loopback, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseURL(%q) error = %v, want %q", tt.raw, err, tt.err)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("ParseURL(%q) error repeats the password: %v", tt.raw, err)
		}
	}
}

func TestLimitBodies(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 100))
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		max int64
		ok  bool
	}{{100, true}, {99, false}} {
		resp, err := outbound.LimitBodies(nil, tt.max).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, outbound.ErrBodyTooLarge)) || (tt.ok && len(data) != 100) {
			t.Errorf("max %d: read %d bytes, err %v", tt.max, len(data), err)
		}
	}
}
