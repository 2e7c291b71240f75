package broker_test

import (
	"context"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/ledger"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// BenchmarkBrokerOverhead issues credentials through the broker's HTTP API
// (OIDC token, ledger look-up, eligibility, AssumeRole against the STS fake
// answering after 20 ms) and, alternately, calls AssumeRole directly on the
// same fake with the same input. It reports both latencies' p50 and p99, the
// p50 ratio and the p99 overhead.
func BenchmarkBrokerOverhead(b *testing.B) {
	h := brokertest.New(b)
	h.STS.SetDelay(20 * time.Millisecond)
	token := h.Codertocat()
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
	// Warm both paths (connections, JWKS, verification).
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
	b.ReportMetric(ms(pb99-pd99), "p99-overhead-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}
