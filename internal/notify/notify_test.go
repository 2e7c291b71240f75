package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/claim"
)

// receiver is a Slack-compatible incoming webhook on loopback: it keeps the
// texts it accepted and fails the first fail requests with 500.
type receiver struct {
	mu    sync.Mutex
	texts []string
	tries int
	fail  int
	block chan struct{} // when set, every request waits for it
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.block != nil {
		<-rc.block
	}
	var msg struct {
		Text string `json:"text"`
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&msg) != nil || msg.Text == "" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.tries++
	if rc.tries <= rc.fail {
		http.Error(w, "server_error", http.StatusInternalServerError)
		return
	}
	rc.texts = append(rc.texts, msg.Text)
	_, _ = w.Write([]byte("ok"))
}

func (rc *receiver) attempts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.tries
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.texts...)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

func TestEveryKindIsDeliveredOnceInOrder(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := start(t.Context(), srv.URL, nil, nil, nil, time.Millisecond)
	kinds := []string{GrantMerged, EmergencyMerged, FirstSession, Revoked, SessionsEnded, EmergencyUnreviewed}
	for _, k := range kinds {
		n.Send(Event{Kind: k, Text: "text of " + k})
	}
	// The receiver keeps a text before its answer reaches the notifier,
	// which counts it sent only then.
	waitFor(t, func() bool { sent, _, _ := n.Counts(); return len(rc.got()) == len(kinds) && sent == int64(len(kinds)) })
	for i, k := range kinds {
		if got := rc.got()[i]; got != "text of "+k {
			t.Errorf("message %d = %q, want the %s text", i, got, k)
		}
	}
	if sent, dropped, failed := n.Counts(); sent != 6 || dropped != 0 || failed != 0 {
		t.Errorf("counts = %d sent, %d dropped, %d failed", sent, dropped, failed)
	}
}

func TestAFailingReceiverIsRetried(t *testing.T) {
	rc := &receiver{fail: 3}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := start(t.Context(), srv.URL, nil, nil, nil, time.Millisecond)
	n.Send(Event{Kind: Revoked, Text: "revoked"})
	waitFor(t, func() bool { return len(rc.got()) == 1 })
	if n := rc.attempts(); n != 4 {
		t.Errorf("%d tries, want 4 (three 500s, then accepted)", n)
	}
}

func TestAReceiverThatNeverAcceptsGivesUpAndLogsNoURL(t *testing.T) {
	rc := &receiver{fail: 1 << 30}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var logs bytes.Buffer
	url := srv.URL + "/services/T000/B000/SECRETPART"
	n := start(t.Context(), url, nil, slog.New(slog.NewTextHandler(&logs, nil)), nil, time.Millisecond)
	n.Send(Event{Kind: Revoked, Text: "revoked"})
	waitFor(t, func() bool { _, _, failed := n.Counts(); return failed == 1 })
	if n := rc.attempts(); n != maxAttempts {
		t.Errorf("%d tries, want %d", n, maxAttempts)
	}
	if !bytes.Contains(logs.Bytes(), []byte("could not deliver a notification")) {
		t.Errorf("the failure is not logged: %s", logs.String())
	}
	if bytes.Contains(logs.Bytes(), []byte("SECRETPART")) {
		t.Errorf("the log holds the webhook URL: %s", logs.String())
	}
}

// A stalled receiver fills the queue; Send still returns at once and drops.
func TestSendNeverBlocks(t *testing.T) {
	rc := &receiver{block: make(chan struct{})}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	defer close(rc.block)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := start(ctx, srv.URL, nil, nil, nil, time.Millisecond)
	begin := time.Now()
	for range queueSize + 100 {
		n.Send(Event{Kind: FirstSession, Text: "used"})
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("sending %d events to a stalled receiver took %v", queueSize+100, d)
	}
	waitFor(t, func() bool { _, dropped, _ := n.Counts(); return dropped >= 99 })
}

func TestNilNotifierIsOff(t *testing.T) {
	var n *Notifier
	n.Send(Event{Kind: Revoked, Text: "x"}) // must not panic
}

func TestEscapeDefusesSlackControlSequences(t *testing.T) {
	for in, want := range map[string]string{
		"<!channel>":            "&lt;!channel&gt;",
		"<https://evil|PR #12>": "&lt;https://evil|PR #12&gt;",
		"INC-1 & co":            "INC-1 &amp; co",
		"plain":                 "plain",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// claimStoreDown is a receiver, a claim store that is down, and a notifier
// posting to the one and claiming in the other.
func claimStoreDown(t *testing.T) (*receiver, *flaky, *Notifier) {
	t.Helper()
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	store := &flaky{Claimer: claim.NewMemory(nil)}
	store.down.Store(true)
	return rc, store, start(t.Context(), srv.URL, nil, nil, store, time.Millisecond)
}

// flaky is a claim store that can be down: every claim then fails.
type flaky struct {
	claim.Claimer
	down  atomic.Bool
	tries atomic.Int64
}

func (f *flaky) Claim(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	f.tries.Add(1)
	if f.down.Load() {
		return false, errors.New("the table is unreachable")
	}
	return f.Claimer.Claim(ctx, id, ttl)
}

// Two replicas that see one event (and one replica that sees it twice)
// send it once: whoever claims it first.
func TestAnEventIsSentOnceAcrossReplicas(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	shared := claim.NewMemory(nil)
	a := start(t.Context(), srv.URL, nil, nil, shared, time.Millisecond)
	b := start(t.Context(), srv.URL, nil, nil, shared, time.Millisecond)
	for _, n := range []*Notifier{a, b, a} {
		n.Send(Event{Kind: Revoked, ID: "prod/2026-12/alice@abc", Text: "revoked (as this replica words it)"})
	}
	a.Send(Event{Kind: Revoked, ID: "prod/2026-12/bob@def", Text: "another revocation"})
	waitFor(t, func() bool { return a.SentElsewhere()+b.SentElsewhere() == 2 && len(rc.got()) == 2 })
	if got := rc.got(); len(got) != 2 {
		t.Errorf("the receiver got %q, want each event once", got)
	}
}

// A claim store that is down holds the notice back: none is sent while it
// is down (not even after many tries), and it is sent once when it is back.
func TestAnUnclaimableEventWaitsAndIsSentOnce(t *testing.T) {
	rc, store, n := claimStoreDown(t)
	n.Send(Event{Kind: SessionsEnded, ID: "x", Text: "sessions ended"})
	waitFor(t, func() bool { return store.tries.Load() >= 5 })
	if got := rc.got(); len(got) != 0 {
		t.Fatalf("sent without a claim: %q", got)
	}
	store.down.Store(false)
	waitFor(t, func() bool { return len(rc.got()) == 1 })
	n.Send(Event{Kind: SessionsEnded, ID: "x", Text: "sessions ended"})
	waitFor(t, func() bool { return n.SentElsewhere() == 1 })
	if got := rc.got(); len(got) != 1 {
		t.Errorf("the receiver got %q, want the notice once", got)
	}
}

// While the claim store is down, later notices are not stuck behind the
// first: none is dropped, the same one sent again waits once, and each is
// sent once when the store is back.
func TestAClaimStoreOutageHoldsEveryNoticeAndDropsNone(t *testing.T) {
	rc, store, n := claimStoreDown(t)
	const events = queueSize + 500 // more than the queue holds, sent while the store is down
	for i := range events {
		n.Send(Event{Kind: Revoked, ID: strconv.Itoa(i % 1200), Text: "revoked " + strconv.Itoa(i%1200)})
		if i%100 == 0 {
			waitFor(t, func() bool { return len(n.queue) == 0 }) // the worker keeps up
		}
	}
	waitFor(t, func() bool { return len(n.queue) == 0 && store.tries.Load() > 1300 })
	if got := rc.got(); len(got) != 0 {
		t.Fatalf("sent without a claim: %d", len(got))
	}
	store.down.Store(false)
	waitFor(t, func() bool { return n.Idle() })
	if got := rc.got(); len(got) != 1200 {
		t.Errorf("%d notices sent, want each of the 1200 once", len(got))
	}
	if _, dropped, failed := n.Counts(); dropped != 0 || failed != 0 {
		t.Errorf("%d dropped, %d failed, want none", dropped, failed)
	}
}
