package outbound

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// BestCashConfig are the BestCash settings: URL is the base including its /external prefix
// (https://svc.test.bestcash.me/external); APIKey and APISecret go in the X-Auth-ApiKey and X-Auth-ApiSecret
// headers.
type BestCashConfig struct {
	URL, APIKey, APISecret string
}

// BestCash is the client of BestCash mobile money (seeds 000 and 004). Every operation is keyed by our
// partnerReference, so repeating one after an unknown outcome is safe; the status look-up resolves an unknown
// outcome without guessing.
type BestCash struct {
	base string
	ep   endpoint
}

// NewBestCash returns a BestCash client. hc carries the timeout of each call (nil: http.DefaultClient, which
// has none; callers always pass one); m may be nil.
func NewBestCash(cfg BestCashConfig, hc *http.Client, m *Metrics) *BestCash {
	auth := func(r *http.Request) {
		r.Header.Set("X-Auth-ApiKey", cfg.APIKey)
		r.Header.Set("X-Auth-ApiSecret", cfg.APISecret)
	}
	return &BestCash{
		base: strings.TrimRight(cfg.URL, "/"),
		ep:   newEndpoint(PartnerBestCash, hc, m, auth, cfg.APIKey, cfg.APISecret),
	}
}

// Customer is a BestCash customer found by phone number.
type Customer struct {
	Phone, FirstName, LastName string
}

// DebitOrder asks BestCash to debit a customer's mobile-money account; the customer receives a code that
// ConfirmDebit needs.
type DebitOrder struct {
	PartnerReference string // ours; BestCash's idempotency key
	Phone            string // international format, "+22892685526"
	Currency         string // ISO 4217 numeric
	Amount           int64  // minor units
	Description      string // optional
}

// CreditOrder asks BestCash to credit a customer's mobile-money account. FirstName and LastName are needed only
// when the customer does not exist yet (BestCash then creates the account).
type CreditOrder struct {
	PartnerReference string
	Phone            string
	Currency         string
	Amount           int64
	Description      string
	FirstName        string
	LastName         string
}

// OperationStatus is what BestCash says of an operation, reduced to the three states walletgate acts on.
type OperationStatus string

// Operation statuses.
const (
	OperationPending OperationStatus = "pending" // started, not final (a debit awaiting the customer's code)
	OperationSuccess OperationStatus = "success" // money moved
	OperationFailed  OperationStatus = "failed"  // final: no money moved (failed, cancelled, rejected, expired)
)

// Operation is a BestCash operation as last reported.
type Operation struct {
	PartnerReference string // ours
	ID               string // BestCash's own reference, when it sent one
	Status           OperationStatus
	RawStatus        string // the status text BestCash sent
	Message          string // BestCash's message, when it sent one
}

// Operation names (the operation label of walletgate_partner_request_duration_seconds).
const (
	opVerify  = "verify_customer"
	opDebit   = "debit"
	opConfirm = "confirm_debit"
	opCancel  = "cancel_debit"
	opCredit  = "credit"
	opStatus  = "status"
)

// VerifyCustomer looks a customer up by full phone number (GET {url}/customer/{phone}). A customer that does
// not exist is a *PartnerError wrapping ErrCustomerNotFound; refused credentials wrap ErrAuth.
func (c *BestCash) VerifyCustomer(ctx context.Context, phone string) (Customer, error) {
	if phone == "" {
		return Customer{}, c.ep.required(opVerify, "phone")
	}
	var cust Customer
	err := c.ep.call(ctx, opVerify, http.MethodGet, c.base+"/customer/"+url.PathEscape(phone), nil,
		func(r reply) (string, error) {
			if r.status != http.StatusOK {
				return c.ep.statusFailure(opVerify, r, ErrCustomerNotFound)
			}
			var ok bool
			if cust, ok = parseCustomer(r.body); !ok {
				return c.ep.garbage(opVerify, r, "customer answer is not a JSON object")
			}
			if cust.Phone == "" {
				cust.Phone = phone
			}
			return OutcomeOK, nil
		})
	return cust, err
}

type bcCustomer struct {
	Phone     string `json:"phone"`
	FirstName string `json:"firstname,omitempty"`
	LastName  string `json:"lastname,omitempty"`
}

type bcOrder struct {
	Amount           json.Number `json:"amount"`
	PartnerReference string      `json:"partnerReference"`
	Customer         bcCustomer  `json:"customer"`
	Description      string      `json:"description,omitempty"`
}

// Debit starts a debit of the customer's account (POST {url}/operations/debit). The answer is normally
// OperationPending: BestCash sends the customer a code, then ConfirmDebit or CancelDebit ends it. A customer
// that does not exist wraps ErrCustomerNotFound.
func (c *BestCash) Debit(ctx context.Context, o DebitOrder) (Operation, error) {
	amount, _, err := majorText(o.Amount, o.Currency)
	if err != nil {
		return Operation{}, errorf(PartnerBestCash, opDebit, err)
	}
	if o.PartnerReference == "" || o.Phone == "" {
		return Operation{}, c.ep.required(opDebit, "partnerReference and phone")
	}
	body := bcOrder{Amount: json.Number(amount), PartnerReference: o.PartnerReference,
		Customer: bcCustomer{Phone: o.Phone}, Description: o.Description}
	return c.operation(ctx, opDebit, http.MethodPost, c.base+"/operations/debit", body, o.PartnerReference, ErrCustomerNotFound)
}

// ConfirmDebit confirms a debit with the code the customer received (POST {url}/operations/confirm-debit). When
// BestCash refuses the confirmation (a wrong code) the error is a *PartnerError wrapping ErrConfirmationRejected
// with BestCash's message, not permanent: the debit is still awaiting a code. An unknown partnerReference wraps
// ErrOperationNotFound.
func (c *BestCash) ConfirmDebit(ctx context.Context, partnerReference, code string) (Operation, error) {
	body := struct {
		PartnerReference string `json:"partnerReference"`
		Code             string `json:"code"`
	}{partnerReference, code}
	return c.operation(ctx, opConfirm, http.MethodPost, c.base+"/operations/confirm-debit", body, partnerReference, ErrOperationNotFound)
}

// CancelDebit cancels a debit that awaits confirmation (POST {url}/operations/cancel-debit). An unknown
// partnerReference wraps ErrOperationNotFound.
func (c *BestCash) CancelDebit(ctx context.Context, partnerReference string) (Operation, error) {
	body := struct {
		PartnerReference string `json:"partnerReference"`
	}{partnerReference}
	return c.operation(ctx, opCancel, http.MethodPost, c.base+"/operations/cancel-debit", body, partnerReference, ErrOperationNotFound)
}

// Credit credits the customer's account (POST {url}/operations/credit). FirstName and LastName are sent when
// set, so that BestCash creates a customer that does not exist yet; without them such a customer wraps
// ErrCustomerNotFound. A timeout or 5xx leaves the outcome unknown: resolve it with Status, never by guessing.
func (c *BestCash) Credit(ctx context.Context, o CreditOrder) (Operation, error) {
	amount, _, err := majorText(o.Amount, o.Currency)
	if err != nil {
		return Operation{}, errorf(PartnerBestCash, opCredit, err)
	}
	if o.PartnerReference == "" || o.Phone == "" {
		return Operation{}, c.ep.required(opCredit, "partnerReference and phone")
	}
	body := bcOrder{Amount: json.Number(amount), PartnerReference: o.PartnerReference,
		Customer:    bcCustomer{Phone: o.Phone, FirstName: o.FirstName, LastName: o.LastName},
		Description: o.Description}
	return c.operation(ctx, opCredit, http.MethodPost, c.base+"/operations/credit", body, o.PartnerReference, ErrCustomerNotFound)
}

// Status looks an operation up by our reference (GET {url}/operation?partnerReference=). An operation BestCash
// never received wraps ErrOperationNotFound.
func (c *BestCash) Status(ctx context.Context, partnerReference string) (Operation, error) {
	u := c.base + "/operation?" + url.Values{"partnerReference": {partnerReference}}.Encode()
	return c.operation(ctx, opStatus, http.MethodGet, u, nil, partnerReference, ErrOperationNotFound)
}

// operation sends one operation request and reads the operation BestCash answers with. A 200 whose operation
// has failed is not an error (the operation is known: Status is OperationFailed) but is recorded as declined,
// except for a cancel, whose success is a failed (cancelled) debit: it is declined when the debit succeeded.
func (c *BestCash) operation(ctx context.Context, op, method, u string, body any, ref string, notFound error) (Operation, error) {
	if ref == "" {
		return Operation{}, c.ep.required(op, "partnerReference")
	}
	var res Operation
	err := c.ep.call(ctx, op, method, u, body, func(r reply) (string, error) {
		if r.status < 200 || r.status > 299 {
			if op == opConfirm && (r.status == http.StatusBadRequest || r.status == http.StatusConflict ||
				r.status == http.StatusGone || r.status == http.StatusUnprocessableEntity) {
				code, msg := partnerMessage(r.body)
				return OutcomeDeclined, c.ep.fail(op, r.status, OutcomeDeclined, ErrConfirmationRejected, false, code, msg, nil)
			}
			return c.ep.statusFailure(op, r, notFound)
		}
		var ok bool
		if res, ok = parseOperation(r.body); !ok {
			return c.ep.garbage(op, r, "operation answer has no status BestCash is known to send")
		}
		res.Message = c.ep.mask(clean(res.Message, 300))
		if res.PartnerReference == "" {
			res.PartnerReference = ref
		}
		if op == opCancel {
			// A cancel asks for the debit to end without moving money: a cancelled (failed) debit is its success,
			// a debit that succeeded meanwhile is its refusal.
			if res.Status == OperationSuccess {
				return OutcomeDeclined, nil
			}
			return OutcomeOK, nil
		}
		if res.Status == OperationFailed {
			return OutcomeDeclined, nil
		}
		return OutcomeOK, nil
	})
	return res, err
}

// object decodes a JSON object; members of a "data" object (a common envelope) take precedence over the top
// level's.
func object(body []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return nil, false
	}
	if raw, ok := m["data"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil {
			for k, v := range inner {
				m[k] = v
			}
		}
	}
	return m, true
}

// field is the first of keys that holds a string (or a number, as its text) in m.
func field(m map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		raw, ok := m[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil && n != "" {
			return n.String()
		}
	}
	return ""
}

func parseCustomer(body []byte) (Customer, bool) {
	m, ok := object(body)
	if !ok {
		return Customer{}, false
	}
	if raw, ok := m["customer"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil && inner != nil {
			m = inner
		}
	}
	return Customer{
		Phone:     field(m, "phone", "phoneNumber", "fullPhoneNumber"),
		FirstName: field(m, "firstname", "firstName", "first_name"),
		LastName:  field(m, "lastname", "lastName", "last_name"),
	}, true
}

func parseOperation(body []byte) (Operation, bool) {
	m, ok := object(body)
	if !ok {
		return Operation{}, false
	}
	raw := field(m, "status", "state", "transactionStatus")
	st, ok := operationStatus(raw)
	if !ok {
		return Operation{}, false
	}
	return Operation{
		PartnerReference: field(m, "partnerReference"),
		ID:               field(m, "reference", "transactionReference", "id", "uuid"),
		Status:           st,
		RawStatus:        raw,
		Message:          field(m, "message", "description"),
	}, true
}

// operationStatus maps the status texts BestCash uses (and close spellings) to OperationStatus. Anything else is
// not understood: the caller must look again, not guess.
func operationStatus(s string) (OperationStatus, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "PENDING", "INITIATED", "CREATED", "AWAITING_CONFIRMATION", "PROCESSING", "IN_PROGRESS":
		return OperationPending, true
	case "SUCCESS", "SUCCESSFUL", "SUCCEEDED", "COMPLETED", "CONFIRMED", "DONE":
		return OperationSuccess, true
	case "FAILED", "FAILURE", "CANCELLED", "CANCELED", "REJECTED", "EXPIRED", "DECLINED":
		return OperationFailed, true
	}
	return "", false
}
