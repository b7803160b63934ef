package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeFile stores a backup's bytes as a file of its own.
func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBackupIsConsistentCopy(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustWallet(t, l, "w2", "952", 0)
	mustCredit(t, l, "w1", 10_000)
	mustCredit(t, l, "w2", 700)
	mustDebit(t, l, dreq("r1", "t1", "w1", 1_500, 50), nil)
	mustDebit(t, l, dreq("r2", "t2", "w1", 1_000_000, 0), ErrInsufficientFunds)
	mustReverse(t, l, rreq("r3", "t3", "t1", "w1", 500), nil)
	before := readBooks(t, l)

	var buf bytes.Buffer
	size := int64(-1)
	n, err := l.Backup(bg, &buf, func(s int64) { size = s })
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if n != int64(buf.Len()) || size != n {
		t.Fatalf("Backup wrote %d bytes, buffer holds %d, announced size %d", n, buf.Len(), size)
	}
	// The original keeps working after the copy, and the copy does not see what came later.
	mustDebit(t, l, dreq("r4", "t4", "w1", 100, 0), nil)

	path := writeFile(t, buf.Bytes())
	rep, err := CheckFile(bg, path, time.Second)
	if err != nil || !rep.OK {
		t.Fatalf("CheckFile: ok=%v err=%v problems=%v", rep.OK, err, rep.Problems)
	}
	if rep.Wallets != 2 || rep.Entries != uint64(before.Entries) {
		t.Errorf("CheckFile counted %d wallets and %d entries, want 2 and %d", rep.Wallets, rep.Entries, before.Entries)
	}
	c := openTest(t, withPath(path))
	if got := readBooks(t, c); !reflect.DeepEqual(got, before) {
		t.Errorf("the copy's books differ from the original's at backup time:\n got %+v\nwant %+v", got, before)
	}
	// The copy is a working ledger: the stored answers replay, and it takes new writes.
	a, err := c.Replay(bg, "r1", dreq("r1", "t1", "w1", 1_500, 50).Fingerprint)
	if err != nil {
		t.Fatalf("Replay on the copy: %v", err)
	}
	checkAnswer(t, a, "r1", nil, true)
	mustDebit(t, c, dreq("r5", "t5", "w1", 100, 0), nil)
}

// TestBackupUnderLoad takes copies while debits commit: every copy must be a ledger whose books balance.
func TestBackupUnderLoad(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000_000)
	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 200; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				if _, err := l.Debit(bg, dreq(id, id, "w1", 10, 1)); err != nil {
					t.Errorf("Debit %s: %v", id, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		var buf bytes.Buffer
		if _, err := l.Backup(bg, &buf, nil); err != nil {
			t.Fatalf("Backup %d: %v", i, err)
		}
		rep, err := CheckFile(bg, writeFile(t, buf.Bytes()), time.Second)
		if err != nil || !rep.OK {
			t.Fatalf("copy %d: ok=%v err=%v problems=%v", i, rep.OK, err, rep.Problems)
		}
	}
	cancel()
	wg.Wait()
}

// cancelAfterFirst cancels its context on the first write and fails nothing itself.
type cancelAfterFirst struct {
	cancel context.CancelFunc
	writes int
}

func (c *cancelAfterFirst) Write(p []byte) (int, error) {
	c.writes++
	c.cancel()
	return len(p), nil
}

func TestBackupStops(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 100)

	t.Run("context already ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(bg)
		cancel()
		called := false
		if _, err := l.Backup(ctx, &bytes.Buffer{}, func(int64) { called = true }); !errors.Is(err, context.Canceled) {
			t.Fatalf("Backup = %v, want context.Canceled", err)
		}
		if called {
			t.Error("sized was called for a backup that never started")
		}
	})
	t.Run("context ends while writing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		w := &cancelAfterFirst{cancel: cancel}
		if _, err := l.Backup(ctx, w, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Backup = %v, want context.Canceled", err)
		}
		if w.writes != 1 {
			t.Errorf("%d writes after the context ended, want the backup to stop after the first", w.writes)
		}
		// The read transaction is released: the writer still commits.
		mustCredit(t, l, "w1", 1)
	})
	t.Run("writer fails", func(t *testing.T) {
		boom := errors.New("disk full")
		if _, err := l.Backup(bg, failWriter{boom}, nil); !errors.Is(err, boom) {
			t.Fatalf("Backup = %v, want %v", err, boom)
		}
	})
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestBackupAfterClose(t *testing.T) {
	l := openTest(t)
	l.reopen()
	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Backup(bg, &bytes.Buffer{}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup after Close = %v, want ErrClosed", err)
	}
}

func TestBackupFile(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 4_200)
	want := readBooks(t, l)

	// While the ledger is open its lock keeps a second reader out.
	if _, err := BackupFile(bg, l.path, 50*time.Millisecond, &bytes.Buffer{}, nil); !errors.Is(err, bolt.ErrTimeout) {
		t.Fatalf("BackupFile on an open ledger = %v, want a lock timeout", err)
	}

	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	size := int64(-1)
	n, err := BackupFile(bg, l.path, time.Second, &buf, func(s int64) { size = s })
	if err != nil || n != int64(buf.Len()) || size != n {
		t.Fatalf("BackupFile = %d, %v (buffer %d, size %d)", n, err, buf.Len(), size)
	}
	c := openTest(t, withPath(writeFile(t, buf.Bytes())))
	if got := readBooks(t, c); !reflect.DeepEqual(got, want) {
		t.Errorf("offline copy differs:\n got %+v\nwant %+v", got, want)
	}
}

func TestCheckFileRefuses(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.db")
	createBolt(t, plain, "sessions")
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("walletgate"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}

	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 100)
	var buf bytes.Buffer
	if _, err := l.Backup(bg, &buf, nil); err != nil {
		t.Fatal(err)
	}
	cut := func(name string, n int) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf.Bytes()[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	for _, tc := range []struct {
		name, path string
		is         error
	}{
		{"another program's bbolt file", plain, ErrNotLedger},
		{"not a database", garbage, nil},
		{"copy cut in half", cut("half.db", buf.Len()/2), nil},
		{"copy cut after the first meta page", cut("meta.db", 5000), nil},
		{"copy cut in the first page", cut("short.db", 100), nil},
		{"empty file", cut("empty.db", 0), nil},
		{"missing file", filepath.Join(dir, "nope.db"), os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := CheckFile(bg, tc.path, time.Second)
			if err == nil {
				t.Fatalf("CheckFile accepted %s: %+v", tc.name, rep)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("CheckFile = %v, want %v", err, tc.is)
			}
		})
	}
	info, err := os.Stat(plain)
	if err != nil || info.Size() == 0 {
		t.Fatalf("the checked file changed: %v", err)
	}
}

// TestCheckFileReportsBadBooks tampers with a copy's wallet balance: the check must say the books do not add up.
func TestCheckFileReportsBadBooks(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 100)
	var buf bytes.Buffer
	if _, err := l.Backup(bg, &buf, nil); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, buf.Bytes())
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tamperWallet(tx, "w1", func(w *walletRecord) { w.Balance += 1_000_000 })
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	rep, err := CheckFile(bg, path, time.Second)
	if err != nil {
		t.Fatalf("CheckFile: %v", err)
	}
	if rep.OK || len(rep.Problems) == 0 {
		t.Fatalf("CheckFile found nothing wrong with a wallet credited outside the journal: %+v", rep)
	}
}
