// Command walletgate is the wallet provider's callback server for a card switch, and its tools.
//
//	walletgate serve     run the server (configuration: environment variables or flags, see README)
//	walletgate demo      run it with a throw-away ledger, key and admin token, and print a curl to try
//	walletgate sign      read a request JSON on stdin, print it with its "mac"
//	walletgate wallet    create, show, credit, freeze, unfreeze, close a wallet; its statement (admin API)
//	walletgate tx show   a switch transaction as recorded (admin API)
//	walletgate backup    a consistent copy of the ledger file
//	walletgate loadgen   replay signed seed samples against a running walletgate and report (see README)
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // the flag package printed the usage; asking for it is not an error
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "walletgate:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ error }

// Unwrap lets errors.Is and errors.As see the reason (mac.ErrUnknownAlgorithm, os.ErrNotExist, flag.ErrHelp, ...).
func (u usageError) Unwrap() error { return u.error }

const usage = `usage: walletgate <command> [flags]

commands:
  serve   run the server (see README for the configuration)
  demo    run with a throw-away ledger, MAC key and admin token; prints a curl to try
  sign    read a switch request JSON on stdin and print it with its "mac" (key: WALLETGATE_MAC_KEY)
  wallet  create|show|credit|freeze|unfreeze|close|statement WALLET_ID (admin API: WALLETGATE_OPS_URL,
          WALLETGATE_ADMIN_TOKEN)
  tx      show TRANSACTION_REFERENCE (admin API)
  backup  --out FILE: a consistent copy of the ledger, from the running server (or --db FILE when stopped)
  loadgen load a running walletgate with signed seed samples; report latency, codes and conservation

"walletgate <command> -h" lists a command's flags.`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usageError{errors.New("no command")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, getenv)
	case "demo":
		return demo(ctx, args[1:], stdout, stderr, getenv)
	case "sign":
		return sign(args[1:], stdin, stdout, stderr, getenv)
	case "wallet":
		return wallet(ctx, args[1:], stdout, stderr, getenv)
	case "tx":
		return tx(ctx, args[1:], stdout, stderr, getenv)
	case "backup":
		return backup(ctx, args[1:], stdout, stderr, getenv)
	case "loadgen":
		return loadgenCmd(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	var cfg config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.bind(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return usageError{err}
	}
	keys, err := cfg.keys()
	if err != nil {
		return usageError{err}
	}
	log, err := newLogger(cfg.LogLevel, zapcore.Lock(zapcore.AddSync(stderr)))
	if err != nil {
		return usageError{err}
	}
	defer func() { _ = log.Sync() }()
	limitMemory := tuneGC(getenv)
	return runServer(ctx, &cfg, keys, log, func(*app) error { limitMemory(); return nil })
}

// app is a running walletgate: the ledger, the two listeners, and how to stop them.
type app struct {
	ledger     *ledger.Ledger
	switchAddr net.Addr
	opsAddr    net.Addr
}

// runServer starts the ops listener (which answers /readyz 503 until the ledger is open), opens the ledger, starts
// the switch listener and the full ops API, and blocks until ctx ends; then it stops accepting, lets in-flight
// requests finish and their commits land, closes the ledger and returns nil. ready, when set, is called once both
// listeners serve. When ctx ends while the ledger is being opened (its consistency check reads the whole
// file: minutes on a large ledger), the start-up is given up before anything is written to the file and runServer
// returns nil too, without calling ready: a stop asked for is not a failure.
func runServer(ctx context.Context, cfg *config, keys *mac.Keys, log *zap.Logger, ready func(*app) error) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := server.NewMetrics(reg)

	parts := newPartners(cfg.Partners, log, reg)

	// The ops listener answers from the start, since opening a large ledger takes minutes: /healthz 200, /readyz 503
	// until the ledger is open (server.StartingOps), then the full ops API.
	opsLn, err := net.Listen("tcp", cfg.OpsListen)
	if err != nil {
		return fmt.Errorf("ops listener: %w", err)
	}
	ops := &handover{}
	ops.set(server.StartingOps(reg))
	opsSrv := server.NewHTTPServer(cfg.OpsListen, ops, log)
	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("ops listener: %w", opsSrv.Serve(opsLn)) }()
	shutdownOps := func() {
		ctx2, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = opsSrv.Shutdown(ctx2)
	}

	log.Info("opening the ledger", zap.String("db", cfg.DB), zap.String("opsAddr", opsLn.Addr().String()))
	l, err := openLedger(ctx, cfg.DB, ledger.Options{Observer: metrics, Route: parts.route(), LienTTL: cfg.LienTTL})
	if err != nil {
		shutdownOps()
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			log.Info("stopped during start-up, before the ledger was open: nothing was written to it",
				zap.String("db", cfg.DB), zap.NamedError("reason", err))
			return nil
		}
		return err
	}
	closeLedger := sync.OnceValue(l.Close)
	defer func() { _ = closeLedger() }()
	defer shutdownOps() // on a return before the shutdown below; it runs before the ledger closes

	var movements server.Movements // stays a nil interface without BestCash
	bestCashFlows := parts.movements(l)
	if bestCashFlows != nil {
		movements = bestCashFlows
	}
	parts.start(l, bestCashFlows)
	stopPartners := sync.OnceFunc(parts.stop)
	defer stopPartners() // before the ledger closes

	var tc *tls.Config
	if cfg.TLSCert != "" {
		if tc, err = tlsConfig(cfg); err != nil {
			return err
		}
	}
	srv := server.New(server.Config{Store: l, Keys: keys, AdminToken: string(cfg.AdminToken), Logger: log,
		Metrics: metrics, Gatherer: reg, PartnerStore: l, Movements: movements})

	switchLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("switch listener: %w", err)
	}
	ops.set(srv.Ops())
	switchSrv := server.NewHTTPServer(cfg.Listen, srv.Switch(), log)
	switchSrv.TLSConfig = tc

	go func() {
		var err error
		if tc != nil {
			err = switchSrv.ServeTLS(switchLn, "", "") // certificates already loaded into tc
		} else {
			err = switchSrv.Serve(switchLn)
		}
		errc <- fmt.Errorf("switch listener: %w", err)
	}()

	log.Info("walletgate started", append(cfg.fields(), zap.String("switchAddr", switchLn.Addr().String()),
		zap.String("opsAddr", opsLn.Addr().String()), zap.Bool("tls", cfg.TLSCert != ""),
		zap.Bool("mutualTLS", cfg.TLSClientCA != ""), zap.Bool("adminAPI", cfg.AdminToken != ""),
		zap.Strings("partners", parts.names()))...)
	if ready != nil {
		if err := ready(&app{ledger: l, switchAddr: switchLn.Addr(), opsAddr: opsLn.Addr()}); err != nil {
			ctx2, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = switchSrv.Shutdown(ctx2)
			_ = opsSrv.Shutdown(ctx2)
			return err
		}
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: no new connections, finishing requests in flight")
	case runErr = <-errc:
		log.Error("listener failed, shutting down", zap.Error(runErr))
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range []*http.Server{switchSrv, opsSrv} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(shutdownCtx); err != nil {
				log.Error("shutdown did not finish in time", zap.String("addr", s.Addr), zap.Error(err))
				_ = s.Close()
			}
		}()
	}
	wg.Wait()
	stopPartners() // the dispatcher and the resolver write through the ledger: stop them first
	// Every handler has returned, so every commit it waited for has landed; the ledger drains anything left.
	if err := closeLedger(); err != nil {
		log.Error("closing the ledger", zap.Error(err))
		return fmt.Errorf("closing the ledger: %w", err)
	}
	log.Info("walletgate stopped")
	return runErr
}

// openLedger is ledger.OpenContext; tests stand in a slow open.
var openLedger = ledger.OpenContext

// handover is the ops listener's handler: server.StartingOps while the ledger opens, then the full ops API.
type handover struct{ h atomic.Pointer[http.Handler] }

func (o *handover) set(h http.Handler) { o.h.Store(&h) }

func (o *handover) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*o.h.Load()).ServeHTTP(w, r) }

// ShutdownTimeout bounds how long a SIGTERM waits for requests in flight.
const ShutdownTimeout = 30 * time.Second

// tlsConfig loads the switch listener's certificate (and client CA) before anything listens, so a bad file is a
// start-up error rather than a listener that dies later.
func tlsConfig(cfg *config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("WALLETGATE_TLS_CERT/WALLETGATE_TLS_KEY: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if cfg.TLSClientCA != "" {
		pem, err := os.ReadFile(cfg.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("WALLETGATE_TLS_CLIENT_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("WALLETGATE_TLS_CLIENT_CA: %s holds no PEM certificate", cfg.TLSClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
