package broker

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the broker's Prometheus series.
type Metrics struct {
	reg     *prometheus.Registry
	issued  *prometheus.CounterVec
	refused *prometheus.CounterVec
	latency *prometheus.HistogramVec
	// Sessions ended on revocation, ineligibility or untrusted history.
	sessionsEnded prometheus.Counter
	endErrors     prometheus.Counter
	// Batches whose Deny could not be written, counted at the first
	// refusal, by cause (endsession.Cause): alert on any increase.
	endRefused *prometheus.CounterVec
	// Reads of a grant's trail that missed a file, a listing or the bucket.
	activityIncomplete *prometheus.CounterVec
}

// NewMetrics registers the series; ledger, when set, adds ledger gauges.
func NewMetrics(ledger Ledger) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elevate_issuances_total", Help: "Credentials and console URLs issued.",
		}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elevate_refusals_total", Help: "Requests refused, by endpoint and error code.",
		}, []string{"endpoint", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "elevate_request_duration_seconds", Help: "Time to answer, by endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
	}
	m.sessionsEnded = prometheus.NewCounter(prometheus.CounterOpts{Name: "elevate_sessions_ended_total", Help: "Grants whose live sessions were ended by a Deny on the target role."})
	m.endErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "elevate_end_sessions_errors_total", Help: "Batches of ended grants IAM did not take after every retry."})
	m.endRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "elevate_end_sessions_refused_total", Help: "Batches of ended grants whose Deny could not be written on the target role, counted at once (before the retries), by cause: too_large (IAM's limit on a role's inline policies), refused (IAM or STS said no), failed."},
		[]string{"cause"})
	m.activityIncomplete = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "elevate_activity_incomplete_total", Help: "Reads of a grant's CloudTrail log files that could not read every file (reason trail: the bucket refused, a listing failed, a file was corrupt; its PR comment says what is missing) or whose PR comment could not be written (reason comment; tried again at the next check)."},
		[]string{"reason"})
	m.reg.MustRegister(m.issued, m.refused, m.latency, m.sessionsEnded, m.endErrors, m.endRefused, m.activityIncomplete, prometheus.NewGoCollector())
	if ledger != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "elevate_ledger_grants", Help: "Grants in the ledger index (windows that can still be open)."},
				func() float64 {
					if x := ledger.Index(); x != nil {
						return float64(x.Len())
					}
					return 0
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "elevate_ledger_sync_age_seconds", Help: "Seconds since the last good ledger sync; -1 before the first."},
				func() float64 {
					if last, _ := ledger.Health(); !last.IsZero() {
						return time.Since(last).Seconds()
					}
					return -1
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "elevate_untrusted_commits", Help: "Commits since the trust anchor that changed eligibility.yaml or CODEOWNERS without an approved change PR."},
				func() float64 {
					if x := ledger.Index(); x != nil {
						return float64(x.UntrustedCommits())
					}
					return 0
				}),
		)
	}
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
