package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/respcodes"
)

// MetricsGatherer is the registry /metrics serves.
type MetricsGatherer = prometheus.Gatherer

// apiError is an admin API error: {"error":{"code":"...","message":"..."}} with an HTTP status.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func apiErr(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (s *Server) newOpsRouter(g MetricsGatherer) *echo.Echo {
	e := newEcho()
	e.HTTPErrorHandler = s.opsErrorHandler
	e.GET("/healthz", healthz)
	e.GET("/readyz", func(c echo.Context) error {
		if err := s.store.Ready(); err != nil {
			return notReady(c, err.Error())
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
	serveMetrics(e, g)
	if s.adminToken == nil {
		return e // CONTRACT 2: without a token the admin API is off (404)
	}
	a := e.Group("/admin", s.requireToken, unescapeParams)
	a.POST("/wallets", s.createWallet)
	a.GET("/wallets/:id", s.getWallet)
	a.POST("/wallets/:id/credit", s.creditWallet)
	a.POST("/wallets/:id/status", s.setStatus)
	a.GET("/wallets/:id/transactions", s.statement)
	a.GET("/transactions/:ref", s.transaction)
	a.GET("/audit", s.audit)
	a.GET("/backup", s.backup)
	s.partnerRoutes(a)
	s.mountPprof(e)
	return e
}

// healthz is GET /healthz: the process is up (CONTRACT 4).
func healthz(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) }

// notReady is GET /readyz's 503.
func notReady(c echo.Context, reason string) error {
	return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": reason})
}

// serveMetrics serves the registry g on GET /metrics; nil: no route.
func serveMetrics(e *echo.Echo, g MetricsGatherer) {
	if g != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{})))
	}
}

// requireToken checks "Authorization: Bearer <token>" in constant time (hashing both sides first, so not even the
// token's length leaks).
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	want := sha256.Sum256(s.adminToken)
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		token, found := strings.CutPrefix(h, "Bearer ")
		got := sha256.Sum256([]byte(token))
		if !found || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="walletgate admin"`)
			return apiErr(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
		}
		return next(c)
	}
}

// unescapeParams decodes percent-encoded path parameters (a transactionReference may hold a "/"). Echo routes on
// the raw path when the URL has escapes and leaves the parameters encoded; when it has none, they are already
// decoded and must not be decoded twice.
func unescapeParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().URL.RawPath != "" {
			values := c.ParamValues()
			for i, v := range values {
				u, err := url.PathUnescape(v)
				if err != nil {
					return apiErr(http.StatusBadRequest, "invalid_request", "malformed escape in the path")
				}
				values[i] = u
			}
			c.SetParamValues(values...)
		}
		return next(c)
	}
}

func (s *Server) opsErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		if ae.Status >= 500 {
			s.log.Error("admin request failed", zap.String("path", c.Path()), zap.String("code", ae.Code))
		}
	case errors.As(err, &he):
		ae = apiErr(he.Code, strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_")), "%s", http.StatusText(he.Code))
	default:
		s.log.Error("admin request failed", zap.String("path", c.Path()), zap.Error(err))
		ae = apiErr(http.StatusInternalServerError, "internal", "internal error")
	}
	_ = c.JSON(ae.Status, map[string]*apiError{"error": ae})
}

// ledgerErr maps a ledger error of an admin call to an API error.
func ledgerErr(err error) error {
	var fe *ledger.FieldError
	switch {
	case errors.As(err, &fe):
		return apiErr(http.StatusBadRequest, "invalid_request", "%s", fe.Error())
	case errors.Is(err, ledger.ErrWalletNotFound):
		return apiErr(http.StatusNotFound, "wallet_not_found", "no such wallet")
	case errors.Is(err, ledger.ErrWalletExists):
		return apiErr(http.StatusConflict, "wallet_exists", "a wallet with this walletId exists")
	case errors.Is(err, ledger.ErrCreditConflict):
		return apiErr(http.StatusConflict, "reference_conflict", "this reference was used for another credit")
	case errors.Is(err, ledger.ErrWalletClosed):
		return apiErr(http.StatusConflict, "wallet_closed", "the wallet is closed")
	case errors.Is(err, ledger.ErrOverflow):
		return apiErr(http.StatusUnprocessableEntity, "amount_overflow", "the amount would overflow the balance")
	case errors.Is(err, ledger.ErrTransactionNotFound):
		return apiErr(http.StatusNotFound, "transaction_not_found", "no such transaction")
	case errors.Is(err, ledger.ErrStorage), errors.Is(err, ledger.ErrClosed):
		return apiErr(http.StatusServiceUnavailable, "storage_unavailable", "the ledger could not commit; nothing was changed")
	case errors.Is(err, ledger.ErrOutcomeUnknown):
		return apiErr(http.StatusServiceUnavailable, "outcome_unknown", "the ledger stopped after a failed commit; restart walletgate and check the result")
	}
	return err
}

// bind decodes an admin JSON body strictly: one object, known fields only, each once, right types, valid UTF-8, at
// most MaxBodyBytes.
func bind(c echo.Context, v any) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, MaxBodyBytes+1))
	if err != nil {
		return apiErr(http.StatusBadRequest, "invalid_request", "could not read the body")
	}
	if len(body) > MaxBodyBytes {
		return apiErr(http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than %d bytes", MaxBodyBytes)
	}
	if problem := checkAdminJSON(body); problem != "" {
		return apiErr(http.StatusBadRequest, "invalid_request", "%s", problem)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErr(http.StatusBadRequest, "invalid_request", "the body must be a JSON object with the documented fields: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) { // More() misses a trailing "}" or "]"
		return apiErr(http.StatusBadRequest, "invalid_request", "the body must hold exactly one JSON object")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return "the body is not a JSON object"
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type (want %s)", te.Field, te.Type)
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return "malformed JSON"
}

// walletView is the admin API's wallet (CONTRACT 2).
type walletView struct {
	WalletID         string    `json:"walletId"`
	CurrencyCode     string    `json:"currencyCode"`
	Name             string    `json:"name"`
	Status           string    `json:"status"`
	LedgerBalance    int64     `json:"ledgerBalance"`
	AvailableBalance int64     `json:"availableBalance"`
	HeldAmount       int64     `json:"heldAmount"`
	DailyDebitLimit  int64     `json:"dailyDebitLimit"`
	Phone            string    `json:"phone,omitempty"`
	VirtualAccountID string    `json:"virtualAccountId,omitempty"`
	CreatedAt        time.Time `json:"createdAt"`
}

func viewWallet(w ledger.Wallet) walletView {
	return walletView{WalletID: w.ID, CurrencyCode: w.Currency, Name: w.Name, Status: string(w.Status),
		LedgerBalance: w.Balance, AvailableBalance: w.Available(), HeldAmount: w.Held,
		DailyDebitLimit: w.DailyDebitLimit, Phone: w.Phone, VirtualAccountID: w.VirtualAccountID,
		CreatedAt: w.CreatedAt}
}

func (s *Server) createWallet(c echo.Context) error {
	var in struct {
		WalletID         string `json:"walletId"`
		CurrencyCode     string `json:"currencyCode"`
		Name             string `json:"name"`
		DailyDebitLimit  int64  `json:"dailyDebitLimit"`
		Phone            string `json:"phone"`
		VirtualAccountID string `json:"virtualAccountId"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	w, err := s.store.CreateWallet(c.Request().Context(), ledger.NewWallet{ID: in.WalletID, Currency: in.CurrencyCode,
		Name: in.Name, DailyDebitLimit: in.DailyDebitLimit, Phone: in.Phone, VirtualAccountID: in.VirtualAccountID})
	if err != nil {
		return ledgerErr(err)
	}
	return c.JSON(http.StatusCreated, viewWallet(w))
}

func (s *Server) getWallet(c echo.Context) error {
	w, err := s.store.Wallet(c.Request().Context(), c.Param("id"))
	if err != nil {
		return ledgerErr(err)
	}
	return c.JSON(http.StatusOK, viewWallet(w))
}

func (s *Server) creditWallet(c echo.Context) (err error) {
	var in struct {
		Amount    int64  `json:"amount"`
		Reference string `json:"reference"`
		Narration string `json:"narration"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	defer func() { s.logMovement("credit", c.Param("id"), in.Reference, in.Amount, err) }()
	w, err := s.store.Credit(c.Request().Context(), ledger.Credit{WalletID: c.Param("id"), Amount: in.Amount,
		Reference: in.Reference, Narration: in.Narration})
	if err != nil {
		return ledgerErr(err)
	}
	return c.JSON(http.StatusOK, viewWallet(w))
}

func (s *Server) setStatus(c echo.Context) (err error) {
	var in struct {
		Status string `json:"status"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	defer func() { s.logMovement("status", c.Param("id"), "", 0, err, zap.String("status", in.Status)) }()
	w, err := s.store.SetStatus(c.Request().Context(), c.Param("id"), ledger.Status(in.Status))
	if err != nil {
		return ledgerErr(err)
	}
	return c.JSON(http.StatusOK, viewWallet(w))
}

type statementLine struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Reference string    `json:"reference"`
	Amount    int64     `json:"amount"`
	Balance   int64     `json:"balanceAfter"`
	Narration string    `json:"narration,omitempty"`
}

// DefaultStatementPage is the page size when ?limit= is absent.
const DefaultStatementPage = 50

func (s *Server) statement(c echo.Context) error {
	limit, before := DefaultStatementPage, uint64(0)
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ledger.MaxStatementPage {
			return apiErr(http.StatusBadRequest, "invalid_request", "limit must be an integer from 1 to %d", ledger.MaxStatementPage)
		}
		limit = n
	}
	if v := c.QueryParam("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return apiErr(http.StatusBadRequest, "invalid_request", "before must be a positive integer cursor")
		}
		before = n
	}
	lines, next, err := s.store.Statement(c.Request().Context(), c.Param("id"), before, limit)
	if err != nil {
		return ledgerErr(err)
	}
	out := struct {
		WalletID     string          `json:"walletId"`
		Transactions []statementLine `json:"transactions"`
		NextBefore   uint64          `json:"nextBefore,omitempty"`
	}{WalletID: c.Param("id"), Transactions: make([]statementLine, 0, len(lines)), NextBefore: next}
	for _, l := range lines {
		out.Transactions = append(out.Transactions, statementLine{Seq: l.Seq, Time: l.Time, Kind: l.Kind,
			Reference: l.Reference, Amount: l.Amount, Balance: l.Balance, Narration: l.Narration})
	}
	return c.JSON(http.StatusOK, out)
}

type transactionView struct {
	TransactionReference         string          `json:"transactionReference"`
	Kind                         string          `json:"kind"`
	RequestID                    string          `json:"requestId,omitempty"`
	WalletID                     string          `json:"walletId,omitempty"`
	CurrencyCode                 string          `json:"currencyCode,omitempty"`
	Amount                       int64           `json:"amount"`
	Fee                          int64           `json:"fee"`
	ResponseCode                 respcodes.Code  `json:"responseCode,omitempty"`
	State                        string          `json:"state"`
	OriginalTransactionReference string          `json:"originalTransactionReference,omitempty"`
	ReversedAmount               int64           `json:"reversedAmount,omitempty"`
	FeeReversed                  bool            `json:"feeReversed,omitempty"`
	Reversals                    []string        `json:"reversals"`
	PartnerDeliveries            []any           `json:"partnerDeliveries"`
	JournalEntry                 uint64          `json:"journalEntry,omitempty"`
	CreatedAt                    time.Time       `json:"createdAt"`
	Details                      *ledger.Details `json:"details,omitempty"`
	Lien                         *lienView       `json:"lien,omitempty"` // place-lien: expiry, completion or release

	// Wallet and Code repeat WalletID and ResponseCode under the short names CONTRACT 2 uses for this look-up
	// ("kind, wallet, amount, fee, code, state, ..."), so a client written from either spelling works.
	Wallet string         `json:"wallet,omitempty"`
	Code   respcodes.Code `json:"code,omitempty"`
}

func (s *Server) transaction(c echo.Context) error {
	t, err := s.store.Transaction(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return ledgerErr(err)
	}
	v := transactionView{TransactionReference: t.Reference, Kind: t.Kind, RequestID: t.RequestID, WalletID: t.WalletID,
		CurrencyCode: t.Currency, Amount: t.Amount, Fee: t.Fee, State: t.State,
		OriginalTransactionReference: t.Original, ReversedAmount: t.ReversedAmount, FeeReversed: t.FeeReversed,
		Reversals: t.Reversals, PartnerDeliveries: s.partnerDeliveries(c.Request().Context(), t), JournalEntry: t.Entry, CreatedAt: t.CreatedAt,
		Details: t.Details, Lien: viewLien(t)}
	if t.State != ledger.StateTombstone {
		v.ResponseCode = respcodes.FromOutcome(ledger.Outcome{Decline: t.Decline})
	}
	v.Wallet, v.Code = v.WalletID, v.ResponseCode
	if v.Reversals == nil {
		v.Reversals = []string{}
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) audit(c echo.Context) error {
	rep, err := s.store.Audit(c.Request().Context())
	if err != nil {
		return ledgerErr(err)
	}
	if !rep.OK {
		s.log.Error("ledger audit failed", zap.Int("problems", len(rep.Problems)))
	}
	problems := rep.Problems
	if problems == nil {
		problems = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{
		"ok": rep.OK, "entries": rep.Entries, "accounts": rep.Accounts, "wallets": rep.Wallets,
		"totals": rep.Totals, "problems": problems,
	})
}
