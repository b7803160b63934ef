package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// cancelFixture writes a closed ledger holding wallet "w1" with a balance of 700 and returns its path. The ledger
// belongs to an openTest, whose cleanup reopens and audits the file at the end of the test.
func cancelFixture(t *testing.T) string {
	t.Helper()
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 700)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return l.path
}

// fileHash is the SHA-256 of the file at path.
func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// wantW1 opens path with Open (its default OpenTimeout) and checks that wallet "w1" still holds 700.
func wantW1(t *testing.T, path string) {
	t.Helper()
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after the abandoned start-up: %v", err)
	}
	defer l.Close()
	w, err := l.Wallet(bg, "w1")
	if err != nil {
		t.Fatalf("Wallet(w1): %v", err)
	}
	if w.Balance != 700 {
		t.Errorf("balance of w1 = %d, want 700", w.Balance)
	}
}

// wantUnlocked fails the test unless the file lock on path is free: a read-only bbolt open (a shared lock, refused
// while a read-write open holds the exclusive one) succeeds within a short timeout. It writes nothing.
func wantUnlocked(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the file is still locked: %v", err)
	}
	_ = db.Close()
}

// wantAbandoned fails the test unless OpenContext returned an error wrapping want (closing the ledger it got
// otherwise); situation says what should have stopped it.
func wantAbandoned(t *testing.T, l *Ledger, err error, want error, situation string) {
	t.Helper()
	if err == nil {
		_ = l.Close()
		t.Fatal("OpenContext succeeded " + situation)
	}
	if !errors.Is(err, want) {
		t.Errorf("OpenContext = %v, want %v", err, want)
	}
}

// TestOpenContextCancelDuringCheck holds OpenContext in the consistency check of an existing ledger (inside the
// check's read transaction, as a long check is, so that closing the file would wait) and cancels its context:
// OpenContext must return promptly with context.Canceled and the file unchanged. The abandoned check holds
// the file lock until it ends; then its goroutine closes the file (the lock is free again, still nothing written)
// and ends, the map trim's goroutine with it, and the ledger opens with its data intact.
func TestOpenContextCancelDuringCheck(t *testing.T) {
	path := cancelFixture(t)
	before := fileHash(t, path)
	goroutines := runtime.NumGoroutine()

	started, release := make(chan struct{}), make(chan struct{})
	releaseCheck := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseCheck) // a failed test must not leave the check blocked
	opts := Options{open: openHooks{check: func() { close(started); <-release }}}

	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	type result struct {
		l   *Ledger
		err error
	}
	res := make(chan result, 1)
	go func() {
		l, err := OpenContext(ctx, path, opts)
		res <- result{l, err}
	}()
	select {
	case <-started:
	case r := <-res:
		t.Fatalf("OpenContext returned (%v) without running the check", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the consistency check did not start within 10s")
	}

	cancel()
	at := time.Now()
	var r result
	select {
	case r = <-res:
	case <-time.After(5 * time.Second):
		t.Fatal("OpenContext did not return within 5s of the cancel while its check was held")
	}
	t.Logf("OpenContext returned %v after the cancel: %v", time.Since(at).Round(time.Microsecond), r.err)
	if r.err == nil {
		_ = r.l.Close()
		t.Fatal("OpenContext succeeded after its context was cancelled during the check")
	}
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("OpenContext = %v, want context.Canceled", r.err)
	}
	if fileHash(t, path) != before {
		t.Fatal("the abandoned OpenContext changed the file")
	}

	// The held check still has the file open, with its lock.
	if l, err := Open(path, Options{OpenTimeout: 100 * time.Millisecond}); err == nil {
		_ = l.Close()
		t.Fatal("Open succeeded while the abandoned check still held the file")
	} else if !errors.Is(err, bolt.ErrTimeout) {
		t.Fatalf("Open while the abandoned check holds the file = %v, want a lock timeout", err)
	}

	releaseCheck()
	deadline := time.Now().Add(10 * time.Second)
	for {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
		if err == nil {
			_ = db.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the file is still locked 10s after the abandoned check was released: %v", err)
		}
	}
	if fileHash(t, path) != before {
		t.Fatal("the abandoned check's goroutine changed the file")
	}
	// The check's goroutine and the trim's are gone. (A count: the ledger's tests do not run in parallel.)
	for runtime.NumGoroutine() > goroutines {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before OpenContext: the abandoned check left some behind",
				runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(time.Millisecond)
	}
	wantW1(t, path)
}

// TestOpenContextCancelledBefore: with a context that has already ended, OpenContext creates nothing for a missing
// path (neither the file nor its directory), does not check, lock or change an existing file, and returns the
// context's error.
func TestOpenContextCancelledBefore(t *testing.T) {
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	expired, cancel2 := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancel2()

	t.Run("missing path", func(t *testing.T) {
		dir := t.TempDir()
		for _, c := range []struct {
			ctx  context.Context
			want error
		}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
			l, err := OpenContext(c.ctx, filepath.Join(dir, "data", "ledger.db"), Options{})
			wantAbandoned(t, l, err, c.want, "with a context that had ended")
			if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("OpenContext created the ledger's directory (stat: %v)", err)
			}
		}
	})

	t.Run("existing file", func(t *testing.T) {
		path := cancelFixture(t)
		before := fileHash(t, path)
		opts := Options{open: openHooks{check: func() { t.Error("the consistency check ran") }}}
		l, err := OpenContext(cancelled, path, opts)
		wantAbandoned(t, l, err, context.Canceled, "with a cancelled context")
		t.Logf("OpenContext: %v", err)
		if fileHash(t, path) != before {
			t.Fatal("OpenContext changed the file")
		}
		wantUnlocked(t, path)
		wantW1(t, path)
	})
}

// TestOpenContextCancelBeforeFirstWrite: a context that ends after the consistency check but before the first write
// still stops OpenContext with nothing written, and the file is closed at once (its lock free). For a missing path,
// the file bbolt created is an empty bbolt database that the next Open takes as a new ledger.
func TestOpenContextCancelBeforeFirstWrite(t *testing.T) {
	t.Run("existing file", func(t *testing.T) {
		path := cancelFixture(t)
		before := fileHash(t, path)
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		var checked atomic.Bool
		opts := Options{open: openHooks{check: func() { checked.Store(true) }, beforeInit: cancel}}
		l, err := OpenContext(ctx, path, opts)
		wantAbandoned(t, l, err, context.Canceled, "after its context was cancelled before the first write")
		if !checked.Load() {
			t.Error("the consistency check did not run")
		}
		if fileHash(t, path) != before {
			t.Fatal("OpenContext changed the file")
		}
		wantUnlocked(t, path)
		wantW1(t, path)
	})

	t.Run("missing path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ledger.db")
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		l, err := OpenContext(ctx, path, Options{open: openHooks{beforeInit: cancel}})
		wantAbandoned(t, l, err, context.Canceled, "after its context was cancelled before the first write")
		tl := openTest(t, withPath(path))
		mustWallet(t, tl, "w1", "566", 0)
		mustCredit(t, tl, "w1", 700)
		tl.reopen()
		wantBalances(t, tl, map[string]int64{"w1": 700})
	})
}

// TestOpenContextNotCancelled: with a context that could end but does not, OpenContext is Open: it checks the file
// and opens it with its data, and a damaged file is still refused with ErrCorrupt, unchanged.
func TestOpenContextNotCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(bg)
	defer cancel()

	path := cancelFixture(t)
	var checks atomic.Int32
	l, err := OpenContext(ctx, path, Options{open: openHooks{check: func() { checks.Add(1) }}})
	if err != nil {
		t.Fatalf("OpenContext: %v", err)
	}
	w, err := l.Wallet(bg, "w1")
	if err != nil || w.Balance != 700 {
		t.Errorf("Wallet(w1) = %d, %v; want a balance of 700", w.Balance, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := checks.Load(); n != 1 {
		t.Errorf("the consistency check ran %d times, want 1", n)
	}

	orig, treePage := corruptFixture(t)
	page := os.Getpagesize()
	damaged := append([]byte(nil), orig...)
	clear(damaged[treePage*page : (treePage+1)*page])
	path = filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, path)
	if l, err := OpenContext(ctx, path, Options{}); err == nil {
		_ = l.Close()
		t.Fatal("OpenContext succeeded on a damaged file")
	} else if !errors.Is(err, ErrCorrupt) || errors.Is(err, context.Canceled) {
		t.Errorf("OpenContext of a damaged file = %v, want ErrCorrupt", err)
	}
	if fileHash(t, path) != before {
		t.Error("OpenContext changed the damaged file")
	}
}
