package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/outbound"
	"github.com/walletgate/walletgate/respcodes"
)

// PartnerStore is what the admin API needs of the ledger for partner deliveries, top-ups and cash-outs.
// *ledger.Ledger implements it.
type PartnerStore interface {
	Outbox(ctx context.Context, state string, after uint64, limit int) ([]ledger.OutboxEvent, uint64, error)
	RetryOutbox(ctx context.Context, id uint64) (ledger.OutboxEvent, error)
	Deliveries(ctx context.Context, kind, reference string) ([]ledger.OutboxEvent, error)
	Topup(ctx context.Context, reference string) (ledger.Topup, error)
	Cashout(ctx context.Context, reference string) (ledger.Cashout, error)
}

var _ PartnerStore = (*ledger.Ledger)(nil)

// Movements runs BestCash top-ups and cash-outs. *outbound.Movements implements it.
type Movements interface {
	Topup(ctx context.Context, n ledger.NewTopup) (ledger.Topup, error)
	ConfirmTopup(ctx context.Context, reference, code string) (ledger.Topup, error)
	CancelTopup(ctx context.Context, reference string) (ledger.Topup, error)
	Cashout(ctx context.Context, n ledger.NewCashout) (ledger.Cashout, error)
}

var _ Movements = (*outbound.Movements)(nil)

// partnerRoutes adds the partner routes of CONTRACT 2 to the admin group.
func (s *Server) partnerRoutes(a *echo.Group) {
	a.GET("/outbox", s.listOutbox)
	a.POST("/outbox/:id/retry", s.retryOutbox)
	a.POST("/wallets/:id/topups", s.startTopup)
	a.GET("/topups/:ref", s.getTopup)
	a.POST("/topups/:ref/confirm", s.confirmTopup)
	a.POST("/topups/:ref/cancel", s.cancelTopup)
	a.POST("/wallets/:id/cashouts", s.startCashout)
	a.GET("/cashouts/:ref", s.getCashout)
}

// outboxView is one partner delivery as the admin API shows it.
type outboxView struct {
	ID                           uint64         `json:"id"`
	Partner                      string         `json:"partner"`
	DeliveryID                   string         `json:"deliveryId,omitempty"` // the id the partner knows the event by
	Kind                         string         `json:"kind"`                 // debit or reversal
	FullReversal                 bool           `json:"fullReversal,omitempty"`
	WalletID                     string         `json:"walletId"`
	TransactionReference         string         `json:"transactionReference"`
	OriginalTransactionReference string         `json:"originalTransactionReference,omitempty"`
	CurrencyCode                 string         `json:"currencyCode"`
	Amount                       int64          `json:"amount"`
	Fee                          int64          `json:"fee"`
	ResponseCode                 respcodes.Code `json:"responseCode"`
	VirtualAccountID             string         `json:"virtualAccountId,omitempty"`
	State                        string         `json:"state"`
	Attempts                     int            `json:"attempts"`
	NextAttemptAt                *time.Time     `json:"nextAttemptAt,omitempty"`
	LastError                    string         `json:"lastError,omitempty"`
	CreatedAt                    time.Time      `json:"createdAt"`
	UpdatedAt                    time.Time      `json:"updatedAt"`
}

func viewOutbox(e ledger.OutboxEvent) outboxView {
	v := outboxView{ID: e.ID, Partner: e.Partner, DeliveryID: e.DeliveryID, Kind: e.Kind, FullReversal: e.Full, WalletID: e.WalletID,
		TransactionReference: e.Reference, OriginalTransactionReference: e.Original, CurrencyCode: e.Currency,
		Amount: e.Amount, Fee: e.Fee, ResponseCode: respcodes.FromOutcome(ledger.Outcome{Decline: e.Decline}),
		VirtualAccountID: e.VirtualAccountID, State: e.State, Attempts: e.Attempts, LastError: e.LastError,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	if e.State == ledger.OutboxPending && !e.NextAttempt.IsZero() {
		t := e.NextAttempt
		v.NextAttemptAt = &t
	}
	return v
}

func (s *Server) needPartnerStore() error {
	if s.partnerStore == nil {
		return apiErr(http.StatusNotFound, "partners_not_configured", "partner deliveries are not configured")
	}
	return nil
}

func (s *Server) needMovements() error {
	if s.movements == nil {
		return apiErr(http.StatusNotFound, "bestcash_not_configured", "BestCash is not configured (WALLETGATE_BESTCASH_URL)")
	}
	return nil
}

// partnerErr maps an error of the partner routes to an API error.
func partnerErr(err error) error {
	var se *ledger.StateError
	var fe *outbound.FlowError
	message := func(def string) string {
		if errors.As(err, &fe) && fe.Message != "" {
			return fe.Message
		}
		return def
	}
	switch {
	case errors.As(err, &se):
		return apiErr(http.StatusConflict, "invalid_state", "%s is %s", se.Reference, se.State)
	case errors.Is(err, outbound.ErrUnknownCustomer):
		return apiErr(http.StatusUnprocessableEntity, "customer_not_found",
			"BestCash has no customer with this phone number (a cash-out needs firstName and lastName to create one)")
	case errors.Is(err, outbound.ErrConfirmationRefused):
		return apiErr(http.StatusUnprocessableEntity, "confirmation_refused", "%s", message("BestCash refused the confirmation"))
	case errors.Is(err, outbound.ErrInProgress):
		return apiErr(http.StatusConflict, "in_progress", "%s", outbound.ErrInProgress.Error())
	case errors.Is(err, outbound.ErrPartnerUnavailable):
		return apiErr(http.StatusBadGateway, "partner_unavailable", "BestCash did not answer usably; nothing was decided, repeat with the same reference: %s", message("no answer"))
	case errors.Is(err, ledger.ErrTopupNotFound):
		return apiErr(http.StatusNotFound, "topup_not_found", "no such top-up")
	case errors.Is(err, ledger.ErrCashoutNotFound):
		return apiErr(http.StatusNotFound, "cashout_not_found", "no such cash-out")
	case errors.Is(err, ledger.ErrTopupConflict), errors.Is(err, ledger.ErrCashoutConflict):
		return apiErr(http.StatusConflict, "reference_conflict", "this reference was used with another body")
	case errors.Is(err, ledger.ErrInsufficientFunds):
		return apiErr(http.StatusUnprocessableEntity, "insufficient_funds", "the available balance does not cover the amount")
	case errors.Is(err, ledger.ErrWalletNotActive):
		return apiErr(http.StatusConflict, "wallet_not_active", "the wallet is frozen or closed")
	case errors.Is(err, ledger.ErrOutboxNotFound):
		return apiErr(http.StatusNotFound, "outbox_event_not_found", "no such outbox event")
	case errors.Is(err, ledger.ErrOutboxDelivered):
		return apiErr(http.StatusConflict, "already_delivered", "the partner already has this event")
	}
	return ledgerErr(err)
}

func (s *Server) listOutbox(c echo.Context) error {
	if err := s.needPartnerStore(); err != nil {
		return err
	}
	state := c.QueryParam("state")
	if state != "" && state != ledger.OutboxPending && state != ledger.OutboxDead {
		return apiErr(http.StatusBadRequest, "invalid_request", "state must be pending or dead (or absent: every event)")
	}
	limit, after := DefaultStatementPage, uint64(0)
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ledger.MaxOutboxPage {
			return apiErr(http.StatusBadRequest, "invalid_request", "limit must be an integer from 1 to %d", ledger.MaxOutboxPage)
		}
		limit = n
	}
	if v := c.QueryParam("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return apiErr(http.StatusBadRequest, "invalid_request", "after must be an event id")
		}
		after = n
	}
	events, next, err := s.partnerStore.Outbox(c.Request().Context(), state, after, limit)
	if err != nil {
		return partnerErr(err)
	}
	out := struct {
		Events    []outboxView `json:"events"`
		NextAfter uint64       `json:"nextAfter,omitempty"`
	}{Events: make([]outboxView, 0, len(events)), NextAfter: next}
	for _, e := range events {
		out.Events = append(out.Events, viewOutbox(e))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) retryOutbox(c echo.Context) error {
	if err := s.needPartnerStore(); err != nil {
		return err
	}
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return apiErr(http.StatusNotFound, "outbox_event_not_found", "no such outbox event")
	}
	e, err := s.partnerStore.RetryOutbox(c.Request().Context(), id)
	if err != nil {
		return partnerErr(err)
	}
	s.log.Info("outbox event re-queued by hand", zap.Uint64("id", id), zap.String("partner", e.Partner),
		zap.String("transactionReference", e.Reference))
	return c.JSON(http.StatusOK, viewOutbox(e))
}

// partnerDeliveries is the transaction look-up's view of its outbox events ([] when there are none).
func (s *Server) partnerDeliveries(ctx context.Context, t ledger.Transaction) []any {
	out := []any{}
	if s.partnerStore == nil {
		return out
	}
	events, err := s.partnerStore.Deliveries(ctx, t.Kind, t.Reference)
	if err != nil {
		s.log.Error("partner deliveries of a transaction", zap.String("transactionReference", t.Reference), zap.Error(err))
		return out
	}
	for _, e := range events {
		out = append(out, viewOutbox(e))
	}
	return out
}

type topupView struct {
	Reference    string    `json:"reference"`
	WalletID     string    `json:"walletId"`
	CurrencyCode string    `json:"currencyCode"`
	Amount       int64     `json:"amount"`
	Phone        string    `json:"phone"`
	State        string    `json:"state"`
	Message      string    `json:"message,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

func viewTopup(t ledger.Topup) topupView {
	return topupView{Reference: t.Reference, WalletID: t.WalletID, CurrencyCode: t.Currency, Amount: t.Amount,
		Phone: t.Phone, State: t.State, Message: t.Message, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// topupStatus is 202 while the customer's confirmation is awaited, 200 once the top-up is final.
func topupStatus(t ledger.Topup) int {
	if t.State == ledger.TopupAwaiting || t.State == ledger.TopupStarted {
		return http.StatusAccepted
	}
	return http.StatusOK
}

func (s *Server) startTopup(c echo.Context) (err error) {
	if err := s.needMovements(); err != nil {
		return err
	}
	var in struct {
		Reference string `json:"reference"`
		Amount    int64  `json:"amount"`
		Phone     string `json:"phone"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	var t ledger.Topup
	defer func() {
		s.logMovement("topup_start", c.Param("id"), in.Reference, in.Amount, err, zap.String("state", t.State),
			zap.String("phone", maskPhone(in.Phone)))
	}()
	t, err = s.movements.Topup(c.Request().Context(), ledger.NewTopup{Reference: in.Reference, WalletID: c.Param("id"),
		Amount: in.Amount, Phone: in.Phone})
	if errors.Is(err, outbound.ErrUnknownCustomer) {
		return apiErr(http.StatusUnprocessableEntity, "customer_not_found",
			"BestCash has no customer with this phone number: a top-up can only debit an existing BestCash account")
	}
	if err != nil {
		return partnerErr(err)
	}
	return c.JSON(topupStatus(t), viewTopup(t))
}

func (s *Server) getTopup(c echo.Context) error {
	if err := s.needPartnerStore(); err != nil {
		return err
	}
	t, err := s.partnerStore.Topup(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return partnerErr(err)
	}
	return c.JSON(http.StatusOK, viewTopup(t))
}

// maxConfirmationCode bounds the customer's confirmation code that confirm and cancel accept.
const maxConfirmationCode = 32

func (s *Server) confirmTopup(c echo.Context) (err error) {
	if err := s.needMovements(); err != nil {
		return err
	}
	var in struct {
		Code string `json:"code"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.Code == "" || len(in.Code) > maxConfirmationCode {
		return apiErr(http.StatusBadRequest, "invalid_request", "code: the customer's confirmation code, 1 to %d characters",
			maxConfirmationCode)
	}
	var t ledger.Topup
	defer func() {
		s.logMovement("topup_confirm", t.WalletID, c.Param("ref"), t.Amount, err, zap.String("state", t.State))
	}()
	t, err = s.movements.ConfirmTopup(c.Request().Context(), c.Param("ref"), in.Code)
	if err != nil {
		return partnerErr(err)
	}
	return c.JSON(http.StatusOK, viewTopup(t))
}

func (s *Server) cancelTopup(c echo.Context) (err error) {
	if err := s.needMovements(); err != nil {
		return err
	}
	// A body is optional. CONTRACT 2 gives confirm and cancel the same body, {"code"}; BestCash's cancel-debit is
	// named by our reference alone, so the code is checked like confirm's and not sent.
	if c.Request().ContentLength != 0 {
		var in struct {
			Code string `json:"code"`
		}
		if err := bind(c, &in); err != nil {
			return err
		}
		if len(in.Code) > maxConfirmationCode {
			return apiErr(http.StatusBadRequest, "invalid_request", "code: the customer's confirmation code, at most %d characters",
				maxConfirmationCode)
		}
	}
	var t ledger.Topup
	defer func() {
		s.logMovement("topup_cancel", t.WalletID, c.Param("ref"), t.Amount, err, zap.String("state", t.State))
	}()
	t, err = s.movements.CancelTopup(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return partnerErr(err)
	}
	return c.JSON(http.StatusOK, viewTopup(t))
}

type cashoutView struct {
	Reference    string    `json:"reference"`
	WalletID     string    `json:"walletId"`
	CurrencyCode string    `json:"currencyCode"`
	Amount       int64     `json:"amount"`
	Phone        string    `json:"phone"`
	FirstName    string    `json:"firstName,omitempty"`
	LastName     string    `json:"lastName,omitempty"`
	State        string    `json:"state"`
	Message      string    `json:"message,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

func viewCashout(co ledger.Cashout) cashoutView {
	return cashoutView{Reference: co.Reference, WalletID: co.WalletID, CurrencyCode: co.Currency, Amount: co.Amount,
		Phone: co.Phone, FirstName: co.FirstName, LastName: co.LastName, State: co.State, Message: co.Message,
		CreatedAt: co.CreatedAt, UpdatedAt: co.UpdatedAt}
}

func (s *Server) startCashout(c echo.Context) (err error) {
	if err := s.needMovements(); err != nil {
		return err
	}
	var in struct {
		Reference string `json:"reference"`
		Amount    int64  `json:"amount"`
		Phone     string `json:"phone"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	var co ledger.Cashout
	defer func() {
		s.logMovement("cashout", c.Param("id"), in.Reference, in.Amount, err, zap.String("state", co.State),
			zap.String("phone", maskPhone(in.Phone)))
	}()
	co, err = s.movements.Cashout(c.Request().Context(), ledger.NewCashout{Reference: in.Reference,
		WalletID: c.Param("id"), Amount: in.Amount, Phone: in.Phone, FirstName: in.FirstName, LastName: in.LastName})
	if err != nil {
		return partnerErr(err)
	}
	status := http.StatusOK
	if co.State == ledger.CashoutHeld { // BestCash's outcome is not known yet; the resolver settles it
		status = http.StatusAccepted
	}
	return c.JSON(status, viewCashout(co))
}

func (s *Server) getCashout(c echo.Context) error {
	if err := s.needPartnerStore(); err != nil {
		return err
	}
	co, err := s.partnerStore.Cashout(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return partnerErr(err)
	}
	return c.JSON(http.StatusOK, viewCashout(co))
}
