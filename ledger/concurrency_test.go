package ledger

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// batchRecorder is an Observer that keeps every batch size.
type batchRecorder struct {
	mu     sync.Mutex
	sizes  []int
	errors int
}

func (r *batchRecorder) ObserveCommit(_ time.Duration, n int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sizes = append(r.sizes, n)
	if err != nil {
		r.errors++
	}
}

func (r *batchRecorder) stats() (batches, biggest, ops int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.sizes {
		ops += n
		biggest = max(biggest, n)
	}
	return len(r.sizes), biggest, ops
}

func (r *batchRecorder) failures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errors
}

// race starts n goroutines that wait on one barrier, runs fn(i) in each and waits for all.
func race(n int, fn func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			fn(i)
		})
	}
	start.Done()
	done.Wait()
}

func TestConcurrentDebitsOneWallet(t *testing.T) {
	const (
		goroutines = 200
		amount     = 100
		fee        = 7
	)
	tests := []struct {
		name       string
		approvals  int   // the wallet is funded for exactly this many
		extra      int64 // plus this remainder
		batchDelay time.Duration
	}{
		{"funded for 120 exactly", 120, 0, 0},
		{"funded for 57 and a remainder, batched", 57, 106, 3 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs := &batchRecorder{}
			l := openTest(t, withOptions(Options{BatchDelay: tc.batchDelay, Observer: obs}))
			mustWallet(t, l, "w1", "566", 0)
			mustCredit(t, l, "w1", int64(tc.approvals)*(amount+fee)+tc.extra)
			_, _, opsBefore := obs.stats()

			answers := make([]Answer, goroutines)
			errs := make([]error, goroutines)
			race(goroutines, func(i int) {
				answers[i], errs[i] = l.Debit(bg, dreq(fmt.Sprintf("rq-%d", i), fmt.Sprintf("t-%d", i), "w1", amount, fee))
			})
			approved, declined := 0, 0
			for i, a := range answers {
				rq := fmt.Sprintf("rq-%d", i)
				switch {
				case errs[i] != nil:
					t.Errorf("%s: %v", rq, errs[i])
				case a.Outcome.Approved():
					approved++
					checkAnswer(t, a, rq, nil, false)
				case a.Outcome.Decline == ErrInsufficientFunds:
					declined++
					checkAnswer(t, a, rq, ErrInsufficientFunds, false)
				default:
					t.Errorf("%s: unexpected decline %v", rq, a.Outcome.Decline)
				}
			}
			if approved != tc.approvals || declined != goroutines-tc.approvals {
				t.Errorf("approved %d, declined %d; want %d and %d", approved, declined, tc.approvals, goroutines-tc.approvals)
			}
			wantBalances(t, l, map[string]int64{
				"w1":             tc.extra,
				"settlement:566": int64(tc.approvals) * amount,
				"fee_income:566": int64(tc.approvals) * fee,
			})
			if b := readBooks(t, l); b.Entries != 1+tc.approvals || b.Requests != goroutines || b.Txns != goroutines {
				t.Errorf("entries %d, requests %d, txns %d", b.Entries, b.Requests, b.Txns)
			}
			batches, biggest, ops := obs.stats()
			if ops-opsBefore != goroutines {
				t.Errorf("observer saw %d operations, want %d", ops-opsBefore, goroutines)
			}
			t.Logf("%d commits, biggest batch %d", batches, biggest)
			if tc.batchDelay > 0 && biggest < 2 {
				t.Errorf("no batch of more than one operation in %d commits", batches)
			}
		})
	}
}

func TestConcurrentIdenticalRequests(t *testing.T) {
	const n = 50
	l := openTest(t, withOptions(Options{BatchDelay: time.Millisecond}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	answers := make([]Answer, n)
	errs := make([]error, n)
	race(n, func(i int) {
		d := dreq("same-rq", "same-t", "w1", 300, 10)
		// Each caller renders with its own closure; only the first one may be stored.
		d.Render = func(o Outcome) ([]byte, error) {
			return fmt.Appendf(nil, "same-rq:%s:by-%d", outcomeName(o.Decline), i), nil
		}
		answers[i], errs[i] = l.Debit(bg, d)
	})
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !answers[i].Replayed {
			fresh++
		}
		if string(answers[i].Response) != string(answers[0].Response) || answers[i].Outcome.Decline != nil {
			t.Errorf("caller %d got %q (%v), caller 0 got %q", i, answers[i].Response, answers[i].Outcome.Decline, answers[0].Response)
		}
	}
	if fresh != 1 {
		t.Errorf("%d callers decided anew, want exactly 1", fresh)
	}
	wantBalances(t, l, map[string]int64{"w1": 690, "settlement:566": 300, "fee_income:566": 10})
	if b := readBooks(t, l); b.Entries != 2 || b.Requests != 1 {
		t.Errorf("entries %d, requests %d; want 2 and 1", b.Entries, b.Requests)
	}
}

func TestConcurrentSameReference(t *testing.T) {
	const n = 50
	tests := []struct {
		name  string
		build func(i int) (rq string, call func(l *testLedger) (Answer, error))
		want  map[string]int64
	}{
		{"debit", func(i int) (string, func(*testLedger) (Answer, error)) {
			rq := fmt.Sprintf("rq-%d", i)
			return rq, func(l *testLedger) (Answer, error) { return l.Debit(bg, dreq(rq, "shared", "w1", 250, 5)) }
		}, map[string]int64{"w1": 745, "settlement:566": 250, "fee_income:566": 5}},
		{"reversal", func(i int) (string, func(*testLedger) (Answer, error)) {
			rq := fmt.Sprintf("rq-%d", i)
			return rq, func(l *testLedger) (Answer, error) { return l.Reverse(bg, rreq(rq, "rev", "d1", "w1", 100)) }
		}, map[string]int64{"w1": 780, "settlement:566": 200, "fee_income:566": 20}},
		{"reversals with distinct references", func(i int) (string, func(*testLedger) (Answer, error)) {
			rq := fmt.Sprintf("rq-%d", i)
			return rq, func(l *testLedger) (Answer, error) {
				return l.Reverse(bg, rreq(rq, fmt.Sprintf("rev-%d", i), "d1", "w1", 0))
			}
		}, map[string]int64{"w1": 1_000, "settlement:566": 0, "fee_income:566": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, withOptions(Options{BatchDelay: time.Millisecond}))
			mustWallet(t, l, "w1", "566", 0)
			mustCredit(t, l, "w1", 1_000)
			if tc.name != "debit" {
				mustDebit(t, l, dreq("rq-d1", "d1", "w1", 300, 20), nil)
			}
			before := readBooks(t, l)
			race(n, func(i int) {
				rq, call := tc.build(i)
				a, err := call(l)
				if err != nil {
					t.Errorf("%s: %v", rq, err)
					return
				}
				checkAnswer(t, a, rq, nil, false)
			})
			wantBalances(t, l, tc.want)
			if b := readBooks(t, l); b.Entries != before.Entries+1 || b.Requests != before.Requests+n {
				t.Errorf("entries %d -> %d (want +1), requests %d -> %d (want +%d)", before.Entries, b.Entries,
					before.Requests, b.Requests, n)
			}
		})
	}
}

func TestConcurrentMixedWallets(t *testing.T) {
	// Debits, reversals, credits and enquiries on several wallets at once: every movement balanced, every wallet
	// at its exact expected balance.
	const wallets, perWallet = 8, 25
	l := openTest(t)
	for w := range wallets {
		mustWallet(t, l, fmt.Sprintf("w%d", w), "566", 0)
		mustCredit(t, l, fmt.Sprintf("w%d", w), 10_000)
	}
	race(wallets*perWallet, func(i int) {
		w, k := fmt.Sprintf("w%d", i%wallets), i/wallets
		ref := fmt.Sprintf("%s-d%d", w, k)
		if _, err := l.Debit(bg, dreq("q-"+ref, ref, w, 100, 1)); err != nil {
			t.Error(err)
		}
		if k%2 == 0 {
			if _, err := l.Reverse(bg, rreq("q-r-"+ref, "r-"+ref, ref, w, 0)); err != nil {
				t.Error(err)
			}
		}
		if _, err := l.Wallet(bg, w); err != nil {
			t.Error(err)
		}
	})
	reversed := (perWallet + 1) / 2
	kept := perWallet - reversed
	for w := range wallets {
		wantBalances(t, l, map[string]int64{fmt.Sprintf("w%d", w): 10_000 - int64(kept)*101})
	}
	wantBalances(t, l, map[string]int64{"settlement:566": int64(wallets*kept) * 100, "fee_income:566": int64(wallets * kept)})
	if errors.Is(l.Ready(), ErrClosed) {
		t.Fatal("closed")
	}
}
