package broker

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the broker's Prometheus series.
type Metrics struct {
	reg     *prometheus.Registry
	issued  *prometheus.CounterVec
	refused *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// NewMetrics registers the series; ledger, when set, adds ledger gauges.
func NewMetrics(ledger func() (grants int, syncAgeSeconds float64)) *Metrics {
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
	m.reg.MustRegister(m.issued, m.refused, m.latency, prometheus.NewGoCollector())
	if ledger != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "elevate_ledger_grants", Help: "Grants in the ledger index (windows that can still be open)."},
				func() float64 { n, _ := ledger(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "elevate_ledger_sync_age_seconds", Help: "Seconds since the last good ledger sync."},
				func() float64 { _, age := ledger(); return age }),
		)
	}
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
