package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// One fuzz target per switch message (CONTRACT 1.6-1.9). Each decodes and validates arbitrary bodies as that
// message, and half of the time signs the body first with the test key (so the fuzzer gets past the MAC check and
// explores validation). Each body then goes through the real switch router, on a recording store: whatever the body, the answer is HTTP 200 with a signed body whose code follows CONTRACT 1.4, or
// HTTP 400 with {"responseCode":"30"}; the store is asked only for messages that verified, and decides only those
// that also validated, with exactly the amounts Validate read.
//
// Committed corpora: testdata/fuzz/Fuzz<Message>.

func FuzzDebit(f *testing.F)     { fuzzSwitchMessage(f, RouteDebit, mac.Debit, "/debit") }
func FuzzReversal(f *testing.F)  { fuzzSwitchMessage(f, RouteReversal, mac.Reversal, "/reversal") }
func FuzzEnquiry(f *testing.F)   { fuzzSwitchMessage(f, RouteEnquiry, mac.Enquiry, "/enquiry") }
func FuzzLienPlace(f *testing.F) { fuzzSwitchMessage(f, RouteLienPlace, mac.LienPlace, "/lien/place") }
func FuzzLienDebit(f *testing.F) { fuzzSwitchMessage(f, RouteLienDebit, mac.LienDebit, "/lien/debit") }

// recordingStore answers every decision "approved" without storage and counts what it was asked.
type recordingStore struct {
	Store              // nil: any other call panics, which the fuzzer reports
	mu                 sync.Mutex
	replays, decisions int
	amount, fee        int64
}

func (s *recordingStore) Replay(context.Context, string, [32]byte) (ledger.Answer, error) {
	s.mu.Lock()
	s.replays++
	s.mu.Unlock()
	return ledger.Answer{}, ledger.ErrNotRecorded
}

func (s *recordingStore) decide(env ledger.Envelope, amount, fee int64) (ledger.Answer, error) {
	s.mu.Lock()
	s.decisions++
	s.amount, s.fee = amount, fee
	s.mu.Unlock()
	body, err := env.Render(ledger.Outcome{})
	return ledger.Answer{Response: body}, err
}

func (s *recordingStore) Debit(_ context.Context, d ledger.DebitRequest) (ledger.Answer, error) {
	return s.decide(d.Envelope, d.Amount, d.Fee)
}

func (s *recordingStore) Reverse(_ context.Context, r ledger.ReversalRequest) (ledger.Answer, error) {
	return s.decide(r.Envelope, r.Amount, 0)
}

func (s *recordingStore) Enquire(_ context.Context, q ledger.EnquiryRequest) (ledger.Answer, error) {
	return s.decide(q.Envelope, 0, 0)
}

func (s *recordingStore) PlaceLien(_ context.Context, p ledger.LienPlaceRequest) (ledger.Answer, error) {
	return s.decide(p.Envelope, p.Amount, p.Fee)
}

func (s *recordingStore) DebitLien(_ context.Context, c ledger.LienDebitRequest) (ledger.Answer, error) {
	return s.decide(c.Envelope, c.Amount, c.Fee)
}

func (s *recordingStore) reset() (replays, decisions int, amount, fee int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	replays, decisions, amount, fee = s.replays, s.decisions, s.amount, s.fee
	s.replays, s.decisions, s.amount, s.fee = 0, 0, 0, 0
	return
}

// switchFuzzSeeds returns the request vectors of testdata/mac.json for message m, and edge cases.
func switchFuzzSeeds(f *testing.F, m mac.Message) [][]byte {
	var v struct {
		Requests []struct {
			Message string          `json:"message"`
			Request json.RawMessage `json:"request"`
		} `json:"requests"`
	}
	raw := readTestdata(f, "../testdata/mac.json")
	if err := json.Unmarshal(raw, &v); err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for _, r := range v.Requests {
		if r.Message == string(m) {
			seeds = append(seeds, r.Request)
		}
	}
	if len(seeds) == 0 {
		f.Fatalf("no %s vector in testdata/mac.json", m)
	}
	base := string(seeds[0])
	for _, s := range []string{
		strings.Replace(base, `"amount":`, `"amount":-0,"x":`, 1),
		strings.Replace(base, `"amount":`, `"amount":1e400,"x":`, 1),
		strings.Replace(base, `"amount":`, `"amount":"99999999999999999999","x":`, 1),
		strings.Replace(base, `"walletId":`, `"walletId":null,"x":`, 1),
		strings.Replace(base, `"requestId":`, `"requestId":"`+strings.Repeat("r", 10<<10)+`","x":`, 1),
		strings.Replace(base, `"mac":"`, `"mac":"zz`, 1),
		`{"additionalFields":` + strings.Repeat(`{"a":`, 64) + `"v"` + strings.Repeat("}", 64) + `}`,
		`{}`, `[]`, `{"requestId":"1","requestId":"2"}`, "{\"requestId\":\"\xff\"}",
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

func fuzzSwitchMessage(f *testing.F, route Route, m mac.Message, path string) {
	for _, s := range switchFuzzSeeds(f, m) {
		f.Add(s, false)
		f.Add(s, true)
	}
	keys := mustKeys(f, mac.SHA512, testKey, "")
	store := &recordingStore{}
	srv := New(Config{Store: store, Keys: keys, Logger: zap.NewNop(), Metrics: NewMetrics(prometheus.NewRegistry())})

	f.Fuzz(func(t *testing.T, body []byte, sign bool) {
		r, err := DecodeRequest(body)
		if err == nil && sign {
			if body, err = SetMAC(body, keys.Sign(mac.Current, mac.Values(m, r.Text)...)); err != nil {
				t.Fatalf("SetMAC rejected a body DecodeRequest accepted: %v", err)
			}
			if r, err = DecodeRequest(body); err != nil {
				t.Fatalf("a signed body does not decode: %v", err)
			}
		}
		if err != nil && !errors.Is(err, ErrNotObject) {
			t.Fatalf("DecodeRequest error %v does not wrap ErrNotObject", err)
		}
		var verr error
		verified := false
		if r != nil {
			_, verified = keys.Verify(r.MAC, mac.Values(m, r.Text)...)
			if sign && !verified {
				t.Fatal("a body signed with the key does not verify")
			}
			verr = r.Validate(route)
			checkValidated(t, route, r, verr)
		}

		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		srv.Switch().ServeHTTP(rec, req)
		replays, decisions, amount, fee := store.reset()
		if r == nil || len(body) > MaxBodyBytes {
			if rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge || rec.Body.String() != string(formatErrorBody) {
				t.Fatalf("not an object: HTTP %d %q, want 400/413 %s", rec.Code, rec.Body, formatErrorBody)
			}
			if replays+decisions != 0 {
				t.Fatal("the store was asked about a body that is not an object")
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d %q, want 200", rec.Code, rec.Body)
		}
		var a answer
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			t.Fatalf("answer %q is not JSON: %v", rec.Body, err)
		}
		if a.RequestID != r.RequestID || a.TransactionReference != r.TransactionReference {
			t.Fatalf("answer %q does not echo the request's ids", rec.Body)
		}
		if want := keys.SignResponse(mac.Current, a.TransactionReference, a.RequestID, a.ResponseCode); a.MAC != want {
			t.Fatalf("answer %q is not signed with the key", rec.Body)
		}
		want := "00"
		switch {
		case !verified:
			want = "12"
		case errors.Is(verr, ErrAmount):
			want = "13"
		case verr != nil:
			want = "30"
		}
		if a.ResponseCode != want {
			t.Fatalf("code %s, want %s (verified %v, validate %v)", a.ResponseCode, want, verified, verr)
		}
		if !verified && replays+decisions != 0 {
			t.Fatal("the store was asked about a message whose MAC did not verify")
		}
		if verified && replays != 1 {
			t.Fatalf("%d replay look-ups for a verified message, want 1", replays)
		}
		if wantDecisions := map[bool]int{true: 1, false: 0}[verified && verr == nil]; decisions != wantDecisions {
			t.Fatalf("%d decisions, want %d (verified %v, validate %v)", decisions, wantDecisions, verified, verr)
		}
		if decisions == 1 && (amount != r.Amount || (route != RouteReversal && fee != r.TransactionFee)) {
			t.Fatalf("the store got amount %d fee %d, Validate read %d and %d", amount, fee, r.Amount, r.TransactionFee)
		}
	})
}

// checkValidated asserts what Validate promises for route: a *FieldError with a documented reason, or amounts
// within bounds.
func checkValidated(t *testing.T, route Route, r *Request, err error) {
	t.Helper()
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field == "" {
			t.Fatalf("Validate(%s) = %v (%T), want a *FieldError naming a field", route, err, err)
		}
		for _, reason := range []error{ErrMissing, ErrType, ErrTooLong, ErrFormat, ErrAmount} {
			if errors.Is(err, reason) {
				return
			}
		}
		t.Fatalf("Validate(%s) = %v: not a documented reason", route, err)
	}
	if route == RouteEnquiry {
		if r.Amount != 0 || r.TransactionFee != 0 {
			t.Fatalf("enquiry kept amount %d fee %d", r.Amount, r.TransactionFee)
		}
		return
	}
	if r.Amount < 0 || r.TransactionFee < 0 || r.Amount > math.MaxInt64-r.TransactionFee {
		t.Fatalf("Validate(%s) accepted amount %d fee %d", route, r.Amount, r.TransactionFee)
	}
	if (route == RouteDebit || route == RouteLienPlace) && r.Amount == 0 {
		t.Fatalf("Validate(%s) accepted amount 0", route)
	}
	for _, id := range []string{r.RequestID, r.WalletID, r.TransactionReference, r.OriginalTransactionReference} {
		if len(id) > MaxIDLen {
			t.Fatalf("Validate(%s) accepted an id of %d bytes", route, len(id))
		}
	}
}

func readTestdata(tb testing.TB, path string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}
