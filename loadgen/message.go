package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/walletgate/walletgate/mac"
)

// SampleFile is the seed sample every message is built from (testdata/seed, the switch's "Successful" debit).
const SampleFile = "debit_approved.json"

// Template is a switch message taken from one of the seed's samples: its members in the sample's order, as sent.
// Messages built from it keep every member of the sample (terminal, merchant, additionalFields, ...) and replace
// only what must be unique or belongs to another message kind.
type Template struct {
	members []member
	text    map[string]string // MAC text of every scalar member of the sample
}

type member struct {
	name string
	raw  json.RawMessage
}

// LoadTemplate reads SampleFile from dir (the repository's testdata/seed).
func LoadTemplate(dir string) (*Template, error) {
	body, err := os.ReadFile(filepath.Join(dir, SampleFile))
	if err != nil {
		return nil, fmt.Errorf("load sample: %w (run from the repository root or pass the samples directory)", err)
	}
	return ParseTemplate(body)
}

// ParseTemplate parses one sample request: a JSON object whose members keep their order.
func ParseTemplate(sample []byte) (*Template, error) {
	dec := json.NewDecoder(bytes.NewReader(sample))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("parse sample: not a JSON object")
	}
	t := &Template{text: map[string]string{}}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("parse sample: %w", err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, fmt.Errorf("parse sample: member %q twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("parse sample: member %q: %w", name, err)
		}
		t.members = append(t.members, member{name: name, raw: raw})
		var s string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			t.text[name] = s
		case len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')):
			t.text[name] = string(raw)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("parse sample: %w", err)
	}
	if t.text["currencyCode"] == "" {
		return nil, errors.New("parse sample: no currencyCode")
	}
	return t, nil
}

// Currency is the sample's currencyCode: the currency of the wallets loadgen creates.
func (t *Template) Currency() string { return t.text["currencyCode"] }

// Message is one switch message loadgen sends.
type Message struct {
	Route     Route
	RequestID string
	WalletID  string
	Reference string // transactionReference
	Original  string // originalTransactionReference (reversal)
	RRN, STAN string // retrieval reference number, system trace audit number
	Amount    int64  // minor units; not sent on an enquiry
	Fee       int64  // minor units; sent only when positive
}

// Route is a switch route loadgen can send to.
type Route string

// Routes of the switch API (CONTRACT 1.6-1.8).
const (
	RouteDebit    Route = "debit"
	RouteReversal Route = "reversal"
	RouteEnquiry  Route = "enquiry"
)

// Path is the URL path of the route.
func (r Route) Path() string { return "/" + string(r) }

func (r Route) mac() mac.Message {
	switch r {
	case RouteReversal:
		return mac.Reversal
	case RouteEnquiry:
		return mac.Enquiry
	}
	return mac.Debit
}

// Build returns the signed body of m: the sample's members in order with m's values, and the MAC of CONTRACT 1.2
// made with keys' current key.
func (t *Template) Build(keys *mac.Keys, m *Message) []byte {
	over := map[string]string{
		"requestId":            m.RequestID,
		"walletId":             m.WalletID,
		"transactionReference": m.Reference,
		"rrn":                  m.RRN,
		"stan":                 m.STAN,
	}
	amount := strconv.FormatInt(m.Amount, 10)
	fee := strconv.FormatInt(m.Fee, 10)
	switch m.Route {
	case RouteReversal:
		over["originalTransactionReference"] = m.Original
	case RouteDebit:
		over["originalTransactionReference"] = m.Reference // as the seed's own debit sample carries it
	}
	text := func(name string) string {
		switch name {
		case "amount":
			if m.Route == RouteEnquiry {
				return ""
			}
			return amount
		case "transactionFee":
			if m.Fee > 0 {
				return fee
			}
			return ""
		}
		if v, ok := over[name]; ok {
			return v
		}
		return t.text[name]
	}
	sig := keys.Sign(mac.Current, mac.Values(m.Route.mac(), text)...)

	b := make([]byte, 0, 640)
	b = append(b, '{')
	n := 0
	put := func(name string, value []byte) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendString(b, name)
		b = append(b, ':')
		b = append(b, value...)
	}
	done := map[string]bool{}
	for _, mem := range t.members {
		done[mem.name] = true
		switch mem.name {
		case "mac":
			put("mac", appendString(nil, sig))
		case "amount":
			if m.Route != RouteEnquiry {
				put("amount", []byte(amount))
			}
		case "transactionFee":
			if m.Fee > 0 && m.Route != RouteEnquiry {
				put("transactionFee", []byte(fee))
			}
		case "originalTransactionReference":
			if m.Route != RouteEnquiry {
				put(mem.name, appendString(nil, over[mem.name]))
			}
		default:
			if v, ok := over[mem.name]; ok {
				put(mem.name, appendString(nil, v))
			} else {
				put(mem.name, mem.raw)
			}
		}
	}
	// Members the sample lacks.
	for _, name := range []string{"requestId", "walletId", "transactionReference", "rrn", "stan"} {
		if !done[name] {
			put(name, appendString(nil, over[name]))
		}
	}
	if !done["amount"] && m.Route != RouteEnquiry {
		put("amount", []byte(amount))
	}
	if !done["originalTransactionReference"] && m.Route == RouteReversal {
		put("originalTransactionReference", appendString(nil, m.Original))
	}
	if !done["transactionFee"] && m.Fee > 0 && m.Route != RouteEnquiry {
		put("transactionFee", []byte(fee))
	}
	if !done["mac"] {
		put("mac", appendString(nil, sig))
	}
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
