package ledger

import (
	"errors"
	"fmt"
	"time"
)

// The lien part of the property test's model (CONTRACT 1.9 and README's decisions on liens).

type mLien struct {
	wallet, cur string
	amount, fee int64
	decline     error
	state       string
	expires     time.Time
	reason      string // release reason
	endedBy     string
	debited     int64
	requestID   string
}

type mLienDebit struct {
	wallet, cur, orig string
	amount, fee       int64
	decline           error
}

func (m *model) placeLien(pl LienPlaceRequest) answer {
	if a, ok := m.replay(pl.Envelope); ok {
		return a
	}
	prev := m.liens[pl.Reference]
	var decline error
	switch {
	case prev != nil && prev.state != StateTombstone:
		if prev.wallet != pl.WalletID || prev.amount != pl.Amount || prev.fee != pl.Fee || prev.cur != pl.Currency {
			return m.remember(pl.Envelope, ErrReferenceConflict)
		}
		return m.remember(pl.Envelope, prev.decline)
	case prev != nil: // its release came first
		decline = ErrAlreadyReversed
	default:
		w := m.wallets[pl.WalletID]
		switch {
		case w == nil:
			decline = ErrWalletNotFound
		case w.status != StatusActive:
			decline = ErrWalletNotActive
		case w.cur != pl.Currency:
			decline = ErrCurrencyMismatch
		case w.bal-w.held < pl.Amount+pl.Fee:
			decline = ErrInsufficientFunds
		case w.limit > 0 && m.usedToday(w)+pl.Amount > w.limit:
			decline = ErrLimitExceeded
		}
	}
	rec := &mLien{wallet: pl.WalletID, cur: pl.Currency, amount: pl.Amount, fee: pl.Fee, decline: decline,
		state: StateDeclined, requestID: pl.RequestID}
	if decline == nil {
		m.wallets[pl.WalletID].held += pl.Amount + pl.Fee
		rec.state, rec.expires = StateHeld, m.now().Add(m.lienTTL)
	}
	m.liens[pl.Reference] = rec
	return m.remember(pl.Envelope, decline)
}

func (m *model) debitLien(c LienDebitRequest) answer {
	if a, ok := m.replay(c.Envelope); ok {
		return a
	}
	if prev := m.lienDebs[c.Reference]; prev != nil {
		if prev.wallet != c.WalletID || prev.amount != c.Amount || prev.fee != c.Fee || prev.cur != c.Currency || prev.orig != c.Original {
			return m.remember(c.Envelope, ErrReferenceConflict)
		}
		return m.remember(c.Envelope, prev.decline)
	}
	decline := m.applyLienDebit(c)
	m.lienDebs[c.Reference] = &mLienDebit{wallet: c.WalletID, cur: c.Currency, orig: c.Original, amount: c.Amount,
		fee: c.Fee, decline: decline}
	return m.remember(c.Envelope, decline)
}

func (m *model) releaseLien(li *mLien, reason, by string) {
	m.wallets[li.wallet].held -= li.amount + li.fee
	li.state, li.reason, li.endedBy = StateReleased, reason, by
}

func (m *model) applyLienDebit(c LienDebitRequest) error {
	li := m.liens[c.Original]
	switch {
	case li == nil:
		if c.Amount == 0 {
			m.liens[c.Original] = &mLien{state: StateTombstone}
		}
		return ErrOriginalNotFound
	case li.state == StateTombstone:
		return ErrOriginalNotFound
	case li.state == StateDeclined:
		if c.Amount == 0 {
			return nil
		}
		return ErrOriginalNotFound
	case li.wallet != c.WalletID || li.cur != c.Currency:
		return ErrOriginalMismatch
	case li.state == StateCompleted:
		return nil
	}
	if li.state == StateHeld && !m.now().Before(li.expires) {
		m.releaseLien(li, ReleaseExpired, "")
	}
	if li.state == StateReleased {
		if c.Amount == 0 {
			return nil
		}
		return ErrLienReleased
	}
	if c.Amount == 0 {
		m.releaseLien(li, ReleaseBySwitch, c.Reference)
		return nil
	}
	w := m.wallets[li.wallet]
	if excess := c.Amount - li.amount; excess > 0 {
		switch {
		case w.status != StatusActive:
			return ErrWalletNotActive
		case w.bal-w.held+li.amount+li.fee < c.Amount+li.fee:
			return ErrInsufficientFunds
		case w.limit > 0 && m.usedToday(w)+excess > w.limit:
			return ErrLimitExceeded
		}
	}
	if w.day != m.today() {
		w.day, w.used = m.today(), 0
	}
	w.used += c.Amount
	w.bal -= c.Amount + li.fee
	w.held -= li.amount + li.fee
	m.system[SettlementAccount+":"+w.cur] += c.Amount
	m.system[FeeIncomeAccount+":"+w.cur] += li.fee
	li.state, li.endedBy, li.debited = StateCompleted, c.Reference, c.Amount
	return nil
}

// sweep releases every held lien whose expiry has passed and returns how many.
func (m *model) sweep() int {
	n := 0
	for _, li := range m.liens {
		if li.state == StateHeld && !m.now().Before(li.expires) {
			m.releaseLien(li, ReleaseExpired, "")
			n++
		}
	}
	return n
}

func (p *propertyRun) opPlaceLien() {
	var pl LienPlaceRequest
	cur := func(c string) func(*LienPlaceRequest) { return func(pl *LienPlaceRequest) { pl.Currency = c } }
	switch r := p.rng.IntN(100); {
	case r < 8 && len(p.places) > 0: // the same message again
		pl = p.places[p.rng.IntN(len(p.places))]
	case r < 11 && len(p.places) > 0: // a requestId reused for another message
		old := p.places[p.rng.IntN(len(p.places))]
		pl = lpreq(old.RequestID, old.Reference, old.WalletID, old.Amount+1, old.Fee, cur(old.Currency))
	case r < 20 && len(p.places) > 0: // the same reference under a new requestId, same or other details
		old := p.places[p.rng.IntN(len(p.places))]
		amount := old.Amount
		if p.rng.IntN(4) == 0 {
			amount++
		}
		pl = lpreq(p.fresh("q"), old.Reference, old.WalletID, amount, old.Fee, cur(old.Currency))
	case r < 24 && len(p.unknownLien) > 0: // the place-lien whose release came first
		w := p.walletID()
		pl = lpreq(p.fresh("q"), p.pick(p.unknownLien), w, p.amount(500), p.fee(), cur(p.currencyFor(w)))
	default:
		w := p.walletID()
		pl = lpreq(p.fresh("q"), p.fresh("L"), w, p.amount(1_500), p.fee(), cur(p.currencyFor(w)))
	}
	p.desc = fmt.Sprintf("PlaceLien %s ref %s wallet %s %d+%d %s", pl.RequestID, pl.Reference, pl.WalletID, pl.Amount,
		pl.Fee, pl.Currency)
	a, err := p.l.PlaceLien(bg, pl)
	w := p.m.placeLien(pl)
	p.check(a, err, w)
	if w.err == nil {
		p.places = append(p.places, pl)
	}
}

func (p *propertyRun) opDebitLien() {
	var c LienDebitRequest
	cur := func(cc string) func(*LienDebitRequest) { return func(c *LienDebitRequest) { c.Currency = cc } }
	switch x := p.rng.IntN(100); {
	case x < 10 && len(p.lienDebits) > 0: // the switch re-sends the same message
		c = p.lienDebits[p.rng.IntN(len(p.lienDebits))]
	case x < 13 && len(p.lienDebits) > 0: // a requestId reused for another message
		old := p.lienDebits[p.rng.IntN(len(p.lienDebits))]
		c = ldreq(old.RequestID, old.Reference, old.Original, old.WalletID, old.Amount+1, cur(old.Currency))
	case x < 25 && len(p.lienDebits) > 0: // re-sent under a new requestId, sometimes changed
		old := p.lienDebits[p.rng.IntN(len(p.lienDebits))]
		amount := old.Amount
		if p.rng.IntN(6) == 0 {
			amount++
		}
		c = ldreq(p.fresh("q"), old.Reference, old.Original, old.WalletID, amount, cur(old.Currency))
	case x < 32: // a lien nobody has seen (yet)
		w := p.walletID()
		ref := p.fresh("U")
		amount := int64(0)
		if p.rng.IntN(3) == 0 {
			amount = p.amount(500)
		} else {
			p.unknownLien = append(p.unknownLien, ref)
		}
		c = ldreq(p.fresh("q"), p.fresh("C"), ref, w, amount, cur(p.currencyFor(w)))
	case len(p.places) > 0:
		orig := p.places[p.rng.IntN(len(p.places))]
		if held := p.heldPlaces(); len(held) > 0 && p.rng.IntN(3) > 0 { // mostly liens still waiting
			orig = held[p.rng.IntN(len(held))]
		}
		w, cc := orig.WalletID, orig.Currency
		if p.rng.IntN(12) == 0 {
			w = p.walletID()
			cc = p.currencyFor(w)
		}
		var amount int64
		switch y := p.rng.IntN(10); {
		case y < 2:
			amount = 0
		case y < 5:
			amount = orig.Amount
		default:
			amount = p.amount(orig.Amount + 600)
		}
		c = ldreq(p.fresh("q"), p.fresh("C"), orig.Reference, w, amount, cur(cc))
		if p.rng.IntN(5) == 0 {
			c = ldreq(c.RequestID, c.Reference, c.Original, c.WalletID, c.Amount, cur(c.Currency),
				func(c *LienDebitRequest) { c.Fee = p.fee() })
		}
	default:
		return
	}
	p.desc = fmt.Sprintf("DebitLien %s ref %s of %s wallet %s amount %d fee %d %s", c.RequestID, c.Reference, c.Original,
		c.WalletID, c.Amount, c.Fee, c.Currency)
	a, err := p.l.DebitLien(bg, c)
	w := p.m.debitLien(c)
	p.check(a, err, w)
	if w.err == nil {
		p.lienDebits = append(p.lienDebits, c)
	}
	if p.rng.IntN(4) == 0 {
		p.checkLien(c.Original)
	}
}

// heldPlaces are the place-lien messages whose lien the model holds.
func (p *propertyRun) heldPlaces() []LienPlaceRequest {
	var out []LienPlaceRequest
	seen := map[string]bool{}
	for _, pl := range p.places {
		if li := p.m.liens[pl.Reference]; li != nil && li.state == StateHeld && li.requestID == pl.RequestID && !seen[pl.Reference] {
			seen[pl.Reference] = true
			out = append(out, pl)
		}
	}
	return out
}

func (p *propertyRun) opSweep() {
	p.desc = "ReleaseExpiredLiens"
	n, err := p.l.ReleaseExpiredLiens(bg)
	if want := p.m.sweep(); err != nil || n != want {
		p.fail("released %d (%v), model says %d", n, err, want)
	}
}

func (p *propertyRun) checkLien(ref string) {
	p.t.Helper()
	tx, err := p.l.Transaction(bg, ref)
	li := p.m.liens[ref]
	if li == nil {
		if !errors.Is(err, ErrTransactionNotFound) {
			p.fail("Transaction(%s) err = %v, model has no such lien", ref, err)
		}
		return
	}
	if err != nil {
		p.fail("Transaction(%s): %v", ref, err)
	}
	if tx.Kind != KindLien || tx.State != li.state || tx.Decline != li.decline {
		p.fail("Transaction(%s) = kind %s state %s decline %v; model %+v", ref, tx.Kind, tx.State, tx.Decline, *li)
	}
	if li.state == StateTombstone || li.state == StateDeclined {
		return
	}
	if tx.WalletID != li.wallet || tx.Amount != li.amount || tx.Fee != li.fee || tx.RequestID != li.requestID ||
		tx.Lien == nil || !tx.Lien.ExpiresAt.Equal(li.expires) || tx.Lien.ReleaseReason != li.reason ||
		tx.Lien.EndedBy != li.endedBy || tx.Lien.Debited != li.debited {
		p.fail("Transaction(%s) = %+v lien %+v; model %+v", ref, tx, tx.Lien, *li)
	}
}
