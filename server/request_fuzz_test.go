package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// wireFuzzSeeds are edge cases of the wire format; the committed corpus in
// testdata/fuzz/FuzzDecodeRequest holds more, and the crashers found so far.
var wireFuzzSeeds = []string{
	wireSeedApproved,
	wireSeedInsufficient,
	wireSeedMalformed,
	`{}`, `[]`, `"x"`, `1`, `null`, ``, `{`, `{}{}`, `{} x`,
	"{\"requestId\":\"a\xffb\"}", "{\"a\xff\":1}",
	`{"a":1,"a":2}`, `{"requestId":"1","request\u0049d":"2"}`, `{"RequestID":"x"}`,
	`{"amount":-0}`, `{"amount":99999999999999999999}`, `{"amount":1e2}`, `{"amount":1.5}`,
	`{"amount":100.0}`, `{"amount":"0100"}`, `{"amount":"12a"}`, `{"amount":true}`, `{"amount":{}}`,
	`{"amount":null}`, `{"amount":1e999999}`, `{"amount":9223372036854775807,"transactionFee":1}`,
	`{"transactionFee":-1}`, `{"transactionFee":"5"}`,
	`{"requestId":"a\u00e9\"b","walletId":"\ud83d\ude00","rrn":"\ud800"}`,
	`{"additionalFields":{"a":{"b":"c"}}}`, `{"additionalFields":{"a":1}}`, `{"additionalFields":{"a":"1","a":"2"}}`,
	`{"x":{"s":"}]\"{[","t":["]",{"u":"\\"}]},"requestId":"r"}`,
	`{"transactionDateTime":"2020-02-30T00:00:00","currencyCode":"56"}`,
	`{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	`{"additionalFields":` + strings.Repeat(`{"a":`, 100) + `"v"` + strings.Repeat("}", 100) + `}`,
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range wireFuzzSeeds {
		f.Add([]byte(s))
	}
	for _, name := range []string{"debit_approved.json", "debit_insufficient_funds.json", "debit_invalid_mac.json", "debit_approved_malformed.txt"} {
		if b, err := os.ReadFile(filepath.Join(wireSeedDir, name)); err == nil {
			f.Add(b)
		}
	}
	for _, s := range switchSamples { // the signed enquiry and lien samples
		if b, err := os.ReadFile(filepath.Join("..", "testdata", "switch", s.file)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		r, err := DecodeRequest(body)
		if !bytes.Equal(body, orig) {
			t.Fatal("DecodeRequest modified its input")
		}
		wantOK := wireReferenceIsObject(body)
		if err != nil {
			if !errors.Is(err, ErrNotObject) || r != nil {
				t.Fatalf("DecodeRequest = %v, %v; want nil and an ErrNotObject", r, err)
			}
			if wantOK {
				t.Fatalf("DecodeRequest rejected a valid I-JSON object: %v", err)
			}
			if out, err := SetMAC(body, "x"); !errors.Is(err, ErrNotObject) || out != nil {
				t.Fatalf("SetMAC accepted what DecodeRequest rejected: %q, %v", out, err)
			}
			return
		}
		if !wantOK || !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("DecodeRequest accepted a body that is not one valid I-JSON object")
		}
		wireCheckTexts(t, body, r)

		for _, route := range wireRoutes {
			first := r.Validate(route)
			amount, fee, extra := r.Amount, r.TransactionFee, r.AdditionalFields
			if first != nil {
				var fe *FieldError
				if !errors.As(first, &fe) {
					t.Fatalf("Validate(%s) = %v (%T), want a *FieldError", route, first, first)
				}
				known := false
				for _, reason := range []error{ErrMissing, ErrType, ErrTooLong, ErrFormat, ErrAmount} {
					known = known || errors.Is(first, reason)
				}
				if !known || fe.Field == "" {
					t.Fatalf("Validate(%s) = %v: no field or unknown reason", route, first)
				}
			} else if route != RouteEnquiry {
				if amount < 0 || fee < 0 || amount > math.MaxInt64-fee {
					t.Fatalf("Validate(%s) accepted amount %d, fee %d", route, amount, fee)
				}
				if (route == RouteDebit || route == RouteLienPlace) && amount == 0 {
					t.Fatalf("Validate(%s) accepted amount 0", route)
				}
			}
			again := r.Validate(route)
			if !reflect.DeepEqual(first, again) || r.Amount != amount || r.TransactionFee != fee || !reflect.DeepEqual(r.AdditionalFields, extra) {
				t.Fatalf("Validate(%s) not deterministic: %v then %v", route, first, again)
			}
		}

		fp := r.Fingerprint(RouteDebit, wireDebitMAC)
		if again := r.Fingerprint(RouteDebit, wireDebitMAC); again != fp {
			t.Fatal("Fingerprint not deterministic")
		}

		signed, err := SetMAC(body, "fuzz")
		if err != nil {
			t.Fatalf("SetMAC rejected what DecodeRequest accepted: %v", err)
		}
		r2, err := DecodeRequest(signed)
		if err != nil {
			t.Fatalf("SetMAC output does not decode: %v\n%q", err, signed)
		}
		if r2.Text("mac") != "fuzz" {
			t.Fatalf("SetMAC: Text(mac) = %q", r2.Text("mac"))
		}
		if r2.Fingerprint(RouteDebit, wireDebitMAC) != fp {
			t.Fatal("SetMAC changed a field other than mac")
		}
		for _, route := range wireRoutes {
			if e1, e2 := r.Validate(route), r2.Validate(route); !reflect.DeepEqual(e1, e2) && !(e1 != nil && e1.(*FieldError).Field == "mac") {
				t.Fatalf("SetMAC changed Validate(%s): %v, then %v", route, e1, e2)
			}
		}
	})
}

// wireReferenceIsObject is an independent oracle for DecodeRequest: valid UTF-8, valid JSON, a
// top-level object, and no object anywhere with a repeated (decoded) member name. It walks the
// tokens of encoding/json's Decoder, which keeps its own stack, so it does not recurse either.
func wireReferenceIsObject(body []byte) bool {
	if !utf8.Valid(body) || !json.Valid(body) {
		return false
	}
	type frame struct {
		object, wantName bool
		names            map[string]bool
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantName = true
		}
	}
	for first := true; ; first = false {
		tok, err := dec.Token()
		if err == io.EOF {
			return !first
		}
		if err != nil {
			return false
		}
		if first && tok != json.Delim('{') {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantName {
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			name := tok.(string)
			if stack[n-1].names[name] {
				return false
			}
			stack[n-1].names[name], stack[n-1].wantName = true, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantName: true, names: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// wireCheckTexts compares Text and the string fields of r with what encoding/json makes of body.
func wireCheckTexts(t *testing.T, body []byte, r *Request) {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		t.Fatalf("encoding/json rejects an accepted body: %v", err)
	}
	for _, name := range wireFieldNames {
		raw := members[name]
		want := ""
		switch {
		case len(raw) == 0:
		case raw[0] == '"':
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
		case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
			want = string(raw)
		}
		if got := r.Text(name); got != want {
			t.Fatalf("Text(%q) = %q, encoding/json says %q", name, got, want)
		}
	}
	strs := map[string]string{
		"requestId": r.RequestID, "walletId": r.WalletID, "transactionReference": r.TransactionReference,
		"originalTransactionReference": r.OriginalTransactionReference, "mac": r.MAC,
		"transactionDateTime": r.TransactionDateTime, "terminalId": r.TerminalID, "terminalType": r.TerminalType,
		"merchantId": r.MerchantID, "acquiringInstitutionId": r.AcquiringInstitutionID,
		"cardAcceptorNameLocation": r.CardAcceptorNameLocation, "currencyCode": r.CurrencyCode,
		"rrn": r.RRN, "stan": r.STAN,
	}
	for name, got := range strs {
		want := ""
		if raw := members[name]; len(raw) > 0 && raw[0] == '"' {
			want = r.Text(name)
		}
		if got != want {
			t.Fatalf("field %s = %q, want %q", name, got, want)
		}
	}
}
