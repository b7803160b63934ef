package server

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// TestStorageFaultThroughRouter: while every commit fails (a full disk), debits and reversals are answered 96 and
// admin writes 503, nothing is committed or remembered, and /readyz answers 503; once the fault clears /readyz is
// 200 again and the very same messages are decided for the first time.
func TestStorageFaultThroughRouter(t *testing.T) {
	const w = "1234567894"
	var failing atomic.Bool
	h := newHarness(t, withLedgerOptions(ledger.Options{BeforeCommit: func() error {
		if failing.Load() {
			return errors.New("no space left on device (injected)")
		}
		return nil
	}}))
	h.fund(w, "566", 10_000)
	if a := h.send("/debit", debitFields("d-0", "D0", w, 1_000), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("setup debit: %+v", a)
	}
	readyz := func() int { return h.admin(http.MethodGet, "/readyz", nil, "").Code }
	if got := readyz(); got != http.StatusOK {
		t.Fatalf("/readyz before the fault: HTTP %d", got)
	}

	debit := debitFields("d-1", "D1", w, 100).set("transactionFee", 5).signed(h.keys, mac.Debit)
	reversal := reversalFields("r-1", "R1", "D0", w, 0).signed(h.keys, mac.Reversal)
	tombstone := reversalFields("r-2", "R2", "NEVER", w, 0).signed(h.keys, mac.Reversal)
	failing.Store(true)
	before := h.books(w)
	for range 3 {
		for _, c := range []struct {
			path string
			body []byte
		}{{"/debit", debit}, {"/reversal", reversal}, {"/reversal", tombstone}} {
			rec := h.post(c.path, c.body)
			if a := h.decode(rec); rec.Code != http.StatusOK || a.ResponseCode != "96" {
				t.Fatalf("POST %s during the fault: HTTP %d %+v, want 96", c.path, rec.Code, a)
			}
		}
		rec := h.admin(http.MethodPost, "/admin/wallets/"+w+"/credit", `{"amount":5,"reference":"c-1","narration":"x"}`, testAdminToken)
		if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "no space") {
			t.Fatalf("admin credit during the fault: HTTP %d %s", rec.Code, rec.Body)
		}
		if got := readyz(); got != http.StatusServiceUnavailable {
			t.Errorf("/readyz while writes fail: HTTP %d, want 503", got)
		}
	}
	h.unchanged(t, before, []string{"d-1", "r-1", "r-2"}, []string{"D1", "R1", "NEVER"})

	failing.Store(false)
	if got := readyz(); got != http.StatusOK {
		t.Errorf("/readyz after the fault cleared: HTTP %d, want 200", got)
	}
	want := map[string]string{"/debit": "00", "/reversal": "00"}
	first := map[string][]byte{}
	for _, c := range []struct {
		path string
		body []byte
	}{{"/debit", debit}, {"/reversal", reversal}} {
		rec := h.post(c.path, c.body)
		if a := h.decode(rec); a.ResponseCode != want[c.path] {
			t.Fatalf("POST %s after the fault: %+v", c.path, a)
		}
		first[c.path] = rec.Body.Bytes()
		if again := h.post(c.path, c.body); again.Body.String() != string(first[c.path]) {
			t.Errorf("POST %s repeated: %s, first %s", c.path, again.Body, first[c.path])
		}
	}
	if a := h.decode(h.post("/reversal", tombstone)); a.ResponseCode != "25" {
		t.Errorf("reversal of an unknown original after the fault: %+v, want 25", a)
	}
	// The first debit (1000) is reversed in full; the new one charged once.
	if got := h.balance(w); got != 10_000-105 {
		t.Errorf("balance %d, want %d", got, 10_000-105)
	}
}
