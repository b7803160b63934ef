package outbound

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Credentials of the tests: long and distinctive, so that a leak into an error text is found by a substring test.
const (
	testBCKey    = "bc-key-7f3a9c"
	testBCSecret = "bc-secret-e41d2b"
	testVAToken  = "va-token-5c8e17"
	testConnKey  = "conn-key-9b20fd"
	testConnUser = "conn-user"
	testConnPass = "conn-pass-a6d3e0"
	shortWait    = 50 * time.Millisecond // the http.Client timeout of tests against a slow partner
)

var testSecrets = []string{testBCKey, testBCSecret, testVAToken, testConnKey, testConnPass}

// seen is one request a fake partner received.
type seen struct {
	Method, Path, RawPath, Query string
	Header                       http.Header
	Body                         []byte
}

// fake is a partner that answers with answer (or as the mode says) and records every request.
type fake struct {
	t       *testing.T
	srv     *httptest.Server
	release chan struct{}

	mu     sync.Mutex
	got    []seen
	answer func(w http.ResponseWriter, r *http.Request)
}

// Answer modes of a fake.
func answerJSON(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// answerSlow never answers before the client gives up (or the test ends).
func (f *fake) answerSlow(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.release:
	}
}

// answerDrop closes the connection without an answer.
func answerDrop(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func newFake(t *testing.T, answer func(http.ResponseWriter, *http.Request)) *fake {
	t.Helper()
	f := &fake{t: t, release: make(chan struct{}), answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, seen{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
			Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		answer := f.answer
		f.mu.Unlock()
		if answer == nil {
			answer = f.answerSlow
		}
		answer(w, r)
	}))
	t.Cleanup(func() {
		close(f.release)
		f.srv.Close()
	})
	return f
}

// requests returns what the fake received.
func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.got...)
}

// only returns the single request the fake received.
func (f *fake) only() seen {
	f.t.Helper()
	got := f.requests()
	if len(got) != 1 {
		f.t.Fatalf("fake partner received %d requests, want 1", len(got))
	}
	return got[0]
}

// testHTTPClient is the client of tests whose partner answers: a timeout only so that a bug cannot hang the test.
func testHTTPClient() *http.Client { return &http.Client{Timeout: time.Minute} }

// shortClient is the client of tests whose partner never answers: its timeout must fire, promptly.
func shortClient() *http.Client { return &http.Client{Timeout: shortWait} }

// jsonBody decodes a request body keeping numbers as their text.
func jsonBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("request body %q is not a JSON object: %v", b, err)
	}
	return m
}

// assertNoSecrets fails when err's text holds a credential of partner ("": of any partner).
func assertNoSecrets(t *testing.T, partner string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	secrets := map[string][]string{PartnerBestCash: {testBCKey, testBCSecret}, PartnerVirtualAccount: {testVAToken},
		PartnerConnector: {testConnKey, testConnPass}}[partner]
	if partner == "" {
		secrets = testSecrets
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error text %q contains a credential", err.Error())
		}
	}
}

// durationCount is the number of observations of walletgate_partner_request_duration_seconds with the labels.
func durationCount(t *testing.T, reg prometheus.Gatherer, partner, op, outcome string) uint64 {
	t.Helper()
	mf := family(t, reg, "walletgate_partner_request_duration_seconds")
	if mf == nil {
		return 0
	}
	want := map[string]string{"partner": partner, "operation": op, "outcome": outcome}
	var n uint64
	for _, m := range mf.GetMetric() {
		if labelsMatch(m, want) {
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return n
}

// durationTotal is the number of observations of every series of the partner histogram.
func durationTotal(t *testing.T, reg prometheus.Gatherer) uint64 {
	t.Helper()
	mf := family(t, reg, "walletgate_partner_request_duration_seconds")
	var n uint64
	for _, m := range mf.GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

func family(t *testing.T, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, lp := range m.GetLabel() {
		if want[lp.GetName()] != lp.GetValue() {
			return false
		}
	}
	return true
}

// clientCall is one operation of one client, against a fake at base.
type clientCall struct {
	name, partner, op string
	call              func(ctx context.Context, base string, hc *http.Client, m *Metrics) error
}

func testBestCash(base string, hc *http.Client, m *Metrics) *BestCash {
	return NewBestCash(BestCashConfig{URL: base + "/external", APIKey: testBCKey, APISecret: testBCSecret}, hc, m)
}

func testVA(base string, hc *http.Client, m *Metrics) *VirtualAccount {
	return NewVirtualAccount(VirtualAccountConfig{URL: base, Token: testVAToken,
		DebitClassification: "SUBLEDGER001_DEBIT", CreditClassification: "SUBLEDGER001_CREDIT"}, hc, m)
}

func testConnector(base string, hc *http.Client, m *Metrics) *Connector {
	return NewConnector(ConnectorConfig{URL: base, APIKey: testConnKey, User: testConnUser, Password: testConnPass}, hc, m)
}

var (
	testDebitOrder  = DebitOrder{PartnerReference: "top-1", Phone: "+22892685526", Currency: "952", Amount: 15000}
	testCreditOrder = CreditOrder{PartnerReference: "out-1", Phone: "+2348012345678", Currency: "566", Amount: 150,
		FirstName: "Ada", LastName: "Obi"}
	testMirror = Mirror{AccountID: "0000000238", Reference: "11123456789", Currency: "566", Amount: 150,
		Merchant: "M001", Terminal: "2ABC0001", RRN: "000000123456"}
	testPush = Push{TransactionID: "11123456789", Currency: "566", Amount: 150, Approved: true,
		MerchantID: "M001", TerminalID: "2ABC0001", RRN: "000000123456", STAN: "123456"}
	testReversal = Push{TransactionID: "11123456789-R1", ReferenceTransactionID: "11123456789", Currency: "566",
		Amount: 50, Approved: true}
)

// allCalls is every operation of every client.
func allCalls() []clientCall {
	return []clientCall{
		{"bestcash verify", PartnerBestCash, "verify_customer", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			_, err := testBestCash(b, hc, m).VerifyCustomer(ctx, "+22892685526")
			return err
		}},
		{"bestcash debit", PartnerBestCash, "debit", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			_, err := testBestCash(b, hc, m).Debit(ctx, testDebitOrder)
			return err
		}},
		{"bestcash confirm", PartnerBestCash, "confirm_debit", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			_, err := testBestCash(b, hc, m).ConfirmDebit(ctx, "top-1", "123456")
			return err
		}},
		{"bestcash cancel", PartnerBestCash, "cancel_debit", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			_, err := testBestCash(b, hc, m).CancelDebit(ctx, "top-1")
			return err
		}},
		{"bestcash credit", PartnerBestCash, "credit", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			_, err := testBestCash(b, hc, m).Credit(ctx, testCreditOrder)
			return err
		}},
		{"bestcash status", PartnerBestCash, "status", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			_, err := testBestCash(b, hc, m).Status(ctx, "out-1")
			return err
		}},
		{"virtualaccount debit", PartnerVirtualAccount, "debit", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			return testVA(b, hc, m).Debit(ctx, testMirror)
		}},
		{"virtualaccount credit", PartnerVirtualAccount, "credit", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			return testVA(b, hc, m).Credit(ctx, testMirror)
		}},
		{"connector debit", PartnerConnector, "debit", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			return testConnector(b, hc, m).Debit(ctx, testPush)
		}},
		{"connector void", PartnerConnector, "void", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			return testConnector(b, hc, m).Void(ctx, testReversal)
		}},
		{"connector refund", PartnerConnector, "refund", func(ctx context.Context, b string, hc *http.Client, m *Metrics) error {
			return testConnector(b, hc, m).Refund(ctx, testReversal)
		}},
	}
}
