package ledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// ReadyHold is how long Ready stays not ready, without probing, after a real commit failed although a probe write
// had succeeded since the last successful real commit: the probe vouched for writes that then failed, so it is not
// trusted again until the real failures have stopped for that long.
const ReadyHold = 5 * time.Second

// Probe sizing: the scratch value of a probe write is one page more than every free and pending page of the file,
// so that bbolt cannot place it in free pages and must write past the file's high-water mark, the way a real commit
// on a full disk must; at least minProbePages, at most maxProbeBytes.
const (
	minProbePages = 4
	maxProbeBytes = 4 << 20
)

var (
	bucketProbe = []byte("readyprobe") // "scratch" -> the last probe write's value, deleted by the next probe
	keyScratch  = []byte("scratch")
)

// probeKey marks the context of a probe write, so that the writer can tell a batch of probes from real writes.
type probeKey struct{}

func probeContext() context.Context { return context.WithValue(context.Background(), probeKey{}, true) }

// probesOnly reports whether every operation of a batch is a probe write.
func probesOnly(ops []*op) bool {
	for _, o := range ops {
		if o.ctx.Value(probeKey{}) == nil {
			return false
		}
	}
	return len(ops) > 0
}

// writeHealth is what the writer learned from its last commits, for Ready. Guarded by its mutex.
type writeHealth struct {
	mu sync.Mutex
	// vouched: a probe write succeeded since the last successful real commit.
	vouched bool
	// holdUntil: Ready is not ready without probing until then (a real commit failed after a probe vouched).
	holdUntil time.Time
}

// noteCommit records the outcome of one commit attempt of ops (called by the writer).
func (l *Ledger) noteCommit(ops []*op, err error) {
	failing := err != nil && !errors.Is(err, ErrOutcomeUnknown)
	probe := probesOnly(ops)
	l.health.mu.Lock()
	switch {
	case err == nil && probe:
		l.health.vouched = true
	case err == nil:
		l.health.vouched = false
		l.health.holdUntil = time.Time{}
	case failing && !probe && l.health.vouched:
		l.health.holdUntil = l.clock().Add(ReadyHold)
	}
	l.health.mu.Unlock()
	l.writeFailing.Store(failing)
}

// held reports whether Ready must answer not ready without probing.
func (l *Ledger) held() bool {
	l.health.mu.Lock()
	defer l.health.mu.Unlock()
	return !l.health.holdUntil.IsZero() && l.clock().Before(l.health.holdUntil)
}

// clock is Options.Now as given (time.Now by default, whose monotonic reading keeps ReadyHold immune to clock steps).
func (l *Ledger) clock() time.Time {
	if l.opts.Now != nil {
		return l.opts.Now()
	}
	return time.Now()
}

// probeWrite is the operation of a probe: it replaces the previous probe's scratch value with a new one too large
// for the file's free pages (see minProbePages), so that it commits only if the file can take new pages. The value
// is random, so that a compressing file system cannot store it in no space.
func probeWrite(w *wtx) (struct{}, error) {
	b, err := w.tx.CreateBucketIfNotExists(bucketProbe)
	if err != nil {
		return struct{}{}, err
	}
	db := w.tx.DB()
	page := db.Info().PageSize
	st := db.Stats()
	n := max(st.FreePageN+st.PendingPageN+1, minProbePages)
	n = min(n, max(maxProbeBytes/page, minProbePages))
	v := make([]byte, n*page)
	r := rand.NewChaCha8([32]byte{byte(w.batch), byte(w.batch >> 8), byte(w.batch >> 16), byte(w.batch >> 24)})
	_, _ = r.Read(v)
	return struct{}{}, b.Put(keyScratch, v)
}

// probeCleanup deletes the scratch value of a successful probe, so that its pages go back to the freelist for the
// real writes that follow. A cleanup that does not happen is redone by the next probe, which replaces the value.
func probeCleanup(w *wtx) (struct{}, error) {
	if b := w.tx.Bucket(bucketProbe); b != nil {
		return struct{}{}, b.Delete(keyScratch)
	}
	return struct{}{}, nil
}
