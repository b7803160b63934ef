package server

import (
	"net/http"
	"testing"

	"github.com/walletgate/walletgate/outbound"
)

// TestAdminMovementReferencesAreOneNamespace: a top-up and a cash-out are both named at BestCash by our reference
// (partnerReference), and BestCash answers an operation it already has under that reference. A top-up under a
// cash-out's reference must therefore be refused, not read BestCash's successful credit as a confirmed debit and
// credit the wallet without the customer's code; and a cash-out under a top-up's reference must not read the
// confirmed debit as a credit and debit the wallet while the customer receives nothing.
func TestAdminMovementReferencesAreOneNamespace(t *testing.T) {
	h, sim, _ := partnerHarness(t, true)
	h.fund("w1", "566", 10_000)
	phone := outbound.SimCustomerPhone

	opsDecode[opsCashout](t, h.admin(http.MethodPost, "/admin/wallets/w1/cashouts",
		map[string]any{"reference": "M1", "amount": 1000, "phone": phone}, testAdminToken), http.StatusOK)
	opsDecode[opsTopup](t, h.admin(http.MethodPost, "/admin/wallets/w1/topups",
		map[string]any{"reference": "M2", "amount": 500, "phone": phone}, testAdminToken), http.StatusAccepted)
	opsDecode[opsTopup](t, h.admin(http.MethodPost, "/admin/topups/M2/confirm",
		map[string]any{"code": outbound.SimConfirmationCode}, testAdminToken), http.StatusOK)
	const want = 10_000 - 1000 + 500
	if b := h.balance("w1"); b != want {
		t.Fatalf("balance %d after a cash-out and a top-up, want %d", b, want)
	}
	requests := len(sim.Requests(outbound.PartnerBestCash))

	for _, tc := range []struct {
		name, path, ref string
		amount          int64
	}{
		{"top-up under a cash-out's reference", "/admin/wallets/w1/topups", "M1", 300},
		{"cash-out under a top-up's reference", "/admin/wallets/w1/cashouts", "M2", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opsWantError(t, h.admin(http.MethodPost, tc.path,
				map[string]any{"reference": tc.ref, "amount": tc.amount, "phone": phone}, testAdminToken),
				http.StatusConflict, "reference_conflict")
		})
	}
	if b := h.balance("w1"); b != want {
		t.Errorf("balance %d, want %d: a refused movement moved money", b, want)
	}
	if w := opsGetWallet(t, h, "w1"); w.HeldAmount != 0 {
		t.Errorf("held %d after the refusals", w.HeldAmount)
	}
	for _, r := range sim.Requests(outbound.PartnerBestCash)[requests:] {
		if r.Path != "/customer/"+phone { // only the customer check may have been made
			t.Errorf("BestCash was asked %s %s for a refused movement", r.Method, r.Path)
		}
	}
}
