package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the switch-side and ledger metrics of CONTRACT section 4. Build them with NewMetrics on an explicit
// registry; labels come only from small fixed sets (routes, response codes), never a wallet or a reference.
type Metrics struct {
	Requests       *prometheus.CounterVec   // walletgate_requests_total{route,code}
	Duration       *prometheus.HistogramVec // walletgate_request_duration_seconds{route}
	MACFailures    *prometheus.CounterVec   // walletgate_mac_failures_total{route}
	Replays        *prometheus.CounterVec   // walletgate_idempotent_replays_total{route}
	CommitDuration prometheus.Histogram     // walletgate_ledger_commit_duration_seconds
	BatchSize      prometheus.Histogram     // walletgate_ledger_batch_size
	CommitFailures prometheus.Counter       // walletgate_ledger_commit_failures_total
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walletgate_requests_total",
			Help: "Switch messages answered, by route and response code.",
		}, []string{"route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "walletgate_request_duration_seconds",
			Help:    "Time from receiving a switch message to writing its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. ~4 s
		}, []string{"route"}),
		MACFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walletgate_mac_failures_total",
			Help: "Switch messages whose MAC did not verify.",
		}, []string{"route"}),
		Replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walletgate_idempotent_replays_total",
			Help: "Switch messages answered with the stored answer of their requestId.",
		}, []string{"route"}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "walletgate_ledger_commit_duration_seconds",
			Help:    "Duration of one ledger commit (write and fsync) of a batch.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms .. ~3 s
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "walletgate_ledger_batch_size",
			Help:    "Operations applied in one ledger commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		CommitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walletgate_ledger_commit_failures_total",
			Help: "Ledger commits that failed (the switch got 96 or, when the outcome was unknown, no code).",
		}),
	}
	reg.MustRegister(m.Requests, m.Duration, m.MACFailures, m.Replays, m.CommitDuration, m.BatchSize, m.CommitFailures)
	return m
}

// ObserveCommit implements ledger.Observer.
func (m *Metrics) ObserveCommit(d time.Duration, batchSize int, err error) {
	if err != nil {
		m.CommitFailures.Inc()
		return
	}
	m.CommitDuration.Observe(d.Seconds())
	m.BatchSize.Observe(float64(batchSize))
}
