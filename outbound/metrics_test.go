package outbound

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestMetrics: the three metrics of CONTRACT section 4 and the dead-letter gauge, with their labels, on the registry given, lint-clean.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.PartnerDuration.WithLabelValues(PartnerConnector, "debit", OutcomeOK).Observe(0.01)
	m.OutboxPending.WithLabelValues(PartnerConnector).Set(3)
	m.Deliveries.WithLabelValues(PartnerVirtualAccount, OutcomeOK).Inc()
	m.SetDead(PartnerConnector, 2)

	want := map[string][]string{
		"walletgate_partner_request_duration_seconds": {"operation", "outcome", "partner"},
		"walletgate_outbox_pending":                   {"partner"},
		"walletgate_outbox_deliveries_total":          {"outcome", "partner"},
		"walletgate_outbox_dead":                      {"partner"},
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != len(want) {
		t.Fatalf("registry holds %d families, want %d", len(mfs), len(want))
	}
	for _, mf := range mfs {
		labels, ok := want[mf.GetName()]
		if !ok {
			t.Errorf("unexpected metric %s", mf.GetName())
			continue
		}
		var got []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			got = append(got, lp.GetName())
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(labels, ",") {
			t.Errorf("%s labels = %v, want %v", mf.GetName(), got, labels)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}

	// A second registration on the same registry is a programming error, caught at start-up.
	defer func() {
		if recover() == nil {
			t.Error("NewMetrics registered the same metrics twice without panicking")
		}
	}()
	NewMetrics(reg)
}

// TestNilMetrics: clients work without metrics.
func TestNilMetrics(t *testing.T) {
	f := newFake(t, answerJSON(200, `{"success":true}`))
	if err := testConnector(f.srv.URL, testHTTPClient(), nil).Debit(context.Background(), testPush); err != nil {
		t.Fatal(err)
	}
	var m *Metrics
	m.observe(PartnerConnector, "debit", OutcomeOK, time.Now())
}

// TestDeliveryHelpers: the outbox's helpers record on the metrics and do nothing on nil.
func TestDeliveryHelpers(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.ObserveDelivery(PartnerConnector, OutcomeOK)
	m.ObserveDelivery(PartnerConnector, OutcomeOK)
	m.SetPending(PartnerConnector, 4)
	m.SetPending(PartnerConnector, 3)
	var nilM *Metrics
	nilM.ObserveDelivery(PartnerConnector, OutcomeOK)
	nilM.SetPending(PartnerConnector, 1)

	mf := family(t, reg, "walletgate_outbox_deliveries_total")
	if mf == nil || len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetCounter().GetValue() != 2 {
		t.Fatalf("deliveries = %v", mf)
	}
	mf = family(t, reg, "walletgate_outbox_pending")
	if mf == nil || len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetGauge().GetValue() != 3 {
		t.Fatalf("pending = %v", mf)
	}
}

func TestOutcome(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, OutcomeOK},
		{&PartnerError{outcome: OutcomeTimeout}, OutcomeTimeout},
		{fmt.Errorf("wrapped: %w", &PartnerError{outcome: OutcomeAuth}), OutcomeAuth},
		{ErrUnsupportedCurrency, OutcomeInvalid},
		{errors.New("other"), OutcomeError},
	}
	for _, tc := range cases {
		if got := Outcome(tc.err); got != tc.want {
			t.Errorf("Outcome(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
