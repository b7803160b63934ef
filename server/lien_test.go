package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// lienPlaceFields is a place-lien in the seed's style.
func lienPlaceFields(requestID, reference, walletID string, amount any) *fields {
	return debitFields(requestID, reference, walletID, amount)
}

// lienDebitFields completes (amount > 0) or releases (amount 0) the lien original.
func lienDebitFields(requestID, reference, original, walletID string, amount any) *fields {
	return newFields(
		"requestId", requestID,
		"walletId", walletID,
		"amount", amount,
		"transactionReference", reference,
		"originalTransactionReference", original,
		"transactionDateTime", "2020-05-15T13:32:09",
		"currencyCode", "566",
		"rrn", "000111000111",
		"stan", "000018",
	)
}

// txView is the admin look-up of a transaction.
type txView struct {
	Kind         string `json:"kind"`
	State        string `json:"state"`
	ResponseCode string `json:"responseCode"`
	Amount       int64  `json:"amount"`
	Fee          int64  `json:"fee"`
	Original     string `json:"originalTransactionReference"`
	Lien         *struct {
		ExpiresAt     time.Time  `json:"expiresAt"`
		CompletedAt   *time.Time `json:"completedAt"`
		DebitedAmount int64      `json:"debitedAmount"`
		ReleasedAt    *time.Time `json:"releasedAt"`
		ReleaseReason string     `json:"releaseReason"`
		EndedBy       string     `json:"endedBy"`
	} `json:"lien"`
}

func (h *harness) lookup(ref string) txView {
	h.t.Helper()
	rec := h.admin(http.MethodGet, "/admin/transactions/"+ref, nil, testAdminToken)
	if rec.Code != http.StatusOK {
		h.t.Fatalf("look-up %s: HTTP %d %s", ref, rec.Code, rec.Body)
	}
	var v txView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

// wallet is the admin view of a wallet.
func (h *harness) wallet(id string) walletView {
	h.t.Helper()
	var v walletView
	rec := h.admin(http.MethodGet, "/admin/wallets/"+id, nil, testAdminToken)
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || rec.Code != http.StatusOK {
		h.t.Fatalf("wallet %s: HTTP %d %s", id, rec.Code, rec.Body)
	}
	return v
}

func (h *harness) wantWallet(id string, ledgerBalance, held int64) {
	h.t.Helper()
	v := h.wallet(id)
	if v.LedgerBalance != ledgerBalance || v.HeldAmount != held || v.AvailableBalance != ledgerBalance-held {
		h.t.Errorf("wallet %s: ledger %d held %d available %d, want ledger %d held %d", id, v.LedgerBalance, v.HeldAmount,
			v.AvailableBalance, ledgerBalance, held)
	}
}

func TestLienPlace(t *testing.T) {
	const w = "1234567894"
	cases := []struct {
		name          string
		f             *fields
		code          string
		held          int64
		remembered    bool
		lookupState   string
		limitedWallet bool
	}{
		{name: "approved holds amount and fee", f: lienPlaceFields("r", "L", w, 300).set("transactionFee", 10),
			code: "00", held: 310, remembered: true, lookupState: ledger.StateHeld},
		{name: "insufficient funds is 51", f: lienPlaceFields("r", "L", w, 995).set("transactionFee", 6), code: "51",
			remembered: true, lookupState: ledger.StateDeclined},
		{name: "unknown wallet is 14", f: lienPlaceFields("r", "L", "9999999999", 100), code: "14", remembered: true,
			lookupState: ledger.StateDeclined},
		{name: "another currency is 12", f: lienPlaceFields("r", "L", w, 100).set("currencyCode", "978"), code: "12",
			remembered: true, lookupState: ledger.StateDeclined},
		{name: "over the daily limit is 61", f: lienPlaceFields("r", "L", "limited", 501), code: "61",
			remembered: true, lookupState: ledger.StateDeclined, limitedWallet: true},
		{name: "amount 0 is 13", f: lienPlaceFields("r", "L", w, 0), code: "13"},
		{name: "negative amount is 13", f: lienPlaceFields("r", "L", w, -1), code: "13"},
		{name: "negative fee is 13", f: lienPlaceFields("r", "L", w, 1).set("transactionFee", -1), code: "13"},
		{name: "missing terminalId is 30", f: lienPlaceFields("r", "L", w, 100).del("terminalId"), code: "30"},
		{name: "missing currencyCode is 30", f: lienPlaceFields("r", "L", w, 100).del("currencyCode"), code: "30"},
		{name: "amount as a decimal is 30", f: lienPlaceFields("r", "L", w, json.RawMessage("1.5")), code: "30"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fund(w, "566", 1000)
			if _, err := h.ledger.CreateWallet(context.Background(), ledger.NewWallet{ID: "limited", Currency: "566",
				Name: "Limited", DailyDebitLimit: 500}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.ledger.Credit(context.Background(), ledger.Credit{WalletID: "limited", Amount: 1000, Reference: "fund-limited"}); err != nil {
				t.Fatal(err)
			}
			a := h.send("/lien/place", tc.f, mac.LienPlace)
			if a.ResponseCode != tc.code || a.TransactionReference != "L" || a.RequestID != "r" {
				t.Fatalf("answer %+v, want code %s", a, tc.code)
			}
			h.wantWallet(w, 1000, tc.held)
			h.wantWallet("limited", 1000, 0)
			rec := h.admin(http.MethodGet, "/admin/transactions/L", nil, testAdminToken)
			if !tc.remembered {
				if rec.Code != http.StatusNotFound {
					t.Errorf("a validation failure was remembered: %s", rec.Body)
				}
				return
			}
			v := h.lookup("L")
			if v.Kind != ledger.KindLien || v.State != tc.lookupState || v.ResponseCode != tc.code {
				t.Errorf("look-up %+v", v)
			}
			if tc.code == "00" && (v.Lien == nil || v.Lien.ExpiresAt.IsZero() || v.Lien.ReleasedAt != nil) {
				t.Errorf("look-up lien %+v", v.Lien)
			}
		})
	}
	t.Run("frozen wallet is 57", func(t *testing.T) {
		h := newHarness(t)
		h.fund(w, "566", 1000)
		if _, err := h.ledger.SetStatus(context.Background(), w, ledger.StatusFrozen); err != nil {
			t.Fatal(err)
		}
		if a := h.send("/lien/place", lienPlaceFields("r", "L", w, 100), mac.LienPlace); a.ResponseCode != "57" {
			t.Errorf("answer %+v", a)
		}
		h.wantWallet(w, 1000, 0)
	})
}

func TestLienPlaceIdempotency(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	h.fund("other", "566", 1000)
	body := lienPlaceFields("r1", "L1", w, 300).set("transactionFee", 10).signed(h.keys, mac.LienPlace)
	first := h.post("/lien/place", body)
	second := h.post("/lien/place", body)
	if h.decode(first).ResponseCode != "00" || !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) {
		t.Fatalf("first %s, second %s", first.Body, second.Body)
	}
	for name, f := range map[string]*fields{
		"amount":    lienPlaceFields("r1", "L1", w, 301).set("transactionFee", 10),
		"fee":       lienPlaceFields("r1", "L1", w, 300),
		"rrn":       lienPlaceFields("r1", "L1", w, 300).set("transactionFee", 10).set("rrn", "999999999999"),
		"route":     debitFields("r1", "L1", w, 300).set("transactionFee", 10),
		"liendebit": lienDebitFields("r1", "L1", "L1", w, 300).set("transactionFee", 10),
	} {
		t.Run("requestId reused: "+name, func(t *testing.T) {
			path, m := "/lien/place", mac.LienPlace
			switch name {
			case "route":
				path, m = "/debit", mac.Debit
			case "liendebit":
				path, m = "/lien/debit", mac.LienDebit
			}
			if a := h.send(path, f, m); a.ResponseCode != "94" {
				t.Errorf("code %s, want 94", a.ResponseCode)
			}
		})
	}
	t.Run("same reference, new requestId: the original code", func(t *testing.T) {
		if a := h.send("/lien/place", lienPlaceFields("r2", "L1", w, 300).set("transactionFee", 10), mac.LienPlace); a.ResponseCode != "00" || a.RequestID != "r2" {
			t.Errorf("answer %+v", a)
		}
		for name, f := range map[string]*fields{
			"wallet": lienPlaceFields("r3", "L1", "other", 300).set("transactionFee", 10),
			"amount": lienPlaceFields("r4", "L1", w, 200).set("transactionFee", 10),
			"fee":    lienPlaceFields("r5", "L1", w, 300),
		} {
			if a := h.send("/lien/place", f, mac.LienPlace); a.ResponseCode != "94" {
				t.Errorf("%s: code %s, want 94", name, a.ResponseCode)
			}
		}
	})
	if again := h.post("/lien/place", body); !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
		t.Errorf("the original replay changed: %s", again.Body)
	}
	h.wantWallet(w, 1000, 310)
	h.wantWallet("other", 1000, 0)
}

func TestLienDebit(t *testing.T) {
	const w = "1234567894"
	// The wallet has 1000; lien L holds 300 + fee 10.
	cases := []struct {
		name          string
		amount        int64
		code          string
		balance, held int64
		state         string
	}{
		{"equal debits the lien", 300, "00", 690, 0, ledger.StateCompleted},
		{"smaller debits it and releases the rest", 200, "00", 790, 0, ledger.StateCompleted},
		{"larger within available plus the hold", 990, "00", 0, 0, ledger.StateCompleted},
		{"larger than available plus the hold is 51", 991, "51", 1000, 310, ledger.StateHeld},
		{"zero releases the lien", 0, "00", 1000, 0, ledger.StateReleased},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fund(w, "566", 1000)
			if a := h.send("/lien/place", lienPlaceFields("p1", "L", w, 300).set("transactionFee", 10), mac.LienPlace); a.ResponseCode != "00" {
				t.Fatalf("place: %+v", a)
			}
			a := h.send("/lien/debit", lienDebitFields("c1", "C", "L", w, tc.amount), mac.LienDebit)
			if a.ResponseCode != tc.code || a.Amount != tc.amount || a.TransactionReference != "C" {
				t.Fatalf("answer %+v, want %s", a, tc.code)
			}
			h.wantWallet(w, tc.balance, tc.held)
			v := h.lookup("L")
			if v.State != tc.state || v.Lien == nil {
				t.Fatalf("lien look-up %+v", v)
			}
			switch tc.state {
			case ledger.StateCompleted:
				if v.Lien.CompletedAt == nil || v.Lien.DebitedAmount != tc.amount || v.Lien.EndedBy != "C" {
					t.Errorf("completed lien %+v", v.Lien)
				}
			case ledger.StateReleased:
				if v.Lien.ReleasedAt == nil || v.Lien.ReleaseReason != ledger.ReleaseBySwitch || v.Lien.EndedBy != "C" {
					t.Errorf("released lien %+v", v.Lien)
				}
			}
			if c := h.lookup("C"); c.Kind != ledger.KindLienDebit || c.Original != "L" || c.ResponseCode != tc.code {
				t.Errorf("completion look-up %+v", c)
			}
		})
	}
}

func TestLienDebitOriginals(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	h.fund("other", "566", 1000)
	h.send("/lien/place", lienPlaceFields("p1", "L1", w, 300), mac.LienPlace)
	h.send("/lien/place", lienPlaceFields("p2", "L2", w, 100), mac.LienPlace)
	if a := h.send("/lien/debit", lienDebitFields("c0", "C0", "L2", w, 0), mac.LienDebit); a.ResponseCode != "00" {
		t.Fatalf("release: %+v", a)
	}
	cases := []struct {
		name string
		f    *fields
		code string
	}{
		{"unknown lien is 25", lienDebitFields("c1", "C1", "nope", w, 100), "25"},
		{"another wallet's lien is 12", lienDebitFields("c2", "C2", "L1", "other", 100), "12"},
		{"a released lien is 25", lienDebitFields("c3", "C3", "L2", w, 100), "25"},
		{"releasing a released lien again is 00", lienDebitFields("c4", "C4", "L2", w, 0), "00"},
		{"missing originalTransactionReference is 30", lienDebitFields("c5", "C5", "L1", w, 100).del("originalTransactionReference"), "30"},
		{"missing rrn is 30", lienDebitFields("c6", "C6", "L1", w, 100).del("rrn"), "30"},
		{"negative amount is 13", lienDebitFields("c7", "C7", "L1", w, -1), "13"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if a := h.send("/lien/debit", tc.f, mac.LienDebit); a.ResponseCode != tc.code {
				t.Errorf("answer %+v, want %s", a, tc.code)
			}
		})
	}
	h.wantWallet(w, 1000, 300)
	h.wantWallet("other", 1000, 0)
}

func TestLienDebitHonouredOnce(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	h.send("/lien/place", lienPlaceFields("p1", "L1", w, 300).set("transactionFee", 10), mac.LienPlace)
	body := lienDebitFields("c1", "C1", "L1", w, 300).signed(h.keys, mac.LienDebit)
	first := h.post("/lien/debit", body)
	if h.decode(first).ResponseCode != "00" {
		t.Fatalf("completion: %s", first.Body)
	}
	if again := h.post("/lien/debit", body); !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
		t.Errorf("replay %s, want %s", again.Body, first.Body)
	}
	for name, tc := range map[string]struct {
		f    *fields
		code string
	}{
		"same reference, new requestId":       {lienDebitFields("c2", "C1", "L1", w, 300), "00"},
		"new reference":                       {lienDebitFields("c3", "C2", "L1", w, 300), "00"},
		"a release after the completion":      {lienDebitFields("c4", "C3", "L1", w, 0), "00"},
		"same reference, another amount":      {lienDebitFields("c5", "C1", "L1", w, 250), "94"},
		"same requestId, another fingerprint": {lienDebitFields("c1", "C1", "L1", w, 299), "94"},
	} {
		t.Run(name, func(t *testing.T) {
			if a := h.send("/lien/debit", tc.f, mac.LienDebit); a.ResponseCode != tc.code {
				t.Errorf("answer %+v, want %s", a, tc.code)
			}
		})
	}
	h.wantWallet(w, 690, 0)
}

func TestLienForgedMessagesLeaveNoTrace(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	wrongKey := mustKeys(t, mac.SHA512, "not-the-key", "")
	forged := []struct {
		path string
		body []byte
	}{
		{"/lien/place", lienPlaceFields("p1", "L1", w, 900).signed(wrongKey, mac.LienPlace)},
		{"/lien/debit", lienDebitFields("c1", "C1", "L1", w, 0).signed(wrongKey, mac.LienDebit)},
		{"/lien/debit", lienDebitFields("c9", "C9", "L2", w, 0).signed(wrongKey, mac.LienDebit)}, // no tombstone
		{"/enquiry", enquiryFields("e1", "q1", w).signed(wrongKey, mac.Enquiry)},
	}
	for _, f := range forged {
		if a := h.decode(h.post(f.path, f.body)); a.ResponseCode != "12" {
			t.Fatalf("forged %s: %+v", f.path, a)
		}
	}
	h.wantWallet(w, 1000, 0)
	if rec := h.admin(http.MethodGet, "/admin/transactions/L1", nil, testAdminToken); rec.Code != http.StatusNotFound {
		t.Errorf("a forged place-lien was recorded: %s", rec.Body)
	}
	// The genuine messages under the same requestIds and references work.
	if a := h.send("/lien/place", lienPlaceFields("p1", "L1", w, 300), mac.LienPlace); a.ResponseCode != "00" {
		t.Fatalf("genuine place: %+v", a)
	}
	if a := h.send("/lien/place", lienPlaceFields("p2", "L2", w, 100), mac.LienPlace); a.ResponseCode != "00" {
		t.Fatalf("genuine place under a forged release's original: %+v", a)
	}
	if a := h.send("/lien/debit", lienDebitFields("c1", "C1", "L1", w, 300), mac.LienDebit); a.ResponseCode != "00" {
		t.Fatalf("genuine completion: %+v", a)
	}
	h.wantWallet(w, 700, 100)
}

func TestLienTimeToLive(t *testing.T) {
	const w = "1234567894"
	clock := &testClock{now: time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)}
	h := newHarness(t, withLedgerOptions(ledger.Options{Now: clock.Now, LienTTL: 24 * time.Hour, LienSweepInterval: -1}))
	h.fund(w, "566", 1000)
	h.send("/lien/place", lienPlaceFields("p1", "L1", w, 300).set("transactionFee", 10), mac.LienPlace)
	h.wantWallet(w, 1000, 310)

	clock.Advance(24 * time.Hour)
	if n, err := h.ledger.ReleaseExpiredLiens(context.Background()); err != nil || n != 1 {
		t.Fatalf("released %d, %v", n, err)
	}
	h.wantWallet(w, 1000, 0)
	v := h.lookup("L1")
	if v.State != ledger.StateReleased || v.Lien == nil || v.Lien.ReleaseReason != ledger.ReleaseExpired ||
		v.Lien.ReleasedAt == nil || !v.Lien.ReleasedAt.Equal(clock.Now()) || !v.Lien.ExpiresAt.Equal(clock.Now()) {
		t.Errorf("expired lien look-up %+v %+v", v, v.Lien)
	}
	if a := h.send("/lien/debit", lienDebitFields("c1", "C1", "L1", w, 300), mac.LienDebit); a.ResponseCode != "25" {
		t.Errorf("late completion: %+v, want 25", a)
	}
	if a := h.send("/lien/debit", lienDebitFields("c2", "C2", "L1", w, 0), mac.LienDebit); a.ResponseCode != "00" {
		t.Errorf("late release: %+v, want 00", a)
	}
	h.wantWallet(w, 1000, 0)
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLienDailyLimitThroughTheRouter(t *testing.T) {
	const w = "limited"
	h := newHarness(t)
	if _, err := h.ledger.CreateWallet(context.Background(), ledger.NewWallet{ID: w, Currency: "566", Name: "L", DailyDebitLimit: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ledger.Credit(context.Background(), ledger.Credit{WalletID: w, Amount: 10_000, Reference: "f"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		path string
		f    *fields
		m    mac.Message
		code string
	}{
		{"/lien/place", lienPlaceFields("p1", "L1", w, 700), mac.LienPlace, "00"},
		{"/lien/debit", lienDebitFields("c1", "C1", "L1", w, 700), mac.LienDebit, "00"},
		{"/debit", debitFields("d1", "T1", w, 301), mac.Debit, "61"}, // the completed lien counts
		{"/debit", debitFields("d2", "T2", w, 300), mac.Debit, "00"},
		{"/lien/place", lienPlaceFields("p2", "L2", w, 1), mac.LienPlace, "61"},
		{"/reversal", reversalFields("v1", "V1", "T2", w, 0), mac.Reversal, "00"}, // net of reversals
		{"/lien/place", lienPlaceFields("p3", "L3", w, 300), mac.LienPlace, "00"},
	}
	for _, s := range steps {
		if a := h.send(s.path, s.f, s.m); a.ResponseCode != s.code {
			t.Fatalf("%s %s: %+v, want %s", s.path, s.f.text("requestId"), a, s.code)
		}
	}
}

func TestConcurrentLienCompletions(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	h.send("/lien/place", lienPlaceFields("p1", "L1", w, 300).set("transactionFee", 10), mac.LienPlace)
	ts := httptest.NewServer(h.srv.Switch())
	defer ts.Close()

	// The switch re-sends a completion until it hears back: identical bodies, new requestIds, new references.
	const n = 30
	bodies := make([][]byte, n)
	for i := range bodies {
		switch i % 3 {
		case 0:
			bodies[i] = lienDebitFields("c0", "C0", "L1", w, 300).signed(h.keys, mac.LienDebit)
		case 1:
			bodies[i] = lienDebitFields(fmt.Sprint("c", i), "C0", "L1", w, 300).signed(h.keys, mac.LienDebit)
		default:
			bodies[i] = lienDebitFields(fmt.Sprint("c", i), fmt.Sprint("C", i), "L1", w, 300).signed(h.keys, mac.LienDebit)
		}
	}
	codes := postAtOnce(t, ts, "/lien/debit", bodies)
	for i, c := range codes {
		if c != "00" {
			t.Errorf("completion %d: code %q, want 00", i, c)
		}
	}
	h.wantWallet(w, 690, 0)
	if v := h.lookup("L1"); v.State != ledger.StateCompleted {
		t.Errorf("lien %+v", v)
	}
}

func TestLienRestart(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	place := lienPlaceFields("p1", "L1", w, 300).set("transactionFee", 10).signed(h.keys, mac.LienPlace)
	placed := h.post("/lien/place", place).Body.Bytes()
	complete := lienDebitFields("c1", "C1", "L1", w, 200).signed(h.keys, mac.LienDebit)

	h2 := h.reopen()
	h2.wantWallet(w, 1000, 310)
	if got := h2.post("/lien/place", place).Body.Bytes(); !bytes.Equal(got, placed) {
		t.Errorf("place replay after restart: %s, want %s", got, placed)
	}
	completed := h2.post("/lien/debit", complete).Body.Bytes()
	h3 := h2.reopen()
	if got := h3.post("/lien/debit", complete).Body.Bytes(); !bytes.Equal(got, completed) {
		t.Errorf("completion replay after restart: %s, want %s", got, completed)
	}
	h3.wantWallet(w, 790, 0)
	if v := h3.lookup("L1"); v.State != ledger.StateCompleted || v.Lien.DebitedAmount != 200 {
		t.Errorf("lien after restart %+v", v)
	}
}
