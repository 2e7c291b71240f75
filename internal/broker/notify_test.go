package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// slack is an incoming webhook on loopback: it keeps every text.
type slack struct {
	mu    sync.Mutex
	texts []string
}

func (s *slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || msg.Text == "" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.texts = append(s.texts, msg.Text)
	s.mu.Unlock()
}

// wait returns the text that contains want, once it came.
func (s *slack) wait(t *testing.T, want string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		for _, txt := range s.texts {
			if strings.Contains(txt, want) {
				s.mu.Unlock()
				return txt
			}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("no notice says %q; got %q", want, s.texts)
	return ""
}

// all is every text so far.
func (s *slack) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

// counting counts the texts that contain want.
func (s *slack) counting(want string) int {
	n := 0
	for _, txt := range s.all() {
		if strings.Contains(txt, want) {
			n++
		}
	}
	return n
}

func (s *slack) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.texts)
}

// A broker with --notify-url announces a merged grant, an emergency grant
// (loudly), a grant's first session, a revocation and an emergency grant
// nobody reviewed within a day, each once, with a link to its PR; what it
// found at start is not announced.
func TestNotices(t *testing.T) {
	t.Parallel()
	rx := &slack{}
	srv := httptest.NewServer(rx)
	defer srv.Close()
	h := brokertest.New(t, func(c *broker.Config) { c.NotifyURL = srv.URL + "/services/T0/B0/secret" })
	ctx := context.Background()
	sync := func() {
		t.Helper()
		if err := h.Broker.Syncer.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		h.Broker.Syncer.Wait()
	}
	sync() // the grant of PR #2 was there at start: remembered, not announced
	prLink := func(n int) string {
		return strings.TrimSuffix(h.GitHub.Fake.URL, "/api/v3") + "/" + vt.Owner + "/" + vt.Name + "/pull/" + itoa(n) + "|PR #" + itoa(n) + ">"
	}

	later := strings.Replace(vt.Request, "ticket: INC-1", "ticket: INC-3\nnot_before: "+h.Clock().Add(48*time.Hour).Format(time.RFC3339), 1)
	sha := h.Repo.Commit(h.Clock().Add(-5*time.Minute), "Merge pull request #3", map[string]string{"requests/prod/2026-11/later.yaml": later})
	h.MergePR(3, "requests/prod/2026-11/later.yaml", later, sha, h.Clock().Add(-5*time.Minute), true)
	emergency := "requester: Codertocat\naccount: prod\nrole: Admin\nduration: 1h\nreason: Payments are down\nticket: INC-4\nemergency: true\n"
	sha = h.Repo.Commit(h.Clock().Add(-4*time.Minute), "Merge pull request #4", map[string]string{"requests/prod/2026-11/emergency.yaml": emergency})
	h.MergePR(4, "requests/prod/2026-11/emergency.yaml", emergency, sha, h.Clock().Add(-4*time.Minute), false)
	sync()
	merged := rx.wait(t, "grant merged* (scheduled")
	if !strings.Contains(merged, "prod/2026-11/later") || !strings.Contains(merged, prLink(3)) {
		t.Errorf("merge notice = %q, want the grant and a link to PR #3 (%s)", merged, prLink(3))
	}
	loud := rx.wait(t, "EMERGENCY elevate grant merged")
	if !strings.Contains(loud, "prod/2026-11/emergency") || !strings.Contains(loud, prLink(4)) {
		t.Errorf("emergency notice = %q", loud)
	}
	if n := rx.count(); n != 2 {
		t.Errorf("%d notices after two merges, want 2 (PR #2 was there at start)", n)
	}

	if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
	first := rx.wait(t, "used for the first time")
	if !strings.Contains(first, "Codertocat") || !strings.Contains(first, "GitHub Actions") || !strings.Contains(first, prLink(vt.Number)) {
		t.Errorf("first-use notice = %q", first)
	}
	if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
	waitForComment(t, h, vt.Number, "Sessions so far: **2**")

	h.Repo.Commit(h.Clock(), "revoke", map[string]string{vt.RequestPath: ""})
	sync()
	if got := rx.wait(t, "grant revoked"); !strings.Contains(got, vt.RequestID) {
		t.Errorf("revocation notice = %q", got)
	}

	h.SetNow(h.Clock().Add(25 * time.Hour))
	sync()
	if got := rx.wait(t, "no code owner has approved it"); !strings.Contains(got, "prod/2026-11/emergency") || !strings.Contains(got, prLink(4)) {
		t.Errorf("unreviewed notice = %q", got)
	}
	sync()
	if n := rx.count(); n != 5 {
		t.Errorf("%d notices, want 5, each once", n)
	}
	for _, txt := range rx.texts {
		if strings.Contains(txt, "secret") || strings.Contains(txt, vt.Token) {
			t.Errorf("a notice holds a secret: %q", txt)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// An emergency revoked by its requester is still announced when no owner
// reviewed it within a day: a revocation is not a review.
func TestRevokedEmergencyIsStillAnnouncedUnreviewed(t *testing.T) {
	t.Parallel()
	rx := &slack{}
	srv := httptest.NewServer(rx)
	defer srv.Close()
	h := brokertest.New(t, func(c *broker.Config) { c.NotifyURL = srv.URL + "/services/T0/B0/secret" })
	sync := func() {
		t.Helper()
		if err := h.Broker.Syncer.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.Broker.Syncer.Wait()
	}
	sync()
	const path = "requests/prod/2026-11/emergency.yaml"
	emergency := "requester: Codertocat\naccount: prod\nrole: Admin\nduration: 1h\nreason: Payments are down\nticket: INC-4\nemergency: true\n"
	sha := h.Repo.Commit(h.Clock().Add(-4*time.Minute), "Merge pull request #4", map[string]string{path: emergency})
	h.MergePR(4, path, emergency, sha, h.Clock().Add(-4*time.Minute), false)
	sync()
	rx.wait(t, "EMERGENCY elevate grant merged")
	h.MergeChange(5, map[string]string{path: ""}, h.Clock().Add(-time.Minute), nil)
	sync()
	h.SetNow(h.Clock().Add(25 * time.Hour))
	sync()
	if got := rx.wait(t, "no code owner has approved it"); !strings.Contains(got, "prod/2026-11/emergency") {
		t.Errorf("unreviewed notice = %q", got)
	}
}
