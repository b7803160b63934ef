package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

// Outcome is what the ledger decided for one switch message.
type Outcome struct {
	// Decline is nil when the message was approved, else one of the decline reasons (ErrInsufficientFunds, ...).
	Decline error
	// Wallet is set by Enquire when it approves: the wallet the answer describes. Nil for every other message.
	Wallet *Wallet
}

// Approved reports whether the message was approved.
func (o Outcome) Approved() bool { return o.Decline == nil }

// Render turns an outcome into the exact bytes answered to the switch. The ledger calls it inside the commit and
// stores its result under the requestId, so a replay is byte-identical. It must be a pure function of its input
// and of the message it was built for; an error aborts the operation with nothing committed.
type Render func(Outcome) ([]byte, error)

// Envelope is what every switch message carries for idempotency.
type Envelope struct {
	RequestID   string
	Fingerprint [32]byte // hash of the message's MAC fields, fee and route; same requestId + other hash = conflict
	Render      Render
	// Approved, when set, is what Render returns for Outcome{} (an approval without a Wallet), rendered by the
	// caller before the operation is queued: the writer is one goroutine every message waits for, and rendering
	// and signing took a tenth of its time per debit. The ledger stores and answers it as Render's result for
	// such an approval; Render is still called for every other outcome. Never set it for enquiries.
	Approved []byte
}

// MaxRequestIDLen bounds requestIds the ledger stores.
const MaxRequestIDLen = 256

func (e Envelope) validate() error {
	switch {
	case e.RequestID == "" || len(e.RequestID) > MaxRequestIDLen:
		return &FieldError{Field: "requestId", Reason: fmt.Sprintf("1 to %d bytes", MaxRequestIDLen)}
	case e.Render == nil:
		return &FieldError{Field: "render", Reason: "required"}
	}
	return nil
}

// Answer is the reply to a switch message.
type Answer struct {
	Response []byte // exactly what to send; owned by the caller
	Outcome  Outcome
	Replayed bool // the requestId had been answered before: Response is the stored answer and nothing was decided now
}

// DebitRequest charges Amount plus Fee to a wallet (CONTRACT 1.6).
type DebitRequest struct {
	Envelope
	WalletID  string
	Reference string // transactionReference
	Currency  string // ISO 4217 numeric
	Amount    int64  // principal, minor units, > 0
	Fee       int64  // minor units, >= 0
	Details   Details
}

// ReversalRequest returns a debit's money (CONTRACT 1.7).
type ReversalRequest struct {
	Envelope
	WalletID  string
	Reference string // the reversal's own transactionReference
	Original  string // originalTransactionReference: the debit to undo
	Currency  string
	Amount    int64 // 0 or what remains: full reversal; less: partial (principal only)
	Details   Details
}

// Replay answers an exact repeat of a requestId from a read-only transaction: the stored response when the
// fingerprint matches, ErrRequestConflict when it does not, ErrNotRecorded when the requestId has no answer whose
// commit is known to be durable (the caller then goes through Debit/Reverse, which decide or replay in the writer).
func (l *Ledger) Replay(ctx context.Context, requestID string, fingerprint [32]byte) (Answer, error) {
	if requestID == "" || len(requestID) > MaxRequestIDLen {
		return Answer{}, ErrNotRecorded
	}
	rec, err := l.storedRequest(requestID)
	switch {
	case errors.Is(err, ErrClosed):
		return Answer{}, ErrClosed
	case err != nil:
		return Answer{}, fmt.Errorf("%w: replay: %v", ErrStorage, err)
	case rec == nil || rec.batch > l.durable.Load():
		return Answer{}, ErrNotRecorded
	}
	return rec.answer(fingerprint)
}

// answer is the stored answer for a repeat of the requestId with fingerprint fp, or ErrRequestConflict. The
// response is the record's own copy (decodeRequestRecord took it out of the file), handed over as it is.
func (rec *requestRecord) answer(fp [32]byte) (Answer, error) {
	if rec.fingerprint != fp {
		return Answer{}, ErrRequestConflict
	}
	return Answer{Response: rec.response, Outcome: Outcome{Decline: declineByName(rec.decline)}, Replayed: true}, nil
}

// Debit decides a debit in the writer and returns its committed answer. Besides storage failures it returns
// ErrRequestConflict (requestId reused with another fingerprint; nothing stored) and *FieldError for inputs
// the server should have refused.
func (l *Ledger) Debit(ctx context.Context, d DebitRequest) (Answer, error) {
	if err := validateCharge(d.Envelope, d.Amount, d.Fee); err != nil {
		return Answer{}, err
	}
	return writeOp(ctx, l, func(w *wtx) (Answer, error) { return w.debit(&d) })
}

// validateCharge refuses what the server should have refused for a message that takes Amount plus Fee from a
// wallet now or later (a debit, a place-lien).
func validateCharge(env Envelope, amount, fee int64) error {
	if err := env.validate(); err != nil {
		return err
	}
	if _, ok := addChecked(amount, fee); !ok || amount <= 0 || fee < 0 {
		return &FieldError{Field: "amount", Reason: "positive amount, non-negative fee, no overflow"}
	}
	return nil
}

// Reverse decides a reversal in the writer; errors as for Debit.
func (l *Ledger) Reverse(ctx context.Context, r ReversalRequest) (Answer, error) {
	if err := r.Envelope.validate(); err != nil {
		return Answer{}, err
	}
	if r.Amount < 0 {
		return Answer{}, &FieldError{Field: "amount", Reason: "must not be negative"}
	}
	return writeOp(ctx, l, func(w *wtx) (Answer, error) { return w.reverse(&r) })
}

// replayed looks the requestId up inside the writer, where records of the same batch are visible.
func (w *wtx) replayed(env Envelope) (Answer, bool, error) {
	rec, err := w.request(env.RequestID)
	switch {
	case err != nil:
		return Answer{}, true, err
	case rec == nil:
		return w.replayedPending(env) // an enquiry's record may still be on its way (enquiry.go)
	}
	a, err := rec.answer(env.Fingerprint)
	if err != nil {
		return Answer{}, true, business(err)
	}
	return a, true, nil
}

// decide remembers a new transaction's decision under its reference, then answers the message.
func (w *wtx) decide(ns byte, rec *txnRecord, env Envelope, decline error) (Answer, error) {
	return w.decideAs(ns, rec, env, decline, StateApproved)
}

// decideAs is decide for a transaction whose approval is stored with the state approved (a place-lien is
// StateHeld).
func (w *wtx) decideAs(ns byte, rec *txnRecord, env Envelope, decline error, approved string) (Answer, error) {
	rec.State, rec.Decline = approved, declineName(decline)
	if decline != nil {
		rec.State = StateDeclined
	}
	if err := w.putTxn(ns, rec); err != nil {
		return Answer{}, err
	}
	if err := w.enqueue(ns, rec, decline); err != nil {
		return Answer{}, err
	}
	return w.answer(env, decline)
}

// answer renders the outcome and remembers it under the requestId.
func (w *wtx) answer(env Envelope, decline error) (Answer, error) {
	out := Outcome{Decline: decline}
	resp := env.Approved
	if decline != nil || resp == nil {
		var err error
		if resp, err = env.Render(out); err != nil {
			return Answer{}, fmt.Errorf("render answer: %w", err)
		}
	}
	rec := requestRecord{fingerprint: env.Fingerprint, decline: declineName(decline), response: resp}
	if err := w.putRequest(env.RequestID, rec); err != nil {
		return Answer{}, err
	}
	return Answer{Response: resp, Outcome: out}, nil
}

func (w *wtx) debit(d *DebitRequest) (Answer, error) {
	if a, done, err := w.replayed(d.Envelope); done {
		return a, err
	}
	prev, err := w.txn(nsDebit, d.Reference)
	if err != nil {
		return Answer{}, err
	}
	rec := &txnRecord{Kind: KindDebit, Reference: d.Reference, RequestID: d.RequestID, WalletID: d.WalletID,
		Currency: d.Currency, Amount: d.Amount, Fee: d.Fee, CreatedAt: w.now.UnixNano(), Details: detailsOrNil(d.Details)}
	if prev != nil && prev.State != StateTombstone {
		// The reference was decided before under another requestId: answer that decision, move nothing.
		switch {
		case !prev.sameMessage(rec):
			return w.answer(d.Envelope, ErrReferenceConflict)
		case prev.State == StateReversed:
			return w.answer(d.Envelope, ErrAlreadyReversed)
		}
		return w.answer(d.Envelope, declineByName(prev.Decline))
	}

	var decline error
	if prev != nil { // tombstone: its reversal arrived first (CONTRACT 1.7)
		decline = ErrAlreadyReversed
	} else {
		wal, err := w.wallet(d.WalletID)
		if err != nil {
			return Answer{}, err
		}
		today := day(w.now)
		decline = decideDebit(wal, d.Currency, d.Amount, d.Fee, today)
		if decline == nil {
			if wal.Day != today {
				wal.Day, wal.DayDebited = today, 0
			}
			wal.DayDebited += d.Amount // cannot overflow: decideDebit checked it against the limit or the balance
			seq, err := w.post(&Entry{Kind: KindDebit, Reference: d.Reference, Currency: wal.Currency,
				Narration: narration(d.Details), Postings: chargePostings(wal, d.Amount, d.Fee)}, wal)
			switch {
			case errors.Is(err, ErrOverflow):
				decline = ErrOverflow
			case err != nil:
				return Answer{}, err
			default:
				rec.Entry, rec.Day = seq, today
			}
		}
	}
	return w.decide(nsDebit, rec, d.Envelope, decline)
}

// sameMessage reports whether a transaction decided before under this reference was asked for with the same
// body as the new record rec: a repeat gets the decision already taken, anything else is a reference conflict.
// Fields a kind does not have are zero on both sides (a reversal's Fee, a debit's Original).
func (t *txnRecord) sameMessage(rec *txnRecord) bool {
	return t.WalletID == rec.WalletID && t.Currency == rec.Currency && t.Amount == rec.Amount && t.Fee == rec.Fee &&
		t.Original == rec.Original
}

// decideDebit applies CONTRACT 1.6 in order: wallet (14), status (57), currency (12), funds (51), daily limit (61).
func decideDebit(wal *walletRecord, currency string, amount, fee int64, today string) error {
	switch {
	case wal == nil:
		return ErrWalletNotFound
	case wal.Status != StatusActive:
		return ErrWalletNotActive
	case wal.Currency != currency:
		return ErrCurrencyMismatch
	}
	total, ok := addChecked(amount, fee)
	if !ok {
		return ErrOverflow
	}
	if wal.Balance-wal.Held < total {
		return ErrInsufficientFunds
	}
	if !withinLimit(wal, amount, today) {
		return ErrLimitExceeded
	}
	return nil
}

// chargePostings takes amount plus fee from the wallet: the amount to settlement, the fee, if any, to fee income.
// A debit and a lien debit move money the same way.
func chargePostings(wal *walletRecord, amount, fee int64) []Posting {
	postings := []Posting{
		{Account: walletAccount(wal.ID), Amount: -(amount + fee)},
		{Account: systemAccount(SettlementAccount, wal.Currency), Amount: amount},
	}
	if fee > 0 {
		postings = append(postings, Posting{Account: systemAccount(FeeIncomeAccount, wal.Currency), Amount: fee})
	}
	return postings
}

func (w *wtx) reverse(r *ReversalRequest) (Answer, error) {
	if a, done, err := w.replayed(r.Envelope); done {
		return a, err
	}
	prev, err := w.txn(nsReversal, r.Reference)
	if err != nil {
		return Answer{}, err
	}
	rec := &txnRecord{Kind: KindReversal, Reference: r.Reference, RequestID: r.RequestID, WalletID: r.WalletID,
		Currency: r.Currency, Amount: r.Amount, Original: r.Original, CreatedAt: w.now.UnixNano(),
		Details: detailsOrNil(r.Details)}
	if prev != nil {
		if !prev.sameMessage(rec) {
			return w.answer(r.Envelope, ErrReferenceConflict)
		}
		return w.answer(r.Envelope, declineByName(prev.Decline))
	}

	decline, err := w.applyReversal(r, rec)
	if err != nil {
		return Answer{}, err
	}
	return w.decide(nsReversal, rec, r.Envelope, decline)
}

// applyReversal decides CONTRACT 1.7 and moves the money; it returns the decline, or an error for storage.
func (w *wtx) applyReversal(r *ReversalRequest, rec *txnRecord) (decline error, err error) {
	orig, err := w.txn(nsDebit, r.Original)
	if err != nil {
		return nil, err
	}
	switch {
	case orig == nil:
		// Remember the reference, so that the debit, if it is still on its way, is declined (CONTRACT 1.7).
		if err := w.putTombstone(nsDebit, KindDebit, r.Original); err != nil {
			return nil, err
		}
		return ErrOriginalNotFound, nil
	case orig.State == StateTombstone:
		return ErrOriginalNotFound, nil
	case orig.Decline != "", orig.State == StateReversed:
		return nil, nil // nothing to give back: approved, nothing moves
	case orig.WalletID != r.WalletID || orig.Currency != r.Currency:
		return ErrOriginalMismatch, nil
	}

	remaining := orig.Amount - orig.Reversed
	var principal, fee int64
	full := false
	switch {
	case r.Amount == 0 || r.Amount == remaining:
		principal, full = remaining, true
		if !orig.FeeReversed {
			fee = orig.Fee
		}
	case r.Amount < remaining:
		principal = r.Amount
	default:
		return ErrExceedsRemaining, nil
	}

	wal, err := w.wallet(orig.WalletID)
	if err != nil {
		return nil, err
	}
	if wal == nil {
		return nil, fmt.Errorf("reversal %s: wallet %s of approved debit %s is missing", r.Reference, orig.WalletID, orig.Reference)
	}
	if orig.Day != "" && orig.Day == wal.Day {
		// The debit counted against today's limit; give the principal back to it.
		wal.DayDebited = max(0, wal.DayDebited-principal)
	}
	postings := []Posting{
		{Account: systemAccount(SettlementAccount, wal.Currency), Amount: -principal},
		{Account: walletAccount(wal.ID), Amount: principal + fee},
	}
	if fee > 0 {
		postings = append(postings, Posting{Account: systemAccount(FeeIncomeAccount, wal.Currency), Amount: -fee})
	}
	seq, err := w.post(&Entry{Kind: KindReversal, Reference: r.Reference, Currency: wal.Currency,
		Narration: "reversal of " + orig.Reference, Postings: postings}, wal)
	if errors.Is(err, ErrOverflow) {
		return ErrOverflow, nil
	}
	if err != nil {
		return nil, err
	}
	rec.Entry = seq
	orig.Reversed += principal
	orig.Reversals = append(orig.Reversals, r.Reference)
	orig.State = StatePartiallyReversed
	if full {
		orig.State, orig.FeeReversed = StateReversed, true
	}
	return nil, w.putTxn(nsDebit, orig)
}

// putTombstone remembers ref, in namespace ns, as a transaction of kind that was undone before it arrived.
func (w *wtx) putTombstone(ns byte, kind, ref string) error {
	return w.putTxn(ns, &txnRecord{Kind: kind, Reference: ref, State: StateTombstone, CreatedAt: w.now.UnixNano()})
}

func detailsOrNil(d Details) *Details {
	if d.RRN == "" && d.STAN == "" && d.TerminalID == "" && d.TerminalType == "" && d.MerchantID == "" &&
		d.AcquiringInstitutionID == "" && d.CardAcceptorNameLocation == "" && d.TransactionDateTime == "" &&
		len(d.AdditionalFields) == 0 {
		return nil
	}
	return &d
}

func narration(d Details) string {
	if d.CardAcceptorNameLocation == "" && d.RRN == "" {
		return ""
	}
	return d.CardAcceptorNameLocation + " RRN " + d.RRN
}

// Transaction is a switch transaction as the admin look-up shows it.
type Transaction struct {
	Kind           string // KindDebit, KindReversal, KindLien or KindLienDebit
	Reference      string
	RequestID      string
	WalletID       string
	Currency       string
	Amount         int64
	Fee            int64
	Decline        error  // nil when approved
	State          string // StateApproved, StateDeclined, StateReversed, StatePartiallyReversed, StateTombstone, StateHeld, StateReleased, StateCompleted
	Original       string // reversal: the debit it named
	ReversedAmount int64  // debit: principal reversed so far
	FeeReversed    bool
	Reversals      []string
	Entry          uint64
	CreatedAt      time.Time
	Details        *Details
	Lien           *LienInfo // lien place: its hold, expiry, completion or release; nil for other kinds
}

// Transaction looks a transactionReference up: the debit under it if there is one, else the reversal, else the
// lien, else the lien debit.
func (l *Ledger) Transaction(ctx context.Context, reference string) (Transaction, error) {
	var out Transaction
	err := l.view(func(r *rtx) error {
		var tomb *txnRecord // a reference only a reversal or a release named: shown when nothing else has it
		for _, ns := range []byte{nsDebit, nsReversal, nsLien, nsLienDebit} {
			rec, err := r.txn(ns, reference)
			if err != nil {
				return err
			}
			if rec != nil && rec.State == StateTombstone && ns != nsLienDebit {
				tomb, rec = cmp.Or(tomb, rec), nil
			}
			if rec == nil && ns == nsLienDebit {
				rec = tomb
			}
			if rec != nil {
				out = Transaction{Kind: rec.Kind, Reference: rec.Reference, RequestID: rec.RequestID,
					WalletID: rec.WalletID, Currency: rec.Currency, Amount: rec.Amount, Fee: rec.Fee,
					Decline: declineByName(rec.Decline), State: rec.State, Original: rec.Original,
					ReversedAmount: rec.Reversed, FeeReversed: rec.FeeReversed, Reversals: rec.Reversals,
					Entry: rec.Entry, CreatedAt: time.Unix(0, rec.CreatedAt).UTC(), Details: rec.Details,
					Lien: rec.Lien.info()}
				return nil
			}
		}
		return ErrTransactionNotFound
	})
	return out, err
}
