package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errDiskFull = errors.New("no space left on device (injected)")

func TestBeforeCommitFailureCommitsNothing(t *testing.T) {
	type step struct {
		name string
		call func(l *testLedger) (Answer, error)
		// check verifies the effect once the same call succeeded.
		check func(t *testing.T, l *testLedger)
	}
	steps := []step{
		{"debit", func(l *testLedger) (Answer, error) { return l.Debit(bg, dreq("q-d2", "d2", "w1", 100, 5)) },
			func(t *testing.T, l *testLedger) {
				wantBalances(t, l, map[string]int64{"w1": 1_000 - 320 - 105, "settlement:566": 400, "fee_income:566": 25})
			}},
		{"reversal", func(l *testLedger) (Answer, error) { return l.Reverse(bg, rreq("q-r1", "r1", "d1", "w1", 0)) },
			func(t *testing.T, l *testLedger) {
				wantBalances(t, l, map[string]int64{"w1": 1_000, "settlement:566": 0, "fee_income:566": 0})
			}},
		{"declined debit", func(l *testLedger) (Answer, error) { return l.Debit(bg, dreq("q-d3", "d3", "w1", 1e6, 0)) },
			func(t *testing.T, l *testLedger) {
				if tx, err := l.Transaction(bg, "d3"); err != nil || tx.Decline != ErrInsufficientFunds {
					t.Errorf("Transaction(d3) = %+v, %v", tx, err)
				}
			}},
		{"tombstone", func(l *testLedger) (Answer, error) { return l.Reverse(bg, rreq("q-r2", "r2", "ghost", "w1", 0)) },
			func(t *testing.T, l *testLedger) {
				if tx, err := l.Transaction(bg, "ghost"); err != nil || tx.State != StateTombstone {
					t.Errorf("Transaction(ghost) = %+v, %v", tx, err)
				}
			}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var failing atomic.Bool
			obs := &batchRecorder{}
			l := openTest(t, withOptions(Options{Observer: obs, BeforeCommit: func() error {
				if failing.Load() {
					return errDiskFull
				}
				return nil
			}}))
			mustWallet(t, l, "w1", "566", 0)
			mustCredit(t, l, "w1", 1_000)
			mustDebit(t, l, dreq("q-d1", "d1", "w1", 300, 20), nil)
			before := readBooks(t, l)

			failing.Store(true)
			for range 3 {
				if _, err := st.call(l); !errors.Is(err, ErrStorage) {
					t.Fatalf("with a failing commit: err = %v, want ErrStorage", err)
				}
			}
			after := readBooks(t, l)
			sameMoney(t, before, after)
			if after.Requests != before.Requests || after.Txns != before.Txns || after.LastBatch != before.LastBatch {
				t.Errorf("a failed commit left records: %+v -> %+v", before, after)
			}
			for _, rq := range []string{"q-d2", "q-r1", "q-d3", "q-r2"} {
				if _, err := l.Replay(bg, rq, [32]byte{}); !errors.Is(err, ErrNotRecorded) {
					t.Errorf("Replay(%s) err = %v, want ErrNotRecorded", rq, err)
				}
			}
			for _, ref := range []string{"d2", "r1", "d3", "r2", "ghost"} {
				if _, err := l.Transaction(bg, ref); !errors.Is(err, ErrTransactionNotFound) {
					t.Errorf("Transaction(%s) err = %v, want ErrTransactionNotFound", ref, err)
				}
			}
			if tx, _ := l.Transaction(bg, "d1"); tx.State != StateApproved || len(tx.Reversals) != 0 {
				t.Errorf("d1 changed: %+v", tx)
			}
			if n := obs.failures(); n != 3 {
				t.Errorf("observer saw %d failed commits, want 3", n)
			}
			// While writes fail, the ledger is not ready (its probe write fails too), and the probe left nothing.
			if err := l.Ready(); !errors.Is(err, ErrStorage) {
				t.Errorf("Ready while commits fail = %v, want ErrStorage", err)
			}
			if probed := readBooks(t, l); probed.LastBatch != before.LastBatch || probed.Requests != before.Requests {
				t.Errorf("the failed probe left records: %+v -> %+v", before, probed)
			}

			// The fault clears: the very same request is decided now, for the first time.
			failing.Store(false)
			a, err := st.call(l)
			if err != nil {
				t.Fatalf("after the fault cleared: %v", err)
			}
			if a.Replayed {
				t.Errorf("Replayed = true for the first committed answer")
			}
			st.check(t, l)
			again, err := st.call(l)
			if err != nil || !again.Replayed || string(again.Response) != string(a.Response) {
				t.Errorf("repeat = %q replayed %v, %v", again.Response, again.Replayed, err)
			}
		})
	}
}

func TestBeforeCommitFailureAdmin(t *testing.T) {
	var failing atomic.Bool
	l := openTest(t, withOptions(Options{BeforeCommit: func() error {
		if failing.Load() {
			return errDiskFull
		}
		return nil
	}}))
	mustWallet(t, l, "w1", "566", 0)
	failing.Store(true)
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateWallet", func() error {
			_, err := l.CreateWallet(bg, NewWallet{ID: "w2", Currency: "566", Name: "n"})
			return err
		}},
		{"Credit", func() error { _, err := l.Credit(bg, Credit{WalletID: "w1", Amount: 5, Reference: "c1"}); return err }},
		{"SetStatus", func() error { _, err := l.SetStatus(bg, "w1", StatusFrozen); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, ErrStorage) {
			t.Errorf("%s: err = %v, want ErrStorage", c.name, err)
		}
	}
	if _, err := l.Wallet(bg, "w2"); !errors.Is(err, ErrWalletNotFound) {
		t.Errorf("w2 exists after a failed commit: %v", err)
	}
	if w, _ := l.Wallet(bg, "w1"); w.Balance != 0 || w.Status != StatusActive {
		t.Errorf("w1 = %+v", w)
	}
	failing.Store(false)
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Errorf("%s after the fault: %v", c.name, err)
		}
	}
	if w, _ := l.Wallet(bg, "w1"); w.Balance != 5 || w.Status != StatusFrozen {
		t.Errorf("w1 = %+v", w)
	}
}

// writerGate is a BeforeCommit hook that, once armed, stops the writer inside its next commit until released.
type writerGate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newWriterGate() *writerGate {
	return &writerGate{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *writerGate) hook() error {
	if g.armed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
	}
	return nil
}

// waitQueued waits until n operations sit in the writer's queue.
func waitQueued(t *testing.T, l *testLedger, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(l.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d operations queued, waited for %d", len(l.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCancelledContextNeverApplied(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	before := readBooks(t, l)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	// submit may pick either branch of its select; try often enough to take both.
	for i := range 50 {
		rq := fmt.Sprintf("q%d", i)
		if _, err := l.Debit(ctx, dreq(rq, "d-"+rq, "w1", 10, 0)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Debit with a cancelled ctx: err = %v", err)
		}
		if _, err := l.Reverse(ctx, rreq("r"+rq, "r-"+rq, "ghost", "w1", 0)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Reverse with a cancelled ctx: err = %v", err)
		}
		if _, err := l.Credit(ctx, Credit{WalletID: "w1", Amount: 1, Reference: "c-" + rq}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Credit with a cancelled ctx: err = %v", err)
		}
	}
	after := readBooks(t, l)
	sameMoney(t, before, after)
	if after.Requests != before.Requests || after.Txns != before.Txns || after.Credits != before.Credits {
		t.Errorf("a cancelled operation left records")
	}
	// The same request with a live context is decided afresh.
	mustDebit(t, l, dreq("q0", "d-q0", "w1", 10, 0), nil)
}

func TestContextCancelledWhileQueued(t *testing.T) {
	gate := newWriterGate()
	l := openTest(t, withOptions(Options{BeforeCommit: gate.hook}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)

	gate.armed.Store(true)
	first := make(chan error, 1)
	go func() { _, err := l.Debit(bg, dreq("q1", "d1", "w1", 100, 0)); first <- err }()
	<-gate.entered // the writer is committing d1

	ctx, cancel := context.WithCancel(bg)
	queued := make(chan error, 1)
	go func() { _, err := l.Debit(ctx, dreq("q2", "d2", "w1", 200, 0)); queued <- err }()
	waitQueued(t, l, 1)
	cancel()
	select {
	case err := <-queued:
		t.Fatalf("a queued operation returned before the writer answered it: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(gate.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Errorf("queued op: err = %v, want context.Canceled", err)
	}
	wantBalances(t, l, map[string]int64{"w1": 900, "settlement:566": 100})
	if _, err := l.Transaction(bg, "d2"); !errors.Is(err, ErrTransactionNotFound) {
		t.Errorf("the cancelled debit was recorded: %v", err)
	}
}

func TestCloseCommitsQueuedOperations(t *testing.T) {
	gate := newWriterGate()
	l := openTest(t, withOptions(Options{BeforeCommit: gate.hook}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)

	gate.armed.Store(true)
	const n = 5
	errs := make(chan error, n)
	go func() { _, err := l.Debit(bg, dreq("q0", "d0", "w1", 10, 0)); errs <- err }()
	<-gate.entered
	for i := 1; i < n; i++ {
		go func() {
			_, err := l.Debit(bg, dreq(fmt.Sprintf("q%d", i), fmt.Sprintf("d%d", i), "w1", 10, 0))
			errs <- err
		}()
	}
	waitQueued(t, l, n-1)
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	// Close has begun (or is about to): new operations are refused, queued ones are not.
	deadline := time.Now().Add(10 * time.Second)
	for !errors.Is(l.Ready(), ErrClosed) {
		if time.Now().After(deadline) {
			t.Fatal("Close did not begin")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := l.Debit(bg, dreq("late", "late", "w1", 10, 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Debit after Close began: err = %v, want ErrClosed", err)
	}
	close(gate.release)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("queued debit: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	l.reopen()
	wantBalances(t, l, map[string]int64{"w1": 1_000 - n*10, "settlement:566": n * 10})
}

func TestClosed(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustDebit(t, l, dreq("q1", "d1", "w1", 10, 0), nil)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Ready(); !errors.Is(err, ErrClosed) {
		t.Errorf("Ready = %v, want ErrClosed", err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Debit", func() error { _, err := l.Debit(bg, dreq("q2", "d2", "w1", 10, 0)); return err }},
		{"Reverse", func() error { _, err := l.Reverse(bg, rreq("q3", "r3", "d1", "w1", 0)); return err }},
		{"CreateWallet", func() error {
			_, err := l.CreateWallet(bg, NewWallet{ID: "w2", Currency: "566", Name: "n"})
			return err
		}},
		{"Credit", func() error { _, err := l.Credit(bg, Credit{WalletID: "w1", Amount: 1, Reference: "c"}); return err }},
		{"SetStatus", func() error { _, err := l.SetStatus(bg, "w1", StatusFrozen); return err }},
		{"Replay", func() error { _, err := l.Replay(bg, "q1", dreq("q1", "d1", "w1", 10, 0).Fingerprint); return err }},
		{"Wallet", func() error { _, err := l.Wallet(bg, "w1"); return err }},
		{"Statement", func() error { _, _, err := l.Statement(bg, "w1", 0, 10); return err }},
		{"Transaction", func() error { _, err := l.Transaction(bg, "d1"); return err }},
		{"Audit", func() error { _, err := l.Audit(bg); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("err = %v, want ErrClosed", err)
			}
		})
	}
	// Concurrent Close calls all return once the file is closed.
	l.reopen()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := l.Close(); err != nil {
				t.Errorf("concurrent Close: %v", err)
			}
		})
	}
	wg.Wait()
	if err := l.Ready(); !errors.Is(err, ErrClosed) {
		t.Errorf("Ready = %v, want ErrClosed", err)
	}
}
