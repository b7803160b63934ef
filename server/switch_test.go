package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// vectors is testdata/mac.json: MACs computed independently of walletgate.
type vectors struct {
	Requests []struct {
		Message   string          `json:"message"`
		Algorithm string          `json:"algorithm"`
		Request   json.RawMessage `json:"request"`
	} `json:"requests"`
	Responses []struct {
		Algorithm string `json:"algorithm"`
		Response  answer `json:"response"`
	} `json:"responses"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	raw, err := os.ReadFile("../testdata/mac.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v vectors) request(t *testing.T, message, algo string) []byte {
	for _, r := range v.Requests {
		if r.Message == message && r.Algorithm == algo {
			return r.Request
		}
	}
	t.Fatalf("no %s/%s request vector", message, algo)
	return nil
}

func (v vectors) responseMAC(t *testing.T, code, algo string) string {
	for _, r := range v.Responses {
		if r.Response.ResponseCode == code && r.Algorithm == algo {
			return r.Response.MAC
		}
	}
	t.Fatalf("no %s/%s response vector", code, algo)
	return ""
}

func readSeed(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../testdata/seed/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// seedFields turns a seed sample into editable fields.
func seedFields(t *testing.T, raw []byte) *fields {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	f := newFields()
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		f.set(k.(string), v)
	}
	return f
}

// The seed's three scenarios (seeds/002), checked against MACs computed outside walletgate.
func TestSeedScenarios(t *testing.T) {
	v := loadVectors(t)
	for _, algo := range []string{"sha512", "sha256"} {
		t.Run("approved/"+algo, func(t *testing.T) {
			h := newHarness(t, withKeys(mustKeys(t, mac.Algorithm(algo), testKey, "")))
			h.fund("1234567894", "566", 500)
			rec := h.post("/debit", v.request(t, "debit", algo)) // the seed's sample with its vector MAC
			a := h.decode(rec)
			if rec.Code != http.StatusOK || a.ResponseCode != "00" || a.Amount != 100 || a.RequestID != "1" || a.TransactionReference != "11123456789" {
				t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
			}
			if want := v.responseMAC(t, "00", algo); a.MAC != want {
				t.Errorf("response MAC %s, want the vector's %s", a.MAC, want)
			}
			if got := h.balance("1234567894"); got != 400 {
				t.Errorf("balance %d, want 400", got)
			}
		})
		t.Run("invalid MAC/"+algo, func(t *testing.T) {
			h := newHarness(t, withKeys(mustKeys(t, mac.Algorithm(algo), testKey, "")))
			h.fund("1234567894", "566", 5000)
			rec := h.post("/debit", readSeed(t, "debit_invalid_mac.json")) // "mac": "hexdigest"
			a := h.decode(rec)
			if rec.Code != http.StatusOK || a.ResponseCode != "12" || a.Amount != 1000 {
				t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
			}
			if want := v.responseMAC(t, "12", algo); a.MAC != want {
				t.Errorf("response MAC %s, want the vector's %s", a.MAC, want)
			}
			if got := h.balance("1234567894"); got != 5000 {
				t.Errorf("balance %d, want 5000", got)
			}
		})
		t.Run("insufficient funds/"+algo, func(t *testing.T) {
			h := newHarness(t, withKeys(mustKeys(t, mac.Algorithm(algo), testKey, "")))
			h.fund("1234567894", "566", 500)
			f := seedFields(t, readSeed(t, "debit_insufficient_funds.json"))
			a := h.send("/debit", f, mac.Debit)
			if a.ResponseCode != "51" || a.Amount != 1000 {
				t.Fatalf("answer %+v", a)
			}
			if want := v.responseMAC(t, "51", algo); a.MAC != want {
				t.Errorf("response MAC %s, want the vector's %s", a.MAC, want)
			}
			if got := h.balance("1234567894"); got != 500 {
				t.Errorf("balance %d, want 500", got)
			}
		})
	}
	t.Run("malformed original sample", func(t *testing.T) {
		h := newHarness(t)
		h.fund("1234567894", "566", 500)
		rec := h.post("/debit", readSeed(t, "debit_approved_malformed.txt"))
		if rec.Code != http.StatusBadRequest || rec.Body.String() != `{"responseCode":"30"}` {
			t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
		}
		if got := h.balance("1234567894"); got != 500 {
			t.Errorf("balance %d, want 500", got)
		}
	})
}

func TestIdempotency(t *testing.T) {
	const w = "1234567894"
	t.Run("replay of a requestId is byte-identical and moves nothing", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		body := debitFields("r1", "t1", w, 100).signed(h.keys, mac.Debit)
		first := h.post("/debit", body)
		second := h.post("/debit", body)
		if !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) || h.decode(first).ResponseCode != "00" {
			t.Fatalf("first %s, second %s", first.Body, second.Body)
		}
		if got := h.balance(w); got != 900 {
			t.Errorf("balance %d, want 900", got)
		}
	})
	t.Run("replay of a decline is byte-identical even after funding", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 50)
		body := debitFields("r1", "t1", w, 100).signed(h.keys, mac.Debit)
		first := h.post("/debit", body)
		if _, err := h.ledger.Credit(context.Background(), ledger.Credit{WalletID: w, Amount: 1000, Reference: "more"}); err != nil {
			t.Fatal(err)
		}
		second := h.post("/debit", body)
		if h.decode(first).ResponseCode != "51" || !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) {
			t.Fatalf("first %s, second %s", first.Body, second.Body)
		}
		if got := h.balance(w); got != 1050 {
			t.Errorf("balance %d, want 1050", got)
		}
	})
	t.Run("same requestId with another fingerprint is 94 and not stored", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		original := h.post("/debit", debitFields("r1", "t1", w, 100).signed(h.keys, mac.Debit))
		for name, f := range map[string]*fields{
			"amount":    debitFields("r1", "t1", w, 200),
			"reference": debitFields("r1", "t2", w, 100),
			"fee":       debitFields("r1", "t1", w, 100).set("transactionFee", 5),
			"rrn":       debitFields("r1", "t1", w, 100).set("rrn", "999999999999"),
		} {
			t.Run(name, func(t *testing.T) {
				a := h.send("/debit", f, mac.Debit)
				if a.ResponseCode != "94" {
					t.Fatalf("code %s, want 94", a.ResponseCode)
				}
			})
		}
		t.Run("the other route", func(t *testing.T) {
			a := h.send("/reversal", reversalFields("r1", "t1", "t1", w, 100), mac.Reversal)
			if a.ResponseCode != "94" {
				t.Fatalf("code %s, want 94", a.ResponseCode)
			}
		})
		if again := h.post("/debit", debitFields("r1", "t1", w, 100).signed(h.keys, mac.Debit)); !bytes.Equal(again.Body.Bytes(), original.Body.Bytes()) {
			t.Errorf("the original replay changed: %s vs %s", again.Body, original.Body)
		}
		if got := h.balance(w); got != 900 {
			t.Errorf("balance %d, want 900", got)
		}
	})
	t.Run("same transactionReference with a new requestId", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		h.fund("other", "566", 1000)
		if a := h.send("/debit", debitFields("r1", "t1", w, 100).set("transactionFee", 10), mac.Debit); a.ResponseCode != "00" {
			t.Fatalf("first: %+v", a)
		}
		a := h.send("/debit", debitFields("r2", "t1", w, 100).set("transactionFee", 10), mac.Debit)
		if a.ResponseCode != "00" || a.RequestID != "r2" {
			t.Errorf("same details: %+v, want 00 re-signed for r2", a)
		}
		for name, f := range map[string]*fields{
			"wallet":   debitFields("r3", "t1", "other", 100).set("transactionFee", 10),
			"amount":   debitFields("r4", "t1", w, 101).set("transactionFee", 10),
			"fee":      debitFields("r5", "t1", w, 100),
			"currency": debitFields("r6", "t1", w, 100).set("transactionFee", 10).set("currencyCode", "978"),
		} {
			t.Run(name, func(t *testing.T) {
				if a := h.send("/debit", f, mac.Debit); a.ResponseCode != "94" {
					t.Errorf("code %s, want 94", a.ResponseCode)
				}
			})
		}
		if got := h.balance(w); got != 890 {
			t.Errorf("balance %d, want 890", got)
		}
		if got := h.balance("other"); got != 1000 {
			t.Errorf("other balance %d, want 1000", got)
		}
	})
	t.Run("a declined reference stays declined under a new requestId", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 50)
		if a := h.send("/debit", debitFields("r1", "t1", w, 100), mac.Debit); a.ResponseCode != "51" {
			t.Fatalf("first: %+v", a)
		}
		if _, err := h.ledger.Credit(context.Background(), ledger.Credit{WalletID: w, Amount: 1000, Reference: "more"}); err != nil {
			t.Fatal(err)
		}
		if a := h.send("/debit", debitFields("r2", "t1", w, 100), mac.Debit); a.ResponseCode != "51" {
			t.Errorf("retry: %+v, want the original 51", a)
		}
		if got := h.balance(w); got != 1050 {
			t.Errorf("balance %d, want 1050", got)
		}
	})
}

func TestForgedMessagesLeaveNoTrace(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	genuine := debitFields("r1", "t1", w, 100)
	forged := genuine.clone().set("amount", 900) // signed for 100, claims 900
	body := genuine.signed(h.keys, mac.Debit)
	var claimed map[string]any
	if err := json.Unmarshal(body, &claimed); err != nil {
		t.Fatal(err)
	}
	forged.set("mac", claimed["mac"])

	for i := 0; i < 3; i++ {
		a := h.decode(h.post("/debit", forged.json()))
		if a.ResponseCode != "12" {
			t.Fatalf("forged: %+v", a)
		}
	}
	wrongKey := mustKeys(t, mac.SHA512, "not-the-key", "")
	if a := h.decode(h.post("/debit", genuine.signed(wrongKey, mac.Debit))); a.ResponseCode != "12" {
		t.Fatalf("wrong key: %+v", a)
	}
	// A reversal tombstone must not be squatted either.
	if a := h.decode(h.post("/reversal", reversalFields("r9", "rv1", "t2", w, 0).signed(wrongKey, mac.Reversal))); a.ResponseCode != "12" {
		t.Fatalf("forged reversal: %+v", a)
	}
	if a := h.send("/debit", genuine, mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("genuine after forgeries: %+v", a)
	}
	if a := h.send("/debit", debitFields("r2", "t2", w, 100), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("debit under the forged reversal's original: %+v", a)
	}
	if got := h.balance(w); got != 800 {
		t.Errorf("balance %d, want 800", got)
	}
}

func TestDebitDeclinesAndFormats(t *testing.T) {
	const w = "1234567894"
	cases := []struct {
		name   string
		body   func(h *harness) []byte
		status int
		code   string
		want   int64 // wallet balance after; funded with 500
	}{
		{"unknown wallet is 14", func(h *harness) []byte {
			return debitFields("r", "t", "9999999999", 100).signed(h.keys, mac.Debit)
		}, 200, "14", 500},
		{"amount 0 is 13", func(h *harness) []byte { return debitFields("r", "t", w, 0).signed(h.keys, mac.Debit) }, 200, "13", 500},
		{"negative amount is 13", func(h *harness) []byte { return debitFields("r", "t", w, -5).signed(h.keys, mac.Debit) }, 200, "13", 500},
		{"negative fee is 13", func(h *harness) []byte {
			return debitFields("r", "t", w, 100).set("transactionFee", -1).signed(h.keys, mac.Debit)
		}, 200, "13", 500},
		{"amount overflowing int64 is 13", func(h *harness) []byte {
			return debitFields("r", "t", w, json.RawMessage("99999999999999999999")).signed(h.keys, mac.Debit)
		}, 200, "13", 500},
		{"amount plus fee overflowing is 13", func(h *harness) []byte {
			return debitFields("r", "t", w, int64(1)<<62).set("transactionFee", int64(1)<<62).signed(h.keys, mac.Debit)
		}, 200, "13", 500},
		{"missing terminalId is 30", func(h *harness) []byte {
			return debitFields("r", "t", w, 100).del("terminalId").signed(h.keys, mac.Debit)
		}, 200, "30", 500},
		{"missing rrn is 30", func(h *harness) []byte { return debitFields("r", "t", w, 100).del("rrn").signed(h.keys, mac.Debit) }, 200, "30", 500},
		{"wrong JSON type is 30", func(h *harness) []byte {
			return debitFields("r", "t", w, 100).set("terminalId", 42).signed(h.keys, mac.Debit)
		}, 200, "30", 500},
		{"fee as a boolean is 30", func(h *harness) []byte {
			return debitFields("r", "t", w, 100).set("transactionFee", true).signed(h.keys, mac.Debit)
		}, 200, "30", 500},
		{"amount with a fraction is 30", func(h *harness) []byte {
			return debitFields("r", "t", w, json.RawMessage("100.5")).signed(h.keys, mac.Debit)
		}, 200, "30", 500},
		{"currency of another wallet is 12", func(h *harness) []byte {
			return debitFields("r", "t", w, 100).set("currencyCode", "978").signed(h.keys, mac.Debit)
		}, 200, "12", 500},
		{"51 when the fee tips it over", func(h *harness) []byte {
			return debitFields("r", "t", w, 450).set("transactionFee", 51).signed(h.keys, mac.Debit)
		}, 200, "51", 500},
		{"approved when amount plus fee is exactly the balance", func(h *harness) []byte {
			return debitFields("r", "t", w, 450).set("transactionFee", 50).signed(h.keys, mac.Debit)
		}, 200, "00", 0},
		{"amount as a digit string", func(h *harness) []byte { return debitFields("r", "t", w, "100").signed(h.keys, mac.Debit) }, 200, "00", 400},
		{"a JSON array is 400/30", func(h *harness) []byte { return []byte(`[{"requestId":"r"}]`) }, 400, "30", 500},
		{"a JSON string is 400/30", func(h *harness) []byte { return []byte(`"debit"`) }, 400, "30", 500},
		{"an empty body is 400/30", func(h *harness) []byte { return nil }, 400, "30", 500},
		{"broken JSON is 400/30", func(h *harness) []byte {
			return debitFields("r", "t", w, 100).signed(h.keys, mac.Debit)[:50]
		}, 400, "30", 500},
		{"a body over 64 KiB is 413", func(h *harness) []byte {
			return debitFields("r", "t", w, 100).set("padding", strings.Repeat("x", MaxBodyBytes)).signed(h.keys, mac.Debit)
		}, 413, "30", 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fund(w, "566", 500)
			h.fund("eur", "978", 500)
			rec := h.post("/debit", tc.body(h))
			if rec.Code != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			var got struct {
				ResponseCode string `json:"responseCode"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.ResponseCode != tc.code {
				t.Fatalf("answer %s, want code %s", rec.Body, tc.code)
			}
			if tc.status == http.StatusOK {
				h.decode(rec) // signed
			}
			if b := h.balance(w); b != tc.want {
				t.Errorf("balance %d, want %d", b, tc.want)
			}
			if b := h.balance("eur"); b != 500 {
				t.Errorf("other wallet balance %d, want 500", b)
			}
			// Ledger decisions are remembered under requestId and reference; parse and validation failures are not.
			remembered := tc.status == http.StatusOK && tc.code != "30" && tc.code != "13" // every 13 here is a validation failure
			_, replayErr := h.ledger.Replay(context.Background(), "r", [32]byte{})
			_, txErr := h.ledger.Transaction(context.Background(), "t")
			if gotRemembered := !errors.Is(replayErr, ledger.ErrNotRecorded); gotRemembered != remembered {
				t.Errorf("requestId remembered = %v (%v), want %v", gotRemembered, replayErr, remembered)
			}
			if gotRemembered := !errors.Is(txErr, ledger.ErrTransactionNotFound); gotRemembered != remembered {
				t.Errorf("reference remembered = %v (%v), want %v", gotRemembered, txErr, remembered)
			}
		})
	}
	t.Run("frozen and closed wallets are 57", func(t *testing.T) {
		h := newHarness(t)
		for _, s := range []ledger.Status{ledger.StatusFrozen, ledger.StatusClosed} {
			id := "w-" + string(s)
			h.fund(id, "566", 500)
			if _, err := h.ledger.SetStatus(context.Background(), id, s); err != nil {
				t.Fatal(err)
			}
			if a := h.send("/debit", debitFields("r-"+id, "t-"+id, id, 100), mac.Debit); a.ResponseCode != "57" {
				t.Errorf("%s: code %s, want 57", s, a.ResponseCode)
			}
			if b := h.balance(id); b != 500 {
				t.Errorf("%s: balance %d, want 500", s, b)
			}
		}
	})
	t.Run("format errors are not remembered", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 500)
		if a := h.send("/debit", debitFields("r", "t", w, 100).del("stan"), mac.Debit); a.ResponseCode != "30" {
			t.Fatalf("first: %+v", a)
		}
		if a := h.send("/debit", debitFields("r", "t", w, 100), mac.Debit); a.ResponseCode != "00" {
			t.Fatalf("corrected message under the same requestId: %+v", a)
		}
	})
}

func TestReversal(t *testing.T) {
	const w = "1234567894"
	debit := func(h *harness, req, ref string, amount, fee int64) {
		h.t.Helper()
		if a := h.send("/debit", debitFields(req, ref, w, amount).set("transactionFee", fee), mac.Debit); a.ResponseCode != "00" {
			h.t.Fatalf("debit %s: %+v", ref, a)
		}
	}
	reverse := func(h *harness, req, ref, orig string, amount int64) string {
		h.t.Helper()
		return h.send("/reversal", reversalFields(req, ref, orig, w, amount), mac.Reversal).ResponseCode
	}
	t.Run("full with amount 0 gives principal and fee back", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		debit(h, "d1", "t1", 300, 20)
		if code := reverse(h, "v1", "rv1", "t1", 0); code != "00" {
			t.Fatalf("code %s", code)
		}
		if b := h.balance(w); b != 1000 {
			t.Errorf("balance %d, want 1000", b)
		}
	})
	t.Run("full with the whole amount", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		debit(h, "d1", "t1", 300, 20)
		if code := reverse(h, "v1", "rv1", "t1", 300); code != "00" {
			t.Fatalf("code %s", code)
		}
		if b := h.balance(w); b != 1000 {
			t.Errorf("balance %d, want 1000", b)
		}
	})
	t.Run("partial gives principal only, then the rest with the fee", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		debit(h, "d1", "t1", 300, 20)
		if code := reverse(h, "v1", "rv1", "t1", 100); code != "00" {
			t.Fatalf("code %s", code)
		}
		if b := h.balance(w); b != 780 {
			t.Errorf("after partial: balance %d, want 780", b)
		}
		if code := reverse(h, "v2", "rv2", "t1", 201); code != "13" {
			t.Errorf("above what remains: code %s, want 13", code)
		}
		if b := h.balance(w); b != 780 {
			t.Errorf("after refused reversal: balance %d, want 780", b)
		}
		if code := reverse(h, "v3", "rv3", "t1", 0); code != "00" {
			t.Fatalf("code %s", code)
		}
		if b := h.balance(w); b != 1000 {
			t.Errorf("after the rest: balance %d, want 1000", b)
		}
	})
	t.Run("repeated reversals are honoured once", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		debit(h, "d1", "t1", 300, 20)
		body := reversalFields("v1", "rv1", "t1", w, 0).signed(h.keys, mac.Reversal)
		first := h.post("/reversal", body)
		again := h.post("/reversal", body) // same requestId
		if !bytes.Equal(first.Body.Bytes(), again.Body.Bytes()) || h.decode(first).ResponseCode != "00" {
			t.Fatalf("first %s, again %s", first.Body, again.Body)
		}
		if code := reverse(h, "v2", "rv1", "t1", 0); code != "00" { // new requestId, same reversal
			t.Errorf("re-sent with a new requestId: %s", code)
		}
		if code := reverse(h, "v3", "rv9", "t1", 0); code != "00" { // another reversal of the same debit
			t.Errorf("second reversal: %s", code)
		}
		if code := reverse(h, "v4", "rv8", "t1", 50); code != "00" { // partial after full: nothing left, nothing moves
			t.Errorf("partial after full: %s", code)
		}
		if b := h.balance(w); b != 1000 {
			t.Errorf("balance %d, want 1000", b)
		}
	})
	t.Run("of a declined debit: 00 and nothing moves", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 100)
		if a := h.send("/debit", debitFields("d1", "t1", w, 500), mac.Debit); a.ResponseCode != "51" {
			t.Fatalf("debit: %+v", a)
		}
		if code := reverse(h, "v1", "rv1", "t1", 0); code != "00" {
			t.Errorf("code %s", code)
		}
		if b := h.balance(w); b != 100 {
			t.Errorf("balance %d, want 100", b)
		}
	})
	t.Run("of an unknown original: 25, and the late debit is 12", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		if code := reverse(h, "v1", "rv1", "t-late", 0); code != "25" {
			t.Fatalf("code %s, want 25", code)
		}
		if code := reverse(h, "v1b", "rv1", "t-late", 0); code != "25" { // the switch re-sends it
			t.Fatalf("re-sent: code %s, want 25", code)
		}
		if a := h.send("/debit", debitFields("d1", "t-late", w, 100), mac.Debit); a.ResponseCode != "12" {
			t.Fatalf("late debit: %+v, want 12", a)
		}
		if a := h.send("/debit", debitFields("d2", "t-late", w, 100), mac.Debit); a.ResponseCode != "12" {
			t.Fatalf("late debit re-sent: %+v, want 12", a)
		}
		if b := h.balance(w); b != 1000 {
			t.Errorf("balance %d, want 1000", b)
		}
	})
	t.Run("the original of a reversed debit re-sent is 12", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		debit(h, "d1", "t1", 300, 0)
		if code := reverse(h, "v1", "rv1", "t1", 0); code != "00" {
			t.Fatal(code)
		}
		if a := h.send("/debit", debitFields("d2", "t1", w, 300), mac.Debit); a.ResponseCode != "12" {
			t.Errorf("re-sent debit: %+v, want 12", a)
		}
		if b := h.balance(w); b != 1000 {
			t.Errorf("balance %d, want 1000", b)
		}
	})
	t.Run("missing originalTransactionReference is 30", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		debit(h, "d1", "t1", 300, 0)
		if code := h.send("/reversal", debitFields("v1", "rv1", w, 0), mac.Reversal).ResponseCode; code != "30" {
			t.Errorf("code %s, want 30", code)
		}
		if b := h.balance(w); b != 700 {
			t.Errorf("balance %d, want 700", b)
		}
	})
	t.Run("negative amount is 13", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		debit(h, "d1", "t1", 300, 0)
		if code := reverse(h, "v1", "rv1", "t1", -1); code != "13" {
			t.Errorf("code %s, want 13", code)
		}
		if b := h.balance(w); b != 700 {
			t.Errorf("balance %d, want 700", b)
		}
	})
}

// 200 debits racing on one wallet approve exactly what its balance affords.
func TestConcurrentDebitsNeverOverdraw(t *testing.T) {
	const (
		w       = "1234567894"
		senders = 200
		amount  = 70
		fee     = 3
		funds   = 60*(amount+fee) + 40 // room for exactly 60
	)
	h := newHarness(t)
	h.fund(w, "566", funds)
	ts := httptest.NewServer(h.srv.Switch())
	defer ts.Close()

	bodies := make([][]byte, senders)
	for i := range bodies {
		bodies[i] = debitFields(fmt.Sprintf("r%03d", i), fmt.Sprintf("t%03d", i), w, amount).set("transactionFee", fee).signed(h.keys, mac.Debit)
	}
	codes := postAtOnce(t, ts, "/debit", bodies)
	count := map[string]int{}
	for _, c := range codes {
		count[c]++
	}
	if count["00"] != 60 || count["51"] != senders-60 {
		t.Fatalf("codes %v, want 60 approvals and %d declines", count, senders-60)
	}
	if b := h.balance(w); b != 40 {
		t.Errorf("balance %d, want 40", b)
	}
}

// Two identical requests racing produce one movement and two identical answers.
func TestIdenticalRequestsRacing(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	ts := httptest.NewServer(h.srv.Switch())
	defer ts.Close()
	body := debitFields("r1", "t1", w, 100).signed(h.keys, mac.Debit)
	const n = 20
	answers := make([][]byte, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := ts.Client().Post(ts.URL+"/debit", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			answers[i] = buf.Bytes()
		}()
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(answers[i], answers[0]) {
			t.Fatalf("answer %d %s differs from %s", i, answers[i], answers[0])
		}
	}
	if b := h.balance(w); b != 900 {
		t.Errorf("balance %d, want 900", b)
	}
}

func TestRestartKeepsAnswersAndBalances(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	bodies := map[string][]byte{
		"/debit":    debitFields("r1", "t1", w, 100).set("transactionFee", 7).signed(h.keys, mac.Debit),
		"/reversal": reversalFields("r2", "rv1", "t1", w, 40).signed(h.keys, mac.Reversal),
	}
	declined := debitFields("r3", "t3", w, 5000).signed(h.keys, mac.Debit)
	answers := map[string][]byte{}
	for _, p := range []string{"/debit", "/reversal"} {
		answers[p] = h.post(p, bodies[p]).Body.Bytes()
	}
	answers["declined"] = h.post("/debit", declined).Body.Bytes()
	before := h.balance(w)
	auditBefore, err := h.ledger.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	h2 := h.reopen()
	for _, p := range []string{"/debit", "/reversal"} {
		if got := h2.post(p, bodies[p]).Body.Bytes(); !bytes.Equal(got, answers[p]) {
			t.Errorf("%s replay after restart: %s, want %s", p, got, answers[p])
		}
	}
	if got := h2.post("/debit", declined).Body.Bytes(); !bytes.Equal(got, answers["declined"]) {
		t.Errorf("declined replay after restart: %s, want %s", got, answers["declined"])
	}
	if after := h2.balance(w); after != before || after != 1000-107+40 {
		t.Errorf("balance %d after restart, %d before, want %d", after, before, 1000-107+40)
	}
	auditAfter, err := h2.ledger.Audit(context.Background())
	if err != nil || !auditAfter.OK || auditAfter.Entries != auditBefore.Entries {
		t.Errorf("audit after restart %+v (err %v), before %+v", auditAfter, err, auditBefore)
	}
}

// faultyStore makes the ledger's decisions fail as storage can.
type faultyStore struct {
	Store
	err error
}

func (f faultyStore) Debit(ctx context.Context, d ledger.DebitRequest) (ledger.Answer, error) {
	return ledger.Answer{}, f.err
}

func TestLedgerFailures(t *testing.T) {
	const w = "1234567894"
	t.Run("nothing committed is 96", func(t *testing.T) {
		fail := errors.New("disk full")
		var failing bool
		var mu sync.Mutex
		h := newHarness(t, withLedgerOptions(ledger.Options{BeforeCommit: func() error {
			mu.Lock()
			defer mu.Unlock()
			if failing {
				return fail
			}
			return nil
		}}))
		h.fund(w, "566", 1000)
		mu.Lock()
		failing = true
		mu.Unlock()
		body := debitFields("r1", "t1", w, 100).signed(h.keys, mac.Debit)
		if a := h.decode(h.post("/debit", body)); a.ResponseCode != "96" {
			t.Fatalf("during the fault: %+v", a)
		}
		if b := h.balance(w); b != 1000 {
			t.Errorf("balance %d during the fault", b)
		}
		mu.Lock()
		failing = false
		mu.Unlock()
		if a := h.decode(h.post("/debit", body)); a.ResponseCode != "00" {
			t.Fatalf("after the fault: %+v", a)
		}
		if b := h.balance(w); b != 900 {
			t.Errorf("balance %d after the fault, want 900", b)
		}
	})
	t.Run("unknown outcome answers no code", func(t *testing.T) {
		h := newHarness(t, withStore(func(s Store) Store { return faultyStore{Store: s, err: ledger.ErrOutcomeUnknown} }))
		h.fund(w, "566", 1000)
		rec := h.post("/debit", debitFields("r1", "t1", w, 100).signed(h.keys, mac.Debit))
		if rec.Code != http.StatusServiceUnavailable || rec.Body.Len() != 0 {
			t.Fatalf("HTTP %d %q, want 503 with no body", rec.Code, rec.Body)
		}
	})
}

func TestKeyRotation(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t, withKeys(mustKeys(t, mac.SHA512, "new-key", "old-key")))
	h.fund(w, "566", 1000)
	old := mustKeys(t, mac.SHA512, "old-key", "")
	rec := h.post("/debit", debitFields("r1", "t1", w, 100).signed(old, mac.Debit))
	var a answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if a.ResponseCode != "00" {
		t.Fatalf("old key: %s", rec.Body)
	}
	if _, ok := old.Verify(a.MAC, a.TransactionReference, a.RequestID, a.ResponseCode); !ok {
		t.Errorf("the answer to an old-key request must be signed with the old key")
	}
	if a := h.send("/debit", debitFields("r2", "t2", w, 100), mac.Debit); a.ResponseCode != "00" {
		t.Errorf("new key: %+v", a)
	}
	if b := h.balance(w); b != 800 {
		t.Errorf("balance %d, want 800", b)
	}
}
