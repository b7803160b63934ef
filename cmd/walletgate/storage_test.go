//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesDamagedLedger: serve on a file that is not a walletgate ledger, or a ledger that is damaged,
// refuses to start with a message naming the file and the problem, never listens, and leaves the file byte for byte
// as it was.
func TestServeRefusesDamagedLedger(t *testing.T) {
	// A real ledger written by serve, to damage.
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	s := startServe(t, map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_ADMIN_TOKEN": inProcToken,
		"WALLETGATE_DB": good}, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	hc := newHTTPClient(t)
	for _, w := range []string{"8000000001", "8000000002", "8000000003"} {
		fundWallet(t, hc, s.opsAddr, inProcToken, w, 1_000)
	}
	hc.CloseIdleConnections()
	s.stop(t)
	ledgerBytes := readFile(t, good)
	page := os.Getpagesize()

	tests := []struct {
		name     string
		contents func() []byte
		want     []string // substrings of the error
	}{
		{"text file", func() []byte { return bytes.Repeat([]byte("not a database\n"), 1000) },
			[]string{"not a readable walletgate database"}},
		{"random bytes", func() []byte {
			b := make([]byte, 64<<10)
			for i := range b {
				b[i] = byte(i*131 + i/7)
			}
			return b
		}, []string{"not a readable walletgate database"}},
		// testdata/foreign-bolt.db: a bbolt file of another application (buckets "users" and "sessions").
		{"another application's bbolt file", func() []byte { return readFile(t, "testdata/foreign-bolt.db") },
			[]string{"not a walletgate ledger"}},
		{"ledger zeroed after its meta pages", func() []byte {
			b := bytes.Clone(ledgerBytes)
			clear(b[2*page:])
			return b
		}, []string{"damaged", "restore it from a backup"}},
		{"ledger truncated", func() []byte { return bytes.Clone(ledgerBytes[:len(ledgerBytes)/2]) },
			[]string{"damaged", "truncated"}},
		// A ledger wiped to zero bytes is not a missing file: starting a new, empty ledger there would lose every wallet.
		{"empty file (0 bytes)", func() []byte { return []byte{} },
			[]string{"empty (0 bytes)", "remove it to start a new ledger"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "walletgate.db")
			orig := tc.contents()
			if err := os.WriteFile(path, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			stderr := newLineSink()
			err := run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}, strings.NewReader(""),
				&bytes.Buffer{}, stderr, envFunc(map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_DB": path}))
			if err == nil || ctx.Err() != nil {
				t.Fatalf("run = %v (ctx %v), want an error before the deadline", err, ctx.Err())
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(stderr.String(), "walletgate started") {
				t.Errorf("it started:\n%s", stderr.String())
			}
			if now := readFile(t, path); !bytes.Equal(now, orig) {
				t.Errorf("the refused file was changed (%d -> %d bytes)", len(orig), len(now))
			}
			t.Logf("serve: %v", err)
		})
	}
	// The undamaged original still serves.
	s = startServe(t, map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_ADMIN_TOKEN": inProcToken,
		"WALLETGATE_DB": good}, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	checkAudit(t, hc, s.opsAddr, inProcToken)
	hc.CloseIdleConnections()
	s.stop(t)
}

// TestBinaryLedgerLocked: a second walletgate on a ledger file that a running one holds exits 1 with a message
// saying the file is locked by another process, after the ledger's open timeout rather than hanging; the first
// one keeps serving.
func TestBinaryLedgerLocked(t *testing.T) {
	dir := t.TempDir()
	env := childEnv(map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_ADMIN_TOKEN": inProcToken,
		"WALLETGATE_DB": filepath.Join(dir, "walletgate.db"), "TMPDIR": dir})
	args := []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}
	first := startProc(t, env, nil, args...)
	_, opsAddr, _ := startLine(t, first.stderr, first.exited)

	second := startProc(t, env, nil, args...)
	if code := second.exitCode(t, 30*time.Second); code != 1 {
		t.Errorf("second walletgate exit code %d, want 1; stderr:\n%s", code, second.stderr.String())
	}
	if msg := second.stderr.String(); !strings.Contains(msg, "locked by another process") || strings.Contains(msg, "walletgate started") {
		t.Errorf("stderr of the second walletgate:\n%s", msg)
	}
	hc := newHTTPClient(t)
	fundWallet(t, hc, opsAddr, inProcToken, "8000000009", 500)
	checkAudit(t, hc, opsAddr, inProcToken)
	hc.CloseIdleConnections()
	first.terminate(t)
}
