package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// snapshot is what a reader can see of a ledger through its API.
type snapshot struct {
	Wallets    map[string]Wallet
	Statements map[string][]StatementLine
	Txns       map[string]Transaction
	Audit      AuditReport
}

func takeSnapshot(t *testing.T, l *testLedger, wallets, refs []string) snapshot {
	t.Helper()
	s := snapshot{Wallets: map[string]Wallet{}, Statements: map[string][]StatementLine{}, Txns: map[string]Transaction{}}
	for _, id := range wallets {
		w, err := l.Wallet(bg, id)
		if err != nil {
			t.Fatalf("Wallet(%s): %v", id, err)
		}
		s.Wallets[id] = w
		lines, _, err := l.Statement(bg, id, 0, 0)
		if err != nil {
			t.Fatalf("Statement(%s): %v", id, err)
		}
		s.Statements[id] = lines
	}
	for _, ref := range refs {
		tx, err := l.Transaction(bg, ref)
		if err != nil {
			t.Fatalf("Transaction(%s): %v", ref, err)
		}
		s.Txns[ref] = tx
	}
	rep, err := l.Audit(bg)
	if err != nil || !rep.OK {
		t.Fatalf("Audit = %+v, %v", rep, err)
	}
	s.Audit = rep
	return s
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "ledger.db") // Open creates the directory
	clock := newFakeClock(time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC))
	l := openTest(t, withPath(path), withOptions(Options{Now: clock.Now}))
	mustWallet(t, l, "w1", "566", 5_000)
	mustWallet(t, l, "w2", "978", 0)
	mustCredit(t, l, "w1", 10_000)
	mustCredit(t, l, "w2", 3_000)

	type sent struct {
		debit    *DebitRequest
		reversal *ReversalRequest
		answer   Answer
	}
	var all []sent
	send := func(d *DebitRequest, r *ReversalRequest) {
		var a Answer
		var err error
		if d != nil {
			a, err = l.Debit(bg, *d)
		} else {
			a, err = l.Reverse(bg, *r)
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, sent{d, r, a})
	}
	d := func(rq, ref, w string, amount, fee int64, mods ...func(*DebitRequest)) {
		x := dreq(rq, ref, w, amount, fee, mods...)
		send(&x, nil)
	}
	r := func(rq, ref, orig, w string, amount int64, mods ...func(*ReversalRequest)) {
		x := rreq(rq, ref, orig, w, amount, mods...)
		send(nil, &x)
	}
	eur := func(r *ReversalRequest) { r.Currency = "978" }
	d("q1", "d1", "w1", 1_000, 10)
	d("q2", "d2", "w1", 99_999, 0) // insufficient funds
	d("q3", "d3", "w2", 500, 5, withCurrency("978"))
	r("q4", "r4", "d1", "w1", 400)
	r("q5", "r5", "d3", "w2", 0, eur)
	r("q6", "r6", "ghost", "w1", 0) // tombstone
	d("q7", "d7", "w1", 4_500, 0)   // over the daily limit
	d("q8", "d1", "w1", 1_000, 10)  // same reference, new requestId

	wallets := []string{"w1", "w2"}
	refs := []string{"d1", "d2", "d3", "r4", "r5", "ghost", "r6", "d7"}
	before := takeSnapshot(t, l, wallets, refs)
	for range 2 {
		l.reopen()
		after := takeSnapshot(t, l, wallets, refs)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("after reopen:\n%+v\nbefore:\n%+v", after, before)
		}
		for _, s := range all {
			env := Envelope{}
			if s.debit != nil {
				env = s.debit.Envelope
			} else {
				env = s.reversal.Envelope
			}
			rep, err := l.Replay(bg, env.RequestID, env.Fingerprint)
			if err != nil {
				t.Fatalf("Replay(%s): %v", env.RequestID, err)
			}
			if !bytes.Equal(rep.Response, s.answer.Response) || rep.Outcome != s.answer.Outcome || !rep.Replayed {
				t.Errorf("Replay(%s) = %q %v, first answer %q %v", env.RequestID, rep.Response, rep.Outcome.Decline,
					s.answer.Response, s.answer.Outcome.Decline)
			}
			var again Answer
			if s.debit != nil {
				again, err = l.Debit(bg, *s.debit)
			} else {
				again, err = l.Reverse(bg, *s.reversal)
			}
			if err != nil || !bytes.Equal(again.Response, s.answer.Response) || !again.Replayed {
				t.Errorf("resend %s = %q replayed %v, %v; first answer %q", env.RequestID, again.Response,
					again.Replayed, err, s.answer.Response)
			}
		}
		again := takeSnapshot(t, l, wallets, refs)
		if !reflect.DeepEqual(before, again) {
			t.Errorf("resending changed the ledger")
		}
	}
	// Decisions survive: the reference of a tombstone and decided debits under new requestIds.
	mustDebit(t, l, dreq("q9", "ghost", "w1", 1, 0), ErrAlreadyReversed)
	mustDebit(t, l, dreq("q10", "d1", "w1", 1_000, 10), nil)
	mustDebit(t, l, dreq("q11", "d7", "w1", 4_500, 0), ErrLimitExceeded)
	mustReverse(t, l, rreq("q12", "r4", "d1", "w1", 400), nil)
	if _, err := l.Debit(bg, dreq("q1", "d1", "w1", 1_001, 10)); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("conflict after reopen: err = %v", err)
	}
	// The daily usage survived too: 600 of 5000 used today.
	mustDebit(t, l, dreq("q13", "d13", "w1", 4_401, 0), ErrLimitExceeded)
	mustDebit(t, l, dreq("q14", "d14", "w1", 4_400, 0), nil)
	final := takeSnapshot(t, l, wallets, nil)
	if final.Wallets["w1"].Balance != before.Wallets["w1"].Balance-4_400 || final.Audit.Entries != before.Audit.Entries+1 {
		t.Errorf("after reopen: w1 %d, entries %d", final.Wallets["w1"].Balance, final.Audit.Entries)
	}
}

func TestReplayNotRecordedBeforeCommit(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var hold atomic.Bool
	l := openTest(t, withOptions(Options{BeforeCommit: func() error {
		if hold.Load() {
			entered <- struct{}{}
			<-release
		}
		return nil
	}}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	d := dreq("q1", "d1", "w1", 100, 0)
	if _, err := l.Replay(bg, "q1", d.Fingerprint); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("Replay before any debit: err = %v, want ErrNotRecorded", err)
	}
	hold.Store(true)
	done := make(chan error, 1)
	go func() { _, err := l.Debit(bg, d); done <- err }()
	<-entered
	// The batch is decided but not committed: no answer yet, nothing to replay, and the wallet is untouched.
	select {
	case err := <-done:
		t.Errorf("Debit answered before its commit (err %v)", err)
		done <- err
	default:
	}
	if _, err := l.Replay(bg, "q1", d.Fingerprint); !errors.Is(err, ErrNotRecorded) {
		t.Errorf("Replay during the commit: err = %v, want ErrNotRecorded", err)
	}
	if w, _ := l.Wallet(bg, "w1"); w.Balance != 1_000 {
		t.Errorf("balance during the commit = %d", w.Balance)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	hold.Store(false)
	rep, err := l.Replay(bg, "q1", d.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, rep, "q1", nil, true)
	for _, id := range []string{"", strings.Repeat("x", MaxRequestIDLen+1), "unknown"} {
		if _, err := l.Replay(bg, id, d.Fingerprint); !errors.Is(err, ErrNotRecorded) {
			t.Errorf("Replay(%.10q) err = %v, want ErrNotRecorded", id, err)
		}
	}
}

// openRefused checks that Open fails on path and leaves the file byte for byte as it was.
func openRefused(t *testing.T, path string, wantErr error) error {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, Options{OpenTimeout: time.Second})
	if err == nil {
		l.Close()
		t.Fatalf("Open succeeded on a file it must refuse")
	}
	if wantErr != nil && !errors.Is(err, wantErr) {
		t.Errorf("Open err = %v, want %v", err, wantErr)
	}
	now, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !bytes.Equal(orig, now) {
		t.Errorf("Open changed the file it refused (%d -> %d bytes)", len(orig), len(now))
	}
	return err
}

func TestOpenRefusesGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 100, 4096, 3 * 4096, 64 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			garbage := make([]byte, size)
			for i := range garbage {
				garbage[i] = byte(rng.Uint32())
			}
			path := filepath.Join(t.TempDir(), "garbage.db")
			if err := os.WriteFile(path, garbage, 0o600); err != nil {
				t.Fatal(err)
			}
			err := openRefused(t, path, nil)
			t.Logf("Open: %v", err)
		})
	}
	t.Run("text file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "notes.txt")
		if err := os.WriteFile(path, bytes.Repeat([]byte("walletgate-ledger/1 meta format\n"), 500), 0o600); err != nil {
			t.Fatal(err)
		}
		openRefused(t, path, nil)
	})
}

func TestOpenRefusesForeignBolt(t *testing.T) {
	tests := []struct {
		name    string
		buckets []string
	}{
		{"other buckets", []string{"users", "sessions"}},
		{"our bucket names but no format marker", []string{"meta", "wallets", "journal"}},
		{"some of our buckets", []string{"wallets"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "other.db")
			createBolt(t, path, tc.buckets...)
			openRefused(t, path, ErrNotLedger)
		})
	}
}

func TestOpenLocked(t *testing.T) {
	l := openTest(t)
	start := time.Now()
	other, err := Open(l.path, Options{OpenTimeout: 200 * time.Millisecond})
	if err == nil {
		other.Close()
		t.Fatal("a second Open of a held file succeeded")
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Open took %s to give up", elapsed)
	}
	if !strings.Contains(err.Error(), "lock") {
		t.Errorf("err = %v, want it to mention the lock", err)
	}
	// The holder is unaffected.
	mustWallet(t, l, "w1", "566", 0)
	// Once released, the file opens.
	l.reopen()
	if _, err := l.Wallet(bg, "w1"); err != nil {
		t.Fatal(err)
	}
}
