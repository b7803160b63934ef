package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// TestAdminOutboxLiens: through the switch router, a completed lien is queued for the connector and the virtual
// account, a declined lien debit for the connector with its code, and place-liens and releases for nobody; the
// look-up of the lien debit and of the lien it completed both show the completion's deliveries.
func TestAdminOutboxLiens(t *testing.T) {
	h, _, _ := partnerHarness(t, false)
	ctx := context.Background()
	if _, err := h.ledger.CreateWallet(ctx, ledger.NewWallet{ID: "w1", Currency: "566", Name: "Ada", VirtualAccountID: "VA-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ledger.Credit(ctx, ledger.Credit{WalletID: "w1", Amount: 1_000, Reference: "fund"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		route string
		f     *fields
		m     mac.Message
		code  string
	}{
		{"/lien/place", lienPlaceFields("p1", "L1", "w1", 300).set("transactionFee", 10), mac.LienPlace, "00"},
		{"/lien/debit", lienDebitFields("c1", "C1", "L1", "w1", 300), mac.LienDebit, "00"},
		{"/lien/debit", lienDebitFields("c1b", "C1", "L1", "w1", 300), mac.LienDebit, "00"}, // re-sent
		{"/lien/place", lienPlaceFields("p2", "L2", "w1", 100), mac.LienPlace, "00"},
		{"/lien/debit", lienDebitFields("c2", "C2", "L2", "w1", 0), mac.LienDebit, "00"},   // release
		{"/lien/debit", lienDebitFields("c3", "C3", "L2", "w1", 100), mac.LienDebit, "25"}, // of a released lien
	}
	for _, s := range steps {
		if a := h.send(s.route, s.f, s.m); a.ResponseCode != s.code {
			t.Fatalf("%s %s answered %s, want %s", s.route, s.f.text("requestId"), a.ResponseCode, s.code)
		}
	}
	out := opsDecode[opsOutbox](t, h.admin(http.MethodGet, "/admin/outbox?state=pending", nil, testAdminToken), http.StatusOK)
	want := "connector lien_debit C1 00 pending; virtualaccount lien_debit C1 00 pending; connector lien_debit C3 25 pending"
	if got := outboxSummary(out.Events); got != want {
		t.Fatalf("pending outbox:\n\t%s\nwant\t%s", got, want)
	}
	if e := out.Events[1]; e.Amount != 300 || e.WalletID != "w1" {
		t.Errorf("virtual account event %+v, want amount 300 of w1", e)
	}
	for ref, n := range map[string]int{"C1": 2, "L1": 2, "C3": 1, "L2": 0, "C2": 0} {
		txn := opsDecode[opsTxn](t, h.admin(http.MethodGet, "/admin/transactions/"+ref, nil, testAdminToken), http.StatusOK)
		if len(txn.PartnerDeliveries) != n {
			t.Errorf("%s partnerDeliveries = %s, want %d", ref, txn.PartnerDeliveries, n)
		}
		for _, d := range txn.PartnerDeliveries {
			if !strings.Contains(string(d), `"kind":"lien_debit"`) {
				t.Errorf("%s delivery %s is not the lien debit's", ref, d)
			}
		}
	}
}
