package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/walletgate/walletgate/ledger"
)

// slowOpen stands in for openLedger until the test ends: each open says it began on entered, then waits for release
// (and then opens for real) or for its context to end (and gives up as OpenContext does).
func slowOpen(t *testing.T) (entered, release chan struct{}) {
	t.Helper()
	entered, release = make(chan struct{}, 1), make(chan struct{})
	real := openLedger
	openLedger = func(ctx context.Context, path string, opts ledger.Options) (*ledger.Ledger, error) {
		entered <- struct{}{}
		select {
		case <-release:
			return real(ctx, path, opts)
		case <-ctx.Done():
			return nil, fmt.Errorf("ledger open %s: abandoned during the consistency check, nothing written: %w", path, ctx.Err())
		}
	}
	t.Cleanup(func() { openLedger = real })
	return entered, release
}

var opsAddrInLog = regexp.MustCompile(`"msg":"opening the ledger".*"opsAddr":"([^"]+)"`)

// startSlowServe runs runServer with a slow open and returns, once the open has begun, the ops listener's address
// (from the "opening the ledger" line) and runServer's result channel; ready receives the app once it started.
func startSlowServe(t *testing.T, ctx context.Context, entered <-chan struct{}) (opsAddr string, ready <-chan *app, done <-chan error) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "walletgate.db")
	env := map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_ADMIN_TOKEN": inProcToken, "WALLETGATE_DB": db}
	cfg, keys := serveConfig(t, env, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	stderr := newLineSink()
	log, err := newLogger("info", zapcore.AddSync(stderr))
	if err != nil {
		t.Fatal(err)
	}
	readyc, donec := make(chan *app, 1), make(chan error, 1)
	go func() { donec <- runServer(ctx, cfg, keys, log, func(a *app) error { readyc <- a; return nil }) }()
	select {
	case <-entered:
	case err := <-donec:
		t.Fatalf("runServer returned %v before opening the ledger", err)
	case <-time.After(10 * time.Second):
		t.Fatal("runServer did not begin opening the ledger within 10s")
	}
	m := opsAddrInLog.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no \"opening the ledger\" line with the ops address:\n%s", stderr.String())
	}
	t.Cleanup(func() {
		if logs := stderr.String(); strings.Contains(logs, inProcKey) || strings.Contains(logs, inProcToken) {
			t.Errorf("a secret appears in the log:\n%s", logs)
		}
	})
	return m[1], readyc, donec
}

// opsCall makes one ops request and returns its status and body.
func opsCall(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+inProcToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServeOpsAnswersWhileLedgerOpens: opening a large ledger takes minutes (its consistency check reads the whole
// file), and an orchestrator's probes must not take that for a dead process. While the ledger opens the ops listener
// answers /healthz 200 (process up), /readyz 503 (ledger not open, CONTRACT 4), /metrics, and 503
// storage_unavailable to the admin API; once it is open, the full ops API, /readyz 200.
func TestServeOpsAnswersWhileLedgerOpens(t *testing.T) {
	entered, release := slowOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opsAddr, ready, done := startSlowServe(t, ctx, entered)
	base := "http://" + opsAddr

	if code, body := opsCall(t, "GET", base+"/healthz", ""); code != 200 {
		t.Errorf("/healthz while opening = %d %s, want 200", code, body)
	}
	if code, body := opsCall(t, "GET", base+"/readyz", ""); code != 503 || !strings.Contains(body, "starting") {
		t.Errorf("/readyz while opening = %d %s, want 503 saying it is starting", code, body)
	}
	if code, body := opsCall(t, "GET", base+"/metrics", ""); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics while opening = %d, want 200 with the Go collector's metrics", code)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/admin/wallets", `{"walletId":"w1","currencyCode":"566","name":"W One"}`},
		{"GET", "/admin/wallets/w1", ""},
		{"GET", "/admin/audit", ""},
	} {
		code, body := opsCall(t, c.method, base+c.path, c.body)
		if code != 503 || !strings.Contains(body, `"code":"storage_unavailable"`) {
			t.Errorf("%s %s while opening = %d %s, want 503 storage_unavailable", c.method, c.path, code, body)
		}
	}

	close(release)
	var a *app
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("runServer returned %v instead of starting", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not started 10s after the open was released")
	}
	if got := a.opsAddr.String(); got != opsAddr {
		t.Errorf("ops address after the start %s, while opening %s: want one listener", got, opsAddr)
	}
	if code, body := opsCall(t, "GET", base+"/readyz", ""); code != 200 {
		t.Errorf("/readyz once open = %d %s, want 200", code, body)
	}
	if code, body := opsCall(t, "POST", base+"/admin/wallets", `{"walletId":"w1","currencyCode":"566","name":"W One"}`); code != 201 {
		t.Errorf("POST /admin/wallets once open = %d %s, want 201", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runServer = %v after the stop, want nil", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("runServer did not return after the stop")
	}
}

// TestServeStoppedWhileOpsAnswers: a stop while the ledger opens ends runServer with nil and closes the ops listener
// it had started.
func TestServeStoppedWhileOpsAnswers(t *testing.T) {
	entered, _ := slowOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opsAddr, ready, done := startSlowServe(t, ctx, entered)
	if code, _ := opsCall(t, "GET", "http://"+opsAddr+"/healthz", ""); code != 200 {
		t.Fatalf("/healthz while opening = %d, want 200", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runServer = %v, want nil: a stop during the start-up is not a failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runServer did not return within 10s of the stop")
	}
	select {
	case <-ready:
		t.Error("ready was called")
	default:
	}
	if c, err := net.DialTimeout("tcp", opsAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("the ops listener %s still accepts after runServer returned", opsAddr)
	}
}
