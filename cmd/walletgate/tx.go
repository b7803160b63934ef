package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
)

const txUsage = `usage: walletgate tx show TRANSACTION_REFERENCE [--json]

Shows a switch transaction (debit, reversal, lien) as walletgate recorded it: kind, wallet, amount and fee in the
wallet's currency, response code, state, reversals and partner deliveries. Flags as for "walletgate wallet".`

// tx runs "walletgate tx show REF".
func tx(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "show" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, txUsage)
			return nil
		}
		fmt.Fprintln(stderr, txUsage)
		return usageError{errors.New("tx: want \"tx show REF\"")}
	}
	fs := flag.NewFlagSet("tx show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, txUsage); fs.PrintDefaults() }
	var o opsOptions
	o.bind(fs, getenv)
	pos, err := parseArgs(fs, args[1:], "TRANSACTION_REFERENCE")
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	raw, err := c.call(ctx, http.MethodGet, "/admin/transactions/"+url.PathEscape(pos[0]), nil)
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(stdout, raw)
	}
	return printTransaction(stdout, raw)
}

// txOrder is the order of the well-known fields of a transaction; fields the server adds later follow them.
var txOrder = []string{"transactionReference", "kind", "state", "responseCode", "walletId", "currencyCode", "amount",
	"fee", "reversedAmount", "feeReversed", "originalTransactionReference", "reversals", "requestId", "journalEntry",
	"createdAt"}

// isMoneyField says whether a member holds minor units of the transaction's currency.
func isMoneyField(name string) bool {
	return name == "amount" || name == "fee" || strings.HasSuffix(name, "Amount")
}

func printTransaction(out io.Writer, raw json.RawMessage) error {
	var t map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	var currencyCode string
	_ = json.Unmarshal(t["currencyCode"], &currencyCode)

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name string, v json.RawMessage) {
		var obj map[string]json.RawMessage
		if name != "" && json.Unmarshal(v, &obj) == nil && obj != nil { // e.g. "lien": one row per member, money converted
			subs := make([]string, 0, len(obj))
			for sub := range obj {
				subs = append(subs, sub)
			}
			sort.Strings(subs)
			for _, sub := range subs {
				fmt.Fprintf(tw, "%s.%s\t%s\n", name, sub, fieldText(sub, obj[sub], currencyCode))
			}
			return
		}
		fmt.Fprintf(tw, "%s\t%s\n", name, fieldText(name, v, currencyCode))
	}
	done := map[string]bool{"details": true, "partnerDeliveries": true}
	for _, name := range txOrder {
		if v, ok := t[name]; ok {
			row(name, v)
			done[name] = true
		}
	}
	var rest []string
	for name := range t {
		if !done[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		row(name, t[name])
	}
	var details map[string]json.RawMessage
	if json.Unmarshal(t["details"], &details) == nil {
		names := make([]string, 0, len(details))
		for name := range details {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(tw, "details.%s\t%s\n", name, fieldText("", details[name], ""))
		}
	}
	var deliveries []json.RawMessage
	_ = json.Unmarshal(t["partnerDeliveries"], &deliveries)
	fmt.Fprintf(tw, "partner deliveries\t%d\n", len(deliveries))
	for i, d := range deliveries {
		fmt.Fprintf(tw, "  #%d\t%s\n", i+1, deliveryText(d, currencyCode))
	}
	return tw.Flush()
}

// deliveryText is one partner delivery on one line, amounts in major units of the transaction's currency.
func deliveryText(raw json.RawMessage, currencyCode string) string {
	var d struct {
		Partner      string          `json:"partner"`
		Kind         string          `json:"kind"`
		Reference    string          `json:"transactionReference"`
		Amount       json.RawMessage `json:"amount"`
		Fee          json.RawMessage `json:"fee"`
		ResponseCode string          `json:"responseCode"`
		State        string          `json:"state"`
		Attempts     int             `json:"attempts"`
		LastError    string          `json:"lastError"`
	}
	if json.Unmarshal(raw, &d) != nil || d.Partner == "" {
		return compact(raw)
	}
	attempts := fmt.Sprintf("%d attempts", d.Attempts)
	if d.Attempts == 1 {
		attempts = "1 attempt"
	}
	s := fmt.Sprintf("%s %s %s: %s, %s, amount %s, fee %s, code %s", d.Partner, d.Kind, d.Reference, d.State, attempts,
		fieldText("amount", d.Amount, currencyCode), fieldText("fee", d.Fee, currencyCode), d.ResponseCode)
	if d.LastError != "" {
		s += ", last error: " + d.LastError
	}
	return s
}

// fieldText renders one member: money in major units, strings bare, lists comma-separated, the rest as JSON.
func fieldText(name string, v json.RawMessage, currencyCode string) string {
	var n json.Number
	if isMoneyField(name) && json.Unmarshal(v, &n) == nil {
		if minor, err := n.Int64(); err == nil {
			if currencyCode == "" {
				return fmt.Sprintf("%d (minor units)", minor)
			}
			return formatMoney(minor, currencyCode)
		}
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(v, &list) == nil {
		if len(list) == 0 {
			return "-"
		}
		return strings.Join(list, ", ")
	}
	return compact(v)
}

func compact(v json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return string(v)
	}
	return b.String()
}
