package ledger

import "errors"

// Declines: the business reasons a switch message is not approved. They are outcomes, not failures: a decline is
// committed and remembered like an approval (the switch may ask again and must get the same answer). They reach the
// caller as Outcome.Decline; package respcodes maps each to its wire code.
var (
	// ErrWalletNotFound is returned when the message names a wallet that does not exist.
	ErrWalletNotFound = errors.New("wallet not found")

	// ErrWalletNotActive is returned when the wallet is frozen or closed.
	ErrWalletNotActive = errors.New("wallet not active")

	// ErrCurrencyMismatch is returned when the message's currency is not the wallet's.
	ErrCurrencyMismatch = errors.New("currency differs from the wallet's")

	// ErrInsufficientFunds is returned when the available balance does not cover amount plus fee.
	ErrInsufficientFunds = errors.New("insufficient funds")

	// ErrLimitExceeded is returned when a debit would take the wallet past its daily debit limit.
	ErrLimitExceeded = errors.New("daily debit limit exceeded")

	// ErrAlreadyReversed is returned for a debit whose transactionReference was reversed before (or whose
	// reversal arrived first and found no original).
	ErrAlreadyReversed = errors.New("transaction already reversed")

	// ErrOriginalNotFound is returned when a reversal names an original transaction the ledger never saw.
	ErrOriginalNotFound = errors.New("original transaction not found")

	// ErrOriginalMismatch is returned when a reversal names an approved original of another wallet or currency.
	ErrOriginalMismatch = errors.New("original transaction belongs to another wallet or currency")

	// ErrExceedsRemaining is returned when a reversal asks for more than what remains of the original.
	ErrExceedsRemaining = errors.New("amount exceeds what remains of the original")

	// ErrReferenceConflict is returned when a transactionReference is reused with another wallet, amount, fee or
	// currency (or, for a reversal, another original).
	ErrReferenceConflict = errors.New("transaction reference reused with different details")

	// ErrOverflow is returned when a movement would overflow an int64 balance.
	ErrOverflow = errors.New("amount overflows a balance")

	// ErrLienReleased is returned when a lien debit of a positive amount names a lien that was already released
	// (by the switch, or because its time to live ran out): nothing is held any more, so nothing is debited.
	ErrLienReleased = errors.New("lien already released")
)

// Errors of the idempotency layer.
var (
	// ErrRequestConflict is returned when a requestId was seen before with another fingerprint. Nothing is stored:
	// the requestId keeps its first meaning.
	ErrRequestConflict = errors.New("request id reused with a different message")

	// ErrNotRecorded is returned by Replay when the requestId has no durable answer (yet).
	ErrNotRecorded = errors.New("request not recorded")
)

// Failures: nothing was decided. The caller must not invent an outcome.
var (
	// ErrStorage is returned when a write failed and nothing of the operation was committed. It is safe to answer
	// "system malfunction" and to retry later.
	ErrStorage = errors.New("ledger storage failure, nothing committed")

	// ErrOutcomeUnknown is returned when a commit failed after bbolt may already have written its meta page: the
	// operation may or may not survive a crash. The ledger stops taking writes; the caller must not answer with a
	// code. Only a restart (which reads what is really on disk) clears it.
	ErrOutcomeUnknown = errors.New("ledger commit outcome unknown")

	// ErrClosed is returned for operations submitted after Close began.
	ErrClosed = errors.New("ledger closed")

	// ErrNotLedger is returned by Open when the file is a bbolt database that walletgate did not create.
	ErrNotLedger = errors.New("not a walletgate ledger")

	// ErrCorrupt is returned by Open when the file is a damaged bbolt database: a page fails bbolt's consistency
	// check. Open leaves the file as it is.
	ErrCorrupt = errors.New("ledger file is damaged; walletgate will not use it: restore it from a backup")
)

// Errors of the admin operations.
var (
	// ErrWalletExists is returned by CreateWallet when the walletId is taken.
	ErrWalletExists = errors.New("wallet already exists")

	// ErrInvalid is returned (wrapped in a *FieldError) when an admin input is malformed.
	ErrInvalid = errors.New("invalid value")

	// ErrCreditConflict is returned when a credit reference is reused with another wallet, amount or narration.
	ErrCreditConflict = errors.New("credit reference reused with a different body")

	// ErrWalletClosed is returned when crediting or changing the status of a closed wallet.
	ErrWalletClosed = errors.New("wallet closed")

	// ErrTransactionNotFound is returned by Transaction for an unknown reference.
	ErrTransactionNotFound = errors.New("transaction not found")
)

// FieldError names the admin input field that is wrong and wraps ErrInvalid.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "field " + e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// declineNames gives every decline a stable name for storage. Names are persisted: never rename one.
var declineNames = map[error]string{
	ErrWalletNotFound:    "wallet_not_found",
	ErrWalletNotActive:   "wallet_not_active",
	ErrCurrencyMismatch:  "currency_mismatch",
	ErrInsufficientFunds: "insufficient_funds",
	ErrLimitExceeded:     "limit_exceeded",
	ErrAlreadyReversed:   "already_reversed",
	ErrOriginalNotFound:  "original_not_found",
	ErrOriginalMismatch:  "original_mismatch",
	ErrExceedsRemaining:  "exceeds_remaining",
	ErrReferenceConflict: "reference_conflict",
	ErrOverflow:          "overflow",
	ErrLienReleased:      "lien_released",
}

var declinesByName = func() map[string]error {
	m := make(map[string]error, len(declineNames))
	for err, name := range declineNames {
		m[name] = err
	}
	return m
}()

// Declines lists every decline reason, for exhaustive tests of the code mapping.
func Declines() []error {
	out := make([]error, 0, len(declineNames))
	for err := range declineNames {
		out = append(out, err)
	}
	return out
}

func declineName(err error) string {
	if err == nil {
		return ""
	}
	return declineNames[err]
}

func declineByName(name string) error {
	if name == "" {
		return nil
	}
	if err, ok := declinesByName[name]; ok {
		return err
	}
	// A name written by a newer version: refuse rather than approve by accident.
	return errors.New("unknown stored decline " + name)
}
