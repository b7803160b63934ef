// Package respcodes holds the ISO 8583 response codes walletgate answers the card switch with (CONTRACT 1.5) and
// the one mapping from ledger outcomes and errors to those codes. No other package picks a wire code itself.
package respcodes

import (
	"errors"

	"github.com/walletgate/walletgate/ledger"
)

// Code is a two-character ISO 8583 response code as sent in "responseCode".
type Code string

const (
	// Approved: the message was executed (or, for a reversal of something with nothing left to give back,
	// acknowledged).
	Approved Code = "00"
	// InvalidTransaction: bad or missing MAC; a debit whose transactionReference was already reversed; a currency
	// that is not the wallet's; a reversal naming another wallet's transaction.
	InvalidTransaction Code = "12"
	// InvalidAmount: amount <= 0 on debit/place-lien, negative fee, overflow, reversal above what remains.
	InvalidAmount Code = "13"
	// NoSuchWallet: walletId unknown (ISO: "no such issuer").
	NoSuchWallet Code = "14"
	// OriginalNotFound: reversal or lien debit for an unknown original ("unable to locate record"); lien debit of
	// a lien already released.
	OriginalNotFound Code = "25"
	// FormatError: missing required field, wrong JSON type, body that is not a JSON object.
	FormatError Code = "30"
	// InsufficientFunds: available balance < amount + transactionFee.
	InsufficientFunds Code = "51"
	// NotPermitted: wallet frozen or closed ("transaction not permitted to cardholder").
	NotPermitted Code = "57"
	// ExceedsLimit: the wallet's daily debit limit would be exceeded.
	ExceedsLimit Code = "61"
	// Duplicate: requestId reused with another fingerprint; transactionReference reused with another wallet,
	// amount, fee or currency.
	Duplicate Code = "94"
	// SystemMalfunction: storage failed and nothing was committed.
	SystemMalfunction Code = "96"
)

// All lists every code, in numeric order.
func All() []Code {
	return []Code{Approved, InvalidTransaction, InvalidAmount, NoSuchWallet, OriginalNotFound, FormatError,
		InsufficientFunds, NotPermitted, ExceedsLimit, Duplicate, SystemMalfunction}
}

var declineCodes = map[error]Code{
	ledger.ErrWalletNotFound:    NoSuchWallet,
	ledger.ErrWalletNotActive:   NotPermitted,
	ledger.ErrCurrencyMismatch:  InvalidTransaction,
	ledger.ErrInsufficientFunds: InsufficientFunds,
	ledger.ErrLimitExceeded:     ExceedsLimit,
	ledger.ErrAlreadyReversed:   InvalidTransaction,
	ledger.ErrOriginalNotFound:  OriginalNotFound,
	ledger.ErrOriginalMismatch:  InvalidTransaction,
	ledger.ErrExceedsRemaining:  InvalidAmount,
	ledger.ErrReferenceConflict: Duplicate,
	ledger.ErrOverflow:          InvalidAmount,
	ledger.ErrLienReleased:      OriginalNotFound,
}

// FromOutcome maps a ledger decision to its code. A decline the table does not know (a record written by a newer
// version) maps to SystemMalfunction rather than to anything that could read as approval.
func FromOutcome(o ledger.Outcome) Code {
	if o.Decline == nil {
		return Approved
	}
	if c, ok := declineCodes[o.Decline]; ok {
		return c
	}
	return SystemMalfunction
}

// FromError maps an error of a ledger operation (not a decline) to its code. ok is false for
// ledger.ErrOutcomeUnknown and anything unrecognised that may hide a commit: then no code may be answered
// (CONTRACT 1.3).
func FromError(err error) (c Code, ok bool) {
	switch {
	case errors.Is(err, ledger.ErrRequestConflict):
		return Duplicate, true
	case errors.Is(err, ledger.ErrOutcomeUnknown):
		return "", false
	case errors.Is(err, ledger.ErrStorage), errors.Is(err, ledger.ErrClosed):
		return SystemMalfunction, true
	case errors.Is(err, ledger.ErrInvalid):
		return FormatError, true
	}
	return "", false
}
