//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/walletgate/walletgate/mac"
)

// childEnv is this process's environment without any WALLETGATE_* setting or TMPDIR, plus extra.
func childEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "WALLETGATE_") || strings.HasPrefix(kv, "TMPDIR=") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// proc is a running walletgate binary.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *lineSink
	exited         chan struct{} // closed when Wait returned
	waitErr        error         // Wait's result, valid once exited is closed
}

// startProc starts the binary; the test's cleanup kills it if it still runs.
func startProc(t *testing.T, env []string, stdin []byte, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(walletgateBinary(t), args...), stdout: newLineSink(), stderr: newLineSink(),
		exited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdin = bytes.NewReader(stdin)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// exitCode waits up to timeout for the process to end and returns its exit code.
func (p *proc) exitCode(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("walletgate did not exit within %v; stderr:\n%s", timeout, p.stderr.String())
	}
	var ee *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &ee) {
		t.Fatalf("wait: %v", p.waitErr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// terminate sends SIGTERM and asserts a clean exit (code 0) within 10s; it returns how long the exit took.
func (p *proc) terminate(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if code := p.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
	return time.Since(start)
}

// TestBinaryExitCodes: main maps a usage mistake to exit code 2, any other failure to 1, success to 0.
func TestBinaryExitCodes(t *testing.T) {
	seed := readFile(t, seedDebitPath)
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		stdin      []byte
		wantCode   int
		wantStderr string
		wantStdout string
	}{
		{name: "serve without a MAC key", args: []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"},
			wantCode: 2, wantStderr: "WALLETGATE_MAC_KEY"},
		{name: "serve with md5", args: []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"},
			env: map[string]string{"WALLETGATE_MAC_KEY": "k", "WALLETGATE_MAC_ALGO": "md5"}, wantCode: 2, wantStderr: "WALLETGATE_MAC_ALGO"},
		{name: "no command", wantCode: 2, wantStderr: "usage: walletgate"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantStderr: "frobnicate"},
		{name: "sign a body that is not JSON", args: []string{"sign"}, env: map[string]string{"WALLETGATE_MAC_KEY": vectorKey},
			stdin: []byte("not json"), wantCode: 1, wantStderr: "walletgate:"},
		{name: "sign the seed", args: []string{"sign"}, env: map[string]string{"WALLETGATE_MAC_KEY": vectorKey},
			stdin: seed, wantCode: 0, wantStdout: `"mac":"eba09cfec356d063`},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: "usage: walletgate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"WALLETGATE_DB": filepath.Join(dir, "data", "walletgate.db"), "TMPDIR": dir}
			for k, v := range tc.env {
				env[k] = v
			}
			p := startProc(t, childEnv(env), tc.stdin, tc.args...)
			if code := p.exitCode(t, 20*time.Second); code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tc.wantCode, p.stderr.String())
			}
			if !strings.Contains(p.stderr.String(), tc.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.wantStderr, p.stderr.String())
			}
			if !strings.Contains(p.stdout.String(), tc.wantStdout) {
				t.Errorf("stdout does not contain %q:\n%s", tc.wantStdout, p.stdout.String())
			}
			if strings.Contains(p.stderr.String(), "walletgate started") {
				t.Errorf("it started:\n%s", p.stderr.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a ledger directory was created (stat: %v)", err)
			}
		})
	}
}

// sent is one debit of the SIGTERM test and what became of it.
type sent struct {
	requestID, reference string
	amount               int64
	body                 []byte
	status               int    // 0: no HTTP answer
	answer               []byte // the body of an HTTP 200 answer; nil: unanswered
	err                  error
	at                   time.Time // when the answer or the error came
}

// TestBinarySIGTERM sends SIGTERM to a walletgate that is busy with 8 concurrent senders. It must exit 0 within a
// few seconds; after a restart on the same ledger every answered debit replays byte for byte, every unanswered one
// is answered 00 exactly once (whether it had landed or not), the balance is the funding minus every approved
// debit, and the ledger audits clean.
func TestBinarySIGTERM(t *testing.T) {
	const (
		key      = "sigterm-K3y-0c4f6a9e"
		token    = "sigterm-T0k-81b2d7f3"
		walletID = "5550001111"
		funding  = int64(1_000_000_000)
		senders  = 8
	)
	dir := t.TempDir()
	env := childEnv(map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_ADMIN_TOKEN": token,
		"WALLETGATE_DB": filepath.Join(dir, "walletgate.db"), "TMPDIR": dir})
	args := []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}
	keys := mustKeys(t, mac.SHA512, key, "")
	seed := readSeed(t)
	seed["walletId"] = walletID

	p := startProc(t, env, nil, args...)
	switchAddr, opsAddr, _ := startLine(t, p.stderr, p.exited)
	hc := newHTTPClient(t)
	fundWallet(t, hc, opsAddr, token, walletID, funding)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	stopAt := start.Add(time.Second)
	results := make([][]sent, senders)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for n := 0; time.Now().Before(stopAt); n++ {
				s := sent{requestID: fmt.Sprintf("term-%d-%d", g, n), reference: fmt.Sprintf("TERM%02d%07d", g, n),
					amount: int64(1 + (g*31+n)%97)}
				s.body = debitBody(seed, keys, mac.Current, s.requestID, s.reference, s.amount)
				status, out, err := tryCall(ctx, hc, http.MethodPost, "http://"+switchAddr+"/debit", "", s.body)
				s.status, s.err, s.at = status, err, time.Now()
				if err == nil && status == http.StatusOK {
					s.answer = out
				}
				results[g] = append(results[g], s)
				if err != nil {
					return // the listener is gone: expected after the SIGTERM
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	termAt := time.Now()
	shutdown := p.terminate(t)
	wg.Wait()
	t.Logf("exit 0 %v after SIGTERM", shutdown.Round(time.Millisecond))

	var all []sent
	var answered, beforeTerm int
	for _, rs := range results {
		for _, s := range rs {
			if s.err != nil && s.at.Before(termAt) {
				t.Errorf("%s failed before the SIGTERM: %v", s.requestID, s.err)
			}
			if s.answer != nil {
				answered++
				if s.at.Before(termAt) {
					beforeTerm++
				}
				a, err := verifyAnswer(s.answer, keys, mac.Current, s.requestID, s.reference, s.amount)
				if err != nil {
					t.Error(err)
				} else if a.ResponseCode != "00" {
					// 96 here would be a message answered after the ledger closed (ErrClosed).
					t.Errorf("%s answered %s, want 00 (the wallet has plenty; none may be answered after the ledger closed)", s.requestID, a.ResponseCode)
				}
			}
			all = append(all, s)
		}
	}
	if beforeTerm < senders {
		t.Fatalf("only %d debits were answered before the SIGTERM; the test proves nothing", beforeTerm)
	}
	for _, secret := range []string{key, token} {
		if strings.Contains(p.stderr.String(), secret) {
			t.Errorf("secret %q appears on stderr", secret)
		}
	}

	// Restart on the same ledger. Every answered approval must have been durable: the balance already reflects all
	// of them, and at most the unanswered ones on top.
	p2 := startProc(t, env, nil, args...)
	switchAddr, opsAddr, _ = startLine(t, p2.stderr, p2.exited)
	var answeredSum, unansweredSum int64
	for _, s := range all {
		if s.answer != nil {
			answeredSum += s.amount
		} else {
			unansweredSum += s.amount
		}
	}
	if got, hi, lo := balance(t, hc, opsAddr, token, walletID), funding-answeredSum, funding-answeredSum-unansweredSum; got < lo || got > hi {
		t.Errorf("balance after the restart = %d, want within [%d, %d]: an answered debit was lost or one was applied twice", got, lo, hi)
	}

	// Send every debit again.
	var (
		mu       sync.Mutex
		approved int64
		problems []string
	)
	work := make(chan sent)
	var wg2 sync.WaitGroup
	for range senders {
		wg2.Go(func() {
			for s := range work {
				status, out, err := tryCall(ctx, hc, http.MethodPost, "http://"+switchAddr+"/debit", "", s.body)
				var problem string
				switch {
				case err != nil || status != http.StatusOK:
					problem = fmt.Sprintf("%s after the restart: HTTP %d %s %v", s.requestID, status, out, err)
				case s.answer != nil && !bytes.Equal(out, s.answer):
					problem = fmt.Sprintf("%s replay differs:\n got %s\nwant %s", s.requestID, out, s.answer)
				default:
					a, err := verifyAnswer(out, keys, mac.Current, s.requestID, s.reference, s.amount)
					if err != nil {
						problem = err.Error()
					} else if a.ResponseCode != "00" {
						problem = fmt.Sprintf("%s answered %s after the restart, want 00", s.requestID, a.ResponseCode)
					}
				}
				mu.Lock()
				if problem != "" {
					problems = append(problems, problem)
				} else {
					approved += s.amount
				}
				mu.Unlock()
			}
		})
	}
	for _, s := range all {
		work <- s
	}
	close(work)
	wg2.Wait()
	for i, pr := range problems {
		if i == 10 {
			t.Errorf("... and %d more", len(problems)-10)
			break
		}
		t.Error(pr)
	}
	if got, want := balance(t, hc, opsAddr, token, walletID), funding-approved; got != want {
		t.Errorf("balance = %d, want funding %d - approved %d = %d", got, funding, approved, want)
	}
	checkAudit(t, hc, opsAddr, token)
	if n := debitReplays(t, hc, opsAddr); n < answered || n > len(all) {
		t.Errorf("walletgate_idempotent_replays_total{route=\"debit\"} = %d, want between the %d answered and the %d sent", n, answered, len(all))
	}
	t.Logf("%d debits sent, %d answered (%d before the SIGTERM), %d re-sent without an answer",
		len(all), answered, beforeTerm, len(all)-answered)
	hc.CloseIdleConnections()
	p2.terminate(t)
}

var (
	demoDirRE   = regexp.MustCompile(`throw-away ledger in (\S+), removed on exit`)
	demoKeyRE   = regexp.MustCompile(`MAC key \(HMAC-SHA512, shared with the switch\):\s+([0-9a-f]+)\n`)
	demoTokenRE = regexp.MustCompile(`admin token:\s+([0-9a-f]+)\n`)
	demoCurlRE  = regexp.MustCompile(`(?m)^curl -s http://(\S+)/debit -H 'Content-Type: application/json' -d '(.*)'$`)
)

// TestBinaryDemo runs `walletgate demo`, pastes its printed samples against the real switch listener and checks
// the codes they promise, then stops it with SIGTERM: exit 0 and its temporary directory gone.
func TestBinaryDemo(t *testing.T) {
	tmp := t.TempDir()
	p := startProc(t, childEnv(map[string]string{"TMPDIR": tmp}), nil,
		"demo", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	switchAddr, opsAddr, _ := startLine(t, p.stderr, p.exited)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := p.stdout.waitLine(ctx, p.exited, func(l string) bool { return strings.Contains(l, "Sign your own request") }); err != nil {
		t.Fatalf("demo did not print its samples: %v; stdout:\n%s\nstderr:\n%s", err, p.stdout.String(), p.stderr.String())
	}
	out := p.stdout.String()

	m := demoDirRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no temporary directory on stdout:\n%s", out)
	}
	demoDir := m[1]
	if !strings.HasPrefix(demoDir, tmp+string(filepath.Separator)) {
		t.Errorf("demo directory %s is not under TMPDIR %s", demoDir, tmp)
	}
	if _, err := os.Stat(filepath.Join(demoDir, "walletgate.db")); err != nil {
		t.Errorf("the demo ledger is not in %s: %v", demoDir, err)
	}
	km, tm := demoKeyRE.FindStringSubmatch(out), demoTokenRE.FindStringSubmatch(out)
	if km == nil || tm == nil || len(km[1]) != 64 || len(tm[1]) != 32 {
		t.Fatalf("stdout lacks the MAC key (64 hex digits) or the admin token (32):\n%s", out)
	}
	key, token := km[1], tm[1]
	for _, secret := range []string{key, token} {
		if strings.Contains(p.stderr.String(), secret) {
			t.Errorf("a demo secret appears on stderr:\n%s", p.stderr.String())
		}
	}
	keys := mustKeys(t, mac.SHA512, key, "")

	curls := demoCurlRE.FindAllStringSubmatch(out, -1)
	wantCodes := []string{"00", "51", "12"} // approved, insufficient funds, forged
	if len(curls) != len(wantCodes) {
		t.Fatalf("%d curl lines for /debit on stdout, want %d:\n%s", len(curls), len(wantCodes), out)
	}
	hc := newHTTPClient(t)
	for i, c := range curls {
		if c[1] != switchAddr {
			t.Errorf("curl %d targets %s, the switch listens on %s", i, c[1], switchAddr)
		}
		body := []byte(c[2])
		status, ans := call(t, hc, http.MethodPost, "http://"+switchAddr+"/debit", "", body)
		if status != http.StatusOK {
			t.Fatalf("curl %d: HTTP %d %s", i, status, ans)
		}
		r := members(t, body)
		field := func(name string) string {
			for _, f := range r {
				if f.name == name {
					return strings.Trim(f.value, `"`)
				}
			}
			return ""
		}
		var amount int64
		fmt.Sscan(field("amount"), &amount)
		checkAnswer(t, ans, keys, mac.Current, wantCodes[i], field("requestId"), field("transactionReference"), amount)
	}
	if got := balance(t, hc, opsAddr, token, demoWalletID); got != demoFunding-100 {
		t.Errorf("demo wallet balance = %d, want %d - 100", got, demoFunding)
	}
	hc.CloseIdleConnections()

	p.terminate(t)
	if _, err := os.Stat(demoDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo directory %s still exists after exit (stat: %v)", demoDir, err)
	}
}

// debitReplays reads walletgate_idempotent_replays_total{route="debit"} from /metrics (0 when not yet exported).
func debitReplays(t *testing.T, hc *http.Client, opsAddr string) int {
	t.Helper()
	status, body := call(t, hc, http.MethodGet, "http://"+opsAddr+"/metrics", "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", status)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, `walletgate_idempotent_replays_total{route="debit"} `); ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}
