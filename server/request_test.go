package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The seed's samples (seeds/002), read once from the shared fixtures in testdata/seed: the "Successful" sample
// corrected to valid JSON, the "Insufficient funds" sample, and the "Successful" sample exactly as printed (not JSON).
var (
	wireSeedApproved     = wireSeedFile("debit_approved.json")
	wireSeedInsufficient = wireSeedFile("debit_insufficient_funds.json")
	wireSeedMalformed    = wireSeedFile("debit_approved_malformed.txt")
)

func wireSeedFile(name string) string {
	b, err := os.ReadFile(filepath.Join(wireSeedDir, name))
	if err != nil {
		panic(err) // the fixtures are part of the repository
	}
	return string(b)
}

// wireSeedDir holds the shared fixtures (testdata/README.md at the module root).
var wireSeedDir = filepath.Join("..", "testdata", "seed")

// wireReadSeed reads a shared fixture.
func wireReadSeed(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wireSeedDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wireMember is one top-level member of a test message: name and raw JSON value.
type wireMember struct{ name, raw string }

// wireAbsent as a raw value removes the member.
const wireAbsent = "<absent>"

// wireBase is a message valid for every route (it carries originalTransactionReference).
var wireBase = []wireMember{
	{"requestId", `"1"`},
	{"walletId", `"1234567894"`},
	{"amount", `100`},
	{"transactionReference", `"11123456789"`},
	{"originalTransactionReference", `"11123456780"`},
	{"mac", `"hexdigest"`},
	{"transactionDateTime", `"2020-05-15T13:32:09"`},
	{"terminalId", `"3IWPDVNA"`},
	{"terminalType", `"21"`},
	{"merchantId", `"WEBPAYDIRECTVNA"`},
	{"acquiringInstitutionId", `"428051043"`},
	{"currencyCode", `"566"`},
	{"cardAcceptorNameLocation", `"MATRIX ENERGY LIMITE   LA           LANG"`},
	{"rrn", `"000111000111"`},
	{"stan", `"000018"`},
}

// wireBody returns wireBase with mods applied: a mod replaces the member of that name in place,
// removes it (raw wireAbsent), or is appended.
func wireBody(mods ...wireMember) string {
	members := append([]wireMember(nil), wireBase...)
	for _, m := range mods {
		found := false
		for i := range members {
			if members[i].name == m.name {
				members[i].raw, found = m.raw, true
			}
		}
		if !found {
			members = append(members, m)
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for _, m := range members {
		if m.raw == wireAbsent {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		fmt.Fprintf(&b, "%q:%s", m.name, m.raw)
	}
	b.WriteByte('}')
	return b.String()
}

func wireDecode(t testing.TB, body string) *Request {
	t.Helper()
	r, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatalf("DecodeRequest: %v", err)
	}
	return r
}

// wireCheck fails unless err is nil (reason nil) or a *FieldError for field wrapping reason.
func wireCheck(t testing.TB, err error, field string, reason error) {
	t.Helper()
	if reason == nil {
		if err != nil {
			t.Fatalf("Validate = %v, want nil", err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Validate = %v (%T), want *FieldError{%q, %v}", err, err, field, reason)
	}
	if fe.Field != field || !errors.Is(err, reason) {
		t.Fatalf("Validate = %v, want field %q: %v", err, field, reason)
	}
}

var wireRoutes = []Route{RouteDebit, RouteReversal, RouteEnquiry, RouteLienPlace, RouteLienDebit}

// wireRequired restates the brief's required fields per route, independently of request.go.
var wireRequired = map[Route][]string{
	RouteDebit:     {"requestId", "walletId", "transactionReference", "amount", "currencyCode", "terminalId", "terminalType", "merchantId", "cardAcceptorNameLocation", "rrn", "stan"},
	RouteLienPlace: {"requestId", "walletId", "transactionReference", "amount", "currencyCode", "terminalId", "terminalType", "merchantId", "cardAcceptorNameLocation", "rrn", "stan"},
	RouteReversal:  {"requestId", "walletId", "transactionReference", "amount", "currencyCode", "terminalId", "terminalType", "merchantId", "cardAcceptorNameLocation", "rrn", "stan", "originalTransactionReference"},
	RouteLienDebit: {"requestId", "walletId", "transactionReference", "originalTransactionReference", "amount", "currencyCode", "rrn", "stan"},
	RouteEnquiry:   {"requestId", "walletId", "transactionReference"},
}

// wireStringFields are the members that must be JSON strings, in Request field order.
var wireStringFields = []string{
	"requestId", "walletId", "transactionReference", "originalTransactionReference", "mac",
	"transactionDateTime", "terminalId", "terminalType", "merchantId", "acquiringInstitutionId",
	"cardAcceptorNameLocation", "currencyCode", "rrn", "stan",
}

func TestDecodeSeedSamples(t *testing.T) {
	approved := Request{
		RequestID: "1", WalletID: "1234567894", TransactionReference: "11123456789",
		OriginalTransactionReference: "11123456789", MAC: "hexdigest",
		TransactionDateTime: "2020-05-15T13:32:09", TerminalID: "3IWPDVNA", TerminalType: "21",
		MerchantID: "WEBPAYDIRECTVNA", AcquiringInstitutionID: "428051043",
		CardAcceptorNameLocation: "MATRIX ENERGY LIMITE   LA           LANG", CurrencyCode: "566",
		RRN: "000111000111", STAN: "000018", Amount: 100,
		AdditionalFields: map[string]string{"processingCode": "000000", "merchantType": "8850"},
	}
	insufficient := approved
	insufficient.Amount, insufficient.OriginalTransactionReference, insufficient.AdditionalFields = 1000, "", nil

	tests := []struct {
		name string
		file string // in testdata/seed
		want Request
	}{
		{"approved", "debit_approved.json", approved},
		{"insufficient", "debit_insufficient_funds.json", insufficient},
		{"invalid mac", "debit_invalid_mac.json", insufficient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeRequest(wireReadSeed(t, tt.file))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if err := r.Validate(RouteDebit); err != nil {
				t.Fatalf("Validate(debit): %v", err)
			}
			got := *r
			got.vals = [numWireFields]wireValue{} // compare the exported fields only
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded\n got %+v\nwant %+v", got, tt.want)
			}
			if r.Text("amount") != strconv.FormatInt(tt.want.Amount, 10) {
				t.Errorf("Text(amount) = %q", r.Text("amount"))
			}
		})
	}
}

func TestDecodeSeedMalformed(t *testing.T) {
	r, err := DecodeRequest([]byte(wireSeedMalformed))
	if !errors.Is(err, ErrNotObject) || r != nil {
		t.Fatalf("DecodeRequest = %v, %v; want nil, ErrNotObject", r, err)
	}
}

func TestDecodeRequestNotObject(t *testing.T) {
	tests := []struct{ name, body string }{
		{"array", `[]`},
		{"string", `"x"`},
		{"number", `1`},
		{"null", `null`},
		{"true", `true`},
		{"empty", ``},
		{"whitespace", " \n\t "},
		{"unterminated", `{`},
		{"unterminated member", `{"requestId":"1"`},
		{"two objects", `{}{}`},
		{"trailing data", `{} x`},
		{"trailing NUL", "{}\x00"},
		{"trailing comma", `{"a":1,}`},
		{"single quotes", `{'a':1}`},
		{"missing colon", `{"a" 1}`},
		{"leading zero", `{"a":01}`},
		{"NaN", `{"a":NaN}`},
		{"byte order mark", "\xef\xbb\xbf{}"},
		{"invalid UTF-8 in string", "{\"requestId\":\"a\xffb\"}"},
		{"invalid UTF-8 in key", "{\"request\xffId\":\"1\"}"},
		{"invalid UTF-8 after object", "{}\xff"},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}"},
		{"UTF-16 surrogate encoded as UTF-8", "{\"a\":\"\xed\xa0\x80\"}"},
		{"raw control character", "{\"a\":\"x\ny\"}"},
		{"duplicate key", `{"a":1,"a":2}`},
		{"duplicate requestId", `{"requestId":"1","walletId":"w","requestId":"1"}`},
		{"duplicate requestId different values", `{"requestId":"1","requestId":"2"}`},
		{"duplicate through escape", `{"requestId":"1","request\u0049d":"2"}`},
		{"duplicate amount number and string", `{"amount":1,"amount":"1"}`},
		{"duplicate unknown member", `{"x":1,"y":2,"x":3}`},
		{"duplicate in nested object", `{"x":{"a":1,"a":2}}`},
		{"duplicate in object in array", `{"x":[{"a":1},{"a":1,"b":[],"a":2}]}`},
		{"duplicate in additionalFields", `{"additionalFields":{"k":"1","k":"2"}}`},
		{"unclosed deep array", `{"x":` + strings.Repeat("[", 100000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeRequest([]byte(tt.body))
			if !errors.Is(err, ErrNotObject) || r != nil {
				t.Fatalf("DecodeRequest = %v, %v; want nil, ErrNotObject", r, err)
			}
		})
	}
}

func TestDecodeRequestAccepted(t *testing.T) {
	tests := []struct {
		name string
		body string
		want map[string]string // Text of these fields
	}{
		{"empty object", `{}`, map[string]string{"requestId": ""}},
		{"whitespace around", " \r\n\t{ } \n", nil},
		{"names are case-sensitive", `{"RequestID":"x","RequestId":"y","REQUESTID":"z"}`, map[string]string{"requestId": ""}},
		{"case variant next to the real name", `{"requestId":"a","RequestId":"b"}`, map[string]string{"requestId": "a"}},
		{"unknown members ignored", `{"foo":{"bar":[1,2,{"baz":null}]},"requestId":"r","qux":true}`, map[string]string{"requestId": "r"}},
		{"same names in sibling objects", `{"x":[{"a":1},{"a":2}],"y":{"a":{"a":1}},"requestId":"r"}`, map[string]string{"requestId": "r"}},
		{"braces and quotes inside nested strings", `{"x":{"s":"}]\"{[","t":["]",{"u":"\\"}]},"requestId":"r"}`, map[string]string{"requestId": "r"}},
		{"escaped name", `{"request\u0049d":"r"}`, map[string]string{"requestId": "r"}},
		{"escaped backslash before quote", `{"requestId":"a\\","walletId":"w"}`, map[string]string{"requestId": `a\`, "walletId": "w"}},
		{"lone surrogate escape becomes U+FFFD", `{"requestId":"\ud800"}`, map[string]string{"requestId": "\ufffd"}},
		{"deep unknown array", `{"x":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `,"requestId":"r"}`, map[string]string{"requestId": "r"}},
		{"deep unknown object", `{"x":` + strings.Repeat(`{"a":`, 4000) + `1` + strings.Repeat("}", 4000) + `,"requestId":"r"}`, map[string]string{"requestId": "r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wireDecode(t, tt.body)
			for f, want := range tt.want {
				if got := r.Text(f); got != want {
					t.Errorf("Text(%q) = %q, want %q", f, got, want)
				}
			}
			if tt.want["requestId"] != r.RequestID {
				t.Errorf("RequestID = %q, want %q", r.RequestID, tt.want["requestId"])
			}
		})
	}
}

func TestDecodeRequestEscapes(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"escaped backslashes then quote", `"` + strings.Repeat(`\\`, 500) + `\""`, strings.Repeat(`\`, 500) + `"`},
		{"escaped quotes", `"` + strings.Repeat(`\"`, 300) + `"`, strings.Repeat(`"`, 300)},
		{"quote after even backslashes", `"a\\\\"`, `a\\`},
		{"every escape", `"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac"`, "\"\\/\b\f\n\r\tAé€"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"x":[` + tt.raw + `],"requestId":` + tt.raw + `,"walletId":"w"}`
			r := wireDecode(t, body)
			if r.RequestID != tt.want || r.WalletID != "w" {
				t.Fatalf("RequestID = %q, WalletID = %q; want %q, w", r.RequestID, r.WalletID, tt.want)
			}
		})
	}
}

// TestDecodeRequestDeepNesting: json.Valid bounds nesting (10,000 levels in encoding/json); beyond
// it the body is rejected, below it the scanner skips without recursion. Neither may crash.
func TestDecodeRequestDeepNesting(t *testing.T) {
	for _, depth := range []int{9999, 10000, 10001, 50000} {
		t.Run(strconv.Itoa(depth), func(t *testing.T) {
			body := `{"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
			if _, err := DecodeRequest([]byte(body)); err != nil && !errors.Is(err, ErrNotObject) {
				t.Fatalf("DecodeRequest: %v", err)
			}
			body = strings.Repeat("[", depth) + strings.Repeat("]", depth)
			if _, err := DecodeRequest([]byte(body)); !errors.Is(err, ErrNotObject) {
				t.Fatalf("top-level array: %v, want ErrNotObject", err)
			}
		})
	}
}

func TestValidateAmount(t *testing.T) {
	tests := []struct {
		name   string
		route  Route
		raw    string
		want   int64
		reason error
	}{
		{"number", RouteDebit, `100`, 100, nil},
		{"string of digits", RouteDebit, `"100"`, 100, nil},
		{"string with leading zeros", RouteDebit, `"0100"`, 100, nil},
		{"escaped digits", RouteDebit, `"\u0031\u0030"`, 10, nil},
		{"max int64", RouteDebit, `9223372036854775807`, 9223372036854775807, nil},
		{"max int64 string", RouteDebit, `"09223372036854775807"`, 9223372036854775807, nil},
		{"zero on debit", RouteDebit, `0`, 0, ErrAmount},
		{"zero on lienplace", RouteLienPlace, `0`, 0, ErrAmount},
		{"zero string on debit", RouteDebit, `"000"`, 0, ErrAmount},
		{"zero on reversal means full", RouteReversal, `0`, 0, nil},
		{"zero on liendebit releases", RouteLienDebit, `0`, 0, nil},
		{"minus zero on reversal is not a full reversal", RouteReversal, `-0`, 0, ErrAmount},
		{"minus zero on liendebit is not a release", RouteLienDebit, `-0`, 0, ErrAmount},
		{"minus zero on debit", RouteDebit, `-0`, 0, ErrAmount},
		{"positive on reversal", RouteReversal, `40`, 40, nil},
		{"negative", RouteDebit, `-5`, 0, ErrAmount},
		{"negative on reversal", RouteReversal, `-1`, 0, ErrAmount},
		{"negative overflowing", RouteDebit, `-99999999999999999999`, 0, ErrAmount},
		{"overflow by one", RouteDebit, `9223372036854775808`, 0, ErrAmount},
		{"overflow", RouteDebit, `99999999999999999999`, 0, ErrAmount},
		{"overflow string", RouteDebit, `"99999999999999999999"`, 0, ErrAmount},
		{"long zero-padded string", RouteDebit, `"` + strings.Repeat("0", 5000) + `7"`, 7, nil},
		{"exponent", RouteDebit, `1e2`, 0, ErrFormat},
		{"capital exponent", RouteDebit, `1E2`, 0, ErrFormat},
		{"huge exponent", RouteDebit, `1e999999`, 0, ErrFormat},
		{"negative huge exponent", RouteDebit, `-1e-999999`, 0, ErrFormat},
		{"fraction", RouteDebit, `1.5`, 0, ErrFormat},
		{"negative fraction", RouteReversal, `-1.5`, 0, ErrFormat},
		{"integral fraction", RouteDebit, `100.0`, 0, ErrFormat},
		{"string with letter", RouteDebit, `"12a"`, 0, ErrFormat},
		{"negative string", RouteDebit, `"-5"`, 0, ErrFormat},
		{"plus string", RouteDebit, `"+5"`, 0, ErrFormat},
		{"spaced string", RouteDebit, `" 5"`, 0, ErrFormat},
		{"fraction string", RouteDebit, `"1.5"`, 0, ErrFormat},
		{"non-ASCII digit string", RouteDebit, `"１"`, 0, ErrFormat},
		{"empty string", RouteDebit, `""`, 0, ErrMissing},
		{"null", RouteDebit, `null`, 0, ErrMissing},
		{"absent", RouteDebit, wireAbsent, 0, ErrMissing},
		{"absent on reversal", RouteReversal, wireAbsent, 0, ErrMissing},
		{"absent on liendebit", RouteLienDebit, wireAbsent, 0, ErrMissing},
		{"true", RouteDebit, `true`, 0, ErrType},
		{"false", RouteDebit, `false`, 0, ErrType},
		{"object", RouteDebit, `{}`, 0, ErrType},
		{"array", RouteDebit, `[]`, 0, ErrType},
		{"array of number", RouteDebit, `[100]`, 0, ErrType},
		{"ignored on enquiry: absent", RouteEnquiry, wireAbsent, 0, nil},
		{"ignored on enquiry: value", RouteEnquiry, `100`, 0, nil},
		{"ignored on enquiry: wrong type", RouteEnquiry, `true`, 0, nil},
		{"ignored on enquiry: bad format", RouteEnquiry, `"12a"`, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wireDecode(t, wireBody(wireMember{"amount", tt.raw}))
			err := r.Validate(tt.route)
			wireCheck(t, err, "amount", tt.reason)
			if err == nil && r.Amount != tt.want {
				t.Fatalf("Amount = %d, want %d", r.Amount, tt.want)
			}
		})
	}
}

func TestValidateTransactionFee(t *testing.T) {
	tests := []struct {
		name    string
		route   Route
		amount  string
		fee     string
		wantFee int64
		field   string
		reason  error
	}{
		{"absent", RouteDebit, `100`, wireAbsent, 0, "", nil},
		{"null", RouteDebit, `100`, `null`, 0, "", nil},
		{"empty string", RouteDebit, `100`, `""`, 0, "", nil},
		{"zero", RouteDebit, `100`, `0`, 0, "", nil},
		{"minus zero", RouteDebit, `100`, `-0`, 0, "transactionFee", ErrAmount},
		{"number", RouteDebit, `100`, `5`, 5, "", nil},
		{"string", RouteDebit, `100`, `"5"`, 5, "", nil},
		{"leading zeros", RouteDebit, `100`, `"005"`, 5, "", nil},
		{"on reversal", RouteReversal, `0`, `7`, 7, "", nil},
		{"negative", RouteDebit, `100`, `-1`, 0, "transactionFee", ErrAmount},
		{"overflow", RouteDebit, `100`, `99999999999999999999`, 0, "transactionFee", ErrAmount},
		{"fraction", RouteDebit, `100`, `1.5`, 0, "transactionFee", ErrFormat},
		{"exponent", RouteDebit, `100`, `1e2`, 0, "transactionFee", ErrFormat},
		{"bad string", RouteDebit, `100`, `"x"`, 0, "transactionFee", ErrFormat},
		{"negative string", RouteDebit, `100`, `"-1"`, 0, "transactionFee", ErrFormat},
		{"bool", RouteDebit, `100`, `true`, 0, "transactionFee", ErrType},
		{"array", RouteDebit, `100`, `[]`, 0, "transactionFee", ErrType},
		{"object", RouteDebit, `100`, `{"a":"1"}`, 0, "transactionFee", ErrType},
		{"sum at max", RouteDebit, `9223372036854775806`, `1`, 1, "", nil},
		{"sum at max fee-heavy", RouteDebit, `1`, `9223372036854775806`, 9223372036854775806, "", nil},
		{"sum overflows by one", RouteDebit, `9223372036854775807`, `1`, 0, "transactionFee", ErrAmount},
		{"sum overflows", RouteDebit, `2`, `9223372036854775807`, 0, "transactionFee", ErrAmount},
		{"sum overflows on liendebit", RouteLienDebit, `"9223372036854775800"`, `"8"`, 0, "transactionFee", ErrAmount},
		{"ignored on enquiry", RouteEnquiry, `100`, `true`, 0, "", nil},
		{"amount error first", RouteDebit, `0`, `-1`, 0, "amount", ErrAmount},
		{"fee type before amount format", RouteDebit, `1.5`, `true`, 0, "transactionFee", ErrType},
		{"amount format before fee format", RouteDebit, `1.5`, `"x"`, 0, "amount", ErrFormat},
		{"fee format before amount value", RouteDebit, `-5`, `"x"`, 0, "transactionFee", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wireDecode(t, wireBody(wireMember{"amount", tt.amount}, wireMember{"transactionFee", tt.fee}))
			err := r.Validate(tt.route)
			wireCheck(t, err, tt.field, tt.reason)
			if err == nil && r.TransactionFee != tt.wantFee {
				t.Fatalf("TransactionFee = %d, want %d", r.TransactionFee, tt.wantFee)
			}
		})
	}
}

func TestValidateRequired(t *testing.T) {
	all := append(append([]string(nil), wireStringFields...), "amount")
	for _, route := range wireRoutes {
		required := map[string]bool{}
		for _, f := range wireRequired[route] {
			required[f] = true
		}
		for _, field := range all {
			raws := []string{wireAbsent, `null`}
			if field != "amount" {
				raws = append(raws, `""`)
			}
			for _, raw := range raws {
				t.Run(fmt.Sprintf("%s/%s=%s", route, field, raw), func(t *testing.T) {
					r := wireDecode(t, wireBody(wireMember{field, raw}))
					err := r.Validate(route)
					if required[field] {
						wireCheck(t, err, field, ErrMissing)
					} else {
						wireCheck(t, err, "", nil)
					}
				})
			}
		}
	}
	t.Run("minimal enquiry", func(t *testing.T) {
		r := wireDecode(t, `{"requestId":"1","walletId":"w","transactionReference":"t"}`)
		wireCheck(t, r.Validate(RouteEnquiry), "", nil)
		if r.Amount != 0 || r.TransactionFee != 0 || r.AdditionalFields != nil {
			t.Fatalf("enquiry: Amount %d, TransactionFee %d, AdditionalFields %v", r.Amount, r.TransactionFee, r.AdditionalFields)
		}
	})
	t.Run("empty object on every route", func(t *testing.T) {
		r := wireDecode(t, `{}`)
		for _, route := range wireRoutes {
			wireCheck(t, r.Validate(route), "requestId", ErrMissing)
		}
	})
	t.Run("mac not required", func(t *testing.T) {
		r := wireDecode(t, wireBody(wireMember{"mac", wireAbsent}))
		for _, route := range wireRoutes {
			wireCheck(t, r.Validate(route), "", nil)
		}
	})
}

func TestValidateLengths(t *testing.T) {
	limits := []struct {
		field string
		max   int
	}{
		{"requestId", MaxIDLen},
		{"walletId", MaxIDLen},
		{"transactionReference", MaxIDLen},
		{"originalTransactionReference", MaxIDLen},
		{"mac", MaxMACLen},
		{"terminalId", MaxTerminalFieldLen},
		{"terminalType", MaxTerminalFieldLen},
		{"merchantId", MaxTerminalFieldLen},
		{"acquiringInstitutionId", MaxTerminalFieldLen},
		{"cardAcceptorNameLocation", MaxNameLocationLen},
		{"rrn", MaxTerminalFieldLen},
		{"stan", MaxTerminalFieldLen},
	}
	// The documented values, restated: the README quotes them.
	if MaxIDLen != 64 || MaxTerminalFieldLen != 32 || MaxNameLocationLen != 64 || MaxMACLen != 256 ||
		len(TransactionDateTimeLayout) != 19 || MaxAdditionalFields != 64 ||
		MaxAdditionalFieldKeyLen != 64 || MaxAdditionalFieldValueLen != 999 || CurrencyCodeLen != 3 {
		t.Fatal("a documented limit changed")
	}
	for _, l := range limits {
		tests := []struct {
			name   string
			raw    string
			reason error
		}{
			{"exact max", strconv.Quote(strings.Repeat("a", l.max)), nil},
			{"max plus one", strconv.Quote(strings.Repeat("a", l.max+1)), ErrTooLong},
			{"max in two-byte runes", strconv.Quote(strings.Repeat("é", l.max/2)), nil},
			{"two-byte runes over max", strconv.Quote(strings.Repeat("é", l.max/2+1)), ErrTooLong},
			{"escapes count decoded", `"` + strings.Repeat(`\u0041`, l.max) + `"`, nil},
			{"10 KB", strconv.Quote(strings.Repeat("7", 10*1024)), ErrTooLong},
		}
		for _, tt := range tests {
			t.Run(l.field+"/"+tt.name, func(t *testing.T) {
				r := wireDecode(t, wireBody(wireMember{l.field, tt.raw}))
				for _, route := range wireRoutes {
					wireCheck(t, r.Validate(route), l.field, tt.reason)
				}
			})
		}
	}
}

func TestValidateFormats(t *testing.T) {
	tests := []struct {
		name   string
		field  string
		raw    string
		reason error
	}{
		{"currency", "currencyCode", `"566"`, nil},
		{"currency EUR", "currencyCode", `"978"`, nil},
		{"currency alpha", "currencyCode", `"NGN"`, ErrFormat},
		{"currency short", "currencyCode", `"56"`, ErrFormat},
		{"currency long", "currencyCode", `"5660"`, ErrFormat},
		{"currency very long", "currencyCode", strconv.Quote(strings.Repeat("5", 10000)), ErrFormat},
		{"currency spaced", "currencyCode", `" 566"`, ErrFormat},
		{"currency non-ASCII digits", "currencyCode", `"５６６"`, ErrFormat},
		{"datetime", "transactionDateTime", `"2020-05-15T13:32:09"`, nil},
		{"datetime leap day", "transactionDateTime", `"2024-02-29T23:59:59"`, nil},
		{"datetime absent", "transactionDateTime", wireAbsent, nil},
		{"datetime empty", "transactionDateTime", `""`, nil},
		{"datetime null", "transactionDateTime", `null`, nil},
		{"datetime no leap day", "transactionDateTime", `"2023-02-29T00:00:00"`, ErrFormat},
		{"datetime month 13", "transactionDateTime", `"2020-13-15T13:32:09"`, ErrFormat},
		{"datetime hour 24", "transactionDateTime", `"2020-05-15T24:00:00"`, ErrFormat},
		{"datetime space", "transactionDateTime", `"2020-05-15 13:32:09"`, ErrFormat},
		{"datetime one-digit hour", "transactionDateTime", `"2020-05-15T1:32:09"`, ErrFormat},
		{"datetime padded one-digit hour", "transactionDateTime", `"2020-05-15T1:32:09 "`, ErrFormat},
		{"datetime date only", "transactionDateTime", `"2020-05-15"`, ErrFormat},
		{"datetime signed year", "transactionDateTime", `"+020-05-15T13:32:09"`, ErrFormat},
		{"datetime negative year", "transactionDateTime", `"-020-05-15T13:32:09"`, ErrFormat},
		{"datetime zone", "transactionDateTime", `"2020-05-15T13:32:09Z"`, ErrTooLong},
		{"datetime fraction", "transactionDateTime", `"2020-05-15T13:32:09.123"`, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wireDecode(t, wireBody(wireMember{tt.field, tt.raw}))
			for _, route := range wireRoutes {
				wireCheck(t, r.Validate(route), tt.field, tt.reason)
			}
		})
	}
}

func TestValidateTypes(t *testing.T) {
	optional := map[string]bool{"mac": true, "transactionDateTime": true, "acquiringInstitutionId": true}
	for _, field := range wireStringFields {
		for _, raw := range []string{`1`, `-1.5e3`, `true`, `false`, `{}`, `{"a":"b"}`, `[]`, `["x"]`} {
			t.Run(field+"="+raw, func(t *testing.T) {
				r := wireDecode(t, wireBody(wireMember{field, raw}))
				if got := r.Text(field); raw[0] != '-' && raw[0] != '1' && got != "" {
					t.Errorf("Text(%q) = %q, want \"\"", field, got)
				}
				// Every route checks types, including of fields it does not require.
				for _, route := range wireRoutes {
					wireCheck(t, r.Validate(route), field, ErrType)
				}
			})
		}
		t.Run(field+"=null", func(t *testing.T) {
			r := wireDecode(t, wireBody(wireMember{field, `null`}))
			err := r.Validate(RouteReversal)
			if optional[field] {
				wireCheck(t, err, "", nil)
			} else {
				wireCheck(t, err, field, ErrMissing)
			}
		})
	}
	t.Run("string fields set only from strings", func(t *testing.T) {
		r := wireDecode(t, wireBody(wireMember{"requestId", `12`}, wireMember{"walletId", `true`}))
		if r.RequestID != "" || r.WalletID != "" || r.Text("requestId") != "12" {
			t.Fatalf("RequestID %q, WalletID %q, Text %q", r.RequestID, r.WalletID, r.Text("requestId"))
		}
	})
}

func TestValidateAdditionalFields(t *testing.T) {
	object := func(n, keyLen, valLen int) string {
		var b strings.Builder
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			key := fmt.Sprintf("k%d", i)
			key += strings.Repeat("x", max(0, keyLen-len(key)))
			fmt.Fprintf(&b, "%q:%q", key, strings.Repeat("v", valLen))
		}
		b.WriteByte('}')
		return b.String()
	}
	nested := func(depth int) string {
		return strings.Repeat(`{"a":`, depth) + `"v"` + strings.Repeat("}", depth)
	}
	tests := []struct {
		name   string
		raw    string
		want   map[string]string
		reason error
	}{
		{"absent", wireAbsent, nil, nil},
		{"null", `null`, nil, nil},
		{"empty", `{}`, map[string]string{}, nil},
		{"seed", `{"processingCode":"000000","merchantType":"8850"}`, map[string]string{"processingCode": "000000", "merchantType": "8850"}, nil},
		{"escapes decoded", `{"k\u00e9":"a\"b","e":""}`, map[string]string{"ké": `a"b`, "e": ""}, nil},
		{"64 entries", object(64, 8, 8), nil, nil},
		{"max key and value", object(1, 64, 999), nil, nil},
		{"65 entries", object(65, 8, 8), nil, ErrTooLong},
		{"10,000 entries", object(10000, 5, 1), nil, ErrTooLong},
		{"key too long", object(1, 65, 1), nil, ErrTooLong},
		{"value too long", object(1, 8, 1000), nil, ErrTooLong},
		{"nested object", `{"a":"1","b":{"c":"d"}}`, nil, ErrType},
		{"number value", `{"a":"1","b":2}`, nil, ErrType},
		{"null value", `{"a":null}`, nil, ErrType},
		{"bool value", `{"a":true}`, nil, ErrType},
		{"array value", `{"a":["1"]}`, nil, ErrType},
		{"type error after many entries", strings.TrimSuffix(object(10000, 5, 1), "}") + `,"z":1}`, nil, ErrType},
		{"5,000 levels", nested(5000), nil, ErrType},
		{"string", `"a=b"`, nil, ErrType},
		{"array", `[]`, nil, ErrType},
		{"number", `1`, nil, ErrType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wireDecode(t, wireBody(wireMember{"additionalFields", tt.raw}))
			err := r.Validate(RouteDebit)
			wireCheck(t, err, "additionalFields", tt.reason)
			if err != nil {
				if r.AdditionalFields != nil {
					t.Fatalf("AdditionalFields set on error: %v", r.AdditionalFields)
				}
				return
			}
			if tt.want != nil && !reflect.DeepEqual(r.AdditionalFields, tt.want) {
				t.Fatalf("AdditionalFields = %v, want %v", r.AdditionalFields, tt.want)
			}
			if (tt.raw == wireAbsent || tt.raw == "null") != (r.AdditionalFields == nil) {
				t.Fatalf("AdditionalFields = %#v for %s", r.AdditionalFields, tt.raw)
			}
		})
	}
}

// TestValidateOrder pins the order of the passes: types, then missing, then lengths and formats,
// then amounts; within a pass, the field order of Request.
func TestValidateOrder(t *testing.T) {
	tests := []struct {
		name   string
		mods   []wireMember
		field  string
		reason error
	}{
		{"type beats missing", []wireMember{{"requestId", wireAbsent}, {"stan", `1`}}, "stan", ErrType},
		{"additionalFields type beats missing", []wireMember{{"requestId", wireAbsent}, {"additionalFields", `{"a":1}`}}, "additionalFields", ErrType},
		{"amount type beats missing", []wireMember{{"requestId", wireAbsent}, {"amount", `true`}}, "amount", ErrType},
		{"first type error in field order", []wireMember{{"stan", `1`}, {"walletId", `1`}}, "walletId", ErrType},
		{"missing beats too long", []wireMember{{"requestId", strconv.Quote(strings.Repeat("a", 65))}, {"stan", wireAbsent}}, "stan", ErrMissing},
		{"missing amount beats too long", []wireMember{{"requestId", strconv.Quote(strings.Repeat("a", 65))}, {"amount", `null`}}, "amount", ErrMissing},
		{"too long in field order", []wireMember{{"stan", strconv.Quote(strings.Repeat("a", 33))}, {"walletId", strconv.Quote(strings.Repeat("a", 65))}}, "walletId", ErrTooLong},
		{"format in field order", []wireMember{{"currencyCode", `"NGN"`}, {"transactionDateTime", `"x"`}}, "transactionDateTime", ErrFormat},
		{"length beats amount", []wireMember{{"amount", `-1`}, {"stan", strconv.Quote(strings.Repeat("a", 33))}}, "stan", ErrTooLong},
		{"additionalFields limit beats amount", []wireMember{{"amount", `0`}, {"additionalFields", `{"k":"` + strings.Repeat("v", 1000) + `"}`}}, "additionalFields", ErrTooLong},
		{"format beats amount", []wireMember{{"amount", `-1`}, {"currencyCode", `"1"`}}, "currencyCode", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wireDecode(t, wireBody(tt.mods...))
			first := r.Validate(RouteDebit)
			wireCheck(t, first, tt.field, tt.reason)
			for range 3 {
				if again := r.Validate(RouteDebit); !reflect.DeepEqual(again, first) {
					t.Fatalf("Validate not deterministic: %v then %v", first, again)
				}
			}
		})
	}
}

func TestValidateResetsBetweenRoutes(t *testing.T) {
	r := wireDecode(t, wireBody(wireMember{"transactionFee", `3`}, wireMember{"additionalFields", `{"a":"b"}`}))
	wireCheck(t, r.Validate(RouteDebit), "", nil)
	if r.Amount != 100 || r.TransactionFee != 3 || r.AdditionalFields["a"] != "b" {
		t.Fatalf("debit: %d %d %v", r.Amount, r.TransactionFee, r.AdditionalFields)
	}
	wireCheck(t, r.Validate(RouteEnquiry), "", nil)
	if r.Amount != 0 || r.TransactionFee != 0 {
		t.Fatalf("enquiry kept amounts: %d %d", r.Amount, r.TransactionFee)
	}
	bad := wireDecode(t, wireBody(wireMember{"amount", `0`}, wireMember{"transactionFee", `3`}))
	wireCheck(t, bad.Validate(RouteReversal), "", nil)
	wireCheck(t, bad.Validate(RouteDebit), "amount", ErrAmount)
	if bad.Amount != 0 || bad.TransactionFee != 0 || bad.AdditionalFields != nil {
		t.Fatalf("failed Validate left values: %d %d %v", bad.Amount, bad.TransactionFee, bad.AdditionalFields)
	}
}

func TestValidateUnknownRoute(t *testing.T) {
	r := wireDecode(t, wireSeedApproved)
	err := r.Validate(Route("refund"))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "route" {
		t.Fatalf("Validate(refund) = %v, want a *FieldError for route", err)
	}
	for _, reason := range []error{ErrMissing, ErrType, ErrTooLong, ErrFormat, ErrAmount} {
		if errors.Is(err, reason) {
			t.Fatalf("unknown route reported as %v", reason)
		}
	}
}

func TestFieldError(t *testing.T) {
	secret := "4111111111111111"
	r := wireDecode(t, wireBody(wireMember{"amount", strconv.Quote(secret + "x")}))
	err := r.Validate(RouteDebit)
	if got, want := err.Error(), `field "amount": invalid format`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("error carries the value")
	}
	if got := (&FieldError{Field: "amount", Err: ErrAmount}).Error(); got != `field "amount": invalid amount` {
		t.Fatalf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("debit: %w", err)
	var fe *FieldError
	if !errors.As(wrapped, &fe) || !errors.Is(wrapped, ErrFormat) || errors.Is(wrapped, ErrAmount) {
		t.Fatalf("errors.As/Is through wrapping failed: %v", wrapped)
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name, body, field, want string
	}{
		{"number", `{"amount":100}`, "amount", "100"},
		{"string", `{"amount":"100"}`, "amount", "100"},
		{"exponent as sent", `{"amount":1e2}`, "amount", "1e2"},
		{"fraction as sent", `{"amount":100.0}`, "amount", "100.0"},
		{"minus zero as sent", `{"amount":-0}`, "amount", "-0"},
		{"leading zeros string", `{"amount":"0100"}`, "amount", "0100"},
		{"fee", `{"transactionFee":5}`, "transactionFee", "5"},
		{"escaped", `{"requestId":"a\u00e9\"b"}`, "requestId", `aé"b`},
		{"escaped solidus and controls", `{"requestId":"a\/b\n\t"}`, "requestId", "a/b\n\t"},
		{"surrogate pair", `{"requestId":"\ud83d\ude00"}`, "requestId", "😀"},
		{"raw UTF-8", `{"cardAcceptorNameLocation":"ÉLAN  LAGOS"}`, "cardAcceptorNameLocation", "ÉLAN  LAGOS"},
		{"whitespace kept", `{"stan":"  18 "}`, "stan", "  18 "},
		{"absent", `{}`, "requestId", ""},
		{"null", `{"requestId":null}`, "requestId", ""},
		{"true", `{"requestId":true}`, "requestId", ""},
		{"object", `{"requestId":{"a":"b"}}`, "requestId", ""},
		{"array", `{"requestId":["a"]}`, "requestId", ""},
		{"additionalFields", `{"additionalFields":{"a":"b"}}`, "additionalFields", ""},
		{"unknown field", `{"foo":"bar"}`, "foo", ""},
		{"name is case-sensitive", `{"requestId":"r"}`, "RequestId", ""},
		{"number where a string belongs", `{"walletId":1234567894}`, "walletId", "1234567894"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wireDecode(t, tt.body).Text(tt.field); got != tt.want {
				t.Fatalf("Text(%q) = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
}

// wireDebitMAC is the request MAC field list of a debit (CONTRACT 1.2).
var wireDebitMAC = []string{"transactionReference", "requestId", "rrn", "stan", "walletId", "amount", "currencyCode"}

func TestFingerprint(t *testing.T) {
	base := wireDecode(t, wireBody()).Fingerprint(RouteDebit, wireDebitMAC)
	if again := wireDecode(t, wireBody()).Fingerprint(RouteDebit, wireDebitMAC); again != base {
		t.Fatal("Fingerprint not deterministic")
	}
	differ := []struct {
		name string
		mods []wireMember
	}{
		{"transactionReference", []wireMember{{"transactionReference", `"11123456788"`}}},
		{"requestId", []wireMember{{"requestId", `"2"`}}},
		{"rrn", []wireMember{{"rrn", `"000111000112"`}}},
		{"stan", []wireMember{{"stan", `"000019"`}}},
		{"walletId", []wireMember{{"walletId", `"1234567895"`}}},
		{"amount", []wireMember{{"amount", `101`}}},
		{"amount as sent", []wireMember{{"amount", `100.0`}}},
		{"currencyCode", []wireMember{{"currencyCode", `"978"`}}},
		{"absent field", []wireMember{{"stan", wireAbsent}}},
		{"fee present", []wireMember{{"transactionFee", `5`}}},
		{"fee zero vs absent", []wireMember{{"transactionFee", `0`}}},
		{"field boundaries", []wireMember{{"transactionReference", `"1112345678"`}, {"requestId", `"91"`}}},
	}
	for _, tt := range differ {
		t.Run("differs/"+tt.name, func(t *testing.T) {
			if got := wireDecode(t, wireBody(tt.mods...)).Fingerprint(RouteDebit, wireDebitMAC); got == base {
				t.Fatal("Fingerprint did not change")
			}
		})
	}
	t.Run("differs/fee value", func(t *testing.T) {
		a := wireDecode(t, wireBody(wireMember{"transactionFee", `5`})).Fingerprint(RouteDebit, wireDebitMAC)
		b := wireDecode(t, wireBody(wireMember{"transactionFee", `6`})).Fingerprint(RouteDebit, wireDebitMAC)
		if a == b {
			t.Fatal("fee 5 and 6 have the same fingerprint")
		}
	})
	t.Run("differs/route", func(t *testing.T) {
		r := wireDecode(t, wireBody())
		seen := map[[32]byte]Route{}
		for _, route := range wireRoutes {
			fp := r.Fingerprint(route, wireDebitMAC)
			if other, dup := seen[fp]; dup {
				t.Fatalf("routes %s and %s share a fingerprint", route, other)
			}
			seen[fp] = route
		}
	})
	same := []struct {
		name string
		body string
	}{
		{"reordered members", reverseWireMembers(wireBody())},
		{"pretty-printed", wireIndent(t, wireBody())},
		{"non-MAC field changed", wireBody(wireMember{"terminalId", `"OTHER"`}, wireMember{"mac", `"00"`})},
		{"unknown member added", wireBody(wireMember{"extra", `[1,2]`})},
		{"string escapes", wireBody(wireMember{"requestId", `"\u0031"`})},
		{"amount as a string", wireBody(wireMember{"amount", `"100"`})},
	}
	for _, tt := range same {
		t.Run("same/"+tt.name, func(t *testing.T) {
			if got := wireDecode(t, tt.body).Fingerprint(RouteDebit, wireDebitMAC); got != base {
				t.Fatal("Fingerprint changed")
			}
		})
	}
}

// reverseWireMembers returns body (a wireBody) with its members in reverse order.
func reverseWireMembers(body string) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		panic(err)
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := len(wireBase) - 1; i >= 0; i-- {
		raw, ok := m[wireBase[i].name]
		if !ok {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", wireBase[i].name, raw)
	}
	b.WriteByte('}')
	return b.String()
}

func wireIndent(t *testing.T, body string) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(body), " \t", "\r\n   "); err != nil {
		t.Fatal(err)
	}
	return " \n" + buf.String() + "\n\n"
}

func TestSetMAC(t *testing.T) {
	tests := []struct {
		name, body, mac, want string
	}{
		{"replaced in place", `{ "a" : 1 , "mac" : "old", "b":[1, 2] }`, "new", `{"a":1,"mac":"new","b":[1, 2]}`},
		{"appended when absent", `{"a":"x"}`, "new", `{"a":"x","mac":"new"}`},
		{"empty object", " {} ", "abc", `{"mac":"abc"}`},
		{"mac first", `{"mac":null,"z":true}`, "m", `{"mac":"m","z":true}`},
		{"escaped mac name", `{"m\u0061c":"old","x":0}`, "new", `{"mac":"new","x":0}`},
		{"names and values byte for byte", "{\"amount\":1e2,\n\"s\":\"a\\u00e9\",\"o\":{ \"k\" : [ ] },\"t\\u0041\":-0}", "ff",
			`{"amount":1e2,"s":"a\u00e9","o":{ "k" : [ ] },"t\u0041":-0,"mac":"ff"}`},
		{"mac needing escapes", `{}`, "a\"b\\", `{"mac":"a\"b\\"}`},
		{"case variant is another member", `{"MAC":"x"}`, "y", `{"MAC":"x","mac":"y"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := SetMAC([]byte(tt.body), tt.mac)
			if err != nil {
				t.Fatalf("SetMAC: %v", err)
			}
			if string(out) != tt.want {
				t.Fatalf("SetMAC =\n %s\nwant\n %s", out, tt.want)
			}
			if !json.Valid(out) {
				t.Fatal("output is not valid JSON")
			}
			if got := wireDecode(t, string(out)).Text("mac"); got != tt.mac {
				t.Fatalf("Text(mac) = %q, want %q", got, tt.mac)
			}
		})
	}
	t.Run("seed keeps every other field", func(t *testing.T) {
		const mac = "eba09cfec356d063891707be9d34820e6d36cca1e4f40d6067b954d1553a638059bd9b40d87bbbd4ea1b4b89f0f6eaa3e308731e596b3ab63c2bcbb0534eea09"
		out, err := SetMAC([]byte(wireSeedApproved), mac)
		if err != nil {
			t.Fatal(err)
		}
		before, after := wireDecode(t, wireSeedApproved), wireDecode(t, string(out))
		for _, f := range append(wireStringFields, "amount", "transactionFee") {
			want := before.Text(f)
			if f == "mac" {
				want = mac
			}
			if got := after.Text(f); got != want {
				t.Errorf("Text(%q) = %q, want %q", f, got, want)
			}
		}
		wireCheck(t, after.Validate(RouteDebit), "", nil)
		if !reflect.DeepEqual(after.AdditionalFields, map[string]string{"processingCode": "000000", "merchantType": "8850"}) {
			t.Errorf("AdditionalFields = %v", after.AdditionalFields)
		}
		if !strings.HasPrefix(string(out), `{"requestId":"1","walletId":"1234567894","amount":100,`) {
			t.Errorf("member order not kept: %.80s", out)
		}
	})
	for _, bad := range []string{`[]`, ``, `{"a":1,"a":2}`, `{} {}`, "{\"a\":\"\xff\"}", wireSeedMalformed} {
		t.Run("rejects "+strconv.Quote(bad[:min(len(bad), 12)]), func(t *testing.T) {
			if out, err := SetMAC([]byte(bad), "x"); !errors.Is(err, ErrNotObject) || out != nil {
				t.Fatalf("SetMAC = %q, %v; want nil, ErrNotObject", out, err)
			}
		})
	}
}

// wireBaselineRequest is what a bare encoding/json decode would bind, for the baseline benchmark.
type wireBaselineRequest struct {
	RequestID                    string            `json:"requestId"`
	WalletID                     string            `json:"walletId"`
	Amount                       json.Number       `json:"amount"`
	TransactionReference         string            `json:"transactionReference"`
	OriginalTransactionReference string            `json:"originalTransactionReference"`
	MAC                          string            `json:"mac"`
	TransactionDateTime          string            `json:"transactionDateTime"`
	TerminalID                   string            `json:"terminalId"`
	TerminalType                 string            `json:"terminalType"`
	MerchantID                   string            `json:"merchantId"`
	AcquiringInstitutionID       string            `json:"acquiringInstitutionId"`
	CurrencyCode                 string            `json:"currencyCode"`
	CardAcceptorNameLocation     string            `json:"cardAcceptorNameLocation"`
	RRN                          string            `json:"rrn"`
	STAN                         string            `json:"stan"`
	TransactionFee               json.Number       `json:"transactionFee"`
	AdditionalFields             map[string]string `json:"additionalFields"`
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := []byte(wireSeedApproved)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAndValidate(b *testing.B) {
	body := []byte(wireSeedApproved)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r, err := DecodeRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Validate(RouteDebit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBaselineUnmarshal is the bare decode the load test compares us to: encoding/json
// into a tagged struct, with none of our checks (duplicates, exact names, deferred type errors).
func BenchmarkDecodeBaselineUnmarshal(b *testing.B) {
	body := []byte(wireSeedApproved)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var r wireBaselineRequest
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequestEscapes decodes a 64 KiB body that is one long string of escapes in an
// unknown member: the scanner must stay linear in the body's size.
func BenchmarkDecodeRequestEscapes(b *testing.B) {
	body := []byte(`{"x":"` + strings.Repeat(`\n`, 32*1024-16) + `","requestId":"1"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFingerprint(b *testing.B) {
	r, err := DecodeRequest([]byte(wireSeedApproved))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Fingerprint(RouteDebit, wireDebitMAC)
	}
}
