package deploy_test

import "github.com/prometheus/client_golang/prometheus"

// partnerCollectors are the partner and outbox metrics of CONTRACT section 4 with the contract's names and labels.
// Package outbound registers them (outbound.NewMetrics); until it is on this branch they are declared here, and
// this file is the one place to switch to it.
func partnerCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "walletgate_outbox_pending", Help: "h"}, []string{"partner"}),
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walletgate_outbox_deliveries_total", Help: "h"},
			[]string{"partner", "outcome"}),
		prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "walletgate_partner_request_duration_seconds", Help: "h"},
			[]string{"partner", "operation", "outcome"}),
	}
}

// partnerNames are the values of the partner label.
func partnerNames() map[string]bool {
	return map[string]bool{"bestcash": true, "virtualaccount": true, "connector": true}
}

// outcomeNames are the values of the outcome label, "dead" being a dead-lettered outbox event.
func outcomeNames() map[string]bool {
	return map[string]bool{"ok": true, "duplicate": true, "declined": true, "invalid": true, "not_found": true,
		"auth": true, "error": true, "timeout": true, "dead": true}
}
