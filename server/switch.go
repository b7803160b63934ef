package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/respcodes"
)

// MaxBodyBytes is the largest switch message accepted (CONTRACT 1: larger gets HTTP 413).
const MaxBodyBytes = 64 << 10

// message describes one switch route: its MAC layout and how the ledger executes it.
type message struct {
	route Route
	mac   mac.Message
	exec  func(s *Server, ctx context.Context, r *Request, env ledger.Envelope) (ledger.Answer, error)
	// render, when set, replaces the common answer body (the enquiry's carries balances).
	render func(s *Server, r *Request, o ledger.Outcome, key mac.KeyID) ([]byte, error)
}

var (
	debitMessage = message{route: RouteDebit, mac: mac.Debit, exec: func(s *Server, ctx context.Context, r *Request, env ledger.Envelope) (ledger.Answer, error) {
		return s.store.Debit(ctx, ledger.DebitRequest{Envelope: env, WalletID: r.WalletID,
			Reference: r.TransactionReference, Currency: r.CurrencyCode, Amount: r.Amount, Fee: r.TransactionFee,
			Details: details(r)})
	}}
	reversalMessage = message{route: RouteReversal, mac: mac.Reversal, exec: func(s *Server, ctx context.Context, r *Request, env ledger.Envelope) (ledger.Answer, error) {
		return s.store.Reverse(ctx, ledger.ReversalRequest{Envelope: env, WalletID: r.WalletID,
			Reference: r.TransactionReference, Original: r.OriginalTransactionReference, Currency: r.CurrencyCode,
			Amount: r.Amount, Details: details(r)})
	}}
)

func details(r *Request) ledger.Details {
	return ledger.Details{RRN: r.RRN, STAN: r.STAN, TerminalID: r.TerminalID, TerminalType: r.TerminalType,
		MerchantID: r.MerchantID, AcquiringInstitutionID: r.AcquiringInstitutionID,
		CardAcceptorNameLocation: r.CardAcceptorNameLocation, TransactionDateTime: r.TransactionDateTime,
		AdditionalFields: r.AdditionalFields}
}

func (s *Server) newSwitchRouter() *echo.Echo {
	e := newEcho()
	e.Use(s.recoverSwitch)
	e.POST("/debit", s.handle(debitMessage))
	e.POST("/reversal", s.handle(reversalMessage))
	e.POST("/enquiry", s.handle(enquiryMessage))
	e.POST("/lien/place", s.handle(lienPlaceMessage))
	e.POST("/lien/debit", s.handle(lienDebitMessage))
	return e
}

// recoverSwitch turns a panic into HTTP 500 without a code: whatever happened, the switch must not read an outcome
// we are not sure of.
func (s *Server) recoverSwitch(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("switch handler panic", zap.String("path", c.Path()), zap.Any("panic", p), zap.Stack("stack"))
				err = c.NoContent(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

// response is the answer body of CONTRACT 1.3, fields in the contract's order.
type response struct {
	RequestID            string         `json:"requestId"`
	ResponseCode         respcodes.Code `json:"responseCode"`
	Amount               int64          `json:"amount"`
	TransactionReference string         `json:"transactionReference"`
	MAC                  string         `json:"mac"`
}

// sign builds the signed answer for r with code, signed by the key that verified the request.
func (s *Server) sign(r *Request, code respcodes.Code, key mac.KeyID) ([]byte, error) {
	return json.Marshal(response{
		RequestID:            r.RequestID,
		ResponseCode:         code,
		Amount:               echoAmount(r),
		TransactionReference: r.TransactionReference,
		MAC:                  s.keys.SignResponse(key, r.TransactionReference, r.RequestID, string(code)),
	})
}

// echoAmount is the request's amount for the answer; 0 when it is absent or not an integer we could read.
func echoAmount(r *Request) int64 {
	n, err := strconv.ParseInt(r.Text("amount"), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

var formatErrorBody = []byte(`{"responseCode":"30"}`)

// exchange is one switch message's way through the handler, for the log line and the metrics.
type exchange struct {
	route    Route
	code     respcodes.Code
	status   int
	replayed bool
	req      *Request
	err      error
}

func (s *Server) handle(m message) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		x := exchange{route: m.route, status: http.StatusOK}
		body := s.process(c.Request().Context(), c.Request().Body, m, &x)
		s.finish(&x, start)
		if body == nil {
			return c.NoContent(x.status)
		}
		return c.Blob(x.status, echo.MIMEApplicationJSON, body)
	}
}

// process runs CONTRACT 1.4 and returns the body to send (nil: none) with x filled in.
func (s *Server) process(ctx context.Context, rawBody io.Reader, m message, x *exchange) []byte {
	body, err := io.ReadAll(io.LimitReader(rawBody, MaxBodyBytes+1))
	if err != nil || len(body) > MaxBodyBytes {
		x.code, x.status, x.err = respcodes.FormatError, http.StatusRequestEntityTooLarge, errBodyTooLarge
		if err != nil {
			x.status, x.err = http.StatusBadRequest, err
		}
		return formatErrorBody
	}
	// 1. parse
	r, err := DecodeRequest(body)
	if err != nil {
		x.code, x.status, x.err = respcodes.FormatError, http.StatusBadRequest, err
		return formatErrorBody
	}
	x.req = r
	// 2. MAC: a forged message is answered 12 and leaves no trace in the ledger.
	key, ok := s.keys.Verify(r.MAC, mac.Values(m.mac, r.Text)...)
	if !ok {
		s.metrics.MACFailures.WithLabelValues(string(m.route)).Inc()
		return s.answer(x, r, respcodes.InvalidTransaction, mac.Current)
	}
	// 3. known requestId
	fp := r.Fingerprint(m.route, mac.Fields(m.mac))
	ans, err := s.store.Replay(ctx, r.RequestID, fp)
	switch {
	case err == nil:
		return s.answered(x, ans)
	case errors.Is(err, ledger.ErrRequestConflict):
		return s.answer(x, r, respcodes.Duplicate, key)
	case !errors.Is(err, ledger.ErrNotRecorded):
		return s.failed(x, r, key, err)
	}
	// 4. validate
	if err := r.Validate(m.route); err != nil {
		code := respcodes.FormatError
		if errors.Is(err, ErrAmount) {
			code = respcodes.InvalidAmount
		}
		x.err = err
		return s.answer(x, r, code, key)
	}
	// 5-6. decide and commit; the ledger stores what render returns under the requestId.
	env := ledger.Envelope{RequestID: r.RequestID, Fingerprint: fp, Render: func(o ledger.Outcome) ([]byte, error) {
		if m.render != nil {
			return m.render(s, r, o, key)
		}
		return s.sign(r, respcodes.FromOutcome(o), key)
	}}
	if m.render == nil {
		// Most messages are approved: sign that answer here, in this request's goroutine, rather than in the
		// ledger's single writer (see ledger.Envelope.Approved). An error leaves it to the writer's Render.
		env.Approved, _ = env.Render(ledger.Outcome{})
	}
	ans, err = m.exec(s, ctx, r, env)
	if err != nil {
		if errors.Is(err, ledger.ErrRequestConflict) {
			return s.answer(x, r, respcodes.Duplicate, key)
		}
		return s.failed(x, r, key, err)
	}
	// 7. answer
	return s.answered(x, ans)
}

var errBodyTooLarge = fmt.Errorf("body larger than %d bytes", MaxBodyBytes)

// answered sends an answer the ledger committed (or had stored).
func (s *Server) answered(x *exchange, ans ledger.Answer) []byte {
	x.code, x.replayed = respcodes.FromOutcome(ans.Outcome), ans.Replayed
	if ans.Replayed {
		s.metrics.Replays.WithLabelValues(string(x.route)).Inc()
	}
	return ans.Response
}

// answer signs an answer that is not stored (MAC failure, conflict, validation).
func (s *Server) answer(x *exchange, r *Request, code respcodes.Code, key mac.KeyID) []byte {
	x.code = code
	body, err := s.sign(r, code, key)
	if err != nil { // cannot happen with strings and integers; never answer unsigned
		x.err, x.status = err, http.StatusInternalServerError
		return nil
	}
	return body
}

// failed answers a ledger failure: 96 when nothing was committed, no code at all when the outcome is unknown.
func (s *Server) failed(x *exchange, r *Request, key mac.KeyID, err error) []byte {
	x.err = err
	code, ok := respcodes.FromError(err)
	if !ok {
		x.status = http.StatusServiceUnavailable
		return nil
	}
	return s.answer(x, r, code, key)
}

// finish writes the one log line and the metrics of a switch message.
func (s *Server) finish(x *exchange, start time.Time) {
	elapsed := time.Since(start)
	route := string(x.route)
	code := string(x.code)
	if code == "" {
		code = "none"
	}
	s.metrics.Requests.WithLabelValues(route, code).Inc()
	s.metrics.Duration.WithLabelValues(route).Observe(elapsed.Seconds())

	level := zap.InfoLevel
	if x.status >= 500 {
		level = zap.ErrorLevel
	}
	ce := s.log.Check(level, "switch message")
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, 10)
	fields = append(fields, zap.String("route", route), zap.String("code", code), zap.Int("status", x.status),
		zap.Duration("latency", elapsed))
	if x.req != nil {
		fields = append(fields, zap.String("requestId", clip(x.req.RequestID)), zap.String("walletId", clip(x.req.WalletID)),
			zap.String("transactionReference", clip(x.req.TransactionReference)))
	}
	if x.replayed {
		fields = append(fields, zap.Bool("replayed", true))
	}
	if x.err != nil {
		fields = append(fields, zap.String("error", x.err.Error()))
	}
	ce.Write(fields...)
}

// clip bounds what a hostile client can make us write into a log line.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}
