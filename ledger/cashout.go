package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Cash-out states.
const (
	CashoutHeld      = "held"      // the amount is held on the wallet; BestCash's credit outcome is not known yet
	CashoutCompleted = "completed" // BestCash credited the customer; the wallet was debited (final)
	CashoutFailed    = "failed"    // BestCash did not credit the customer; the hold was released (final)
)

// Cashout is a snapshot of one cash-out.
type Cashout struct {
	Reference string // ours; also BestCash's partnerReference
	WalletID  string
	Currency  string
	Amount    int64 // minor units
	Phone     string
	FirstName string // for a customer BestCash does not know yet
	LastName  string
	State     string
	Message   string
	Entry     uint64 // the debit's journal entry, once completed
	CreatedAt time.Time
	UpdatedAt time.Time
}

// bucketCashoutsOpen indexes the cash-outs whose outcome is not known yet (state CashoutHeld): reference -> empty.
// The transactions that change a cash-out's state keep it, so a resolver pass (HeldCashouts) costs the open
// cash-outs, not every cash-out ever made. Its existence means it is complete: a ledger made before the index has
// none, and the first transaction that needs it builds it from the cash-outs (openCashouts).
var bucketCashoutsOpen = []byte("cashoutsopen")

// openCashouts returns the index of open cash-outs, building it from every cash-out when the ledger has none yet.
func (w *wtx) openCashouts() (*bolt.Bucket, error) {
	if idx := w.tx.Bucket(bucketCashoutsOpen); idx != nil {
		return idx, nil
	}
	idx, err := w.tx.CreateBucket(bucketCashoutsOpen)
	if err != nil {
		return nil, err
	}
	err = w.tx.Bucket(bucketCashouts).ForEach(func(k, v []byte) error {
		var rec cashoutRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode cash-out %s: %w", k, err)
		}
		if rec.State != CashoutHeld {
			return nil
		}
		return idx.Put(k, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("index open cash-outs: %w", err)
	}
	return idx, nil
}

type cashoutRecord struct {
	WalletID  string `json:"walletId"`
	Currency  string `json:"currency"`
	Amount    int64  `json:"amount"`
	Phone     string `json:"phone"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
	State     string `json:"state"`
	Message   string `json:"message,omitempty"`
	Entry     uint64 `json:"entry,omitempty"`
	CreatedAt int64  `json:"createdAt"`
	UpdatedAt int64  `json:"updatedAt"`
}

func (r *cashoutRecord) snapshot(ref string) Cashout {
	return Cashout{Reference: ref, WalletID: r.WalletID, Currency: r.Currency, Amount: r.Amount, Phone: r.Phone,
		FirstName: r.FirstName, LastName: r.LastName, State: r.State, Message: r.Message, Entry: r.Entry,
		CreatedAt: time.Unix(0, r.CreatedAt).UTC(), UpdatedAt: time.Unix(0, r.UpdatedAt).UTC()}
}

// NewCashout is the input of HoldCashout.
type NewCashout struct {
	Reference string
	WalletID  string
	Amount    int64
	Phone     string
	FirstName string
	LastName  string
}

// Validate checks the input's form (the *FieldError HoldCashout would return), so that a caller can refuse it
// before asking a partner anything.
func (n NewCashout) Validate() error {
	if err := validateMovement(n.Reference, n.Amount, n.Phone); err != nil {
		return err
	}
	if !validText(n.FirstName, MaxNameLen) {
		return &FieldError{Field: "firstName", Reason: fmt.Sprintf("up to %d printable characters", MaxNameLen)}
	}
	if !validText(n.LastName, MaxNameLen) {
		return &FieldError{Field: "lastName", Reason: fmt.Sprintf("up to %d printable characters", MaxNameLen)}
	}
	return nil
}

// HoldCashout records a cash-out and holds its amount on the wallet (Held grows by it, so the available balance
// shrinks), once per reference: repeating it with the same body returns the cash-out as it is now; with anything
// else ErrCashoutConflict. Refusals: ErrWalletNotFound, ErrWalletNotActive (frozen or closed),
// ErrInsufficientFunds (available balance below the amount).
func (l *Ledger) HoldCashout(ctx context.Context, n NewCashout) (Cashout, error) {
	if err := n.Validate(); err != nil {
		return Cashout{}, err
	}
	return writeOp(ctx, l, func(w *wtx) (Cashout, error) {
		prev, err := w.cashout(n.Reference)
		if err != nil {
			return Cashout{}, err
		}
		if prev != nil {
			if prev.WalletID != n.WalletID || prev.Amount != n.Amount || prev.Phone != n.Phone ||
				prev.FirstName != n.FirstName || prev.LastName != n.LastName {
				return Cashout{}, business(ErrCashoutConflict)
			}
			return prev.snapshot(n.Reference), nil
		}
		if w.tx.Bucket(bucketTopups).Get([]byte(n.Reference)) != nil { // one partnerReference at BestCash
			return Cashout{}, business(ErrCashoutConflict)
		}
		wal, err := w.wallet(n.WalletID)
		switch {
		case err != nil:
			return Cashout{}, err
		case wal == nil:
			return Cashout{}, business(ErrWalletNotFound)
		case wal.Status != StatusActive:
			return Cashout{}, business(ErrWalletNotActive)
		case wal.Balance-wal.Held < n.Amount:
			return Cashout{}, business(ErrInsufficientFunds)
		}
		wal.Held += n.Amount // cannot overflow: Held + Amount <= Balance
		if err := w.putWallet(wal); err != nil {
			return Cashout{}, err
		}
		idx, err := w.openCashouts()
		if err != nil {
			return Cashout{}, err
		}
		if err := idx.Put([]byte(n.Reference), nil); err != nil {
			return Cashout{}, err
		}
		now := w.now.UnixNano()
		rec := cashoutRecord{WalletID: n.WalletID, Currency: wal.Currency, Amount: n.Amount, Phone: n.Phone,
			FirstName: n.FirstName, LastName: n.LastName, State: CashoutHeld, CreatedAt: now, UpdatedAt: now}
		return rec.snapshot(n.Reference), w.putCashout(n.Reference, &rec)
	})
}

// SettleCashout settles a held cash-out by BestCash's known outcome, once: credited → the hold is released and
// the wallet debited into "bestcash:<currency>" in one balanced journal entry (CashoutCompleted); not credited →
// the hold is released (CashoutFailed). Settling a settled cash-out with the same outcome returns it as it is;
// with the other outcome it is a *StateError (and nothing changes).
func (l *Ledger) SettleCashout(ctx context.Context, reference string, credited bool, message string) (Cashout, error) {
	want := CashoutFailed
	if credited {
		want = CashoutCompleted
	}
	return writeOp(ctx, l, func(w *wtx) (Cashout, error) {
		rec, err := w.cashout(reference)
		switch {
		case err != nil:
			return Cashout{}, err
		case rec == nil:
			return Cashout{}, business(ErrCashoutNotFound)
		case rec.State == want:
			return rec.snapshot(reference), nil
		case rec.State != CashoutHeld:
			return Cashout{}, business(&StateError{Reference: reference, State: rec.State, Step: "settle cash-out as " + want})
		}
		wal, err := w.wallet(rec.WalletID)
		if err != nil {
			return Cashout{}, err
		}
		if wal == nil || wal.Held < rec.Amount {
			return Cashout{}, fmt.Errorf("cash-out %s: wallet %s does not hold its amount", reference, rec.WalletID)
		}
		wal.Held -= rec.Amount
		if credited {
			seq, err := w.post(&Entry{Kind: KindCashout, Reference: reference, Currency: wal.Currency,
				Narration: "BestCash cash-out", Postings: []Posting{
					{Account: walletAccount(wal.ID), Amount: -rec.Amount},
					{Account: systemAccount(BestCashAccount, wal.Currency), Amount: rec.Amount},
				}}, wal) // post stores the wallet with its new Held
			if errors.Is(err, ErrOverflow) {
				return Cashout{}, business(ErrOverflow)
			}
			if err != nil {
				return Cashout{}, err
			}
			rec.Entry = seq
		} else if err := w.putWallet(wal); err != nil {
			return Cashout{}, err
		}
		idx, err := w.openCashouts()
		if err != nil {
			return Cashout{}, err
		}
		if err := idx.Delete([]byte(reference)); err != nil {
			return Cashout{}, err
		}
		rec.State, rec.UpdatedAt = want, w.now.UnixNano()
		if message != "" {
			rec.Message = cut(message, MaxPartnerMessage)
		}
		return rec.snapshot(reference), w.putCashout(reference, rec)
	})
}

// NoteCashout stores the partner's latest message on a held cash-out (why its outcome is still unknown).
func (l *Ledger) NoteCashout(ctx context.Context, reference, message string) (Cashout, error) {
	return writeOp(ctx, l, func(w *wtx) (Cashout, error) {
		rec, err := w.cashout(reference)
		switch {
		case err != nil:
			return Cashout{}, err
		case rec == nil:
			return Cashout{}, business(ErrCashoutNotFound)
		case rec.State != CashoutHeld || rec.Message == cut(message, MaxPartnerMessage):
			return rec.snapshot(reference), nil
		}
		rec.Message, rec.UpdatedAt = cut(message, MaxPartnerMessage), w.now.UnixNano()
		return rec.snapshot(reference), w.putCashout(reference, rec)
	})
}

// Cashout returns one cash-out, or ErrCashoutNotFound.
func (l *Ledger) Cashout(ctx context.Context, reference string) (Cashout, error) {
	var out Cashout
	err := l.view(func(r *rtx) error {
		rec, err := r.cashout(reference)
		if err != nil {
			return err
		}
		if rec == nil {
			return ErrCashoutNotFound
		}
		out = rec.snapshot(reference)
		return nil
	})
	return out, err
}

// HeldCashouts returns every cash-out whose outcome is not known yet (state CashoutHeld), in reference order.
// A resolver asks BestCash about each until it is settled. It reads only the index of open cash-outs; on a ledger
// made before that index existed, the first call builds it through the writer.
func (l *Ledger) HeldCashouts(ctx context.Context) ([]Cashout, error) {
	out, indexed, err := l.heldCashouts()
	if err != nil || indexed {
		return out, err
	}
	if _, err := writeOp(ctx, l, func(w *wtx) (struct{}, error) {
		_, err := w.openCashouts()
		return struct{}{}, err
	}); err != nil {
		return nil, fmt.Errorf("held cash-outs: %w", err)
	}
	if out, indexed, err = l.heldCashouts(); err == nil && !indexed {
		err = fmt.Errorf("held cash-outs: the open cash-out index was built but is missing")
	}
	return out, err
}

// heldCashouts reads the open cash-outs from their index; indexed is false when the ledger has no index yet.
func (l *Ledger) heldCashouts() (out []Cashout, indexed bool, err error) {
	err = l.view(func(r *rtx) error {
		idx := r.tx.Bucket(bucketCashoutsOpen)
		if idx == nil {
			return nil
		}
		indexed = true
		cashouts := r.tx.Bucket(bucketCashouts)
		return idx.ForEach(func(k, _ []byte) error {
			var rec cashoutRecord
			found, err := getJSON(cashouts, k, &rec)
			if err != nil {
				return err
			}
			if !found || rec.State != CashoutHeld {
				return fmt.Errorf("open cash-out index names %s, which is not held", k)
			}
			out = append(out, rec.snapshot(string(k)))
			return nil
		})
	})
	return out, indexed, err
}

// cashout reads the cash-out under reference: nil when there is none.
func (r *rtx) cashout(reference string) (*cashoutRecord, error) {
	var rec cashoutRecord
	ok, err := getJSON(r.tx.Bucket(bucketCashouts), []byte(reference), &rec)
	if !ok || err != nil {
		return nil, err
	}
	return &rec, nil
}

func (w *wtx) putCashout(reference string, rec *cashoutRecord) error {
	return putJSON(w.tx.Bucket(bucketCashouts), []byte(reference), rec)
}
