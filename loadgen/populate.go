package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/server"
)

// PopulateConfig describes a large ledger built for measurements (the 1M-wallet, 10M-entry run).
type PopulateConfig struct {
	DB       string // the ledger file; walletgate must not be running on it
	Keys     *mac.Keys
	Template *Template
	Prefix   string // wallet ids are Prefix + 7 digits (WalletIDs)
	Wallets  int
	// Entries is the journal entries wanted in all: each wallet's funding credit is one, the rest are approved
	// debits spread evenly over the wallets.
	Entries int64
	Fund    int64 // funding of each wallet, minor units; default: enough for its debits
	Amount  int64 // each debit's principal; default 100
	Workers int   // messages in flight; default 2048
	// MaxBatch is the ledger's group-commit cap while populating; default 2048.
	MaxBatch int
	Progress io.Writer
}

// PopulateReport says what was built.
type PopulateReport struct {
	Wallets  int     `json:"wallets"`
	Debits   int64   `json:"debits"`
	Seconds  float64 `json:"seconds"`
	DBBytes  int64   `json:"dbBytes"`
	Entries  uint64  `json:"journalEntries"`
	AuditOK  bool    `json:"auditOk"`
	Problems []string
}

// Populate builds the ledger through walletgate's real write path: every wallet is created and funded through the
// admin API's handlers, every debit is a signed switch message through the switch router, the MAC check, the
// ledger's writer and its fsync'd group commit, exactly as under load; only the network is left out. Wallets are
// done in id order, so each commit touches neighbouring pages, as a bulk load should. It is idempotent: run again,
// existing wallets and credits are accepted and known debits replay, so an interrupted build can be resumed.
// The audit runs at the end.
func Populate(ctx context.Context, cfg PopulateConfig) (PopulateReport, error) {
	var rep PopulateReport
	if cfg.Wallets <= 0 || cfg.Entries < int64(cfg.Wallets) {
		return rep, errors.New("populate: need wallets > 0 and entries >= wallets")
	}
	if cfg.Amount <= 0 {
		cfg.Amount = 100
	}
	perWallet := (cfg.Entries - int64(cfg.Wallets) + int64(cfg.Wallets) - 1) / int64(cfg.Wallets)
	if cfg.Fund <= 0 {
		cfg.Fund = (perWallet + 100) * cfg.Amount
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2048
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2048
	}
	l, err := ledger.Open(cfg.DB, ledger.Options{MaxBatch: cfg.MaxBatch})
	if err != nil {
		return rep, err
	}
	defer l.Close()
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	srv := server.New(server.Config{Store: l, Keys: cfg.Keys, AdminToken: hex.EncodeToString(token),
		Metrics: server.NewMetrics(prometheus.NewRegistry())})
	auth := "Bearer " + hex.EncodeToString(token)
	call := func(h http.Handler, path string, body []byte, admin bool) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if admin {
			req.Header.Set("Authorization", auth)
		}
		w := &memWriter{header: http.Header{}, status: http.StatusOK}
		h.ServeHTTP(w, req)
		return w.status, w.body.Bytes()
	}

	start := time.Now()
	ids := WalletIDs(cfg.Prefix, 0, cfg.Wallets)
	remaining := cfg.Entries - int64(cfg.Wallets)
	var debits, walletsDone atomic.Int64
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var failed atomic.Bool
	fail := func(err error) { errOnce.Do(func() { firstErr = err; failed.Store(true) }) }
	stopProgress := make(chan struct{})
	var progressWG sync.WaitGroup
	if cfg.Progress != nil {
		progressWG.Go(func() {
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					fmt.Fprintf(cfg.Progress, "populate %6.0fs  %8d wallets  %10d debits\n", time.Since(start).Seconds(),
						walletsDone.Load(), debits.Load())
				case <-stopProgress:
					return
				}
			}
		})
	}
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for !failed.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				if err := populateWallet(&cfg, srv, call, ids[i], i, perWallet, remaining, &debits); err != nil {
					fail(err)
					return
				}
				walletsDone.Add(1)
			}
		})
	}
	wg.Wait()
	close(stopProgress)
	progressWG.Wait()
	rep.Wallets, rep.Debits, rep.Seconds = int(walletsDone.Load()), debits.Load(), time.Since(start).Seconds()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return rep, firstErr
	}
	a, err := l.Audit(ctx)
	if err != nil {
		return rep, err
	}
	rep.AuditOK, rep.Entries, rep.Problems = a.OK, a.Entries, a.Problems
	if st, err := os.Stat(cfg.DB); err == nil {
		rep.DBBytes = st.Size()
	}
	return rep, nil
}

// populateWallet creates, funds and debits wallet number i.
func populateWallet(cfg *PopulateConfig, srv *server.Server, call func(http.Handler, string, []byte, bool) (int, []byte),
	id string, i int, perWallet, remaining int64, debits *atomic.Int64) error {
	body, _ := json.Marshal(map[string]any{"walletId": id, "currencyCode": cfg.Template.Currency(), "name": "Populated " + id})
	if st, out := call(srv.Ops(), "/admin/wallets", body, true); st != http.StatusCreated && !bytes.Contains(out, []byte(`"wallet_exists"`)) {
		return fmt.Errorf("populate: create %s: HTTP %d %s", id, st, out)
	}
	body, _ = json.Marshal(map[string]any{"amount": cfg.Fund, "reference": "fund-" + id, "narration": "populate"})
	if st, out := call(srv.Ops(), "/admin/wallets/"+id+"/credit", body, true); st != http.StatusOK {
		return fmt.Errorf("populate: fund %s: HTTP %d %s", id, st, out)
	}
	// Debits of this wallet: perWallet, fewer for the last wallets when the count does not divide evenly.
	n := min(perWallet, max(0, remaining-int64(i)*perWallet))
	for j := range n {
		ref := id + "-" + strconv.FormatInt(j, 10)
		seq := int64(i)*perWallet + j
		m := Message{Route: RouteDebit, RequestID: ref, WalletID: id, Reference: ref, Amount: cfg.Amount,
			RRN: fmt.Sprintf("%012d", seq%1_000_000_000_000), STAN: fmt.Sprintf("%06d", seq%1_000_000)}
		st, out := call(srv.Switch(), "/debit", cfg.Template.Build(cfg.Keys, &m), false)
		if st != http.StatusOK || !bytes.Contains(out, []byte(`"responseCode":"00"`)) {
			return fmt.Errorf("populate: debit %s: HTTP %d %s", ref, st, out)
		}
		debits.Add(1)
	}
	return nil
}

// memWriter is an http.ResponseWriter that keeps the answer in memory.
type memWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *memWriter) Header() http.Header         { return w.header }
func (w *memWriter) WriteHeader(status int)      { w.status = status }
func (w *memWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
