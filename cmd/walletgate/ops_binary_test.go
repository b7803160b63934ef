//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinaryOpsTools runs the built binary end to end: a real `walletgate serve` holding its ledger's lock, the
// ops commands as separate processes talking to it, an online backup taken while it serves, the offline backup
// refused while it runs and working once it stopped.
func TestBinaryOpsTools(t *testing.T) {
	const (
		key   = "ops-K3y-5e1d9a"
		token = "ops-T0k-c47f20"
	)
	dir := t.TempDir()
	db := filepath.Join(dir, "walletgate.db")
	server := startProc(t, childEnv(map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_ADMIN_TOKEN": token,
		"WALLETGATE_DB": db, "TMPDIR": dir}), nil, "serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	_, opsAddr, _ := startLine(t, server.stderr, server.exited)
	cliEnv := childEnv(map[string]string{"WALLETGATE_OPS_URL": "http://" + opsAddr, "WALLETGATE_ADMIN_TOKEN": token,
		"TMPDIR": dir})

	tool := func(wantCode int, args ...string) (stdout, stderr string) {
		t.Helper()
		p := startProc(t, cliEnv, nil, args...)
		code := p.exitCode(t, 30*time.Second)
		stdout, stderr = p.stdout.String(), p.stderr.String()
		if code != wantCode {
			t.Fatalf("walletgate %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code,
				wantCode, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, token) {
			t.Errorf("walletgate %s printed the admin token", strings.Join(args, " "))
		}
		return stdout, stderr
	}

	tool(0, "wallet", "create", "w1", "--currency", "566", "--name", "Ada Obi")
	tool(0, "wallet", "credit", "w1", "--amount", "50.00", "--reference", "fund-1")
	if out, _ := tool(0, "wallet", "show", "w1"); !strings.Contains(out, "50.00 NGN") {
		t.Errorf("wallet show:\n%s", out)
	}
	if _, stderr := tool(1, "wallet", "show", "nobody"); !strings.Contains(stderr, "wallet_not_found") {
		t.Errorf("unknown wallet: stderr %q", stderr)
	}
	if _, stderr := tool(2, "wallet", "credit", "w1", "--amount", "1.234", "--reference", "x"); !strings.Contains(stderr, "decimal places") {
		t.Errorf("three decimals in NGN: stderr %q", stderr)
	}

	online := filepath.Join(dir, "online.db")
	if out, _ := tool(0, "backup", "--out", online); !strings.Contains(out, "audit ok") {
		t.Errorf("backup: %s", out)
	}
	if b := walletBalance(t, online, "w1"); b != 5_000 {
		t.Errorf("online copy: w1 balance %d, want 5000", b)
	}
	// The server holds the file: the offline mode must say so instead of copying a file in use.
	if _, stderr := tool(1, "backup", "--db", db, "--out", filepath.Join(dir, "refused.db")); !strings.Contains(stderr, "locked") {
		t.Errorf("offline backup of a running server's file: stderr %q", stderr)
	}
	// Credits after the copy are not in it, and the server kept serving through it.
	tool(0, "wallet", "credit", "w1", "--amount", "1.00", "--reference", "fund-2")

	server.terminate(t)
	offline := filepath.Join(dir, "offline.db")
	if out, _ := tool(0, "backup", "--db", db, "--out", offline); !strings.Contains(out, "audit ok") {
		t.Errorf("offline backup: %s", out)
	}
	if b := walletBalance(t, offline, "w1"); b != 5_100 {
		t.Errorf("offline copy: w1 balance %d, want 5100", b)
	}
	if b := walletBalance(t, online, "w1"); b != 5_000 {
		t.Errorf("online copy changed: w1 balance %d, want 5000", b)
	}
}
