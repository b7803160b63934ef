package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/outbound"
)

// partnerConfig holds the partner settings (CONTRACT 3 and 5) and the outbox's tuning. A partner without a URL
// is off.
type partnerConfig struct {
	ConnectorURL      string
	ConnectorAPIKey   secret
	ConnectorUser     string
	ConnectorPassword secret

	VAURL                  string
	VAToken                secret
	VADebitClassification  string
	VACreditClassification string

	BestCashURL       string
	BestCashAPIKey    secret
	BestCashAPISecret secret

	Timeout           time.Duration // one partner call
	OutboxWorkers     int
	OutboxMaxAttempts int
	OutboxBackoff     time.Duration
	OutboxMaxBackoff  time.Duration
	ResolveInterval   time.Duration // how often held cash-outs are looked up at BestCash

	envErr error // a malformed number or duration in the environment
}

// Defaults of the outbox and partner calls.
const (
	defaultPartnerTimeout    = 15 * time.Second
	defaultOutboxWorkers     = 8
	defaultOutboxMaxAttempts = 10
	defaultOutboxBackoff     = time.Second
	defaultOutboxMaxBackoff  = 5 * time.Minute
	defaultResolveInterval   = 30 * time.Second
)

func (p *partnerConfig) bind(fs *flag.FlagSet, getenv func(string) string) {
	str := func(v *string, name, env, usage string) { fs.StringVar(v, name, getenv(env), usage+" ("+env+")") }
	sec := func(v *secret, name, env, usage string) {
		*v = secret(getenv(env))
		fs.Var(secretFlag{v}, name, usage+" ("+env+")")
	}
	dur := func(v *time.Duration, name, env string, def time.Duration, usage string) {
		if s := getenv(env); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				p.envErr = errors.Join(p.envErr, fmt.Errorf("%s: %q is not a positive duration (like 500ms, 30s, 5m)", env, s))
			} else {
				def = d
			}
		}
		fs.DurationVar(v, name, def, usage+" ("+env+")")
	}
	num := func(v *int, name, env string, def int, usage string) {
		if s := getenv(env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				p.envErr = errors.Join(p.envErr, fmt.Errorf("%s: %q is not a positive integer", env, s))
			} else {
				def = n
			}
		}
		fs.IntVar(v, name, def, usage+" ("+env+")")
	}
	str(&p.ConnectorURL, "connector-url", "WALLETGATE_CONNECTOR_URL", "connector push API base URL; empty: connector off")
	sec(&p.ConnectorAPIKey, "connector-api-key", "WALLETGATE_CONNECTOR_API_KEY", "connector API key")
	str(&p.ConnectorUser, "connector-user", "WALLETGATE_CONNECTOR_USER", "connector HTTP Basic user")
	sec(&p.ConnectorPassword, "connector-password", "WALLETGATE_CONNECTOR_PASSWORD", "connector HTTP Basic password")
	str(&p.VAURL, "va-url", "WALLETGATE_VA_URL", "virtual-account API base URL; empty: virtual account off")
	sec(&p.VAToken, "va-token", "WALLETGATE_VA_TOKEN", "virtual-account bearer token")
	str(&p.VADebitClassification, "va-debit-classification", "WALLETGATE_VA_DEBIT_CLASSIFICATION", "classificationCode of mirrored debits")
	str(&p.VACreditClassification, "va-credit-classification", "WALLETGATE_VA_CREDIT_CLASSIFICATION", "classificationCode of mirrored reversals")
	str(&p.BestCashURL, "bestcash-url", "WALLETGATE_BESTCASH_URL", "BestCash base URL (ending in /external); empty: top-ups and cash-outs off")
	sec(&p.BestCashAPIKey, "bestcash-api-key", "WALLETGATE_BESTCASH_API_KEY", "BestCash X-Auth-ApiKey")
	sec(&p.BestCashAPISecret, "bestcash-api-secret", "WALLETGATE_BESTCASH_API_SECRET", "BestCash X-Auth-ApiSecret")
	dur(&p.Timeout, "partner-timeout", "WALLETGATE_PARTNER_TIMEOUT", defaultPartnerTimeout, "bound of one partner call")
	num(&p.OutboxWorkers, "outbox-workers", "WALLETGATE_OUTBOX_WORKERS", defaultOutboxWorkers, "outbox deliveries in flight at once")
	num(&p.OutboxMaxAttempts, "outbox-max-attempts", "WALLETGATE_OUTBOX_MAX_ATTEMPTS", defaultOutboxMaxAttempts, "delivery attempts before an event is dead-lettered")
	dur(&p.OutboxBackoff, "outbox-backoff", "WALLETGATE_OUTBOX_BACKOFF", defaultOutboxBackoff, "delay after the first failed delivery, doubled after each")
	dur(&p.OutboxMaxBackoff, "outbox-max-backoff", "WALLETGATE_OUTBOX_MAX_BACKOFF", defaultOutboxMaxBackoff, "longest delay between delivery attempts")
	dur(&p.ResolveInterval, "cashout-resolve-interval", "WALLETGATE_CASHOUT_RESOLVE_INTERVAL", defaultResolveInterval, "how often cash-outs of unknown outcome are looked up at BestCash")
}

func (p *partnerConfig) validate() error {
	if p.envErr != nil {
		return p.envErr
	}
	switch {
	case p.ConnectorURL != "" && (p.ConnectorAPIKey == "" || p.ConnectorUser == "" || p.ConnectorPassword == ""):
		return errors.New("WALLETGATE_CONNECTOR_URL needs WALLETGATE_CONNECTOR_API_KEY, _USER and _PASSWORD")
	case p.VAURL != "" && (p.VAToken == "" || p.VADebitClassification == "" || p.VACreditClassification == ""):
		return errors.New("WALLETGATE_VA_URL needs WALLETGATE_VA_TOKEN, _DEBIT_CLASSIFICATION and _CREDIT_CLASSIFICATION")
	case p.BestCashURL != "" && (p.BestCashAPIKey == "" || p.BestCashAPISecret == ""):
		return errors.New("WALLETGATE_BESTCASH_URL needs WALLETGATE_BESTCASH_API_KEY and _API_SECRET")
	case p.Timeout <= 0 || p.OutboxWorkers <= 0 || p.OutboxMaxAttempts <= 0 || p.OutboxBackoff <= 0 || p.OutboxMaxBackoff <= 0 || p.ResolveInterval <= 0:
		return errors.New("partner timeout, outbox workers, attempts, backoffs and the resolve interval must be positive")
	}
	return nil
}

// fields is the start-up log line's view of the partner settings: URLs and tuning, every credential masked.
func (p *partnerConfig) fields() []zap.Field {
	return []zap.Field{
		zap.String("connectorURL", p.ConnectorURL), zap.Stringer("connectorAPIKey", p.ConnectorAPIKey),
		zap.String("connectorUser", p.ConnectorUser), zap.Stringer("connectorPassword", p.ConnectorPassword),
		zap.String("vaURL", p.VAURL), zap.Stringer("vaToken", p.VAToken),
		zap.String("bestCashURL", p.BestCashURL), zap.Stringer("bestCashAPIKey", p.BestCashAPIKey),
		zap.Stringer("bestCashAPISecret", p.BestCashAPISecret),
		zap.Duration("partnerTimeout", p.Timeout), zap.Int("outboxMaxAttempts", p.OutboxMaxAttempts),
		zap.Duration("outboxBackoff", p.OutboxBackoff), zap.Duration("outboxMaxBackoff", p.OutboxMaxBackoff),
	}
}

// partners is the partner side of a running walletgate: the clients, the outbox route, the dispatcher and the
// cash-out resolver.
type partners struct {
	cfg        partnerConfig
	log        *zap.Logger
	metrics    *outbound.Metrics
	hc         *http.Client
	deliverers map[string]outbound.Deliverer
	bestCash   *outbound.BestCash

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newPartners builds the configured clients. It starts nothing.
func newPartners(cfg partnerConfig, log *zap.Logger, reg prometheus.Registerer) *partners {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultPartnerTimeout
	}
	p := &partners{cfg: cfg, log: log, metrics: outbound.NewMetrics(reg), deliverers: map[string]outbound.Deliverer{}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	p.hc = &http.Client{Timeout: cfg.Timeout, Transport: tr}
	if cfg.ConnectorURL != "" {
		p.deliverers[outbound.PartnerConnector] = outbound.ConnectorDeliverer{Client: outbound.NewConnector(outbound.ConnectorConfig{
			URL: cfg.ConnectorURL, APIKey: string(cfg.ConnectorAPIKey), User: cfg.ConnectorUser,
			Password: string(cfg.ConnectorPassword)}, p.hc, p.metrics)}
	}
	if cfg.VAURL != "" {
		p.deliverers[outbound.PartnerVirtualAccount] = outbound.VirtualAccountDeliverer{Client: outbound.NewVirtualAccount(outbound.VirtualAccountConfig{
			URL: cfg.VAURL, Token: string(cfg.VAToken), DebitClassification: cfg.VADebitClassification,
			CreditClassification: cfg.VACreditClassification}, p.hc, p.metrics)}
	}
	if cfg.BestCashURL != "" {
		p.bestCash = outbound.NewBestCash(outbound.BestCashConfig{URL: cfg.BestCashURL, APIKey: string(cfg.BestCashAPIKey),
			APISecret: string(cfg.BestCashAPISecret)}, p.hc, p.metrics)
	}
	return p
}

// route is the ledger's outbox route; nil when neither the connector nor the virtual account is configured, so
// that a walletgate without partners writes no outbox records.
func (p *partners) route() ledger.Route {
	_, conn := p.deliverers[outbound.PartnerConnector]
	_, va := p.deliverers[outbound.PartnerVirtualAccount]
	if !conn && !va {
		return nil
	}
	return outbound.Route(conn, va)
}

// movements returns the BestCash flows over l, nil when BestCash is off.
func (p *partners) movements(l *ledger.Ledger) *outbound.Movements {
	if p.bestCash == nil {
		return nil
	}
	return outbound.NewMovements(l, p.bestCash, p.log)
}

// start runs the dispatcher (always: it also reports the pending events of partners that are no longer
// configured) and, with BestCash, the cash-out resolver. stop ends them and waits; call it before closing l.
func (p *partners) start(l *ledger.Ledger, m *outbound.Movements) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	d := outbound.NewDispatcher(outbound.DispatcherConfig{Store: l, Partners: p.deliverers, Workers: p.cfg.OutboxWorkers,
		MaxAttempts: p.cfg.OutboxMaxAttempts, BaseBackoff: p.cfg.OutboxBackoff, MaxBackoff: p.cfg.OutboxMaxBackoff,
		AttemptTimeout: p.cfg.Timeout, Metrics: p.metrics, Logger: p.log})
	p.wg.Go(func() { d.Run(ctx) })
	if m != nil {
		p.wg.Go(func() { m.RunResolver(ctx, p.cfg.ResolveInterval) })
	}
}

// names lists the partners that are on, for the start-up line.
func (p *partners) names() []string {
	out := []string{}
	for _, name := range []string{outbound.PartnerConnector, outbound.PartnerVirtualAccount} {
		if p.deliverers[name] != nil {
			out = append(out, name)
		}
	}
	if p.bestCash != nil {
		out = append(out, outbound.PartnerBestCash)
	}
	return out
}

func (p *partners) stop() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.hc.CloseIdleConnections()
}

// demoVirtualAccount is the virtual account of the demo wallet when the demo runs with --partners.
const demoVirtualAccount = "VA-DEMO-0001"

// demoSimulator is `walletgate demo --partners`: the simulated partners, served in-process on a loopback port.
type demoSimulator struct {
	sim  *outbound.Simulator
	srv  *http.Server
	base string
}

// startDemoSimulator serves the simulator on 127.0.0.1 and points cfg's partner settings at it, with short retry
// delays so that a newcomer sees the outbox move.
func startDemoSimulator(cfg *config) (*demoSimulator, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo partners: %w", err)
	}
	d := &demoSimulator{sim: outbound.NewSimulator(), base: "http://" + ln.Addr().String()}
	d.srv = &http.Server{Handler: d.sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.srv.Serve(ln) }()
	bc, va, conn := d.sim.Configs(d.base)
	cfg.Partners = partnerConfig{
		ConnectorURL: conn.URL, ConnectorAPIKey: secret(conn.APIKey), ConnectorUser: conn.User, ConnectorPassword: secret(conn.Password),
		VAURL: va.URL, VAToken: secret(va.Token), VADebitClassification: va.DebitClassification, VACreditClassification: va.CreditClassification,
		BestCashURL: bc.URL, BestCashAPIKey: secret(bc.APIKey), BestCashAPISecret: secret(bc.APISecret),
		Timeout: 5 * time.Second, OutboxWorkers: 4, OutboxMaxAttempts: 5, OutboxBackoff: 500 * time.Millisecond,
		OutboxMaxBackoff: 5 * time.Second, ResolveInterval: 5 * time.Second,
	}
	return d, nil
}

func (d *demoSimulator) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = d.srv.Shutdown(ctx)
}

// virtualAccountID is the demo wallet's virtual account: one only when partners run (nil-safe).
func (d *demoSimulator) virtualAccountID() string {
	if d == nil {
		return ""
	}
	return demoVirtualAccount
}

// print tells the newcomer where the partners are and what to look at (nil-safe: nothing without --partners).
func (d *demoSimulator) print(w io.Writer, adminToken, opsAddr string) error {
	if d == nil {
		return nil
	}
	auth := "-H 'Authorization: Bearer " + adminToken + "'"
	_, err := fmt.Fprintf(w, `Simulated partners run at %s (connector, virtual account, BestCash). Wallet %s mirrors to
virtual account %s. After the approved debit above, the log shows "outbox: delivered" for the connector and
the virtual account; the deliveries, and the transaction with its partner deliveries:

curl -s http://%s/admin/outbox %s
curl -s http://%s/admin/transactions/11123456789 %s

Dead letters, and a manual retry of one (its "id" from the list):

curl -s 'http://%s/admin/outbox?state=dead' %s
curl -s -X POST http://%s/admin/outbox/1/retry %s

A BestCash top-up of 1000 kobo (customer %s, confirmation code %s), then a cash-out of 200:

curl -s http://%s/admin/wallets/%s/topups %s -d '{"reference":"topup-1","amount":1000,"phone":"%s"}'
curl -s http://%s/admin/topups/topup-1/confirm %s -d '{"code":"%s"}'
curl -s http://%s/admin/wallets/%s/cashouts %s -d '{"reference":"cashout-1","amount":200,"phone":"%s"}'

`, d.base, demoWalletID, demoVirtualAccount, opsAddr, auth, opsAddr, auth, opsAddr, auth, opsAddr, auth,
		outbound.SimCustomerPhone, outbound.SimConfirmationCode,
		opsAddr, demoWalletID, auth, outbound.SimCustomerPhone, opsAddr, auth, outbound.SimConfirmationCode,
		opsAddr, demoWalletID, auth, outbound.SimCustomerPhone)
	return err
}
