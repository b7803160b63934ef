package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/ledger"
)

// dirEntries lists dir, to prove that a failed backup leaves no partial file behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// walletBalance opens a ledger file (a backup) and returns a wallet's balance.
func walletBalance(t *testing.T, path, id string) int64 {
	t.Helper()
	l, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer l.Close()
	w, err := l.Wallet(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return w.Balance
}

func TestBackupOnline(t *testing.T) {
	f := newOpsFixture(t)
	env := f.env()
	mustCLI(t, env, "wallet", "create", "w1", "--currency", "566", "--name", "W One")
	mustCLI(t, env, "wallet", "credit", "w1", "--amount", "500.00", "--reference", "fund-1")
	f.debit("req-1", "ref-1", "w1", 10_000, 0)

	dir := t.TempDir()
	out := filepath.Join(dir, "walletgate-backup.db")
	stdout := mustCLI(t, env, "backup", "--out", out)
	if !strings.Contains(stdout, "audit ok") || !strings.Contains(stdout, "1 wallets") {
		t.Errorf("summary %q", stdout)
	}
	if got := dirEntries(t, dir); len(got) != 1 || got[0] != "walletgate-backup.db" {
		t.Errorf("directory holds %v, want only the backup", got)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600 (it holds every wallet)", st.Mode().Perm())
	}
	if rep, err := ledger.CheckFile(context.Background(), out, checkTimeout); err != nil || !rep.OK {
		t.Fatalf("CheckFile: %+v, %v", rep, err)
	}
	if b := walletBalance(t, out, "w1"); b != 40_000 {
		t.Errorf("backup's w1 balance %d, want 40000", b)
	}

	t.Run("existing file kept without --force", func(t *testing.T) {
		f.debit("req-2", "ref-2", "w1", 1_000, 0)
		if _, _, err := cli(t, env, "backup", "--out", out); !isUsage(err) {
			t.Fatalf("backup over an existing file: %v, want a usage error", err)
		}
		if b := walletBalance(t, out, "w1"); b != 40_000 {
			t.Errorf("the existing backup changed: balance %d", b)
		}
		var sum backupSummary
		if err := json.Unmarshal([]byte(mustCLI(t, env, "backup", "--out", out, "--force", "--json")), &sum); err != nil {
			t.Fatal(err)
		}
		if !sum.AuditOK || sum.File != out || sum.Wallets != 1 || sum.Bytes != fileSize(t, out) {
			t.Errorf("--json summary %+v", sum)
		}
		if b := walletBalance(t, out, "w1"); b != 39_000 {
			t.Errorf("replaced backup's balance %d, want 39000", b)
		}
	})
	t.Run("needs --out", func(t *testing.T) {
		if _, _, err := cli(t, env, "backup"); !isUsage(err) {
			t.Errorf("backup without --out: %v", err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		bad := map[string]string{"WALLETGATE_OPS_URL": f.url, "WALLETGATE_ADMIN_TOKEN": "wrong"}
		other := filepath.Join(dir, "other.db")
		if _, _, err := cli(t, bad, "backup", "--out", other); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("wrong token: %v", err)
		}
		if _, err := os.Stat(other); !os.IsNotExist(err) {
			t.Errorf("a refused backup left %s: %v", other, err)
		}
	})
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestBackupRefusesBadCopies(t *testing.T) {
	f := newOpsFixture(t)
	mustCLI(t, f.env(), "wallet", "create", "w1", "--currency", "566", "--name", "W One")
	good, err := os.ReadFile(f.path) // the fixture's ledger is open, but reading its bytes is enough here
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"cut short", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "65536")
			_, _ = w.Write(good[:4096])
		}, "cut short"},
		{"not a ledger", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat("not a database ", 1000)))
		}, "not a sound walletgate ledger"},
		{"admin API error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"backup_in_progress","message":"another backup is being written"}}`))
		}, "backup_in_progress"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			dir := t.TempDir()
			_, _, err := cli(t, map[string]string{"WALLETGATE_OPS_URL": srv.URL, "WALLETGATE_ADMIN_TOKEN": cliToken},
				"backup", "--out", filepath.Join(dir, "b.db"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if got := dirEntries(t, dir); len(got) != 0 {
				t.Errorf("a refused copy left %v", got)
			}
		})
	}
}

func TestBackupOffline(t *testing.T) {
	f := newOpsFixture(t)
	mustCLI(t, f.env(), "wallet", "create", "w1", "--currency", "566", "--name", "W One")
	mustCLI(t, f.env(), "wallet", "credit", "w1", "--amount", "7.00", "--reference", "fund-1")
	dir := t.TempDir()
	out := filepath.Join(dir, "offline.db")

	// While the server holds the file, the offline mode is refused (and says why).
	if _, _, err := cli(t, nil, "backup", "--db", f.path, "--out", out); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("offline backup of a file in use: %v", err)
	}
	f.close()
	stdout := mustCLI(t, nil, "backup", "--db", f.path, "--out", out)
	if !strings.Contains(stdout, "audit ok") {
		t.Errorf("summary %q", stdout)
	}
	if b := walletBalance(t, out, "w1"); b != 700 {
		t.Errorf("offline copy's balance %d, want 700", b)
	}
	if _, _, err := cli(t, nil, "backup", "--db", filepath.Join(dir, "missing.db"), "--out", filepath.Join(dir, "x.db")); err == nil {
		t.Error("offline backup of a missing file succeeded")
	}
}
