package outbound

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ConnectorConfig are the settings of the payment platform connector's push API (seed 003): the base URL, the
// connector's API key (a path segment) and the HTTP Basic credentials.
type ConnectorConfig struct {
	URL, APIKey, User, Password string
}

// Connector pushes every final card outcome to the payment platform: debits (approved or declined), full
// reversals (void) and partial reversals (refund). The connector's transactionId is ours, so a DUPLICATE_ID
// answer means "already delivered" and the call returns nil.
type Connector struct {
	base string
	ep   endpoint
}

// NewConnector returns a connector client; m may be nil.
func NewConnector(cfg ConnectorConfig, hc *http.Client, m *Metrics) *Connector {
	auth := func(r *http.Request) { r.SetBasicAuth(cfg.User, cfg.Password) }
	return &Connector{
		base: strings.TrimRight(cfg.URL, "/") + "/" + url.PathEscape(cfg.APIKey),
		ep:   newEndpoint(PartnerConnector, hc, m, auth, cfg.APIKey, cfg.Password),
	}
}

// Push is one card outcome for the connector.
type Push struct {
	// TransactionID is the connector's transactionId: our transactionReference (at most 50 characters, unique
	// across debits, voids and refunds at the connector). For a void or refund it is the reversal's own
	// reference and must differ from ReferenceTransactionID.
	TransactionID string
	// ReferenceTransactionID is, for void and refund, the transactionReference of the debit.
	ReferenceTransactionID string
	Currency               string // ISO 4217 numeric; sent as alpha-3
	Amount                 int64  // minor units; sent as a decimal string in major units
	Approved               bool   // true: status "success"; false: status "failed" with error
	ResponseCode           string // declined: our response code, sent as error.code
	Message                string // declined: the decline's text, sent as error.message
	MerchantID             string
	TerminalID             string
	CardAcceptor           string // cardAcceptorNameLocation, sent as the statement descriptor
	RRN                    string // retrieval reference number
	STAN                   string // system trace audit number
	WalletID               string
	Time                   time.Time // when the outcome was decided; zero: the connector's now()
	LienReference          string    // a lien debit: the place-lien's transactionReference, sent in extraData
}

// Debit pushes a debit outcome (POST {url}/{apiKey}/debit).
func (c *Connector) Debit(ctx context.Context, p Push) error { return c.push(ctx, "debit", p) }

// Void pushes a full reversal of a debit (POST {url}/{apiKey}/void).
func (c *Connector) Void(ctx context.Context, p Push) error { return c.push(ctx, "void", p) }

// Refund pushes a partial reversal of a debit (POST {url}/{apiKey}/refund).
func (c *Connector) Refund(ctx context.Context, p Push) error { return c.push(ctx, "refund", p) }

type connError struct {
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
}

type connRequest struct {
	TransactionID          string            `json:"transactionId"`
	ReferenceTransactionID string            `json:"referenceTransactionId,omitempty"`
	Amount                 string            `json:"amount"`
	Currency               string            `json:"currency"`
	Status                 string            `json:"status"`
	CreatedAt              string            `json:"createdAt,omitempty"`
	AdditionalID1          string            `json:"additionalId1,omitempty"`
	AdditionalID2          string            `json:"additionalId2,omitempty"`
	Description            string            `json:"description,omitempty"`
	Descriptor             string            `json:"descriptor,omitempty"`
	ExtraData              map[string]string `json:"extraData,omitempty"`
	Error                  *connError        `json:"error,omitempty"`
}

// connAmount is the connector's amount pattern.
var connAmount = regexp.MustCompile(`^(([0-9]+)|([0-9]+\.[0-9]{1,3}))$`)

// Connector error codes (seed 003).
const (
	connMissingFields    = "MISSING_FIELDS"
	connInvalidData      = "INVALID_DATA"
	connDuplicateID      = "DUPLICATE_ID"
	connInvalidReference = "INVALID_REFERENCE"
)

func (c *Connector) push(ctx context.Context, op string, p Push) error {
	amount, cur, err := majorText(p.Amount, p.Currency)
	if err != nil {
		return errorf(PartnerConnector, op, err)
	}
	if cur.Exponent > 3 { // at most 3 decimals: drop the zeros a longer exponent adds (none in the table today)
		amount = strings.TrimSuffix(strings.TrimRight(amount, "0"), ".")
	}
	if !connAmount.MatchString(amount) {
		return errorf(PartnerConnector, op, ErrAmount)
	}
	switch {
	case p.TransactionID == "" || len(p.TransactionID) > 50:
		return c.ep.fail(op, 0, OutcomeInvalid, ErrInvalid, true, "", "transactionId must have 1 to 50 characters", nil)
	case op != "debit" && p.ReferenceTransactionID == "":
		return c.ep.fail(op, 0, OutcomeInvalid, ErrInvalid, true, "", "referenceTransactionId is required", nil)
	case op != "debit" && p.ReferenceTransactionID == p.TransactionID:
		// The connector would answer DUPLICATE_ID, which we would take for "delivered": refuse instead.
		return c.ep.fail(op, 0, OutcomeInvalid, ErrInvalid, true, "", "transactionId of a reversal must differ from the debit's", nil)
	}
	body := connRequest{
		TransactionID:          p.TransactionID,
		ReferenceTransactionID: p.ReferenceTransactionID,
		Amount:                 amount,
		Currency:               cur.Alpha,
		Status:                 "success",
		AdditionalID1:          limit(p.RRN, 50),
		AdditionalID2:          limit(p.STAN, 50),
		Description:            limit("card "+op+" "+p.TransactionID, 255),
		Descriptor:             limit(p.CardAcceptor, 50),
	}
	if op == "debit" {
		body.ReferenceTransactionID = ""
	}
	if !p.Time.IsZero() {
		body.CreatedAt = p.Time.UTC().Format(time.RFC3339)
	}
	extra := map[string]string{"merchantId": p.MerchantID, "terminalId": p.TerminalID, "rrn": p.RRN,
		"stan": p.STAN, "walletId": p.WalletID, "lienReference": p.LienReference}
	for k, v := range extra {
		if v == "" {
			delete(extra, k)
		}
	}
	if len(extra) > 0 {
		body.ExtraData = extra
	}
	if !p.Approved {
		body.Status = "failed"
		body.Error = &connError{Message: limit(p.Message, 60), Code: limit(p.ResponseCode, 20)}
		if body.Error.Message == "" {
			body.Error.Message = "Transaction declined"
		}
	}
	return c.ep.call(ctx, op, http.MethodPost, c.base+"/"+op, body, func(r reply) (string, error) {
		obj, isObj := object(r.body)
		code, msg := partnerMessage(r.body)
		success, hasSuccess := boolField(obj["success"])
		if isObj && code != "" && !(hasSuccess && success) {
			switch code {
			case connDuplicateID:
				return OutcomeDuplicate, nil
			case connMissingFields, connInvalidData:
				return OutcomeInvalid, c.ep.fail(op, r.status, OutcomeInvalid, ErrInvalid, true, code, msg, nil)
			case connInvalidReference:
				// The debit it names may not be delivered yet (or was dead-lettered): retry with backoff.
				return OutcomeDeclined, c.ep.fail(op, r.status, OutcomeDeclined, ErrRejected, false, code, msg, nil)
			}
		}
		if r.status < 200 || r.status > 299 {
			return c.ep.statusFailure(op, r, nil)
		}
		if !isObj || !hasSuccess {
			return c.ep.garbage(op, r, `answer has no "success" field`)
		}
		if !success { // an error code the seed does not list: not known to be permanent
			return OutcomeDeclined, c.ep.fail(op, r.status, OutcomeDeclined, ErrRejected, false, code, msg, nil)
		}
		return OutcomeOK, nil
	})
}

// limit cuts s to at most n bytes without splitting a UTF-8 sequence.
func limit(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
