package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// enquiryFields is a balance enquiry in the seed's style.
func enquiryFields(requestID, reference, walletID string) *fields {
	return newFields(
		"requestId", requestID,
		"walletId", walletID,
		"transactionReference", reference,
		"transactionDateTime", "2020-05-15T13:32:09",
		"currencyCode", "566",
		"rrn", "000111000111",
		"stan", "000018",
	)
}

// enquiryAnswer is a decoded enquiry answer.
type enquiryAnswer struct {
	answer
	LedgerBalance *int64 `json:"ledgerBalance"`
	CurrencyCode  string `json:"currencyCode"`
	AccountName   string `json:"accountName"`
}

// enquire posts a signed enquiry and checks the answer's MAC.
func (h *harness) enquire(f *fields) (enquiryAnswer, []byte) {
	h.t.Helper()
	rec := h.post("/enquiry", f.signed(h.keys, mac.Enquiry))
	if rec.Code != http.StatusOK {
		h.t.Fatalf("POST /enquiry: HTTP %d %s", rec.Code, rec.Body)
	}
	h.decode(rec) // checks the MAC
	var a enquiryAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		h.t.Fatal(err)
	}
	return a, rec.Body.Bytes()
}

func TestEnquiry(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	if a := h.send("/lien/place", lienPlaceFields("p1", "L1", w, 300).set("transactionFee", 10), mac.LienPlace); a.ResponseCode != "00" {
		t.Fatalf("place: %+v", a)
	}
	h.fund("frozen", "566", 100)
	if _, err := h.ledger.SetStatus(context.Background(), "frozen", ledger.StatusFrozen); err != nil {
		t.Fatal(err)
	}

	t.Run("approved: the available balance, ledger balance, currency and name", func(t *testing.T) {
		a, _ := h.enquire(enquiryFields("e1", "q1", w))
		if a.ResponseCode != "00" || a.Amount != 690 || a.LedgerBalance == nil || *a.LedgerBalance != 1000 ||
			a.CurrencyCode != "566" || a.AccountName != "Test "+w || a.RequestID != "e1" || a.TransactionReference != "q1" {
			t.Fatalf("answer %+v", a)
		}
		// The admin view and a debit agree on the available balance.
		var view walletView
		if rec := h.admin(http.MethodGet, "/admin/wallets/"+w, nil, testAdminToken); json.Unmarshal(rec.Body.Bytes(), &view) != nil ||
			view.AvailableBalance != a.Amount || view.LedgerBalance != *a.LedgerBalance || view.HeldAmount != 310 {
			t.Errorf("admin view %+v", view)
		}
		if d := h.send("/debit", debitFields("d1", "t1", w, 691), mac.Debit); d.ResponseCode != "51" {
			t.Errorf("debit above the available balance: %+v", d)
		}
		if d := h.send("/debit", debitFields("d2", "t2", w, 690), mac.Debit); d.ResponseCode != "00" {
			t.Errorf("debit of the available balance: %+v", d)
		}
		if a, _ := h.enquire(enquiryFields("e2", "q2", w)); a.Amount != 0 || *a.LedgerBalance != 310 {
			t.Errorf("after the debit: %+v", a)
		}
	})

	cases := []struct {
		name string
		f    *fields
		code string
	}{
		{"unknown wallet is 14", enquiryFields("e3", "q3", "9999999999"), "14"},
		{"frozen wallet is 57", enquiryFields("e4", "q4", "frozen"), "57"},
		{"another currency is 12", enquiryFields("e5", "q5", w).set("currencyCode", "978"), "12"},
		{"missing walletId is 30", enquiryFields("e6", "q6", w).del("walletId"), "30"},
		{"malformed currency is 30", enquiryFields("e7", "q7", w).set("currencyCode", "NGN"), "30"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, body := h.enquire(tc.f)
			if a.ResponseCode != tc.code || a.Amount != 0 || a.LedgerBalance != nil || a.AccountName != "" {
				t.Errorf("answer %s, want code %s without balances", body, tc.code)
			}
		})
	}

	t.Run("a forged enquiry is 12 and reveals nothing", func(t *testing.T) {
		body := enquiryFields("e8", "q8", w).signed(mustKeys(t, mac.SHA512, "not-the-key", ""), mac.Enquiry)
		rec := h.post("/enquiry", body)
		a := h.decode(rec)
		if a.ResponseCode != "12" || bytes.Contains(rec.Body.Bytes(), []byte("ledgerBalance")) {
			t.Errorf("forged: %s", rec.Body)
		}
	})

	t.Run("the MAC covers the contract's fields", func(t *testing.T) {
		for _, name := range []string{"transactionReference", "requestId", "rrn", "stan", "walletId"} {
			f := enquiryFields("e9", "q9", w)
			body := f.signed(h.keys, mac.Enquiry)
			var m map[string]any
			_ = json.Unmarshal(body, &m)
			f.set(name, f.text(name)+"0").set("mac", m["mac"])
			if a := h.decode(h.post("/enquiry", f.json())); a.ResponseCode != "12" {
				t.Errorf("%s changed after signing: code %s, want 12", name, a.ResponseCode)
			}
		}
	})
}

func TestEnquiryIdempotency(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	replays := func() float64 { return metValue(t, h.metrics.Replays.WithLabelValues(string(RouteEnquiry))) }

	first := enquiryFields("e1", "q1", w)
	a, firstBody := h.enquire(first)
	if a.ResponseCode != "00" || a.Amount != 1000 {
		t.Fatalf("first enquiry: %s", firstBody)
	}

	cases := []struct {
		name string
		path string
		f    *fields
		m    mac.Message
		code string
	}{
		{"another enquiry under the requestId is 94", "/enquiry", enquiryFields("e1", "q-other", w), mac.Enquiry, "94"},
		{"the same enquiry for another wallet is 94", "/enquiry", enquiryFields("e1", "q1", "other"), mac.Enquiry, "94"},
		{"a debit reusing the enquiry's requestId is 94", "/debit", debitFields("e1", "t-e1", w, 100), mac.Debit, "94"},
		{"a place-lien reusing it is 94", "/lien/place", lienPlaceFields("e1", "L-e1", w, 100), mac.LienPlace, "94"},
		{"a reversal reusing it is 94", "/reversal", reversalFields("e1", "r-e1", "t-e1", w, 0), mac.Reversal, "94"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.post(tc.path, tc.f.signed(h.keys, tc.m))
			if got := h.decode(rec); rec.Code != http.StatusOK || got.ResponseCode != tc.code {
				t.Errorf("HTTP %d %s, want %s", rec.Code, rec.Body, tc.code)
			}
			if bytes.Contains(rec.Body.Bytes(), []byte("ledgerBalance")) {
				t.Errorf("a conflict revealed the balance: %s", rec.Body)
			}
			if got := h.balance(w); got != 1000 {
				t.Errorf("balance %d, want 1000", got)
			}
		})
	}

	t.Run("a repeat replays the first answer byte for byte, even after a debit", func(t *testing.T) {
		if d := h.send("/debit", debitFields("d1", "t1", w, 100), mac.Debit); d.ResponseCode != "00" {
			t.Fatalf("debit: %+v", d)
		}
		before := replays()
		if _, body := h.enquire(first); !bytes.Equal(body, firstBody) {
			t.Errorf("repeat: %s, want %s", body, firstBody)
		}
		if replays() != before+1 {
			t.Errorf("replays %v -> %v, want one more", before, replays())
		}
		if a, body := h.enquire(enquiryFields("e2", "q2", w)); a.Amount != 900 {
			t.Errorf("a new enquiry: %s, want amount 900", body)
		}
	})
	t.Run("an enquiry reusing a debit's requestId is 94", func(t *testing.T) {
		if a, body := h.enquire(enquiryFields("d1", "q3", w)); a.ResponseCode != "94" || a.LedgerBalance != nil {
			t.Errorf("enquiry reusing a debit's requestId: %s", body)
		}
		if got := h.balance(w); got != 900 {
			t.Errorf("balance %d, want 900", got)
		}
	})
	t.Run("a declined enquiry is remembered like a declined debit", func(t *testing.T) {
		f := enquiryFields("e4", "q4", "later")
		a, body := h.enquire(f)
		if a.ResponseCode != "14" {
			t.Fatalf("unknown wallet: %s", body)
		}
		h.fund("later", "566", 50)
		if _, again := h.enquire(f); !bytes.Equal(again, body) {
			t.Errorf("repeat once the wallet exists: %s, want %s", again, body)
		}
	})
	t.Run("a format error is not remembered", func(t *testing.T) {
		if a, body := h.enquire(enquiryFields("e5", "q5", w).set("currencyCode", "NGN")); a.ResponseCode != "30" {
			t.Fatalf("malformed: %s", body)
		}
		if a, body := h.enquire(enquiryFields("e5", "q5", w)); a.ResponseCode != "00" || a.Amount != 900 {
			t.Errorf("corrected enquiry under the same requestId: %s", body)
		}
	})
	t.Run("a forged enquiry is never remembered", func(t *testing.T) {
		forged := enquiryFields("e6", "q6", w).signed(mustKeys(t, mac.SHA512, "not-the-key", ""), mac.Enquiry)
		if a := h.decode(h.post("/enquiry", forged)); a.ResponseCode != "12" {
			t.Fatalf("forged: %+v", a)
		}
		if a := h.send("/debit", debitFields("e6", "t6", w, 100), mac.Debit); a.ResponseCode != "00" {
			t.Errorf("debit under a forged enquiry's requestId: %+v", a)
		}
		if a, body := h.enquire(enquiryFields("e6", "q6", w)); a.ResponseCode != "94" {
			t.Errorf("the genuine enquiry after the debit took its requestId: %s", body)
		}
	})
	t.Run("remembered across a restart", func(t *testing.T) {
		// The debits above were queued after the enquiry's record, so it is durable by now.
		h2 := h.reopen()
		if _, body := h2.enquire(first); !bytes.Equal(body, firstBody) {
			t.Errorf("after a restart: %s, want %s", body, firstBody)
		}
	})
}

// An enquiry is answered while the ledger's writer is stuck in a commit, and until its record is durable a repeat
// still gets the same bytes and another message under its requestId still gets 94.
func TestEnquiryWhileTheWriterIsStuck(t *testing.T) {
	const w = "1234567894"
	var armed atomic.Bool
	stuck, release := make(chan struct{}), make(chan struct{})
	h := newHarness(t, withLedgerOptions(ledger.Options{BeforeCommit: func() error {
		if armed.CompareAndSwap(true, false) {
			stuck <- struct{}{}
			<-release
		}
		return nil
	}}))
	h.fund(w, "566", 1000)
	armed.Store(true)
	credited := make(chan error, 1)
	go func() {
		_, err := h.ledger.Credit(context.Background(), ledger.Credit{WalletID: w, Amount: 5, Reference: "stuck"})
		credited <- err
	}()
	<-stuck // the writer holds the credit's commit

	f := enquiryFields("e1", "q1", w)
	a, body := h.enquire(f)
	if a.ResponseCode != "00" || a.Amount != 1000 {
		t.Fatalf("enquiry while the writer is stuck: %s", body)
	}
	if _, again := h.enquire(f); !bytes.Equal(again, body) {
		t.Errorf("repeat while the writer is stuck: %s, want %s", again, body)
	}
	if a, other := h.enquire(enquiryFields("e1", "q-other", w)); a.ResponseCode != "94" {
		t.Errorf("another enquiry under the requestId: %s", other)
	}
	debited := make(chan []byte, 1)
	go func() {
		debited <- h.post("/debit", debitFields("e1", "t1", w, 100).signed(h.keys, mac.Debit)).Body.Bytes()
	}()

	close(release)
	if err := <-credited; err != nil {
		t.Fatal(err)
	}
	var d answer
	if err := json.Unmarshal(<-debited, &d); err != nil || d.ResponseCode != "94" {
		t.Errorf("debit reusing the enquiry's requestId: %+v %v", d, err)
	}
	if got := h.balance(w); got != 1005 {
		t.Errorf("balance %d, want 1005", got)
	}
	if _, again := h.enquire(f); !bytes.Equal(again, body) {
		t.Errorf("repeat once durable: %s, want %s", again, body)
	}
}

// enquiryStoreFailure makes Enquire fail.
type enquiryStoreFailure struct {
	Store
	err error
}

func (f enquiryStoreFailure) Enquire(ctx context.Context, q ledger.EnquiryRequest) (ledger.Answer, error) {
	return ledger.Answer{}, f.err
}

func TestEnquiryStorageFailure(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t, withStore(func(s Store) Store {
		return enquiryStoreFailure{Store: s, err: errors.Join(ledger.ErrStorage, errors.New("read failed"))}
	}))
	h.fund(w, "566", 50)
	if a, _ := h.enquire(enquiryFields("e1", "q1", w)); a.ResponseCode != "96" {
		t.Errorf("storage failure: %+v, want 96", a)
	}
}

// The independent vectors of testdata/mac.json are accepted.
func TestEnquiryAndLienVectors(t *testing.T) {
	v := loadVectors(t)
	for _, algo := range []string{"sha512", "sha256"} {
		t.Run(algo, func(t *testing.T) {
			keys := mustKeys(t, mac.Algorithm(algo), testKey, "")
			// The enquiry and place-lien vectors share requestId 1, so each gets a ledger of its own: under one
			// ledger the second would rightly be 94.
			he := newHarness(t, withKeys(keys))
			he.fund("1234567894", "566", 500)
			if rec := he.post("/enquiry", v.request(t, "enquiry", algo)); rec.Code != http.StatusOK || he.decode(rec).ResponseCode != "00" {
				t.Fatalf("/enquiry: HTTP %d %s", rec.Code, rec.Body)
			}
			h := newHarness(t, withKeys(keys))
			h.fund("1234567894", "566", 500)
			for _, step := range []struct{ path, message, code string }{
				{"/lien/place", "lienplace", "00"},
				{"/lien/debit", "liendebit", "00"},
			} {
				rec := h.post(step.path, v.request(t, step.message, algo))
				if a := h.decode(rec); rec.Code != http.StatusOK || a.ResponseCode != step.code {
					t.Fatalf("%s: HTTP %d %s", step.path, rec.Code, rec.Body)
				}
			}
			if got := h.balance("1234567894"); got != 400 {
				t.Errorf("balance %d, want 400", got)
			}
		})
	}
}

// The switch re-sending an enquiry while the first is in flight gets one answer, byte for byte, every time.
func TestEnquiryConcurrentRepeats(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 1000)
	body := enquiryFields("e1", "q1", w).signed(h.keys, mac.Enquiry)
	const n = 8
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := h.post("/enquiry", body)
			if rec.Code == http.StatusOK {
				bodies[i] = rec.Body.Bytes()
			}
		}()
	}
	// A debit racing them under its own requestId changes the balance, never their answers.
	if a := h.send("/debit", debitFields("d1", "t1", w, 100), mac.Debit); a.ResponseCode != "00" {
		t.Errorf("debit: %+v", a)
	}
	wg.Wait()
	_, last := h.enquire(enquiryFields("e1", "q1", w))
	for i, b := range bodies {
		if !bytes.Equal(b, last) {
			t.Errorf("answer %d: %s, want %s", i, b, last)
		}
	}
	if got := metValue(t, h.metrics.Replays.WithLabelValues(string(RouteEnquiry))); got != n {
		t.Errorf("enquiry replays %v, want %d", got, n)
	}
}
