package broker_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
)

// SIGTERM under load: the issuances in flight (their STS calls included)
// finish with 200, new connections are refused, and /healthz says draining.
func TestGracefulStopUnderLoad(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	h.STS.SetDelay(400 * time.Millisecond)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.Broker.Serve(ctx, ln, 5*time.Second) }()
	url := "http://" + ln.Addr().String()
	token := h.Codertocat()
	const n = 8
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", url+brokerapi.PathCredentials, strings.NewReader(`{"account":"prod","role":"Admin"}`))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	time.Sleep(150 * time.Millisecond) // all eight are now waiting on STS
	stop()                             // SIGTERM
	time.Sleep(50 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("a new connection was accepted while draining")
	}
	rec := httptest.NewRecorder()
	h.Server.Handler().ServeHTTP(rec, httptest.NewRequest("GET", brokerapi.PathHealth, nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"status":"draining"`) {
		t.Errorf("healthz while draining = %d %s", rec.Code, rec.Body)
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("in-flight issuance %d answered %d, want 200", i, c)
		}
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want a clean stop", err)
	}
	if got := h.STS.Calls("AssumeRole"); got != n {
		t.Errorf("AssumeRole calls = %d, want %d", got, n)
	}
}
