package deploy_test

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walletgate/walletgate/outbound"
)

// partnerCollectors are the partner and outbox metrics of CONTRACT section 4, as package outbound registers them.
func partnerCollectors() []prometheus.Collector {
	var c capture
	outbound.NewMetrics(&c)
	return c.collectors
}

// partnerNames are the values of the partner label.
func partnerNames() map[string]bool {
	return map[string]bool{outbound.PartnerBestCash: true, outbound.PartnerVirtualAccount: true,
		outbound.PartnerConnector: true}
}

// outcomeDead is the outcome of walletgate_outbox_deliveries_total for an event the outbox dead-letters.
const outcomeDead = "dead"

// outcomeNames are the values of the outcome label.
func outcomeNames() map[string]bool {
	return map[string]bool{outbound.OutcomeOK: true, outbound.OutcomeDuplicate: true, outbound.OutcomeDeclined: true,
		outbound.OutcomeInvalid: true, outbound.OutcomeNotFound: true, outbound.OutcomeAuth: true,
		outbound.OutcomeError: true, outbound.OutcomeTimeout: true, outcomeDead: true}
}
