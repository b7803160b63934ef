package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Liens (CONTRACT 1.9). A place-lien holds amount + fee of a wallet's available balance without moving money: the
// wallet's Held grows by that sum and a memo journal entry (no postings) puts the hold on the statement. The lien
// debit that completes it moves the money like a debit, in one balanced entry, and gives the hold back; a lien
// debit of amount 0, or the time to live running out, releases the hold with another memo entry. Held is shared
// with other kinds of holds: lien code only ever adds or subtracts its own amounts.

// Namespaces of liens in the txns bucket: the place-lien under its transactionReference, and each lien debit
// under its own.
const (
	nsLien      byte = 'l'
	nsLienDebit byte = 'c'
)

// Lien states, as shown by the admin look-up. A declined place-lien is StateDeclined; a lien debit is
// StateApproved or StateDeclined.
const (
	StateHeld      = "held"      // the hold is in place, waiting for its lien debit
	StateReleased  = "released"  // the hold was given back without moving money
	StateCompleted = "completed" // a lien debit moved the money and gave the hold back
)

// Kinds of lien transactions and journal entries.
const (
	KindLien        = "lien"         // place-lien; its journal entry is a memo without postings
	KindLienDebit   = "lien_debit"   // completion; its journal entry moves the money
	KindLienRelease = "lien_release" // journal memo of a release
)

// Reasons a lien was released.
const (
	ReleaseBySwitch = "switch"  // a lien debit of amount 0
	ReleaseExpired  = "expired" // not completed within its time to live
)

// DefaultLienTTL is Options.LienTTL when unset: seven days (CONTRACT 1.9).
const DefaultLienTTL = 7 * 24 * time.Hour

// defaultLienSweepInterval is Options.LienSweepInterval when unset.
const defaultLienSweepInterval = time.Minute

// maxSweep bounds the liens one writer operation releases, so a backlog never makes one batch huge.
const maxSweep = 256

// bucketLienExpiry indexes the liens still held by expiry: expiry (unix nanoseconds, 8 bytes big endian) followed
// by the lien's transactionReference -> empty. A lien leaves the index when it is completed or released.
var bucketLienExpiry = []byte("lienexp")

// lienState is the lien part of a place-lien's txnRecord.
type lienState struct {
	ExpiresAt     int64  `json:"expiresAt"`               // unix nanoseconds
	EndedAt       int64  `json:"endedAt,omitempty"`       // completion or release, unix nanoseconds
	ReleaseReason string `json:"releaseReason,omitempty"` // ReleaseBySwitch or ReleaseExpired
	EndedBy       string `json:"endedBy,omitempty"`       // the lien debit that completed or released it
	Debited       int64  `json:"debited,omitempty"`       // principal debited by the completion
	EndEntry      uint64 `json:"endEntry,omitempty"`      // journal entry of the completion or release
}

// LienInfo is the lien part of a Transaction of kind KindLien.
type LienInfo struct {
	ExpiresAt     time.Time
	EndedAt       time.Time // zero while held
	ReleaseReason string    // ReleaseBySwitch or ReleaseExpired when released
	EndedBy       string    // transactionReference of the lien debit that completed or released it
	Debited       int64     // principal debited by the completion
	EndEntry      uint64    // journal entry of the completion or the release
}

func (s *lienState) info() *LienInfo {
	if s == nil {
		return nil
	}
	out := &LienInfo{ExpiresAt: time.Unix(0, s.ExpiresAt).UTC(), ReleaseReason: s.ReleaseReason, EndedBy: s.EndedBy,
		Debited: s.Debited, EndEntry: s.EndEntry}
	if s.EndedAt != 0 {
		out.EndedAt = time.Unix(0, s.EndedAt).UTC()
	}
	return out
}

// LienPlaceRequest holds Amount plus Fee of a wallet (CONTRACT 1.9).
type LienPlaceRequest struct {
	Envelope
	WalletID  string
	Reference string // transactionReference: the lien's name
	Currency  string
	Amount    int64 // principal, minor units, > 0
	Fee       int64 // minor units, >= 0; held with the principal and charged by the completion
	Details   Details
}

// LienDebitRequest completes or releases a lien (CONTRACT 1.9).
type LienDebitRequest struct {
	Envelope
	WalletID  string
	Reference string // the lien debit's own transactionReference
	Original  string // originalTransactionReference: the lien
	Currency  string
	Amount    int64 // principal to debit, >= 0; 0 releases the lien
	Fee       int64 // part of the fingerprint and of the reference check; the fee charged is the lien's
	Details   Details
}

// PlaceLien decides a place-lien in the writer; errors as for Debit.
func (l *Ledger) PlaceLien(ctx context.Context, p LienPlaceRequest) (Answer, error) {
	if err := validateCharge(p.Envelope, p.Amount, p.Fee); err != nil {
		return Answer{}, err
	}
	return writeOp(ctx, l, func(w *wtx) (Answer, error) { return w.placeLien(&p) })
}

// DebitLien decides a lien debit in the writer; errors as for Debit.
func (l *Ledger) DebitLien(ctx context.Context, c LienDebitRequest) (Answer, error) {
	if err := c.Envelope.validate(); err != nil {
		return Answer{}, err
	}
	// Not validateCharge: an amount of 0 is a release, not a malformed charge.
	if _, ok := addChecked(c.Amount, c.Fee); !ok || c.Amount < 0 || c.Fee < 0 {
		return Answer{}, &FieldError{Field: "amount", Reason: "non-negative amount and fee, no overflow"}
	}
	return writeOp(ctx, l, func(w *wtx) (Answer, error) { return w.debitLien(&c) })
}

func (w *wtx) placeLien(p *LienPlaceRequest) (Answer, error) {
	if a, done, err := w.replayed(p.Envelope); done {
		return a, err
	}
	prev, err := w.txn(nsLien, p.Reference)
	if err != nil {
		return Answer{}, err
	}
	rec := &txnRecord{Kind: KindLien, Reference: p.Reference, RequestID: p.RequestID, WalletID: p.WalletID,
		Currency: p.Currency, Amount: p.Amount, Fee: p.Fee, CreatedAt: w.now.UnixNano(), Details: detailsOrNil(p.Details)}
	if prev != nil && prev.State != StateTombstone {
		// Placed before under another requestId: answer that decision, hold nothing more.
		if !prev.sameMessage(rec) {
			return w.answer(p.Envelope, ErrReferenceConflict)
		}
		return w.answer(p.Envelope, declineByName(prev.Decline))
	}

	if prev != nil { // tombstone: the switch released the lien before it arrived
		return w.decideAs(nsLien, rec, p.Envelope, ErrAlreadyReversed, StateHeld)
	}
	wal, err := w.wallet(p.WalletID)
	if err != nil {
		return Answer{}, err
	}
	decline := decideDebit(wal, p.Currency, p.Amount, p.Fee, day(w.now))
	if decline == nil {
		total := p.Amount + p.Fee // checked by PlaceLien
		wal.Held += total         // cannot overflow: decideDebit checked total against Balance - Held
		expires := w.now.Add(w.l.lienTTL())
		seq, err := w.post(&Entry{Kind: KindLien, Reference: p.Reference, Currency: wal.Currency,
			Narration: strings.TrimSpace(fmt.Sprintf("hold of %d until %s %s", total, expires.Format(time.RFC3339),
				narration(p.Details)))}, wal)
		if err != nil {
			return Answer{}, err // no postings: ErrOverflow cannot happen
		}
		rec.Entry = seq
		rec.Lien = &lienState{ExpiresAt: expires.UnixNano()}
		if err := w.tx.Bucket(bucketLienExpiry).Put(lienExpiryKey(rec.Lien.ExpiresAt, rec.Reference), nil); err != nil {
			return Answer{}, err
		}
	}
	return w.decideAs(nsLien, rec, p.Envelope, decline, StateHeld)
}

func (w *wtx) debitLien(c *LienDebitRequest) (Answer, error) {
	if a, done, err := w.replayed(c.Envelope); done {
		return a, err
	}
	prev, err := w.txn(nsLienDebit, c.Reference)
	if err != nil {
		return Answer{}, err
	}
	rec := &txnRecord{Kind: KindLienDebit, Reference: c.Reference, RequestID: c.RequestID, WalletID: c.WalletID,
		Currency: c.Currency, Amount: c.Amount, Fee: c.Fee, Original: c.Original, CreatedAt: w.now.UnixNano(),
		Details: detailsOrNil(c.Details)}
	if prev != nil {
		// The switch re-sends a lien debit until it is answered: the same reference gets the same decision.
		if !prev.sameMessage(rec) {
			return w.answer(c.Envelope, ErrReferenceConflict)
		}
		return w.answer(c.Envelope, declineByName(prev.Decline))
	}
	decline, err := w.applyLienDebit(c, rec)
	if err != nil {
		return Answer{}, err
	}
	return w.decide(nsLienDebit, rec, c.Envelope, decline)
}

// applyLienDebit decides CONTRACT 1.9 for a lien debit and moves the money; it returns the decline, or an error for
// storage.
func (w *wtx) applyLienDebit(c *LienDebitRequest, rec *txnRecord) (decline error, err error) {
	lien, err := w.txn(nsLien, c.Original)
	if err != nil {
		return nil, err
	}
	switch {
	case lien == nil:
		if c.Amount == 0 {
			// A release of a lien never seen is the switch reversing a place-lien that timed out: remember the
			// reference so that the place-lien, if it is still on its way, holds nothing (as for reversals).
			if err := w.putTombstone(nsLien, KindLien, c.Original); err != nil {
				return nil, err
			}
		}
		return ErrOriginalNotFound, nil
	case lien.State == StateTombstone:
		return ErrOriginalNotFound, nil
	case lien.State == StateDeclined:
		// Nothing was held. Releasing it is acknowledged; debiting it finds no lien.
		if c.Amount == 0 {
			return nil, nil
		}
		return ErrOriginalNotFound, nil
	case lien.WalletID != c.WalletID || lien.Currency != c.Currency:
		return ErrOriginalMismatch, nil
	case lien.State == StateCompleted:
		return nil, nil // honoured once: a repeat is acknowledged and moves nothing, as for reversals
	}
	wal, err := w.wallet(lien.WalletID)
	if err != nil {
		return nil, err
	}
	if wal == nil {
		return nil, fmt.Errorf("lien debit %s: wallet %s of lien %s is missing", c.Reference, lien.WalletID, lien.Reference)
	}
	if lien.State == StateHeld && lien.Lien != nil && !w.now.Before(time.Unix(0, lien.Lien.ExpiresAt)) {
		// Past its time to live: released, whether or not the sweeper got to it yet.
		if err := w.releaseLien(lien, wal, ReleaseExpired, ""); err != nil {
			return nil, err
		}
	}
	if lien.State == StateReleased {
		if c.Amount == 0 {
			return nil, nil // released already: acknowledged, nothing moves
		}
		return ErrLienReleased, nil
	}
	if c.Amount == 0 {
		return nil, w.releaseLien(lien, wal, ReleaseBySwitch, c.Reference)
	}

	held := lien.Amount + lien.Fee
	total, ok := addChecked(c.Amount, lien.Fee)
	if !ok {
		return ErrOverflow, nil
	}
	today := day(w.now)
	if excess := c.Amount - lien.Amount; excess > 0 {
		// What the hold covers was authorised when it was placed; only the excess is a new spend.
		switch {
		case wal.Status != StatusActive:
			return ErrWalletNotActive, nil
		case wal.Balance-wal.Held+held < total:
			return ErrInsufficientFunds, nil
		case !withinLimit(wal, excess, today):
			return ErrLimitExceeded, nil
		}
	}
	used, ok := addChecked(debitedOn(wal, today), c.Amount)
	if !ok {
		return ErrOverflow, nil
	}
	wal.Held -= held
	wal.Day, wal.DayDebited = today, used
	seq, err := w.post(&Entry{Kind: KindLienDebit, Reference: c.Reference, Currency: wal.Currency,
		Narration: strings.TrimSpace(fmt.Sprintf("lien %s completed, hold of %d released %s", lien.Reference, held,
			narration(c.Details))),
		Postings: chargePostings(wal, c.Amount, lien.Fee)}, wal)
	if errors.Is(err, ErrOverflow) {
		return ErrOverflow, nil
	}
	if err != nil {
		return nil, err
	}
	rec.Entry, rec.Day = seq, today
	lien.State = StateCompleted
	lien.Lien.EndedAt, lien.Lien.EndedBy, lien.Lien.Debited, lien.Lien.EndEntry = w.now.UnixNano(), c.Reference, c.Amount, seq
	return nil, w.endLien(lien)
}

// endLien stores a lien that was completed or released and takes it out of the expiry index.
func (w *wtx) endLien(lien *txnRecord) error {
	if err := w.tx.Bucket(bucketLienExpiry).Delete(lienExpiryKey(lien.Lien.ExpiresAt, lien.Reference)); err != nil {
		return err
	}
	return w.putTxn(nsLien, lien)
}

// withinLimit reports whether debiting amount more today keeps the wallet within its daily debit limit.
func withinLimit(wal *walletRecord, amount int64, today string) bool {
	if wal.DailyDebitLimit <= 0 {
		return true
	}
	after, ok := addChecked(debitedOn(wal, today), amount)
	return ok && after <= wal.DailyDebitLimit
}

// debitedOn is what the wallet has debited against its daily limit on day today: nothing when its counter is of
// another day.
func debitedOn(wal *walletRecord, today string) int64 {
	if wal.Day != today {
		return 0
	}
	return wal.DayDebited
}

// releaseLien gives a held lien's hold back to the wallet and journals it with a memo entry; by is the lien debit
// that asked for it ("" for an expiry). It stores the lien and the wallet.
func (w *wtx) releaseLien(lien *txnRecord, wal *walletRecord, reason, by string) error {
	held := lien.Amount + lien.Fee
	if wal.Held < held {
		return fmt.Errorf("lien %s holds %d but wallet %s holds only %d", lien.Reference, held, wal.ID, wal.Held)
	}
	wal.Held -= held
	seq, err := w.post(&Entry{Kind: KindLienRelease, Reference: lien.Reference, Currency: wal.Currency,
		Narration: fmt.Sprintf("hold of %d released (%s)", held, reason)}, wal)
	if err != nil {
		return err
	}
	lien.State = StateReleased
	lien.Lien.EndedAt, lien.Lien.ReleaseReason, lien.Lien.EndedBy, lien.Lien.EndEntry = w.now.UnixNano(), reason, by, seq
	return w.endLien(lien)
}

func lienExpiryKey(expires int64, ref string) []byte {
	k := make([]byte, 0, 8+len(ref))
	k = binary.BigEndian.AppendUint64(k, uint64(expires))
	return append(k, ref...)
}

func (l *Ledger) lienTTL() time.Duration {
	if l.opts.LienTTL > 0 {
		return l.opts.LienTTL
	}
	return DefaultLienTTL
}

// ReleaseExpiredLiens releases, through the writer, every lien whose time to live has run out by the ledger's
// clock, and returns how many it released. Each release is durable when it returns. The ledger calls it every
// Options.LienSweepInterval; calling it at any time is safe.
func (l *Ledger) ReleaseExpiredLiens(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := writeOp(ctx, l, func(w *wtx) (int, error) { return w.releaseExpired(maxSweep) })
		total += n
		if err != nil {
			return total, fmt.Errorf("release expired liens: %w", err)
		}
		if n < maxSweep {
			return total, nil
		}
	}
}

// releaseExpired releases up to max liens whose expiry is not after now.
func (w *wtx) releaseExpired(max int) (int, error) {
	idx := w.tx.Bucket(bucketLienExpiry)
	var due [][]byte
	c := idx.Cursor()
	for k, _ := c.First(); k != nil && len(due) < max; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) > w.now.UnixNano() {
			break
		}
		due = append(due, append([]byte(nil), k...))
	}
	released := 0
	for _, k := range due {
		ref := string(k[8:])
		lien, err := w.txn(nsLien, ref)
		if err != nil {
			return 0, err
		}
		if lien == nil || lien.State != StateHeld || lien.Lien == nil {
			// A stale index entry: the lien ended without it being removed. Drop it.
			if err := idx.Delete(k); err != nil {
				return 0, err
			}
			continue
		}
		wal, err := w.wallet(lien.WalletID)
		if err != nil {
			return 0, err
		}
		if wal == nil {
			return 0, fmt.Errorf("lien %s: wallet %s is missing", ref, lien.WalletID)
		}
		if err := w.releaseLien(lien, wal, ReleaseExpired, ""); err != nil {
			return 0, err
		}
		released++
	}
	return released, nil
}

// lienSweeper runs ReleaseExpiredLiens periodically until the ledger closes.
type lienSweeper struct {
	quit chan struct{}
	done chan struct{}
}

// lienSweepHooks replace the sweeper's ticker and report every sweep's count (-1 for an error), for tests.
type lienSweepHooks struct {
	tick  <-chan time.Time
	swept chan<- int
}

func (l *Ledger) startLienSweeper() {
	tick, stop := l.opts.lienSweep.tick, func() {}
	if tick == nil {
		every := l.opts.LienSweepInterval
		if every == 0 {
			every = defaultLienSweepInterval
		}
		if every < 0 {
			return
		}
		t := time.NewTicker(every)
		tick, stop = t.C, t.Stop
	}
	l.sweeper = lienSweeper{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.sweeper.done)
		defer stop()
		l.sweepLoop(tick, l.opts.lienSweep.swept)
	}()
}

func (l *Ledger) sweepLoop(tick <-chan time.Time, swept chan<- int) {
	for {
		select {
		case <-l.sweeper.quit:
			return
		case <-tick:
		}
		n, err := l.ReleaseExpiredLiens(context.Background())
		if err != nil {
			// Storage trouble or a closing ledger: the liens stay held and the next tick tries again.
			n = -1
		}
		if swept != nil {
			select {
			case swept <- n:
			case <-l.sweeper.quit:
				return
			}
		}
	}
}

// stopLienSweeper stops the sweeper and waits for a sweep in flight to finish, before Close stops the writer. Close
// may be called more than once.
func (l *Ledger) stopLienSweeper() {
	l.mu.Lock()
	quit := l.sweeper.quit
	if quit != nil && !l.closed {
		select {
		case <-quit:
		default:
			close(quit)
		}
	}
	l.mu.Unlock()
	if quit != nil {
		<-l.sweeper.done
	}
}
