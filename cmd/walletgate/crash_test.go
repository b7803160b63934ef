//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/server"
)

// The crash test's knobs. The environment variables do the same as the flags, for CI jobs that cannot pass flags.
var (
	crashSeed  = flag.Uint64("crash.seed", 0, "seed of TestCrashRecovery (0: a new one, printed; env WALLETGATE_CRASH_SEED)")
	crashKills = flag.Int("crash.kills", 0, "number of SIGKILLs in TestCrashRecovery (default 5; env WALLETGATE_CRASH_KILLS)")
)

const defaultCrashKills = 5

func crashSettings(t *testing.T) (seed uint64, kills int) {
	t.Helper()
	seed, kills = *crashSeed, *crashKills
	if v := os.Getenv("WALLETGATE_CRASH_SEED"); seed == 0 && v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("WALLETGATE_CRASH_SEED=%q: %v", v, err)
		}
		seed = n
	}
	if v := os.Getenv("WALLETGATE_CRASH_KILLS"); kills == 0 && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("WALLETGATE_CRASH_KILLS=%q: want a positive integer", v)
		}
		kills = n
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	if kills == 0 {
		kills = defaultCrashKills
	}
	return seed, kills
}

// crashMsg is one switch message of the crash test and what became of it.
type crashMsg struct {
	route            string // "debit" or "reversal"
	sender           int
	requestID, ref   string
	wallet           int
	amount, fee      int64     // a reversal: amount 0 is full, else partial principal
	orig             *crashMsg // a reversal: the debit it reverses
	body             []byte
	answer           []byte // the first HTTP 200 body received; nil while unanswered
	code             string
	settledAfterKill bool // it got no answer before a kill and was answered only when re-sent after the restart
	onDisk           bool // its answer was found in the ledger after a restart, before anything was re-sent
}

// crashRun is the state of TestCrashRecovery across restarts.
type crashRun struct {
	t        *testing.T
	keys     *mac.Keys
	seed     map[string]any
	hc       *http.Client
	env      []string
	args     []string
	wallets  []string
	funding  []int64
	token    string
	msgs     []*crashMsg // every message ever sent, in creation order per sender
	reversed map[*crashMsg]bool

	p                   *proc
	switchAddr, opsAddr string

	requests, kills, settled, checkedReplays int
	lost, doubled                            int // over every statement check; the test fails unless both stay 0
}

// TestCrashRecovery builds walletgate, funds wallets over the admin API, and runs concurrent senders of unique signed
// debits and reversals (full and partial) while SIGKILLing the process at seeded random moments. After every restart
// on the same ledger file it checks that: the audit is green; every answered message is in the ledger with the code
// it was answered, before anything is re-sent; every answer any sender received replays byte for byte; every message that got no answer is answered when re-sent, and that answer then replays byte for byte after
// every later kill (it stays settled); every wallet's balance is its funding minus exactly the approved debits
// (amount + fee) plus what the approved reversals gave back; and no transaction appears twice or is missing in the
// wallets' statements (lost = 0, doubled = 0).
//
// go test -run TestCrashRecovery -v ./cmd/walletgate -crash.seed=N -crash.kills=300 replays a schedule (the seed
// fixes the kill moments, message mix and amounts; thread timing still varies).
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test builds and kills the binary; skipped under -short")
	}
	seed, kills := crashSettings(t)
	t.Logf("crash test seed %d, %d kills (replay: -crash.seed=%d -crash.kills=%d)", seed, kills, seed, kills)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	const key, token = "crash-K3y-9b1f27c4", "crash-T0k-3e8a51d0"
	dir := t.TempDir()
	c := &crashRun{
		t:        t,
		keys:     mustKeys(t, mac.SHA512, key, ""),
		seed:     readSeed(t),
		hc:       newHTTPClient(t),
		env:      childEnv(map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_ADMIN_TOKEN": token, "WALLETGATE_DB": filepath.Join(dir, "walletgate.db"), "TMPDIR": dir}),
		args:     []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"},
		wallets:  []string{"7000000001", "7000000002", "7000000003", "7000000004"},
		funding:  []int64{1_000_000_000, 1_000_000_000, 1_000_000_000, 5_000}, // the last one runs dry: 51s too
		token:    token,
		reversed: map[*crashMsg]bool{},
	}
	c.start()
	for i, w := range c.wallets {
		fundWallet(t, c.hc, c.opsAddr, token, w, c.funding[i])
	}

	const senders = 4
	for round := range kills {
		// Kill at a random moment: sometimes before a single message got through, mostly while senders are busy.
		delay := time.Duration(rng.IntN(400)) * time.Millisecond
		roundSeed := rng.Uint64()
		ctx, cancel := context.WithCancel(context.Background())
		results := make([][]*crashMsg, senders)
		var wg sync.WaitGroup
		for g := range senders {
			own := c.reversibleOf(g)
			wg.Go(func() { results[g] = c.send(ctx, round, g, rand.New(rand.NewPCG(roundSeed, uint64(g))), own) })
		}
		time.Sleep(delay)
		c.kill()
		cancel()
		wg.Wait()
		for _, rs := range results {
			c.msgs = append(c.msgs, rs...)
			c.requests += len(rs)
		}
		c.start()
		c.check(round, kills)
		if t.Failed() {
			t.Fatalf("stopping after round %d (seed %d)", round, seed)
		}
	}
	c.report(seed)
	c.hc.CloseIdleConnections()
	c.p.terminate(t)
}

// start runs walletgate on the ledger and waits for its start line.
func (c *crashRun) start() {
	c.t.Helper()
	c.p = startProc(c.t, c.env, nil, c.args...)
	c.switchAddr, c.opsAddr, _ = startLine(c.t, c.p.stderr, c.p.exited)
}

// kill SIGKILLs walletgate and reaps it.
func (c *crashRun) kill() {
	c.t.Helper()
	if err := c.p.cmd.Process.Kill(); err != nil {
		c.t.Fatalf("SIGKILL: %v", err)
	}
	<-c.p.exited
	c.kills++
	c.hc.CloseIdleConnections()
}

// reversibleOf lists sender g's approved debits that were never reversed, for its reversals to pick from.
func (c *crashRun) reversibleOf(g int) []*crashMsg {
	var out []*crashMsg
	for _, m := range c.msgs {
		if m.route == "debit" && m.code == "00" && !c.reversed[m] && m.sender == g {
			out = append(out, m)
		}
	}
	return out
}

// send is one sender: it sends new messages one after another until one gets no answer (walletgate was killed).
func (c *crashRun) send(ctx context.Context, round, g int, rng *rand.Rand, reversible []*crashMsg) []*crashMsg {
	var out []*crashMsg
	for n := 0; ; n++ {
		m := &crashMsg{sender: g, requestID: fmt.Sprintf("c%d-%d-%d", round, g, n), ref: fmt.Sprintf("CR%04dS%dN%05d", round, g, n)}
		if len(reversible) > 0 && rng.IntN(4) == 0 {
			i := rng.IntN(len(reversible))
			orig := reversible[i]
			reversible = append(reversible[:i], reversible[i+1:]...)
			m.route, m.orig, m.wallet = "reversal", orig, orig.wallet
			if orig.amount > 1 && rng.IntN(2) == 0 {
				m.amount = 1 + rng.Int64N(orig.amount-1) // partial: principal only
			}
			m.body = c.body(mac.Reversal, m)
		} else {
			m.route, m.wallet = "debit", rng.IntN(len(c.wallets))
			m.amount, m.fee = 1+rng.Int64N(500), rng.Int64N(4)
			m.body = c.body(mac.Debit, m)
		}
		out = append(out, m)
		status, body, err := tryCall(ctx, c.hc, http.MethodPost, "http://"+c.switchAddr+"/"+m.route, "", m.body)
		if err != nil || status != http.StatusOK {
			return out // unanswered: settled after the restart
		}
		m.answer = body
		if m.route == "debit" {
			m.code = codeOf(body)
			if m.code == "00" && rng.IntN(3) == 0 {
				reversible = append(reversible, m) // reversed later in this round, maybe
			}
		}
	}
}

func codeOf(body []byte) string {
	var a switchAnswer
	if json.Unmarshal(body, &a) != nil {
		return ""
	}
	return a.ResponseCode
}

// body is the seed sample turned into message m, signed.
func (c *crashRun) body(msg mac.Message, m *crashMsg) []byte {
	fields := make(map[string]any, len(c.seed)+2)
	for k, v := range c.seed {
		fields[k] = v
	}
	fields["requestId"], fields["transactionReference"], fields["walletId"] = m.requestID, m.ref, c.wallets[m.wallet]
	fields["amount"] = m.amount
	if m.fee > 0 {
		fields["transactionFee"] = m.fee
	}
	if m.orig != nil {
		fields["originalTransactionReference"] = m.orig.ref
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	r, err := server.DecodeRequest(raw)
	if err != nil {
		panic(err)
	}
	signed, err := server.SetMAC(raw, c.keys.Sign(mac.Current, mac.Values(msg, r.Text)...))
	if err != nil {
		panic(err)
	}
	return signed
}

// check runs after every restart.
func (c *crashRun) check(round, rounds int) {
	t := c.t
	t.Helper()
	checkAudit(t, c.hc, c.opsAddr, c.token)

	// Answered means durable: before anything is re-sent (which could decide a lost message again, identically), the
	// ledger already holds every answered message with the code it was answered.
	for _, m := range c.msgs {
		if m.answer == nil || m.onDisk {
			continue
		}
		status, body := call(t, c.hc, http.MethodGet, "http://"+c.opsAddr+"/admin/transactions/"+m.ref, c.token, nil)
		var tx struct {
			Kind         string `json:"kind"`
			RequestID    string `json:"requestId"`
			ResponseCode string `json:"responseCode"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &tx) != nil || tx.Kind != m.route || tx.RequestID != m.requestID ||
			tx.ResponseCode != codeOf(m.answer) {
			t.Errorf("after restart %d: answered %s %s (%s) is not in the ledger as answered: HTTP %d %s", round, m.route,
				m.requestID, codeOf(m.answer), status, body)
		}
		m.onDisk = true
	}

	// Messages that got no answer: re-sent until answered; the first answer settles them.
	for _, m := range c.msgs {
		if m.answer != nil {
			continue
		}
		status, body := call(t, c.hc, http.MethodPost, "http://"+c.switchAddr+"/"+m.route, "", m.body)
		if status != http.StatusOK {
			t.Fatalf("%s %s re-sent after restart %d: HTTP %d %s", m.route, m.requestID, round, status, body)
		}
		m.answer, m.settledAfterKill = body, true
		c.settled++
	}
	for _, m := range c.msgs {
		c.verify(m)
	}

	// Every answer replays byte for byte. With thousands of messages, the old ones are sampled (all of them are
	// checked again after the last restart).
	replay := c.msgs
	if len(c.msgs) > 3000 && round < rounds-1 {
		replay = nil
		for i, m := range c.msgs {
			if i%17 == round%17 || m.settledAfterKill || strings.HasPrefix(m.requestID, fmt.Sprintf("c%d-", round)) {
				replay = append(replay, m)
			}
		}
	}
	c.replayAll(replay)

	// Money: funding minus exactly the approved movements, per wallet.
	want := append([]int64(nil), c.funding...)
	for _, m := range c.msgs {
		switch {
		case m.route == "debit" && m.code == "00":
			want[m.wallet] -= m.amount + m.fee
		case m.route == "reversal" && m.code == "00" && m.orig.code == "00":
			if m.amount == 0 {
				want[m.wallet] += m.orig.amount + m.orig.fee
			} else {
				want[m.wallet] += m.amount
			}
		}
	}
	for i, w := range c.wallets {
		if got := balance(t, c.hc, c.opsAddr, c.token, w); got != want[i] {
			t.Errorf("after restart %d: wallet %s balance %d, want funding %d - approved movements = %d", round, w, got, c.funding[i], want[i])
		}
	}
	if len(c.msgs) <= 3000 || round == rounds-1 {
		c.statements(round)
	}
}

// verify checks an answer's signature, echo and code, and records the code.
func (c *crashRun) verify(m *crashMsg) {
	t := c.t
	t.Helper()
	a, err := verifyAnswer(m.answer, c.keys, mac.Current, m.requestID, m.ref, m.amount)
	if err != nil {
		t.Error(err)
		return
	}
	if m.code != "" && a.ResponseCode != m.code {
		t.Errorf("%s %s: code %s, earlier %s", m.route, m.requestID, a.ResponseCode, m.code)
	}
	m.code = a.ResponseCode
	switch {
	case m.route == "debit" && m.code != "00" && m.code != "51":
		t.Errorf("debit %s answered %s, want 00 or 51: %s", m.requestID, m.code, m.answer)
	case m.route == "reversal" && m.code != "00":
		t.Errorf("reversal %s of %s (answered %s) answered %s, want 00: %s", m.requestID, m.orig.requestID, m.orig.code, m.code, m.answer)
	}
	if m.route == "reversal" {
		c.reversed[m.orig] = true
	}
}

// replayAll re-sends msgs concurrently and asserts each answer is the stored one, byte for byte.
func (c *crashRun) replayAll(msgs []*crashMsg) {
	t := c.t
	t.Helper()
	var mu sync.Mutex
	var problems []string
	work := make(chan *crashMsg)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for m := range work {
				status, body, err := tryCall(context.Background(), c.hc, http.MethodPost, "http://"+c.switchAddr+"/"+m.route, "", m.body)
				if err != nil || status != http.StatusOK || !bytes.Equal(body, m.answer) {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("%s %s: HTTP %d %v\n got %s\nwant %s", m.route, m.requestID, status, err, body, m.answer))
					mu.Unlock()
				}
			}
		})
	}
	for _, m := range msgs {
		work <- m
	}
	close(work)
	wg.Wait()
	c.checkedReplays += len(msgs)
	for i, p := range problems {
		if i == 10 {
			t.Errorf("... and %d more replays differ", len(problems)-10)
			break
		}
		t.Errorf("replay differs: %s", p)
	}
}

// statements reads every wallet's statement and asserts each approved movement appears exactly once and nothing
// else does: lost = 0, doubled = 0.
func (c *crashRun) statements(round int) {
	t := c.t
	t.Helper()
	lines := map[string]int{} // kind + " " + reference -> count
	for _, w := range c.wallets {
		before := ""
		for {
			url := "http://" + c.opsAddr + "/admin/wallets/" + w + "/transactions?limit=500" + before
			status, body := call(t, c.hc, http.MethodGet, url, c.token, nil)
			var page struct {
				Transactions []struct {
					Kind      string `json:"kind"`
					Reference string `json:"reference"`
				} `json:"transactions"`
				NextBefore uint64 `json:"nextBefore"`
			}
			if status != http.StatusOK || json.Unmarshal(body, &page) != nil {
				t.Fatalf("statement of %s: HTTP %d %s", w, status, body)
			}
			for _, l := range page.Transactions {
				lines[l.Kind+" "+l.Reference]++
			}
			if page.NextBefore == 0 {
				break
			}
			before = "&before=" + strconv.FormatUint(page.NextBefore, 10)
		}
	}
	lost, doubled := 0, 0
	for _, m := range c.msgs {
		moved := m.code == "00" && (m.route == "debit" || m.orig.code == "00")
		n := lines[m.route+" "+m.ref]
		delete(lines, m.route+" "+m.ref)
		switch {
		case moved && n == 0:
			lost++
			t.Errorf("after restart %d: approved %s %s has no statement line", round, m.route, m.ref)
		case n > 1 || (!moved && n > 0):
			doubled++
			t.Errorf("after restart %d: %s %s (code %s) has %d statement lines", round, m.route, m.ref, m.code, n)
		}
	}
	for _, w := range c.wallets {
		delete(lines, "credit fund-"+w)
	}
	for l, n := range lines {
		doubled++
		t.Errorf("after restart %d: statement line %q (%d) belongs to no message sent", round, l, n)
	}
	c.lost, c.doubled = c.lost+lost, c.doubled+doubled
	if lost != 0 || doubled != 0 {
		t.Errorf("after restart %d: lost = %d, doubled = %d", round, lost, doubled)
	}
}

func (c *crashRun) report(seed uint64) {
	approvals, declines, reversals := 0, 0, 0
	for _, m := range c.msgs {
		switch {
		case m.route == "debit" && m.code == "00":
			approvals++
		case m.route == "debit":
			declines++
		case m.code == "00" && m.orig.code == "00":
			reversals++
		}
	}
	c.t.Logf("crash test: seed %d, kills %d, requests %d (%d unanswered at a kill, settled on re-send), approvals %d, "+
		"declines %d, reversals that moved money %d, replays checked %d, lost %d, doubled %d",
		seed, c.kills, c.requests, c.settled, approvals, declines, reversals, c.checkedReplays, c.lost, c.doubled)
}
