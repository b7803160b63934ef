package outbound

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// VirtualAccountConfig are the settings of the core-banking virtual-account API (seed 001): the base URL, the
// bearer token, and the classificationCode of debits and of credits (they tell the core banking which ledger and
// payment type to use).
type VirtualAccountConfig struct {
	URL, Token, DebitClassification, CreditClassification string
}

// VirtualAccount mirrors card movements of wallets that carry a virtualAccountId onto that account: approved
// debits with Debit, reversals with Credit. The transactionReference sent is ours, so a repeat is recognisable.
type VirtualAccount struct {
	base string
	cfg  VirtualAccountConfig
	ep   endpoint
}

// NewVirtualAccount returns a virtual-account client; m may be nil.
func NewVirtualAccount(cfg VirtualAccountConfig, hc *http.Client, m *Metrics) *VirtualAccount {
	auth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+cfg.Token) }
	return &VirtualAccount{
		base: strings.TrimRight(cfg.URL, "/"),
		cfg:  cfg,
		ep:   newEndpoint(PartnerVirtualAccount, hc, m, auth, cfg.Token),
	}
}

// Mirror is one card movement to mirror on a virtual account.
type Mirror struct {
	AccountID string // the wallet's virtualAccountId
	Reference string // our transactionReference (of the debit, or of the reversal)
	Currency  string // ISO 4217 numeric
	Amount    int64  // minor units
	Merchant  string // merchantId (and, when known, the card acceptor's name and location)
	Terminal  string // terminalId
	RRN       string // retrieval reference number
}

// Debit mirrors an approved card debit (POST {url}/debit/uni with the debit classification).
func (c *VirtualAccount) Debit(ctx context.Context, m Mirror) error {
	return c.post(ctx, "debit", "/debit/uni", c.cfg.DebitClassification, "Card debit", m)
}

// Credit mirrors a reversal (POST {url}/credit/uni with the credit classification).
func (c *VirtualAccount) Credit(ctx context.Context, m Mirror) error {
	return c.post(ctx, "credit", "/credit/uni", c.cfg.CreditClassification, "Card reversal", m)
}

// Narration is the narration sent for a mirror: what happened, merchant, terminal and RRN.
func Narration(kind string, m Mirror) string {
	return fmt.Sprintf("%s merchant %s terminal %s RRN %s", kind, m.Merchant, m.Terminal, m.RRN)
}

type vaRequest struct {
	AccountID            string      `json:"accountID"`
	ClassificationCode   string      `json:"classificationCode"`
	Amount               json.Number `json:"amount"`
	Narration            string      `json:"narration"`
	TransactionReference string      `json:"transactionReference"`
}

// post sends one mirror. The answer counts only with "success": true; "success": false is a permanent
// *PartnerError wrapping ErrRejected with the partner's message (the partner decided: resending the same
// movement cannot change its mind, an operator can retry the dead letter by hand).
func (c *VirtualAccount) post(ctx context.Context, op, path, classification, kind string, m Mirror) error {
	amount, _, err := majorText(m.Amount, m.Currency)
	if err != nil {
		return errorf(PartnerVirtualAccount, op, err)
	}
	if m.AccountID == "" || m.Reference == "" {
		return c.ep.required(op, "accountID and transactionReference")
	}
	body := vaRequest{AccountID: m.AccountID, ClassificationCode: classification, Amount: json.Number(amount),
		Narration: Narration(kind, m), TransactionReference: m.Reference}
	return c.ep.call(ctx, op, http.MethodPost, c.base+path, body, func(r reply) (string, error) {
		if r.status < 200 || r.status > 299 {
			return c.ep.statusFailure(op, r, nil)
		}
		obj, ok := object(r.body)
		if !ok {
			return c.ep.garbage(op, r, "answer is not a JSON object")
		}
		success, ok := boolField(obj["success"])
		if !ok {
			return c.ep.garbage(op, r, `answer has no "success" field`)
		}
		if !success {
			code, msg := partnerMessage(r.body)
			if msg == "" {
				msg = "success: false"
			}
			return OutcomeDeclined, c.ep.fail(op, r.status, OutcomeDeclined, ErrRejected, true, code, msg, nil)
		}
		return OutcomeOK, nil
	})
}

// boolField reads a JSON boolean, also when sent as the string "true" or "false".
func boolField(raw json.RawMessage) (value, ok bool) {
	if raw == nil {
		return false, false
	}
	if json.Unmarshal(raw, &value) == nil {
		return value, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(s) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}
