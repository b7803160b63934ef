package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/server"
)

// Shared fixtures (testdata/README.md).
const (
	seedDebitPath = "../../testdata/seed/debit_approved.json"
	macVectorPath = "../../testdata/mac.json"
	vectorKey     = "walletgate-test-key" // the key of every vector in mac.json
)

// TestMain removes the walletgate binary that the binary tests build once per test binary.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// The walletgate binary, built once per test binary by walletgateBinary and removed by TestMain.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// walletgateBinary builds this command with `go build` into a temporary directory, once.
func walletgateBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		start := time.Now()
		if binDir, binErr = os.MkdirTemp("", "walletgate-test-bin-"); binErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		binPath = filepath.Join(binDir, "walletgate")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, goTool, "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		t.Logf("built %s in %v", binPath, time.Since(start).Round(time.Millisecond))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// envFunc returns a getenv over m only: the tests never see the developer's WALLETGATE_* settings.
func envFunc(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// lineSink is a thread-safe io.Writer that remembers everything written and lets a test wait for a line.
type lineSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newLineSink() *lineSink { return &lineSink{changed: make(chan struct{})} }

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

func (s *lineSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *lineSink) snapshot() (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String(), s.changed
}

// waitLine returns the first complete line (without its newline) for which match is true. It gives up when ctx
// ends or stop is closed (the writer went away), after one last look.
func (s *lineSink) waitLine(ctx context.Context, stop <-chan struct{}, match func(line string) bool) (string, error) {
	find := func(text string) (string, bool) {
		for line := range strings.Lines(text) {
			if l, complete := strings.CutSuffix(line, "\n"); complete && match(l) {
				return l, true
			}
		}
		return "", false
	}
	for {
		text, changed := s.snapshot()
		if l, ok := find(text); ok {
			return l, nil
		}
		select {
		case <-changed:
		case <-stop:
			if l, ok := find(s.String()); ok {
				return l, nil
			}
			return "", errors.New("the writer stopped before the line appeared")
		case <-ctx.Done():
			if l, ok := find(s.String()); ok {
				return l, nil
			}
			return "", ctx.Err()
		}
	}
}

// startLine waits for the "walletgate started" JSON log line on stderr and returns the switch and ops addresses
// it names, and the whole line decoded.
func startLine(t *testing.T, stderr *lineSink, stop <-chan struct{}) (switchAddr, opsAddr string, fields map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	line, err := stderr.waitLine(ctx, stop, func(l string) bool {
		var m map[string]any
		return json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "walletgate started"
	})
	if err != nil {
		t.Fatalf("no start line: %v; stderr:\n%s", err, stderr.String())
	}
	if err := json.Unmarshal([]byte(line), &fields); err != nil {
		t.Fatal(err)
	}
	switchAddr, _ = fields["switchAddr"].(string)
	opsAddr, _ = fields["opsAddr"].(string)
	for name, addr := range map[string]string{"switchAddr": switchAddr, "opsAddr": opsAddr} {
		if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
			t.Fatalf("start line %s = %q, want a port on 127.0.0.1 chosen by the OS; line: %s", name, addr, line)
		}
	}
	return switchAddr, opsAddr, fields
}

// newHTTPClient talks to 127.0.0.1 only, without any proxy, and closes its connections when the test ends.
func newHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// call sends one request and returns the status and body; a transport error fails the test.
func call(t *testing.T, hc *http.Client, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	status, out, err := tryCall(context.Background(), hc, method, url, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return status, out
}

// tryCall is call for goroutines other than the test's: it returns the transport error.
func tryCall(ctx context.Context, hc *http.Client, method, url, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// walletView is the part of the admin API's wallet the tests look at.
type walletView struct {
	WalletID      string `json:"walletId"`
	CurrencyCode  string `json:"currencyCode"`
	LedgerBalance int64  `json:"ledgerBalance"`
}

// fundWallet creates walletID (NGN) through the admin API and credits it with amount.
func fundWallet(t *testing.T, hc *http.Client, opsAddr, token, walletID string, amount int64) {
	t.Helper()
	status, body := call(t, hc, http.MethodPost, "http://"+opsAddr+"/admin/wallets", token,
		fmt.Appendf(nil, `{"walletId":%q,"currencyCode":"566","name":"Test Wallet"}`, walletID))
	if status != http.StatusCreated {
		t.Fatalf("POST /admin/wallets: HTTP %d %s", status, body)
	}
	status, body = call(t, hc, http.MethodPost, "http://"+opsAddr+"/admin/wallets/"+walletID+"/credit", token,
		fmt.Appendf(nil, `{"amount":%d,"reference":"fund-%s","narration":"test funding"}`, amount, walletID))
	if status != http.StatusOK {
		t.Fatalf("POST /admin/wallets/%s/credit: HTTP %d %s", walletID, status, body)
	}
	if w := decodeWallet(t, body); w.LedgerBalance != amount {
		t.Fatalf("after the credit ledgerBalance = %d, want %d", w.LedgerBalance, amount)
	}
}

func decodeWallet(t *testing.T, body []byte) walletView {
	t.Helper()
	var w walletView
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatalf("wallet %s: %v", body, err)
	}
	return w
}

// balance returns the wallet's ledgerBalance through the admin API.
func balance(t *testing.T, hc *http.Client, opsAddr, token, walletID string) int64 {
	t.Helper()
	status, body := call(t, hc, http.MethodGet, "http://"+opsAddr+"/admin/wallets/"+walletID, token, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /admin/wallets/%s: HTTP %d %s", walletID, status, body)
	}
	return decodeWallet(t, body).LedgerBalance
}

// checkAudit asserts that GET /admin/audit answers ok true.
func checkAudit(t *testing.T, hc *http.Client, opsAddr, token string) {
	t.Helper()
	status, body := call(t, hc, http.MethodGet, "http://"+opsAddr+"/admin/audit", token, nil)
	var rep struct {
		OK       *bool    `json:"ok"`
		Problems []string `json:"problems"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &rep) != nil || rep.OK == nil || !*rep.OK {
		t.Fatalf("GET /admin/audit: HTTP %d %s, want 200 with ok true", status, body)
	}
}

// switchAnswer is the switch's response body (CONTRACT 1.3).
type switchAnswer struct {
	RequestID            string `json:"requestId"`
	ResponseCode         string `json:"responseCode"`
	Amount               int64  `json:"amount"`
	TransactionReference string `json:"transactionReference"`
	MAC                  string `json:"mac"`
}

// checkAnswer decodes a switch answer and asserts its code, the echoed fields and its MAC under keys' key id.
func checkAnswer(t *testing.T, body []byte, keys *mac.Keys, id mac.KeyID, wantCode, requestID, reference string, amount int64) switchAnswer {
	t.Helper()
	a, err := verifyAnswer(body, keys, id, requestID, reference, amount)
	if err != nil {
		t.Fatal(err)
	}
	if a.ResponseCode != wantCode {
		t.Fatalf("responseCode = %q, want %q; body %s", a.ResponseCode, wantCode, body)
	}
	return a
}

// verifyAnswer is checkAnswer without the code, for goroutines other than the test's.
func verifyAnswer(body []byte, keys *mac.Keys, id mac.KeyID, requestID, reference string, amount int64) (switchAnswer, error) {
	var a switchAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("answer %s: %v", body, err)
	}
	if a.RequestID != requestID || a.TransactionReference != reference || a.Amount != amount {
		return a, fmt.Errorf("answer %s does not echo requestId %q, transactionReference %q, amount %d", body, requestID, reference, amount)
	}
	if want := keys.SignResponse(id, a.TransactionReference, a.RequestID, a.ResponseCode); a.MAC != want {
		return a, fmt.Errorf("answer %s: mac is not the response MAC under key %d", body, id)
	}
	return a, nil
}

// readSeed returns the seed's approved debit sample as a map (numbers kept as sent).
func readSeed(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(seedDebitPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// debitBody is the seed sample with its requestId, transactionReference and amount replaced, signed with keys' key
// id the way the switch does (mac.Values over the decoded request, then server.SetMAC). It panics on an error:
// with a fixed, valid seed there is none, and it is called from sender goroutines.
func debitBody(seed map[string]any, keys *mac.Keys, id mac.KeyID, requestID, reference string, amount int64) []byte {
	m := make(map[string]any, len(seed))
	for k, v := range seed {
		m[k] = v
	}
	m["requestId"], m["transactionReference"], m["amount"] = requestID, reference, amount
	body, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return signDebit(body, keys, id)
}

// signDebit sets the debit MAC of body with keys' key id.
func signDebit(body []byte, keys *mac.Keys, id mac.KeyID) []byte {
	r, err := server.DecodeRequest(body)
	if err != nil {
		panic(err)
	}
	out, err := server.SetMAC(body, keys.Sign(id, mac.Values(mac.Debit, r.Text)...))
	if err != nil {
		panic(err)
	}
	return out
}

func mustKeys(t *testing.T, algo mac.Algorithm, current, previous string) *mac.Keys {
	t.Helper()
	k, err := mac.NewKeys(algo, []byte(current), []byte(previous))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRunUsageErrors covers the command line mistakes and the serve configurations that must be refused before
// anything is opened or listened on: each is a usageError (exit code 2), says what to fix, never prints a secret,
// creates no ledger file and logs no start line.
func TestRunUsageErrors(t *testing.T) {
	const key = "Kq7-run-usage-secret-9f2c" // must never be printed
	tests := []struct {
		name  string
		args  []string // "$DIR" is replaced by a temp dir
		env   map[string]string
		files map[string]string // created in $DIR before the run
		want  []string          // substrings of the error
		is    error             // if set, errors.Is must hold
	}{
		{name: "no command", args: nil, want: []string{"no command"}},
		{name: "unknown command", args: []string{"frobnicate"}, want: []string{`unknown command "frobnicate"`}},
		{name: "serve without a MAC key", args: []string{"serve"},
			want: []string{"WALLETGATE_MAC_KEY", "WALLETGATE_MAC_KEY_FILE", "--mac-key"}},
		{name: "serve with an empty MAC key", args: []string{"serve"}, env: map[string]string{"WALLETGATE_MAC_KEY": ""},
			want: []string{"set WALLETGATE_MAC_KEY"}},
		{name: "serve with a missing key file", args: []string{"serve"},
			env:  map[string]string{"WALLETGATE_MAC_KEY_FILE": "$DIR/missing.key"},
			want: []string{"WALLETGATE_MAC_KEY_FILE", "missing.key"}, is: os.ErrNotExist},
		{name: "serve with an empty key file", args: []string{"serve"},
			env: map[string]string{"WALLETGATE_MAC_KEY_FILE": "$DIR/empty.key"}, files: map[string]string{"empty.key": ""},
			want: []string{"set WALLETGATE_MAC_KEY"}},
		{name: "serve with a key file holding only a newline", args: []string{"serve"},
			env: map[string]string{"WALLETGATE_MAC_KEY_FILE": "$DIR/nl.key"}, files: map[string]string{"nl.key": "\r\n"},
			want: []string{"set WALLETGATE_MAC_KEY"}},
		{name: "serve with a key file given as a flag, missing", args: []string{"serve", "--mac-key-file", "$DIR/nope.key"},
			want: []string{"WALLETGATE_MAC_KEY_FILE"}, is: os.ErrNotExist},
		{name: "serve with both key and key file", args: []string{"serve"},
			env:   map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_MAC_KEY_FILE": "$DIR/other.key"},
			files: map[string]string{"other.key": "other-key\n"}, want: []string{"not both"}},
		{name: "serve with the key flag and a key file", args: []string{"serve", "--mac-key", key},
			env:   map[string]string{"WALLETGATE_MAC_KEY_FILE": "$DIR/other.key"},
			files: map[string]string{"other.key": "other-key\n"}, want: []string{"not both"}},
		{name: "serve with algorithm md5", args: []string{"serve"},
			env:  map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_MAC_ALGO": "md5"},
			want: []string{"WALLETGATE_MAC_ALGO"}, is: mac.ErrUnknownAlgorithm},
		{name: "serve with --mac-algo md5", args: []string{"serve", "--mac-algo", "md5"},
			env:  map[string]string{"WALLETGATE_MAC_KEY": key},
			want: []string{"WALLETGATE_MAC_ALGO"}, is: mac.ErrUnknownAlgorithm},
		{name: "serve with an unknown flag", args: []string{"serve", "--bogus"},
			env: map[string]string{"WALLETGATE_MAC_KEY": key}, want: []string{"bogus"}},
		{name: "serve with a stray argument", args: []string{"serve", "extra"},
			env: map[string]string{"WALLETGATE_MAC_KEY": key}, want: []string{`unexpected argument "extra"`}},
		{name: "serve with a bad log level", args: []string{"serve", "--log-level", "loud"},
			env: map[string]string{"WALLETGATE_MAC_KEY": key}, want: []string{"WALLETGATE_LOG_LEVEL"}},
		{name: "serve with a TLS cert but no key", args: []string{"serve", "--tls-cert", "$DIR/cert.pem"},
			env: map[string]string{"WALLETGATE_MAC_KEY": key}, want: []string{"WALLETGATE_TLS_CERT", "WALLETGATE_TLS_KEY"}},
		{name: "serve with a malformed lien TTL", args: []string{"serve"},
			env: map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_LIEN_TTL": "a week"}, want: []string{"WALLETGATE_LIEN_TTL"}},
		{name: "serve with a zero lien TTL", args: []string{"serve", "--lien-ttl", "0s"},
			env: map[string]string{"WALLETGATE_MAC_KEY": key}, want: []string{"WALLETGATE_LIEN_TTL", "positive"}},
		{name: "serve with a negative lien TTL", args: []string{"serve"},
			env: map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_LIEN_TTL": "-1h"}, want: []string{"WALLETGATE_LIEN_TTL"}},
		{name: "sign with an unknown flag", args: []string{"sign", "--bogus"},
			env: map[string]string{"WALLETGATE_MAC_KEY": key}, want: []string{"bogus"}},
		{name: "demo with an unknown flag", args: []string{"demo", "--bogus"}, want: []string{"bogus"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			db := filepath.Join(dir, "ledger", "walletgate.db")
			env := map[string]string{"WALLETGATE_DB": db, "WALLETGATE_LISTEN": "127.0.0.1:0", "WALLETGATE_OPS_LISTEN": "127.0.0.1:0"}
			for k, v := range tc.env {
				env[k] = strings.ReplaceAll(v, "$DIR", dir)
			}
			var args []string
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "$DIR", dir))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := run(ctx, args, strings.NewReader(""), &stdout, &stderr, envFunc(env))

			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("run(%q) = %v (%T), want a usageError", args, err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			for name, out := range map[string]string{"error": err.Error(), "stderr": stderr.String(), "stdout": stdout.String()} {
				if strings.Contains(out, key) {
					t.Errorf("the MAC key appears in the %s: %s", name, out)
				}
			}
			if strings.Contains(stderr.String(), "walletgate started") {
				t.Errorf("a start line was logged: %s", stderr.String())
			}
			if _, err := os.Stat(filepath.Dir(db)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the ledger directory exists (stat: %v): the command got past its configuration", err)
			}
		})
	}
}

// TestRunHelp: "help" prints the usage on stdout and succeeds.
func TestRunHelp(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help"} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{arg}, strings.NewReader(""), &stdout, &stderr, envFunc(nil)); err != nil {
			t.Fatalf("run(%q) = %v", arg, err)
		}
		for _, cmd := range []string{"serve", "demo", "sign"} {
			if !strings.Contains(stdout.String(), "  "+cmd+" ") {
				t.Errorf("run(%q): usage does not list %q:\n%s", arg, cmd, stdout.String())
			}
		}
	}
}

// TestServeHelp: "serve -h" lists the flags without starting, and the defaults it prints, which come from the
// environment, mask every secret.
func TestServeHelp(t *testing.T) {
	const key, previous, token = "help-K3y-secret-51e0", "help-Prev-secret-7d3a", "help-T0k-secret-c82b"
	db := filepath.Join(t.TempDir(), "data", "walletgate.db")
	env := map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_MAC_KEY_PREVIOUS": previous,
		"WALLETGATE_ADMIN_TOKEN": token, "WALLETGATE_DB": db}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "-h"}, strings.NewReader(""), &stdout, &stderr, envFunc(env))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run(serve -h) = %v, want flag.ErrHelp", err)
	}
	out := stderr.String()
	for _, f := range []string{"-listen", "-ops-listen", "-db", "-mac-key", "-mac-key-file", "-mac-key-previous",
		"-mac-algo", "-admin-token", "-log-level", "-tls-cert", "-tls-key", "-tls-client-ca"} {
		if !strings.Contains(out, "  "+f+" ") && !strings.Contains(out, "  "+f+"\n") {
			t.Errorf("the help does not list %s:\n%s", f, out)
		}
	}
	for _, secret := range []string{key, previous, token} {
		if strings.Contains(out+stdout.String(), secret) {
			t.Errorf("secret %q appears in the help:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, db) {
		t.Errorf("the help does not show the -db default from WALLETGATE_DB:\n%s", out)
	}
	if _, err := os.Stat(filepath.Dir(db)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve -h created the ledger directory (stat: %v)", err)
	}
}
