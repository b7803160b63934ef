package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Reasons a partner call failed, carried by *PartnerError (check with errors.Is).
var (
	// ErrAuth is returned when the partner refused our credentials (HTTP 401 or 403). It is retryable: an
	// operator fixes the configuration, the outbox delivers afterwards.
	ErrAuth = errors.New("partner refused the credentials")

	// ErrCustomerNotFound is returned by BestCash when no customer has the phone number (HTTP 404 on
	// customer verification, debit or credit).
	ErrCustomerNotFound = errors.New("customer not found")

	// ErrOperationNotFound is returned by BestCash when no operation has the partnerReference (HTTP 404 on the
	// status look-up, confirm-debit or cancel-debit).
	ErrOperationNotFound = errors.New("operation not found")

	// ErrConfirmationRejected is returned by BestCash ConfirmDebit when the partner refused the confirmation
	// (a wrong or expired code): the debit stays awaiting confirmation. Not permanent: the customer may send
	// the right code.
	ErrConfirmationRejected = errors.New("confirmation refused")

	// ErrInvalid is returned when the partner refused the content as invalid (HTTP 400, 413 or 422; connector
	// MISSING_FIELDS or INVALID_DATA). Permanent.
	ErrInvalid = errors.New("partner refused the request as invalid")

	// ErrRejected is returned when the partner processed the request and refused it for a business reason (a
	// virtual-account "success": false, another 4xx). Permanent for the connector's and virtual account's
	// deliveries; connector INVALID_REFERENCE is the exception (see Connector).
	ErrRejected = errors.New("partner rejected the request")

	// ErrUnavailable is returned when no usable answer came back: a transport error, a timeout, a dropped
	// connection, a 5xx, or a body that cannot be understood. Retryable.
	ErrUnavailable = errors.New("partner unavailable or answer unusable")
)

// PartnerError is a failed partner call. Its Error text never contains a credential: the message and code the
// partner sent are masked before they are stored here, and the request URL (which carries the connector's API
// key) is never included.
type PartnerError struct {
	Partner, Operation string
	StatusCode         int    // HTTP status of the answer; 0 when none arrived
	Code, Message      string // the partner's error code and message when it sent them, else our description
	Permanent          bool   // sending the same request again cannot succeed: dead-letter, never retry blindly
	Err                error  // the reason: one of the Err* values of this package

	cause   error  // the transport error, when there was one
	outcome string // the metrics outcome label
}

// Error describes the failure without credentials.
func (e *PartnerError) Error() string {
	var b strings.Builder
	b.WriteString(e.Partner)
	b.WriteByte(' ')
	b.WriteString(e.Operation)
	b.WriteString(": ")
	if e.StatusCode != 0 {
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.Code != "" {
		b.WriteString(" [")
		b.WriteString(e.Code)
		b.WriteByte(']')
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the reason and, for transport failures, the transport error (so that errors.Is(err,
// context.DeadlineExceeded) works).
func (e *PartnerError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// IsPermanent reports whether err means the partner refused the content, or the request cannot be built: the
// event must be dead-lettered at once and never retried blindly. It is false for nil, for transport failures,
// timeouts, 5xx, ErrAuth and the typed not-found results.
func IsPermanent(err error) bool {
	var pe *PartnerError
	if errors.As(err, &pe) {
		return pe.Permanent
	}
	return errors.Is(err, ErrUnsupportedCurrency) || errors.Is(err, ErrAmount)
}

// outcomeOf is the metrics outcome of a call that returned err.
func outcomeOf(err error) string {
	if err == nil {
		return OutcomeOK
	}
	var pe *PartnerError
	if errors.As(err, &pe) && pe.outcome != "" {
		return pe.outcome
	}
	return OutcomeError
}

// maxBody bounds what is read of a partner's answer.
const maxBody = 1 << 20

// endpoint is what the three clients share: the HTTP client, the metrics, the partner's name and the secrets to
// mask in anything the partner sends back.
type endpoint struct {
	partner string
	hc      *http.Client
	m       *Metrics
	secrets []string
	auth    func(*http.Request)
}

func newEndpoint(partner string, hc *http.Client, m *Metrics, auth func(*http.Request), secrets ...string) endpoint {
	if hc == nil {
		hc = http.DefaultClient
	}
	// Never follow a redirect: it would carry the credential headers (X-Auth-ApiSecret is not one that net/http
	// strips) to wherever the partner, or whoever answers in its name, points. A copy, so that the caller's
	// client is left as it is.
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc = &noRedirect
	var s []string
	for _, v := range secrets {
		if v != "" {
			s = append(s, v)
		}
	}
	return endpoint{partner: partner, hc: hc, m: m, secrets: s, auth: auth}
}

// reply is a partner's answer: its status and (at most maxBody of) its body.
type reply struct {
	status int
	body   []byte
}

// call sends one request and lets judge turn the answer into a result; it records the duration with the outcome
// of the returned error (or override when judge sets it, for a success that is not plain "ok").
func (e endpoint) call(ctx context.Context, op, method, rawURL string, body any, judge func(reply) (outcome string, err error)) error {
	start := time.Now()
	outcome, err := e.roundTrip(ctx, op, method, rawURL, body, judge)
	e.m.observe(e.partner, op, outcome, start)
	return err
}

func (e endpoint) roundTrip(ctx context.Context, op, method, rawURL string, body any, judge func(reply) (string, error)) (string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil { // our own types always marshal; keep the failure permanent and out of the logs' way
			return OutcomeInvalid, e.fail(op, 0, OutcomeInvalid, ErrInvalid, true, "", "cannot encode request", nil)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil { // a malformed base URL: configuration, not content; retryable once fixed
		return OutcomeError, e.fail(op, 0, OutcomeError, ErrUnavailable, false, "", "cannot build request (check the partner URL)", nil)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.auth != nil {
		e.auth(req)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return e.transportFailure(ctx, op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return e.transportFailure(ctx, op, err)
	}
	outcome, err := judge(reply{status: resp.StatusCode, body: b})
	if outcome == "" {
		outcome = outcomeOf(err)
	}
	return outcome, err
}

// transportFailure turns an error of the HTTP client into a retryable *PartnerError. The *url.Error wrapper is
// dropped: its text holds the URL, which holds the connector's API key.
func (e endpoint) transportFailure(ctx context.Context, op string, err error) (string, error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	timeout := ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	outcome, msg := OutcomeError, "no answer: "+e.mask(err.Error())
	if timeout {
		outcome, msg = OutcomeTimeout, "timed out"
	}
	return outcome, e.fail(op, 0, outcome, ErrUnavailable, false, "", msg, err)
}

// fail builds a *PartnerError, masking credentials in the partner's code and message.
func (e endpoint) fail(op string, status int, outcome string, reason error, permanent bool, code, msg string, cause error) *PartnerError {
	return &PartnerError{
		Partner: e.partner, Operation: op, StatusCode: status,
		Code: e.mask(clean(code, 40)), Message: e.mask(clean(msg, 300)),
		Permanent: permanent, Err: reason, cause: cause, outcome: outcome,
	}
}

// statusFailure classifies a non-2xx answer the operation has no special meaning for. notFound, when not nil,
// is the typed result of a 404.
func (e endpoint) statusFailure(op string, r reply, notFound error) (string, error) {
	code, msg := partnerMessage(r.body)
	switch s := r.status; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return OutcomeAuth, e.fail(op, s, OutcomeAuth, ErrAuth, false, code, msg, nil)
	case s == http.StatusNotFound && notFound != nil:
		return OutcomeNotFound, e.fail(op, s, OutcomeNotFound, notFound, false, code, msg, nil)
	case s == http.StatusBadRequest || s == http.StatusRequestEntityTooLarge || s == http.StatusUnprocessableEntity:
		return OutcomeInvalid, e.fail(op, s, OutcomeInvalid, ErrInvalid, true, code, msg, nil)
	case s == http.StatusNotFound || s == http.StatusRequestTimeout || s == http.StatusTooEarly ||
		s == http.StatusTooManyRequests || s >= 500 || s < 400:
		// 404 without a typed meaning is a wrong URL or API key in our configuration: retry once it is fixed.
		return OutcomeError, e.fail(op, s, OutcomeError, ErrUnavailable, false, code, msg, nil)
	default:
		return OutcomeDeclined, e.fail(op, s, OutcomeDeclined, ErrRejected, true, code, msg, nil)
	}
}

// garbage is the failure for a 2xx answer whose body cannot be understood: retryable, since the partner may
// have done the work (every request is idempotent on our reference).
func (e endpoint) garbage(op string, r reply, what string) (string, error) {
	return OutcomeError, e.fail(op, r.status, OutcomeError, ErrUnavailable, false, "", what, nil)
}

// required is the failure for a request that lacks a field the partner needs: permanent, and never sent.
func (e endpoint) required(op, what string) error {
	return e.fail(op, 0, OutcomeInvalid, ErrInvalid, true, "", what+" is required", nil)
}

// mask replaces every credential in s.
func (e endpoint) mask(s string) string {
	for _, v := range e.secrets {
		s = strings.ReplaceAll(s, v, "****")
	}
	return s
}

// clean keeps a partner-supplied text printable and short.
func clean(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "..."
	}
	return s
}

// partnerMessage finds an error code and message in a partner's JSON answer, whatever the partner calls them.
func partnerMessage(body []byte) (code, msg string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return "", ""
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			var s string
			if raw, ok := m[k]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
				return s
			}
			var n json.Number
			if raw, ok := m[k]; ok && json.Unmarshal(raw, &n) == nil && n != "" {
				return n.String()
			}
		}
		return ""
	}
	code = str("error_code", "errorCode", "code")
	msg = str("error_message", "errorMessage", "message", "responseMessage", "description", "error")
	if raw, ok := m["error"]; ok && msg == "" { // {"error":{"code","message"}}
		var inner struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &inner) == nil {
			if code == "" {
				code = inner.Code
			}
			msg = inner.Message
		}
	}
	return code, msg
}

// errorf is for failures found before any request is sent (unsupported currency, negative amount).
func errorf(partner, op string, err error) error {
	return fmt.Errorf("%s %s: %w", partner, op, err)
}
