package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// formatID is written into the meta bucket of every ledger; Open refuses files that lack it, and upgrades files of
// an older format in place (upgrade.go).
const formatID = "walletgate-ledger/3"

// formatV2 is format 3 without the wallet log (walletlog.go): Open adds the empty log and marks the file format 3,
// in one transaction. Releases before format 3 refuse a format-3 file, which they would read without its log.
const formatV2 = "walletgate-ledger/2"

// Bucket names. Changing one is a data migration.
var (
	bucketMeta     = []byte("meta")     // "format" -> formatID; "batch" -> last committed batch number
	bucketWallets  = []byte("wallets")  // walletId -> walletRecord (binary, walletcodec.go)
	bucketAccounts = []byte("accounts") // system account name -> int64 balance (8 bytes, big endian)
	bucketJournal  = []byte("journal")  // entry sequence (8 bytes, big endian) -> Entry (binary, entrycodec.go)
	bucketRequests = []byte("requests") // requestId -> batch(8) fingerprint(32) reasonLen(1) reason response
	bucketTxns     = []byte("txns")     // namespace byte + transactionReference -> txnRecord (binary, txncodec.go)
	bucketCredits  = []byte("credits")  // admin credit reference -> creditRecord (JSON)

	allBuckets = [][]byte{bucketMeta, bucketWallets, bucketAccounts, bucketJournal, bucketRequests,
		bucketTxns, bucketCredits, bucketWalletLog,
		bucketLienExpiry,
		bucketOutbox, bucketOutboxQueue, bucketOutboxRef, bucketTopups, bucketCashouts,
	}

	keyFormat = []byte("format")
	keyBatch  = []byte("batch")
)

// Options configure Open. The zero value is usable.
type Options struct {
	// OpenTimeout bounds the wait for the file lock held by another process. Default 3s.
	OpenTimeout time.Duration

	// MaxBatch caps the operations applied in one transaction. Default 512.
	MaxBatch int

	// BatchDelay, when positive, makes the writer wait that long after the first queued operation to let a batch
	// fill. Default 0: a batch is whatever queued up while the previous commit was fsyncing.
	BatchDelay time.Duration

	// FillWait bounds how long a batch waits, once the queue is empty, for as many operations as the previous batch
	// had. Under load the callers of one batch come back with their next operation a few hundred microseconds after
	// their answer, while the writer already takes the first of them: without this wait the batch is cut in two and
	// pays two fsyncs. The wait is also never longer than the last commit took (waiting only pays while it is
	// cheaper than the commit it saves), and a lone caller is never delayed (its previous batch had one operation).
	// Default DefaultFillWait; negative turns it off.
	FillWait time.Duration

	// Now is the clock (UTC days for the daily limit, timestamps). Default time.Now.
	Now func() time.Time

	// Observer receives commit timings and batch sizes. Optional.
	Observer Observer

	// LienTTL is how long a placed lien may wait for its completion before the ledger releases it (CONTRACT 1.9).
	// A lien's expiry is fixed when it is placed. Default DefaultLienTTL.
	LienTTL time.Duration

	// LienSweepInterval is how often the ledger looks for expired liens and releases them. Default one minute;
	// negative: never (ReleaseExpiredLiens can still be called).
	LienSweepInterval time.Duration

	// lienSweep lets tests drive the lien sweeper without sleeping (lien.go).
	lienSweep lienSweepHooks

	// BeforeCommit, when set, is called inside the writer just before each commit; an error aborts the batch as a
	// storage failure with nothing committed. It exists to inject faults in tests (a full disk, a failing device).
	BeforeCommit func() error

	// BeforeProbeCommit, when set, is called instead of BeforeCommit before the commit of a batch made only of
	// Ready's probe writes, so that a test can fail real commits and let probes through (or the reverse). Nil:
	// BeforeCommit is called for probes too.
	BeforeProbeCommit func() error

	// Route names the partners that receive an event, for the durable outbox (see Event). Nil: nothing is enqueued.
	Route Route

	// MapTrim bounds the ledger file's pages mapped in the process: when the process's resident file-backed memory
	// (mostly those pages) grew by more than this many bytes since the last trim, the writer drops the file's pages
	// from the process's page tables. They stay in the kernel's page cache, so VmRSS and VmHWM measure the process,
	// not the part of the file it touched, up to what is mapped between two looks: when the page cache holds the file
	// in large folios (after another process read it sequentially), a page fault maps a whole folio and that can be
	// hundreds of MB (README, "Performance"). Linux only (maptrim.go). Default DefaultMapTrim; negative: never.
	MapTrim int64

	// mapTrim lets tests trim after every commit and fake /proc (maptrim.go).
	mapTrim mapTrimHooks

	// walletRound lets tests shorten the wallet log's rounds (walletlog.go). Default walletRoundCommits.
	walletRound int

	// open lets tests hold OpenContext in its consistency check, or act just before its first write.
	open openHooks
}

// openHooks are OpenContext's test hooks.
type openHooks struct {
	check      func() // called in the consistency check's read transaction, before the check (existing files only)
	beforeInit func() // called after the check, just before OpenContext looks at ctx a last time and writes
}

// DefaultFillWait is Options.FillWait when unset, tuned with `walletgate loadgen` (README, "Performance").
const DefaultFillWait = 1 * time.Millisecond

// Observer is told about every commit. Implementations must be fast and safe for concurrent use.
type Observer interface {
	ObserveCommit(d time.Duration, batchSize int, err error)
}

// Ledger is an open ledger. Create it with Open and release it with Close.
type Ledger struct {
	db   *bolt.DB
	opts Options
	now  func() time.Time

	queue   chan *op
	mu      sync.RWMutex // guards closed against sends on queue
	closed  bool
	stopped chan struct{}

	batchSeq uint64        // last batch number written; owned by the writer goroutine
	durable  atomic.Uint64 // last batch number known fsync'd
	failed   atomic.Bool   // set after ErrOutcomeUnknown: no more writes

	sweeper     lienSweeper   // releases expired liens (lien.go)
	outboxDirty bool          // the current batch wrote outbox records; owned by the writer goroutine
	outboxWake  chan struct{} // signalled after a commit that wrote outbox records (see OutboxWake)

	enquiries pendingEnquiries // enquiry answers whose request records are not yet durable (enquiry.go)

	// writeFailing is set when a commit failed with nothing committed (ErrStorage) and cleared by the next commit
	// that succeeds; while it is set, Ready probes with a write of its own.
	writeFailing atomic.Bool
	probeMu      sync.Mutex
	probing      *readyProbe // the probe write in flight, if any
	health       writeHealth // whether probes are trusted (ready.go)

	lastBatch  int           // operations in the last batch; owned by the writer goroutine
	lastCommit time.Duration // how long the last commit took; owned by the writer goroutine

	trim *mapTrim // drops the file's mapped pages (maptrim.go); owned by the writer goroutine but for its counters

	wlog *walletLog // wallet records newer than the wallets bucket (walletlog.go)
}

// readyProbe is one probe write of Ready, shared by every Ready call while it runs.
type readyProbe struct {
	done chan struct{}
	err  error // valid once done is closed
}

// ReadyProbeWait bounds how long Ready waits for its probe write before it reports the ledger not ready.
const ReadyProbeWait = time.Second

// errWritesFailing is Ready's answer while commits fail. It never carries the device's own error text.
var errWritesFailing = fmt.Errorf("%w: writes are failing", ErrStorage)

// Open opens (or creates) the ledger file at path and starts its writer. Only a missing file is created; an existing
// file that is empty (0 bytes), is not a bbolt database, or is a bbolt database without walletgate's format marker is
// refused and never rewritten. When another process holds the file, Open fails after Options.OpenTimeout.
//
// Open is OpenContext with a context that never ends: it waits for the whole consistency check, however long.
func Open(path string, opts Options) (*Ledger, error) {
	return OpenContext(context.Background(), path, opts)
}

// OpenContext is Open that gives up when ctx ends before anything is written to the file, so that a process asked
// to stop during a long start-up (the consistency check of an existing file reads every page: minutes on a ledger
// of tens of GB from a cold page cache) stops promptly instead of after the check.
//
// ctx is looked at when OpenContext starts, while the consistency check runs, and once more just before the first
// write (the transaction that checks the format marker, upgrades an older format and loads the wallet log). From
// that write on, ctx is ignored: OpenContext finishes opening (that transaction is all or nothing) and returns the
// Ledger. When ctx ends first, OpenContext returns at once an error that wraps ctx.Err() (so errors.Is(err,
// context.Canceled) holds) and has written nothing: an existing file is left byte for byte as it was. For a missing
// path nothing is created when ctx has ended at the start; when it ends later, the new file bbolt created is left
// as an empty bbolt database, which the next Open lays out as a new ledger. The wait for a lock held by another
// process (Options.OpenTimeout) is not cut short.
//
// bbolt's check cannot be interrupted, so when ctx ends during it, the check goes on in a goroutine that OpenContext
// leaves behind: it only reads, and when it ends it closes the file, which releases the file lock (as does the
// process's exit, whichever comes first). Until then another Open of the same file waits for the lock as it would
// for another process. Its result is dropped: a damaged file is reported by the next Open. When ctx never ends,
// OpenContext is exactly Open.
func OpenContext(ctx context.Context, path string, opts Options) (*Ledger, error) {
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 3 * time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.FillWait == 0 {
		opts.FillWait = DefaultFillWait
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ledger open %s: %w", path, abandoned("before opening the file", err))
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("ledger open: %w", err)
		}
	}
	existed := false
	if st, err := os.Stat(path); err == nil {
		existed = true
		if st.Mode().IsRegular() && st.Size() == 0 {
			// Only a missing file makes a new ledger: a ledger wiped to zero bytes must not come back empty.
			return nil, fmt.Errorf("ledger open %s: %w: the file is empty (0 bytes); remove it to start a new ledger", path, ErrCorrupt)
		}
	}
	if existed {
		// A file shorter than its pages would make bbolt fault on the mapping (SIGBUS), which no recover catches.
		if err := checkLength(path); err != nil {
			return nil, fmt.Errorf("ledger open %s: %w", path, err)
		}
	}
	db, err := openBolt(path, opts.OpenTimeout)
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("ledger open %s: file is locked by another process (waited %s): %w", path, opts.OpenTimeout, err)
		}
		if errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("ledger open %s: %w", path, err)
		}
		return nil, fmt.Errorf("ledger open %s: not a readable walletgate database: %w", path, err)
	}
	trim := newMapTrim(path, opts.MapTrim, opts.mapTrim)
	if existed {
		if err := checkFileContext(ctx, db, trim, opts.open.check); err != nil {
			return nil, fmt.Errorf("ledger open %s: %w", path, err)
		}
	}
	if opts.open.beforeInit != nil {
		opts.open.beforeInit()
	}
	if err := ctx.Err(); err != nil { // nothing has written to the file yet (but bbolt's creation of a new one)
		_ = db.Close()
		return nil, fmt.Errorf("ledger open %s: %w", path, abandoned("before the first write", err))
	}
	l := &Ledger{
		db:      db,
		trim:    trim,
		opts:    opts,
		now:     func() time.Time { return now().UTC() },
		queue:   make(chan *op, opts.MaxBatch),
		stopped: make(chan struct{}),

		outboxWake: make(chan struct{}, 1),
		wlog:       newWalletLog(opts.walletRound),
	}
	if err := l.init(existed); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ledger open %s: %w", path, err)
	}
	l.durable.Store(l.batchSeq)
	go l.run()
	l.startLienSweeper()
	return l, nil
}

// openBolt opens the file with bbolt, turning a panic on a damaged file (bbolt trusts its pages) into ErrCorrupt.
func openBolt(path string, timeout time.Duration) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
}

// boltMagic marks a bbolt meta page.
const boltMagic = 0xED0CDAED

// checkLength refuses a bbolt file that is shorter than its newest meta page says: its high-water page number times
// its page size. Meta pages are bbolt's on-disk format (page header of 16 bytes, then magic, version, page size,
// flags, root bucket, freelist page, high-water page, transaction id, in native byte order); a file without a
// readable meta page is left to bbolt to reject.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt reports it
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	meta := func(off int64) (txid, pages uint64, pageSize uint32, ok bool) {
		var buf [16 + 56]byte
		if _, err := f.ReadAt(buf[:], off); err != nil {
			return 0, 0, 0, false
		}
		m := buf[16:]
		if binary.NativeEndian.Uint32(m[0:]) != boltMagic {
			return 0, 0, 0, false
		}
		return binary.NativeEndian.Uint64(m[48:]), binary.NativeEndian.Uint64(m[40:]), binary.NativeEndian.Uint32(m[8:]), true
	}
	txid, pages, pageSize, ok := meta(0)
	second := int64(os.Getpagesize())
	if ok && pageSize > 0 {
		second = int64(pageSize)
	}
	if t1, p1, s1, ok1 := meta(second); ok1 && (!ok || t1 > txid) {
		txid, pages, pageSize, ok = t1, p1, s1, true
	}
	if ok && pageSize > 0 && pages < 1<<40 && st.Size() < int64(pages)*int64(pageSize) {
		return fmt.Errorf("%w: truncated: the file has %d bytes, its meta page says %d pages of %d", ErrCorrupt,
			st.Size(), pages, pageSize)
	}
	return nil
}

// abandoned is OpenContext's error when ctx ended at stage, before anything was written to the file.
func abandoned(stage string, ctxErr error) error {
	return fmt.Errorf("abandoned %s, nothing written: %w", stage, ctxErr)
}

// checkFileContext runs checkFile, with the map trim around it, in a goroutine of its own, and waits for it or for
// ctx to end. On ctx's end it returns at once an error that wraps ctx.Err() and leaves the goroutine behind: bbolt's
// check cannot be interrupted, and db.Close would wait for its read transaction. That goroutine stops the trim when
// the check ends (until then nothing can remap the file: no read-write transaction runs) and closes db, which
// releases the file lock. Otherwise it returns checkFile's result, with the trim stopped and, on a failure, db
// closed. hook, when set, is called in the check's read transaction before the check (tests).
func checkFileContext(ctx context.Context, db *bolt.DB, trim *mapTrim, hook func()) error {
	stopTrim := trim.during() // checkFile maps every page of the file
	done := make(chan error, 1)
	go func() { done <- checkFile(db, hook) }()
	select {
	case err := <-done:
		stopTrim()
		if err != nil {
			_ = db.Close()
		}
		return err
	case <-ctx.Done():
		go func() {
			<-done // dropped: the file was only read, and the next Open checks it again
			stopTrim()
			_ = db.Close()
		}()
		return abandoned("during the consistency check", ctx.Err())
	}
}

// checkFile runs bbolt's consistency check over every page of an existing file before anything writes to it, so a
// damaged ledger is refused as it is (and can be restored or examined) rather than used until a read trips over it.
// It reads the whole file once, and its bookkeeping (bbolt keeps a map entry for every page: ~200 MB of heap on a
// 16.5 GB ledger) is garbage once it returns: it goes back to the OS at once, not at the collector's next cycle,
// which a server with a small live heap may not reach for a long time. The kernel reads ahead around the check's page
// faults, and the file's pages leave the page cache when it ends (readAround). hook, when set, is called in the read
// transaction before the check (tests).
func checkFile(db *bolt.DB, hook func()) (err error) {
	defer debug.FreeOSMemory()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: consistency check: %v", ErrCorrupt, p)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		restore := readAround(db)
		defer restore(true)
		if hook != nil {
			hook()
		}
		var first error
		for cerr := range tx.Check() { // drain: the check goroutine sends every problem it finds
			if first == nil {
				first = fmt.Errorf("%w: consistency check: %v", ErrCorrupt, cerr)
			}
		}
		return first
	})
}

// init checks the format marker of an existing file or lays out a new one.
func (l *Ledger) init(existed bool) error {
	upgrade := false
	err := l.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if existed && !empty {
				return ErrNotLedger
			}
			for _, name := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			if err := tx.Bucket(bucketMeta).Put(keyFormat, []byte(formatID)); err != nil {
				return err
			}
			return l.wlog.load(tx, 0)
		}
		switch got := string(meta.Get(keyFormat)); got {
		case formatID:
		case formatV2:
			if _, err := tx.CreateBucketIfNotExists(bucketWalletLog); err != nil {
				return err
			}
			if err := meta.Put(keyFormat, []byte(formatID)); err != nil {
				return err
			}
		case formatV1, formatUpgrading:
			upgrade = true
		default:
			return fmt.Errorf("%w (format %q, want %q)", ErrNotLedger, got, formatID)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		l.batchSeq = lastBatch(tx)
		// In this transaction, so that a damaged log value refuses the file before anything is written to it. A
		// format-1 file has an empty log until its upgrade (below) is done.
		return l.wlog.load(tx, l.batchSeq)
	})
	if err != nil || !upgrade {
		return err
	}
	return upgradeV1(l.db)
}

// Close stops taking operations, lets the writer finish and commit everything already queued, and closes the
// file. Operations submitted after Close began get ErrClosed.
func (l *Ledger) Close() error {
	l.stopLienSweeper()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.stopped
		return nil
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	<-l.stopped
	return l.db.Close()
}

// Ready reports whether the ledger takes writes: open, not closed, not stopped by an unknown commit outcome, and
// not failing its commits. It returns ErrClosed, ErrOutcomeUnknown, or an error wrapping ErrStorage.
//
// After a commit failed with nothing committed (a full disk, a failing device), Ready does not trust a single
// failure either way: it makes a probe write of its own (one at a time however many callers ask), waits up to
// ReadyProbeWait for it, and reports ready only when that write succeeded. The probe writes a scratch value larger
// than all the file's free pages, so it commits only if the file can take new pages, as a real commit on a full disk
// must; after it succeeded, a second commit deletes the value. So a transient failure that is already over does not
// flip readiness, failing writes keep it not ready however rarely the switch sends, and the first successful commit
// (a probe's or a real one) makes it ready again. When a real commit fails although a probe succeeded since the last
// successful real commit, the probe is not trusted: Ready reports not ready, without probing, until ReadyHold has
// passed since the last real failure. A healthy ledger never probes.
func (l *Ledger) Ready() error {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case l.failed.Load():
		return ErrOutcomeUnknown
	case l.writeFailing.Load():
		if l.held() {
			return errWritesFailing
		}
		return l.probe()
	}
	return nil
}

// probe starts a probe write unless one is in flight, and waits for it up to ReadyProbeWait.
func (l *Ledger) probe() error {
	l.probeMu.Lock()
	p := l.probing
	if p == nil {
		p = &readyProbe{done: make(chan struct{})}
		l.probing = p
		go func() {
			_, err := submit(probeContext(), l, probeWrite)
			if err == nil {
				_, _ = submit(probeContext(), l, probeCleanup) // its failure is the next Ready's business
			}
			l.probeMu.Lock()
			p.err = err
			l.probing = nil
			l.probeMu.Unlock()
			close(p.done)
		}()
	}
	l.probeMu.Unlock()
	timer := time.NewTimer(ReadyProbeWait)
	defer timer.Stop()
	select {
	case <-p.done:
		switch {
		case p.err == nil:
			return nil
		case errors.Is(p.err, ErrClosed), errors.Is(p.err, ErrOutcomeUnknown):
			return p.err
		}
	case <-timer.C:
	}
	return errWritesFailing
}

// op is one unit of work for the writer. fn runs inside the batch's read-write transaction and must be a pure
// function of the transaction's state and its own inputs: the writer may run it again on a fresh transaction
// after another operation of the batch failed. fn returns an error only for storage failures; business
// outcomes are part of its value.
type op struct {
	ctx  context.Context
	fn   func(w *wtx) (any, error)
	done chan opResult
}

type opResult struct {
	v   any
	err error
}

// submit queues fn for the writer and waits for the committed result. An operation whose ctx ends before its
// batch starts is dropped (never applied) and answered with the ctx error; once its batch starts it is applied
// and committed whatever happens to ctx, and submit waits for that, so a caller never walks away from a commit
// in flight.
func submit[T any](ctx context.Context, l *Ledger, fn func(w *wtx) (T, error)) (T, error) {
	var zero T
	o := &op{
		ctx:  ctx,
		fn:   func(w *wtx) (any, error) { return fn(w) },
		done: make(chan opResult, 1),
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return zero, ErrClosed
	}
	if l.failed.Load() {
		l.mu.RUnlock()
		return zero, ErrOutcomeUnknown
	}
	select {
	case l.queue <- o:
	case <-ctx.Done():
		l.mu.RUnlock()
		return zero, ctx.Err()
	}
	l.mu.RUnlock()
	r := <-o.done
	if r.err != nil {
		return zero, r.err
	}
	return r.v.(T), nil
}

// run is the writer: one goroutine owning every read-write transaction.
func (l *Ledger) run() {
	defer close(l.stopped)
	batch := make([]*op, 0, l.opts.MaxBatch)
	for {
		first, ok := l.next()
		if !ok {
			return
		}
		batch = l.collect(append(batch[:0], first))
		l.lastBatch = len(batch)
		l.commit(batch)
		clear(batch)
		l.trim.afterCommit()
	}
}

// collect adds queued operations to batch, up to MaxBatch: while BatchDelay runs it waits for more, after that it
// takes what is already queued and, for at most FillWait, what arrives until the batch is as large as the last one.
func (l *Ledger) collect(batch []*op) []*op {
	var wait, fill <-chan time.Time
	if l.opts.BatchDelay > 0 {
		timer := time.NewTimer(l.opts.BatchDelay)
		defer timer.Stop()
		wait = timer.C
	}
	fillUntil := 0 // the batch waits for more while it is smaller than this
	if l.opts.FillWait > 0 {
		fillUntil = min(l.lastBatch, l.opts.MaxBatch)
	}
	for len(batch) < l.opts.MaxBatch {
		var o *op
		ok := true
		if wait != nil {
			select {
			case o, ok = <-l.queue:
			case <-wait:
				wait = nil
				continue
			}
		} else {
			select {
			case o, ok = <-l.queue:
			default:
				if len(batch) >= fillUntil {
					return batch
				}
				if fill == nil {
					// Waiting saves a commit: it is worth at most what a commit costs on this disk now.
					timer := time.NewTimer(min(l.opts.FillWait, l.lastCommit))
					defer timer.Stop()
					fill = timer.C
				}
				select {
				case o, ok = <-l.queue:
				case <-fill:
					return batch
				}
			}
		}
		if !ok {
			return batch
		}
		batch = append(batch, o)
	}
	return batch
}

// commit applies ops in one transaction and answers each of them exactly once.
func (l *Ledger) commit(ops []*op) {
	live := ops[:0:0]
	for _, o := range ops {
		if err := o.ctx.Err(); err != nil {
			o.done <- opResult{err: err} // never applied
			continue
		}
		live = append(live, o)
	}
	for len(live) > 0 {
		if l.failed.Load() {
			answerAll(live, opResult{err: ErrOutcomeUnknown})
			return
		}
		results, failedAt, err := l.tryCommit(live)
		l.noteCommit(live, err)
		switch {
		case err == nil:
			for i, o := range live {
				o.done <- results[i]
			}
			return
		case failedAt >= 0:
			// One operation hit a storage error: nothing was committed. Answer it, and decide the others again
			// from scratch on a new transaction (their functions are pure, so nothing is applied twice).
			live[failedAt].done <- opResult{err: fmt.Errorf("%w: %v", ErrStorage, err)}
			live = append(live[:failedAt:failedAt], live[failedAt+1:]...)
		default:
			answerAll(live, opResult{err: err})
			return
		}
	}
}

func answerAll(ops []*op, r opResult) {
	for _, o := range ops {
		o.done <- r
	}
}

// tryCommit runs every op in one transaction. It returns the index of an op whose function failed (nothing
// committed), or a batch-wide error: ErrStorage when nothing was committed, ErrOutcomeUnknown when bbolt may
// have written the commit.
func (l *Ledger) tryCommit(ops []*op) (results []opResult, failedAt int, err error) {
	tx, err := l.db.Begin(true)
	if err != nil {
		return nil, -1, fmt.Errorf("%w: begin: %v", ErrStorage, err)
	}
	batch := l.batchSeq + 1
	w := newWtx(tx, l, batch)
	results = make([]opResult, len(ops))
	for i, o := range ops {
		v, ferr := o.fn(w)
		if ferr != nil {
			_ = tx.Rollback()
			return nil, i, ferr
		}
		results[i] = opResult{v: v}
	}
	copied, err := l.wlog.beforeCommit(tx, batch, w.staged)
	if err != nil {
		_ = tx.Rollback()
		return nil, -1, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], batch)
	if err := w.meta.Put(keyBatch, b[:]); err != nil {
		_ = tx.Rollback()
		return nil, -1, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	hook := l.opts.BeforeCommit
	if l.opts.BeforeProbeCommit != nil && probesOnly(ops) {
		hook = l.opts.BeforeProbeCommit
	}
	if hook != nil {
		if err := hook(); err != nil {
			_ = tx.Rollback()
			l.observe(0, len(ops), err)
			return nil, -1, fmt.Errorf("%w: %v", ErrStorage, err)
		}
	}
	l.wlog.commitMu.Lock() // no read transaction begins until the batch's wallet records are in memory
	start := time.Now()
	err = tx.Commit()
	l.lastCommit = time.Since(start)
	l.observe(l.lastCommit, len(ops), err)
	if err != nil {
		landed := l.landed(batch)
		if landed {
			// Readers may see the batch: keep its wallet records with it, though writes stop here.
			l.wlog.afterCommit(batch, w.staged, copied)
		}
		l.wlog.commitMu.Unlock()
		if landed {
			l.failed.Store(true)
			return nil, -1, fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
		}
		return nil, -1, fmt.Errorf("%w: commit: %v", ErrStorage, err)
	}
	l.wlog.afterCommit(batch, w.staged, copied)
	l.wlog.commitMu.Unlock()
	l.batchSeq = batch
	l.durable.Store(batch)
	l.wakeOutbox()
	return results, -1, nil
}

// landed reports whether the meta page of a failed commit is visible anyway (written but maybe not fsync'd). When
// the check itself fails we cannot know, and say it landed: an unknown outcome must never be reported as "nothing
// committed".
func (l *Ledger) landed(batch uint64) bool {
	landed := true
	_ = l.db.View(func(tx *bolt.Tx) error {
		landed = lastBatch(tx) >= batch
		return nil
	})
	return landed
}

func (l *Ledger) observe(d time.Duration, n int, err error) {
	if l.opts.Observer != nil {
		l.opts.Observer.ObserveCommit(d, n, err)
	}
}

// view runs fn in a read-only transaction, which sees the wallet log's records as of its batch (walletlog.go).
// After Close it returns ErrClosed, like the writes.
func (l *Ledger) view(fn func(r *rtx) error) error {
	g := l.wlog
	g.commitMu.RLock()
	g.readers.Add(1)
	defer g.readers.Add(-1)
	tx, err := l.db.Begin(false)
	g.commitMu.RUnlock()
	if err != nil {
		return closedAs(err)
	}
	defer func() { _ = tx.Rollback() }()
	r := newRtx(tx)
	r.wl, r.snap = g, lastBatch(tx)
	return fn(r)
}

// lastBatch is the number of the last batch committed as tx sees the file, 0 before the first.
func lastBatch(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(keyBatch); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// storedRequest reads requestId id's record in a read transaction of its own that opens the requests bucket
// alone: the look-up a switch message makes before it goes to the writer (every fresh debit pays it) needs none of
// the other buckets newRtx opens, nor view's wallet snapshot (it reads no wallet). nil when there is none.
func (l *Ledger) storedRequest(id string) (rec *requestRecord, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		rec, err = requestIn(tx.Bucket(bucketRequests), id)
		return err
	})
	return rec, closedAs(err)
}

// closedAs turns bbolt's "database not open" into ErrClosed: reads after Close fail like the writes.
func closedAs(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
