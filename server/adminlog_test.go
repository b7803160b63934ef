package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/outbound"
)

// TestAdminMovementsAreLogged: every admin money movement, through the real ops router, writes exactly one info line
// with the wallet, the reference, the amount and the outcome (the error code when refused); phone numbers show only
// their last 4 digits and the admin token never appears.
func TestAdminMovementsAreLogged(t *testing.T) {
	h, _, _ := partnerHarness(t, true)
	h.fund("w1", "566", 10_000)
	const unknownPhone = "+2250000000000"
	steps := []struct {
		name, method, path string
		body               map[string]any
		status             int
		want               map[string]any // fields of the log line
	}{
		{"credit", http.MethodPost, "/admin/wallets/w1/credit", map[string]any{"amount": 700, "reference": "fund-2", "narration": "top"},
			http.StatusOK, map[string]any{"action": "credit", "walletId": "w1", "reference": "fund-2", "amount": int64(700), "outcome": "ok"}},
		{"credit refused", http.MethodPost, "/admin/wallets/nope/credit", map[string]any{"amount": 700, "reference": "fund-3", "narration": "x"},
			http.StatusNotFound, map[string]any{"action": "credit", "walletId": "nope", "reference": "fund-3", "amount": int64(700), "outcome": "wallet_not_found"}},
		{"freeze", http.MethodPost, "/admin/wallets/w1/status", map[string]any{"status": "frozen"},
			http.StatusOK, map[string]any{"action": "status", "walletId": "w1", "status": "frozen", "amount": int64(0), "outcome": "ok"}},
		{"unfreeze", http.MethodPost, "/admin/wallets/w1/status", map[string]any{"status": "active"},
			http.StatusOK, map[string]any{"action": "status", "walletId": "w1", "status": "active", "outcome": "ok"}},
		{"top-up of an unknown customer", http.MethodPost, "/admin/wallets/w1/topups", map[string]any{"reference": "T0", "amount": 500, "phone": unknownPhone},
			http.StatusUnprocessableEntity, map[string]any{"action": "topup_start", "walletId": "w1", "reference": "T0", "amount": int64(500),
				"outcome": "customer_not_found", "phone": "**********0000"}},
		{"top-up", http.MethodPost, "/admin/wallets/w1/topups", map[string]any{"reference": "T1", "amount": 500, "phone": outbound.SimCustomerPhone},
			http.StatusAccepted, map[string]any{"action": "topup_start", "walletId": "w1", "reference": "T1", "amount": int64(500),
				"outcome": "ok", "state": "awaiting_confirmation", "phone": "**********5678"}},
		{"top-up confirmed", http.MethodPost, "/admin/topups/T1/confirm", map[string]any{"code": outbound.SimConfirmationCode},
			http.StatusOK, map[string]any{"action": "topup_confirm", "walletId": "w1", "reference": "T1", "amount": int64(500), "outcome": "ok", "state": "confirmed"}},
		{"top-up to cancel", http.MethodPost, "/admin/wallets/w1/topups", map[string]any{"reference": "T2", "amount": 300, "phone": outbound.SimCustomerPhone},
			http.StatusAccepted, map[string]any{"action": "topup_start", "reference": "T2", "outcome": "ok"}},
		{"top-up cancelled", http.MethodPost, "/admin/topups/T2/cancel", nil,
			http.StatusOK, map[string]any{"action": "topup_cancel", "walletId": "w1", "reference": "T2", "amount": int64(300), "outcome": "ok", "state": "cancelled"}},
		{"cancel of an unknown top-up", http.MethodPost, "/admin/topups/T9/cancel", nil,
			http.StatusNotFound, map[string]any{"action": "topup_cancel", "walletId": "", "reference": "T9", "outcome": "topup_not_found"}},
		{"cash-out", http.MethodPost, "/admin/wallets/w1/cashouts", map[string]any{"reference": "C1", "amount": 400, "phone": outbound.SimCustomerPhone},
			http.StatusOK, map[string]any{"action": "cashout", "walletId": "w1", "reference": "C1", "amount": int64(400), "outcome": "ok",
				"state": "completed", "phone": "**********5678"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := h.logs.FilterMessage("admin money movement").Len()
			var body any
			if s.body != nil {
				body = s.body
			}
			if rec := h.admin(s.method, s.path, body, testAdminToken); rec.Code != s.status {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, s.status, rec.Body.String())
			}
			lines := h.logs.FilterMessage("admin money movement").All()
			if len(lines) != before+1 {
				t.Fatalf("%d new log lines, want 1", len(lines)-before)
			}
			got := lines[len(lines)-1].ContextMap()
			for k, v := range s.want {
				if got[k] != v {
					t.Errorf("field %s = %#v, want %#v (line %v)", k, got[k], v, got)
				}
			}
		})
	}
	for _, e := range h.logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		for _, secret := range []string{testAdminToken, outbound.SimCustomerPhone, unknownPhone, outbound.SimConfirmationCode} {
			if strings.Contains(line, secret) {
				t.Errorf("log line %q contains %q", line, secret)
			}
		}
	}
}

// TestAdminTopupUnknownCustomerMessage: a top-up for a phone BestCash does not know is refused with a message about
// top-ups, not the cash-out's advice to send names; the cash-out keeps its own.
func TestAdminTopupUnknownCustomerMessage(t *testing.T) {
	h, _, _ := partnerHarness(t, true)
	h.fund("w1", "566", 10_000)
	msg := opsWantError(t, h.admin(http.MethodPost, "/admin/wallets/w1/topups",
		map[string]any{"reference": "T0", "amount": 500, "phone": "+2250000000000"}, testAdminToken),
		http.StatusUnprocessableEntity, "customer_not_found")
	if !strings.Contains(msg, "top-up") || strings.Contains(msg, "cash-out") || strings.Contains(msg, "firstName") {
		t.Errorf("top-up message %q", msg)
	}
	msg = opsWantError(t, h.admin(http.MethodPost, "/admin/wallets/w1/cashouts",
		map[string]any{"reference": "C0", "amount": 500, "phone": "+2250000000000"}, testAdminToken),
		http.StatusUnprocessableEntity, "customer_not_found")
	if !strings.Contains(msg, "firstName and lastName") {
		t.Errorf("cash-out message %q", msg)
	}
}
