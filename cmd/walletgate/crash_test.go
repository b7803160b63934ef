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

// The switch routes the crash test sends, as crashMsg.route.
const (
	routeDebit     = "debit"
	routeReversal  = "reversal"
	routeEnquiry   = "enquiry"
	routeLienPlace = "lien/place"
	routeLienDebit = "lien/debit"
)

// crashRoutes gives each route its MAC message and the kind the admin transaction look-up shows ("" for an
// enquiry, which is no transaction).
var crashRoutes = map[string]struct {
	mac  mac.Message
	kind string
}{
	routeDebit:     {mac.Debit, "debit"},
	routeReversal:  {mac.Reversal, "reversal"},
	routeEnquiry:   {mac.Enquiry, ""},
	routeLienPlace: {mac.LienPlace, "lien"},
	routeLienDebit: {mac.LienDebit, "lien_debit"},
}

// crashMsg is one switch message of the crash test and what became of it.
type crashMsg struct {
	route            string // routeDebit, routeReversal, routeEnquiry, routeLienPlace or routeLienDebit
	sender           int
	requestID, ref   string
	wallet           int
	amount, fee      int64     // a reversal: amount 0 is full, else partial principal; a lien debit: 0 releases
	orig             *crashMsg // a reversal: the debit it reverses; a lien debit: the place-lien it completes
	body             []byte
	answer           []byte // the first HTTP 200 body received (an enquiry: the one its requestId now stands for)
	code             string
	settledAfterKill bool // it got no answer before a kill and was answered only when re-sent after the restart
	onDisk           bool // its answer was found in the ledger after a restart, before anything was re-sent

	// Enquiries only (README "Enquiries": the answer may be sent before its record is durable).
	enquiryDurable bool // a replay after a restart returned answer while a fresh decision would have differed
	forgotten      int  // restarts after which the enquiry was decided afresh
	run            int  // the process run (kills before it) that gave answer
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
	vaIDs    []string // the wallets' virtual accounts ("" for none)
	funding  []int64
	token    string
	msgs     []*crashMsg // every message ever sent, in creation order per sender
	reversed map[*crashMsg]bool
	ended    map[*crashMsg]bool // place-liens that a lien debit completed or released
	partners *crashPartners

	p                   *proc
	switchAddr, opsAddr string

	requests, kills, settled, checkedReplays int
	enquiriesChecked, enquiriesForgotten     int
	lost, doubled                            int           // over every statement check; the test fails unless both stay 0
	drained                                  time.Duration // how long the outbox took to drain after the last restart
	backlog                                  int           // events pending when the drain began
}

// TestCrashRecovery builds walletgate, funds wallets over the admin API, and runs concurrent senders of unique signed
// debits, reversals (full and partial), place-liens, lien debits (equal to the hold, smaller, larger, 0 = release)
// and enquiries while SIGKILLing the process at seeded random moments. walletgate pushes to the partner simulator
// (connector, and the virtual account of two wallets), which runs in this process and keeps answering while
// walletgate is down. After every restart on the same ledger file it checks that: the audit is green; every
// answered message other than an enquiry is in the ledger with the code it was answered, before anything is
// re-sent; every answer any sender received replays byte for byte; an enquiry replays byte for byte once its
// record is known durable, and before that is either replayed or decided afresh against the balances of the moment
// (README "Enquiries"); every message that got no answer is answered when re-sent, and that answer then replays
// byte for byte after every later kill (it stays settled); every wallet's balance is its funding minus exactly the
// approved debits (amount + fee) plus what the approved reversals gave back minus the completed lien debits (amount
// + the fee held), and its held amount is the sum of the holds of the liens still open; and no transaction appears
// twice or is missing in the wallets' statements (lost = 0, doubled = 0). After the last restart the outbox drains
// and every final card outcome reached the connector exactly once, and every money movement of a wallet with a
// virtual account reached it, with nothing else pushed.
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
	partners := newCrashPartners(t)
	env := map[string]string{"WALLETGATE_MAC_KEY": key, "WALLETGATE_ADMIN_TOKEN": token,
		"WALLETGATE_DB": filepath.Join(dir, "walletgate.db"), "TMPDIR": dir}
	for k, v := range partners.env() {
		env[k] = v
	}
	c := &crashRun{
		t:        t,
		keys:     mustKeys(t, mac.SHA512, key, ""),
		seed:     readSeed(t),
		hc:       newHTTPClient(t),
		env:      childEnv(env),
		args:     []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"},
		wallets:  []string{"7000000001", "7000000002", "7000000003", "7000000004"},
		vaIDs:    []string{"VA-CRASH-0001", "", "", "VA-CRASH-0004"},
		funding:  []int64{1_000_000_000, 1_000_000_000, 1_000_000_000, 5_000}, // the last one runs dry: 51s too
		token:    token,
		reversed: map[*crashMsg]bool{},
		ended:    map[*crashMsg]bool{},
		partners: partners,
	}
	c.start()
	for i, w := range c.wallets {
		c.fund(w, c.vaIDs[i], c.funding[i])
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
			reversible, open, run := c.reversibleOf(g), c.openLiensOf(g), c.kills
			wg.Go(func() {
				results[g] = c.send(ctx, round, run, g, rand.New(rand.NewPCG(roundSeed, uint64(g))), reversible, open)
			})
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
	c.checkPartners()
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

// fund creates wallet id (NGN, with virtual account va when not "") through the admin API and credits it.
func (c *crashRun) fund(id, va string, amount int64) {
	t := c.t
	t.Helper()
	status, body := call(t, c.hc, http.MethodPost, "http://"+c.opsAddr+"/admin/wallets", c.token,
		fmt.Appendf(nil, `{"walletId":%q,"currencyCode":"566","name":"Crash Wallet","virtualAccountId":%q}`, id, va))
	if status != http.StatusCreated {
		t.Fatalf("POST /admin/wallets: HTTP %d %s", status, body)
	}
	status, body = call(t, c.hc, http.MethodPost, "http://"+c.opsAddr+"/admin/wallets/"+id+"/credit", c.token,
		fmt.Appendf(nil, `{"amount":%d,"reference":"fund-%s","narration":"test funding"}`, amount, id))
	if status != http.StatusOK {
		t.Fatalf("POST /admin/wallets/%s/credit: HTTP %d %s", id, status, body)
	}
}

// reversibleOf lists sender g's approved debits that were never reversed, for its reversals to pick from.
func (c *crashRun) reversibleOf(g int) []*crashMsg {
	var out []*crashMsg
	for _, m := range c.msgs {
		if m.route == routeDebit && m.code == "00" && !c.reversed[m] && m.sender == g {
			out = append(out, m)
		}
	}
	return out
}

// openLiensOf lists sender g's liens placed and neither completed nor released, for its lien debits to pick from.
func (c *crashRun) openLiensOf(g int) []*crashMsg {
	var out []*crashMsg
	for _, m := range c.msgs {
		if m.route == routeLienPlace && m.code == "00" && !c.ended[m] && m.sender == g {
			out = append(out, m)
		}
	}
	return out
}

// send is one sender: it sends new messages one after another until one gets no answer (walletgate was killed).
// Each debit and each lien is reversed or completed by the sender that sent it, one message at a time, so the
// model knows what each one acts on.
func (c *crashRun) send(ctx context.Context, round, run, g int, rng *rand.Rand, reversible, open []*crashMsg) []*crashMsg {
	var out []*crashMsg
	for n := 0; ; n++ {
		m := &crashMsg{sender: g, requestID: fmt.Sprintf("c%d-%d-%d", round, g, n), ref: fmt.Sprintf("CR%04dS%dN%05d", round, g, n)}
		pick := rng.IntN(20)
		switch {
		case len(reversible) > 0 && pick < 4:
			i := rng.IntN(len(reversible))
			orig := reversible[i]
			reversible = append(reversible[:i], reversible[i+1:]...)
			m.route, m.orig, m.wallet = routeReversal, orig, orig.wallet
			if orig.amount > 1 && rng.IntN(2) == 0 {
				m.amount = 1 + rng.Int64N(orig.amount-1) // partial: principal only
			}
		case len(open) > 0 && pick < 8:
			i := rng.IntN(len(open))
			orig := open[i]
			open = append(open[:i], open[i+1:]...)
			m.route, m.orig, m.wallet = routeLienDebit, orig, orig.wallet
			switch rng.IntN(4) {
			case 0:
				m.amount = orig.amount // the hold's principal
			case 1:
				if orig.amount > 1 {
					m.amount = 1 + rng.Int64N(orig.amount-1) // smaller: the rest is released
				} else {
					m.amount = orig.amount
				}
			case 2:
				m.amount = orig.amount + 1 + rng.Int64N(200) // larger: 51 unless available balance covers it
			default:
				m.amount = 0 // release
			}
		case pick < 11:
			m.route, m.wallet = routeLienPlace, rng.IntN(len(c.wallets))
			m.amount, m.fee = 1+rng.Int64N(500), rng.Int64N(4)
		case pick < 13:
			m.route, m.wallet = routeEnquiry, rng.IntN(len(c.wallets))
		default:
			m.route, m.wallet = routeDebit, rng.IntN(len(c.wallets))
			m.amount, m.fee = 1+rng.Int64N(500), rng.Int64N(4)
		}
		m.body = c.body(m)
		out = append(out, m)
		status, body, err := tryCall(ctx, c.hc, http.MethodPost, "http://"+c.switchAddr+"/"+m.route, "", m.body)
		if err != nil || status != http.StatusOK {
			return out // unanswered: settled after the restart
		}
		m.answer, m.run = body, run
		code := codeOf(body)
		switch {
		case m.route == routeDebit && code == "00" && rng.IntN(3) == 0:
			reversible = append(reversible, m) // reversed later in this round, maybe
		case m.route == routeLienPlace && code == "00" && rng.IntN(2) == 0:
			open = append(open, m) // completed later in this round, maybe
		case m.route == routeLienDebit && code != "00":
			open = append(open, m.orig) // a larger amount declined: the lien is still held
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
func (c *crashRun) body(m *crashMsg) []byte {
	fields := make(map[string]any, len(c.seed)+2)
	for k, v := range c.seed {
		fields[k] = v
	}
	fields["requestId"], fields["transactionReference"], fields["walletId"] = m.requestID, m.ref, c.wallets[m.wallet]
	fields["amount"] = m.amount
	if m.route == routeEnquiry {
		delete(fields, "amount") // an enquiry names no amount; its answer's amount is the available balance
	}
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
	signed, err := server.SetMAC(raw, c.keys.Sign(mac.Current, mac.Values(crashRoutes[m.route].mac, r.Text)...))
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
	// ledger already holds every answered message with the code it was answered. Enquiries are not transactions,
	// and their answers may precede their records (see checkEnquiries).
	for _, m := range c.msgs {
		if m.answer == nil || m.onDisk || m.route == routeEnquiry {
			continue
		}
		status, body := call(t, c.hc, http.MethodGet, "http://"+c.opsAddr+"/admin/transactions/"+m.ref, c.token, nil)
		var tx struct {
			Kind         string `json:"kind"`
			RequestID    string `json:"requestId"`
			ResponseCode string `json:"responseCode"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &tx) != nil || tx.Kind != crashRoutes[m.route].kind ||
			tx.RequestID != m.requestID || tx.ResponseCode != codeOf(m.answer) {
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
		m.answer, m.settledAfterKill, m.run = body, true, c.kills
		c.settled++
	}
	for _, m := range c.msgs {
		c.verify(m)
	}

	// The model: funding minus exactly the approved movements, and the holds of the liens still open, per wallet.
	want, held := c.model()

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
	var enquiries, others []*crashMsg
	for _, m := range replay {
		if m.route == routeEnquiry {
			enquiries = append(enquiries, m)
		} else {
			others = append(others, m)
		}
	}
	c.checkEnquiries(round, enquiries, want, held)
	c.replayAll(others)

	for i, w := range c.wallets {
		got := c.wallet(w)
		if got.LedgerBalance != want[i] {
			t.Errorf("after restart %d: wallet %s balance %d, want funding %d - approved movements = %d", round, w,
				got.LedgerBalance, c.funding[i], want[i])
		}
		if got.HeldAmount != held[i] {
			t.Errorf("after restart %d: wallet %s heldAmount %d, want the holds of its open liens = %d", round, w,
				got.HeldAmount, held[i])
		}
		if got.AvailableBalance != want[i]-held[i] {
			t.Errorf("after restart %d: wallet %s availableBalance %d, want %d", round, w, got.AvailableBalance, want[i]-held[i])
		}
	}
	if len(c.msgs) <= 3000 || round == rounds-1 {
		c.statements(round)
	}
}

// model returns each wallet's ledger balance and held amount as the answers say they must be: funding − approved
// debits (amount + fee) + what money-moving reversals gave back − completed lien debits (amount + the fee held at
// placing); held = the holds (amount + fee) of the liens placed and neither completed nor released.
func (c *crashRun) model() (balance, held []int64) {
	balance, held = append([]int64(nil), c.funding...), make([]int64, len(c.wallets))
	for _, m := range c.msgs {
		if m.code != "00" {
			continue
		}
		switch m.route {
		case routeDebit:
			balance[m.wallet] -= m.amount + m.fee
		case routeReversal:
			switch {
			case m.orig.code != "00":
			case m.amount == 0:
				balance[m.wallet] += m.orig.amount + m.orig.fee
			default:
				balance[m.wallet] += m.amount
			}
		case routeLienPlace:
			if !c.ended[m] {
				held[m.wallet] += m.amount + m.fee
			}
		case routeLienDebit:
			if m.amount > 0 {
				balance[m.wallet] -= m.amount + m.orig.fee
			}
		}
	}
	return balance, held
}

// crashWallet is the part of GET /admin/wallets/{id} the crash test checks.
type crashWallet struct {
	LedgerBalance    int64 `json:"ledgerBalance"`
	AvailableBalance int64 `json:"availableBalance"`
	HeldAmount       int64 `json:"heldAmount"`
}

func (c *crashRun) wallet(id string) crashWallet {
	t := c.t
	t.Helper()
	status, body := call(t, c.hc, http.MethodGet, "http://"+c.opsAddr+"/admin/wallets/"+id, c.token, nil)
	var w crashWallet
	if status != http.StatusOK || json.Unmarshal(body, &w) != nil {
		t.Fatalf("GET /admin/wallets/%s: HTTP %d %s", id, status, body)
	}
	return w
}

// verify checks an answer's signature, echo and code, and records the code.
func (c *crashRun) verify(m *crashMsg) {
	t := c.t
	t.Helper()
	var a switchAnswer
	var err error
	if m.route == routeEnquiry {
		a, err = c.verifyEnquiry(m, m.answer)
	} else {
		a, err = verifyAnswer(m.answer, c.keys, mac.Current, m.requestID, m.ref, m.amount)
	}
	if err != nil {
		t.Error(err)
		return
	}
	if m.code != "" && a.ResponseCode != m.code {
		t.Errorf("%s %s: code %s, earlier %s", m.route, m.requestID, a.ResponseCode, m.code)
	}
	m.code = a.ResponseCode
	switch {
	case (m.route == routeDebit || m.route == routeLienPlace) && m.code != "00" && m.code != "51":
		t.Errorf("%s %s answered %s, want 00 or 51: %s", m.route, m.requestID, m.code, m.answer)
	case m.route == routeReversal && m.code != "00":
		t.Errorf("reversal %s of %s (answered %s) answered %s, want 00: %s", m.requestID, m.orig.requestID, m.orig.code, m.code, m.answer)
	case m.route == routeLienDebit && m.code != "00" && (m.code != "51" || m.amount <= m.orig.amount):
		t.Errorf("lien debit %s of %d on lien %s of %d answered %s, want 00 (51 only above the hold): %s", m.requestID,
			m.amount, m.orig.requestID, m.orig.amount, m.code, m.answer)
	case m.route == routeEnquiry && m.code != "00":
		t.Errorf("enquiry %s answered %s, want 00: %s", m.requestID, m.code, m.answer)
	}
	switch {
	case m.route == routeReversal:
		c.reversed[m.orig] = true
	case m.route == routeLienDebit && m.code == "00":
		c.ended[m.orig] = true
	}
}

// enquiryAnswer is an enquiry's answer: the switch answer plus the balances (CONTRACT 1.8).
type enquiryAnswer struct {
	switchAnswer
	LedgerBalance *int64 `json:"ledgerBalance"`
	CurrencyCode  string `json:"currencyCode"`
}

// verifyEnquiry checks an enquiry answer's signature and echo; its amount is the available balance, not echoed.
func (c *crashRun) verifyEnquiry(m *crashMsg, body []byte) (switchAnswer, error) {
	var a enquiryAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return a.switchAnswer, fmt.Errorf("enquiry %s: answer %s: %v", m.requestID, body, err)
	}
	if a.RequestID != m.requestID || a.TransactionReference != m.ref {
		return a.switchAnswer, fmt.Errorf("enquiry answer %s does not echo requestId %q, transactionReference %q", body, m.requestID, m.ref)
	}
	if want := c.keys.SignResponse(mac.Current, a.TransactionReference, a.RequestID, a.ResponseCode); a.MAC != want {
		return a.switchAnswer, fmt.Errorf("enquiry answer %s: mac is not the response MAC", body)
	}
	if a.ResponseCode == "00" && (a.LedgerBalance == nil || a.CurrencyCode != "566") {
		return a.switchAnswer, fmt.Errorf("enquiry answer %s: no ledgerBalance or currencyCode", body)
	}
	return a.switchAnswer, nil
}

// checkEnquiries holds enquiries to what README "Enquiries" promises across a crash, no more: an answered enquiry
// whose record was durable replays byte for byte forever; one whose record was not may be forgotten by the crash,
// and a repeat is then decided afresh, against the balances of the moment (want and held, nothing moves while
// this runs). A replay that returns the stored answer while a fresh decision would differ proves the record is on
// disk; from then on forgetting it is a failure. Within one run of the process every repeat is byte-identical.
func (c *crashRun) checkEnquiries(round int, msgs []*crashMsg, want, held []int64) {
	t := c.t
	t.Helper()
	for _, m := range msgs {
		body := c.replayOne(round, m)
		if body == nil {
			continue
		}
		var old, now enquiryAnswer
		_ = json.Unmarshal(m.answer, &old)
		fresh := func(a enquiryAnswer) bool {
			return a.ResponseCode == "00" && a.Amount == want[m.wallet]-held[m.wallet] && a.LedgerBalance != nil &&
				*a.LedgerBalance == want[m.wallet]
		}
		c.enquiriesChecked++
		if bytes.Equal(body, m.answer) {
			if !fresh(old) {
				m.enquiryDurable = true
			}
		} else {
			if _, err := c.verifyEnquiry(m, body); err != nil {
				t.Errorf("after restart %d: %v", round, err)
				continue
			}
			_ = json.Unmarshal(body, &now)
			switch {
			case m.run == c.kills:
				t.Errorf("after restart %d: enquiry %s answered in this run differs:\n got %s\nwant %s", round, m.requestID, body, m.answer)
			case m.enquiryDurable:
				t.Errorf("after restart %d: enquiry %s was durable and is forgotten:\n got %s\nwant %s", round, m.requestID, body, m.answer)
			case !fresh(now):
				t.Errorf("after restart %d: enquiry %s neither replayed nor decided afresh (balance %d, held %d):\n got %s\nwant %s",
					round, m.requestID, want[m.wallet], held[m.wallet], body, m.answer)
			}
			m.answer, m.run = body, c.kills
			m.forgotten++
			c.enquiriesForgotten++
		}
		// The same process remembers it, durable or not.
		if again := c.replayOne(round, m); again != nil && !bytes.Equal(again, m.answer) {
			t.Errorf("after restart %d: enquiry %s repeated in the same run differs:\n got %s\nwant %s", round, m.requestID, again, m.answer)
		}
	}
}

// replayOne re-sends m and returns the HTTP 200 body, or nil after reporting the failure.
func (c *crashRun) replayOne(round int, m *crashMsg) []byte {
	status, body, err := tryCall(context.Background(), c.hc, http.MethodPost, "http://"+c.switchAddr+"/"+m.route, "", m.body)
	if err != nil || status != http.StatusOK {
		c.t.Errorf("after restart %d: %s %s re-sent: HTTP %d %v %s", round, m.route, m.requestID, status, err, body)
		return nil
	}
	return body
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

// statementLines returns the statement lines message m must have left ("kind reference"), from its final code: an
// approved debit, a reversal that moved money and a completed lien debit one each; an approved place-lien its memo;
// a lien debit of 0 that released a lien the release memo under the place-lien's reference.
func statementLines(m *crashMsg) []string {
	if m.code != "00" {
		return nil
	}
	switch m.route {
	case routeDebit:
		return []string{"debit " + m.ref}
	case routeReversal:
		if m.orig.code == "00" {
			return []string{"reversal " + m.ref}
		}
	case routeLienPlace:
		return []string{"lien " + m.ref}
	case routeLienDebit:
		if m.amount == 0 {
			return []string{"lien_release " + m.orig.ref}
		}
		return []string{"lien_debit " + m.ref}
	}
	return nil
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
		for _, l := range statementLines(m) {
			switch n := lines[l]; {
			case n == 0:
				lost++
				t.Errorf("after restart %d: %s %s (code %s) has no statement line %q", round, m.route, m.requestID, m.code, l)
			case n > 1:
				doubled++
				t.Errorf("after restart %d: %s %s (code %s) has %d statement lines %q", round, m.route, m.requestID, m.code, n, l)
			}
			delete(lines, l)
		}
	}
	for _, w := range c.wallets {
		delete(lines, "credit fund-"+w)
	}
	for l, n := range lines {
		doubled++
		t.Errorf("after restart %d: statement line %q (%d) belongs to no message that moved money or held it", round, l, n)
	}
	c.lost, c.doubled = c.lost+lost, c.doubled+doubled
	if lost != 0 || doubled != 0 {
		t.Errorf("after restart %d: lost = %d, doubled = %d", round, lost, doubled)
	}
}

func (c *crashRun) report(seed uint64) {
	count := map[string]int{}
	for _, m := range c.msgs {
		if m.enquiryDurable {
			count["enquiries durable"]++
		}
		switch {
		case m.route == routeReversal && m.code == "00" && m.orig.code == "00":
			count["reversals that moved money"]++
		case m.route == routeReversal:
			count["reversals that moved nothing"]++
		case m.route == routeLienDebit && m.code == "00" && m.amount == 0:
			count["lien releases"]++
		case m.route == routeLienDebit && m.code == "00":
			count["lien completions"]++
		default:
			count[m.route+" "+m.code]++
		}
	}
	c.t.Logf("crash test: seed %d, kills %d, requests %d (%d unanswered at a kill, settled on re-send), debits approved %d, "+
		"declined %d, reversals that moved money %d, liens placed %d, declined %d, completed %d, released %d, "+
		"completions declined (51) %d, enquiries %d (replays checked %d, %d proven durable, forgotten by a crash %d), replays checked %d, "+
		"partner pushes %s, outbox drained %d events in %v after the last restart, lost %d, doubled %d",
		seed, c.kills, c.requests, c.settled, count["debit 00"], count["debit 51"], count["reversals that moved money"],
		count["lien/place 00"], count["lien/place 51"], count["lien completions"], count["lien releases"],
		count["lien/debit 51"], count["enquiry 00"], c.enquiriesChecked, count["enquiries durable"], c.enquiriesForgotten, c.checkedReplays,
		c.partners.summary(), c.backlog, c.drained.Round(time.Millisecond), c.lost, c.doubled)
}
