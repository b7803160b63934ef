package ledger

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultyDisk is a BeforeCommit hook that fails the next n commits (n < 0: all of them until cleared) and counts the
// commits it saw.
type faultyDisk struct {
	fail    atomic.Int64
	commits atomic.Int64
}

func (d *faultyDisk) hook() error {
	d.commits.Add(1)
	for {
		n := d.fail.Load()
		switch {
		case n == 0:
			return nil
		case n < 0:
			return errDiskFull
		case d.fail.CompareAndSwap(n, n-1):
			return errDiskFull
		}
	}
}

// TestReadyWhileWritesFail: Ready reports ErrStorage exactly while commits fail, and is ready again as soon as a
// write succeeds; a single failure that is already over does not make it flap, and a healthy ledger never writes
// to answer Ready.
func TestReadyWhileWritesFail(t *testing.T) {
	disk := &faultyDisk{}
	clock := newFakeClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	l := openTest(t, withOptions(Options{BeforeCommit: disk.hook, Now: clock.Now}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)

	t.Run("healthy: ready, and no probe write", func(t *testing.T) {
		before, commits := readBooks(t, l), disk.commits.Load()
		for range 5 {
			if err := l.Ready(); err != nil {
				t.Fatalf("Ready = %v", err)
			}
		}
		if after := readBooks(t, l); after.LastBatch != before.LastBatch || disk.commits.Load() != commits {
			t.Errorf("Ready wrote on a healthy ledger: batch %d -> %d", before.LastBatch, after.LastBatch)
		}
	})

	t.Run("one transient failure does not flip readiness", func(t *testing.T) {
		disk.fail.Store(1)
		if _, err := l.Debit(bg, dreq("q1", "d1", "w1", 10, 0)); !errors.Is(err, ErrStorage) {
			t.Fatalf("Debit = %v, want ErrStorage", err)
		}
		if err := l.Ready(); err != nil {
			t.Errorf("Ready after a failure that is over = %v, want nil (its probe write succeeds)", err)
		}
		if err := l.Ready(); err != nil {
			t.Errorf("second Ready = %v", err)
		}
	})

	t.Run("not ready while writes fail, however often asked", func(t *testing.T) {
		disk.fail.Store(-1)
		before := readBooks(t, l)
		if _, err := l.Debit(bg, dreq("q2", "d2", "w1", 10, 0)); !errors.Is(err, ErrStorage) {
			t.Fatalf("Debit = %v, want ErrStorage", err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := l.Ready(); !errors.Is(err, ErrStorage) {
					t.Errorf("Ready while writes fail = %v, want ErrStorage", err)
				}
			})
		}
		wg.Wait()
		if err := l.Ready(); !errors.Is(err, ErrStorage) || errors.Is(err, errDiskFull) {
			t.Errorf("Ready = %v, want ErrStorage without the device's error", err)
		}
		after := readBooks(t, l)
		sameMoney(t, before, after)
		if after.LastBatch != before.LastBatch || after.Requests != before.Requests || after.Txns != before.Txns {
			t.Errorf("failed commits and probes left records: %+v -> %+v", before, after)
		}
	})

	t.Run("ready again once a write succeeds", func(t *testing.T) {
		disk.fail.Store(0)
		// A probe succeeded (above) and real commits failed after it: the probe is not trusted for ReadyHold.
		clock.Advance(ReadyHold - time.Millisecond)
		if err := l.Ready(); !errors.Is(err, ErrStorage) {
			t.Errorf("Ready within ReadyHold of a real failure that followed a good probe = %v, want ErrStorage", err)
		}
		clock.Advance(time.Millisecond)
		if err := l.Ready(); err != nil {
			t.Fatalf("Ready after the fault cleared = %v", err)
		}
		mustDebit(t, l, dreq("q2", "d2", "w1", 10, 0), nil)
		wantBalances(t, l, map[string]int64{"w1": 990, "settlement:566": 10})
	})

	t.Run("a real commit clears it without a probe", func(t *testing.T) {
		disk.fail.Store(1)
		if _, err := l.Debit(bg, dreq("q3", "d3", "w1", 10, 0)); !errors.Is(err, ErrStorage) {
			t.Fatalf("Debit = %v, want ErrStorage", err)
		}
		mustDebit(t, l, dreq("q3", "d3", "w1", 10, 0), nil)
		commits := disk.commits.Load()
		if err := l.Ready(); err != nil {
			t.Errorf("Ready = %v", err)
		}
		if disk.commits.Load() != commits {
			t.Errorf("Ready probed after a successful commit")
		}
	})

	t.Run("closed wins", func(t *testing.T) {
		disk.fail.Store(-1)
		_, _ = l.Debit(bg, dreq("q4", "d4", "w1", 10, 0))
		disk.fail.Store(0)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Ready(); !errors.Is(err, ErrClosed) {
			t.Errorf("Ready after Close = %v, want ErrClosed", err)
		}
		l.reopen()
		if err := l.Ready(); err != nil {
			t.Errorf("Ready after reopening = %v", err)
		}
	})
}
