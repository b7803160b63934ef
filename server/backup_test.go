package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// TestAdminBackup takes a copy over a real connection while the switch keeps debiting, and checks that the copy is
// a sound walletgate ledger holding what was committed before it.
func TestAdminBackup(t *testing.T) {
	h := newHarness(t)
	h.fund("w-1", "566", 10_000)
	if a := h.send("/debit", debitFields("req-1", "ref-1", "w-1", 2_500), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("debit: %+v", a)
	}
	ops := httptest.NewServer(h.srv.Ops())
	defer ops.Close()

	req, err := http.NewRequest(http.MethodGet, ops.URL+"/admin/backup", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := ops.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	// A debit committed while the copy is being read is not in it, and is not held up by it.
	if a := h.send("/debit", debitFields("req-2", "ref-2", "w-1", 1_000), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("debit during the backup: %+v", a)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Content-Type":   "application/octet-stream",
		"Content-Length": strconv.Itoa(len(body)),
		"Cache-Control":  "no-store",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="walletgate-`) {
		t.Errorf("Content-Disposition = %q", cd)
	}

	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.CheckFile(context.Background(), path, time.Second)
	if err != nil || !rep.OK {
		t.Fatalf("the copy does not check: ok=%v err=%v problems=%v", rep.OK, err, rep.Problems)
	}
	c, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := c.Wallet(context.Background(), "w-1")
	if err != nil || w.Balance != 7_500 {
		t.Errorf("copy's w-1 = %+v, %v; want balance 7500 (the first debit only)", w, err)
	}
	if _, err := c.Transaction(context.Background(), "ref-2"); !errors.Is(err, ledger.ErrTransactionNotFound) {
		t.Errorf("the copy holds the debit made after it began: %v", err)
	}
	if h.balance("w-1") != 6_500 {
		t.Errorf("original w-1 balance %d, want 6500", h.balance("w-1"))
	}
	if n := h.logs.FilterMessage("backup sent").Len(); n != 1 {
		t.Errorf("%d \"backup sent\" log entries, want 1", n)
	}
}

// blockingStore holds Backup until released, so a test can send a second request while one is running.
type blockingStore struct {
	Store
	entered chan struct{}
	release chan struct{}
}

func (b blockingStore) Backup(ctx context.Context, w io.Writer, sized func(int64)) (int64, error) {
	close(b.entered)
	<-b.release
	return b.Store.Backup(ctx, w, sized)
}

func TestAdminBackupOneAtATime(t *testing.T) {
	bs := blockingStore{entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, withStore(func(s Store) Store { bs.Store = s; return bs }))
	var wg sync.WaitGroup
	var first int
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = opsDo(h, http.MethodGet, "/admin/backup", "", "Bearer "+testAdminToken).Code
	}()
	<-bs.entered
	opsWantError(t, opsDo(h, http.MethodGet, "/admin/backup", "", "Bearer "+testAdminToken),
		http.StatusConflict, "backup_in_progress")
	close(bs.release)
	wg.Wait()
	if first != http.StatusOK {
		t.Errorf("first backup HTTP %d, want 200", first)
	}
}

// failingBackup fails before writing anything, or after the headers are out.
type failingBackup struct {
	Store
	afterHeaders bool
	err          error
}

func (f failingBackup) Backup(ctx context.Context, w io.Writer, sized func(int64)) (int64, error) {
	if !f.afterHeaders {
		return 0, f.err
	}
	sized(1 << 20)
	n, _ := w.Write([]byte("partial"))
	return int64(n), f.err
}

func TestAdminBackupFailures(t *testing.T) {
	t.Run("storage unavailable before the copy starts", func(t *testing.T) {
		h := newHarness(t, withStore(func(s Store) Store { return failingBackup{Store: s, err: ledger.ErrClosed} }))
		opsWantError(t, opsDo(h, http.MethodGet, "/admin/backup", "", "Bearer "+testAdminToken),
			http.StatusServiceUnavailable, "storage_unavailable")
	})
	t.Run("cut short after the headers", func(t *testing.T) {
		h := newHarness(t, withStore(func(s Store) Store {
			return failingBackup{Store: s, afterHeaders: true, err: errors.New("device gone")}
		}))
		ops := httptest.NewServer(h.srv.Ops())
		defer ops.Close()
		req, _ := http.NewRequest(http.MethodGet, ops.URL+"/admin/backup", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := ops.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Fatalf("read %d bytes of an announced %s without an error", len(body), resp.Header.Get("Content-Length"))
		}
		if n := h.logs.FilterMessage("backup cut short").Len(); n != 1 {
			t.Errorf("%d \"backup cut short\" log entries, want 1", n)
		}
	})
}
