package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// lienLookup is GET /admin/transactions/lien-1 as a walletgate with partners answers it: a completed lien with the
// deliveries of the lien debit that completed it.
const lienLookup = `{"transactionReference":"lien-1","kind":"lien","requestId":"30","walletId":"w1","currencyCode":"566",
"amount":15000,"fee":1000,"responseCode":"00","state":"completed","reversals":[],
"partnerDeliveries":[
 {"id":8,"partner":"connector","kind":"lien_debit","walletId":"w1","transactionReference":"ld-1","originalTransactionReference":"lien-1","currencyCode":"566","amount":12345,"fee":1000,"responseCode":"00","state":"delivered","attempts":1},
 {"id":9,"partner":"virtualaccount","kind":"lien_debit","walletId":"w1","transactionReference":"ld-1","originalTransactionReference":"lien-1","currencyCode":"566","amount":12345,"fee":1000,"responseCode":"00","state":"dead","attempts":3,"lastError":"virtualaccount debit: refused"}],
"journalEntry":5,"createdAt":"2026-11-21T13:30:02Z",
"lien":{"expiresAt":"2026-11-28T13:30:02Z","completedAt":"2026-11-21T13:30:02Z","debitedAmount":12345,"endedBy":"ld-1","endJournalEntry":6}}`

// TestTxShowNestedAmounts: amounts inside the lien block and the partner deliveries are shown in major units with
// the currency, like the transaction's own, never as bare minor units.
func TestTxShowNestedAmounts(t *testing.T) {
	var out bytes.Buffer
	if err := printTransaction(&out, json.RawMessage(lienLookup)); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for name, want := range map[string]string{
		"amount":             "150.00 NGN",
		"lien.debitedAmount": "123.45 NGN",
		"lien.endedBy":       "ld-1",
		"lien.expiresAt":     "2026-11-28T13:30:02Z",
		"partner deliveries": "2",
		"  #1":               "connector lien_debit ld-1: delivered, 1 attempt, amount 123.45 NGN, fee 10.00 NGN, code 00",
		"  #2":               "virtualaccount lien_debit ld-1: dead, 3 attempts, amount 123.45 NGN, fee 10.00 NGN, code 00, last error: virtualaccount debit: refused",
	} {
		if got := row(t, s, name); got != want {
			t.Errorf("%s = %q, want %q\n%s", name, got, want, s)
		}
	}
	if strings.Contains(s, "12345") {
		t.Errorf("an amount is shown in minor units:\n%s", s)
	}
}
