package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/outbound"
)

// TestServeExposesContractMetrics: the /metrics of `walletgate serve` with partners configured carries every metric
// of CONTRACT section 4 with exactly its labels, the outbox and partner ones included, once a debit was decided and
// pushed; and the Go and process collectors.
func TestServeExposesContractMetrics(t *testing.T) {
	sim := outbound.NewSimulator()
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	bc, va, conn := sim.Configs(simSrv.URL)
	env := map[string]string{
		"WALLETGATE_MAC_KEY":                  inProcKey,
		"WALLETGATE_ADMIN_TOKEN":              inProcToken,
		"WALLETGATE_DB":                       filepath.Join(t.TempDir(), "walletgate.db"),
		"WALLETGATE_CONNECTOR_URL":            conn.URL,
		"WALLETGATE_CONNECTOR_API_KEY":        conn.APIKey,
		"WALLETGATE_CONNECTOR_USER":           conn.User,
		"WALLETGATE_CONNECTOR_PASSWORD":       conn.Password,
		"WALLETGATE_VA_URL":                   va.URL,
		"WALLETGATE_VA_TOKEN":                 va.Token,
		"WALLETGATE_VA_DEBIT_CLASSIFICATION":  va.DebitClassification,
		"WALLETGATE_VA_CREDIT_CLASSIFICATION": va.CreditClassification,
		"WALLETGATE_BESTCASH_URL":             bc.URL,
		"WALLETGATE_BESTCASH_API_KEY":         bc.APIKey,
		"WALLETGATE_BESTCASH_API_SECRET":      bc.APISecret,
	}
	s := startServe(t, env, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	hc := newHTTPClient(t)
	keys := mustKeys(t, mac.SHA512, inProcKey, "")
	fundWallet(t, hc, s.opsAddr, inProcToken, "1234567894", 10_000)
	// An approved debit, its replay, and the seed as printed (its "mac" is a placeholder: a MAC failure).
	debit := signDebit(readFile(t, seedDebitPath), keys, mac.Current)
	for _, body := range [][]byte{debit, debit, readFile(t, seedDebitPath)} {
		if status, ans := call(t, hc, http.MethodPost, "http://"+s.switchAddr+"/debit", "", body); status != http.StatusOK {
			t.Fatalf("POST /debit: HTTP %d %s", status, ans)
		}
	}
	waitFor(t, "the connector delivery, and no backlog", func() bool {
		return metricValue(t, hc, s.opsAddr, `walletgate_outbox_deliveries_total{outcome="ok",partner="connector"}`) == "1" &&
			metricValue(t, hc, s.opsAddr, `walletgate_outbox_pending{partner="connector"}`) == "0"
	})
	_, body := call(t, hc, http.MethodGet, "http://"+s.opsAddr+"/metrics", "", nil)
	exposition := string(body)

	for _, m := range []struct{ name, typ, labels string }{
		{"walletgate_requests_total", "counter", "code,route"},
		{"walletgate_request_duration_seconds", "histogram", "route"},
		{"walletgate_mac_failures_total", "counter", "route"},
		{"walletgate_idempotent_replays_total", "counter", "route"},
		{"walletgate_ledger_commit_duration_seconds", "histogram", ""},
		{"walletgate_ledger_batch_size", "histogram", ""},
		{"walletgate_outbox_pending", "gauge", "partner"},
		{"walletgate_outbox_deliveries_total", "counter", "outcome,partner"},
		{"walletgate_outbox_dead", "gauge", "partner"}, // not in CONTRACT 4: the standing dead-letter count the alert uses
		{"walletgate_partner_request_duration_seconds", "histogram", "operation,outcome,partner"},
		{"go_goroutines", "gauge", ""},
		{"process_resident_memory_bytes", "gauge", ""},
	} {
		t.Run(m.name, func(t *testing.T) {
			if !strings.Contains(exposition, fmt.Sprintf("# TYPE %s %s\n", m.name, m.typ)) {
				t.Fatalf("no %s %s on /metrics", m.typ, m.name)
			}
			sample := m.name
			if m.typ == "histogram" {
				sample += "_count"
			}
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + `(?:\{([^}]*)\})? `)
			found := re.FindStringSubmatch(exposition)
			if found == nil {
				t.Fatalf("no sample of %s", sample)
			}
			var names []string
			for _, pair := range regexp.MustCompile(`(\w+)="`).FindAllStringSubmatch(found[1], -1) {
				names = append(names, pair[1])
			}
			if got := strings.Join(names, ","); got != m.labels {
				t.Errorf("%s labels = %q, want %q", sample, got, m.labels)
			}
		})
	}
	for _, want := range []string{
		`walletgate_outbox_pending{partner="connector"} 0`,
		`walletgate_outbox_pending{partner="virtualaccount"} 0`,
		`walletgate_partner_request_duration_seconds_count{operation="debit",outcome="ok",partner="connector"} 1`,
		`walletgate_requests_total{code="00",route="debit"} 2`,
		`walletgate_requests_total{code="12",route="debit"} 1`,
		`walletgate_mac_failures_total{route="debit"} 1`,
		`walletgate_idempotent_replays_total{route="debit"} 1`,
	} {
		if !strings.Contains(exposition, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	hc.CloseIdleConnections()
	s.stop(t)
	for _, secret := range []string{inProcKey, inProcToken, conn.APIKey, conn.Password, va.Token, bc.APIKey, bc.APISecret} {
		if strings.Contains(s.stderr.String(), secret) {
			t.Errorf("a credential appears on stderr:\n%s", s.stderr.String())
		}
	}
}
