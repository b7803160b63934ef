package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap/zapcore"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/server"
)

// The seed's sample wallet (seeds/002) and what the demo funds it with: enough for the seed's approved sample of
// 100 kobo, not for its insufficient-funds sample of 1000.
const (
	demoWalletID = "1234567894"
	demoCurrency = "566" // NGN
	demoFunding  = 500   // kobo: NGN 5.00
)

// demoRequest is the seed's successful sample request (seeds/002), with its JSON corrected.
func demoRequest(requestID, reference string, amount int64) []byte {
	return fmt.Appendf(nil, `{"requestId":%q,"walletId":%q,"amount":%d,"transactionReference":%q,`+
		`"transactionDateTime":"2020-05-15T13:32:09","terminalId":"3IWPDVNA","terminalType":"21",`+
		`"merchantId":"WEBPAYDIRECTVNA","acquiringInstitutionId":"428051043","currencyCode":"566",`+
		`"cardAcceptorNameLocation":"MATRIX ENERGY LIMITE   LA           LANG","rrn":"000111000111","stan":"000018",`+
		`"additionalFields":{"processingCode":"000000","merchantType":"8850"}}`, requestID, demoWalletID, amount, reference)
}

func demo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", defaultListen, "switch API address")
	opsListen := fs.String("ops-listen", defaultOpsListen, "ops API address")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	withPartners := fs.Bool("partners", false, "also run simulated partners (connector, virtual account, BestCash) in-process and wire them")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "walletgate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	macKey, adminToken := randomHex(32), randomHex(16)
	cfg := &config{Listen: *listen, OpsListen: *opsListen, DB: filepath.Join(dir, "walletgate.db"),
		MACKey: secret(macKey), MACAlgo: string(mac.SHA512), AdminToken: secret(adminToken), LogLevel: *logLevel, LienTTL: ledger.DefaultLienTTL}
	keys, err := cfg.keys()
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel, zapcore.Lock(zapcore.AddSync(stderr)))
	if err != nil {
		return usageError{err}
	}
	defer func() { _ = log.Sync() }()
	limitMemory := tuneGC(getenv)
	var sim *demoSimulator
	if *withPartners {
		if sim, err = startDemoSimulator(cfg); err != nil {
			return err
		}
		defer sim.close()
	}

	return runServer(ctx, cfg, keys, log, func(a *app) error {
		limitMemory()
		if _, err := a.ledger.CreateWallet(ctx, ledger.NewWallet{ID: demoWalletID, Currency: demoCurrency, Name: "Demo Wallet",
			VirtualAccountID: sim.virtualAccountID()}); err != nil {
			return fmt.Errorf("demo wallet: %w", err)
		}
		if _, err := a.ledger.Credit(ctx, ledger.Credit{WalletID: demoWalletID, Amount: demoFunding, Reference: "demo-funding", Narration: "demo funding"}); err != nil {
			return fmt.Errorf("demo funding: %w", err)
		}
		if err := printDemo(stdout, keys, macKey, adminToken, hostPort(a.switchAddr.String()), hostPort(a.opsAddr.String()), dir); err != nil {
			return err
		}
		return sim.print(stdout, adminToken, hostPort(a.opsAddr.String()))
	})
}

// hostPort turns a listener address into one curl can reach on this machine.
func hostPort(addr string) string {
	if strings.HasPrefix(addr, "[::]:") || strings.HasPrefix(addr, "0.0.0.0:") {
		return "127.0.0.1" + addr[strings.LastIndexByte(addr, ':'):]
	}
	return addr
}

func printDemo(w io.Writer, keys *mac.Keys, macKey, adminToken, switchAddr, opsAddr, dir string) error {
	signed := func(requestID, reference string, amount int64) (string, error) {
		body := demoRequest(requestID, reference, amount)
		r, err := server.DecodeRequest(body)
		if err != nil {
			return "", err
		}
		out, err := server.SetMAC(body, keys.Sign(mac.Current, mac.Values(mac.Debit, r.Text)...))
		return string(out), err
	}
	approved, err := signed("1", "11123456789", 100)
	if err != nil {
		return err
	}
	short, err := signed("2", "11123456790", 1000)
	if err != nil {
		return err
	}
	forged := strings.Replace(approved, `"requestId":"1"`, `"requestId":"3"`, 1)
	if forged == approved {
		return errors.New("demo: could not build the forged sample")
	}
	curl := func(body string) string {
		return fmt.Sprintf("curl -s http://%s/debit -H 'Content-Type: application/json' -d '%s'", switchAddr, body)
	}
	_, err = fmt.Fprintf(w, `
walletgate demo is running (throw-away ledger in %s, removed on exit; Ctrl-C stops it).

  MAC key (HMAC-SHA512, shared with the switch):  %s
  admin token:                                    %s
  wallet %s (NGN %s) funded with %d kobo.

The seed's successful debit of 100 kobo, signed (answers "responseCode":"00"; paste it twice for a byte-identical replay):

%s

The seed's insufficient-funds sample, 1000 kobo (answers "51"):

%s

A forged message (requestId changed after signing, answers "12" and is not remembered):

%s

The wallet, through the admin API:

curl -s http://%s/admin/wallets/%s -H 'Authorization: Bearer %s'

Sign your own request:  echo '{...}' | WALLETGATE_MAC_KEY=%s go run ./cmd/walletgate sign --message debit

`, dir, macKey, adminToken, demoWalletID, demoCurrency, demoFunding, curl(approved), curl(short), curl(forged),
		opsAddr, demoWalletID, adminToken, macKey)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}
