//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletgate/walletgate/outbound"
)

// crashOutboxWorkers is WALLETGATE_OUTBOX_WORKERS of the crash test: at most this many deliveries are in flight
// when walletgate is killed.
const crashOutboxWorkers = 8

// crashPartners is the partner simulator of TestCrashRecovery, served from the test process on 127.0.0.1 so that
// it keeps answering while walletgate is killed and restarted. Besides what the simulator records, it counts the
// pushes it accepted: by the connector's transactionId (answered success: true) and by the virtual account's
// transactionReference.
type crashPartners struct {
	sim *outbound.Simulator
	srv *httptest.Server

	mu           sync.Mutex
	connAccepted map[string]int      // connector transactionId -> pushes answered success
	connRequests int                 // every connector request, DUPLICATE_ID and retries included
	connRefused  map[string]int      // error_code of connector answers other than success -> count
	vaAccepted   map[string]int      // virtual account transactionReference -> requests answered success
	vaWhat       map[string][]string // virtual account transactionReference -> "path amount accountID" of each
}

func newCrashPartners(t *testing.T) *crashPartners {
	p := &crashPartners{sim: outbound.NewSimulator(), connAccepted: map[string]int{}, connRefused: map[string]int{}, vaAccepted: map[string]int{},
		vaWhat: map[string][]string{}}
	sim := p.sim.Handler()
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		p.count(r.URL.Path, body, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// count records one request and the simulator's answer.
func (p *crashPartners) count(path string, req, resp []byte) {
	var in struct {
		TransactionID        string      `json:"transactionId"`
		TransactionReference string      `json:"transactionReference"`
		AccountID            string      `json:"accountID"`
		Amount               json.Number `json:"amount"`
	}
	var out struct {
		Success   bool   `json:"success"`
		ErrorCode string `json:"error_code"`
	}
	dec := json.NewDecoder(bytes.NewReader(req))
	dec.UseNumber()
	_ = dec.Decode(&in)
	_ = json.Unmarshal(resp, &out)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case strings.HasPrefix(path, outbound.SimConnectorPath+"/"):
		p.connRequests++
		if out.Success {
			p.connAccepted[in.TransactionID]++
		} else {
			p.connRefused[out.ErrorCode]++
		}
	case strings.HasPrefix(path, outbound.SimVirtualAccountPath+"/") && out.Success:
		p.vaAccepted[in.TransactionReference]++
		p.vaWhat[in.TransactionReference] = append(p.vaWhat[in.TransactionReference],
			strings.TrimPrefix(path, outbound.SimVirtualAccountPath)+" "+in.Amount.String()+" "+in.AccountID)
	}
}

// env configures walletgate for the connector and the virtual account of the simulator, with short back-offs so
// that the outbox drains quickly after the last restart, and no dead letters however long it takes.
func (p *crashPartners) env() map[string]string {
	_, va, conn := p.sim.Configs(p.srv.URL)
	return map[string]string{
		"WALLETGATE_CONNECTOR_URL": conn.URL, "WALLETGATE_CONNECTOR_API_KEY": conn.APIKey,
		"WALLETGATE_CONNECTOR_USER": conn.User, "WALLETGATE_CONNECTOR_PASSWORD": conn.Password,
		"WALLETGATE_VA_URL": va.URL, "WALLETGATE_VA_TOKEN": va.Token,
		"WALLETGATE_VA_DEBIT_CLASSIFICATION": va.DebitClassification, "WALLETGATE_VA_CREDIT_CLASSIFICATION": va.CreditClassification,
		"WALLETGATE_OUTBOX_WORKERS": fmt.Sprint(crashOutboxWorkers), "WALLETGATE_OUTBOX_BACKOFF": "20ms",
		"WALLETGATE_OUTBOX_MAX_BACKOFF": "200ms", "WALLETGATE_OUTBOX_MAX_ATTEMPTS": "1000000",
		"WALLETGATE_PARTNER_TIMEOUT": "10s",
	}
}

// summary is the partner part of the crash test's report.
func (p *crashPartners) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	conn, va, vaRepeats := 0, 0, 0
	for _, n := range p.connAccepted {
		conn += n
	}
	for _, n := range p.vaAccepted {
		va += n
		vaRepeats += n - 1
	}
	return fmt.Sprintf("(connector %d accepted of %d requests, others answered %v, virtual account %d accepted, %d of them repeats after a kill)",
		conn, p.connRequests, p.connRefused, va, vaRepeats)
}

// major is a minor-unit NGN amount in major units as the partners get it (150 -> "1.50").
func major(minor int64) string { return fmt.Sprintf("%d.%02d", minor/100, minor%100) }

// expectedPushes returns what README "What each partner receives" says the partners must have recorded for the
// final decisions of the messages sent: the connector by transactionId ("operation amount currency status" and
// the referenced debit, as outbound.Simulator.ConnectorTransactions shows it), the virtual account by
// transactionReference ("path amount accountID"). Every reference of the test is unique across namespaces, so
// each delivery id is the message's own reference.
func (c *crashRun) expectedPushes() (connector, va map[string]string) {
	connector, va = map[string]string{}, map[string]string{}
	mirror := func(m *crashMsg, path string, amount int64) {
		if id := c.vaIDs[m.wallet]; id != "" {
			va[m.ref] = path + " " + major(amount) + " " + id
		}
	}
	for _, m := range c.msgs {
		switch {
		case m.route == routeDebit && m.code == "00":
			connector[m.ref] = "debit " + major(m.amount) + " NGN success"
			mirror(m, "/debit/uni", m.amount+m.fee)
		case m.route == routeDebit:
			connector[m.ref] = "debit " + major(m.amount) + " NGN failed"
		case m.route == routeReversal && m.code == "00" && m.orig.code == "00" && m.amount == 0:
			connector[m.ref] = "void " + major(m.orig.amount) + " NGN success " + m.orig.ref
			mirror(m, "/credit/uni", m.orig.amount+m.orig.fee)
		case m.route == routeReversal && m.code == "00" && m.orig.code == "00":
			connector[m.ref] = "refund " + major(m.amount) + " NGN success " + m.orig.ref
			mirror(m, "/credit/uni", m.amount)
		case m.route == routeLienDebit && m.amount > 0 && m.code == "00":
			connector[m.ref] = "debit " + major(m.amount) + " NGN success"
			mirror(m, "/debit/uni", m.amount+m.orig.fee)
		case m.route == routeLienDebit && m.amount > 0:
			connector[m.ref] = "debit " + major(m.amount) + " NGN failed"
		}
	}
	return connector, va
}

// checkPartners runs after the last restart: it waits (bounded) until the outbox has nothing pending, then asserts
// that nothing was dead-lettered, that the connector recorded exactly the expected final card outcomes, each
// accepted exactly once (repeats after a kill are answered DUPLICATE_ID), and that the virtual account received
// exactly the expected movements; it may have received one again only for a delivery in flight at a kill.
func (c *crashRun) checkPartners() {
	t := c.t
	t.Helper()
	// The wait is bounded by progress: a lane delivers one event at a time, so after hundreds of kills over four
	// wallets the backlog takes a while, but the pending count must keep falling.
	start, best, progress := time.Now(), -1, time.Now()
	for len(listOutbox(t, c.hc, c.opsAddr, c.token, "?state=pending&limit=1").Events) > 0 {
		n := 0
		for _, partner := range []string{"connector", "virtualaccount"} {
			v, _ := strconv.Atoi(metricValue(t, c.hc, c.opsAddr, `walletgate_outbox_pending{partner="`+partner+`"}`))
			n += v
		}
		if best < 0 {
			c.backlog = n
		}
		if best < 0 || n < best {
			best, progress = n, time.Now()
		}
		if time.Since(progress) > 30*time.Second {
			t.Fatalf("the outbox stopped draining: %d events pending, none delivered for 30s: %+v", n,
				listOutbox(t, c.hc, c.opsAddr, c.token, "?state=pending&limit=20"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.drained = time.Since(start)
	if dead := listOutbox(t, c.hc, c.opsAddr, c.token, "?state=dead&limit=20").Events; len(dead) > 0 {
		t.Errorf("dead-lettered events: %+v", dead)
	}
	wantConn, wantVA := c.expectedPushes()
	gotConn := c.partners.sim.ConnectorTransactions()
	p := c.partners
	p.mu.Lock()
	defer p.mu.Unlock()
	var problems []string
	for _, id := range sortedKeys(wantConn) {
		switch got, ok := gotConn[id]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("connector never recorded %s (%s)", id, wantConn[id]))
		case got != wantConn[id]:
			problems = append(problems, fmt.Sprintf("connector recorded %s as %q, want %q", id, got, wantConn[id]))
		}
		if n := p.connAccepted[id]; n != 1 {
			problems = append(problems, fmt.Sprintf("connector accepted %s %d times, want exactly once", id, n))
		}
	}
	for _, id := range sortedKeys(gotConn) {
		if _, ok := wantConn[id]; !ok {
			problems = append(problems, fmt.Sprintf("connector recorded %s (%s), which no final card outcome explains", id, gotConn[id]))
		}
	}
	repeats := 0
	for _, ref := range sortedKeys(wantVA) {
		if p.vaAccepted[ref] == 0 {
			problems = append(problems, fmt.Sprintf("virtual account never received %s (%s)", ref, wantVA[ref]))
		}
		for _, got := range p.vaWhat[ref] {
			if got != wantVA[ref] {
				problems = append(problems, fmt.Sprintf("virtual account received %s as %q, want %q", ref, got, wantVA[ref]))
			}
		}
		repeats += max(0, p.vaAccepted[ref]-1)
	}
	for _, ref := range sortedKeys(p.vaAccepted) {
		if _, ok := wantVA[ref]; !ok {
			problems = append(problems, fmt.Sprintf("virtual account received %s %v, which no movement explains", ref, p.vaWhat[ref]))
		}
	}
	// The outbox is at least once: only an attempt in flight when walletgate was killed is made again.
	if limit := c.kills * crashOutboxWorkers; repeats > limit {
		problems = append(problems, fmt.Sprintf("virtual account received %d repeats over %d kills, more than %d deliveries in flight at the kills",
			repeats, c.kills, limit))
	}
	for i, pr := range problems {
		if i == 20 {
			t.Errorf("... and %d more partner problems", len(problems)-20)
			break
		}
		t.Error(pr)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
