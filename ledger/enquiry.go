package ledger

import (
	"context"
	"errors"
	"fmt"
)

// EnquiryRequest asks for a wallet's balance and name (CONTRACT 1.8).
type EnquiryRequest struct {
	Envelope
	WalletID string
	Currency string // optional: when given it must be the wallet's
}

// Enquire answers a balance enquiry from a read-only transaction, without entering the writer: an enquiry moves
// nothing, so it never waits behind a batch of debits. It checks the wallet as a debit would (exists, active,
// currency when given) and, when it approves, sets Outcome.Wallet to the wallet as read, whose Available() is the
// same available balance debits are decided against.
//
// Nothing is stored: the requestId of an enquiry is not remembered, so a repeated enquiry reads the balance as it
// is then. Render is called once with the outcome, outside any transaction. Besides storage failures (ErrStorage,
// ErrClosed) it returns *FieldError for an envelope the server should have refused.
func (l *Ledger) Enquire(ctx context.Context, q EnquiryRequest) (Answer, error) {
	if err := q.Envelope.validate(); err != nil {
		return Answer{}, err
	}
	if err := ctx.Err(); err != nil {
		return Answer{}, err
	}
	var rec *walletRecord
	err := l.view(func(r *rtx) error {
		var err error
		rec, err = r.wallet(q.WalletID)
		return err
	})
	switch {
	case errors.Is(err, ErrClosed):
		return Answer{}, ErrClosed
	case err != nil:
		return Answer{}, fmt.Errorf("%w: enquiry: %v", ErrStorage, err)
	}
	var out Outcome
	switch {
	case rec == nil:
		out.Decline = ErrWalletNotFound
	case rec.Status != StatusActive:
		out.Decline = ErrWalletNotActive
	case q.Currency != "" && q.Currency != rec.Currency:
		out.Decline = ErrCurrencyMismatch
	default:
		w := rec.snapshot()
		out.Wallet = &w
	}
	resp, err := q.Render(out)
	if err != nil {
		return Answer{}, fmt.Errorf("render answer: %w", err)
	}
	return Answer{Response: resp, Outcome: out}, nil
}
