package outbound

import (
	"testing"

	"github.com/walletgate/walletgate/ledger"
)

// TestCollidingReferencesReachTheConnector: references reused across the debit, reversal and lien-debit
// namespaces, and a debit named like the old reversal id, are each recorded by the connector under an id of their
// own: none is answered DUPLICATE_ID and lost. The live case: a debit declined 51 and a lien debit approved for 50
// under the same reference 11123456790.
func TestCollidingReferencesReachTheConnector(t *testing.T) {
	sim, partners := simPartners(t)
	l := outboxLedger(t, Route(true, false))
	mustFund(t, l, "w1", "", 50)
	mustFund(t, l, "w2", "", 10_000)
	startDispatcher(t, DispatcherConfig{Store: l, Partners: partners})

	debit(t, l, "w1", "11123456790", 51) // declined 51
	placeLien(t, l, "w1", "L1", 50, 0)
	debitLien(t, l, "c1", "w1", "11123456790", "L1", 50) // approved, same reference as the declined debit
	debit(t, l, "w2", "D1", 1_000)
	reverse(t, l, "w2", "D1", "D1", 400) // partial, reusing the debit's reference
	debit(t, l, "w2", "D1-rev", 300)     // a real debit named like the old reversal id
	eventually(t, "all delivered", func() bool {
		return len(outboxState(t, l, ledger.OutboxPending)) == 0
	})
	if dead := outboxState(t, l, ledger.OutboxDead); len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}

	got := sim.ConnectorTransactions()
	want := map[string]string{
		"11123456790":            "debit 0.51 NGN failed",
		"11123456790~lien_debit": "debit 0.50 NGN success",
		"D1":                     "debit 10.00 NGN success",
		"D1~reversal":            "refund 4.00 NGN success D1",
		"D1-rev":                 "debit 3.00 NGN success",
	}
	if len(got) != len(want) {
		t.Errorf("connector recorded %d transactions, want %d: %q", len(got), len(want), got)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("connector transaction %q = %q, want %q", id, got[id], w)
		}
	}
	// The admin view and the look-up show the id each event was delivered under.
	ds, err := l.Deliveries(t.Context(), ledger.KindLienDebit, "11123456790")
	if err != nil || len(ds) != 1 || ds[0].DeliveryID != "11123456790~lien_debit" || ds[0].State != ledger.OutboxDelivered {
		t.Errorf("Deliveries(lien debit 11123456790) = %+v, %v", ds, err)
	}
}
