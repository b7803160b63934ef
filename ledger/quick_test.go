package ledger

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// The property test drives the ledger with a random sequence of operations and checks every answer and every
// balance against a small in-memory model of CONTRACT 1.6, 1.7 and 1.9. A failure prints its seed; replay it with
//
//	go test ./ledger -run TestProperty -ledger.seed=N [-ledger.ops=M]
var (
	seedFlag = flag.Uint64("ledger.seed", 0, "seed of TestProperty (0: taken from the clock)")
	opsFlag  = flag.Int("ledger.ops", 2000, "number of operations of TestProperty")
)

type mWallet struct {
	cur    string
	status Status
	limit  int64
	bal    int64
	held   int64 // held by liens
	day    string
	used   int64
}

type mDebit struct {
	wallet, cur string
	amount, fee int64
	decline     error
	state       string
	reversed    int64
	feeBack     bool
	day         string
	reversals   []string
	requestID   string
}

type mReversal struct {
	wallet, cur, orig string
	amount            int64
	decline           error
}

type mRequest struct {
	fp      [32]byte
	resp    string
	decline error
}

// model is the specification: plain maps, no storage, no batching.
type model struct {
	now      func() time.Time
	wallets  map[string]*mWallet
	system   map[string]int64
	debits   map[string]*mDebit
	revs     map[string]*mReversal
	requests map[string]mRequest
	credits  map[string]Credit
	liens    map[string]*mLien      // quick_lien_test.go
	lienDebs map[string]*mLienDebit // quick_lien_test.go
	lienTTL  time.Duration
}

func newModel(now func() time.Time) *model {
	return &model{now: now, wallets: map[string]*mWallet{}, system: map[string]int64{}, debits: map[string]*mDebit{},
		revs: map[string]*mReversal{}, requests: map[string]mRequest{}, credits: map[string]Credit{},
		liens: map[string]*mLien{}, lienDebs: map[string]*mLienDebit{}, lienTTL: DefaultLienTTL}
}

func (m *model) today() string { return m.now().UTC().Format("2006-01-02") }

func (m *model) usedToday(w *mWallet) int64 {
	if w.day == m.today() {
		return w.used
	}
	return 0
}

func (m *model) createWallet(n NewWallet) error {
	if m.wallets[n.ID] != nil {
		return ErrWalletExists
	}
	m.wallets[n.ID] = &mWallet{cur: n.Currency, status: StatusActive, limit: n.DailyDebitLimit}
	return nil
}

func (m *model) setStatus(id string, s Status) error {
	w := m.wallets[id]
	switch {
	case w == nil:
		return ErrWalletNotFound
	case w.status == StatusClosed && s != StatusClosed:
		return ErrWalletClosed
	}
	w.status = s
	return nil
}

// credit returns the wallet's balance after the call.
func (m *model) credit(c Credit) (int64, error) {
	w := m.wallets[c.WalletID]
	if prev, ok := m.credits[c.Reference]; ok {
		if prev != c {
			return 0, ErrCreditConflict
		}
		return w.bal, nil
	}
	switch {
	case w == nil:
		return 0, ErrWalletNotFound
	case w.status == StatusClosed:
		return 0, ErrWalletClosed
	}
	w.bal += c.Amount
	m.system[FundingAccount+":"+w.cur] -= c.Amount
	m.credits[c.Reference] = c
	return w.bal, nil
}

// answer is what the model expects back from Debit or Reverse.
type answer struct {
	resp     string
	decline  error
	replayed bool
	err      error
}

func (m *model) replay(env Envelope) (answer, bool) {
	r, ok := m.requests[env.RequestID]
	switch {
	case !ok:
		return answer{}, false
	case r.fp != env.Fingerprint:
		return answer{err: ErrRequestConflict}, true
	}
	return answer{resp: r.resp, decline: r.decline, replayed: true}, true
}

func (m *model) remember(env Envelope, decline error) answer {
	resp := want(env.RequestID, decline)
	m.requests[env.RequestID] = mRequest{fp: env.Fingerprint, resp: resp, decline: decline}
	return answer{resp: resp, decline: decline}
}

func (m *model) debit(d DebitRequest) answer {
	if a, ok := m.replay(d.Envelope); ok {
		return a
	}
	prev := m.debits[d.Reference]
	var decline error
	switch {
	case prev != nil && prev.state != StateTombstone:
		switch {
		case prev.wallet != d.WalletID || prev.amount != d.Amount || prev.fee != d.Fee || prev.cur != d.Currency:
			decline = ErrReferenceConflict
		case prev.state == StateReversed:
			decline = ErrAlreadyReversed
		default:
			decline = prev.decline
		}
		return m.remember(d.Envelope, decline)
	case prev != nil: // its reversal came first
		decline = ErrAlreadyReversed
	default:
		w := m.wallets[d.WalletID]
		switch {
		case w == nil:
			decline = ErrWalletNotFound
		case w.status != StatusActive:
			decline = ErrWalletNotActive
		case w.cur != d.Currency:
			decline = ErrCurrencyMismatch
		case w.bal-w.held < d.Amount+d.Fee:
			decline = ErrInsufficientFunds
		case w.limit > 0 && m.usedToday(w)+d.Amount > w.limit:
			decline = ErrLimitExceeded
		}
	}
	rec := &mDebit{wallet: d.WalletID, cur: d.Currency, amount: d.Amount, fee: d.Fee, decline: decline,
		state: StateDeclined, requestID: d.RequestID}
	if decline == nil {
		w := m.wallets[d.WalletID]
		if w.day != m.today() {
			w.day, w.used = m.today(), 0
		}
		w.used += d.Amount
		w.bal -= d.Amount + d.Fee
		m.system[SettlementAccount+":"+w.cur] += d.Amount
		m.system[FeeIncomeAccount+":"+w.cur] += d.Fee
		rec.state, rec.day = StateApproved, w.day
	}
	m.debits[d.Reference] = rec
	return m.remember(d.Envelope, decline)
}

func (m *model) reverse(r ReversalRequest) answer {
	if a, ok := m.replay(r.Envelope); ok {
		return a
	}
	if prev := m.revs[r.Reference]; prev != nil {
		if prev.wallet != r.WalletID || prev.amount != r.Amount || prev.cur != r.Currency || prev.orig != r.Original {
			return m.remember(r.Envelope, ErrReferenceConflict)
		}
		return m.remember(r.Envelope, prev.decline)
	}
	decline := m.applyReversal(r)
	m.revs[r.Reference] = &mReversal{wallet: r.WalletID, cur: r.Currency, orig: r.Original, amount: r.Amount, decline: decline}
	return m.remember(r.Envelope, decline)
}

func (m *model) applyReversal(r ReversalRequest) error {
	orig := m.debits[r.Original]
	switch {
	case orig == nil:
		m.debits[r.Original] = &mDebit{state: StateTombstone}
		return ErrOriginalNotFound
	case orig.state == StateTombstone:
		return ErrOriginalNotFound
	case orig.decline != nil || orig.state == StateReversed:
		return nil
	case orig.wallet != r.WalletID || orig.cur != r.Currency:
		return ErrOriginalMismatch
	}
	remaining := orig.amount - orig.reversed
	var principal, fee int64
	full := false
	switch {
	case r.Amount == 0 || r.Amount == remaining:
		principal, fee, full = remaining, orig.fee, true
	case r.Amount < remaining:
		principal = r.Amount
	default:
		return ErrExceedsRemaining
	}
	w := m.wallets[orig.wallet]
	if orig.day == w.day {
		w.used = max(0, w.used-principal)
	}
	w.bal += principal + fee
	m.system[SettlementAccount+":"+w.cur] -= principal
	m.system[FeeIncomeAccount+":"+w.cur] -= fee
	orig.reversed += principal
	orig.reversals = append(orig.reversals, r.Reference)
	orig.state = StatePartiallyReversed
	if full {
		orig.state, orig.feeBack = StateReversed, true
	}
	return nil
}

// propertyRun is one run of the property test.
type propertyRun struct {
	t       *testing.T
	l       *testLedger
	m       *model
	rng     *rand.Rand
	clock   *fakeClock
	seed    uint64
	step    int
	desc    string
	nextID  int
	debits  []DebitRequest    // every debit sent, for re-sends
	revs    []ReversalRequest // every reversal sent
	credits []Credit
	unknown []string // references only a reversal named (tombstones), for late debits

	places      []LienPlaceRequest // every place-lien sent (quick_lien_test.go)
	lienDebits  []LienDebitRequest // every lien debit sent
	unknownLien []string           // lien references only a release named
}

var propertyWallets = []string{"w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"}

// walletCurrency: most wallets are NGN, some EUR.
func walletCurrency(id string) string {
	if id == "w3" || id == "w6" {
		return "978"
	}
	return "566"
}

func (p *propertyRun) fail(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("seed %d, step %d (%s): %s", p.seed, p.step, p.desc, fmt.Sprintf(format, args...))
}

func (p *propertyRun) fresh(prefix string) string {
	p.nextID++
	return fmt.Sprintf("%s%d", prefix, p.nextID)
}

func (p *propertyRun) pick(ids []string) string { return ids[p.rng.IntN(len(ids))] }

// walletID is mostly a wallet that exists, sometimes one that does not.
func (p *propertyRun) walletID() string {
	if p.rng.IntN(20) == 0 {
		return "nope"
	}
	return p.pick(propertyWallets)
}

func (p *propertyRun) currencyFor(wallet string) string {
	if p.rng.IntN(15) == 0 {
		if walletCurrency(wallet) == "566" {
			return "978"
		}
		return "566"
	}
	return walletCurrency(wallet)
}

func (p *propertyRun) amount(max int64) int64 { return 1 + p.rng.Int64N(max) }

func (p *propertyRun) fee() int64 {
	if p.rng.IntN(2) == 0 {
		return 0
	}
	return p.rng.Int64N(60)
}

func (p *propertyRun) check(a Answer, err error, w answer) {
	p.t.Helper()
	switch {
	case w.err != nil:
		if !errors.Is(err, w.err) {
			p.fail("err = %v, model says %v", err, w.err)
		}
		return
	case err != nil:
		p.fail("err = %v, model says %q", err, w.resp)
	}
	if string(a.Response) != w.resp || a.Outcome.Decline != w.decline || a.Replayed != w.replayed {
		p.fail("answer %q (decline %v, replayed %v), model says %q (decline %v, replayed %v)", a.Response,
			a.Outcome.Decline, a.Replayed, w.resp, w.decline, w.replayed)
	}
}

func (p *propertyRun) opCreateWallet() {
	id := p.pick(propertyWallets)
	limit := int64(0)
	if p.rng.IntN(2) == 0 {
		limit = 500 + p.rng.Int64N(4_000)
	}
	n := NewWallet{ID: id, Currency: walletCurrency(id), Name: "Wallet " + id, DailyDebitLimit: limit}
	p.desc = fmt.Sprintf("CreateWallet %+v", n)
	_, err := p.l.CreateWallet(bg, n)
	if w := p.m.createWallet(n); !errors.Is(err, w) {
		p.fail("err = %v, model says %v", err, w)
	}
}

func (p *propertyRun) opSetStatus() {
	id := p.walletID()
	s := StatusActive
	switch r := p.rng.IntN(100); {
	case r < 3:
		s = StatusClosed
	case r < 25:
		s = StatusFrozen
	}
	p.desc = fmt.Sprintf("SetStatus %s %s", id, s)
	w, err := p.l.SetStatus(bg, id, s)
	if werr := p.m.setStatus(id, s); !errors.Is(err, werr) {
		p.fail("err = %v, model says %v", err, werr)
	}
	if err == nil && w.Status != s {
		p.fail("status %s", w.Status)
	}
}

func (p *propertyRun) opCredit() {
	var c Credit
	switch r := p.rng.IntN(10); {
	case r < 2 && len(p.credits) > 0: // the same credit again
		c = p.credits[p.rng.IntN(len(p.credits))]
	case r < 3 && len(p.credits) > 0: // its reference with another body
		c = p.credits[p.rng.IntN(len(p.credits))]
		switch p.rng.IntN(3) {
		case 0:
			c.Amount++
		case 1:
			c.WalletID = p.walletID()
		default:
			c.Narration += "!"
		}
	default:
		c = Credit{WalletID: p.walletID(), Amount: p.amount(3_000), Reference: p.fresh("c")}
		if p.rng.IntN(3) == 0 {
			c.Narration = "top-up"
		}
	}
	p.desc = fmt.Sprintf("Credit %+v", c)
	w, err := p.l.Credit(bg, c)
	bal, werr := p.m.credit(c)
	if !errors.Is(err, werr) || (werr == nil && err != nil) {
		p.fail("err = %v, model says %v", err, werr)
	}
	if werr == nil {
		if w.Balance != bal {
			p.fail("returned balance %d, model says %d", w.Balance, bal)
		}
		p.credits = append(p.credits, c)
	}
}

func (p *propertyRun) opDebit() {
	var d DebitRequest
	switch r := p.rng.IntN(100); {
	case r < 10 && len(p.debits) > 0: // the switch re-sends the same message
		d = p.debits[p.rng.IntN(len(p.debits))]
	case r < 14 && len(p.debits) > 0: // a requestId reused for another message
		old := p.debits[p.rng.IntN(len(p.debits))]
		d = dreq(old.RequestID, old.Reference, old.WalletID, old.Amount+1, old.Fee, withCurrency(old.Currency))
	case r < 30 && len(p.debits) > 0: // the same reference under a new requestId, same or other details
		old := p.debits[p.rng.IntN(len(p.debits))]
		d = dreq(p.fresh("q"), old.Reference, old.WalletID, old.Amount, old.Fee, withCurrency(old.Currency))
		switch p.rng.IntN(8) {
		case 0:
			d = dreq(d.RequestID, d.Reference, p.walletID(), d.Amount, d.Fee, withCurrency(d.Currency))
		case 1:
			d = dreq(d.RequestID, d.Reference, d.WalletID, d.Amount, d.Fee+1, withCurrency(d.Currency))
		case 2:
			d = dreq(d.RequestID, d.Reference, d.WalletID, d.Amount+1, d.Fee, withCurrency(d.Currency))
		}
	case r < 35 && len(p.unknown) > 0: // the debit whose reversal came first
		w := p.walletID()
		d = dreq(p.fresh("q"), p.pick(p.unknown), w, p.amount(500), p.fee(), withCurrency(p.currencyFor(w)))
	default:
		w := p.walletID()
		d = dreq(p.fresh("q"), p.fresh("t"), w, p.amount(1_500), p.fee(), withCurrency(p.currencyFor(w)))
	}
	p.desc = fmt.Sprintf("Debit %s ref %s wallet %s %d+%d %s", d.RequestID, d.Reference, d.WalletID, d.Amount, d.Fee, d.Currency)
	a, err := p.l.Debit(bg, d)
	w := p.m.debit(d)
	p.check(a, err, w)
	if w.err == nil {
		p.debits = append(p.debits, d)
	}
}

func (p *propertyRun) opReverse() {
	var r ReversalRequest
	eur := func(c string) func(*ReversalRequest) { return func(r *ReversalRequest) { r.Currency = c } }
	switch x := p.rng.IntN(100); {
	case x < 10 && len(p.revs) > 0:
		r = p.revs[p.rng.IntN(len(p.revs))]
	case x < 13 && len(p.revs) > 0:
		old := p.revs[p.rng.IntN(len(p.revs))]
		r = rreq(old.RequestID, old.Reference, old.Original, old.WalletID, old.Amount+1, eur(old.Currency))
	case x < 28 && len(p.revs) > 0: // the switch re-sends the reversal under a new requestId
		old := p.revs[p.rng.IntN(len(p.revs))]
		amount := old.Amount
		if p.rng.IntN(6) == 0 {
			amount++
		}
		r = rreq(p.fresh("q"), old.Reference, old.Original, old.WalletID, amount, eur(old.Currency))
	case x < 40: // an original nobody has seen (yet)
		w := p.walletID()
		ref := p.fresh("u")
		p.unknown = append(p.unknown, ref)
		r = rreq(p.fresh("q"), p.fresh("v"), ref, w, 0, eur(p.currencyFor(w)))
	case len(p.debits) > 0:
		orig := p.debits[p.rng.IntN(len(p.debits))]
		w, cur := orig.WalletID, orig.Currency
		switch p.rng.IntN(12) {
		case 0: // another wallet
			w = p.walletID()
			cur = p.currencyFor(w)
		case 1: // the right wallet in another currency
			cur = map[string]string{"566": "978", "978": "566"}[cur]
		}
		var amount int64
		switch y := p.rng.IntN(10); {
		case y < 4:
			amount = 0
		case y < 5:
			if d := p.m.debits[orig.Reference]; d != nil {
				amount = d.amount - d.reversed
			}
		default:
			amount = p.amount(orig.Amount + 50)
		}
		r = rreq(p.fresh("q"), p.fresh("v"), orig.Reference, w, amount, eur(cur))
	default:
		return
	}
	p.desc = fmt.Sprintf("Reverse %s ref %s of %s wallet %s amount %d %s", r.RequestID, r.Reference, r.Original, r.WalletID,
		r.Amount, r.Currency)
	a, err := p.l.Reverse(bg, r)
	w := p.m.reverse(r)
	p.check(a, err, w)
	if w.err == nil {
		p.revs = append(p.revs, r)
	}
}

func (p *propertyRun) opReplay() {
	var env Envelope
	switch x := p.rng.IntN(4); {
	case x == 0 && len(p.revs) > 0:
		env = p.revs[p.rng.IntN(len(p.revs))].Envelope
	case len(p.debits) > 0:
		env = p.debits[p.rng.IntN(len(p.debits))].Envelope
	default:
		env = Envelope{RequestID: "never"}
	}
	if p.rng.IntN(8) == 0 {
		env.Fingerprint[0] ^= 1
	}
	if p.rng.IntN(16) == 0 {
		env.RequestID = p.fresh("q-unsent")
	}
	p.desc = fmt.Sprintf("Replay %s", env.RequestID)
	a, err := p.l.Replay(bg, env.RequestID, env.Fingerprint)
	w, ok := p.m.replay(env)
	if !ok {
		w.err = ErrNotRecorded
	}
	p.check(a, err, w)
}

func (p *propertyRun) opTransaction() {
	var ref string
	if p.rng.IntN(2) == 0 && len(p.debits) > 0 {
		ref = p.debits[p.rng.IntN(len(p.debits))].Reference
	} else if len(p.unknown) > 0 {
		ref = p.pick(p.unknown)
	} else {
		return
	}
	p.desc = "Transaction " + ref
	p.checkTxn(ref)
}

func (p *propertyRun) checkTxn(ref string) {
	p.t.Helper()
	tx, err := p.l.Transaction(bg, ref)
	d := p.m.debits[ref]
	if d == nil {
		if !errors.Is(err, ErrTransactionNotFound) {
			p.fail("Transaction(%s) err = %v, model has no such debit", ref, err)
		}
		return
	}
	if err != nil {
		p.fail("Transaction(%s): %v", ref, err)
	}
	if tx.Kind != KindDebit || tx.State != d.state || tx.Decline != d.decline || tx.ReversedAmount != d.reversed ||
		tx.FeeReversed != d.feeBack || !slices.Equal(tx.Reversals, d.reversals) {
		p.fail("Transaction(%s) = state %s decline %v reversed %d feeBack %v reversals %v; model %+v", ref, tx.State,
			tx.Decline, tx.ReversedAmount, tx.FeeReversed, tx.Reversals, *d)
	}
	if d.state != StateTombstone && (tx.WalletID != d.wallet || tx.Amount != d.amount || tx.Fee != d.fee || tx.RequestID != d.requestID) {
		p.fail("Transaction(%s) = %+v; model %+v", ref, tx, *d)
	}
}

// checkBooks compares every balance and every wallet's status and usage of its daily limit with the model.
func (p *propertyRun) checkBooks() {
	p.t.Helper()
	b := readBooks(p.t, p.l)
	wantBal := map[string]int64{}
	for account, v := range p.m.system {
		if v != 0 {
			wantBal[account] = v
		}
	}
	for id, w := range p.m.wallets {
		wantBal[walletAccount(id)] = w.bal
	}
	gotBal := map[string]int64{}
	for account, v := range b.Balances {
		if v != 0 || strings.HasPrefix(account, walletAccountPrefix) {
			gotBal[account] = v
		}
	}
	if fmt.Sprint(gotBal) != fmt.Sprint(wantBal) {
		p.fail("balances\n\tledger %v\n\tmodel  %v", gotBal, wantBal)
	}
	for id, w := range p.m.wallets {
		if b.Status[id] != w.status {
			p.fail("wallet %s: status %q, model says %s", id, b.Status[id], w.status)
		}
		if b.DayUsed[id] != w.used {
			p.fail("wallet %s: %d counted against its daily limit, model says %d", id, b.DayUsed[id], w.used)
		}
		if got, err := p.l.Wallet(bg, id); err != nil || got.Held != w.held {
			p.fail("wallet %s: held %d (%v), model says %d", id, got.Held, err, w.held)
		}
	}
}

func TestProperty(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -ledger.seed=%d)", seed, seed)
	clock := newFakeClock(time.Date(2025, 5, 1, 20, 0, 0, 0, time.UTC))
	const lienTTL = 20 * time.Hour // short enough for liens to expire within a run
	l := openTest(t, withOptions(Options{Now: clock.Now, LienTTL: lienTTL, LienSweepInterval: -1}), withNoSync())
	p := &propertyRun{t: t, l: l, m: newModel(clock.Now), rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), clock: clock, seed: seed}
	p.m.lienTTL = lienTTL

	counts := map[string]int{}
	for p.step = 1; p.step <= *opsFlag; p.step++ {
		var name string
		switch x := p.rng.IntN(100); {
		case x < 4 || len(p.m.wallets) < 2:
			name = "create"
			p.opCreateWallet()
		case x < 8:
			name = "status"
			p.opSetStatus()
		case x < 22:
			name = "credit"
			p.opCredit()
		case x < 52:
			name = "debit"
			p.opDebit()
		case x < 70:
			name = "reverse"
			p.opReverse()
		case x < 77:
			name = "place"
			p.opPlaceLien()
		case x < 85:
			name = "liendebit"
			p.opDebitLien()
		case x < 86:
			name = "sweep"
			p.opSweep()
		case x < 88:
			name = "replay"
			p.opReplay()
		case x < 92:
			name = "transaction"
			p.opTransaction()
		default:
			name = "clock"
			d := time.Duration(p.rng.IntN(7*60)) * time.Minute
			p.desc = fmt.Sprintf("clock +%s", d)
			clock.Advance(d)
		}
		counts[name]++
		p.checkBooks()
		if p.step%200 == 0 {
			p.desc = "reopen"
			l.reopen()
		}
	}
	for ref := range p.m.debits {
		p.checkTxn(ref)
	}
	for ref := range p.m.liens {
		p.checkLien(ref)
	}
	rep, err := l.Audit(bg)
	if err != nil || !rep.OK {
		t.Fatalf("seed %d: Audit = %+v, %v", seed, rep, err)
	}
	outcomes := map[string]int{}
	for _, r := range p.m.requests {
		outcomes[outcomeName(r.decline)]++
	}
	states := map[string]int{}
	for _, d := range p.m.debits {
		states[d.state]++
	}
	t.Logf("ops %v", counts)
	t.Logf("answers %v", outcomes)
	lienStates := map[string]int{}
	for _, li := range p.m.liens {
		lienStates[li.state+"/"+li.reason]++
	}
	t.Logf("debits %v; liens %v; %d journal entries; clock at %s", states, lienStates, rep.Entries, clock.Now().Format(time.DateTime))
}
