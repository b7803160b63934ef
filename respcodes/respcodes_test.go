package respcodes

import (
	"errors"
	"fmt"
	"testing"

	"github.com/walletgate/walletgate/ledger"
)

func TestCodesAreTheContracts(t *testing.T) {
	want := []string{"00", "12", "13", "14", "25", "30", "51", "57", "61", "94", "96"}
	got := All()
	if len(got) != len(want) {
		t.Fatalf("All() has %d codes, want %d", len(got), len(want))
	}
	for i, c := range got {
		if string(c) != want[i] {
			t.Errorf("All()[%d] = %s, want %s", i, c, want[i])
		}
	}
}

func TestFromOutcome(t *testing.T) {
	cases := map[error]Code{
		nil:                         Approved,
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
	for decline, want := range cases {
		t.Run(fmt.Sprint(decline), func(t *testing.T) {
			if got := FromOutcome(ledger.Outcome{Decline: decline}); got != want {
				t.Errorf("FromOutcome(%v) = %s, want %s", decline, got, want)
			}
		})
	}
	// Every decline the ledger can produce is in the table above, so a new one cannot slip through unmapped.
	for _, d := range ledger.Declines() {
		if _, ok := cases[d]; !ok {
			t.Errorf("decline %v has no expected code in this test", d)
		}
		if FromOutcome(ledger.Outcome{Decline: d}) == Approved {
			t.Errorf("decline %v maps to approved", d)
		}
	}
	if got := FromOutcome(ledger.Outcome{Decline: errors.New("from a newer version")}); got != SystemMalfunction {
		t.Errorf("an unknown decline maps to %s, want 96", got)
	}
}

func TestFromError(t *testing.T) {
	cases := []struct {
		err  error
		code Code
		ok   bool
	}{
		{ledger.ErrRequestConflict, Duplicate, true},
		{fmt.Errorf("wrapped: %w", ledger.ErrStorage), SystemMalfunction, true},
		{ledger.ErrClosed, SystemMalfunction, true},
		{&ledger.FieldError{Field: "amount", Reason: "x"}, FormatError, true},
		{fmt.Errorf("commit: %w", ledger.ErrOutcomeUnknown), "", false},
		{errors.New("anything else may hide a commit"), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.err.Error(), func(t *testing.T) {
			code, ok := FromError(tc.err)
			if code != tc.code || ok != tc.ok {
				t.Errorf("FromError = %q, %v; want %q, %v", code, ok, tc.code, tc.ok)
			}
		})
	}
}
