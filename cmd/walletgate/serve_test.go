package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walletgate/walletgate/mac"
)

// Distinctive secrets: none of them may appear anywhere on stderr.
const (
	inProcKey      = "cur-K3y-7f1e9b0c-inproc"
	inProcPrevious = "prev-K3y-2a6d4e81-inproc"
	inProcToken    = "adm-T0k-5c3b9e72-inproc"
)

// servedRun is one `walletgate serve` running in-process through run().
type servedRun struct {
	switchAddr, opsAddr string
	stderr              *lineSink
	cancel              context.CancelFunc
	done                chan error // receives run's result
	start               map[string]any
}

func startServe(t *testing.T, env map[string]string, args ...string) *servedRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &servedRun{stderr: newLineSink(), cancel: cancel, done: make(chan error, 1)}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		s.done <- run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), &bytes.Buffer{}, s.stderr, envFunc(env))
	}()
	t.Cleanup(func() { // a failed test must not leave a server behind
		cancel()
		<-exited
	})
	s.switchAddr, s.opsAddr, s.start = startLine(t, s.stderr, exited)
	return s
}

// stop cancels the run's context and asserts that run returns nil in time.
func (s *servedRun) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run returned %v after ctx was cancelled, want nil; stderr:\n%s", err, s.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("run did not return within 15s of the cancel; stderr:\n%s", s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), `"msg":"walletgate stopped"`) {
		t.Errorf("no \"walletgate stopped\" line:\n%s", s.stderr.String())
	}
}

// TestServeInProcess runs `serve` twice on one ledger file: the first run takes a wallet, its funding and signed
// debits; after a graceful stop, the second run replays the same debits byte for byte without charging again,
// and the ledger audits clean. The start-up log line masks every secret, and no secret reaches stderr at all.
func TestServeInProcess(t *testing.T) {
	db := filepath.Join(t.TempDir(), "data", "walletgate.db")
	env := map[string]string{
		"WALLETGATE_MAC_KEY":          inProcKey,
		"WALLETGATE_MAC_KEY_PREVIOUS": inProcPrevious,
		"WALLETGATE_ADMIN_TOKEN":      inProcToken,
		"WALLETGATE_DB":               db,
		"WALLETGATE_LISTEN":           ":8080", // the flags below must win
	}
	args := []string{"--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}
	keys := mustKeys(t, mac.SHA512, inProcKey, inProcPrevious)
	hc := newHTTPClient(t)
	seed := readSeed(t)
	const walletID, funding = "1234567894", 10_000

	// The seed's own sample, signed with the current key; a second debit signed with the previous key (rotation);
	// and the seed as printed, whose "mac" is the placeholder "hexdigest".
	debit1 := signDebit(readFile(t, seedDebitPath), keys, mac.Current)
	debit2 := debitBody(seed, keys, mac.Previous, "2", "11123456790", 250)
	forged := readFile(t, seedDebitPath)

	first := startServe(t, env, args...)
	for name, want := range map[string]string{"macKey": "****", "macKeyPrevious": "****", "adminToken": "****",
		"db": db, "listen": "127.0.0.1:0", "macAlgo": "sha512"} {
		if got := first.start[name]; got != want {
			t.Errorf("start line %s = %v, want %q", name, got, want)
		}
	}
	if first.start["adminAPI"] != true {
		t.Errorf("start line adminAPI = %v, want true", first.start["adminAPI"])
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("the ledger file was not created: %v", err)
	}

	fundWallet(t, hc, first.opsAddr, inProcToken, walletID, funding)
	status, ans1 := call(t, hc, http.MethodPost, "http://"+first.switchAddr+"/debit", "", debit1)
	if status != http.StatusOK {
		t.Fatalf("POST /debit: HTTP %d %s", status, ans1)
	}
	checkAnswer(t, ans1, keys, mac.Current, "00", "1", "11123456789", 100)

	status, ans2 := call(t, hc, http.MethodPost, "http://"+first.switchAddr+"/debit", "", debit2)
	if status != http.StatusOK {
		t.Fatalf("POST /debit (previous key): HTTP %d %s", status, ans2)
	}
	checkAnswer(t, ans2, keys, mac.Previous, "00", "2", "11123456790", 250)

	status, ansForged := call(t, hc, http.MethodPost, "http://"+first.switchAddr+"/debit", "", forged)
	if status != http.StatusOK {
		t.Fatalf("POST /debit (unsigned): HTTP %d %s", status, ansForged)
	}
	checkAnswer(t, ansForged, keys, mac.Current, "12", "1", "11123456789", 100)

	// The same message again on the same run: the stored bytes.
	if _, again := call(t, hc, http.MethodPost, "http://"+first.switchAddr+"/debit", "", debit1); !bytes.Equal(again, ans1) {
		t.Fatalf("replay on the same run:\n got %s\nwant %s", again, ans1)
	}
	const want = funding - 100 - 250
	if got := balance(t, hc, first.opsAddr, inProcToken, walletID); got != want {
		t.Fatalf("balance after the debits = %d, want %d", got, want)
	}
	hc.CloseIdleConnections()
	first.stop(t)

	second := startServe(t, env, args...)
	for _, c := range []struct {
		name       string
		body, want []byte
	}{{"debit 1", debit1, ans1}, {"debit 2 (previous key)", debit2, ans2}} {
		status, got := call(t, hc, http.MethodPost, "http://"+second.switchAddr+"/debit", "", c.body)
		if status != http.StatusOK || !bytes.Equal(got, c.want) {
			t.Errorf("%s after the restart: HTTP %d\n got %s\nwant %s (byte for byte)", c.name, status, got, c.want)
		}
	}
	if got := balance(t, hc, second.opsAddr, inProcToken, walletID); got != want {
		t.Errorf("balance after the replays = %d, want %d (a replay must not charge again)", got, want)
	}
	checkAudit(t, hc, second.opsAddr, inProcToken)
	hc.CloseIdleConnections()
	second.stop(t)

	for i, s := range []*servedRun{first, second} {
		logs := s.stderr.String()
		for _, secret := range []string{inProcKey, inProcPrevious, inProcToken} {
			if strings.Contains(logs, secret) {
				t.Errorf("run %d: secret %q appears on stderr:\n%s", i+1, secret, logs)
			}
		}
		for _, masked := range []string{`"macKey":"****"`, `"macKeyPrevious":"****"`, `"adminToken":"****"`} {
			if !strings.Contains(logs, masked) {
				t.Errorf("run %d: stderr lacks %s:\n%s", i+1, masked, logs)
			}
		}
	}
}

// TestServeAdminOffWithoutToken: without WALLETGATE_ADMIN_TOKEN the admin API answers 404, and the start line says
// so; health still answers.
func TestServeAdminOffWithoutToken(t *testing.T) {
	env := map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_DB": filepath.Join(t.TempDir(), "wg.db")}
	s := startServe(t, env, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	if s.start["adminAPI"] != false || s.start["adminToken"] != "" {
		t.Errorf("start line adminAPI = %v, adminToken = %v; want false and empty", s.start["adminAPI"], s.start["adminToken"])
	}
	hc := newHTTPClient(t)
	if status, body := call(t, hc, http.MethodGet, "http://"+s.opsAddr+"/healthz", "", nil); status != http.StatusOK {
		t.Errorf("GET /healthz: HTTP %d %s", status, body)
	}
	if status, body := call(t, hc, http.MethodGet, "http://"+s.opsAddr+"/admin/audit", "anything", nil); status != http.StatusNotFound {
		t.Errorf("GET /admin/audit without a configured token: HTTP %d %s, want 404", status, body)
	}
	hc.CloseIdleConnections()
	s.stop(t)
}

// TestServeBadTLSCertificate: a certificate that cannot be loaded makes serve fail (not run in clear text, not
// hang), and the error is not a usage error but still names no secret.
func TestServeBadTLSCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("not PEM"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_DB": filepath.Join(dir, "wg.db"),
		"WALLETGATE_TLS_CERT": cert, "WALLETGATE_TLS_KEY": key}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stderr := newLineSink()
	err := run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}, strings.NewReader(""),
		&bytes.Buffer{}, stderr, envFunc(env))
	if err == nil || ctx.Err() != nil {
		t.Fatalf("run = %v (ctx: %v), want an error before the deadline", err, ctx.Err())
	}
	if strings.Contains(err.Error()+stderr.String(), inProcKey) {
		t.Errorf("the MAC key appears in the error or on stderr")
	}
	t.Logf("run: %v", err)
}
