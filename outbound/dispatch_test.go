package outbound

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/walletgate/walletgate/ledger"
)

// outboxLedger opens a real ledger routing every event to the partners given, and audits it in cleanup.
func outboxLedger(t *testing.T, route ledger.Route) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{Route: route})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rep, err := l.Audit(context.Background())
		if err != nil || !rep.OK {
			t.Errorf("audit: %v %v", err, rep.Problems)
		}
		_ = l.Close()
	})
	return l
}

func routeTo(partners ...string) ledger.Route {
	return func(ledger.Event) []string { return partners }
}

func mustFund(t *testing.T, l *ledger.Ledger, id, va string, amount int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := l.CreateWallet(ctx, ledger.NewWallet{ID: id, Currency: "566", Name: "W " + id, VirtualAccountID: va}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Credit(ctx, ledger.Credit{WalletID: id, Amount: amount, Reference: "fund-" + id}); err != nil {
		t.Fatal(err)
	}
}

// seedDetails are the card-side details of the switch's sample debit (seeds/002).
var seedDetails = ledger.Details{RRN: "000111000111", STAN: "000018", TerminalID: "3IWPDVNA", MerchantID: "WEBPAYDIRECTVNA",
	CardAcceptorNameLocation: "MATRIX ENERGY LIMITE   LA           LANG"}

func debit(t *testing.T, l *ledger.Ledger, wallet, ref string, amount int64) {
	t.Helper()
	d := ledger.DebitRequest{WalletID: wallet, Reference: ref, Currency: "566", Amount: amount, Details: seedDetails}
	d.Envelope = ledger.Envelope{RequestID: "req-" + ref, Fingerprint: sha256.Sum256([]byte(ref)),
		Render: func(o ledger.Outcome) ([]byte, error) { return []byte(ref), nil }}
	if _, err := l.Debit(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func reverse(t *testing.T, l *ledger.Ledger, wallet, ref, original string, amount int64) {
	t.Helper()
	r := ledger.ReversalRequest{WalletID: wallet, Reference: ref, Original: original, Currency: "566", Amount: amount,
		Details: seedDetails}
	r.Envelope = ledger.Envelope{RequestID: "rev-" + ref, Fingerprint: sha256.Sum256([]byte("reversal " + ref)),
		Render: func(o ledger.Outcome) ([]byte, error) { return []byte(ref), nil }}
	if _, err := l.Reverse(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// fakePartner is a Deliverer whose answers a test scripts: fail the first n attempts of each event with err,
// block until released, and so on. It records every attempt and checks that a lane never has two in flight.
type fakePartner struct {
	mu       sync.Mutex
	failures int   // attempts of each event that fail before it succeeds
	err      error // the failure
	block    chan struct{}
	attempts map[uint64]int
	order    map[string][]string // lane (wallet) -> references delivered, in order
	inflight map[string]int
	problems []string
}

func newFakePartner() *fakePartner {
	return &fakePartner{attempts: map[uint64]int{}, order: map[string][]string{}, inflight: map[string]int{}}
}

func (f *fakePartner) Deliver(ctx context.Context, e ledger.OutboxEvent) error {
	f.mu.Lock()
	f.attempts[e.ID]++
	n := f.attempts[e.ID]
	f.inflight[e.WalletID]++
	if f.inflight[e.WalletID] > 1 {
		f.problems = append(f.problems, fmt.Sprintf("two events of wallet %s in flight", e.WalletID))
	}
	block, failures, ferr := f.block, f.failures, f.err
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight[e.WalletID]--
		f.mu.Unlock()
	}()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if n <= failures {
		return ferr
	}
	f.mu.Lock()
	f.order[e.WalletID] = append(f.order[e.WalletID], e.Reference)
	f.mu.Unlock()
	return nil
}

func (f *fakePartner) attemptsOf(id uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[id]
}

// value reads one counter or gauge (prometheus/testutil would need a module go.sum does not list).
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	pb := &dto.Metric{}
	if err := m.Write(pb); err != nil {
		t.Fatal(err)
	}
	if pb.Counter != nil {
		return pb.Counter.GetValue()
	}
	return pb.Gauge.GetValue()
}

// eventually waits (up to 10s) for cond; it fails the test if cond never holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func outboxState(t *testing.T, l *ledger.Ledger, state string) []ledger.OutboxEvent {
	t.Helper()
	evs, _, err := l.Outbox(context.Background(), state, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// startDispatcher runs a dispatcher until the test ends.
func startDispatcher(t *testing.T, cfg DispatcherConfig) (*Dispatcher, *Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	cfg.Metrics = m
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = time.Millisecond
	}
	d := NewDispatcher(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { d.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	return d, m, reg
}

// permanentFailure is what the partner clients return for content the partner refused.
var permanentFailure = &PartnerError{Partner: PartnerConnector, Operation: "debit", StatusCode: 200,
	Code: "INVALID_DATA", Message: "invalid amount", Permanent: true, Err: ErrInvalid}

var retryableFailure = &PartnerError{Partner: PartnerConnector, Operation: "debit", StatusCode: 503,
	Message: "try later", Err: ErrUnavailable, outcome: OutcomeError}

// TestDispatcherOrderPerLane: every event is delivered once, in id order within its wallet, never two of a wallet
// at once, while wallets proceed side by side.
func TestDispatcherOrderPerLane(t *testing.T) {
	l := outboxLedger(t, routeTo("p"))
	wallets := []string{"w1", "w2", "w3", "w4"}
	for _, w := range wallets {
		mustFund(t, l, w, "", 1_000_000)
	}
	p := newFakePartner()
	p.failures, p.err = 1, retryableFailure // every event fails once: retries must not overtake
	_, m, _ := startDispatcher(t, DispatcherConfig{Store: l, Partners: map[string]Deliverer{"p": p}, Workers: 3})
	want := map[string][]string{}
	for i := range 10 {
		for _, w := range wallets {
			ref := fmt.Sprintf("%s-D%02d", w, i)
			debit(t, l, w, ref, 1)
			want[w] = append(want[w], ref)
		}
	}
	eventually(t, "every event delivered", func() bool { return len(outboxState(t, l, ledger.OutboxPending)) == 0 })
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range wallets {
		if got := strings.Join(p.order[w], " "); got != strings.Join(want[w], " ") {
			t.Errorf("wallet %s delivered in order\n\t%s\nwant\t%s", w, got, strings.Join(want[w], " "))
		}
	}
	for _, pr := range p.problems {
		t.Error(pr)
	}
	eventually(t, "40 deliveries and 40 retries counted", func() bool {
		return value(t, m.Deliveries.WithLabelValues("p", OutcomeOK)) == 40 &&
			value(t, m.Deliveries.WithLabelValues("p", OutcomeError)) == 40
	})
	eventually(t, "pending gauge at 0", func() bool { return value(t, m.OutboxPending.WithLabelValues("p")) == 0 })
}

// TestDispatcherRetryAndDeadLetter: a partner that fails N times gets N+1 attempts; one that keeps failing is
// dead-lettered after MaxAttempts; a permanent refusal is dead-lettered at once; a manual retry delivers a dead
// letter once the partner is back.
func TestDispatcherRetryAndDeadLetter(t *testing.T) {
	tests := []struct {
		name         string
		failures     int
		err          error
		wantState    string
		wantAttempts int
	}{
		{"fails twice, then delivered", 2, retryableFailure, ledger.OutboxDelivered, 3},
		{"keeps failing: dead after 4 attempts", 100, retryableFailure, ledger.OutboxDead, 4},
		{"permanent refusal: dead at once", 100, permanentFailure, ledger.OutboxDead, 1},
		{"our own bug: dead at once", 100, permanentf("no delivery"), ledger.OutboxDead, 1},
		{"timeout of the attempt: retried", 1, context.DeadlineExceeded, ledger.OutboxDelivered, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := outboxLedger(t, routeTo("p"))
			mustFund(t, l, "w1", "", 100)
			p := newFakePartner()
			p.failures, p.err = tc.failures, tc.err
			_, m, _ := startDispatcher(t, DispatcherConfig{Store: l, Partners: map[string]Deliverer{"p": p}, MaxAttempts: 4})
			debit(t, l, "w1", "D1", 10)
			eventually(t, "a final state", func() bool { return len(outboxState(t, l, ledger.OutboxPending)) == 0 })
			evs := outboxState(t, l, "")
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1", len(evs))
			}
			e := evs[0]
			if e.State != tc.wantState || e.Attempts != tc.wantAttempts || p.attemptsOf(e.ID) != tc.wantAttempts {
				t.Errorf("state %s after %d attempts (partner saw %d), want %s after %d", e.State, e.Attempts,
					p.attemptsOf(e.ID), tc.wantState, tc.wantAttempts)
			}
			if tc.wantState == ledger.OutboxDead {
				if e.LastError != tc.err.Error() {
					t.Errorf("last error %q, want %q", e.LastError, tc.err.Error())
				}
				eventually(t, "the dead counter at 1", func() bool {
					return value(t, m.Deliveries.WithLabelValues("p", DeliveryDead)) == 1
				})
				// The partner is fixed; an operator retries the dead letter by hand.
				p.mu.Lock()
				p.failures = 0
				p.mu.Unlock()
				if _, err := l.RetryOutbox(context.Background(), e.ID); err != nil {
					t.Fatal(err)
				}
				eventually(t, "the retried event delivered", func() bool {
					ev, err := l.OutboxEventByID(context.Background(), e.ID)
					return err == nil && ev.State == ledger.OutboxDelivered
				})
			}
		})
	}
}

// TestDispatcherBackoff: doubling from BaseBackoff, capped, with a random half taken off.
func TestDispatcherBackoff(t *testing.T) {
	var jitter float64
	d := NewDispatcher(DispatcherConfig{BaseBackoff: time.Second, MaxBackoff: 10 * time.Second,
		Jitter: func() float64 { return jitter }})
	tests := []struct {
		attempts int
		jitter   float64
		want     time.Duration
	}{
		{1, 0, 500 * time.Millisecond},
		{1, 0.999999, 999_999_500 * time.Nanosecond},
		{2, 0, time.Second},
		{3, 0.5, 3 * time.Second},
		{4, 0, 4 * time.Second},
		{5, 0, 5 * time.Second}, // 16s capped at 10s
		{60, 0, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("attempt %d jitter %v", tc.attempts, tc.jitter), func(t *testing.T) {
			jitter = tc.jitter
			if got := d.Backoff(tc.attempts); got != tc.want {
				t.Errorf("Backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
			}
		})
	}
}

// TestDispatcherSchedulesNextAttempt: a failed attempt is due again at now + backoff (with the injected clock
// and jitter), and is not attempted before.
func TestDispatcherSchedulesNextAttempt(t *testing.T) {
	l := outboxLedger(t, routeTo("p"))
	mustFund(t, l, "w1", "", 100)
	p := newFakePartner()
	p.failures, p.err = 100, retryableFailure
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	startDispatcher(t, DispatcherConfig{Store: l, Partners: map[string]Deliverer{"p": p}, BaseBackoff: time.Hour,
		Now: func() time.Time { return now }, Jitter: func() float64 { return 0.5 }})
	debit(t, l, "w1", "D1", 10)
	eventually(t, "one failed attempt recorded", func() bool {
		evs := outboxState(t, l, ledger.OutboxPending)
		return len(evs) == 1 && evs[0].Attempts == 1
	})
	e := outboxState(t, l, ledger.OutboxPending)[0]
	if want := now.Add(45 * time.Minute); !e.NextAttempt.Equal(want) {
		t.Errorf("next attempt %v, want %v", e.NextAttempt, want)
	}
	if e.LastError != retryableFailure.Error() {
		t.Errorf("last error %q", e.LastError)
	}
	if n := p.attemptsOf(e.ID); n != 1 {
		t.Errorf("%d attempts, want 1 (the next one is an hour away)", n)
	}
}

// TestDispatcherStopsCleanly: on shutdown an attempt in flight is cancelled and not counted; the event stays
// pending for the next start.
func TestDispatcherStopsCleanly(t *testing.T) {
	l := outboxLedger(t, routeTo("p"))
	mustFund(t, l, "w1", "", 100)
	p := newFakePartner()
	p.block = make(chan struct{}) // never released
	d := NewDispatcher(DispatcherConfig{Store: l, Partners: map[string]Deliverer{"p": p}})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { d.Run(ctx); close(stopped) }()
	debit(t, l, "w1", "D1", 10)
	eventually(t, "the attempt in flight", func() bool {
		evs := outboxState(t, l, ledger.OutboxPending)
		return len(evs) == 1 && p.attemptsOf(evs[0].ID) == 1
	})
	cancel()
	<-stopped
	evs := outboxState(t, l, ledger.OutboxPending)
	if len(evs) != 1 || evs[0].Attempts != 0 {
		t.Errorf("after shutdown: %+v, want one pending event with no attempt recorded", evs)
	}
}

// TestDispatcherConnectorDuplicateID: through the real connector client, a DUPLICATE_ID answer counts as
// delivered; INVALID_DATA dead-letters at once.
func TestDispatcherConnectorDuplicateID(t *testing.T) {
	var mu sync.Mutex
	answers := map[string]string{} // transactionId -> error code to answer
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			TransactionID string `json:"transactionId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		calls[body.TransactionID]++
		code := answers[body.TransactionID]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if code == "" {
			fmt.Fprint(w, `{"success":true,"uuid":"u1"}`)
			return
		}
		fmt.Fprintf(w, `{"success":false,"error_code":%q,"error_message":"as you like"}`, code)
	}))
	defer srv.Close()
	answers["D1"], answers["D2"] = connDuplicateID, connInvalidData
	l := outboxLedger(t, Route(true, false))
	mustFund(t, l, "w1", "", 100)
	c := NewConnector(ConnectorConfig{URL: srv.URL, APIKey: "k", User: "u", Password: "p"}, srv.Client(), nil)
	startDispatcher(t, DispatcherConfig{Store: l, Partners: map[string]Deliverer{PartnerConnector: ConnectorDeliverer{c}}})
	debit(t, l, "w1", "D1", 10)
	debit(t, l, "w1", "D2", 10)
	debit(t, l, "w1", "D3", 10)
	eventually(t, "every event final", func() bool { return len(outboxState(t, l, ledger.OutboxPending)) == 0 })
	states := map[string]string{}
	for _, e := range outboxState(t, l, "") {
		states[e.Reference] = e.State
	}
	want := map[string]string{"D1": ledger.OutboxDelivered, "D2": ledger.OutboxDead, "D3": ledger.OutboxDelivered}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", states, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["D1"] != 1 || calls["D2"] != 1 || calls["D3"] != 1 {
		t.Errorf("calls %v, want one each", calls)
	}
}

func TestDispatcherUnconfiguredPartnerWaits(t *testing.T) {
	l := outboxLedger(t, routeTo("gone", "p"))
	mustFund(t, l, "w1", "", 100)
	p := newFakePartner()
	_, m, _ := startDispatcher(t, DispatcherConfig{Store: l, Partners: map[string]Deliverer{"p": p}})
	debit(t, l, "w1", "D1", 10)
	eventually(t, "p delivered", func() bool { return len(outboxState(t, l, ledger.OutboxPending)) == 1 })
	evs := outboxState(t, l, ledger.OutboxPending)
	if evs[0].Partner != "gone" || evs[0].Attempts != 0 {
		t.Errorf("pending %+v, want the event of the unconfigured partner, untouched", evs[0])
	}
	eventually(t, "the gauge", func() bool { return value(t, m.OutboxPending.WithLabelValues("gone")) == 1 })
}

// delivererFunc adapts a function to Deliverer.
type delivererFunc func(ctx context.Context, e ledger.OutboxEvent) error

func (f delivererFunc) Deliver(ctx context.Context, e ledger.OutboxEvent) error { return f(ctx, e) }

// TestDispatcherAttemptTimeout: an attempt the partner never answers is cut off by the attempt timeout, counted,
// and retried; the other wallet's lane is delivered at its first attempt.
func TestDispatcherAttemptTimeout(t *testing.T) {
	l := outboxLedger(t, routeTo("p"))
	mustFund(t, l, "slow", "", 100)
	mustFund(t, l, "fast", "", 100)
	var mu sync.Mutex
	calls := map[string]int{}
	hang := delivererFunc(func(ctx context.Context, e ledger.OutboxEvent) error {
		mu.Lock()
		calls[e.WalletID]++
		first := calls[e.WalletID] == 1
		mu.Unlock()
		if e.WalletID == "slow" && first {
			<-ctx.Done() // never answers; only the attempt timeout ends the wait
			return ctx.Err()
		}
		return nil
	})
	startDispatcher(t, DispatcherConfig{Store: l, Partners: map[string]Deliverer{"p": hang}, AttemptTimeout: 50 * time.Millisecond})
	debit(t, l, "slow", "S1", 10)
	debit(t, l, "fast", "F1", 10)
	eventually(t, "both delivered", func() bool { return len(outboxState(t, l, ledger.OutboxPending)) == 0 })
	for _, e := range outboxState(t, l, "") {
		want := 1
		if e.WalletID == "slow" {
			want = 2
		}
		if e.State != ledger.OutboxDelivered || e.Attempts != want {
			t.Errorf("%s: %s after %d attempts, want delivered after %d", e.Reference, e.State, e.Attempts, want)
		}
	}
}
