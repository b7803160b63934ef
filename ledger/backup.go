package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Backup writes a consistent copy of the whole ledger file to w: the database as of one read-only transaction, so
// it holds every commit that returned before Backup began and nothing of a commit that had not. It does not enter
// the writer: debits, reversals and credits keep committing while the copy is written. sized, when not nil, is
// called with the copy's exact length before the first byte is written (an HTTP handler sends it as
// Content-Length, so a truncated copy can be recognised).
//
// The read transaction stays open until the last byte is written, and a commit that has to grow the file's memory
// map waits for it: write the copy to something fast (a local file, a client that reads promptly), never to a
// consumer that may stall. Backup stops with ctx's error as soon as ctx ends; what was written by then is not a
// usable copy. It returns the number of bytes written.
func (l *Ledger) Backup(ctx context.Context, w io.Writer, sized func(size int64)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	n, err := writeCopy(ctx, l.db, w, sized)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// BackupFile writes a consistent copy of the ledger file at path, which no running walletgate holds, to w (see
// Backup). It opens the file read-only and never changes it; while a server holds the file it fails after timeout
// (the server's lock excludes it: take the copy through the running server instead).
func BackupFile(ctx context.Context, path string, timeout time.Duration, w io.Writer, sized func(size int64)) (int64, error) {
	db, err := openReadOnly(path, timeout)
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w", path, err)
	}
	defer db.Close()
	n, err := writeCopy(ctx, db, w, sized)
	if err != nil {
		return n, fmt.Errorf("backup %s: %w", path, err)
	}
	return n, nil
}

// CheckFile verifies a ledger file that nothing else has open, typically a fresh backup: it opens the file
// read-only (never changing it), checks that it is a walletgate ledger, runs bbolt's page-level consistency check,
// and then the same Audit as a running ledger. A file that is not a walletgate ledger, or whose pages are
// inconsistent, is an error; a file whose books do not balance is a report with OK false.
func CheckFile(ctx context.Context, path string, timeout time.Duration) (AuditReport, error) {
	db, err := openReadOnly(path, timeout)
	if err != nil {
		return AuditReport{}, fmt.Errorf("check %s: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		// A copy just taken is usually in the page cache, and a read-only file is never remapped: the read-ahead
		// stays until the check ends and the cache is left as it is for the audit that follows.
		restore := readAround(db)
		defer restore(false)
		var problems []error
		for err := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, err)
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%w: inconsistent pages: %w", ErrNotLedger, errors.Join(problems...))
		}
		return nil
	})
	if err != nil {
		return AuditReport{}, fmt.Errorf("check %s: %w", path, err)
	}
	l := &Ledger{db: db, wlog: newWalletLog(0)}
	err = db.View(func(tx *bolt.Tx) error { return l.wlog.load(tx, lastBatch(tx)) })
	if err != nil {
		return AuditReport{}, fmt.Errorf("check %s: %w", path, err)
	}
	rep, err := l.Audit(ctx)
	if err != nil {
		return AuditReport{}, fmt.Errorf("check %s: %w", path, err)
	}
	return rep, nil
}

// openReadOnly opens a ledger file without writing to it and checks walletgate's format marker and buckets.
func openReadOnly(path string, timeout time.Duration) (*bolt.DB, error) {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("file is locked by another process (waited %s): %w", timeout, err)
		}
		return nil, fmt.Errorf("not a readable walletgate database: %w", err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		// A truncated file (a copy cut short) must be refused before any page is read: bbolt maps the file, and a
		// page beyond its end is a bus error, not an error value.
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if claimed := tx.Size(); st.Size() < claimed {
			return fmt.Errorf("%w: the file is %d bytes, its meta page says %d (truncated)", ErrNotLedger, st.Size(), claimed)
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return ErrNotLedger
		}
		switch got := string(meta.Get(keyFormat)); got {
		case formatID:
		case formatV1, formatUpgrading, formatV2:
			return fmt.Errorf("%w (format %q: an older layout, upgraded in place the first time walletgate serve opens it)", ErrNotLedger, got)
		default:
			return fmt.Errorf("%w (format %q, want %q)", ErrNotLedger, got, formatID)
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w (bucket %q missing)", ErrNotLedger, name)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// writeCopy writes db as of one read transaction to w, checking ctx between writes. bbolt flattens the writer's
// error into text, so the writer's own error is returned as it was, for errors.Is.
func writeCopy(ctx context.Context, db *bolt.DB, w io.Writer, sized func(int64)) (int64, error) {
	var n int64
	cw := &ctxWriter{ctx: ctx, w: w}
	err := db.View(func(tx *bolt.Tx) error {
		if sized != nil {
			sized(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(cw)
		return err
	})
	if err != nil && cw.err != nil {
		err = cw.err
	}
	return n, err
}

// ctxWriter fails every write once ctx has ended, so a cancelled backup releases its read transaction, and keeps
// the first error.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
	err error
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if c.err == nil {
		c.err = c.ctx.Err()
	}
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}
