package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// Three replicas clone one origin over smart HTTP; a revocation's webhook
// reaches only the first; every one refuses within the head-check interval.
func TestReplicasAgreeOnARevocation(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	git := ledgertest.NewGitServer(t, false, vt.Token)
	url := git.Publish(t, h.Repo, "acme", "access")
	replicas := make([]*broker.Broker, 3)
	urls := make([]string, 3)
	for i := range replicas {
		cfg := h.Config()
		cfg.Ledger, cfg.StateDir = url, t.TempDir()
		b, err := broker.Build(context.Background(), cfg, h.Deps())
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Syncer.Sync(context.Background()); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		ctx, stop := context.WithCancel(context.Background())
		t.Cleanup(stop)
		go b.Syncer.Watch(ctx, 5*time.Second)
		srv := httptest.NewServer(b.Server.Handler())
		t.Cleanup(srv.Close)
		replicas[i], urls[i] = b, srv.URL
	}
	call := func(url string) string {
		req, _ := http.NewRequest("POST", url+brokerapi.PathCredentials, strings.NewReader(`{"request":"`+vt.RequestID+`"}`))
		req.Header.Set("Authorization", "Bearer "+h.Codertocat())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 {
			return "issued"
		}
		var e brokerapi.Error
		_ = decodeJSON(resp, &e)
		return e.Code
	}
	for i, u := range urls {
		if got := call(u); got != "issued" {
			t.Fatalf("replica %d before the revocation: %s", i, got)
		}
	}
	h.Repo.Commit(h.Clock(), "Merge pull request #9: revoke", map[string]string{vt.RequestPath: ""})
	git.Push(t, h.Repo, "acme", "access", false)
	start := time.Now()
	if err := <-replicas[0].Server.Webhook.Kick(context.Background()); err != nil { // the one webhook GitHub delivered
		t.Fatal(err)
	}
	refused := make([]time.Duration, 3)
	for time.Since(start) < 8*time.Second {
		done := true
		for i, u := range urls {
			if refused[i] == 0 {
				if call(u) == brokerapi.CodeRevoked {
					refused[i] = time.Since(start)
				} else {
					done = false
				}
			}
		}
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("revocation refused by the replicas after %v", refused)
	for i, d := range refused {
		if d == 0 || d > 6*time.Second {
			t.Errorf("replica %d refused the revoked grant after %v, want within 6 s", i, d)
		}
	}
}

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
