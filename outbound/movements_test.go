package outbound

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletgate/walletgate/ledger"
)

// tamper sits in front of the simulator: for a request whose path (below the BestCash prefix) it names, it can
// drop the answer after the simulator did the work (an answer lost on the way back) or fail it without the
// simulator seeing it.
type tamper struct {
	mu       sync.Mutex
	loseNext map[string]int // path -> answers to lose after the work is done
	failNext map[string]int // path -> requests to answer 503 without doing the work
	slowNext map[string]int // path -> requests that do the work, then answer only after the client gave up
}

func (tp *tamper) take(m map[string]int, path string) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if m[path] > 0 {
		m[path]--
		return true
	}
	return false
}

func (tp *tamper) set(m map[string]int, path string, n int) {
	tp.mu.Lock()
	m[path] = n
	tp.mu.Unlock()
}

type bestCashRig struct {
	sim    *Simulator
	tamper *tamper
	l      *ledger.Ledger
	m      *Movements
}

func newBestCashRig(t *testing.T) *bestCashRig {
	t.Helper()
	sim := NewSimulator()
	tp := &tamper{loseNext: map[string]int{}, failNext: map[string]int{}, slowNext: map[string]int{}}
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, SimBestCashPath)
		if tp.take(tp.failNext, path) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if tp.take(tp.slowNext, path) {
			h.ServeHTTP(httptest.NewRecorder(), r)
			<-r.Context().Done() // the client's timeout fired and it hung up
			return
		}
		if tp.take(tp.loseNext, path) {
			h.ServeHTTP(httptest.NewRecorder(), r) // the work is done, the answer never arrives
			w.WriteHeader(http.StatusGatewayTimeout)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	bc, _, _ := sim.Configs(srv.URL)
	l := outboxLedger(t, nil)
	hc := srv.Client()
	hc.Timeout = 300 * time.Millisecond // the partner timeout of these tests
	return &bestCashRig{sim: sim, tamper: tp, l: l, m: NewMovements(l, NewBestCash(bc, hc, nil), nil)}
}

func (r *bestCashRig) wallet(t *testing.T, id string, funds int64) {
	t.Helper()
	if _, err := r.l.CreateWallet(context.Background(), ledger.NewWallet{ID: id, Currency: "566", Name: "W"}); err != nil {
		t.Fatal(err)
	}
	if funds > 0 {
		if _, err := r.l.Credit(context.Background(), ledger.Credit{WalletID: id, Amount: funds, Reference: "fund-" + id}); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *bestCashRig) balance(t *testing.T, id string) (balance, held int64) {
	t.Helper()
	w, err := r.l.Wallet(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return w.Balance, w.Held
}

// requests counts the simulator's BestCash requests whose path starts with prefix.
func (r *bestCashRig) requests(prefix string) int {
	n := 0
	for _, q := range r.sim.Requests(PartnerBestCash) {
		if strings.HasPrefix(q.Path, prefix) {
			n++
		}
	}
	return n
}

var bg = context.Background()

func TestTopupFlow(t *testing.T) {
	r := newBestCashRig(t)
	r.wallet(t, "w1", 0)

	// An unknown customer: 422 material, and no debit is ever attempted.
	tp, err := r.m.Topup(bg, ledger.NewTopup{Reference: "T0", WalletID: "w1", Amount: 5_000, Phone: "+2250000000000"})
	if !errors.Is(err, ErrUnknownCustomer) || tp.State != ledger.TopupRefused {
		t.Fatalf("Topup(unknown customer) = %+v, %v; want refused, ErrUnknownCustomer", tp, err)
	}
	if _, err := r.m.Topup(bg, ledger.NewTopup{Reference: "T0", WalletID: "w1", Amount: 5_000, Phone: "+2250000000000"}); !errors.Is(err, ErrUnknownCustomer) {
		t.Errorf("repeated refused top-up = %v", err)
	}
	if n := r.requests("/operations/debit"); n != 0 {
		t.Fatalf("%d BestCash debits for a customer that does not exist", n)
	}

	n := ledger.NewTopup{Reference: "T1", WalletID: "w1", Amount: 5_000, Phone: SimCustomerPhone}
	tp, err = r.m.Topup(bg, n)
	if err != nil || tp.State != ledger.TopupAwaiting {
		t.Fatalf("Topup = %+v, %v; want awaiting_confirmation", tp, err)
	}
	if tp, err := r.m.Topup(bg, n); err != nil || tp.State != ledger.TopupAwaiting || r.requests("/operations/debit") != 1 {
		t.Fatalf("repeated Topup = %+v, %v, %d debits", tp, err, r.requests("/operations/debit"))
	}
	// A wrong code: still awaiting, with BestCash's message; nothing credited.
	tp, err = r.m.ConfirmTopup(bg, "T1", "000000")
	if !errors.Is(err, ErrConfirmationRefused) || tp.State != ledger.TopupAwaiting || !strings.Contains(tp.Message, "invalid confirmation code") {
		t.Fatalf("ConfirmTopup(wrong code) = %+v, %v", tp, err)
	}
	if b, _ := r.balance(t, "w1"); b != 0 {
		t.Fatalf("balance %d after a wrong code", b)
	}
	for range 2 {
		tp, err = r.m.ConfirmTopup(bg, "T1", SimConfirmationCode)
		if err != nil || tp.State != ledger.TopupConfirmed {
			t.Fatalf("ConfirmTopup = %+v, %v", tp, err)
		}
	}
	if b, _ := r.balance(t, "w1"); b != 5_000 {
		t.Errorf("balance %d, want 5000 credited once", b)
	}
	var se *ledger.StateError
	if _, err := r.m.CancelTopup(bg, "T1"); !errors.As(err, &se) {
		t.Errorf("CancelTopup after confirmation = %v, want a StateError", err)
	}
	if _, err := r.m.ConfirmTopup(bg, "nope", "1"); !errors.Is(err, ledger.ErrTopupNotFound) {
		t.Errorf("ConfirmTopup(nope) = %v", err)
	}
}

func TestTopupCancel(t *testing.T) {
	r := newBestCashRig(t)
	r.wallet(t, "w1", 0)
	if _, err := r.m.Topup(bg, ledger.NewTopup{Reference: "T1", WalletID: "w1", Amount: 700, Phone: SimCustomerPhone}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		tp, err := r.m.CancelTopup(bg, "T1")
		if err != nil || tp.State != ledger.TopupCancelled {
			t.Fatalf("CancelTopup = %+v, %v", tp, err)
		}
	}
	if got := r.sim.BestCashStatus("T1"); got != "CANCELLED" {
		t.Errorf("BestCash status %q, want CANCELLED", got)
	}
	var se *ledger.StateError
	if _, err := r.m.ConfirmTopup(bg, "T1", SimConfirmationCode); !errors.As(err, &se) {
		t.Errorf("ConfirmTopup after cancel = %v, want a StateError", err)
	}
	if b, _ := r.balance(t, "w1"); b != 0 {
		t.Errorf("balance %d after a cancelled top-up", b)
	}
}

// TestTopupConfirmAnswerLost: the confirmation reached BestCash but its answer was lost: the status look-up tells
// it was confirmed, and the wallet is credited.
func TestTopupConfirmAnswerLost(t *testing.T) {
	r := newBestCashRig(t)
	r.wallet(t, "w1", 0)
	if _, err := r.m.Topup(bg, ledger.NewTopup{Reference: "T1", WalletID: "w1", Amount: 900, Phone: SimCustomerPhone}); err != nil {
		t.Fatal(err)
	}
	r.tamper.set(r.tamper.loseNext, "/operations/confirm-debit", 1)
	tp, err := r.m.ConfirmTopup(bg, "T1", SimConfirmationCode)
	if err != nil || tp.State != ledger.TopupConfirmed {
		t.Fatalf("ConfirmTopup = %+v, %v", tp, err)
	}
	if b, _ := r.balance(t, "w1"); b != 900 {
		t.Errorf("balance %d, want 900", b)
	}
}

func TestCashoutFlow(t *testing.T) {
	r := newBestCashRig(t)
	r.wallet(t, "w1", 10_000)
	newPhone := "+2250700000099"

	// Unknown customer without names: refused before anything is held or credited.
	_, err := r.m.Cashout(bg, ledger.NewCashout{Reference: "C0", WalletID: "w1", Amount: 1_000, Phone: newPhone})
	if !errors.Is(err, ErrUnknownCustomer) {
		t.Fatalf("Cashout(unknown customer, no names) = %v, want ErrUnknownCustomer", err)
	}
	if _, held := r.balance(t, "w1"); held != 0 || r.requests("/operations/credit") != 0 {
		t.Fatalf("held %d, %d credits after a refused cash-out", held, r.requests("/operations/credit"))
	}
	if _, err := r.l.Cashout(bg, "C0"); !errors.Is(err, ledger.ErrCashoutNotFound) {
		t.Errorf("the refused cash-out was recorded: %v", err)
	}

	// With names: BestCash creates the customer; the wallet is debited.
	n := ledger.NewCashout{Reference: "C1", WalletID: "w1", Amount: 4_000, Phone: newPhone, FirstName: "Ada", LastName: "Obi"}
	c, err := r.m.Cashout(bg, n)
	if err != nil || c.State != ledger.CashoutCompleted {
		t.Fatalf("Cashout = %+v, %v", c, err)
	}
	if c, err := r.m.Cashout(bg, n); err != nil || c.State != ledger.CashoutCompleted || r.requests("/operations/credit") != 1 {
		t.Fatalf("repeated Cashout = %+v, %v, %d credits", c, err, r.requests("/operations/credit"))
	}
	if b, held := r.balance(t, "w1"); b != 6_000 || held != 0 {
		t.Errorf("balance %d held %d, want 6000 and 0", b, held)
	}

	// Refusals by the ledger come before any BestCash call.
	before := len(r.sim.Requests(PartnerBestCash))
	for name, tc := range map[string]struct {
		n    ledger.NewCashout
		want error
	}{
		"more than available": {ledger.NewCashout{Reference: "C2", WalletID: "w1", Amount: 6_001, Phone: SimCustomerPhone}, ledger.ErrInsufficientFunds},
		"no such wallet":      {ledger.NewCashout{Reference: "C3", WalletID: "nope", Amount: 1, Phone: SimCustomerPhone}, ledger.ErrWalletNotFound},
		"bad phone":           {ledger.NewCashout{Reference: "C4", WalletID: "w1", Amount: 1, Phone: "12/34"}, ledger.ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := r.m.Cashout(bg, tc.n); !errors.Is(err, tc.want) {
				t.Errorf("Cashout = %v, want %v", err, tc.want)
			}
		})
	}
	if after := len(r.sim.Requests(PartnerBestCash)); after != before {
		t.Errorf("%d BestCash calls for refused cash-outs", after-before)
	}
}

// TestCashoutCreditAnswerLost: BestCash credited the customer but the answer was lost (a timeout): the status
// look-up resolves it at once, and the customer is credited once.
func TestCashoutCreditAnswerLost(t *testing.T) {
	r := newBestCashRig(t)
	r.wallet(t, "w1", 10_000)
	r.tamper.set(r.tamper.loseNext, "/operations/credit", 1)
	c, err := r.m.Cashout(bg, ledger.NewCashout{Reference: "C1", WalletID: "w1", Amount: 2_500, Phone: SimCustomerPhone})
	if err != nil || c.State != ledger.CashoutCompleted {
		t.Fatalf("Cashout = %+v, %v", c, err)
	}
	if n := r.requests("/operations/credit"); n != 1 {
		t.Errorf("%d credits at BestCash, want 1", n)
	}
	if b, held := r.balance(t, "w1"); b != 7_500 || held != 0 {
		t.Errorf("balance %d held %d", b, held)
	}
}

// TestCashoutCreditTimeout: the credit call times out (BestCash did the work, the answer came too late): the
// status look-up tells it succeeded; nothing is guessed and nothing is sent twice.
func TestCashoutCreditTimeout(t *testing.T) {
	r := newBestCashRig(t)
	r.wallet(t, "w1", 1_000)
	r.tamper.set(r.tamper.slowNext, "/operations/credit", 1)
	c, err := r.m.Cashout(bg, ledger.NewCashout{Reference: "C1", WalletID: "w1", Amount: 400, Phone: SimCustomerPhone})
	if err != nil || c.State != ledger.CashoutCompleted {
		t.Fatalf("Cashout = %+v, %v", c, err)
	}
	if n := r.requests("/operations/credit"); n != 1 {
		t.Errorf("%d credits sent, want 1", n)
	}
	if b, held := r.balance(t, "w1"); b != 600 || held != 0 {
		t.Errorf("balance %d held %d", b, held)
	}
}

// TestCashoutResolvedLater: BestCash is unreachable after the hold: the cash-out stays held (never guessed), and the
// resolver settles it once BestCash answers again, crediting the customer once.
func TestCashoutResolvedLater(t *testing.T) {
	r := newBestCashRig(t)
	r.wallet(t, "w1", 10_000)
	r.tamper.set(r.tamper.failNext, "/operations/credit", 2)
	r.tamper.set(r.tamper.failNext, "/operation", 1)
	c, err := r.m.Cashout(bg, ledger.NewCashout{Reference: "C1", WalletID: "w1", Amount: 3_000, Phone: SimCustomerPhone})
	if err != nil || c.State != ledger.CashoutHeld || c.Message == "" {
		t.Fatalf("Cashout = %+v, %v; want held with a note", c, err)
	}
	if b, held := r.balance(t, "w1"); b != 10_000 || held != 3_000 {
		t.Fatalf("balance %d held %d, want the amount held", b, held)
	}
	// First pass: the status says "not found", the credit is sent again and fails again (503): still held.
	if left, err := r.m.ResolveHeld(bg); err != nil || left != 1 {
		t.Fatalf("ResolveHeld = %d, %v; want 1 left", left, err)
	}
	// Second pass: BestCash answers.
	if left, err := r.m.ResolveHeld(bg); err != nil || left != 0 {
		t.Fatalf("ResolveHeld = %d, %v; want none left", left, err)
	}
	c, _ = r.l.Cashout(bg, "C1")
	if c.State != ledger.CashoutCompleted || r.sim.BestCashStatus("C1") != "SUCCESS" {
		t.Errorf("cash-out %s, BestCash %s", c.State, r.sim.BestCashStatus("C1"))
	}
	if b, held := r.balance(t, "w1"); b != 7_000 || held != 0 {
		t.Errorf("balance %d held %d", b, held)
	}
	// The resolver as a loop stops with its context.
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { r.m.RunResolver(ctx, time.Hour); close(done) }()
	cancel()
	<-done
}

// TestCashoutInProgress: a reference being worked on (by a request or the resolver) is not worked on twice at once.
func TestCashoutInProgress(t *testing.T) {
	r := newBestCashRig(t)
	r.wallet(t, "w1", 1_000)
	r.tamper.set(r.tamper.failNext, "/operations/credit", 1)
	r.tamper.set(r.tamper.failNext, "/operation", 1)
	if c, err := r.m.Cashout(bg, ledger.NewCashout{Reference: "C1", WalletID: "w1", Amount: 100, Phone: SimCustomerPhone}); err != nil || c.State != ledger.CashoutHeld {
		t.Fatalf("Cashout = %+v, %v", c, err)
	}
	if !r.m.lock("C1") {
		t.Fatal("C1 is still locked after its request returned")
	}
	if _, err := r.m.Cashout(bg, ledger.NewCashout{Reference: "C1", WalletID: "w1", Amount: 100, Phone: SimCustomerPhone}); !errors.Is(err, ErrInProgress) {
		t.Errorf("concurrent Cashout = %v, want ErrInProgress", err)
	}
	if left, err := r.m.ResolveHeld(bg); err != nil || left != 1 {
		t.Errorf("ResolveHeld while locked = %d, %v; want it skipped", left, err)
	}
	credits := r.requests("/operations/credit")
	r.m.unlock("C1")
	if left, err := r.m.ResolveHeld(bg); err != nil || left != 0 || r.requests("/operations/credit") != credits+1 {
		t.Errorf("ResolveHeld = %d, %v", left, err)
	}
}
