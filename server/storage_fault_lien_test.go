package server

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// TestStorageFaultLienRoutes: while every commit fails, a place-lien and a lien debit are answered 96, hold and move
// nothing and are not remembered, /readyz answers 503; once the fault clears the same messages are decided for the
// first time.
func TestStorageFaultLienRoutes(t *testing.T) {
	const w = "1234567894"
	var failing atomic.Bool
	h := newHarness(t, withLedgerOptions(ledger.Options{BeforeCommit: func() error {
		if failing.Load() {
			return errors.New("no space left on device (injected)")
		}
		return nil
	}}))
	h.fund(w, "566", 10_000)
	if a := h.send("/lien/place", lienPlaceFields("l-0", "L0", w, 1_000), mac.LienPlace); a.ResponseCode != "00" {
		t.Fatalf("setup lien: %+v", a)
	}
	place := lienPlaceFields("l-1", "L1", w, 300).signed(h.keys, mac.LienPlace)
	complete := lienDebitFields("ld-1", "LD1", "L0", w, 1_000).signed(h.keys, mac.LienDebit)
	release := lienDebitFields("ld-2", "LD2", "NEVER", w, 0).signed(h.keys, mac.LienDebit) // would leave a tombstone

	failing.Store(true)
	before := h.books(w)
	for _, c := range []struct {
		path string
		body []byte
	}{{"/lien/place", place}, {"/lien/debit", complete}, {"/lien/debit", release}} {
		rec := h.post(c.path, c.body)
		if a := h.decode(rec); rec.Code != http.StatusOK || a.ResponseCode != "96" {
			t.Fatalf("POST %s during the fault: HTTP %d %+v, want 96", c.path, rec.Code, a)
		}
	}
	if got := h.admin(http.MethodGet, "/readyz", nil, "").Code; got != http.StatusServiceUnavailable {
		t.Errorf("/readyz while writes fail: HTTP %d, want 503", got)
	}
	h.unchanged(t, before, []string{"l-1", "ld-1", "ld-2"}, []string{"L1", "LD1", "NEVER"})
	h.wantWallet(w, 10_000, 1_000)

	failing.Store(false)
	for _, c := range []struct {
		path string
		body []byte
	}{{"/lien/place", place}, {"/lien/debit", complete}} {
		if a := h.decode(h.post(c.path, c.body)); a.ResponseCode != "00" {
			t.Errorf("POST %s after the fault: %+v, want 00", c.path, a)
		}
	}
	h.wantWallet(w, 10_000-1_000, 300)
}
