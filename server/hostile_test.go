package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// books is what a hostile message must leave untouched: every wallet's balance, the journal and the audit.
type books struct {
	balances map[string]int64
	entries  uint64
}

func (h *harness) books(wallets ...string) books {
	h.t.Helper()
	b := books{balances: map[string]int64{}}
	for _, w := range wallets {
		b.balances[w] = h.balance(w)
	}
	rep, err := h.ledger.Audit(context.Background())
	if err != nil || !rep.OK {
		h.t.Fatalf("audit: ok=%v err=%v problems=%v", rep.OK, err, rep.Problems)
	}
	b.entries = rep.Entries
	return b
}

// unchanged asserts that the ledger is as in before and that neither the requestIds nor the references were
// remembered: a corrected message may still use them, and nobody can squat on them.
func (h *harness) unchanged(t *testing.T, before books, requestIDs, refs []string) {
	t.Helper()
	wallets := make([]string, 0, len(before.balances))
	for w := range before.balances {
		wallets = append(wallets, w)
	}
	after := h.books(wallets...)
	for w, bal := range before.balances {
		if after.balances[w] != bal {
			t.Errorf("wallet %s balance %d -> %d", w, bal, after.balances[w])
		}
	}
	if after.entries != before.entries {
		t.Errorf("journal entries %d -> %d", before.entries, after.entries)
	}
	for _, id := range requestIDs {
		if _, err := h.ledger.Replay(context.Background(), id, [32]byte{}); !errors.Is(err, ledger.ErrNotRecorded) {
			t.Errorf("requestId %.20q was remembered (Replay: %v)", id, err)
		}
	}
	for _, ref := range refs {
		if _, err := h.ledger.Transaction(context.Background(), ref); !errors.Is(err, ledger.ErrTransactionNotFound) {
			t.Errorf("transactionReference %.20q was remembered (Transaction: %v)", ref, err)
		}
	}
}

// raw is a JSON value written into a body as is.
type raw = json.RawMessage

// TestHostileInputs sends hostile switch messages, most of them correctly signed so that they reach validation.
// Each gets the code CONTRACT 1.4 prescribes (or HTTP 400/413 with {"responseCode":"30"} for a body that is not one
// JSON object), and leaves the ledger as it was: balances, journal and audit unchanged, requestId and
// transactionReference not remembered.
func TestHostileInputs(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 10_000)
	// An approved debit to reverse, so that reversals reach the ledger's rules.
	if a := h.send("/debit", debitFields("orig-1", "ORIG1", w, 100), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("setup debit: %+v", a)
	}

	big := strings.Repeat("9", 10<<10) // 10 KB
	nested := func(depth int) raw {
		return raw(strings.Repeat(`{"a":`, depth) + `"v"` + strings.Repeat("}", depth))
	}
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
	debit := func(id string) *fields { return debitFields(id, "REF-"+id, w, 100) }
	tests := []struct {
		name   string
		path   string
		fields *fields       // signed with the debit or reversal MAC unless rawBody is set
		mac    *string       // when set, this mac is sent instead of the right one
		body   func() []byte // a body that cannot be built from fields
		status int           // HTTP status; 0: 200
		code   string        // responseCode
		ids    []string      // requestIds and references that must not be remembered
	}{
		// amount
		{name: "amount with a huge exponent", fields: debit("h1").set("amount", raw(`1e400`)), code: "30"},
		{name: "amount with an exponent", fields: debit("h2").set("amount", raw(`1E2`)), code: "30"},
		{name: "amount 100.0", fields: debit("h3").set("amount", raw(`100.0`)), code: "30"},
		{name: "amount of 10 KB of digits", fields: debit("h4").set("amount", raw(big)), code: "13"},
		{name: "amount beyond int64", fields: debit("h5").set("amount", raw(`9223372036854775808`)), code: "13"},
		{name: "amount beyond int64 as a string", fields: debit("h6").set("amount", "99999999999999999999"), code: "13"},
		{name: "amount plus fee beyond int64", fields: debit("h7").set("amount", raw(`9223372036854775807`)).set("transactionFee", 1), code: "13"},
		{name: "negative zero amount", fields: debit("h8").set("amount", raw(`-0`)), code: "13"},
		{name: "negative amount", fields: debit("h9").set("amount", -1), code: "13"},
		{name: "negative fee", fields: debit("h10").set("transactionFee", -1), code: "13"},
		{name: "amount as an object", fields: debit("h11").set("amount", raw(`{"v":1}`)), code: "30"},
		{name: "amount true", fields: debit("h12").set("amount", true), code: "30"},
		{name: "reversal with a negative amount", path: "/reversal", fields: reversalFields("h13", "REF-h13", "ORIG1", w, -5), code: "13"},
		{name: "reversal above the original", path: "/reversal", fields: reversalFields("h14", "REF-h14", "ORIG1", w, raw(big)), code: "13"},
		// JSON shape
		{name: "duplicate amount key", body: func() []byte {
			return []byte(strings.Replace(string(debit("h20").signed(h.keys, mac.Debit)), `"amount":100`, `"amount":100,"amount":1`, 1))
		}, status: http.StatusBadRequest, ids: []string{"h20", "REF-h20"}},
		{name: "duplicate requestId key, escaped", body: func() []byte {
			return []byte(strings.Replace(string(debit("h21").signed(h.keys, mac.Debit)), `"requestId":"h21"`, `"requestId":"h21","request\u0049d":"x"`, 1))
		}, status: http.StatusBadRequest, ids: []string{"h21", "REF-h21", "x"}},
		{name: "non-UTF-8 in a value", body: func() []byte {
			return []byte(strings.Replace(string(debit("h22").signed(h.keys, mac.Debit)), "MATRIX", "MA\xffTRIX", 1))
		}, status: http.StatusBadRequest, ids: []string{"h22", "REF-h22"}},
		{name: "non-UTF-8 in an unknown member name", body: func() []byte {
			return []byte(strings.Replace(string(debit("h23").signed(h.keys, mac.Debit)), "{", "{\"\xc0\xaf\":1,", 1))
		}, status: http.StatusBadRequest, ids: []string{"h23", "REF-h23"}},
		{name: "additionalFields nested 5,000 deep", fields: debit("h24").set("additionalFields", nested(5_000)), code: "30"},
		{name: "unknown member nested 20,000 deep", body: func() []byte {
			return []byte(strings.Replace(string(debit("h25").signed(h.keys, mac.Debit)), "{",
				`{"x":`+strings.Repeat("[", 20_000)+strings.Repeat("]", 20_000)+",", 1))
		}, status: http.StatusBadRequest, ids: []string{"h25", "REF-h25"}},
		{name: "10,000 keys", fields: debit("h26").set("additionalFields", manyKeys(10_000)), status: http.StatusRequestEntityTooLarge},
		{name: "5,000 keys in additionalFields", fields: debit("h27").set("additionalFields", manyKeys(5_000)), code: "30"},
		{name: "additionalFields value not a string", fields: debit("h28").set("additionalFields", raw(`{"a":1}`)), code: "30"},
		// null and types
		{name: "null walletId", fields: debit("h30").set("walletId", nil), code: "30"},
		{name: "null requestId", fields: debit("h31").set("requestId", nil), code: "30", ids: []string{"REF-h31"}},
		{name: "null transactionReference", fields: debit("h32").set("transactionReference", nil), code: "30", ids: []string{"h32"}},
		{name: "null currencyCode", fields: debit("h33").set("currencyCode", nil), code: "30"},
		{name: "null terminalId", fields: debit("h34").set("terminalId", nil), code: "30"},
		{name: "requestId as a number", fields: debit("h35").set("requestId", 35), code: "30", ids: []string{"35", "REF-h35"}},
		{name: "walletId as an array", fields: debit("h36").set("walletId", raw(`["1234567894"]`)), code: "30"},
		// MAC
		{name: "MAC one hex digit short", fields: debit("h40"), mac: ptr(strings.Repeat("a", 127)), code: "12"},
		{name: "MAC one hex digit long", fields: debit("h41"), mac: ptr(strings.Repeat("a", 129)), code: "12"},
		{name: "MAC of non-hex characters", fields: debit("h42"), mac: ptr(strings.Repeat("zz", 64)), code: "12"},
		{name: "MAC of 10 KB", fields: debit("h43"), mac: ptr(big), code: "12"},
		{name: "MAC empty", fields: debit("h44"), mac: ptr(""), code: "12"},
		{name: "MAC with a NUL byte", fields: debit("h45"), mac: ptr(strings.Repeat("0", 127) + "\x00"), code: "12"},
		{name: "MAC of the seed's placeholder", fields: debit("h46"), mac: ptr("hexdigest"), code: "12"},
		{name: "MAC failure on a 10 KB requestId", fields: debitFields(big, "REF-h47", w, 100), mac: ptr("00"), code: "12",
			ids: []string{big, "REF-h47"}},
		// lengths (README: maximum field lengths)
		{name: "requestId of 10 KB", fields: debitFields("r"+big, "REF-h50", w, 100), code: "30", ids: []string{"r" + big, "REF-h50"}},
		{name: "requestId one byte too long", fields: debitFields(strings.Repeat("r", MaxIDLen+1), "REF-h51", w, 100), code: "30",
			ids: []string{strings.Repeat("r", MaxIDLen+1), "REF-h51"}},
		{name: "transactionReference of 10 KB", fields: debitFields("h52", "t"+big, w, 100), code: "30", ids: []string{"h52", "t" + big}},
		{name: "walletId of 10 KB", fields: debitFields("h53", "REF-h53", "w"+big, 100), code: "30"},
		{name: "rrn of 10 KB", fields: debit("h54").set("rrn", big), code: "30"},
		{name: "cardAcceptorNameLocation of 10 KB", fields: debit("h55").set("cardAcceptorNameLocation", big), code: "30"},
		{name: "originalTransactionReference of 10 KB", path: "/reversal", fields: reversalFields("h56", "REF-h56", "o"+big, w, 0), code: "30"},
		{name: "body just over 64 KiB", fields: debit("h57").set("padding", strings.Repeat("p", MaxBodyBytes)), status: http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/debit"
			}
			m := mac.Debit
			if path == "/reversal" {
				m = mac.Reversal
			}
			var body []byte
			ids := tc.ids
			switch {
			case tc.body != nil:
				body = tc.body()
			case tc.mac != nil:
				body = tc.fields.clone().set("mac", *tc.mac).json()
			default:
				body = signAsSent(t, h.keys, m, tc.fields.json())
			}
			if ids == nil && tc.fields != nil {
				ids = []string{tc.fields.text("requestId"), tc.fields.text("transactionReference")}
			}
			before := h.books(w)
			rec := h.post(path, body)
			h.wantHostileAnswer(t, rec, tc.status, tc.code)
			h.unchanged(t, before, ids[:1], ids[1:])
		})
	}
	if got := h.balance(w); got != 10_000-100 {
		t.Errorf("balance %d after the hostile messages, want %d", got, 10_000-100)
	}
}

func ptr[T any](v T) *T { return &v }

// signAsSent sets the MAC of body computed the way the switch does, over the field values as sent (a boolean, an
// object or an array contributes the empty string).
func signAsSent(t *testing.T, keys *mac.Keys, m mac.Message, body []byte) []byte {
	t.Helper()
	r, err := DecodeRequest(body)
	if err != nil {
		t.Fatalf("signAsSent: %v", err)
	}
	out, err := SetMAC(body, keys.Sign(mac.Current, mac.Values(m, r.Text)...))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fileSum is the SHA-256 of the ledger file.
func fileSum(t *testing.T, path string) ([32]byte, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b), int64(len(b))
}

// TestMACFailureFloodDoesNotGrowTheDatabase: thousands of forged messages, each with a new requestId and reference
// (debits and reversals naming unknown originals, which would leave a tombstone if they were decided), do not
// change a single byte of the ledger file, and a genuine message still works afterwards.
func TestMACFailureFloodDoesNotGrowTheDatabase(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 10_000)
	before := h.books(w)
	sum, size := fileSum(t, h.path)
	forger := mustKeys(t, mac.SHA512, "not-the-key", "")
	const n = 2_000
	var ids, refs []string
	for i := range n {
		id, ref := fmt.Sprintf("flood-%d", i), fmt.Sprintf("FLOOD%06d", i)
		path, f, m := "/debit", debitFields(id, ref, w, 100), mac.Debit
		if i%2 == 1 {
			path, f, m = "/reversal", reversalFields(id, ref, "GHOST"+ref, w, 0), mac.Reversal
			refs = append(refs, "GHOST"+ref)
		}
		rec := h.post(path, f.signed(forger, m))
		if a := h.decode(rec); rec.Code != http.StatusOK || a.ResponseCode != "12" {
			t.Fatalf("forged %s %d: HTTP %d %+v", path, i, rec.Code, a)
		}
		if i%100 == 0 {
			ids, refs = append(ids, id), append(refs, ref)
		}
	}
	h.unchanged(t, before, ids, refs)
	if sum2, size2 := fileSum(t, h.path); sum2 != sum || size2 != size {
		t.Errorf("the ledger file changed: %d -> %d bytes", size, size2)
	}
	// The forged ids are free for the genuine messages.
	if a := h.send("/debit", debitFields("flood-0", "FLOOD000000", w, 100), mac.Debit); a.ResponseCode != "00" {
		t.Errorf("genuine debit under a forged id: %+v", a)
	}
}

// TestListenerTimeouts: both listeners are built with bounded header, read, write and idle times.
func TestListenerTimeouts(t *testing.T) {
	srv := NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), nil)
	for name, got := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout": srv.ReadTimeout, "WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		if got <= 0 || got > 2*time.Minute {
			t.Errorf("%s = %v, want a bound of at most 2m", name, got)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
}

// TestSlowClients runs the switch router on a real listener with walletgate's timeouts. Slow-loris clients (headers
// never finished, a body trickled byte by byte) are disconnected by the server's own timeouts, hold no request in
// the ledger, and do not keep a genuine debit from being answered meanwhile.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 10_000)
	before := h.books(w)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(ln.Addr().String(), h.srv.Switch(), nil)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	body := debitFields("slow-1", "SLOW1", w, 100).signed(h.keys, mac.Debit)
	// Each slow client reports when the server closed its connection.
	type slow struct {
		name  string
		start func(c net.Conn) error
	}
	clients := []slow{
		{"headers never finished", func(c net.Conn) error {
			_, err := fmt.Fprintf(c, "POST /debit HTTP/1.1\r\nHost: walletgate\r\nContent-Type: application/json\r\n")
			return err
		}},
		{"body trickled", func(c net.Conn) error {
			if _, err := fmt.Fprintf(c, "POST /debit HTTP/1.1\r\nHost: walletgate\r\nContent-Length: %d\r\n\r\n", len(body)); err != nil {
				return err
			}
			go func() {
				for i := 0; i < len(body)-1; i++ { // never the last byte
					if _, err := c.Write(body[i : i+1]); err != nil {
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			}()
			return nil
		}},
	}
	done := make(chan string, len(clients)*10)
	for _, sc := range clients {
		for range 10 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			if err := sc.start(c); err != nil {
				t.Fatal(err)
			}
			go func() {
				// Whatever the server sends (nothing, or a 400 after the read timeout), it must end the connection.
				_ = c.SetReadDeadline(time.Now().Add(ReadTimeout + 30*time.Second))
				_, err := io.Copy(io.Discard, bufio.NewReader(c))
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					done <- sc.name + ": the server never closed the connection"
					return
				}
				done <- ""
			}()
		}
	}

	// Meanwhile a genuine debit is answered.
	genuine := debitFields("fast-1", "FAST1", w, 100).signed(h.keys, mac.Debit)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := hc.Post("http://"+addr+"/debit", "application/json", strings.NewReader(string(genuine)))
	if err != nil {
		t.Fatalf("genuine debit while slow clients hang: %v", err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var a answer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(out, &a) != nil || a.ResponseCode != "00" {
		t.Fatalf("genuine debit: HTTP %d %s", resp.StatusCode, out)
	}
	for range len(clients) * 10 {
		if problem := <-done; problem != "" {
			t.Error(problem)
		}
	}
	before.balances[w] -= 100
	before.entries++
	h.unchanged(t, before, []string{"slow-1"}, []string{"SLOW1"})
}

// panickyStore panics in the middle of a decision.
type panickyStore struct{ Store }

func (panickyStore) Debit(context.Context, ledger.DebitRequest) (ledger.Answer, error) {
	panic("injected")
}

// TestHandlerPanicAnswersNoCode: a panic while a message is being decided is HTTP 500 with no body, so the switch
// never reads a code for an outcome nobody knows, and the server keeps serving.
func TestHandlerPanicAnswersNoCode(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t, withStore(func(s Store) Store { return panickyStore{s} }))
	h.fund(w, "566", 1_000)
	rec := h.post("/debit", debitFields("p-1", "P1", w, 100).signed(h.keys, mac.Debit))
	if rec.Code != http.StatusInternalServerError || rec.Body.Len() != 0 {
		t.Fatalf("HTTP %d %q, want 500 with no body", rec.Code, rec.Body)
	}
	if a := h.decode(h.post("/reversal", reversalFields("p-2", "P2", "P1", w, 0).signed(h.keys, mac.Reversal))); a.ResponseCode != "25" {
		t.Errorf("the next message: %+v, want 25", a)
	}
}

// TestHostileInputsOtherRoutes sends the same kinds of hostile messages to /enquiry and the lien routes: each gets
// its code and leaves the ledger as it was, requestId and reference not remembered.
func TestHostileInputsOtherRoutes(t *testing.T) {
	const w = "1234567894"
	h := newHarness(t)
	h.fund(w, "566", 10_000)
	big := strings.Repeat("9", 10<<10)
	routes := []struct {
		path   string
		m      mac.Message
		fields func(id string) *fields
		money  bool
	}{
		{"/enquiry", mac.Enquiry, func(id string) *fields { return debitFields(id, "REF-"+id, w, 0).del("amount") }, false},
		{"/lien/place", mac.LienPlace, func(id string) *fields { return debitFields(id, "REF-"+id, w, 100) }, true},
		{"/lien/debit", mac.LienDebit, func(id string) *fields { return reversalFields(id, "REF-"+id, "NO-LIEN", w, 100) }, true},
	}
	cases := []struct {
		name   string
		change func(f *fields) *fields
		mac    *string
		money  bool // only on the routes that carry money
		status int
		code   string
	}{
		{name: "MAC of non-hex characters", change: func(f *fields) *fields { return f }, mac: ptr(strings.Repeat("zz", 64)), code: "12"},
		{name: "MAC one hex digit short", change: func(f *fields) *fields { return f }, mac: ptr(strings.Repeat("a", 127)), code: "12"},
		{name: "requestId of 10 KB", change: func(f *fields) *fields { return f.set("requestId", "r"+big) }, code: "30"},
		{name: "null walletId", change: func(f *fields) *fields { return f.set("walletId", nil) }, code: "30"},
		{name: "walletId as a number", change: func(f *fields) *fields { return f.set("walletId", 1234567894) }, code: "30"},
		{name: "additionalFields nested 5,000 deep", change: func(f *fields) *fields {
			return f.set("additionalFields", raw(strings.Repeat(`{"a":`, 5_000)+`"v"`+strings.Repeat("}", 5_000)))
		}, code: "30"},
		{name: "amount with a huge exponent", change: func(f *fields) *fields { return f.set("amount", raw(`1e400`)) }, money: true, code: "30"},
		{name: "amount beyond int64", change: func(f *fields) *fields { return f.set("amount", raw(big)) }, money: true, code: "13"},
		{name: "negative zero amount on lien place", change: func(f *fields) *fields { return f.set("amount", raw(`-0`)) }, money: true, code: "13"},
		{name: "body just over 64 KiB", change: func(f *fields) *fields { return f.set("padding", strings.Repeat("p", MaxBodyBytes)) },
			status: http.StatusRequestEntityTooLarge},
	}
	for i, rt := range routes {
		for j, tc := range cases {
			if tc.money && !rt.money || (strings.Contains(tc.name, "lien place") && rt.path != "/lien/place") {
				continue
			}
			t.Run(rt.path+"/"+tc.name, func(t *testing.T) {
				f := tc.change(rt.fields(fmt.Sprintf("o%d-%d", i, j)))
				body := signAsSent(t, h.keys, rt.m, f.json())
				if tc.mac != nil {
					body = f.clone().set("mac", *tc.mac).json()
				}
				before := h.books(w)
				rec := h.post(rt.path, body)
				status := tc.status
				if status == 0 {
					status = http.StatusOK
				}
				if rec.Code != status {
					t.Fatalf("HTTP %d %.200s, want %d", rec.Code, rec.Body, status)
				}
				if status == http.StatusOK {
					if a := h.decode(rec); a.ResponseCode != tc.code {
						t.Errorf("responseCode %s, want %s", a.ResponseCode, tc.code)
					}
				}
				h.unchanged(t, before, []string{f.text("requestId")}, []string{f.text("transactionReference")})
			})
		}
	}
}

// wantHostileAnswer checks the answer to a hostile message: HTTP status (0 means 200), and then either the
// unsigned format-error body (any status but 200) or the signed answer's response code.
func (h *harness) wantHostileAnswer(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if status == 0 {
		status = http.StatusOK
	}
	if rec.Code != status {
		t.Fatalf("HTTP %d %.200s, want %d", rec.Code, rec.Body, status)
	}
	if status != http.StatusOK {
		if rec.Body.String() != string(formatErrorBody) {
			t.Errorf("body %.200s, want %s", rec.Body, formatErrorBody)
		}
	} else if a := h.decode(rec); a.ResponseCode != code {
		t.Errorf("responseCode %s, want %s", a.ResponseCode, code)
	}
}
