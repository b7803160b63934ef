package ledger

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func ereq(requestID, wallet, currency string) EnquiryRequest {
	return EnquiryRequest{WalletID: wallet, Currency: currency, Envelope: Envelope{RequestID: requestID,
		Fingerprint: fingerprint("enquiry", requestID, wallet), Render: render(requestID)}}
}

// settle waits until every enquiry record handed to the writer was recorded, dropped or failed.
func (tl *testLedger) settle() {
	tl.t.Helper()
	tl.enquiries.settling.Wait()
	if n := tl.enquiries.len(); n != 0 {
		tl.t.Errorf("%d enquiry records still pending after they settled", n)
	}
}

// stuckWriter is a BeforeCommit hook that, once armed, holds the next commit until released.
type stuckWriter struct {
	armed   atomic.Bool
	stuck   chan struct{}
	release chan struct{}
}

func newStuckWriter() *stuckWriter {
	return &stuckWriter{stuck: make(chan struct{}), release: make(chan struct{})}
}

func (s *stuckWriter) hook() error {
	if s.armed.CompareAndSwap(true, false) {
		s.stuck <- struct{}{}
		<-s.release
	}
	return nil
}

func TestEnquire(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 10), nil)
	mustWallet(t, l, "frozen", "566", 0)
	mustSetStatus(t, l, "frozen", StatusFrozen)
	mustWallet(t, l, "closed", "566", 0)
	mustSetStatus(t, l, "closed", StatusClosed)

	tests := []struct {
		name string
		q    EnquiryRequest
		want error
	}{
		{"approved", ereq("e1", "w1", "566"), nil},
		{"approved without a currency", ereq("e2", "w1", ""), nil},
		{"unknown wallet", ereq("e3", "nope", ""), ErrWalletNotFound},
		{"frozen", ereq("e4", "frozen", ""), ErrWalletNotActive},
		{"closed", ereq("e5", "closed", ""), ErrWalletNotActive},
		{"another currency", ereq("e6", "w1", "978"), ErrCurrencyMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := readBooks(t, l)
			a, err := l.Enquire(bg, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, a, tc.q.RequestID, tc.want, false)
			if tc.want == nil {
				w := a.Outcome.Wallet
				if w == nil || w.ID != "w1" || w.Balance != 1_000 || w.Held != 310 || w.Available() != 690 || w.Name != "Wallet w1" || w.Currency != "566" {
					t.Errorf("wallet %+v", w)
				}
			} else if a.Outcome.Wallet != nil {
				t.Errorf("a decline carries a wallet: %+v", a.Outcome.Wallet)
			}
			l.settle()
			// No money moves; only the requestId is remembered, with the answer's exact bytes.
			after := readBooks(t, l)
			sameMoney(t, before, after)
			if after.Requests != before.Requests+1 || after.Txns != before.Txns {
				t.Errorf("an enquiry wrote: %+v -> %+v", before, after)
			}
			r, err := l.Replay(bg, tc.q.RequestID, tc.q.Fingerprint)
			if err != nil {
				t.Fatalf("Replay after an enquiry: %v", err)
			}
			checkAnswer(t, r, tc.q.RequestID, tc.want, true)
		})
	}
}

// Repeats of an enquiry's requestId, once its record is durable: the stored bytes, even after the balance moved;
// another message under the requestId is a conflict and stores nothing.
func TestEnquireIdempotency(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)

	first := ereq("e1", "w1", "")
	balanceRender := func(o Outcome) ([]byte, error) { return fmt.Appendf(nil, "e1:%d", o.Wallet.Available()), nil }
	first.Render = balanceRender
	a, err := l.Enquire(bg, first)
	if err != nil || string(a.Response) != "e1:1000" || a.Replayed {
		t.Fatalf("first enquiry: %q %v %v", a.Response, a.Replayed, err)
	}
	l.settle()
	mustDebit(t, l, dreq("d1", "t1", "w1", 100, 0), nil)

	again, err := l.Enquire(bg, first)
	if err != nil || string(again.Response) != "e1:1000" || !again.Replayed || again.Outcome.Decline != nil {
		t.Errorf("repeat after a debit: %q replayed=%v %v, want the first answer", again.Response, again.Replayed, err)
	}
	other := ereq("e1", "w1", "")
	other.Fingerprint = fingerprint("enquiry", "e1", "w1", "another reference")
	if _, err := l.Enquire(bg, other); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("another enquiry under the requestId: %v, want ErrRequestConflict", err)
	}
	before := readBooks(t, l)
	if _, err := l.Debit(bg, dreq("e1", "t2", "w1", 100, 0)); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("a debit under the enquiry's requestId: %v, want ErrRequestConflict", err)
	}
	if _, err := l.PlaceLien(bg, lpreq("e1", "L1", "w1", 100, 0)); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("a place-lien under the enquiry's requestId: %v, want ErrRequestConflict", err)
	}
	after := readBooks(t, l)
	sameMoney(t, before, after)
	if after.Requests != before.Requests || after.Txns != before.Txns {
		t.Errorf("a conflict wrote: %+v -> %+v", before, after)
	}

	// A requestId a debit took first is a conflict for an enquiry, and nothing is remembered for the enquiry.
	if _, err := l.Enquire(bg, ereq("d1", "w1", "")); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("an enquiry under a debit's requestId: %v, want ErrRequestConflict", err)
	}
	if n := l.enquiries.len(); n != 0 {
		t.Errorf("%d pending after a conflict", n)
	}

	// Durable means durable: the record survives a restart.
	l.reopen()
	r, err := l.Replay(bg, "e1", first.Fingerprint)
	if err != nil || string(r.Response) != "e1:1000" || !r.Replayed {
		t.Errorf("after a restart: %q %v", r.Response, err)
	}
}

// An enquiry never waits for the writer: it is answered while a commit is stuck, and until its record is durable
// the ledger answers repeats from memory, byte for byte.
func TestEnquireBypassesTheWriter(t *testing.T) {
	sw := newStuckWriter()
	l := openTest(t, withOptions(Options{BeforeCommit: sw.hook}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	sw.armed.Store(true)

	done := make(chan error, 1)
	go func() { _, err := l.Credit(bg, Credit{WalletID: "w1", Amount: 5, Reference: "stuck"}); done <- err }()
	<-sw.stuck // the writer is inside a commit and will stay there
	q := ereq("e1", "w1", "566")
	a, err := l.Enquire(bg, q)
	if err != nil || a.Outcome.Wallet == nil || a.Outcome.Wallet.Balance != 1_000 || a.Replayed {
		t.Fatalf("enquiry during a commit: %+v, %v", a, err)
	}
	if n := l.enquiries.len(); n != 1 {
		t.Errorf("%d enquiry records pending, want 1", n)
	}
	if _, err := l.Replay(bg, "e1", q.Fingerprint); !errors.Is(err, ErrNotRecorded) {
		t.Errorf("Replay from the file while the record waits: %v, want ErrNotRecorded", err)
	}
	again, err := l.Enquire(bg, q)
	if err != nil || string(again.Response) != string(a.Response) || !again.Replayed {
		t.Errorf("repeat while the writer is stuck: %q replayed=%v %v, want %q", again.Response, again.Replayed, err, a.Response)
	}
	other := q
	other.Fingerprint = fingerprint("enquiry", "something else")
	if _, err := l.Enquire(bg, other); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("another enquiry under the requestId while pending: %v", err)
	}

	close(sw.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l.settle()
	r, err := l.Replay(bg, "e1", q.Fingerprint)
	if err != nil || string(r.Response) != string(a.Response) {
		t.Errorf("Replay once durable: %q %v, want %q", r.Response, err, a.Response)
	}
}

// The writer's requestId check sees an enquiry whose record has not reached the writer yet.
func TestEnquirePendingSeenByTheWriter(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	q := ereq("e1", "w1", "")
	p := &pendingEnquiry{fingerprint: q.Fingerprint, response: []byte("e1:approved")}
	if _, _, added, err := l.enquiries.add("e1", p, func() (*requestRecord, error) { return nil, nil }); !added || err != nil {
		t.Fatal("not added")
	}

	before := readBooks(t, l)
	if _, err := l.Debit(bg, dreq("e1", "t1", "w1", 100, 0)); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("debit: %v, want ErrRequestConflict", err)
	}
	if _, err := l.Reverse(bg, rreq("e1", "r1", "t0", "w1", 0)); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("reversal: %v, want ErrRequestConflict", err)
	}
	if _, err := l.PlaceLien(bg, lpreq("e1", "L1", "w1", 100, 0)); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("place-lien: %v, want ErrRequestConflict", err)
	}
	after := readBooks(t, l)
	sameMoney(t, before, after)
	if after.Requests != before.Requests || after.Txns != before.Txns {
		t.Errorf("a conflict wrote: %+v -> %+v", before, after)
	}
	a, err := l.Enquire(bg, q)
	if err != nil || string(a.Response) != "e1:approved" || !a.Replayed {
		t.Errorf("the enquiry's repeat: %q %v", a.Response, err)
	}

	// Once the record has left the map (recorded or dropped), the requestId is read from the file again.
	l.enquiries.remove("e1", p)
	mustDebit(t, l, dreq("e1", "t1", "w1", 100, 0), nil)
}

// The record of an enquiry that raced another message under its requestId is dropped, never written over the
// other message's record: a repeat of the enquiry then conflicts.
func TestEnquireRecordDroppedWhenTaken(t *testing.T) {
	sw := newStuckWriter()
	l := openTest(t, withOptions(Options{BeforeCommit: sw.hook}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	sw.armed.Store(true)

	d := dreq("x1", "t1", "w1", 100, 0)
	done := make(chan error, 1)
	go func() { _, err := l.Debit(bg, d); done <- err }()
	<-sw.stuck // the debit has recorded x1 in its transaction, which is not committed yet

	q := ereq("x1", "w1", "")
	a, err := l.Enquire(bg, q)
	if err != nil || a.Replayed || a.Outcome.Wallet == nil || a.Outcome.Wallet.Balance != 1_000 {
		t.Fatalf("enquiry racing the debit: %+v %v", a, err)
	}
	close(sw.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l.settle()

	r, err := l.Replay(bg, "x1", d.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, r, "x1", nil, true) // the debit's record is intact
	if _, err := l.Replay(bg, "x1", q.Fingerprint); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("Replay of the enquiry: %v, want ErrRequestConflict", err)
	}
	if _, err := l.Enquire(bg, q); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("repeat of the enquiry: %v, want ErrRequestConflict", err)
	}
	wantBalances(t, l, map[string]int64{"w1": 900})

	// The writer's operation itself: it stores into a free requestId and leaves a taken one alone.
	free := &pendingEnquiry{fingerprint: q.Fingerprint, response: []byte("free")}
	taken := &pendingEnquiry{fingerprint: q.Fingerprint, response: []byte("taken")}
	var stored [2]bool
	_, err = submit(bg, l.Ledger, func(w *wtx) (struct{}, error) {
		for i, x := range []struct {
			id string
			p  *pendingEnquiry
		}{{"free1", free}, {"x1", taken}} {
			v, err := x.p.record(x.id)(w)
			if err != nil {
				return struct{}{}, err
			}
			stored[i] = v.(bool)
		}
		return struct{}{}, nil
	})
	if err != nil || stored != [2]bool{true, false} {
		t.Errorf("record: stored %v, err %v; want [true false]", stored, err)
	}
	if r, err := l.Replay(bg, "free1", q.Fingerprint); err != nil || string(r.Response) != "free" {
		t.Errorf("free1: %q %v", r.Response, err)
	}
	if r, err := l.Replay(bg, "x1", d.Fingerprint); err != nil || string(r.Response) != want("x1", nil) {
		t.Errorf("x1 was overwritten: %q %v", r.Response, err)
	}
}

// With the pending map full, an enquiry waits for its own record's commit, as a debit would.
func TestEnquirePendingFull(t *testing.T) {
	sw := newStuckWriter()
	l := openTest(t, withOptions(Options{BeforeCommit: sw.hook}))
	l.enquiries.limit = 1
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	sw.armed.Store(true)

	credit := make(chan error, 1)
	go func() { _, err := l.Credit(bg, Credit{WalletID: "w1", Amount: 5, Reference: "stuck"}); credit <- err }()
	<-sw.stuck
	if _, err := l.Enquire(bg, ereq("e1", "w1", "")); err != nil {
		t.Fatal(err)
	}
	type result struct {
		a   Answer
		err error
	}
	second := make(chan result, 1)
	q := ereq("e2", "w1", "")
	go func() { a, err := l.Enquire(bg, q); second <- result{a, err} }()
	for len(l.queue) < 2 { // e1's record, then e2's commit
		runtime.Gosched()
	}
	select {
	case r := <-second:
		t.Fatalf("answered before its record was committed: %q %v", r.a.Response, r.err)
	default:
	}
	close(sw.release)
	if err := <-credit; err != nil {
		t.Fatal(err)
	}
	r := <-second
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkAnswer(t, r.a, "e2", nil, false)
	// Answered only once durable: the file has it already.
	if a, err := l.Replay(bg, "e2", q.Fingerprint); err != nil || string(a.Response) != want("e2", nil) {
		t.Errorf("Replay right after the answer: %q %v", a.Response, err)
	}
	l.settle()
}

// Exact repeats racing each other all get the bytes of the one that was remembered.
func TestEnquireConcurrentRepeats(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)

	const n = 16
	var renders atomic.Int64
	answers := make([]Answer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := ereq("e1", "w1", "")
			q.Render = func(Outcome) ([]byte, error) { return fmt.Appendf(nil, "render %d", renders.Add(1)), nil }
			answers[i], errs[i] = l.Enquire(bg, q)
		}()
	}
	wg.Wait()
	l.settle()
	stored, err := l.Replay(bg, "e1", fingerprint("enquiry", "e1", "w1"))
	if err != nil {
		t.Fatal(err)
	}
	fresh := 0
	for i := range n {
		if errs[i] != nil || string(answers[i].Response) != string(stored.Response) {
			t.Errorf("answer %d: %q %v, want the stored %q", i, answers[i].Response, errs[i], stored.Response)
		}
		if !answers[i].Replayed {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d answers were not replays, want exactly 1", fresh)
	}
}

func TestEnquireFailures(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	if _, err := l.Enquire(bg, ereq("", "w1", "")); err == nil {
		t.Error("an enquiry without a requestId was answered")
	}
	failing := ereq("e1", "w1", "")
	failing.Render = func(Outcome) ([]byte, error) { return nil, errors.New("render failed") }
	if _, err := l.Enquire(bg, failing); err == nil {
		t.Error("a render failure was not reported")
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := l.Enquire(ctx, ereq("e2", "w1", "")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	l.settle()
	if _, err := l.Replay(bg, "e1", failing.Fingerprint); !errors.Is(err, ErrNotRecorded) {
		t.Errorf("a failed render was remembered: %v", err)
	}
	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Enquire(bg, ereq("e3", "w1", "")); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

// A ledger that refuses writes cannot remember an enquiry, so it does not answer one: 96 for the switch, which
// asks again after the restart. A repeat of an enquiry it remembered before still gets the stored bytes.
func TestEnquireWhenWritesAreRefused(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	known := ereq("e1", "w1", "")
	if _, err := l.Enquire(bg, known); err != nil {
		t.Fatal(err)
	}
	l.settle()
	l.failed.Store(true) // as after ErrOutcomeUnknown
	defer l.failed.Store(false)
	if _, err := l.Enquire(bg, ereq("e2", "w1", "")); !errors.Is(err, ErrStorage) {
		t.Errorf("new enquiry: %v, want ErrStorage", err)
	}
	a, err := l.Enquire(bg, known)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, a, "e1", nil, true)
}

// A failed commit of an enquiry's record forgets the enquiry (as a crash would): nothing stays pending, and a
// repeat is decided afresh.
func TestEnquireRecordCommitFails(t *testing.T) {
	var fail atomic.Bool
	l := openTest(t, withOptions(Options{BeforeCommit: func() error {
		if fail.CompareAndSwap(true, false) {
			return errors.New("disk full")
		}
		return nil
	}}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	before := readBooks(t, l)

	fail.Store(true)
	q := ereq("e1", "w1", "")
	a, err := l.Enquire(bg, q)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, a, "e1", nil, false)
	l.settle()
	if _, err := l.Replay(bg, "e1", q.Fingerprint); !errors.Is(err, ErrNotRecorded) {
		t.Errorf("Replay after the failed commit: %v, want ErrNotRecorded", err)
	}
	if after := readBooks(t, l); after.Requests != before.Requests {
		t.Errorf("requests %d -> %d", before.Requests, after.Requests)
	}
	again, err := l.Enquire(bg, q)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, again, "e1", nil, false)
	l.settle()
	if r, err := l.Replay(bg, "e1", q.Fingerprint); err != nil || !r.Replayed {
		t.Errorf("the repeat was not remembered: %v", err)
	}
}

// BenchmarkEnquire measures fresh enquiries, each remembered: an answer does not wait for a commit unless
// MaxPendingEnquiries records are already waiting for one (then it does, as a debit would).
func BenchmarkEnquire(b *testing.B) {
	l := benchLedger(b, Options{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := l.Enquire(bg, ereq(fmt.Sprintf("e%d", i), "w1", "")); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b, int64(i))
	l.settle()
}
