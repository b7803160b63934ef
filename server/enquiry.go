package server

import (
	"context"
	"encoding/json"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/respcodes"
)

// enquiryMessage is POST /enquiry (CONTRACT 1.8): decided from a read transaction of the ledger, so its answer never
// waits for a commit. Idempotency is /debit's: the ledger remembers the signed answer under the requestId (without
// making the answer wait for that write), a repeat gets the same bytes even after the balance moved, and a
// requestId reused with another fingerprint, before or after, is 94. Like a debit's, the 14, 57 and 12 (currency)
// answers are remembered; 30 from validation and 12 for a bad MAC are not.
var enquiryMessage = message{route: RouteEnquiry, mac: mac.Enquiry,
	exec: func(s *Server, ctx context.Context, r *Request, env ledger.Envelope) (ledger.Answer, error) {
		return s.store.Enquire(ctx, ledger.EnquiryRequest{Envelope: env, WalletID: r.WalletID, Currency: r.CurrencyCode})
	},
	render: func(s *Server, r *Request, o ledger.Outcome, key mac.KeyID) ([]byte, error) {
		return s.signEnquiry(r, o, key)
	},
}

// enquiryResponse is the enquiry's answer: the common fields of CONTRACT 1.3, amount being the available balance,
// then the ledger balance, currency and account name. A decline carries amount 0 and none of the three.
type enquiryResponse struct {
	RequestID            string         `json:"requestId"`
	ResponseCode         respcodes.Code `json:"responseCode"`
	Amount               int64          `json:"amount"`
	TransactionReference string         `json:"transactionReference"`
	MAC                  string         `json:"mac"`
	LedgerBalance        *int64         `json:"ledgerBalance,omitempty"`
	CurrencyCode         string         `json:"currencyCode,omitempty"`
	AccountName          string         `json:"accountName,omitempty"`
}

func (s *Server) signEnquiry(r *Request, o ledger.Outcome, key mac.KeyID) ([]byte, error) {
	code := respcodes.FromOutcome(o)
	out := enquiryResponse{
		RequestID:            r.RequestID,
		ResponseCode:         code,
		TransactionReference: r.TransactionReference,
		MAC:                  s.keys.SignResponse(key, r.TransactionReference, r.RequestID, string(code)),
	}
	if w := o.Wallet; w != nil && code == respcodes.Approved {
		ledgerBalance := w.Balance
		out.Amount, out.LedgerBalance, out.CurrencyCode, out.AccountName = w.Available(), &ledgerBalance, w.Currency, w.Name
	}
	return json.Marshal(out)
}
