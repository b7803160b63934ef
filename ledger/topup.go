package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BestCash top-ups and cash-outs (CONTRACT 2 and 5). The ledger keeps their state machines and moves the money;
// the calls to BestCash are made outside it, between the steps. Money comes from and goes to the per-currency system
// account BestCashAccount ("bestcash:<currency>"), which stands for what BestCash owes walletgate: a top-up
// credits the wallet from it (it goes negative), a cash-out debits the wallet into it.

// BestCashAccount is the system account (one per currency) on the other side of every top-up and cash-out.
const BestCashAccount = "bestcash"

// Kinds of journal entries of BestCash movements.
const (
	KindTopup   = "topup"
	KindCashout = "cashout"
)

// Top-up states.
const (
	TopupStarted   = "started"               // recorded; the BestCash debit is not known to have been started
	TopupAwaiting  = "awaiting_confirmation" // BestCash sent the customer a code; confirm or cancel
	TopupRefused   = "refused"               // the customer does not exist at BestCash: nothing was debited (final)
	TopupFailed    = "failed"                // BestCash refused or failed the debit (final)
	TopupConfirmed = "confirmed"             // BestCash confirmed the debit and the wallet was credited (final)
	TopupCancelled = "cancelled"             // cancelled before confirmation (final)
)

// Errors of top-ups and cash-outs.
var (
	// ErrTopupNotFound is returned when a top-up reference is unknown.
	ErrTopupNotFound = errors.New("top-up not found")

	// ErrTopupConflict is returned when a top-up reference is reused with another wallet, amount or phone, or is
	// already a cash-out's (both are BestCash's partnerReference, and BestCash answers the operation it has).
	ErrTopupConflict = errors.New("top-up reference reused with a different body")

	// ErrCashoutNotFound is returned when a cash-out reference is unknown.
	ErrCashoutNotFound = errors.New("cash-out not found")

	// ErrCashoutConflict is returned when a cash-out reference is reused with another wallet, amount, phone or name,
	// or is already a top-up's (both are BestCash's partnerReference).
	ErrCashoutConflict = errors.New("cash-out reference reused with a different body")
)

// StateError is returned when a top-up or cash-out is not in a state that allows the step. State is its current
// state.
type StateError struct {
	Reference string
	State     string
	Step      string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("%s %s: not possible in state %s", e.Step, e.Reference, e.State)
}

// Topup is a snapshot of one top-up.
type Topup struct {
	Reference string // ours; also BestCash's partnerReference
	WalletID  string
	Currency  string
	Amount    int64 // minor units
	Phone     string
	State     string
	Message   string // the partner's last message (a refused code, a failure), when there is one
	Entry     uint64 // the credit's journal entry, once confirmed
	CreatedAt time.Time
	UpdatedAt time.Time
}

type topupRecord struct {
	WalletID  string `json:"walletId"`
	Currency  string `json:"currency"`
	Amount    int64  `json:"amount"`
	Phone     string `json:"phone"`
	State     string `json:"state"`
	Message   string `json:"message,omitempty"`
	Entry     uint64 `json:"entry,omitempty"`
	CreatedAt int64  `json:"createdAt"`
	UpdatedAt int64  `json:"updatedAt"`
}

func (r *topupRecord) snapshot(ref string) Topup {
	return Topup{Reference: ref, WalletID: r.WalletID, Currency: r.Currency, Amount: r.Amount, Phone: r.Phone,
		State: r.State, Message: r.Message, Entry: r.Entry, CreatedAt: time.Unix(0, r.CreatedAt).UTC(),
		UpdatedAt: time.Unix(0, r.UpdatedAt).UTC()}
}

// NewTopup is the input of StartTopup.
type NewTopup struct {
	Reference string
	WalletID  string
	Amount    int64
	Phone     string
}

// MaxPartnerMessage bounds a stored partner message.
const MaxPartnerMessage = 256

func validateMovement(ref string, amount int64, phone string) error {
	switch {
	case !validID(ref, MaxReferenceLen):
		return &FieldError{Field: "reference", Reason: fmt.Sprintf("1 to %d characters of A-Z a-z 0-9 . _ : -", MaxReferenceLen)}
	case amount <= 0:
		return &FieldError{Field: "amount", Reason: "a positive integer in minor units"}
	case phone == "" || !validPhone(phone):
		return &FieldError{Field: "phone", Reason: "international number: optional +, then 6 to 15 digits"}
	}
	return nil
}

// StartTopup records a new top-up in state TopupStarted, once per reference: repeating it with the same wallet,
// amount and phone returns the top-up as it is now; with anything else ErrTopupConflict. The wallet must exist and
// not be closed (ErrWalletNotFound, ErrWalletClosed).
func (l *Ledger) StartTopup(ctx context.Context, n NewTopup) (Topup, error) {
	if err := validateMovement(n.Reference, n.Amount, n.Phone); err != nil {
		return Topup{}, err
	}
	return writeOp(ctx, l, func(w *wtx) (Topup, error) {
		prev, err := w.topup(n.Reference)
		if err != nil {
			return Topup{}, err
		}
		if prev != nil {
			if prev.WalletID != n.WalletID || prev.Amount != n.Amount || prev.Phone != n.Phone {
				return Topup{}, business(ErrTopupConflict)
			}
			return prev.snapshot(n.Reference), nil
		}
		if w.tx.Bucket(bucketCashouts).Get([]byte(n.Reference)) != nil { // one partnerReference at BestCash
			return Topup{}, business(ErrTopupConflict)
		}
		wal, err := w.wallet(n.WalletID)
		switch {
		case err != nil:
			return Topup{}, err
		case wal == nil:
			return Topup{}, business(ErrWalletNotFound)
		case wal.Status == StatusClosed:
			return Topup{}, business(ErrWalletClosed)
		}
		now := w.now.UnixNano()
		rec := topupRecord{WalletID: n.WalletID, Currency: wal.Currency, Amount: n.Amount, Phone: n.Phone,
			State: TopupStarted, CreatedAt: now, UpdatedAt: now}
		return rec.snapshot(n.Reference), w.putTopup(n.Reference, &rec)
	})
}

// Topup returns one top-up, or ErrTopupNotFound.
func (l *Ledger) Topup(ctx context.Context, reference string) (Topup, error) {
	var out Topup
	err := l.view(func(r *rtx) error {
		rec, err := r.topup(reference)
		if err != nil {
			return err
		}
		if rec == nil {
			return ErrTopupNotFound
		}
		out = rec.snapshot(reference)
		return nil
	})
	return out, err
}

// topupTransitions lists the states each state may move to through SetTopupState (confirmation goes through
// ConfirmTopup, which moves the money).
var topupTransitions = map[string][]string{
	TopupStarted:  {TopupStarted, TopupAwaiting, TopupRefused, TopupFailed},
	TopupAwaiting: {TopupAwaiting, TopupFailed, TopupCancelled},
}

// SetTopupState moves a top-up to state, with the partner's message (kept when message is empty). Moving to the
// state it is in only updates the message. A top-up already in a final state answers *StateError unless it is in
// state already.
func (l *Ledger) SetTopupState(ctx context.Context, reference, state, message string) (Topup, error) {
	return writeOp(ctx, l, func(w *wtx) (Topup, error) {
		rec, err := w.topup(reference)
		switch {
		case err != nil:
			return Topup{}, err
		case rec == nil:
			return Topup{}, business(ErrTopupNotFound)
		case rec.State == state && message == "":
			return rec.snapshot(reference), nil
		}
		allowed := false
		for _, s := range topupTransitions[rec.State] {
			allowed = allowed || s == state
		}
		if !allowed {
			if rec.State == state {
				return rec.snapshot(reference), nil
			}
			return Topup{}, business(&StateError{Reference: reference, State: rec.State, Step: "top-up " + state})
		}
		rec.State, rec.UpdatedAt = state, w.now.UnixNano()
		if message != "" {
			rec.Message = cut(message, MaxPartnerMessage)
		}
		return rec.snapshot(reference), w.putTopup(reference, rec)
	})
}

// ConfirmTopup credits the wallet with a top-up that BestCash confirmed, once: an awaiting (or just started)
// top-up moves to TopupConfirmed with one balanced journal entry from "bestcash:<currency>" to the wallet; a
// confirmed one is returned as it is; any other state is a *StateError. Frozen and closed wallets are credited too:
// the customer's money has already left BestCash.
func (l *Ledger) ConfirmTopup(ctx context.Context, reference string) (Topup, error) {
	return writeOp(ctx, l, func(w *wtx) (Topup, error) {
		rec, err := w.topup(reference)
		switch {
		case err != nil:
			return Topup{}, err
		case rec == nil:
			return Topup{}, business(ErrTopupNotFound)
		case rec.State == TopupConfirmed:
			return rec.snapshot(reference), nil
		case rec.State != TopupAwaiting && rec.State != TopupStarted:
			return Topup{}, business(&StateError{Reference: reference, State: rec.State, Step: "confirm top-up"})
		}
		wal, err := w.wallet(rec.WalletID)
		if err != nil {
			return Topup{}, err
		}
		if wal == nil {
			return Topup{}, fmt.Errorf("top-up %s names missing wallet %s", reference, rec.WalletID)
		}
		seq, err := w.post(&Entry{Kind: KindTopup, Reference: reference, Currency: wal.Currency,
			Narration: "BestCash top-up", Postings: []Posting{
				{Account: systemAccount(BestCashAccount, wal.Currency), Amount: -rec.Amount},
				{Account: walletAccount(wal.ID), Amount: rec.Amount},
			}}, wal)
		if errors.Is(err, ErrOverflow) {
			return Topup{}, business(ErrOverflow)
		}
		if err != nil {
			return Topup{}, err
		}
		rec.State, rec.Entry, rec.UpdatedAt = TopupConfirmed, seq, w.now.UnixNano()
		return rec.snapshot(reference), w.putTopup(reference, rec)
	})
}

// topup reads the top-up under reference: nil when there is none.
func (r *rtx) topup(reference string) (*topupRecord, error) {
	var rec topupRecord
	ok, err := getJSON(r.tx.Bucket(bucketTopups), []byte(reference), &rec)
	if !ok || err != nil {
		return nil, err
	}
	return &rec, nil
}

func (w *wtx) putTopup(reference string, rec *topupRecord) error {
	return putJSON(w.tx.Bucket(bucketTopups), []byte(reference), rec)
}
