// Package server is walletgate's HTTP layer: the card switch's listener (signed, idempotent debits, reversals,
// enquiries and liens, CONTRACT section 1) and the ops listener (health, metrics, the admin API, CONTRACT section 2).
//
// Every switch message goes through the same steps, in the order of CONTRACT 1.4: parse (not a JSON object:
// HTTP 400 / 30), verify the MAC (12, nothing remembered), replay a known requestId (same fingerprint: the stored
// bytes; other fingerprint: 94), validate (30, 13), decide and commit in the ledger, answer. An answer is written
// only after the ledger reported its outcome durable; when the ledger cannot tell whether a commit landed, the
// switch gets HTTP 503 with no code at all, so it never reads a decline for money that may have moved.
//
// The package imports no storage engine: it talks to the ledger through the Store interface, and maps outcomes to
// wire codes only through package respcodes.
package server

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// Store is what the server needs of the ledger. *ledger.Ledger implements it.
type Store interface {
	Replay(ctx context.Context, requestID string, fingerprint [32]byte) (ledger.Answer, error)
	Debit(ctx context.Context, d ledger.DebitRequest) (ledger.Answer, error)
	Reverse(ctx context.Context, r ledger.ReversalRequest) (ledger.Answer, error)
	Enquire(ctx context.Context, q ledger.EnquiryRequest) (ledger.Answer, error)
	PlaceLien(ctx context.Context, p ledger.LienPlaceRequest) (ledger.Answer, error)
	DebitLien(ctx context.Context, c ledger.LienDebitRequest) (ledger.Answer, error)

	CreateWallet(ctx context.Context, n ledger.NewWallet) (ledger.Wallet, error)
	Wallet(ctx context.Context, id string) (ledger.Wallet, error)
	Credit(ctx context.Context, c ledger.Credit) (ledger.Wallet, error)
	SetStatus(ctx context.Context, id string, s ledger.Status) (ledger.Wallet, error)
	Statement(ctx context.Context, walletID string, before uint64, limit int) ([]ledger.StatementLine, uint64, error)
	Transaction(ctx context.Context, reference string) (ledger.Transaction, error)
	Audit(ctx context.Context) (ledger.AuditReport, error)
	Backup(ctx context.Context, w io.Writer, sized func(size int64)) (int64, error)
	Ready() error
}

var _ Store = (*ledger.Ledger)(nil)

// Config wires a Server.
type Config struct {
	Store Store
	Keys  *mac.Keys
	// AdminToken enables the admin API (Authorization: Bearer <token>); empty: the admin API answers 404.
	AdminToken string
	Logger     *zap.Logger
	Metrics    *Metrics
	// Gatherer serves /metrics; nil: /metrics is not mounted.
	Gatherer MetricsGatherer
	// PartnerStore serves /admin/outbox, top-up and cash-out look-ups and the transaction look-up's partner
	// deliveries; nil: those routes answer 404 and partnerDeliveries is empty.
	PartnerStore PartnerStore
	// Movements runs BestCash top-ups and cash-outs; nil (BestCash not configured): those routes answer 404.
	Movements Movements
}

// Server holds the two Echo routers.
type Server struct {
	store      Store
	keys       *mac.Keys
	adminToken []byte
	log        *zap.Logger
	metrics    *Metrics

	partnerStore PartnerStore
	movements    Movements

	switchEcho *echo.Echo
	opsEcho    *echo.Echo

	backupRunning atomic.Bool // one GET /admin/backup at a time
}

// New builds the routers. cfg.Store, cfg.Keys and cfg.Metrics are required.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{
		store:   cfg.Store,
		keys:    cfg.Keys,
		log:     log,
		metrics: cfg.Metrics,

		partnerStore: cfg.PartnerStore,
		movements:    cfg.Movements,
	}
	if cfg.AdminToken != "" {
		s.adminToken = []byte(cfg.AdminToken)
	}
	s.switchEcho = s.newSwitchRouter()
	s.opsEcho = s.newOpsRouter(cfg.Gatherer)
	return s
}

// Switch is the handler of the card switch's listener.
func (s *Server) Switch() http.Handler { return s.switchEcho }

// Ops is the handler of the ops listener.
func (s *Server) Ops() http.Handler { return s.opsEcho }

// Routes lists "METHOD path" of both routers (for the OpenAPI consistency test and docs).
func (s *Server) Routes() (switchRoutes, opsRoutes []string) {
	for _, r := range s.switchEcho.Routes() {
		switchRoutes = append(switchRoutes, r.Method+" "+r.Path)
	}
	for _, r := range s.opsEcho.Routes() {
		opsRoutes = append(opsRoutes, r.Method+" "+r.Path)
	}
	return switchRoutes, opsRoutes
}

// Timeouts of both listeners. A switch message is small and its answer quick; these bound slow or stuck clients.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 90 * time.Second
)

// NewHTTPServer returns an http.Server for h with walletgate's timeouts.
func NewHTTPServer(addr string, h http.Handler, errorLog *zap.Logger) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    16 << 10,
	}
	if errorLog != nil {
		if l, err := zap.NewStdLogAt(errorLog, zap.WarnLevel); err == nil {
			srv.ErrorLog = l
		}
	}
	return srv
}

func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	return e
}
