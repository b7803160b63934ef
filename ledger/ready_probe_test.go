package ledger

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadyDistrustsProbeAfterRealFailures: the fault fails only real commits and lets probe writes through, as a
// full disk can when a probe fits in pages a real batch does not. A probe may vouch once; when a real commit fails
// after that, Ready is not ready and does not probe until ReadyHold has passed since the last real failure; with no
// traffic at all it then probes again, and is ready once the fault has cleared.
func TestReadyDistrustsProbeAfterRealFailures(t *testing.T) {
	var full atomic.Bool
	var probes atomic.Int64
	clock := newFakeClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	l := openTest(t, withOptions(Options{
		Now: clock.Now,
		BeforeCommit: func() error {
			if full.Load() {
				return errDiskFull
			}
			return nil
		},
		BeforeProbeCommit: func() error { probes.Add(1); return nil },
	}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	if probes.Load() != 0 {
		t.Fatalf("real commits went through BeforeProbeCommit")
	}

	full.Store(true)
	before := readBooks(t, l)
	if _, err := l.Debit(bg, dreq("q1", "d1", "w1", 10, 0)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Debit = %v, want ErrStorage", err)
	}
	// One failure is not trusted either way: the probe decides, and here it commits.
	if err := l.Ready(); err != nil {
		t.Fatalf("Ready after one real failure, probe through = %v, want nil", err)
	}
	if got := probes.Load(); got != 2 {
		t.Fatalf("probe commits = %d, want 2 (the probe and the deletion of its scratch value)", got)
	}

	// A real commit fails after the probe vouched: the probe is no longer trusted.
	if _, err := l.Debit(bg, dreq("q2", "d2", "w1", 10, 0)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Debit = %v, want ErrStorage", err)
	}
	for i := range 3 {
		if err := l.Ready(); !errors.Is(err, ErrStorage) {
			t.Fatalf("Ready %d after a real failure that followed a good probe = %v, want ErrStorage", i, err)
		}
	}
	// Every real failure extends the hold; asking Ready does not probe meanwhile.
	for i := range 4 {
		clock.Advance(ReadyHold / 2)
		if _, err := l.Debit(bg, dreq(fmt.Sprintf("q3-%d", i), fmt.Sprintf("d3-%d", i), "w1", 10, 0)); !errors.Is(err, ErrStorage) {
			t.Fatalf("Debit = %v, want ErrStorage", err)
		}
		if err := l.Ready(); !errors.Is(err, ErrStorage) {
			t.Fatalf("Ready while real commits keep failing = %v, want ErrStorage", err)
		}
	}
	clock.Advance(ReadyHold - time.Millisecond)
	if err := l.Ready(); !errors.Is(err, ErrStorage) {
		t.Errorf("Ready just before ReadyHold has passed = %v, want ErrStorage", err)
	}
	if got := probes.Load(); got != 2 {
		t.Errorf("probe commits during the hold: %d, want none beyond the first 2", got-2)
	}
	after := readBooks(t, l)
	sameMoney(t, before, after)
	if after.Requests != before.Requests || after.Txns != before.Txns {
		t.Errorf("failed commits left records: %+v -> %+v", before, after)
	}

	// No traffic arrives (a 503 keeps the load balancer away): once the fault cleared and the hold is over, the probe
	// makes the ledger ready on its own, and the very same debit is decided for the first time.
	full.Store(false)
	clock.Advance(time.Millisecond)
	if err := l.Ready(); err != nil {
		t.Fatalf("Ready after the hold, fault cleared = %v, want nil", err)
	}
	if got := probes.Load(); got != 4 {
		t.Errorf("probe commits = %d, want 4", got)
	}
	mustDebit(t, l, dreq("q2", "d2", "w1", 10, 0), nil)
	wantBalances(t, l, map[string]int64{"w1": 990, "settlement:566": 10})

	// A real success restores full trust: one more transient real failure is judged by a probe again.
	full.Store(true)
	if _, err := l.Debit(bg, dreq("q4", "d4", "w1", 10, 0)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Debit = %v, want ErrStorage", err)
	}
	full.Store(false)
	if err := l.Ready(); err != nil {
		t.Errorf("Ready after a single transient failure = %v, want nil", err)
	}
}

// TestReadyProbeNeedsNewPages: the probe write cannot be placed in the file's free pages: it moves the file's
// high-water mark by more than all its free and pending pages, the way a real commit that fails on a full disk
// must, and its scratch value is deleted again once it committed.
func TestReadyProbeNeedsNewPages(t *testing.T) {
	disk := &faultyDisk{}
	l := openTest(t, withOptions(Options{BeforeCommit: disk.hook}))
	for i := range 20 {
		mustWallet(t, l, fmt.Sprintf("w%02d", i), "566", 0)
		mustCredit(t, l, fmt.Sprintf("w%02d", i), 10_000)
		mustDebit(t, l, dreq(fmt.Sprintf("q%02d", i), fmt.Sprintf("d%02d", i), fmt.Sprintf("w%02d", i), 10, 1), nil)
	}
	highWater := func() (size int64) {
		if err := l.view(func(r *rtx) error { size = r.tx.Size(); return nil }); err != nil {
			t.Fatal(err)
		}
		return size
	}
	disk.fail.Store(1)
	if _, err := l.Debit(bg, dreq("qx", "dx", "w00", 10, 0)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Debit = %v, want ErrStorage", err)
	}
	st, page := l.db.Stats(), int64(l.db.Info().PageSize)
	free := int64(st.FreePageN + st.PendingPageN)
	if free == 0 {
		t.Fatalf("no free pages: the test needs some to show the probe does not use them")
	}
	before, commits := highWater(), disk.commits.Load()
	if err := l.Ready(); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	if got := disk.commits.Load() - commits; got != 2 {
		t.Errorf("commits made by Ready = %d, want 2 (probe and cleanup)", got)
	}
	after := highWater()
	if grown := (after - before) / page; grown < free+1 {
		t.Errorf("the probe moved the high-water mark by %d pages, want more than the %d free pages", grown, free)
	}
	if grown := (after - before) / page; grown > maxProbeBytes/page+16 {
		t.Errorf("the probe grew the file by %d pages, beyond its bound of %d", grown, maxProbeBytes/page)
	}
	err := l.view(func(r *rtx) error {
		if b := r.tx.Bucket(bucketProbe); b == nil || b.Get(keyScratch) != nil {
			return fmt.Errorf("scratch value after a successful probe: bucket %v, want the bucket without its value", b)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	// The pages of the deleted value are reused by real writes, not added to the file again.
	size := highWater()
	mustDebit(t, l, dreq("qx", "dx", "w00", 10, 0), nil)
	if highWater() != size {
		t.Errorf("a debit after the probe grew the file: %d -> %d", size, highWater())
	}
}
