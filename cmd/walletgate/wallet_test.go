package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/server"
)

const cliToken = "cli-test-token-8d1e" // must never be printed

// opsFixture is the real ops router on a real ledger, behind an httptest server.
type opsFixture struct {
	t      *testing.T
	url    string
	path   string
	ledger *ledger.Ledger
	closed bool
}

func newOpsFixture(t *testing.T) *opsFixture {
	t.Helper()
	f := &opsFixture{t: t, path: filepath.Join(t.TempDir(), "walletgate.db")}
	reg := prometheus.NewRegistry()
	metrics := server.NewMetrics(reg)
	l, err := ledger.Open(f.path, ledger.Options{Observer: metrics})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = l
	keys, err := mac.NewKeys(mac.SHA512, []byte(vectorKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Store: l, Keys: keys, AdminToken: cliToken, Logger: zap.NewNop(),
		Metrics: metrics, Gatherer: reg})
	hs := httptest.NewServer(srv.Ops())
	f.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		f.close()
	})
	return f
}

// close audits and closes the ledger (once).
func (f *opsFixture) close() {
	f.t.Helper()
	if f.closed {
		return
	}
	f.closed = true
	rep, err := f.ledger.Audit(context.Background())
	if err != nil || !rep.OK {
		f.t.Errorf("audit after test: ok=%v err=%v problems=%v", rep.OK, err, rep.Problems)
	}
	if err := f.ledger.Close(); err != nil {
		f.t.Errorf("close ledger: %v", err)
	}
}

func (f *opsFixture) env() map[string]string {
	return map[string]string{"WALLETGATE_OPS_URL": f.url, "WALLETGATE_ADMIN_TOKEN": cliToken}
}

// cli runs the command line with env and checks that neither output holds the token.
func cli(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(""), &out, &errOut, envFunc(env))
	for _, s := range []string{out.String(), errOut.String(), errText(err)} {
		if strings.Contains(s, cliToken) {
			t.Errorf("walletgate %s printed the admin token", strings.Join(args, " "))
		}
	}
	return out.String(), errOut.String(), err
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// mustCLI runs the command line and fails the test on an error.
func mustCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, stderr, err := cli(t, env, args...)
	if err != nil {
		t.Fatalf("walletgate %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// row finds "name   value" in a table and returns the value.
func row(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s{2,}(.*?)\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q row in:\n%s", name, out)
	}
	return m[1]
}

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func TestWalletCommands(t *testing.T) {
	f := newOpsFixture(t)
	env := f.env()
	ctx := context.Background()

	out := mustCLI(t, env, "wallet", "create", "ada-1", "--currency", "566", "--name", "Ada Obi",
		"--daily-limit", "5000.50", "--phone", "+2348012345678")
	for name, want := range map[string]string{
		"wallet": "ada-1", "name": "Ada Obi", "status": "active", "currency": "NGN (566)",
		"ledger balance": "0.00 NGN", "available": "0.00 NGN", "daily debit limit": "5000.50 NGN",
		"phone": "+2348012345678",
	} {
		if got := row(t, out, name); got != want {
			t.Errorf("create: %s = %q, want %q", name, got, want)
		}
	}
	if w, err := f.ledger.Wallet(ctx, "ada-1"); err != nil || w.DailyDebitLimit != 500050 || w.Currency != "566" {
		t.Fatalf("ledger wallet = %+v, %v; want limit 500050 kobo", w, err)
	}

	// Flags after the wallet id work too; the amount is in naira.
	out = mustCLI(t, env, "wallet", "credit", "ada-1", "--amount", "1234.56", "--reference", "fund-1", "--narration", "opening")
	if got := row(t, out, "ledger balance"); got != "1234.56 NGN" {
		t.Errorf("credit: ledger balance %q, want 1234.56 NGN", got)
	}
	// The same credit again changes nothing (idempotent on the reference).
	mustCLI(t, env, "wallet", "credit", "ada-1", "--amount", "1234.56", "--reference", "fund-1", "--narration", "opening")
	if w, _ := f.ledger.Wallet(ctx, "ada-1"); w.Balance != 123456 {
		t.Fatalf("balance %d kobo after a repeated credit, want 123456", w.Balance)
	}

	refused := []struct {
		name string
		args []string
		code string // admin API error code, "" for a usage error found before calling
	}{
		{"three decimals in NGN", []string{"wallet", "credit", "ada-1", "--amount", "1.005", "--reference", "x"}, ""},
		{"exponent", []string{"wallet", "credit", "ada-1", "--amount", "1e3", "--reference", "x"}, ""},
		{"negative", []string{"wallet", "credit", "ada-1", "--amount", "-5", "--reference", "x"}, ""},
		{"zero", []string{"wallet", "credit", "ada-1", "--amount", "0.00", "--reference", "x"}, ""},
		{"beyond int64", []string{"wallet", "credit", "ada-1", "--amount", "99999999999999999999", "--reference", "x"}, ""},
		{"no reference", []string{"wallet", "credit", "ada-1", "--amount", "1"}, ""},
		{"no wallet id", []string{"wallet", "show"}, ""},
		{"two wallet ids", []string{"wallet", "show", "a", "b"}, ""},
		{"unknown command", []string{"wallet", "delete", "ada-1"}, ""},
		{"close without --yes", []string{"wallet", "close", "ada-1"}, ""},
		{"create without currency", []string{"wallet", "create", "x", "--name", "X"}, ""},
		{"credit reused with another amount", []string{"wallet", "credit", "ada-1", "--amount", "1", "--reference", "fund-1"}, "reference_conflict"},
		{"wallet exists", []string{"wallet", "create", "ada-1", "--currency", "566", "--name", "Again"}, "wallet_exists"},
		{"unknown wallet", []string{"wallet", "show", "nobody"}, "wallet_not_found"},
		{"invalid wallet id", []string{"wallet", "create", "bad id!", "--currency", "566", "--name", "X"}, "invalid_request"},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			_, _, err := cli(t, env, tc.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.code == "" {
				if !isUsage(err) {
					t.Errorf("error %v, want a usage error (exit 2)", err)
				}
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Code != tc.code || isUsage(err) {
				t.Errorf("error %v, want admin API error %s (exit 1)", err, tc.code)
			}
		})
	}
	if w, _ := f.ledger.Wallet(ctx, "ada-1"); w.Balance != 123456 || w.Status != ledger.StatusActive {
		t.Fatalf("refused commands changed the wallet: %+v", w)
	}

	for _, step := range []struct{ cmd, status string }{
		{"freeze", "frozen"}, {"unfreeze", "active"}, {"freeze", "frozen"},
	} {
		if got := row(t, mustCLI(t, env, "wallet", step.cmd, "ada-1"), "status"); got != step.status {
			t.Errorf("%s: status %q, want %q", step.cmd, got, step.status)
		}
	}
	if got := row(t, mustCLI(t, env, "wallet", "close", "ada-1", "--yes"), "status"); got != "closed" {
		t.Errorf("close: status %q", got)
	}
	if w, _ := f.ledger.Wallet(ctx, "ada-1"); w.Status != ledger.StatusClosed {
		t.Errorf("ledger status %s, want closed", w.Status)
	}

	t.Run("json", func(t *testing.T) {
		var w struct {
			WalletID      string `json:"walletId"`
			LedgerBalance int64  `json:"ledgerBalance"`
			Status        string `json:"status"`
		}
		out := mustCLI(t, env, "wallet", "show", "--json", "ada-1")
		if err := json.Unmarshal([]byte(out), &w); err != nil {
			t.Fatalf("--json output is not JSON: %v\n%s", err, out)
		}
		if w.WalletID != "ada-1" || w.LedgerBalance != 123456 || w.Status != "closed" {
			t.Errorf("--json wallet = %+v; want minor units 123456, closed", w)
		}
	})
}

func TestWalletZeroExponentCurrency(t *testing.T) {
	f := newOpsFixture(t)
	env := f.env()
	mustCLI(t, env, "wallet", "create", "xof-1", "--currency", "952", "--name", "Awa")
	out := mustCLI(t, env, "wallet", "credit", "xof-1", "--amount", "1500", "--reference", "f-1")
	if got := row(t, out, "ledger balance"); got != "1500 XOF" {
		t.Errorf("ledger balance %q, want 1500 XOF", got)
	}
	if w, _ := f.ledger.Wallet(context.Background(), "xof-1"); w.Balance != 1500 {
		t.Errorf("balance %d, want 1500 (XOF has no minor unit)", w.Balance)
	}
	if _, _, err := cli(t, env, "wallet", "credit", "xof-1", "--amount", "15.5", "--reference", "f-2"); !isUsage(err) {
		t.Errorf("15.5 XOF: %v, want a usage error", err)
	}
}

func TestWalletStatement(t *testing.T) {
	f := newOpsFixture(t)
	env := f.env()
	mustCLI(t, env, "wallet", "create", "w1", "--currency", "566", "--name", "W One")
	for i, amount := range []string{"10.00", "0.05", "250.50"} {
		mustCLI(t, env, "wallet", "credit", "w1", "--amount", amount, "--reference", "c-"+string(rune('a'+i)))
	}
	out := mustCLI(t, env, "wallet", "statement", "w1", "--limit", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "REFERENCE") {
		t.Fatalf("want a header, 2 lines and a cursor hint, got:\n%s", out)
	}
	for i, want := range []struct{ ref, amount, balance string }{
		{"c-c", "250.50 NGN", "260.55 NGN"}, {"c-b", "0.05 NGN", "10.05 NGN"},
	} {
		for _, s := range []string{want.ref, want.amount, want.balance, "credit"} {
			if !strings.Contains(lines[i+1], s) {
				t.Errorf("line %d %q lacks %q", i+1, lines[i+1], s)
			}
		}
	}
	m := regexp.MustCompile(`--before (\d+)`).FindStringSubmatch(lines[3])
	if m == nil {
		t.Fatalf("no cursor hint in %q", lines[3])
	}
	out = mustCLI(t, env, "wallet", "statement", "w1", "--limit", "2", "--before", m[1])
	if !strings.Contains(out, "c-a") || !strings.Contains(out, "10.00 NGN") || strings.Contains(out, "--before") {
		t.Errorf("second page:\n%s", out)
	}

	var page struct {
		Transactions []struct {
			Amount int64 `json:"amount"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "wallet", "statement", "w1", "--json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Transactions) != 3 || page.Transactions[0].Amount != 25050 {
		t.Errorf("--json statement = %+v, want 3 lines in minor units, newest 25050", page)
	}
	if _, _, err := cli(t, env, "wallet", "statement", "w1", "--limit", "9999"); err == nil {
		t.Error("--limit 9999 accepted")
	}
}

func TestAdminCommandErrors(t *testing.T) {
	f := newOpsFixture(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	}))
	defer garbage.Close()

	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		usage bool
		want  string
	}{
		{"no token", map[string]string{"WALLETGATE_OPS_URL": f.url}, []string{"wallet", "show", "w"}, true, "WALLETGATE_ADMIN_TOKEN"},
		{"wrong token", map[string]string{"WALLETGATE_OPS_URL": f.url, "WALLETGATE_ADMIN_TOKEN": "nope"},
			[]string{"wallet", "show", "w"}, false, "HTTP 401 unauthorized"},
		{"token by flag", map[string]string{"WALLETGATE_OPS_URL": f.url},
			[]string{"tx", "show", "nothing", "--admin-token", cliToken}, false, "transaction_not_found"},
		{"bad URL", map[string]string{"WALLETGATE_OPS_URL": "localhost:9090", "WALLETGATE_ADMIN_TOKEN": cliToken},
			[]string{"wallet", "show", "w"}, true, "WALLETGATE_OPS_URL"},
		{"server down", map[string]string{"WALLETGATE_OPS_URL": dead.URL, "WALLETGATE_ADMIN_TOKEN": cliToken},
			[]string{"wallet", "show", "w"}, false, "GET /admin/wallets/w"},
		{"not the admin API", map[string]string{"WALLETGATE_OPS_URL": garbage.URL, "WALLETGATE_ADMIN_TOKEN": cliToken},
			[]string{"wallet", "show", "w"}, false, "HTTP 502"},
		{"URL flag wins", map[string]string{"WALLETGATE_OPS_URL": dead.URL, "WALLETGATE_ADMIN_TOKEN": cliToken},
			[]string{"wallet", "show", "w", "--ops-url", f.url}, false, "wallet_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := cli(t, tc.env, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if isUsage(err) != tc.usage {
				t.Errorf("usage error = %v, want %v (%v)", isUsage(err), tc.usage, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestMoneyFormat(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{123456, "566", "1234.56 NGN"},
		{5, "566", "0.05 NGN"},
		{-250, "978", "-2.50 EUR"},
		{0, "566", "0.00 NGN"},
		{1500, "952", "1500 XOF"},
		{1500, "950", "1500 XAF"},
		{1234, "048", "1.234 BHD"},
		{9223372036854775807, "566", "92233720368547758.07 NGN"},
		{42, "999", "42 (minor units, currency 999)"},
	} {
		if got := formatMoney(tc.minor, tc.currency); got != tc.want {
			t.Errorf("formatMoney(%d, %s) = %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in, currency string
		want         int64
		ok           bool
	}{
		{"1234.56", "566", 123456, true},
		{"1234.5", "566", 123450, true},
		{"1234", "566", 123400, true},
		{"0.01", "566", 1, true},
		{"1500", "952", 1500, true},
		{"1.500", "048", 1500, true},
		{"92233720368547758.07", "566", 9223372036854775807, true},
		{"92233720368547758.08", "566", 0, false},
		{"1.234", "566", 0, false},
		{"1.5", "952", 0, false},
		{"1,000.00", "566", 0, false},
		{"+1", "566", 0, false},
		{" 1", "566", 0, false},
		{"1.", "566", 0, false},
		{".5", "566", 0, false},
		{"1", "999", 0, false},
	} {
		got, err := parseMoney(tc.in, tc.currency)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseMoney(%q, %s) = %d, %v; want %d, ok=%v", tc.in, tc.currency, got, err, tc.want, tc.ok)
		}
	}
}
