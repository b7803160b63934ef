package outbound

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/ledger"
)

func placeLien(t *testing.T, l *ledger.Ledger, wallet, ref string, amount, fee int64) {
	t.Helper()
	p := ledger.LienPlaceRequest{WalletID: wallet, Reference: ref, Currency: "566", Amount: amount, Fee: fee,
		Details: seedDetails}
	p.Envelope = ledger.Envelope{RequestID: "place-" + ref, Fingerprint: sha256.Sum256([]byte("place " + ref)),
		Render: func(o ledger.Outcome) ([]byte, error) { return []byte(ref), nil }}
	if _, err := l.PlaceLien(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// debitLien sends a lien debit under requestID; like the switch, it names only the RRN and STAN of the card.
func debitLien(t *testing.T, l *ledger.Ledger, requestID, wallet, ref, original string, amount int64) {
	t.Helper()
	c := ledger.LienDebitRequest{WalletID: wallet, Reference: ref, Original: original, Currency: "566", Amount: amount,
		Details: ledger.Details{RRN: seedDetails.RRN, STAN: seedDetails.STAN}}
	c.Envelope = ledger.Envelope{RequestID: requestID, Fingerprint: sha256.Sum256([]byte(requestID + " " + ref)),
		Render: func(o ledger.Outcome) ([]byte, error) { return []byte(ref), nil }}
	if _, err := l.DebitLien(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// TestLienDeliveriesThroughTheSimulator: a completed lien reaches the connector as a successful debit under the
// lien debit's reference (naming the place-lien in extraData) and the virtual account as a /debit/uni of principal
// + the fee held at placing, described with the place-lien's merchant; a declined lien debit is a failed debit
// with our code; place-liens, releases and a re-sent completion send nothing.
func TestLienDeliveriesThroughTheSimulator(t *testing.T) {
	sim, partners := simPartners(t)
	l := outboxLedger(t, Route(true, true))
	mustFund(t, l, "w1", "VA-0001", 10_000)
	mustFund(t, l, "w2", "", 100)
	startDispatcher(t, DispatcherConfig{Store: l, Partners: partners})

	placeLien(t, l, "w1", "L1", 1_000, 20)
	debitLien(t, l, "c1", "w1", "C1", "L1", 800)  // completion below the hold: connector + va
	debitLien(t, l, "c1b", "w1", "C1", "L1", 800) // re-sent under a new requestId: nothing
	placeLien(t, l, "w1", "L2", 300, 0)
	debitLien(t, l, "c2", "w1", "C2", "L2", 0) // release: nothing
	placeLien(t, l, "w2", "L3", 50, 0)
	debitLien(t, l, "c3", "w2", "C3", "L3", 1_000) // above what the wallet covers: 51, connector only
	eventually(t, "all delivered", func() bool {
		return len(outboxState(t, l, ledger.OutboxPending)) == 0
	})
	if dead := outboxState(t, l, ledger.OutboxDead); len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}

	var pushes []string
	for _, r := range sim.Requests(PartnerConnector) {
		var p struct {
			TransactionID string            `json:"transactionId"`
			Amount        string            `json:"amount"`
			Status        string            `json:"status"`
			ExtraData     map[string]string `json:"extraData"`
			Error         *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		s := r.Path + " " + p.TransactionID + " " + p.Amount + " " + p.Status + " lien=" + p.ExtraData["lienReference"] +
			" merchant=" + p.ExtraData["merchantId"]
		if p.Error != nil {
			s += " " + p.Error.Code
		}
		pushes = append(pushes, s)
	}
	slices.Sort(pushes) // lanes of different wallets deliver side by side
	wantPushes := []string{
		"/****/debit C1 8.00 success lien=L1 merchant=WEBPAYDIRECTVNA",
		"/****/debit C3 10.00 failed lien=L3 merchant=WEBPAYDIRECTVNA 51",
	}
	if !slices.Equal(pushes, wantPushes) {
		t.Errorf("connector pushes\n\t%v\nwant\t%v", pushes, wantPushes)
	}

	var mirrors []string
	for _, r := range sim.Requests(PartnerVirtualAccount) {
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		if n, _ := m["narration"].(string); !strings.Contains(n, "WEBPAYDIRECTVNA") || !strings.Contains(n, "000111000111") {
			t.Errorf("narration %q lacks the place-lien's merchant or the RRN", n)
		}
		mirrors = append(mirrors, r.Path+" "+m["accountID"].(string)+" "+m["transactionReference"].(string)+" "+
			string(mustJSON(t, m["amount"])))
	}
	if want := []string{"/debit/uni VA-0001 C1 8.2"}; !slices.Equal(mirrors, want) {
		t.Errorf("virtual account mirrors\n\t%v\nwant\t%v", mirrors, want)
	}
}
