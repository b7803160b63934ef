package ledger

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// testRoute mirrors CONTRACT 5: the connector hears every debit decision and every reversal that moved money; the
// virtual account only approved movements of wallets that have one.
func testRoute(e Event) []string {
	out := []string{"connector"}
	if e.VirtualAccountID != "" && e.Approved() {
		out = append(out, "va")
	}
	return out
}

// summary is an outbox event in one comparable line.
func summary(e OutboxEvent) string {
	s := fmt.Sprintf("%s %s %s %s amount=%d fee=%d", e.Partner, e.Kind, e.Reference, e.WalletID, e.Amount, e.Fee)
	if e.Decline != nil {
		s += " declined=" + declineName(e.Decline)
	}
	if e.Kind == KindReversal {
		s += fmt.Sprintf(" original=%s full=%v", e.Original, e.Full)
	}
	if e.VirtualAccountID != "" {
		s += " va=" + e.VirtualAccountID
	}
	return s
}

func outboxSummary(t *testing.T, l *testLedger, state string) []string {
	t.Helper()
	evs, next, err := l.Outbox(bg, state, 0, 0)
	if err != nil {
		t.Fatalf("Outbox(%q): %v", state, err)
	}
	if next != 0 {
		t.Fatalf("Outbox(%q): more than one page", state)
	}
	out := []string{}
	for _, e := range evs {
		out = append(out, summary(e))
	}
	return out
}

func wantOutbox(t *testing.T, l *testLedger, state string, want ...string) {
	t.Helper()
	got := outboxSummary(t, l, state)
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("outbox %q:\n\tgot  %s\n\twant %s", state, strings.Join(got, "\n\t     "), strings.Join(want, "\n\t     "))
	}
}

func mustWalletVA(t *testing.T, l *testLedger, id, va string) {
	t.Helper()
	if _, err := l.CreateWallet(bg, NewWallet{ID: id, Currency: "566", Name: "Wallet " + id, VirtualAccountID: va}); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxFollowsDecisions: every new debit decision and every reversal that moved money is enqueued, once per
// partner the route names, in the decision's own commit; replays, repeated references, reversals that moved
// nothing and declined reversals enqueue nothing.
func TestOutboxFollowsDecisions(t *testing.T) {
	l := openTest(t, withOptions(Options{Route: testRoute}))
	mustWalletVA(t, l, "w1", "VA-1")
	mustWallet(t, l, "w2", "566", 0)
	mustCredit(t, l, "w1", 10_000)
	mustCredit(t, l, "w2", 100)
	wantOutbox(t, l, "") // credits are not switch decisions

	steps := []struct {
		name string
		do   func()
		want []string // new events, in order
	}{
		{"approved debit with a virtual account", func() { mustDebit(t, l, dreq("r1", "D1", "w1", 1_000, 50), nil) },
			[]string{"connector debit D1 w1 amount=1000 fee=50 va=VA-1", "va debit D1 w1 amount=1000 fee=50 va=VA-1"}},
		{"replay of the same requestId", func() {
			a, err := l.Debit(bg, dreq("r1", "D1", "w1", 1_000, 50))
			if err != nil || !a.Replayed {
				t.Fatalf("replay: %+v %v", a, err)
			}
		}, nil},
		{"same reference, new requestId", func() { mustDebit(t, l, dreq("r1b", "D1", "w1", 1_000, 50), nil) }, nil},
		{"declined debit (insufficient funds)", func() { mustDebit(t, l, dreq("r2", "D2", "w2", 1_000, 0), ErrInsufficientFunds) },
			[]string{"connector debit D2 w2 amount=1000 fee=0 declined=insufficient_funds"}},
		{"declined debit on a wallet with a virtual account", func() {
			mustDebit(t, l, dreq("r3", "D3", "w1", 1_000_000, 0), ErrInsufficientFunds)
		}, []string{"connector debit D3 w1 amount=1000000 fee=0 declined=insufficient_funds va=VA-1"}},
		{"debit of an unknown wallet", func() { mustDebit(t, l, dreq("r4", "D4", "nope", 10, 0), ErrWalletNotFound) },
			[]string{"connector debit D4 nope amount=10 fee=0 declined=wallet_not_found"}},
		{"partial reversal", func() { mustReverse(t, l, rreq("v1", "R1", "D1", "w1", 400), nil) },
			[]string{"connector reversal R1 w1 amount=400 fee=0 original=D1 full=false va=VA-1",
				"va reversal R1 w1 amount=400 fee=0 original=D1 full=false va=VA-1"}},
		{"repeated partial reversal", func() { mustReverse(t, l, rreq("v1b", "R1", "D1", "w1", 400), nil) }, nil},
		{"full reversal of the rest, with the fee", func() { mustReverse(t, l, rreq("v2", "R2", "D1", "w1", 0), nil) },
			[]string{"connector reversal R2 w1 amount=600 fee=50 original=D1 full=true va=VA-1",
				"va reversal R2 w1 amount=600 fee=50 original=D1 full=true va=VA-1"}},
		{"reversal of a fully reversed debit", func() { mustReverse(t, l, rreq("v3", "R3", "D1", "w1", 0), nil) }, nil},
		{"reversal of a declined debit", func() { mustReverse(t, l, rreq("v4", "R4", "D2", "w2", 0), nil) }, nil},
		{"reversal of an unknown debit", func() { mustReverse(t, l, rreq("v5", "R5", "D9", "w1", 0), ErrOriginalNotFound) }, nil},
		{"late debit after its reversal (tombstone)", func() { mustDebit(t, l, dreq("r9", "D9", "w1", 10, 0), ErrAlreadyReversed) },
			[]string{"connector debit D9 w1 amount=10 fee=0 declined=already_reversed va=VA-1"}},
		{"reversal above what remains", func() {
			mustDebit(t, l, dreq("r5", "D5", "w2", 50, 0), nil)
			mustReverse(t, l, rreq("v6", "R6", "D5", "w2", 60), ErrExceedsRemaining)
		}, []string{"connector debit D5 w2 amount=50 fee=0"}},
	}
	var want []string
	for _, s := range steps {
		s.do()
		want = append(want, s.want...)
		got := outboxSummary(t, l, "")
		if !slices.Equal(got, want) {
			t.Fatalf("after %s:\n\tgot  %s\n\twant %s", s.name, strings.Join(got, "\n\t     "), strings.Join(want, "\n\t     "))
		}
	}
	wantOutbox(t, l, OutboxPending, want...)
	wantOutbox(t, l, OutboxDead)

	// The transaction look-up finds each transaction's deliveries, debit and reversal namespaces apart.
	for ref, n := range map[string]int{"D1": 2, "D2": 1, "D3": 1, "D5": 1} {
		evs, err := l.Deliveries(bg, KindDebit, ref)
		if err != nil || len(evs) != n {
			t.Errorf("Deliveries(debit %s) = %d events, %v; want %d", ref, len(evs), err, n)
		}
	}
	if evs, err := l.Deliveries(bg, KindReversal, "R2"); err != nil || len(evs) != 2 || !evs[0].Full {
		t.Errorf("Deliveries(reversal R2) = %+v, %v", evs, err)
	}
	if evs, err := l.Deliveries(bg, KindReversal, "D1"); err != nil || len(evs) != 0 {
		t.Errorf("Deliveries(reversal D1) = %+v, %v; want none", evs, err)
	}
}

// TestOutboxWithoutRoute: a ledger opened without a route enqueues nothing.
func TestOutboxWithoutRoute(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 100)
	mustDebit(t, l, dreq("r1", "D1", "w1", 10, 0), nil)
	wantOutbox(t, l, "")
	heads, pending, err := l.OutboxHeads(bg)
	if err != nil || len(heads) != 0 || len(pending) != 0 {
		t.Errorf("OutboxHeads = %v, %v, %v", heads, pending, err)
	}
}

// TestOutboxRolledBackWithTheDecision: when the batch fails before the commit point, neither the movement nor its
// outbox record exists; the retry writes both once.
func TestOutboxRolledBackWithTheDecision(t *testing.T) {
	var fail bool
	l := openTest(t, withOptions(Options{Route: testRoute, BeforeCommit: func() error {
		if fail {
			return errors.New("disk full")
		}
		return nil
	}}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 100)
	fail = true
	if _, err := l.Debit(bg, dreq("r1", "D1", "w1", 10, 0)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Debit = %v, want ErrStorage", err)
	}
	wantOutbox(t, l, "")
	fail = false
	mustDebit(t, l, dreq("r1", "D1", "w1", 10, 0), nil)
	wantOutbox(t, l, "", "connector debit D1 w1 amount=10 fee=0")
}

// TestOutboxHeads: one head per lane (partner, wallet), in id order; the next event of a lane shows only after its
// head is delivered or dead; records of a batch not known to be durable are never handed out.
func TestOutboxHeads(t *testing.T) {
	l := openTest(t, withOptions(Options{Route: testRoute}))
	mustWalletVA(t, l, "w1", "VA-1")
	mustWallet(t, l, "w2", "566", 0)
	mustCredit(t, l, "w1", 10_000)
	mustCredit(t, l, "w2", 10_000)
	mustDebit(t, l, dreq("r1", "D1", "w1", 10, 0), nil)
	mustDebit(t, l, dreq("r2", "D2", "w1", 20, 0), nil)
	mustDebit(t, l, dreq("r3", "D3", "w2", 30, 0), nil)

	heads := func() []string {
		t.Helper()
		hs, _, err := l.OutboxHeads(bg)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, h.Partner+" "+h.Reference)
		}
		return out
	}
	if got, want := heads(), []string{"connector D1", "va D1", "connector D3"}; !slices.Equal(got, want) {
		t.Fatalf("heads = %v, want %v", got, want)
	}
	_, pending, _ := l.OutboxHeads(bg)
	if pending["connector"] != 3 || pending["va"] != 2 {
		t.Errorf("pending = %v, want connector 3, va 2", pending)
	}

	evs, _, _ := l.Outbox(bg, OutboxPending, 0, 0)
	id := func(partner, ref string) uint64 {
		for _, e := range evs {
			if e.Partner == partner && e.Reference == ref {
				return e.ID
			}
		}
		t.Fatalf("no event %s %s", partner, ref)
		return 0
	}
	// A failed attempt keeps the head in place.
	next := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := l.RecordDelivery(bg, id("connector", "D1"), Attempt{Error: "HTTP 503", NextAttempt: next})
	if err != nil || e.State != OutboxPending || e.Attempts != 1 || !e.NextAttempt.Equal(next) || e.LastError != "HTTP 503" {
		t.Fatalf("RecordDelivery(retry) = %+v, %v", e, err)
	}
	if got, want := heads(), []string{"connector D1", "va D1", "connector D3"}; !slices.Equal(got, want) {
		t.Fatalf("heads after a failed attempt = %v, want %v", got, want)
	}
	// Delivered: the lane moves on. Dead: the lane moves on too.
	if e, err := l.RecordDelivery(bg, id("connector", "D1"), Attempt{Delivered: true}); err != nil || e.State != OutboxDelivered || e.Attempts != 2 {
		t.Fatalf("RecordDelivery(delivered) = %+v, %v", e, err)
	}
	if e, err := l.RecordDelivery(bg, id("va", "D1"), Attempt{Dead: true, Error: "invalid account"}); err != nil || e.State != OutboxDead {
		t.Fatalf("RecordDelivery(dead) = %+v, %v", e, err)
	}
	if got, want := heads(), []string{"connector D2", "va D2", "connector D3"}; !slices.Equal(got, want) {
		t.Fatalf("heads after delivery = %v, want %v", got, want)
	}
	// A second outcome for a finished event changes nothing.
	if e, err := l.RecordDelivery(bg, id("connector", "D1"), Attempt{Dead: true, Error: "late"}); err != nil || e.State != OutboxDelivered || e.Attempts != 2 {
		t.Errorf("RecordDelivery on a delivered event = %+v, %v", e, err)
	}

	// Not yet durable: hidden (and its lane with it), the other lanes unaffected.
	mustWallet(t, l, "w3", "566", 0)
	mustCredit(t, l, "w3", 100)
	mustDebit(t, l, dreq("r4", "D4", "w3", 1, 0), nil)
	if got, want := heads(), []string{"connector D2", "va D2", "connector D3", "connector D4"}; !slices.Equal(got, want) {
		t.Fatalf("heads = %v, want %v", got, want)
	}
	durable := l.durable.Load()
	l.durable.Store(durable - 1) // as between the debit's commit and its fsync being known
	if got, want := heads(), []string{"connector D2", "va D2", "connector D3"}; !slices.Equal(got, want) {
		t.Errorf("heads with D4's batch not durable = %v, want %v", got, want)
	}
	l.durable.Store(durable)
}

// TestRetryOutbox: a dead event is re-queued with its attempts reset; a delivered one cannot be; unknown ids are
// ErrOutboxNotFound.
func TestRetryOutbox(t *testing.T) {
	l := openTest(t, withOptions(Options{Route: testRoute}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 100)
	mustDebit(t, l, dreq("r1", "D1", "w1", 10, 0), nil)
	mustDebit(t, l, dreq("r2", "D2", "w1", 10, 0), nil)
	evs, _, _ := l.Outbox(bg, "", 0, 0)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	a, b := evs[0].ID, evs[1].ID
	for range 3 {
		if _, err := l.RecordDelivery(bg, a, Attempt{Error: "timeout", NextAttempt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.RecordDelivery(bg, a, Attempt{Dead: true, Error: "timeout"}); err != nil {
		t.Fatal(err)
	}
	wantOutbox(t, l, OutboxDead, "connector debit D1 w1 amount=10 fee=0")
	<-l.OutboxWake() // drain the debit's wake-up
	e, err := l.RetryOutbox(bg, a)
	if err != nil || e.State != OutboxPending || e.Attempts != 0 || e.LastError != "timeout" {
		t.Fatalf("RetryOutbox = %+v, %v", e, err)
	}
	select {
	case <-l.OutboxWake():
	default:
		t.Error("RetryOutbox did not wake the dispatcher")
	}
	wantOutbox(t, l, OutboxDead)
	wantOutbox(t, l, OutboxPending, "connector debit D1 w1 amount=10 fee=0", "connector debit D2 w1 amount=10 fee=0")
	if _, err := l.RecordDelivery(bg, b, Attempt{Delivered: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RetryOutbox(bg, b); !errors.Is(err, ErrOutboxDelivered) {
		t.Errorf("RetryOutbox(delivered) = %v, want ErrOutboxDelivered", err)
	}
	if _, err := l.RetryOutbox(bg, 999); !errors.Is(err, ErrOutboxNotFound) {
		t.Errorf("RetryOutbox(999) = %v, want ErrOutboxNotFound", err)
	}
	if _, err := l.RecordDelivery(bg, 999, Attempt{Delivered: true}); !errors.Is(err, ErrOutboxNotFound) {
		t.Errorf("RecordDelivery(999) = %v, want ErrOutboxNotFound", err)
	}
	if _, err := l.OutboxEventByID(bg, 999); !errors.Is(err, ErrOutboxNotFound) {
		t.Errorf("OutboxEventByID(999) = %v, want ErrOutboxNotFound", err)
	}
	if _, _, err := l.Outbox(bg, "bogus", 0, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Outbox(bogus) = %v, want ErrInvalid", err)
	}
}

// TestOutboxPagingAndReopen: pages follow ids; pending events, their attempts and the dead letters survive a
// restart.
func TestOutboxPagingAndReopen(t *testing.T) {
	l := openTest(t, withOptions(Options{Route: testRoute}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	for i := range 7 {
		mustDebit(t, l, dreq(fmt.Sprint("r", i), fmt.Sprint("D", i), "w1", 1, 0), nil)
	}
	var all []uint64
	for after := uint64(0); ; {
		evs, next, err := l.Outbox(bg, OutboxPending, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			all = append(all, e.ID)
		}
		if next == 0 {
			break
		}
		after = next
	}
	if len(all) != 7 || !slices.IsSorted(all) {
		t.Fatalf("paged ids = %v, want 7 in order", all)
	}
	if _, err := l.RecordDelivery(bg, all[0], Attempt{Dead: true, Error: "bad"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RecordDelivery(bg, all[1], Attempt{Error: "slow", NextAttempt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	l.reopen()
	_, pending, err := l.OutboxHeads(bg)
	if err != nil || pending["connector"] != 6 {
		t.Errorf("after reopen: pending %v, %v; want 6", pending, err)
	}
	if e, err := l.OutboxEventByID(bg, all[1]); err != nil || e.Attempts != 1 || e.LastError != "slow" {
		t.Errorf("after reopen: %+v, %v", e, err)
	}
	wantOutbox(t, l, OutboxDead, "connector debit D0 w1 amount=1 fee=0")
}
