//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletgate/walletgate/mac"
)

// fakeConnector is the connector's push API, in the test process: while down it drops every connection without an
// answer; up, it answers like seed 003 (success, then DUPLICATE_ID for a transactionId it has) and counts what it
// accepted.
type fakeConnector struct {
	mu       sync.Mutex
	down     bool
	attempts map[string]int // transactionId -> requests received, down or up
	accepted map[string]int // transactionId -> requests answered with success
}

func newFakeConnector(t *testing.T) (*fakeConnector, *httptest.Server) {
	f := &fakeConnector{down: true, attempts: map[string]int{}, accepted: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			TransactionID string `json:"transactionId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if user, pass, ok := r.BasicAuth(); !ok || user != "conn-user" || pass != "conn-pass-77aa" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		f.attempts[body.TransactionID]++
		down := f.down
		dup := f.accepted[body.TransactionID] > 0
		if !down && !dup {
			f.accepted[body.TransactionID]++
		}
		f.mu.Unlock()
		switch {
		case down:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case dup:
			fmt.Fprint(w, `{"success":false,"error_code":"DUPLICATE_ID","error_message":"transactionId already used"}`)
		default:
			fmt.Fprint(w, `{"success":true,"uuid":"c0ffee"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeConnector) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeConnector) counts(id string) (attempts, accepted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[id], f.accepted[id]
}

// waitFor polls cond every few milliseconds for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metricValue reads one sample of /metrics ("" when absent).
func metricValue(t *testing.T, hc *http.Client, opsAddr, sample string) string {
	t.Helper()
	_, body := call(t, hc, http.MethodGet, "http://"+opsAddr+"/metrics", "", nil)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), sample+" "); ok {
			return v
		}
	}
	return ""
}

type outboxList struct {
	Events []struct {
		Partner              string `json:"partner"`
		TransactionReference string `json:"transactionReference"`
		State                string `json:"state"`
		Attempts             int    `json:"attempts"`
	} `json:"events"`
}

func listOutbox(t *testing.T, hc *http.Client, opsAddr, token, query string) outboxList {
	t.Helper()
	status, body := call(t, hc, http.MethodGet, "http://"+opsAddr+"/admin/outbox"+query, token, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /admin/outbox%s: HTTP %d %s", query, status, body)
	}
	var out outboxList
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBinaryOutboxSurvivesKill: a debit is approved while the connector is down; walletgate is killed with SIGKILL
// mid-retry and restarted on the same ledger; once the connector is back, the debit is pushed to it exactly once,
// the pending gauge tells the truth before and after, and the partner credentials never reach the logs.
func TestBinaryOutboxSurvivesKill(t *testing.T) {
	const (
		key      = "outbox-K3y-5e1d"
		token    = "outbox-T0k-9a2c"
		walletID = "7770001111"
		connKey  = "conn-key-31f0"
		connPass = "conn-pass-77aa"
	)
	conn, connSrv := newFakeConnector(t)
	dir := t.TempDir()
	env := childEnv(map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_ADMIN_TOKEN": token,
		"WALLETGATE_DB": filepath.Join(dir, "walletgate.db"), "TMPDIR": dir,
		"WALLETGATE_CONNECTOR_URL": connSrv.URL, "WALLETGATE_CONNECTOR_API_KEY": connKey,
		"WALLETGATE_CONNECTOR_USER": "conn-user", "WALLETGATE_CONNECTOR_PASSWORD": connPass,
		"WALLETGATE_OUTBOX_BACKOFF": "20ms", "WALLETGATE_OUTBOX_MAX_BACKOFF": "100ms",
		"WALLETGATE_OUTBOX_MAX_ATTEMPTS": "100000", "WALLETGATE_PARTNER_TIMEOUT": "2s"})
	args := []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}
	keys := mustKeys(t, mac.SHA512, key, "")
	seed := readSeed(t)
	seed["walletId"] = walletID
	hc := newHTTPClient(t)

	p := startProc(t, env, nil, args...)
	switchAddr, opsAddr, _ := startLine(t, p.stderr, p.exited)
	fundWallet(t, hc, opsAddr, token, walletID, 10_000)
	body := debitBody(seed, keys, mac.Current, "kill-1", "KILL0000001", 100)
	status, ans := call(t, hc, http.MethodPost, "http://"+switchAddr+"/debit", "", body)
	if status != http.StatusOK {
		t.Fatalf("debit: HTTP %d %s", status, ans)
	}
	checkAnswer(t, ans, keys, mac.Current, "00", "kill-1", "KILL0000001", 100)
	waitFor(t, "two failed attempts at the connector", func() bool {
		n, _ := conn.counts("KILL0000001")
		return n >= 2
	})
	if got := metricValue(t, hc, opsAddr, `walletgate_outbox_pending{partner="connector"}`); got != "1" {
		t.Errorf("pending gauge before the kill = %q, want 1", got)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited

	// Restarted, still down: the event is pending, and the gauge says so from the ledger.
	p2 := startProc(t, env, nil, args...)
	_, opsAddr, _ = startLine(t, p2.stderr, p2.exited)
	waitFor(t, "the pending gauge after the restart", func() bool {
		return metricValue(t, hc, opsAddr, `walletgate_outbox_pending{partner="connector"}`) == "1"
	})
	if _, accepted := conn.counts("KILL0000001"); accepted != 0 {
		t.Fatalf("delivered while the connector was down: %d", accepted)
	}
	conn.setDown(false)
	waitFor(t, "the delivery", func() bool {
		evs := listOutbox(t, hc, opsAddr, token, "")
		return len(evs.Events) == 1 && evs.Events[0].State == "delivered"
	})
	if attempts, accepted := conn.counts("KILL0000001"); accepted != 1 || attempts < 3 {
		t.Errorf("connector accepted the debit %d times after %d requests; want exactly once, after the failed ones", accepted, attempts)
	}
	waitFor(t, "the pending gauge at 0 after the delivery", func() bool {
		return metricValue(t, hc, opsAddr, `walletgate_outbox_pending{partner="connector"}`) == "0"
	})
	if n := len(listOutbox(t, hc, opsAddr, token, "?state=pending").Events); n != 0 {
		t.Errorf("%d events still pending", n)
	}
	checkAudit(t, hc, opsAddr, token)
	hc.CloseIdleConnections()
	p2.terminate(t)
	for _, s := range []string{key, token, connKey, connPass} {
		if strings.Contains(p.stderr.String()+p2.stderr.String(), s) {
			t.Errorf("secret %q appears on stderr", s)
		}
	}
	if attempts, accepted := conn.counts("KILL0000001"); accepted != 1 {
		t.Errorf("after shutdown the connector accepted the debit %d times (%d requests)", accepted, attempts)
	}
}

// TestBinaryDemoPartners: `walletgate demo --partners` pushes the printed debit to the simulated connector and
// mirrors it to the virtual account, visible in the log and in /admin/outbox.
func TestBinaryDemoPartners(t *testing.T) {
	tmp := t.TempDir()
	p := startProc(t, childEnv(map[string]string{"TMPDIR": tmp}), nil,
		"demo", "--partners", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	switchAddr, opsAddr, _ := startLine(t, p.stderr, p.exited)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := p.stdout.waitLine(ctx, p.exited, func(l string) bool { return strings.Contains(l, "/admin/outbox?state=dead") }); err != nil {
		t.Fatalf("demo did not print the outbox samples: %v; stdout:\n%s", err, p.stdout.String())
	}
	out := p.stdout.String()
	tm := demoTokenRE.FindStringSubmatch(out)
	curls := demoCurlRE.FindAllStringSubmatch(out, -1)
	if tm == nil || len(curls) == 0 {
		t.Fatalf("no token or debit sample on stdout:\n%s", out)
	}
	token := tm[1]
	hc := newHTTPClient(t)
	if status, ans := call(t, hc, http.MethodPost, "http://"+switchAddr+"/debit", "", []byte(curls[0][2])); status != http.StatusOK ||
		!strings.Contains(string(ans), `"responseCode":"00"`) {
		t.Fatalf("the approved sample: HTTP %d %s", status, ans)
	}
	waitFor(t, "both deliveries", func() bool {
		evs := listOutbox(t, hc, opsAddr, token, "")
		delivered := map[string]bool{}
		for _, e := range evs.Events {
			delivered[e.Partner] = e.State == "delivered" && e.TransactionReference == "11123456789"
		}
		return delivered["connector"] && delivered["virtualaccount"]
	})
	for _, partner := range []string{"connector", "virtualaccount"} {
		line, err := p.stderr.waitLine(ctx, p.exited, func(l string) bool {
			return strings.Contains(l, `"outbox: delivered"`) && strings.Contains(l, `"partner":"`+partner+`"`)
		})
		if err != nil {
			t.Errorf("no delivery log line for %s: %v", partner, err)
		} else if !strings.Contains(line, "11123456789") {
			t.Errorf("delivery log line without the reference: %s", line)
		}
	}
	hc.CloseIdleConnections()
	p.terminate(t)
}
