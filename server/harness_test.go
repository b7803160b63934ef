package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

const (
	testKey        = "walletgate-test-key" // the key of testdata/mac.json
	testAdminToken = "test-admin-token-5f2c"
)

// harness is a walletgate server on a real ledger in a temporary directory, driven through the real routers.
type harness struct {
	t       *testing.T
	path    string
	ledger  *ledger.Ledger
	store   Store // what the server uses; defaults to ledger
	keys    *mac.Keys
	reg     *prometheus.Registry
	metrics *Metrics
	logs    *observer.ObservedLogs
	srv     *Server
	closed  bool
}

type harnessOption func(*harnessConfig)

type harnessConfig struct {
	adminToken string
	keys       *mac.Keys
	wrapStore  func(Store) Store
	ledgerOpts ledger.Options
}

func withAdminToken(tok string) harnessOption { return func(c *harnessConfig) { c.adminToken = tok } }
func withKeys(k *mac.Keys) harnessOption      { return func(c *harnessConfig) { c.keys = k } }
func withStore(wrap func(Store) Store) harnessOption {
	return func(c *harnessConfig) { c.wrapStore = wrap }
}
func withLedgerOptions(o ledger.Options) harnessOption {
	return func(c *harnessConfig) { c.ledgerOpts = o }
}

func mustKeys(t testing.TB, algo mac.Algorithm, current, previous string) *mac.Keys {
	t.Helper()
	var prev []byte
	if previous != "" {
		prev = []byte(previous)
	}
	k, err := mac.NewKeys(algo, []byte(current), prev)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newHarness opens a fresh ledger; in cleanup it checks the audit and closes everything.
func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	return openHarness(t, filepath.Join(t.TempDir(), "walletgate.db"), opts...)
}

func openHarness(t *testing.T, path string, opts ...harnessOption) *harness {
	t.Helper()
	cfg := harnessConfig{adminToken: testAdminToken}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.keys == nil {
		cfg.keys = mustKeys(t, mac.SHA512, testKey, "")
	}
	h := &harness{t: t, path: path, keys: cfg.keys, reg: prometheus.NewRegistry()}
	h.metrics = NewMetrics(h.reg)
	lo := cfg.ledgerOpts
	lo.Observer = h.metrics
	l, err := ledger.Open(path, lo)
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	h.ledger, h.store = l, l
	if cfg.wrapStore != nil {
		h.store = cfg.wrapStore(l)
	}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	h.srv = New(Config{Store: h.store, Keys: h.keys, AdminToken: cfg.adminToken, Logger: zap.New(core),
		Metrics: h.metrics, Gatherer: h.reg})
	t.Cleanup(func() { h.close() })
	return h
}

// close audits and closes the ledger (once).
func (h *harness) close() {
	h.t.Helper()
	if h.closed {
		return
	}
	h.closed = true
	rep, err := h.ledger.Audit(context.Background())
	if err != nil || !rep.OK {
		h.t.Errorf("audit after test: ok=%v err=%v problems=%v", rep.OK, err, rep.Problems)
	}
	if err := h.ledger.Close(); err != nil {
		h.t.Errorf("close ledger: %v", err)
	}
}

// reopen closes the ledger and opens a new harness on the same file, as a restart would.
func (h *harness) reopen(opts ...harnessOption) *harness {
	h.t.Helper()
	h.close()
	return openHarness(h.t, h.path, opts...)
}

// post sends body to the switch router.
func (h *harness) post(path string, body []byte) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.srv.Switch().ServeHTTP(rec, req)
	return rec
}

// admin sends a request to the ops router with the admin token (tok "" sends none).
func (h *harness) admin(method, path string, body any, tok string) *httptest.ResponseRecorder {
	h.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	h.srv.Ops().ServeHTTP(rec, req)
	return rec
}

// fund creates an active wallet with a balance.
func (h *harness) fund(id, currency string, amount int64) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.ledger.CreateWallet(ctx, ledger.NewWallet{ID: id, Currency: currency, Name: "Test " + id}); err != nil {
		h.t.Fatalf("create wallet %s: %v", id, err)
	}
	if amount > 0 {
		if _, err := h.ledger.Credit(ctx, ledger.Credit{WalletID: id, Amount: amount, Reference: "fund-" + id}); err != nil {
			h.t.Fatalf("fund wallet %s: %v", id, err)
		}
	}
}

// balance is the wallet's ledger balance.
func (h *harness) balance(id string) int64 {
	h.t.Helper()
	w, err := h.ledger.Wallet(context.Background(), id)
	if err != nil {
		h.t.Fatalf("wallet %s: %v", id, err)
	}
	return w.Balance
}

// fields is a switch message under construction: JSON members in insertion order.
type fields struct {
	keys []string
	vals map[string]any
}

func newFields(kv ...any) *fields {
	f := &fields{vals: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.set(kv[i].(string), kv[i+1])
	}
	return f
}

func (f *fields) set(k string, v any) *fields {
	if _, ok := f.vals[k]; !ok {
		f.keys = append(f.keys, k)
	}
	f.vals[k] = v
	return f
}

func (f *fields) del(k string) *fields {
	delete(f.vals, k)
	for i, key := range f.keys {
		if key == k {
			f.keys = append(f.keys[:i], f.keys[i+1:]...)
			break
		}
	}
	return f
}

func (f *fields) clone() *fields {
	c := &fields{keys: append([]string(nil), f.keys...), vals: map[string]any{}}
	for k, v := range f.vals {
		c.vals[k] = v
	}
	return c
}

// json encodes the members in order; a json.RawMessage value is written as is.
func (f *fields) json() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range f.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(f.vals[k])
		if err != nil {
			panic(err)
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// text is a member's MAC text: a string's value, a number's literal.
func (f *fields) text(name string) string {
	switch v := f.vals[name].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.RawMessage:
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		return string(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// signed returns the body with a correct MAC for message m under keys.
func (f *fields) signed(keys *mac.Keys, m mac.Message) []byte {
	c := f.clone()
	c.set("mac", keys.Sign(mac.Current, mac.Values(m, c.text)...))
	return c.json()
}

// debitFields is the seed's successful sample (seeds/002), with the given ids and amount.
func debitFields(requestID, reference, walletID string, amount any) *fields {
	return newFields(
		"requestId", requestID,
		"walletId", walletID,
		"amount", amount,
		"transactionReference", reference,
		"transactionDateTime", "2020-05-15T13:32:09",
		"terminalId", "3IWPDVNA",
		"terminalType", "21",
		"merchantId", "WEBPAYDIRECTVNA",
		"acquiringInstitutionId", "428051043",
		"currencyCode", "566",
		"cardAcceptorNameLocation", "MATRIX ENERGY LIMITE   LA           LANG",
		"rrn", "000111000111",
		"stan", "000018",
	)
}

// reversalFields is a reversal of original.
func reversalFields(requestID, reference, original, walletID string, amount any) *fields {
	return debitFields(requestID, reference, walletID, amount).set("originalTransactionReference", original)
}

// answer is a decoded switch answer.
type answer struct {
	RequestID            string `json:"requestId"`
	ResponseCode         string `json:"responseCode"`
	Amount               int64  `json:"amount"`
	TransactionReference string `json:"transactionReference"`
	MAC                  string `json:"mac"`
}

// decode parses a switch answer and checks its MAC against keys (the current key unless the answer verifies
// with the previous one).
func (h *harness) decode(rec *httptest.ResponseRecorder) answer {
	h.t.Helper()
	var a answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		h.t.Fatalf("answer %q (HTTP %d) is not JSON: %v", rec.Body.String(), rec.Code, err)
	}
	if a.MAC != "" {
		if _, ok := h.keys.Verify(a.MAC, a.TransactionReference, a.RequestID, a.ResponseCode); !ok {
			h.t.Errorf("answer MAC does not verify: %s", rec.Body.String())
		}
	}
	return a
}

// send posts a signed message and returns the decoded answer, failing unless HTTP 200.
func (h *harness) send(path string, f *fields, m mac.Message) answer {
	h.t.Helper()
	rec := h.post(path, f.signed(h.keys, m))
	if rec.Code != http.StatusOK {
		h.t.Fatalf("POST %s: HTTP %d %s", path, rec.Code, rec.Body.String())
	}
	return h.decode(rec)
}

// postAtOnce sends every body to route on ts at the same moment, one connection each, and returns the response
// codes in the order of bodies ("" where no answer could be read; the error is reported on t).
func postAtOnce(t *testing.T, ts *httptest.Server, route string, bodies [][]byte) []string {
	t.Helper()
	codes := make([]string, len(bodies))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := ts.Client().Post(ts.URL+route, "application/json", bytes.NewReader(bodies[i]))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var a answer
			if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
				t.Error(err)
				return
			}
			codes[i] = a.ResponseCode
		}()
	}
	close(start)
	wg.Wait()
	return codes
}
