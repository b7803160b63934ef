package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"
)

const walletUsage = `usage: walletgate wallet <command> [flags] WALLET_ID

commands:
  create WALLET_ID --currency 566 --name NAME [--daily-limit 5000.00] [--phone +234...] [--virtual-account ID]
  show WALLET_ID
  credit WALLET_ID --amount 1000.00 --reference REF [--narration TEXT]
  freeze WALLET_ID | unfreeze WALLET_ID | close WALLET_ID --yes
  statement WALLET_ID [--limit 50] [--before CURSOR]

Amounts are typed and shown in major units of the wallet's currency (1000.50 NGN; XOF has no decimals).
Every command takes --ops-url (WALLETGATE_OPS_URL, default ` + defaultOpsURL + `), --admin-token
(WALLETGATE_ADMIN_TOKEN), --json (the admin API's own JSON, amounts in minor units) and --timeout.`

// adminWallet is the admin API's wallet (CONTRACT 2).
type adminWallet struct {
	WalletID         string    `json:"walletId"`
	CurrencyCode     string    `json:"currencyCode"`
	Name             string    `json:"name"`
	Status           string    `json:"status"`
	LedgerBalance    int64     `json:"ledgerBalance"`
	AvailableBalance int64     `json:"availableBalance"`
	HeldAmount       int64     `json:"heldAmount"`
	DailyDebitLimit  int64     `json:"dailyDebitLimit"`
	Phone            string    `json:"phone"`
	VirtualAccountID string    `json:"virtualAccountId"`
	CreatedAt        time.Time `json:"createdAt"`
}

// wallet runs "walletgate wallet <command>".
func wallet(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, walletUsage)
		return usageError{errors.New("wallet: no command")}
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("wallet "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, walletUsage); fs.PrintDefaults() }
	var o opsOptions
	o.bind(fs, getenv)

	switch cmd {
	case "create":
		currencyCode := fs.String("currency", "", "ISO 4217 numeric currency code, e.g. 566 (required)")
		name := fs.String("name", "", "account name (required)")
		limit := fs.String("daily-limit", "", "daily debit limit in major units; empty or 0: no limit")
		phone := fs.String("phone", "", "customer phone, +<digits>")
		va := fs.String("virtual-account", "", "core-banking virtual account that mirrors the wallet")
		pos, err := parseArgs(fs, args, "WALLET_ID")
		if err != nil {
			return err
		}
		if *currencyCode == "" || *name == "" {
			return usageError{errors.New("wallet create: --currency and --name are required")}
		}
		body := map[string]any{"walletId": pos[0], "currencyCode": *currencyCode, "name": *name}
		if *limit != "" {
			minor, err := parseMoney(*limit, *currencyCode)
			if err != nil {
				return usageError{fmt.Errorf("--daily-limit: %w", err)}
			}
			body["dailyDebitLimit"] = minor
		}
		if *phone != "" {
			body["phone"] = *phone
		}
		if *va != "" {
			body["virtualAccountId"] = *va
		}
		return walletCall(ctx, &o, stdout, http.MethodPost, "/admin/wallets", body)

	case "show":
		pos, err := parseArgs(fs, args, "WALLET_ID")
		if err != nil {
			return err
		}
		return walletCall(ctx, &o, stdout, http.MethodGet, walletPath(pos[0]), nil)

	case "credit":
		amount := fs.String("amount", "", "amount in major units of the wallet's currency (required)")
		reference := fs.String("reference", "", "idempotency reference of the credit (required)")
		narration := fs.String("narration", "", "text shown on the statement")
		pos, err := parseArgs(fs, args, "WALLET_ID")
		if err != nil {
			return err
		}
		if *amount == "" || *reference == "" {
			return usageError{errors.New("wallet credit: --amount and --reference are required")}
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		w, err := getWallet(ctx, c, pos[0]) // the amount is typed in the wallet's currency
		if err != nil {
			return err
		}
		minor, err := parseMoney(*amount, w.CurrencyCode)
		if err != nil {
			return usageError{fmt.Errorf("--amount: %w", err)}
		}
		if minor == 0 {
			return usageError{errors.New("--amount: must be more than zero")}
		}
		return walletCall(ctx, &o, stdout, http.MethodPost, walletPath(pos[0])+"/credit",
			map[string]any{"amount": minor, "reference": *reference, "narration": *narration})

	case "freeze", "unfreeze", "close":
		yes := false
		if cmd == "close" {
			fs.BoolVar(&yes, "yes", false, "confirm: closing is final")
		}
		pos, err := parseArgs(fs, args, "WALLET_ID")
		if err != nil {
			return err
		}
		if cmd == "close" && !yes {
			return usageError{errors.New("wallet close is final (a closed wallet is never reopened or credited): add --yes")}
		}
		status := map[string]string{"freeze": "frozen", "unfreeze": "active", "close": "closed"}[cmd]
		return walletCall(ctx, &o, stdout, http.MethodPost, walletPath(pos[0])+"/status", map[string]string{"status": status})

	case "statement":
		limit := fs.Int("limit", 0, "lines per page (server default 50, at most 500)")
		before := fs.Uint64("before", 0, "cursor: the nextBefore of the previous page")
		pos, err := parseArgs(fs, args, "WALLET_ID")
		if err != nil {
			return err
		}
		return statement(ctx, &o, stdout, pos[0], *limit, *before)

	case "help", "-h", "--help":
		fmt.Fprintln(stdout, walletUsage)
		return nil
	}
	fmt.Fprintln(stderr, walletUsage)
	return usageError{fmt.Errorf("wallet: unknown command %q", cmd)}
}

func walletPath(id string) string { return "/admin/wallets/" + url.PathEscape(id) }

func getWallet(ctx context.Context, c *opsClient, id string) (adminWallet, error) {
	var w adminWallet
	raw, err := c.call(ctx, http.MethodGet, walletPath(id), nil)
	if err != nil {
		return w, err
	}
	return w, json.Unmarshal(raw, &w)
}

// walletCall makes a call that answers a wallet and prints it.
func walletCall(ctx context.Context, o *opsOptions, stdout io.Writer, method, path string, body any) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	raw, err := c.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(stdout, raw)
	}
	var w adminWallet
	if err := json.Unmarshal(raw, &w); err != nil {
		return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
	}
	return printWallet(stdout, w)
}

func printWallet(out io.Writer, w adminWallet) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	cur := w.CurrencyCode
	if c, ok := lookupCurrency(cur); ok {
		cur = c.Alpha + " (" + w.CurrencyCode + ")"
	}
	limit := "none"
	if w.DailyDebitLimit > 0 {
		limit = formatMoney(w.DailyDebitLimit, w.CurrencyCode)
	}
	rows := [][2]string{
		{"wallet", w.WalletID},
		{"name", w.Name},
		{"status", w.Status},
		{"currency", cur},
		{"ledger balance", formatMoney(w.LedgerBalance, w.CurrencyCode)},
		{"available", formatMoney(w.AvailableBalance, w.CurrencyCode)},
		{"held", formatMoney(w.HeldAmount, w.CurrencyCode)},
		{"daily debit limit", limit},
	}
	if w.Phone != "" {
		rows = append(rows, [2]string{"phone", w.Phone})
	}
	if w.VirtualAccountID != "" {
		rows = append(rows, [2]string{"virtual account", w.VirtualAccountID})
	}
	rows = append(rows, [2]string{"created", w.CreatedAt.UTC().Format(time.RFC3339)})
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

type statementPage struct {
	WalletID     string `json:"walletId"`
	Transactions []struct {
		Seq          uint64    `json:"seq"`
		Time         time.Time `json:"time"`
		Kind         string    `json:"kind"`
		Reference    string    `json:"reference"`
		Amount       int64     `json:"amount"`
		BalanceAfter int64     `json:"balanceAfter"`
		Narration    string    `json:"narration"`
	} `json:"transactions"`
	NextBefore uint64 `json:"nextBefore"`
}

func statement(ctx context.Context, o *opsOptions, stdout io.Writer, id string, limit int, before uint64) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if before != 0 {
		q.Set("before", strconv.FormatUint(before, 10))
	}
	path := walletPath(id) + "/transactions"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if o.JSON {
		raw, err := c.call(ctx, http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		return printJSON(stdout, raw)
	}
	w, err := getWallet(ctx, c, id) // for the currency of the amounts
	if err != nil {
		return err
	}
	raw, err := c.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	var p statementPage
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("GET %s: unexpected answer: %w", path, err)
	}
	// Text columns left, money right-aligned (padded here: tabwriter aligns every column the same way).
	amounts := make([][2]string, len(p.Transactions))
	wa, wb := len("AMOUNT"), len("BALANCE")
	for i, l := range p.Transactions {
		amounts[i] = [2]string{formatMoney(l.Amount, w.CurrencyCode), formatMoney(l.BalanceAfter, w.CurrencyCode)}
		wa, wb = max(wa, len(amounts[i][0])), max(wb, len(amounts[i][1]))
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SEQ\tTIME (UTC)\tKIND\tREFERENCE\t%*s\t%*s\tNARRATION\n", wa, "AMOUNT", wb, "BALANCE")
	for i, l := range p.Transactions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%*s\t%*s\t%s\n", l.Seq, l.Time.UTC().Format("2006-01-02 15:04:05"), l.Kind,
			l.Reference, wa, amounts[i][0], wb, amounts[i][1], l.Narration)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Transactions) == 0 {
		fmt.Fprintln(stdout, "(no transactions)")
	}
	if p.NextBefore != 0 {
		fmt.Fprintf(stdout, "more: walletgate wallet statement %s --before %d\n", id, p.NextBefore)
	}
	return nil
}
