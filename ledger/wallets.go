package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is a wallet's state. Only active wallets can be debited.
type Status string

const (
	StatusActive Status = "active"
	StatusFrozen Status = "frozen"
	// StatusClosed is final: a closed wallet is never reopened or credited; reversals still return money to it.
	StatusClosed Status = "closed"
)

// Valid reports whether s is one of the three statuses.
func (s Status) Valid() bool { return s == StatusActive || s == StatusFrozen || s == StatusClosed }

// Wallet is a snapshot of one wallet.
type Wallet struct {
	ID               string
	Currency         string // ISO 4217 numeric, e.g. "566"
	Name             string
	Status           Status
	DailyDebitLimit  int64 // minor units per UTC day; 0 means no limit
	Phone            string
	VirtualAccountID string
	Balance          int64 // ledger balance, minor units
	Held             int64 // held by liens, minor units
	CreatedAt        time.Time
}

// Available is the balance that debits may spend: the ledger balance less what is held.
func (w Wallet) Available() int64 { return w.Balance - w.Held }

func (r *walletRecord) snapshot() Wallet {
	return Wallet{
		ID: r.ID, Currency: r.Currency, Name: r.Name, Status: r.Status, DailyDebitLimit: r.DailyDebitLimit,
		Phone: r.Phone, VirtualAccountID: r.VirtualAccountID, Balance: r.Balance, Held: r.Held,
		CreatedAt: time.Unix(0, r.CreatedAt).UTC(),
	}
}

// Field limits of admin inputs.
const (
	MaxWalletIDLen  = 64
	MaxNameLen      = 128
	MaxReferenceLen = 64
	MaxNarrationLen = 256
)

// NewWallet is the input of CreateWallet.
type NewWallet struct {
	ID               string
	Currency         string
	Name             string
	DailyDebitLimit  int64
	Phone            string
	VirtualAccountID string
}

func validID(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// ValidCurrency reports whether s is a 3-digit ISO 4217 numeric code.
func ValidCurrency(s string) bool {
	return len(s) == 3 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

func validText(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) { // C0, DEL and C1
			return false
		}
	}
	return true
}

func validPhone(s string) bool {
	if s == "" {
		return true
	}
	digits := s
	if s[0] == '+' {
		digits = s[1:]
	}
	if len(digits) < 6 || len(digits) > 15 {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

func (n NewWallet) validate() error {
	switch {
	case !validID(n.ID, MaxWalletIDLen):
		return &FieldError{Field: "walletId", Reason: fmt.Sprintf("1 to %d characters of A-Z a-z 0-9 . _ : -", MaxWalletIDLen)}
	case !ValidCurrency(n.Currency):
		return &FieldError{Field: "currencyCode", Reason: "3-digit ISO 4217 numeric code"}
	case n.Name == "" || !validText(n.Name, MaxNameLen):
		return &FieldError{Field: "name", Reason: fmt.Sprintf("1 to %d printable characters", MaxNameLen)}
	case n.DailyDebitLimit < 0:
		return &FieldError{Field: "dailyDebitLimit", Reason: "must not be negative (0 means no limit)"}
	case !validPhone(n.Phone):
		return &FieldError{Field: "phone", Reason: "international number: optional +, then 6 to 15 digits"}
	case n.VirtualAccountID != "" && !validID(n.VirtualAccountID, MaxWalletIDLen):
		return &FieldError{Field: "virtualAccountId", Reason: fmt.Sprintf("up to %d characters of A-Z a-z 0-9 . _ : -", MaxWalletIDLen)}
	}
	return nil
}

// CreateWallet creates an active wallet with a zero balance. It returns ErrWalletExists when the id is taken and
// a *FieldError (wrapping ErrInvalid) for malformed input.
func (l *Ledger) CreateWallet(ctx context.Context, n NewWallet) (Wallet, error) {
	if err := n.validate(); err != nil {
		return Wallet{}, err
	}
	return writeOp(ctx, l, func(w *wtx) (Wallet, error) {
		existing, err := w.wallet(n.ID)
		if err != nil || existing != nil {
			return Wallet{}, orBusiness(err, ErrWalletExists)
		}
		rec := &walletRecord{
			ID: n.ID, Currency: n.Currency, Name: n.Name, Status: StatusActive, DailyDebitLimit: n.DailyDebitLimit,
			Phone: n.Phone, VirtualAccountID: n.VirtualAccountID, CreatedAt: w.now.UnixNano(),
		}
		return rec.snapshot(), w.putWallet(rec)
	})
}

// Wallet returns a snapshot of one wallet, or ErrWalletNotFound.
func (l *Ledger) Wallet(ctx context.Context, id string) (Wallet, error) {
	var out Wallet
	err := l.view(func(r *rtx) error {
		rec, err := r.wallet(id)
		if err != nil {
			return err
		}
		if rec == nil {
			return ErrWalletNotFound
		}
		out = rec.snapshot()
		return nil
	})
	return out, err
}

// SetStatus changes a wallet's status. A closed wallet stays closed (ErrWalletClosed).
func (l *Ledger) SetStatus(ctx context.Context, id string, s Status) (Wallet, error) {
	if !s.Valid() {
		return Wallet{}, &FieldError{Field: "status", Reason: "one of active, frozen, closed"}
	}
	return writeOp(ctx, l, func(w *wtx) (Wallet, error) {
		rec, err := w.wallet(id)
		switch {
		case err != nil:
			return Wallet{}, err
		case rec == nil:
			return Wallet{}, business(ErrWalletNotFound)
		case rec.Status == StatusClosed && s != StatusClosed:
			return Wallet{}, business(ErrWalletClosed)
		case rec.Status == s:
			return rec.snapshot(), nil
		}
		rec.Status = s
		return rec.snapshot(), w.putWallet(rec)
	})
}

// Credit is the input of Credit: funding a wallet from the funding account.
type Credit struct {
	WalletID  string
	Amount    int64
	Reference string
	Narration string
}

// Credit moves Amount from the currency's funding account into the wallet, once per Reference. Repeating a
// reference with the same wallet, amount and narration changes nothing and returns the wallet as it is now;
// with anything else it returns ErrCreditConflict. Frozen wallets can be credited; closed ones cannot.
func (l *Ledger) Credit(ctx context.Context, c Credit) (Wallet, error) {
	switch {
	case c.Amount <= 0:
		return Wallet{}, &FieldError{Field: "amount", Reason: "a positive integer in minor units"}
	case !validID(c.Reference, MaxReferenceLen):
		return Wallet{}, &FieldError{Field: "reference", Reason: fmt.Sprintf("1 to %d characters of A-Z a-z 0-9 . _ : -", MaxReferenceLen)}
	case !validText(c.Narration, MaxNarrationLen):
		return Wallet{}, &FieldError{Field: "narration", Reason: fmt.Sprintf("up to %d printable characters", MaxNarrationLen)}
	}
	return writeOp(ctx, l, func(w *wtx) (Wallet, error) {
		var prev creditRecord
		found, err := getJSON(w.credits, []byte(c.Reference), &prev)
		if err != nil {
			return Wallet{}, err
		}
		rec, err := w.wallet(c.WalletID)
		if err != nil {
			return Wallet{}, err
		}
		if found {
			if prev.WalletID != c.WalletID || prev.Amount != c.Amount || prev.Narration != c.Narration {
				return Wallet{}, business(ErrCreditConflict)
			}
			if rec == nil {
				return Wallet{}, fmt.Errorf("credit %s names missing wallet %s", c.Reference, c.WalletID)
			}
			return rec.snapshot(), nil
		}
		switch {
		case rec == nil:
			return Wallet{}, business(ErrWalletNotFound)
		case rec.Status == StatusClosed:
			return Wallet{}, business(ErrWalletClosed)
		}
		e := &Entry{Kind: KindCredit, Reference: c.Reference, Currency: rec.Currency, Narration: c.Narration,
			Postings: []Posting{
				{Account: systemAccount(FundingAccount, rec.Currency), Amount: -c.Amount},
				{Account: walletAccount(rec.ID), Amount: c.Amount},
			}}
		seq, err := w.post(e, rec)
		if err == ErrOverflow {
			return Wallet{}, business(ErrOverflow)
		}
		if err != nil {
			return Wallet{}, err
		}
		if err := putJSON(w.credits, []byte(c.Reference), creditRecord{WalletID: rec.ID, Amount: c.Amount,
			Narration: c.Narration, Entry: seq}); err != nil {
			return Wallet{}, err
		}
		return rec.snapshot(), nil
	})
}

// StatementLine is one movement of a wallet, as its owner would read it.
type StatementLine struct {
	Seq       uint64 // journal entry; also the cursor for the next page
	Time      time.Time
	Kind      string
	Reference string
	Amount    int64 // signed change of the ledger balance, minor units
	Balance   int64 // ledger balance after the movement
	Narration string
}

// statementStart finds the wallet's newest entry older than before (0: its newest). A cursor Statement handed out
// names an entry of the wallet and is found at once; any other value is found by walking the statement from its
// head.
func (r *rtx) statementStart(ctx context.Context, rec *walletRecord, before uint64) (uint64, *Entry, error) {
	if before == 0 || before > rec.Last {
		return r.walletEntry(rec.ID, rec.Last)
	}
	if e, err := r.entry(before - 1); err == nil && e != nil && e.Wallet != nil && e.Wallet.ID == rec.ID {
		return before - 1, e, nil
	}
	seq, e, err := r.walletEntry(rec.ID, rec.Last)
	for steps := 1; err == nil && seq >= before; steps++ {
		if steps%4096 == 0 && ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		seq, e, err = r.prevEntry(rec.ID, seq, e)
	}
	return seq, e, err
}

// prevEntry reads the entry before e (journal entry seq) in walletID's statement. A link that does not lead to an
// older entry is damage (Audit names it): an error, never a walk that repeats lines or does not end.
func (r *rtx) prevEntry(walletID string, seq uint64, e *Entry) (uint64, *Entry, error) {
	if e.Wallet.Prev >= seq {
		return 0, nil, fmt.Errorf("statement of %s: journal entry %d links to %d, not to an older entry", walletID, seq,
			e.Wallet.Prev)
	}
	return r.walletEntry(walletID, e.Wallet.Prev)
}

// walletEntry reads journal entry seq as a line of walletID's statement; seq 0 is the end of the statement. A
// chain that leads outside the journal or to an entry that does not move the wallet is an error (Audit names it).
func (r *rtx) walletEntry(walletID string, seq uint64) (uint64, *Entry, error) {
	if seq == 0 {
		return 0, nil, nil
	}
	e, err := r.entry(seq)
	switch {
	case err != nil:
		return 0, nil, fmt.Errorf("statement of %s: %w", walletID, err)
	case e == nil:
		return 0, nil, fmt.Errorf("statement of %s: journal entry %d is missing", walletID, seq)
	case e.Wallet == nil || e.Wallet.ID != walletID:
		return 0, nil, fmt.Errorf("statement of %s: journal entry %d is not in it", walletID, seq)
	}
	return seq, e, nil
}

// entry reads journal entry seq, nil when there is none.
func (r *rtx) entry(seq uint64) (*Entry, error) {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	e, _, err := getEntry(r.journal, k[:])
	return e, err
}

// walletDelta is the signed change entry e makes to walletID's balance (0 for a memo entry).
func walletDelta(e *Entry, walletID string) int64 {
	account := walletAccount(walletID)
	var sum int64
	for _, p := range e.Postings {
		if p.Account == account {
			sum += p.Amount // post() checked the sum for overflow when it wrote the entry
		}
	}
	return sum
}

func statementLine(walletID string, e *Entry) StatementLine {
	return StatementLine{Seq: e.Seq, Time: e.Time.UTC(), Kind: e.Kind, Reference: e.Reference,
		Amount: walletDelta(e, walletID), Balance: e.Wallet.Balance, Narration: e.Narration}
}

// MaxStatementPage caps one page of Statement.
const MaxStatementPage = 500

// Statement returns up to limit movements of the wallet, newest first, older than the entry before (0: from the
// newest). next is the cursor for the following page, 0 when there is none.
func (l *Ledger) Statement(ctx context.Context, walletID string, before uint64, limit int) (lines []StatementLine, next uint64, err error) {
	if limit <= 0 || limit > MaxStatementPage {
		limit = MaxStatementPage
	}
	err = l.view(func(r *rtx) error {
		rec, err := r.wallet(walletID)
		if err != nil {
			return err
		}
		if rec == nil {
			return ErrWalletNotFound
		}
		seq, e, err := r.statementStart(ctx, rec, before)
		if err != nil {
			return err
		}
		for seq != 0 {
			if len(lines) == limit {
				next = seq + 1
				return nil
			}
			lines = append(lines, statementLine(rec.ID, e))
			if seq, e, err = r.prevEntry(rec.ID, seq, e); err != nil {
				return err
			}
		}
		return nil
	})
	return lines, next, err
}

// businessError carries an admin operation's refusal out of the writer without aborting the batch.
type businessError struct{ err error }

func business(err error) error { return businessError{err} }

func (b businessError) Error() string { return b.err.Error() }

// orBusiness returns the storage error when there is one, else the business refusal.
func orBusiness(storage, refusal error) error {
	if storage != nil {
		return storage
	}
	if refusal == nil {
		return nil
	}
	return business(refusal)
}

// writeOp runs fn in the writer. A businessError from fn is a refusal: the operation is answered with it and
// the rest of the batch carries on (fn must not have written anything before refusing). Any other error is a
// storage failure.
func writeOp[T any](ctx context.Context, l *Ledger, fn func(w *wtx) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	r, err := submit(ctx, l, func(w *wtx) (result, error) {
		v, err := fn(w)
		if be, ok := err.(businessError); ok {
			return result{err: be.err}, nil
		}
		return result{v: v}, err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return r.v, r.err
}
