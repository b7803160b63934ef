package server

import (
	"context"
	"time"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// The lien messages (CONTRACT 1.9): POST /lien/place holds amount + transactionFee of the available balance under
// the transactionReference; POST /lien/debit, named by originalTransactionReference, completes the lien (amount >
// 0) or releases it (amount 0). Both are signed and idempotent exactly like /debit.
var (
	lienPlaceMessage = message{route: RouteLienPlace, mac: mac.LienPlace,
		exec: func(s *Server, ctx context.Context, r *Request, env ledger.Envelope) (ledger.Answer, error) {
			return s.store.PlaceLien(ctx, ledger.LienPlaceRequest{Envelope: env, WalletID: r.WalletID,
				Reference: r.TransactionReference, Currency: r.CurrencyCode, Amount: r.Amount, Fee: r.TransactionFee,
				Details: details(r)})
		}}
	lienDebitMessage = message{route: RouteLienDebit, mac: mac.LienDebit,
		exec: func(s *Server, ctx context.Context, r *Request, env ledger.Envelope) (ledger.Answer, error) {
			return s.store.DebitLien(ctx, ledger.LienDebitRequest{Envelope: env, WalletID: r.WalletID,
				Reference: r.TransactionReference, Original: r.OriginalTransactionReference, Currency: r.CurrencyCode,
				Amount: r.Amount, Fee: r.TransactionFee, Details: details(r)})
		}}
)

// lienView is the lien part of the admin transaction look-up.
type lienView struct {
	ExpiresAt     time.Time  `json:"expiresAt"`
	CompletedAt   *time.Time `json:"completedAt,omitempty"`
	DebitedAmount int64      `json:"debitedAmount,omitempty"`
	ReleasedAt    *time.Time `json:"releasedAt,omitempty"`
	ReleaseReason string     `json:"releaseReason,omitempty"` // "switch" (a lien debit of 0) or "expired"
	EndedBy       string     `json:"endedBy,omitempty"`       // the lien debit's transactionReference
	EndEntry      uint64     `json:"endJournalEntry,omitempty"`
}

func viewLien(t ledger.Transaction) *lienView {
	if t.Lien == nil {
		return nil
	}
	v := &lienView{ExpiresAt: t.Lien.ExpiresAt, ReleaseReason: t.Lien.ReleaseReason, EndedBy: t.Lien.EndedBy,
		EndEntry: t.Lien.EndEntry}
	ended := t.Lien.EndedAt
	switch t.State {
	case ledger.StateCompleted:
		v.CompletedAt, v.DebitedAmount = &ended, t.Lien.Debited
	case ledger.StateReleased:
		v.ReleasedAt = &ended
	}
	return v
}
