package outbound

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/ledger"
)

// simPartners serves a simulator and returns it with deliverers wired to it.
func simPartners(t *testing.T) (*Simulator, map[string]Deliverer) {
	t.Helper()
	sim := NewSimulator()
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	_, va, conn := sim.Configs(srv.URL)
	return sim, map[string]Deliverer{
		PartnerConnector:      ConnectorDeliverer{NewConnector(conn, srv.Client(), nil)},
		PartnerVirtualAccount: VirtualAccountDeliverer{NewVirtualAccount(va, srv.Client(), nil)},
	}
}

// TestDeliveriesThroughTheSimulator: CONTRACT 5 end to end, from switch decisions to the requests the partners
// receive: the connector hears every debit decision and each reversal as void (full) or refund (partial); the
// virtual account mirrors approved movements of the wallet that has one, principal plus fee.
func TestDeliveriesThroughTheSimulator(t *testing.T) {
	sim, partners := simPartners(t)
	l := outboxLedger(t, Route(true, true))
	mustFund(t, l, "w1", "VA-0001", 10_000)
	mustFund(t, l, "w2", "", 100)
	startDispatcher(t, DispatcherConfig{Store: l, Partners: partners})

	debit(t, l, "w1", "D1", 1_000)       // approved: connector + va
	debit(t, l, "w2", "D2", 5_000)       // declined 51: connector only
	reverse(t, l, "w1", "R1", "D1", 250) // partial: refund + va credit
	reverse(t, l, "w1", "D1", "D1", 0)   // full, reusing the debit's reference: void + va credit, under an id of its own
	eventually(t, "all delivered", func() bool {
		return len(outboxState(t, l, ledger.OutboxPending)) == 0
	})
	if dead := outboxState(t, l, ledger.OutboxDead); len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}

	type push struct {
		TransactionID          string `json:"transactionId"`
		ReferenceTransactionID string `json:"referenceTransactionId"`
		Amount                 string `json:"amount"`
		Currency               string `json:"currency"`
		Status                 string `json:"status"`
		Error                  *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	got := map[string]string{}
	for _, r := range sim.Requests(PartnerConnector) {
		var p push
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		s := r.Path + " " + p.ReferenceTransactionID + " " + p.Amount + " " + p.Currency + " " + p.Status
		if p.Error != nil {
			s += " " + p.Error.Code
		}
		got[p.TransactionID] = s
	}
	want := map[string]string{
		"D1":          "/****/debit  10.00 NGN success",
		"D2":          "/****/debit  50.00 NGN failed 51",
		"R1":          "/****/refund D1 2.50 NGN success",
		"D1~reversal": "/****/void D1 7.50 NGN success",
	}
	if len(got) != len(want) {
		t.Errorf("connector got %d pushes, want %d: %v", len(got), len(want), got)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("connector push %s = %q, want %q", id, got[id], w)
		}
	}

	var mirrors []string
	for _, r := range sim.Requests(PartnerVirtualAccount) {
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m["narration"].(string), "WEBPAYDIRECTVNA") || !strings.Contains(m["narration"].(string), "000111000111") {
			t.Errorf("narration %q lacks the merchant or the RRN", m["narration"])
		}
		mirrors = append(mirrors, r.Path+" "+m["accountID"].(string)+" "+m["transactionReference"].(string)+" "+
			string(mustJSON(t, m["amount"])))
	}
	wantMirrors := []string{"/debit/uni VA-0001 D1 10", "/credit/uni VA-0001 R1 2.5", "/credit/uni VA-0001 D1~reversal 7.5"}
	if !slices.Equal(mirrors, wantMirrors) {
		t.Errorf("virtual account mirrors\n\t%v\nwant\t%v", mirrors, wantMirrors)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeliverRefusesWhatItCannotSend: events that make no sense for a partner are our bug: permanent.
func TestDeliverRefusesWhatItCannotSend(t *testing.T) {
	_, partners := simPartners(t)
	va := partners[PartnerVirtualAccount]
	for name, e := range map[string]ledger.OutboxEvent{
		"no virtual account": {Event: ledger.Event{Kind: ledger.KindDebit, Reference: "x", Currency: "566", Amount: 1}},
		"declined":           {Event: ledger.Event{Kind: ledger.KindDebit, Reference: "x", Currency: "566", Amount: 1, VirtualAccountID: "v", Decline: ledger.ErrInsufficientFunds}},
		"unknown kind":       {Event: ledger.Event{Kind: "lien", Reference: "x", Currency: "566", Amount: 1, VirtualAccountID: "v"}},
	} {
		t.Run(name, func(t *testing.T) {
			err := va.Deliver(context.Background(), e)
			d := NewDispatcher(DispatcherConfig{})
			if err == nil || !d.permanent(err) {
				t.Errorf("Deliver = %v, want a permanent error", err)
			}
		})
	}
}
