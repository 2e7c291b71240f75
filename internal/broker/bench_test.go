package broker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/ledger"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// BenchmarkBrokerOverhead issues credentials through the broker's HTTP API
// (OIDC token, ledger look-up, eligibility, AssumeRole against the STS fake
// answering after 20 ms) and, alternately, calls AssumeRole directly on the
// same fake with the same input. It reports both latencies' p50 and p99, the
// p50 ratio and the p50 and p99 overhead.
func BenchmarkBrokerOverhead(b *testing.B) {
	h := brokertest.New(b)
	benchOverhead(b, h, h.Codertocat())
}

// BenchmarkBrokerOverheadUserToken is BenchmarkBrokerOverhead with the user
// token of elevate login, whose check by GitHub (the application token
// check) is warm: it reports the checks made, at most one a minute.
func BenchmarkBrokerOverheadUserToken(b *testing.B) {
	h := brokertest.New(b)
	start := time.Now()
	benchOverhead(b, h, brokertest.UserToken)
	checks := h.GitHub.Fake.Calls("POST /applications/{client_id}/token")
	b.ReportMetric(float64(checks), "github-checks")
	if limit := 1 + int(time.Since(start)/time.Minute); checks > limit {
		b.Errorf("%d token checks in %s, want at most one a minute", checks, time.Since(start))
	}
}

// benchOverhead measures issuance with token against a direct AssumeRole.
func benchOverhead(b *testing.B, h *brokertest.Harness, token string) {
	h.STS.SetDelay(20 * time.Millisecond)
	direct, err := awscreds.NewSTSClient(context.Background(), "us-east-1", h.STS.URL, nil,
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(brokertest.BrokerKey, brokertest.BrokerSecret, "")))
	if err != nil {
		b.Fatal(err)
	}
	found, err := h.Ledger.Find(context.Background(), ledger.Ask{UserID: vt.Author.GetID(), Login: vt.Author.GetLogin(), RequestID: vt.RequestID})
	if err != nil {
		b.Fatal(err)
	}
	in, err := awscreds.AssumeRoleInput(awscreds.Session{AccountID: "111111111111", Role: "Admin", Login: "Codertocat", UserID: 21031067,
		RequestID: found.Grant.ID, PR: 2, WindowEnd: found.End, SessionDuration: time.Hour, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	// Warm both paths (connections, JWKS or token check, verification).
	for range 3 {
		if a := h.Credentials(token, byID); a.Status != http.StatusOK {
			b.Fatalf("%d %s", a.Status, a.Raw)
		}
		if _, err := direct.AssumeRole(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	var viaBroker, viaDirect []time.Duration
	for b.Loop() {
		start := time.Now()
		if a := h.Credentials(token, byID); a.Status != http.StatusOK {
			b.Fatalf("%d %s", a.Status, a.Raw)
		}
		viaBroker = append(viaBroker, time.Since(start))
		start = time.Now()
		if _, err := direct.AssumeRole(context.Background(), in); err != nil {
			b.Fatal(err)
		}
		viaDirect = append(viaDirect, time.Since(start))
	}
	pb50, pb99 := percentiles(viaBroker)
	pd50, pd99 := percentiles(viaDirect)
	b.ReportMetric(ms(pb50), "broker-p50-ms")
	b.ReportMetric(ms(pb99), "broker-p99-ms")
	b.ReportMetric(ms(pd50), "direct-p50-ms")
	b.ReportMetric(ms(pd99), "direct-p99-ms")
	b.ReportMetric(float64(pb50)/float64(pd50), "p50-ratio")
	b.ReportMetric(ms(pb50-pd50), "p50-overhead-ms")
	b.ReportMetric(ms(pb99-pd99), "p99-overhead-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

// BenchmarkIssuanceWithNotices issues credentials through two brokers on
// the same stand-ins, one without --notify-url and one whose receiver never
// answers, and reports both p50 and p99: notices and the usage comment are
// off the issuance path, so the two must not differ.
func BenchmarkIssuanceWithNotices(b *testing.B) {
	stalled := make(chan struct{})
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stalled }))
	defer rx.Close()
	defer close(stalled)
	off := brokertest.New(b)
	on := brokertest.New(b, func(c *broker.Config) { c.NotifyURL = rx.URL })
	tokenOff, tokenOn := off.Codertocat(), on.Codertocat()
	for range 3 {
		off.Credentials(tokenOff, byID)
		on.Credentials(tokenOn, byID)
	}
	var withOff, withOn []time.Duration
	for b.Loop() {
		start := time.Now()
		if a := off.Credentials(tokenOff, byID); a.Status != http.StatusOK {
			b.Fatalf("%d %s", a.Status, a.Raw)
		}
		withOff = append(withOff, time.Since(start))
		start = time.Now()
		if a := on.Credentials(tokenOn, byID); a.Status != http.StatusOK {
			b.Fatalf("%d %s", a.Status, a.Raw)
		}
		withOn = append(withOn, time.Since(start))
	}
	p50off, p99off := percentiles(withOff)
	p50on, p99on := percentiles(withOn)
	b.ReportMetric(ms(p50off), "off-p50-ms")
	b.ReportMetric(ms(p99off), "off-p99-ms")
	b.ReportMetric(ms(p50on), "stalled-p50-ms")
	b.ReportMetric(ms(p99on), "stalled-p99-ms")
	b.ReportMetric(ms(p99on-p99off), "p99-difference-ms")
}
