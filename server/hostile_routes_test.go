package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/mac"
)

// TestHostileInputsEveryRoute sends every kind of hostile input of issue 4 (point 5) to every switch route, each time
// on a message that would move money (or, for /enquiry, be remembered) if it were accepted: a full reversal of an
// approved debit, the completion of a held lien. Each gets its code (or HTTP 400/413 with {"responseCode":"30"}) and
// leaves the ledger as it was: balances, held amount, journal and audit unchanged, requestId and reference not
// remembered.
func TestHostileInputsEveryRoute(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 10_000)
	if a := h.send("/debit", debitFields("base-d", "BASE-D", w, 100), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("setup debit: %+v", a)
	}
	if a := h.send("/lien/place", lienPlaceFields("base-l", "BASE-L", w, 200), mac.LienPlace); a.ResponseCode != "00" {
		t.Fatalf("setup lien: %+v", a)
	}
	const ledgerBalance, held = 10_000 - 100, 200

	routes := []struct {
		path   string
		m      mac.Message
		fields func(id string) *fields // a message that would be approved, and move money where the route can
		money  bool                    // amount is part of the message
	}{
		{"/debit", mac.Debit, func(id string) *fields { return debitFields(id, "REF-"+id, w, 100) }, true},
		{"/reversal", mac.Reversal, func(id string) *fields { return reversalFields(id, "REF-"+id, "BASE-D", w, 0) }, true},
		{"/enquiry", mac.Enquiry, func(id string) *fields { return enquiryFields(id, "REF-"+id, w) }, false},
		{"/lien/place", mac.LienPlace, func(id string) *fields { return lienPlaceFields(id, "REF-"+id, w, 100) }, true},
		{"/lien/debit", mac.LienDebit, func(id string) *fields { return lienDebitFields(id, "REF-"+id, "BASE-L", w, 200) }, true},
	}
	big := strings.Repeat("9", 10<<10) // 10 KB
	manyKeys := func(n int) raw {
		var b strings.Builder
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%x":""`, i)
		}
		b.WriteByte('}')
		return raw(b.String())
	}
	same := func(f *fields) *fields { return f }
	// edit rewrites the signed body: the damage comes after signing, as an attacker's would.
	type edit func(body string) string
	cases := []struct {
		name   string
		change func(f *fields) *fields
		edit   edit
		mac    *string
		money  bool   // only on routes whose message carries an amount
		status int    // HTTP status; 0: 200
		code   string // responseCode when 200
	}{
		{name: "amount with a huge exponent", change: func(f *fields) *fields { return f.set("amount", raw(`1e400`)) }, money: true, code: "30"},
		{name: "amount with an exponent", change: func(f *fields) *fields { return f.set("amount", raw(`1E2`)) }, money: true, code: "30"},
		{name: "amount of 10 KB of digits", change: func(f *fields) *fields { return f.set("amount", raw(big)) }, money: true, code: "13"},
		{name: "amount beyond int64", change: func(f *fields) *fields { return f.set("amount", raw(`9223372036854775808`)) }, money: true, code: "13"},
		{name: "amount beyond int64 as a string", change: func(f *fields) *fields { return f.set("amount", "99999999999999999999") }, money: true, code: "13"},
		{name: "negative zero amount", change: func(f *fields) *fields { return f.set("amount", raw(`-0`)) }, money: true, code: "13"},
		{name: "duplicate amount key", change: same, edit: func(b string) string {
			return strings.Replace(b, `"amount":`, `"amount":1,"amount":`, 1)
		}, money: true, status: http.StatusBadRequest},
		{name: "duplicate walletId key", change: same, edit: func(b string) string {
			return strings.Replace(b, `"walletId":`, `"walletId":"other","walletId":`, 1)
		}, status: http.StatusBadRequest},
		{name: "non-UTF-8 in a value", change: same, edit: func(b string) string {
			return strings.Replace(b, `"rrn":"`, "\"rrn\":\"\xff", 1)
		}, status: http.StatusBadRequest},
		{name: "additionalFields nested 5,000 deep", change: func(f *fields) *fields {
			return f.set("additionalFields", raw(strings.Repeat(`{"a":`, 5_000)+`"v"`+strings.Repeat("}", 5_000)))
		}, code: "30"},
		{name: "10,000 keys", change: func(f *fields) *fields { return f.set("additionalFields", manyKeys(10_000)) },
			status: http.StatusRequestEntityTooLarge},
		{name: "5,000 keys", change: func(f *fields) *fields { return f.set("additionalFields", manyKeys(5_000)) }, code: "30"},
		{name: "null walletId", change: func(f *fields) *fields { return f.set("walletId", nil) }, code: "30"},
		{name: "null transactionReference", change: func(f *fields) *fields { return f.set("transactionReference", nil) }, code: "30"},
		{name: "MAC one hex digit short", change: same, mac: ptr(strings.Repeat("a", 127)), code: "12"},
		{name: "MAC one hex digit long", change: same, mac: ptr(strings.Repeat("a", 129)), code: "12"},
		{name: "MAC of non-hex characters", change: same, mac: ptr(strings.Repeat("zz", 64)), code: "12"},
		{name: "MAC of 10 KB", change: same, mac: ptr(big), code: "12"},
		{name: "requestId of 10 KB", change: func(f *fields) *fields { return f.set("requestId", "r"+big) }, code: "30"},
		{name: "transactionReference of 10 KB", change: func(f *fields) *fields { return f.set("transactionReference", "t"+big) }, code: "30"},
	}
	for i, rt := range routes {
		for j, tc := range cases {
			if tc.money && !rt.money {
				continue
			}
			t.Run(rt.path+"/"+tc.name, func(t *testing.T) {
				f := tc.change(rt.fields(fmt.Sprintf("x%d-%d", i, j)))
				body := signAsSent(t, h.keys, rt.m, f.json())
				if tc.mac != nil {
					body = f.clone().set("mac", *tc.mac).json()
				}
				if tc.edit != nil {
					body = []byte(tc.edit(string(body)))
				}
				before := h.books(w)
				rec := h.post(rt.path, body)
				h.wantHostileAnswer(t, rec, tc.status, tc.code)
				h.unchanged(t, before, []string{f.text("requestId")}, []string{f.text("transactionReference")})
				h.wantWallet(w, ledgerBalance, held)
			})
		}
	}
	// The messages the hostile ones were made from still do what they say.
	for _, rt := range routes {
		if a := h.send(rt.path, rt.fields("after-"+strings.ReplaceAll(rt.path, "/", "")), rt.m); a.ResponseCode != "00" {
			t.Errorf("%s after the hostile messages: %+v, want 00", rt.path, a)
		}
	}
}
