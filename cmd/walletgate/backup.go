package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/walletgate/walletgate/ledger"
)

const backupUsage = `usage: walletgate backup --out FILE [--force] [--db LEDGER_FILE]

Writes a consistent copy of the ledger to FILE. By default it asks the running server (GET /admin/backup on
WALLETGATE_OPS_URL with WALLETGATE_ADMIN_TOKEN), which copies the bbolt file from one read transaction while it
keeps serving. With --db it copies the file of a stopped server instead. The copy goes to a temporary file next to
FILE, is fsync'd, checked (it must open as a walletgate ledger whose pages are consistent) and audited, and only
then renamed to FILE.`

// backupSummary is what the command reports (--json prints it as is).
type backupSummary struct {
	File     string   `json:"file"`
	Bytes    int64    `json:"bytes"`
	Wallets  int      `json:"wallets"`
	Entries  uint64   `json:"journalEntries"`
	AuditOK  bool     `json:"auditOk"`
	Problems []string `json:"problems,omitempty"`
}

// checkTimeout bounds the wait for a file lock when the command opens a ledger file itself.
const checkTimeout = 3 * time.Second

func backup(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, backupUsage); fs.PrintDefaults() }
	o := opsOptions{Timeout: time.Hour}
	o.bind(fs, getenv)
	out := fs.String("out", "", "file to write the copy to (required)")
	force := fs.Bool("force", false, "replace FILE if it exists")
	db := fs.String("db", "", "copy this ledger file of a stopped server instead of asking the running one")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{errors.New("backup: --out FILE is required")}
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		return usageError{fmt.Errorf("backup: %s exists (add --force to replace it)", *out)}
	}
	var c *opsClient
	if *db == "" {
		var err error
		if c, err = o.client(); err != nil {
			return err
		}
	}

	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()

	var n, want int64 = 0, -1
	if *db != "" {
		n, err = ledger.BackupFile(ctx, *db, checkTimeout, tmp, func(size int64) { want = size })
	} else {
		n, want, err = fetchBackup(ctx, c, tmp)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if want >= 0 && n != want {
		return fmt.Errorf("backup: the copy was cut short (%d of %d bytes); nothing was written to %s", n, want, *out)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	rep, err := ledger.CheckFile(ctx, tmp.Name(), checkTimeout)
	if err != nil {
		return fmt.Errorf("backup: the copy is not a sound walletgate ledger, nothing was written to %s: %w", *out, err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	renamed = true
	if err := syncDir(filepath.Dir(*out)); err != nil {
		return fmt.Errorf("backup: %s written, but its directory could not be synced: %w", *out, err)
	}

	sum := backupSummary{File: *out, Bytes: n, Wallets: rep.Wallets, Entries: rep.Entries, AuditOK: rep.OK,
		Problems: rep.Problems}
	if o.JSON {
		raw, _ := json.Marshal(sum)
		if err := printJSON(stdout, raw); err != nil {
			return err
		}
	} else {
		audit := "audit ok"
		if !rep.OK {
			audit = fmt.Sprintf("AUDIT FAILED: %d problem(s):\n  %s", len(rep.Problems), strings.Join(rep.Problems, "\n  "))
		}
		fmt.Fprintf(stdout, "backup: wrote %s (%d bytes; %d wallets, %d journal entries; %s)\n", *out, n,
			rep.Wallets, rep.Entries, audit)
	}
	if !rep.OK {
		// The copy is faithful to the server's file, and worth keeping for the investigation; but the books do not
		// balance, and a script must not mistake this for a good backup.
		return fmt.Errorf("backup: %s is a faithful copy, but its books do not balance", *out)
	}
	return nil
}

// fetchBackup streams GET /admin/backup into w and returns the bytes written and the announced length (-1: none).
func fetchBackup(ctx context.Context, c *opsClient, w io.Writer) (n, want int64, err error) {
	resp, err := c.request(ctx, http.MethodGet, "/admin/backup", nil)
	if err != nil {
		return 0, -1, err
	}
	defer resp.Body.Close()
	n, err = io.Copy(w, resp.Body)
	if err != nil {
		return n, resp.ContentLength, fmt.Errorf("GET /admin/backup: the copy was cut short after %d bytes: %w", n, err)
	}
	return n, resp.ContentLength, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
