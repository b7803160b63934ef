package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/respcodes"
)

// metSent is one switch message of a metrics scenario, as the test built it.
type metSent struct {
	path     string
	route    string
	f        *fields
	body     []byte // exactly what was posted
	mac      string // the mac value posted ("" when none)
	wantCode string
}

// metTraffic sends a fixed sequence to a fresh harness: an approved debit, its exact replay, a forged MAC, an
// insufficient-funds decline, a partial reversal and a body that is not an object. Every id, reference, RRN and
// STAN is distinct, so that a label or log carrying one can be found.
func metTraffic(t *testing.T, h *harness) []metSent {
	t.Helper()
	h.fund("wallet-met-1", "566", 10_000)
	withIDs := func(f *fields, n int) *fields {
		return f.set("rrn", fmt.Sprintf("77710000%04d", n)).set("stan", fmt.Sprintf("9%05d", n))
	}
	approved := withIDs(debitFields("req-met-1", "txn-met-1", "wallet-met-1", 1_000), 1)
	forged := withIDs(debitFields("req-met-3", "txn-met-3", "wallet-met-1", 500), 3)
	short := withIDs(debitFields("req-met-4", "txn-met-4", "wallet-met-1", 1_000_000), 4)
	reversal := withIDs(reversalFields("req-met-5", "txn-met-5", "txn-met-1", "wallet-met-1", 300), 5)

	approvedBody := approved.signed(h.keys, mac.Debit)
	forgedMAC := strings.Repeat("ab", 64)
	sent := []metSent{
		{path: "/debit", route: "debit", f: approved, body: approvedBody, wantCode: "00"},
		{path: "/debit", route: "debit", f: approved, body: approvedBody, wantCode: "00"}, // replay, byte for byte
		{path: "/debit", route: "debit", f: forged, body: forged.clone().set("mac", forgedMAC).json(), mac: forgedMAC, wantCode: "12"},
		{path: "/debit", route: "debit", f: short, body: short.signed(h.keys, mac.Debit), wantCode: "51"},
		{path: "/reversal", route: "reversal", f: reversal, body: reversal.signed(h.keys, mac.Reversal), wantCode: "00"},
		{path: "/reversal", route: "reversal", body: []byte(`["not","an","object"]`), wantCode: "30"},
	}
	var firstAnswer []byte
	for i := range sent {
		s := &sent[i]
		if s.f != nil && s.mac == "" {
			s.mac = macOf(t, s.body)
		}
		rec := h.post(s.path, s.body)
		if s.f == nil {
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"30"`) {
				t.Fatalf("message %d: HTTP %d %s, want 400 / 30", i, rec.Code, rec.Body.String())
			}
			continue
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("message %d: HTTP %d %s", i, rec.Code, rec.Body.String())
		}
		if a := h.decode(rec); a.ResponseCode != s.wantCode {
			t.Fatalf("message %d answered %s, want %s", i, a.ResponseCode, s.wantCode)
		}
		switch i {
		case 0:
			firstAnswer = rec.Body.Bytes()
		case 1:
			if string(rec.Body.Bytes()) != string(firstAnswer) {
				t.Fatalf("the replay is not byte-identical:\n%s\n%s", firstAnswer, rec.Body.Bytes())
			}
		}
	}
	return sent
}

// macOf extracts the "mac" member of a signed body the harness built.
func macOf(t *testing.T, body []byte) string {
	t.Helper()
	_, rest, ok := strings.Cut(string(body), `"mac":"`)
	m, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 || m == "" {
		t.Fatalf("no mac in %s", body)
	}
	return m
}

// metCollect collects c's metrics into their protobuf form.
//
// prometheus/testutil (ToFloat64, CollectAndCount, CollectAndLint) would do, but it needs a module that go.sum
// does not list (github.com/kylelemons/godebug); these helpers do the same with what is there.
func metCollect(t *testing.T, c prometheus.Collector) []*dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var out []*dto.Metric
	for m := range ch {
		pb := &dto.Metric{}
		if err := m.Write(pb); err != nil {
			t.Fatalf("write metric: %v", err)
		}
		out = append(out, pb)
	}
	return out
}

// metValue is the value of the single counter or gauge c collects.
func metValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ms := metCollect(t, c)
	if len(ms) != 1 {
		t.Fatalf("collected %d metrics, want exactly 1", len(ms))
	}
	switch m := ms[0]; {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %v is neither a counter nor a gauge", ms[0])
	return 0
}

// metSeries is the number of series c collects.
func metSeries(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	return len(metCollect(t, c))
}

// metFamily gathers h.reg and returns the family called name (nil when absent).
func metFamily(t *testing.T, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// metHistogramCount is the observation count of the histogram series of name with the given labels.
func metHistogramCount(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	mf := metFamily(t, reg, name)
	if mf == nil {
		t.Fatalf("%s is not registered", name)
	}
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(labels) {
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func TestMetricsSwitchMessages(t *testing.T) {
	h := newHarness(t)
	metTraffic(t, h)
	m := h.metrics
	counters := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{`requests_total{debit,00}`, m.Requests.WithLabelValues("debit", "00"), 2},
		{`requests_total{debit,12}`, m.Requests.WithLabelValues("debit", "12"), 1},
		{`requests_total{debit,51}`, m.Requests.WithLabelValues("debit", "51"), 1},
		{`requests_total{reversal,00}`, m.Requests.WithLabelValues("reversal", "00"), 1},
		{`requests_total{reversal,30}`, m.Requests.WithLabelValues("reversal", "30"), 1},
		{`mac_failures_total{debit}`, m.MACFailures.WithLabelValues("debit"), 1},
		{`idempotent_replays_total{debit}`, m.Replays.WithLabelValues("debit"), 1},
		{`ledger_commit_failures_total`, m.CommitFailures, 0},
	}
	for _, tc := range counters {
		t.Run(tc.name, func(t *testing.T) {
			if got := metValue(t, tc.c); got != tc.want {
				t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
	// Series that must not exist: counted after the look-ups above, which would have created any missing one of
	// the expected series, but never one of these.
	series := []struct {
		name string
		c    prometheus.Collector
		want int
	}{
		{"requests_total series", m.Requests, 5},
		{"mac_failures_total series (no reversal failures)", m.MACFailures, 1},
		{"idempotent_replays_total series (no reversal replays)", m.Replays, 1},
		{"request_duration_seconds series", m.Duration, 2},
	}
	for _, tc := range series {
		t.Run(tc.name, func(t *testing.T) {
			if got := metSeries(t, tc.c); got != tc.want {
				t.Errorf("%d series, want %d", got, tc.want)
			}
		})
	}
	t.Run("request_duration_seconds observations", func(t *testing.T) {
		if n := metHistogramCount(t, h.reg, "walletgate_request_duration_seconds", map[string]string{"route": "debit"}); n != 4 {
			t.Errorf("debit: %d observations, want 4", n)
		}
		if n := metHistogramCount(t, h.reg, "walletgate_request_duration_seconds", map[string]string{"route": "reversal"}); n != 2 {
			t.Errorf("reversal: %d observations, want 2", n)
		}
	})
	t.Run("ledger commit histograms", func(t *testing.T) {
		commits := metHistogramCount(t, h.reg, "walletgate_ledger_commit_duration_seconds", map[string]string{})
		batches := metHistogramCount(t, h.reg, "walletgate_ledger_batch_size", map[string]string{})
		// Writes: create + credit (fund), the approved debit, the 51 decline (remembered), the reversal. The replay,
		// the forged MAC and the format error write nothing.
		if commits < 1 || commits > 5 {
			t.Errorf("%d commits observed, want 1..5", commits)
		}
		if batches != commits {
			t.Errorf("%d batch sizes for %d commits", batches, commits)
		}
		mf := metFamily(t, h.reg, "walletgate_ledger_batch_size")
		if sum := mf.GetMetric()[0].GetHistogram().GetSampleSum(); sum != 5 {
			t.Errorf("batch sizes add up to %v operations, want 5", sum)
		}
	})
}

// TestMetricsStorageFailure: a commit that fails with nothing written is a 96 for the switch and a commit failure
// in the metrics, not a commit duration.
func TestMetricsStorageFailure(t *testing.T) {
	var fail atomic.Bool
	h := newHarness(t, withLedgerOptions(ledger.Options{BeforeCommit: func() error {
		if fail.Load() {
			return errors.New("disk full")
		}
		return nil
	}}))
	h.fund("w-1", "566", 10_000)
	before := metHistogramCount(t, h.reg, "walletgate_ledger_commit_duration_seconds", map[string]string{})
	fail.Store(true)
	if a := h.send("/debit", debitFields("req-1", "ref-1", "w-1", 100), mac.Debit); a.ResponseCode != "96" {
		t.Fatalf("debit answered %s, want 96", a.ResponseCode)
	}
	fail.Store(false)
	tests := []struct {
		name      string
		got, want float64
	}{
		{"requests_total{debit,96}", metValue(t, h.metrics.Requests.WithLabelValues("debit", "96")), 1},
		{"ledger_commit_failures_total", metValue(t, h.metrics.CommitFailures), 1},
		{"no commit duration for the failed commit",
			float64(metHistogramCount(t, h.reg, "walletgate_ledger_commit_duration_seconds", map[string]string{})), float64(before)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
			}
		})
	}
	if b := h.balance("w-1"); b != 10_000 {
		t.Errorf("balance %d after a failed commit, want 10000", b)
	}
}

func TestMetricsLint(t *testing.T) {
	h := newHarness(t)
	metTraffic(t, h)
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 6 {
		t.Fatalf("only %d metric families gathered", len(mfs))
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsContractNames(t *testing.T) {
	h := newHarness(t)
	metTraffic(t, h)
	// CONTRACT section 4, the names the server owns (the outbox and partner ones belong to package outbound).
	tests := []struct {
		name   string
		typ    dto.MetricType
		labels []string
	}{
		{"walletgate_requests_total", dto.MetricType_COUNTER, []string{"code", "route"}},
		{"walletgate_request_duration_seconds", dto.MetricType_HISTOGRAM, []string{"route"}},
		{"walletgate_mac_failures_total", dto.MetricType_COUNTER, []string{"route"}},
		{"walletgate_idempotent_replays_total", dto.MetricType_COUNTER, []string{"route"}},
		{"walletgate_ledger_commit_duration_seconds", dto.MetricType_HISTOGRAM, nil},
		{"walletgate_ledger_batch_size", dto.MetricType_HISTOGRAM, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mf := metFamily(t, h.reg, tc.name)
			if mf == nil {
				t.Fatalf("%s is not on the registry", tc.name)
			}
			if mf.GetType() != tc.typ {
				t.Errorf("type %v, want %v", mf.GetType(), tc.typ)
			}
			if mf.GetHelp() == "" {
				t.Error("no help text")
			}
			for _, m := range mf.GetMetric() {
				var names []string
				for _, lp := range m.GetLabel() {
					names = append(names, lp.GetName())
				}
				if !slices.Equal(names, tc.labels) {
					t.Errorf("labels %v, want %v", names, tc.labels)
				}
			}
		})
	}
}

func TestMetricsLabels(t *testing.T) {
	h := newHarness(t)
	sent := metTraffic(t, h)
	forbidden := map[string]bool{}
	for _, s := range sent {
		if s.f == nil {
			continue
		}
		for _, k := range []string{"requestId", "walletId", "transactionReference", "originalTransactionReference", "rrn", "stan", "terminalId", "merchantId"} {
			if v := s.f.text(k); v != "" {
				forbidden[v] = true
			}
		}
		forbidden[s.mac] = true
	}
	allowed := map[string]map[string]bool{
		"route": {"debit": true, "reversal": true, "enquiry": true, "lienplace": true, "liendebit": true},
		"code":  {"none": true},
	}
	for _, c := range respcodes.All() {
		allowed["code"][string(c)] = true
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				seen++
				name, value := lp.GetName(), lp.GetValue()
				if forbidden[value] {
					t.Errorf("%s{%s=%q}: a label carries a message's id", mf.GetName(), name, value)
				}
				if set, ok := allowed[name]; !ok || !set[value] {
					t.Errorf("%s{%s=%q}: label outside the small fixed sets", mf.GetName(), name, value)
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no labels gathered at all")
	}
}

func TestSwitchLog(t *testing.T) {
	h := newHarness(t)
	sent := metTraffic(t, h)
	// Admin traffic too, right and wrong: none of it may put the token in a log line.
	h.admin(http.MethodGet, "/admin/audit", nil, testAdminToken)
	h.admin(http.MethodGet, "/admin/audit", nil, testAdminToken+"x")
	h.admin(http.MethodGet, "/admin/wallets/wallet-met-1", nil, testAdminToken)

	entries := h.logs.FilterMessage("switch message").All()
	if len(entries) != len(sent) {
		t.Fatalf("%d \"switch message\" log entries for %d messages", len(entries), len(sent))
	}
	for i, e := range entries {
		s := sent[i]
		t.Run(fmt.Sprintf("%d %s %s", i, s.route, s.wantCode), func(t *testing.T) {
			f := e.ContextMap()
			want := map[string]any{"route": s.route, "code": s.wantCode}
			if s.f != nil {
				want["walletId"] = s.f.text("walletId")
				want["transactionReference"] = s.f.text("transactionReference")
				want["requestId"] = s.f.text("requestId")
			}
			for k, v := range want {
				if f[k] != v {
					t.Errorf("field %s = %v, want %v (entry %v)", k, f[k], v, f)
				}
			}
			if d, ok := f["latency"].(time.Duration); !ok || d <= 0 {
				t.Errorf("latency %v (%T), want a positive duration", f["latency"], f["latency"])
			}
			if (i == 1) != (f["replayed"] == true) {
				t.Errorf("replayed = %v, want it only on the replay", f["replayed"])
			}
		})
	}
	secrets := []string{testKey, testAdminToken}
	for _, s := range sent {
		if s.mac != "" {
			secrets = append(secrets, s.mac, strings.ToUpper(s.mac))
		}
	}
	if len(secrets) < 6 {
		t.Fatalf("only %d secrets to look for", len(secrets))
	}
	t.Run("no secret in any log entry", func(t *testing.T) {
		for _, line := range opsLogText(h) {
			for _, s := range secrets {
				if strings.Contains(line, s) {
					t.Errorf("log entry holds a secret (%.8s...): %s", s, line)
				}
			}
		}
	})
}
