package ledger

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMapTrim is Options.MapTrim when unset: when about this many bytes of the ledger file were mapped in the
// process since the last trim, the writer drops the mapping's pages.
const DefaultMapTrim = 64 << 20

// defaultMapTrimGap is the least time between two looks at the mapped size, and the period of the look while the
// writer is idle and during Open's consistency check. A look reads /proc/self/statm (about 10 µs); a read that
// streams a file the page cache holds (the check, an audit, a backup) maps over 1 GB per 100 ms, so the looks are
// frequent. Each trim costs the reader its page faults again: on a 16.5 GB ledger the check took 21 s with this
// gap against 16 s with 100 ms, and peaked at 0.55 GB against 1.3 GB (README, Performance).
const defaultMapTrimGap = 20 * time.Millisecond

// mapTrimHooks let tests look after every commit, keep the idle writer from looking, and point the trim at other
// /proc files.
type mapTrimHooks struct {
	everyCommit bool   // look after every commit, not at most every defaultMapTrimGap
	noIdle      bool   // the waiting writer does not look
	proc        string // directory standing in for /proc/self
}

// mapSys is the platform's part of mapTrim.
type mapSys interface {
	// resident is the process's resident file-backed memory, in bytes.
	resident() (int64, error)
	// drop finds the ledger file's mapping as it is now and drops its pages from the process's page tables.
	drop() error
}

// mapTrim keeps the process's mapping of the ledger file small (Options.MapTrim).
//
// bbolt maps the whole file read-only and shared, and every page a transaction reads stays mapped, so the resident
// set grows to the part of the file ever touched although the process's own memory is small. Dropping the mapping's
// page-table entries (madvise MADV_DONTNEED) is safe for a shared file mapping even while read transactions use it:
// the pages stay in the kernel's page cache and the next access maps them again from the file, which bbolt keeps
// current (it writes with pwrite, never through the map). The one danger is a remap: a read-write transaction that
// grows the file unmaps the old range and maps the file again, perhaps elsewhere, and the old range may then hold Go
// heap, which MADV_DONTNEED would zero. So the trim only runs where no remap can happen while it looks the mapping up
// and drops it: in the writer goroutine between transactions (every read-write transaction runs there, and Close
// unmaps only after the writer stopped), or in Open while only read transactions run (checkFile).
//
// The size it watches is the process's resident file-backed pages (/proc/self/statm, "shared") above what they were
// just after the last trim, which leaves out the binary's own text. statm is a few counters the kernel keeps (close
// approximations on many-core machines, which is all a bound needs); the exact figure, the Rss of the ledger's
// mapping in /proc/self/smaps, makes the kernel walk the page tables of every mapping: with 40 MB of the file mapped,
// about 10 µs against 0.7 ms (BenchmarkMapTrimCheck). The trim itself (maps, then madvise) costs about 2 ms per 40 MB
// dropped, paid by the writer between two batches, at most once per look.
//
// The writer looks after a commit at most every defaultMapTrimGap, and every defaultMapTrimGap while it waits for
// work, so the pages a long Audit or Backup maps (read transactions in other goroutines) are dropped within about
// that time, whether or not writes come. A failure (no /proc, an unexpected format, no single mapping of the file,
// madvise refused) turns the trim off for the life of the Ledger and never fails a commit; mapTrimErr keeps it.
type mapTrim struct {
	limit  int64
	gap    time.Duration // 0: look after every commit
	noIdle bool          // the waiting writer does not look (tests)
	sys    mapSys        // the platform's part (maptrim_linux.go); nil: unsupported

	// Owned by the goroutine that trims (the writer, or Open before the writer starts).
	off  bool
	last time.Time // the last look
	base int64     // the process's resident file-backed bytes just after the last trim
	tick *time.Ticker

	count atomic.Uint64
	err   atomic.Pointer[error]
}

// newMapTrim prepares the trim of the ledger file at path. It never fails: a platform without the trim or a file it
// cannot identify leaves it off.
func newMapTrim(path string, limit int64, hooks mapTrimHooks) *mapTrim {
	t := &mapTrim{limit: limit, gap: defaultMapTrimGap, noIdle: hooks.noIdle}
	if limit == 0 {
		t.limit = DefaultMapTrim
	}
	if hooks.everyCommit {
		t.gap = 0
	}
	if t.limit < 0 {
		t.off = true
		return t
	}
	proc := hooks.proc
	if proc == "" {
		proc = "/proc/self"
	}
	sys, err := newMapSys(path, proc)
	switch {
	case err != nil:
		t.fail(err)
	case sys == nil:
		t.off = true
	default:
		t.sys = sys
	}
	return t
}

// fail turns the trim off and keeps err.
func (t *mapTrim) fail(err error) {
	t.off = true
	t.err.Store(&err)
	if t.tick != nil {
		t.tick.Stop()
	}
}

// look drops the mapping's pages when the process's resident file-backed pages have grown by more than the limit
// since the last trim. Only where no remap can happen (see mapTrim).
func (t *mapTrim) look(now time.Time) {
	if t.off {
		return
	}
	t.last = now
	res, err := t.sys.resident()
	if err != nil {
		t.fail(err)
		return
	}
	if res-t.base <= t.limit {
		return
	}
	if err := t.sys.drop(); err != nil {
		t.fail(err)
		return
	}
	t.count.Add(1)
	if res, err = t.sys.resident(); err != nil {
		t.fail(err)
		return
	}
	t.base = res
}

// afterCommit looks at the mapping unless it looked less than the gap ago. Called by the writer between batches.
func (t *mapTrim) afterCommit() {
	if t.off {
		return
	}
	if now := time.Now(); t.gap <= 0 || now.Sub(t.last) >= t.gap {
		t.look(now)
	}
}

// idle is the channel on which the waiting writer is woken to look; nil (never ready) while the trim is off.
func (t *mapTrim) idle() <-chan time.Time {
	if t.off || t.noIdle {
		return nil
	}
	if t.tick == nil {
		t.tick = time.NewTicker(defaultMapTrimGap)
	}
	return t.tick.C
}

// stop releases the idle ticker; the writer calls it when it exits.
func (t *mapTrim) stop() {
	if t.tick != nil {
		t.tick.Stop()
	}
}

// during looks every defaultMapTrimGap in a goroutine of its own until the returned function is called, which waits
// for that goroutine to end and looks once more. Only while nothing can remap the file: in Open, around the
// consistency check that reads every page, before any read-write transaction.
func (t *mapTrim) during() (stop func()) {
	if t.off {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(defaultMapTrimGap)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				t.look(now)
			}
		}
	}()
	return func() {
		close(quit)
		wg.Wait()
		t.look(time.Now())
	}
}

// next waits for the writer's next operation; while it waits, it looks at the mapping every defaultMapTrimGap.
func (l *Ledger) next() (*op, bool) {
	for {
		select {
		case o, ok := <-l.queue:
			if !ok {
				l.trim.stop()
			}
			return o, ok
		case now := <-l.trim.idle():
			if now.Sub(l.trim.last) >= l.trim.gap {
				l.trim.look(now)
			}
		}
	}
}

// MapTrims reports how many times the ledger dropped its mapped file pages (Options.MapTrim).
func (l *Ledger) MapTrims() uint64 {
	if l.trim == nil {
		return 0
	}
	return l.trim.count.Load()
}

// mapTrimErr is the failure that turned the trim off, if any.
func (l *Ledger) mapTrimErr() error {
	if l.trim == nil {
		return nil
	}
	if p := l.trim.err.Load(); p != nil {
		return *p
	}
	return nil
}
