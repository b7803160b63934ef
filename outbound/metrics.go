package outbound

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Partner names: the values of the partner label and the keys of outbox records.
const (
	PartnerBestCash       = "bestcash"
	PartnerVirtualAccount = "virtualaccount"
	PartnerConnector      = "connector"
)

// Outcome label values of walletgate_partner_request_duration_seconds (and the natural values of
// walletgate_outbox_deliveries_total). The set is fixed; nothing else is ever used as an outcome.
const (
	OutcomeOK        = "ok"        // the partner accepted the call
	OutcomeDuplicate = "duplicate" // the partner had it already (connector DUPLICATE_ID): counts as delivered
	OutcomeDeclined  = "declined"  // the partner processed the call and said no (success false, wrong code, failed operation)
	OutcomeInvalid   = "invalid"   // the partner refused the content (400, 413, 422, MISSING_FIELDS, INVALID_DATA): permanent
	OutcomeNotFound  = "not_found" // BestCash customer or operation not found (404)
	OutcomeAuth      = "auth"      // 401 or 403: credentials refused
	OutcomeError     = "error"     // 5xx, other statuses, an unreadable body, a dropped connection
	OutcomeTimeout   = "timeout"   // the context or the http.Client timeout fired
)

// Metrics are the partner and outbox metrics of CONTRACT section 4. Build them with NewMetrics on an explicit
// registry; a nil *Metrics is valid everywhere and records nothing.
type Metrics struct {
	PartnerDuration *prometheus.HistogramVec // walletgate_partner_request_duration_seconds{partner,operation,outcome}
	OutboxPending   *prometheus.GaugeVec     // walletgate_outbox_pending{partner}
	Deliveries      *prometheus.CounterVec   // walletgate_outbox_deliveries_total{partner,outcome}
	OutboxDead      *prometheus.GaugeVec     // walletgate_outbox_dead{partner}
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		PartnerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "walletgate_partner_request_duration_seconds",
			Help:    "Duration of one call to a partner, by partner, operation and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12), // 5 ms .. ~10 s
		}, []string{"partner", "operation", "outcome"}),
		OutboxPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "walletgate_outbox_pending",
			Help: "Outbox events waiting to be delivered, by partner.",
		}, []string{"partner"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walletgate_outbox_deliveries_total",
			Help: "Outbox delivery attempts, by partner and outcome.",
		}, []string{"partner", "outcome"}),
		OutboxDead: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "walletgate_outbox_dead",
			Help: "Dead-lettered outbox events waiting for a manual retry, by partner.",
		}, []string{"partner"}),
	}
	reg.MustRegister(m.PartnerDuration, m.OutboxPending, m.Deliveries, m.OutboxDead)
	return m
}

// observe records one partner call that started at start.
func (m *Metrics) observe(partner, operation, outcome string, start time.Time) {
	if m == nil {
		return
	}
	m.PartnerDuration.WithLabelValues(partner, operation, outcome).Observe(time.Since(start).Seconds())
}

// ObserveDelivery counts one outbox delivery attempt of partner with its outcome (one of the Outcome* values,
// or "dead" when the event is dead-lettered). Safe on a nil *Metrics.
func (m *Metrics) ObserveDelivery(partner, outcome string) {
	if m == nil {
		return
	}
	m.Deliveries.WithLabelValues(partner, outcome).Inc()
}

// SetPending sets the number of outbox events of partner waiting for delivery. Safe on a nil *Metrics.
func (m *Metrics) SetPending(partner string, n int) {
	if m == nil {
		return
	}
	m.OutboxPending.WithLabelValues(partner).Set(float64(n))
}

// SetDead sets the number of dead-lettered outbox events of partner. Safe on a nil *Metrics.
func (m *Metrics) SetDead(partner string, n int) {
	if m == nil {
		return
	}
	m.OutboxDead.WithLabelValues(partner).Set(float64(n))
}

// Outcome is the outcome label value for a call that returned err: OutcomeOK for nil, the outcome the client
// recorded for a *PartnerError, OutcomeInvalid for a request that could not be built, OutcomeError otherwise.
// The outbox uses it for walletgate_outbox_deliveries_total. A connector call that met DUPLICATE_ID returns nil
// and therefore OutcomeOK here.
func Outcome(err error) string {
	if err != nil && !errors.As(err, new(*PartnerError)) && IsPermanent(err) {
		return OutcomeInvalid
	}
	return outcomeOf(err)
}
