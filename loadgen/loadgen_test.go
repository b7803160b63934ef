package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/server"
)

const (
	testKey   = "loadgen-test-key"
	testToken = "loadgen-test-token"
	seedDir   = "../testdata/seed"
)

// target is a walletgate on a real ledger, served over loopback HTTP, whose handlers a test may wrap.
type target struct {
	t      *testing.T
	ledger *ledger.Ledger
	keys   *mac.Keys
	srv    *server.Server
	sw     *httptest.Server
	ops    *httptest.Server
}

type wrap func(http.Handler) http.Handler

func newTarget(t *testing.T, wrapSwitch, wrapOps wrap) *target {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "walletgate.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := mac.NewKeys(mac.SHA512, []byte(testKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{t: t, ledger: l, keys: keys}
	tg.srv = server.New(server.Config{Store: l, Keys: keys, AdminToken: testToken,
		Metrics: server.NewMetrics(prometheus.NewRegistry())})
	var sw, ops http.Handler = tg.srv.Switch(), tg.srv.Ops()
	if wrapSwitch != nil {
		sw = wrapSwitch(sw)
	}
	if wrapOps != nil {
		ops = wrapOps(ops)
	}
	tg.sw, tg.ops = httptest.NewServer(sw), httptest.NewServer(ops)
	t.Cleanup(func() {
		tg.sw.Close()
		tg.ops.Close()
		rep, err := l.Audit(context.Background())
		if err != nil || !rep.OK {
			t.Errorf("audit after the load: ok=%v err=%v %v", rep.OK, err, rep.Problems)
		}
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return tg
}

func (tg *target) config(requests int64, mix Mix) Config {
	tg.t.Helper()
	tmpl, err := LoadTemplate(seedDir)
	if err != nil {
		tg.t.Fatal(err)
	}
	return Config{Target: tg.sw.URL, Ops: tg.ops.URL, AdminToken: testToken, Keys: tg.keys, Template: tmpl,
		Concurrency: 8, Requests: requests, Mix: mix, Wallets: WalletIDs("t", 0, 20), SetupWallets: true,
		Fund: 1_000_000, Amount: 100, RunID: "run1"}
}

// ledgerTotal sums the wallets' balances straight from the ledger, not through the admin API.
func (tg *target) ledgerTotal(ids []string) int64 {
	var sum int64
	for _, id := range ids {
		w, err := tg.ledger.Wallet(context.Background(), id)
		if err != nil {
			tg.t.Fatal(err)
		}
		sum += w.Balance
	}
	return sum
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func TestRunCountsMixAndConservation(t *testing.T) {
	tg := newTarget(t, nil, nil)
	cfg := tg.config(400, Mix{KindApprove: 60, KindInsufficient: 20, KindReplay: 10, KindReversal: 10})
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 400 || sum(rep.Codes) != 400 || rep.Errors != 0 {
		t.Fatalf("requests %d, codes %v, errors %d %v; want 400 answered, no errors", rep.Requests, rep.Codes,
			rep.Errors, rep.ErrorReasons)
	}
	var kinds int64
	for _, m := range rep.Kinds {
		kinds += sum(m)
	}
	if kinds != 400 {
		t.Errorf("kinds add up to %d, want 400: %v", kinds, rep.Kinds)
	}
	for kind, want := range map[Kind]string{KindApprove: "00", KindInsufficient: "51", KindReversal: "00"} {
		m := rep.Kinds[string(kind)]
		if m[want] == 0 || m[want] != sum(m) {
			t.Errorf("%s: codes %v, want all %s", kind, m, want)
		}
	}
	for code := range rep.Kinds[string(KindReplay)] {
		if code != "00" && code != "51" {
			t.Errorf("replay answered %s: a replay must answer the original's code", code)
		}
	}
	if rep.Kinds[string(KindReplay)]["00"]+rep.Kinds[string(KindReplay)]["51"] == 0 {
		t.Error("no replays were sent")
	}
	if rep.Latency.P50 <= 0 || rep.Latency.P99 < rep.Latency.P50 || rep.Latency.P999 < rep.Latency.P99 {
		t.Errorf("latency percentiles out of order: %+v", rep.Latency)
	}
	c := rep.Conservation
	if c == nil || !c.OK || c.Audit == nil || !c.Audit.OK {
		t.Fatalf("conservation: %+v", c)
	}
	approved := rep.Kinds[string(KindApprove)]["00"]
	reversed := rep.Kinds[string(KindReversal)]["00"]
	if want := (approved - reversed) * cfg.Amount; c.ExpectedDrop != want || c.ActualDrop != want {
		t.Errorf("drop expected %d actual %d, want %d (%d approvals, %d reversals of %d)", c.ExpectedDrop,
			c.ActualDrop, want, approved, reversed, cfg.Amount)
	}
	if got := tg.ledgerTotal(cfg.Wallets); got != c.After || c.Before != int64(len(cfg.Wallets))*cfg.Fund {
		t.Errorf("ledger total %d, report after %d, before %d", got, c.After, c.Before)
	}
}

// TestConservationFailsWhenMoneyDisappears: the check must catch a ledger that loses money, here an admin API
// that reports one kobo less for one wallet once the load has started, and an audit that is not green.
func TestConservationFailsWhenMoneyDisappears(t *testing.T) {
	var started atomic.Bool
	markStart := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started.Store(true)
			h.ServeHTTP(w, r)
		})
	}
	tests := []struct {
		name    string
		fake    func(path string, body []byte) []byte
		problem string
	}{
		{"a kobo vanishes", func(path string, body []byte) []byte {
			if path != "/admin/wallets/t0000003" {
				return body
			}
			var w map[string]any
			_ = json.Unmarshal(body, &w)
			w["ledgerBalance"] = w["ledgerBalance"].(float64) - 1
			out, _ := json.Marshal(w)
			return out
		}, "difference 1"},
		{"audit not green", func(path string, body []byte) []byte {
			if path == "/admin/audit" {
				return []byte(`{"ok":false,"problems":["wallet t0000003: balance 999 != postings 1000"]}`)
			}
			return body
		}, "audit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started.Store(false)
			lie := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !started.Load() || r.Method != http.MethodGet {
						h.ServeHTTP(w, r)
						return
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					w.WriteHeader(rec.Code)
					_, _ = w.Write(tt.fake(r.URL.Path, rec.Body.Bytes()))
				})
			}
			tg := newTarget(t, markStart, lie)
			rep, err := Run(context.Background(), tg.config(100, Mix{KindApprove: 1}))
			if err != nil {
				t.Fatal(err)
			}
			c := rep.Conservation
			if c == nil || c.OK || !strings.Contains(strings.Join(c.Problems, "; "), tt.problem) {
				t.Fatalf("conservation %+v: want a failure naming %q", c, tt.problem)
			}
			var out bytes.Buffer
			rep.WriteText(&out)
			if !strings.Contains(out.String(), "conservation FAILED") {
				t.Errorf("text report does not say FAILED:\n%s", out.String())
			}
		})
	}
}

// TestUnknownOutcomesAreResolved: debits that were committed but whose answer was lost (HTTP 503, no body) are
// looked up through the admin API, and the books still balance to the kobo.
func TestUnknownOutcomesAreResolved(t *testing.T) {
	var n atomic.Int64
	lose := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1)%7 != 0 {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(httptest.NewRecorder(), r) // decided and committed, answer lost
			w.WriteHeader(http.StatusServiceUnavailable)
		})
	}
	tg := newTarget(t, lose, nil)
	rep, err := Run(context.Background(), tg.config(200, Mix{KindApprove: 70, KindReversal: 30}))
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Conservation
	if c.Resolved == 0 || rep.Codes["HTTP 503"] != int64(c.Resolved) {
		t.Errorf("resolved %d, HTTP 503 answers %d: every lost answer must be looked up", c.Resolved, rep.Codes["HTTP 503"])
	}
	if !c.OK || c.ActualDrop != c.ExpectedDrop {
		t.Fatalf("conservation with lost answers: %+v", c)
	}
	if rep.Errors != rep.Codes["HTTP 503"] {
		t.Errorf("errors %d, want the %d lost answers", rep.Errors, rep.Codes["HTTP 503"])
	}
}

func TestCeilingRounds(t *testing.T) {
	tg := newTarget(t, nil, nil)
	cfg := tg.config(200, Mix{KindApprove: 90, KindReversal: 10})
	cfg.CeilingRounds = 2
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Ceiling
	if c == nil || c.Rounds != 2 || len(c.PerRound) != 2 {
		t.Fatalf("ceiling report %+v", c)
	}
	if rep.Requests != 200 || c.Ceiling.Requests != 200 || c.Ceiling.Errors != 0 || rep.Errors != 0 {
		t.Errorf("walletgate %d requests (%d errors), ceiling %d (%d errors); want 200 each, no errors", rep.Requests,
			rep.Errors, c.Ceiling.Requests, c.Ceiling.Errors)
	}
	if c.ThroughputRatio <= 0 || c.P99Ratio <= 0 {
		t.Errorf("ratios %v %v", c.ThroughputRatio, c.P99Ratio)
	}
	if want := rep.Throughput / c.Ceiling.Throughput; c.ThroughputRatio != want {
		t.Errorf("throughput ratio %v, want %v", c.ThroughputRatio, want)
	}
	if !rep.Conservation.OK {
		t.Errorf("conservation: %+v", rep.Conservation)
	}
	var out bytes.Buffer
	rep.WriteText(&out)
	if !strings.Contains(out.String(), "vs ceiling") {
		t.Errorf("text report lacks the ratios:\n%s", out.String())
	}
}

// TestEnquiries checks the enquiry kind against a switch that verifies the enquiry MAC of CONTRACT 1.2 (today's
// walletgate has no /enquiry).
func TestEnquiries(t *testing.T) {
	keys, _ := mac.NewKeys(mac.SHA512, []byte(testKey), nil)
	var bad atomic.Int64
	enquiry := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/enquiry" {
				h.ServeHTTP(w, r)
				return
			}
			body, _ := io.ReadAll(r.Body)
			req, err := server.DecodeRequest(body)
			if err != nil || req.Text("amount") != "" {
				bad.Add(1)
			} else if _, ok := keys.Verify(req.MAC, mac.Values(mac.Enquiry, req.Text)...); !ok {
				bad.Add(1)
			}
			_, _ = w.Write([]byte(`{"responseCode":"00"}`))
		})
	}
	tg := newTarget(t, enquiry, nil)
	rep, err := Run(context.Background(), tg.config(50, Mix{KindEnquiry: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Kinds[string(KindEnquiry)]["00"]; got != 50 || bad.Load() != 0 {
		t.Errorf("enquiries answered 00: %d of 50; malformed or badly signed: %d", got, bad.Load())
	}
	if !rep.Conservation.OK || rep.Conservation.ExpectedDrop != 0 {
		t.Errorf("enquiries must move nothing: %+v", rep.Conservation)
	}
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		in   string
		want Mix
		err  string
	}{
		{"", DefaultMix(), ""},
		{"approve=1", Mix{KindApprove: 1, KindInsufficient: 4, KindReplay: 3, KindReversal: 3, KindEnquiry: 0}, ""},
		{"approve=0,insufficient=0,replay=0,reversal=0,enquiry=5", Mix{KindEnquiry: 5, KindApprove: 0,
			KindInsufficient: 0, KindReplay: 0, KindReversal: 0}, ""},
		{"lien=3", nil, "unknown kind"},
		{"approve=-1", nil, "non-negative"},
		{"approve", nil, "kind=share"},
		{"approve=0,insufficient=0,replay=0,reversal=0", nil, "every share is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMix(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got.String() != tt.want.String() {
				t.Fatalf("got %v %v, want %v", got, err, tt.want)
			}
		})
	}
}

// TestBuildSignsEveryRoute: what Build sends decodes, validates and verifies as walletgate would see it.
func TestBuildSignsEveryRoute(t *testing.T) {
	tmpl, err := LoadTemplate(seedDir)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := mac.NewKeys(mac.SHA512, []byte(testKey), nil)
	tests := []struct {
		msg   Message
		mac   mac.Message
		route server.Route
	}{
		{Message{Route: RouteDebit, RequestID: "r1", WalletID: "w1", Reference: "t1", RRN: "000000000001", STAN: "000001", Amount: 100}, mac.Debit, server.RouteDebit},
		{Message{Route: RouteDebit, RequestID: "r2", WalletID: "w1", Reference: "t2", RRN: "000000000002", STAN: "000002", Amount: 100, Fee: 5}, mac.Debit, server.RouteDebit},
		{Message{Route: RouteReversal, RequestID: "r3", WalletID: "w1", Reference: "t3", Original: "t1", RRN: "000000000003", STAN: "000003", Amount: 100}, mac.Reversal, server.RouteReversal},
		{Message{Route: RouteEnquiry, RequestID: "r4", WalletID: "w1", Reference: "t4", RRN: "000000000004", STAN: "000004"}, mac.Enquiry, server.RouteEnquiry},
	}
	for _, tt := range tests {
		t.Run(tt.msg.RequestID, func(t *testing.T) {
			body := tmpl.Build(keys, &tt.msg)
			r, err := server.DecodeRequest(body)
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if _, ok := keys.Verify(r.MAC, mac.Values(tt.mac, r.Text)...); !ok {
				t.Errorf("MAC does not verify: %s", body)
			}
			if tt.route != server.RouteEnquiry {
				if err := r.Validate(tt.route); err != nil {
					t.Errorf("validate: %v: %s", err, body)
				}
				if r.Amount != tt.msg.Amount || r.TransactionFee != tt.msg.Fee {
					t.Errorf("amount %d fee %d: %s", r.Amount, r.TransactionFee, body)
				}
			} else if r.Text("amount") != "" || r.Text("originalTransactionReference") != "" {
				t.Errorf("an enquiry carries no amount or original: %s", body)
			}
			if r.RequestID != tt.msg.RequestID || r.WalletID != "w1" || r.TransactionReference != tt.msg.Reference ||
				r.OriginalTransactionReference != map[Route]string{RouteDebit: tt.msg.Reference, RouteReversal: "t1"}[tt.msg.Route] {
				t.Errorf("ids not as built: %s", body)
			}
			if r.MerchantID != "WEBPAYDIRECTVNA" || r.CurrencyCode != "566" {
				t.Errorf("the seed sample's members are lost: %s", body)
			}
		})
	}
}

func TestPopulate(t *testing.T) {
	tmpl, err := LoadTemplate(seedDir)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := mac.NewKeys(mac.SHA512, []byte(testKey), nil)
	cfg := PopulateConfig{DB: filepath.Join(t.TempDir(), "big.db"), Keys: keys, Template: tmpl, Prefix: "p",
		Wallets: 30, Entries: 100, Workers: 16}
	for run := range 2 { // the second run resumes: nothing is added twice
		rep, err := Populate(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Wallets != 30 || rep.Debits != 70 || rep.Entries != 100 || !rep.AuditOK {
			t.Fatalf("run %d: %+v, want 30 wallets, 70 debits, 100 journal entries, audit green", run, rep)
		}
	}
	l, err := ledger.Open(cfg.DB, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w, err := l.Wallet(context.Background(), "p0000029")
	if err != nil {
		t.Fatal(err)
	}
	// 70 debits over 30 wallets: 3 each for the first 23, 1 for wallet 23, none after.
	if want := int64((3 + 100) * 100); w.Balance != want {
		t.Errorf("last wallet balance %d, want %d (funded, not debited)", w.Balance, want)
	}
}
