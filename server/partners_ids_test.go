package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// TestAdminOutboxDeliveryIDs: /admin/outbox and the transaction look-up show the id each event is delivered under:
// the reference for the first event under it, a derived id for a lien debit or reversal that reuses a reference.
func TestAdminOutboxDeliveryIDs(t *testing.T) {
	h, _, _ := partnerHarness(t, false)
	ctx := context.Background()
	if _, err := h.ledger.CreateWallet(ctx, ledger.NewWallet{ID: "w1", Currency: "566", Name: "Ada"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ledger.Credit(ctx, ledger.Credit{WalletID: "w1", Amount: 50, Reference: "fund"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		route string
		f     *fields
		m     mac.Message
		code  string
	}{
		{"/debit", debitFields("d1", "11123456790", "w1", 51), mac.Debit, "51"},
		{"/lien/place", lienPlaceFields("p1", "L1", "w1", 50), mac.LienPlace, "00"},
		{"/lien/debit", lienDebitFields("c1", "11123456790", "L1", "w1", 50), mac.LienDebit, "00"},
	}
	for _, s := range steps {
		if a := h.send(s.route, s.f, s.m); a.ResponseCode != s.code {
			t.Fatalf("%s %s answered %s, want %s", s.route, s.f.text("requestId"), a.ResponseCode, s.code)
		}
	}
	type event struct {
		Kind       string `json:"kind"`
		DeliveryID string `json:"deliveryId"`
	}
	out := opsDecode[struct {
		Events []event `json:"events"`
	}](t, h.admin(http.MethodGet, "/admin/outbox", nil, testAdminToken), http.StatusOK)
	want := []event{{ledger.KindDebit, "11123456790"}, {ledger.KindLienDebit, "11123456790~lien_debit"}}
	if !slices.Equal(out.Events, want) {
		t.Errorf("/admin/outbox delivery ids = %+v, want %+v", out.Events, want)
	}
	txn := opsDecode[opsTxn](t, h.admin(http.MethodGet, "/admin/transactions/L1", nil, testAdminToken), http.StatusOK)
	if len(txn.PartnerDeliveries) != 1 {
		t.Fatalf("L1 partnerDeliveries = %s, want 1", txn.PartnerDeliveries)
	}
	var d event
	if err := json.Unmarshal(txn.PartnerDeliveries[0], &d); err != nil || d != want[1] {
		t.Errorf("L1 delivery = %+v (%v), want %+v", d, err, want[1])
	}
}
