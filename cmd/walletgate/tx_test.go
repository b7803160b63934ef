package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/ledger"
)

// debit commits a switch debit straight into the fixture's ledger.
func (f *opsFixture) debit(requestID, ref, walletID string, amount, fee int64) {
	f.t.Helper()
	a, err := f.ledger.Debit(context.Background(), ledger.DebitRequest{
		Envelope: ledger.Envelope{RequestID: requestID, Fingerprint: sha256.Sum256([]byte(requestID)),
			Render: func(ledger.Outcome) ([]byte, error) { return []byte(`{}`), nil }},
		WalletID: walletID, Reference: ref, Currency: "566", Amount: amount, Fee: fee,
		Details: ledger.Details{RRN: "000111000111", STAN: "000018", TerminalID: "3IWPDVNA"},
	})
	if err != nil || !a.Outcome.Approved() {
		f.t.Fatalf("debit %s: %+v, %v", ref, a.Outcome, err)
	}
}

func (f *opsFixture) reverse(requestID, ref, original, walletID string, amount int64) {
	f.t.Helper()
	a, err := f.ledger.Reverse(context.Background(), ledger.ReversalRequest{
		Envelope: ledger.Envelope{RequestID: requestID, Fingerprint: sha256.Sum256([]byte(requestID)),
			Render: func(ledger.Outcome) ([]byte, error) { return []byte(`{}`), nil }},
		WalletID: walletID, Reference: ref, Original: original, Currency: "566", Amount: amount,
	})
	if err != nil || !a.Outcome.Approved() {
		f.t.Fatalf("reversal %s: %+v, %v", ref, a.Outcome, err)
	}
}

func TestTxShow(t *testing.T) {
	f := newOpsFixture(t)
	env := f.env()
	mustCLI(t, env, "wallet", "create", "w1", "--currency", "566", "--name", "W One")
	mustCLI(t, env, "wallet", "credit", "w1", "--amount", "500.00", "--reference", "fund-1")
	f.debit("req-1", "ref/1", "w1", 12_345, 100) // a reference with a slash must survive the URL
	f.reverse("req-2", "rev-1", "ref/1", "w1", 2_345)

	out := mustCLI(t, env, "tx", "show", "ref/1")
	for name, want := range map[string]string{
		"transactionReference": "ref/1", "kind": "debit", "state": "partially_reversed", "responseCode": "00",
		"walletId": "w1", "amount": "123.45 NGN", "fee": "1.00 NGN", "reversedAmount": "23.45 NGN",
		"reversals": "rev-1", "details.rrn": "000111000111", "partner deliveries": "0",
	} {
		if got := row(t, out, name); got != want {
			t.Errorf("%s = %q, want %q\n%s", name, got, want, out)
		}
	}
	if got := row(t, mustCLI(t, env, "tx", "show", "rev-1"), "originalTransactionReference"); got != "ref/1" {
		t.Errorf("reversal's original = %q", got)
	}

	var v struct {
		Amount int64  `json:"amount"`
		State  string `json:"state"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "tx", "show", "--json", "ref/1")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Amount != 12_345 || v.State != "partially_reversed" {
		t.Errorf("--json = %+v, want minor units", v)
	}

	for _, args := range [][]string{{"tx"}, {"tx", "list"}, {"tx", "show"}, {"tx", "show", "a", "b"}} {
		if _, _, err := cli(t, env, args...); !isUsage(err) {
			t.Errorf("walletgate %s: %v, want a usage error", strings.Join(args, " "), err)
		}
	}
	if _, _, err := cli(t, env, "tx", "show", "nope"); err == nil || !strings.Contains(err.Error(), "transaction_not_found") {
		t.Errorf("unknown reference: %v", err)
	}
}
