package mac

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// vectorsPath is the shared MAC test vectors, computed independently of this
// package (see ../testdata/README.md).
const vectorsPath = "../testdata/mac.json"

type requestVector struct {
	Message   string         `json:"message"`
	Path      string         `json:"path"`
	Algorithm string         `json:"algorithm"`
	Key       string         `json:"key"`
	MACInput  string         `json:"macInput"`
	Request   map[string]any `json:"request"`
}

type responseVector struct {
	Algorithm string         `json:"algorithm"`
	Key       string         `json:"key"`
	MACInput  string         `json:"macInput"`
	Response  map[string]any `json:"response"`
}

type vectorFile struct {
	Requests  []requestVector  `json:"requests"`
	Responses []responseVector `json:"responses"`
}

// loadVectors reads the vectors with UseNumber, so that amount 100 stays the
// text "100" as the switch sent it.
func loadVectors(tb testing.TB) vectorFile {
	tb.Helper()
	f, err := os.Open(vectorsPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	d := json.NewDecoder(f)
	d.UseNumber()
	var v vectorFile
	if err := d.Decode(&v); err != nil {
		tb.Fatalf("decode %s: %v", vectorsPath, err)
	}
	if len(v.Requests) == 0 || len(v.Responses) == 0 {
		tb.Fatalf("%s: no vectors", vectorsPath)
	}
	return v
}

// text returns the JSON text of a decoded field as the switch sent it: a
// string's content, a number's literal, "" when absent.
func text(tb testing.TB, obj map[string]any, name string) string {
	tb.Helper()
	switch v := obj[name].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		tb.Fatalf("field %s: unexpected JSON type %T", name, v)
		return ""
	}
}

func mustKeys(tb testing.TB, algo Algorithm, current, previous string) *Keys {
	tb.Helper()
	k, err := NewKeys(algo, []byte(current), []byte(previous))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// badMACs returns variants of a valid MAC that must never verify.
func badMACs(good string) map[string]string {
	bad := map[string]string{
		"empty":            "",
		"truncated digit":  good[:len(good)-1],
		"truncated byte":   good[:len(good)-2],
		"extra byte":       good + "00",
		"non-hex last":     good[:len(good)-1] + "g",
		"non-hex first":    "z" + good[1:],
		"space suffix":     good[:len(good)-1] + " ",
		"0x prefix":        "0x" + good[:len(good)-2],
		"all zero":         strings.Repeat("0", len(good)),
		"half":             good[:len(good)/2],
		"doubled":          good + good,
		"unicode":          good[:len(good)-2] + "é",
		"NUL":              good[:len(good)-1] + "\x00",
		"reversed halves":  good[len(good)/2:] + good[:len(good)/2],
		"leading space":    " " + good[:len(good)-1],
		"upper non-hex G":  "G" + good[1:],
		"digit out of hex": good[:len(good)-1] + ":",
	}
	for i := range len(good) {
		bad[fmt.Sprintf("flip %d", i)] = flipHex(good, i)
	}
	return bad
}

// flipHex changes the hex digit at i into another hex digit.
func flipHex(s string, i int) string {
	b := []byte(s)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

func TestRequestVectors(t *testing.T) {
	v := loadVectors(t)
	seen := map[Message]int{}
	for i, vec := range v.Requests {
		t.Run(fmt.Sprintf("%02d_%s_%s", i, vec.Message, vec.Algorithm), func(t *testing.T) {
			msg, err := ParseMessage(vec.Message)
			if err != nil {
				t.Fatal(err)
			}
			if byPath, err := ParseMessage(vec.Path); err != nil || byPath != msg {
				t.Fatalf("ParseMessage(%q) = %q, %v; want %q", vec.Path, byPath, err, msg)
			}
			seen[msg]++
			algo, err := ParseAlgorithm(vec.Algorithm)
			if err != nil {
				t.Fatal(err)
			}
			want := text(t, vec.Request, "mac")

			values := Values(msg, func(name string) string { return text(t, vec.Request, name) })
			if got := strings.Join(values, ""); got != vec.MACInput {
				t.Fatalf("MAC input = %q, want %q", got, vec.MACInput)
			}
			if got := Sum(algo, []byte(vec.Key), values...); got != want {
				t.Fatalf("Sum = %s, want %s", got, want)
			}
			if got := Sum(algo, []byte(vec.Key), vec.MACInput); got != want {
				t.Fatalf("Sum(macInput) = %s, want %s", got, want)
			}

			k := mustKeys(t, algo, vec.Key, "")
			if got := k.Sign(Current, values...); got != want {
				t.Fatalf("Sign = %s, want %s", got, want)
			}
			for _, got := range []string{want, strings.ToUpper(want), strings.ToUpper(want[:10]) + want[10:]} {
				if id, ok := k.Verify(got, values...); !ok || id != Current {
					t.Errorf("Verify(%s) = %v, %v; want Current, true", got, id, ok)
				}
			}
			for name, bad := range badMACs(want) {
				if id, ok := k.Verify(bad, values...); ok || id != Current {
					t.Errorf("Verify(%s: %q) = %v, %v; want Current, false", name, bad, id, ok)
				}
			}
			// Same MAC, one value changed: must fail.
			tampered := slices.Clone(values)
			tampered[len(tampered)-1] += "0"
			if _, ok := k.Verify(want, tampered...); ok {
				t.Error("Verify accepted a tampered value")
			}
			// A field boundary moved keeps the concatenation, hence the MAC:
			// that is the contract's design (no separators), not a bug here.
			if len(values[0]) > 0 {
				moved := slices.Clone(values)
				moved[1] = moved[0][len(moved[0])-1:] + moved[1]
				moved[0] = moved[0][:len(moved[0])-1]
				if _, ok := k.Verify(want, moved...); !ok {
					t.Error("MAC depends on field boundaries; CONTRACT 1.2 says no separators")
				}
			}
			// Wrong key, same algorithm.
			other := mustKeys(t, algo, vec.Key+"x", "")
			if _, ok := other.Verify(want, values...); ok {
				t.Error("Verify accepted a MAC made with another key")
			}
		})
	}
	for _, m := range Messages() {
		if seen[m] == 0 {
			t.Errorf("no request vector for %s", m)
		}
	}
}

func TestResponseVectors(t *testing.T) {
	v := loadVectors(t)
	for i, vec := range v.Responses {
		t.Run(fmt.Sprintf("%02d_%s", i, vec.Algorithm), func(t *testing.T) {
			algo, err := ParseAlgorithm(vec.Algorithm)
			if err != nil {
				t.Fatal(err)
			}
			want := text(t, vec.Response, "mac")
			var values []string
			for _, name := range ResponseFields() {
				values = append(values, text(t, vec.Response, name))
			}
			if got := strings.Join(values, ""); got != vec.MACInput {
				t.Fatalf("MAC input = %q, want %q", got, vec.MACInput)
			}
			k := mustKeys(t, algo, vec.Key, "")
			got := k.SignResponse(Current,
				text(t, vec.Response, "transactionReference"),
				text(t, vec.Response, "requestId"),
				text(t, vec.Response, "responseCode"))
			if got != want {
				t.Fatalf("SignResponse = %s, want %s", got, want)
			}
			if got := Sum(algo, []byte(vec.Key), values...); got != want {
				t.Fatalf("Sum = %s, want %s", got, want)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	values := []string{"11123456789", "1", "000111000111", "000018", "1234567894", "100", "566"}
	for _, algo := range []Algorithm{SHA512, SHA256} {
		t.Run(string(algo), func(t *testing.T) {
			const cur, prev, stranger = "new-key", "old-key", "someone-else"
			rotating := mustKeys(t, algo, cur, prev)
			single := mustKeys(t, algo, cur, "")

			tests := []struct {
				name   string
				keys   *Keys
				signer string
				wantID KeyID
				wantOK bool
			}{
				{"current key", rotating, cur, Current, true},
				{"previous key", rotating, prev, Previous, true},
				{"unknown key", rotating, stranger, Current, false},
				{"previous key, none configured", single, prev, Current, false},
				{"current key, no previous", single, cur, Current, true},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got := Sum(algo, []byte(tt.signer), values...)
					id, ok := tt.keys.Verify(got, values...)
					if id != tt.wantID || ok != tt.wantOK {
						t.Fatalf("Verify = %v, %v; want %v, %v", id, ok, tt.wantID, tt.wantOK)
					}
				})
			}

			// The response goes out under the key that verified the request.
			if got, want := rotating.Sign(Previous, values...), Sum(algo, []byte(prev), values...); got != want {
				t.Errorf("Sign(Previous) = %s, want the previous key's MAC %s", got, want)
			}
			if got, want := rotating.SignResponse(Previous, "t", "r", "00"), Sum(algo, []byte(prev), "t", "r", "00"); got != want {
				t.Errorf("SignResponse(Previous) = %s, want %s", got, want)
			}
			if got, want := single.Sign(Previous, values...), single.Sign(Current, values...); got != want {
				t.Errorf("Sign(Previous) without a previous key = %s, want Sign(Current) = %s", got, want)
			}
			if got, want := single.Sign(KeyID(7), values...), single.Sign(Current, values...); got != want {
				t.Errorf("Sign(7) = %s, want Sign(Current) = %s", got, want)
			}
			// Same key twice: Current wins.
			same := mustKeys(t, algo, cur, cur)
			if id, ok := same.Verify(Sum(algo, []byte(cur), values...), values...); !ok || id != Current {
				t.Errorf("Verify with current == previous = %v, %v; want Current, true", id, ok)
			}
			// A MAC of the other algorithm's length never verifies.
			otherAlgo := SHA256
			if algo == SHA256 {
				otherAlgo = SHA512
			}
			if _, ok := rotating.Verify(Sum(otherAlgo, []byte(cur), values...), values...); ok {
				t.Error("Verify accepted a MAC of the other algorithm")
			}
		})
	}
}

func TestNewKeys(t *testing.T) {
	tests := []struct {
		name      string
		algo      Algorithm
		current   []byte
		previous  []byte
		wantErr   error
		wantAlgo  Algorithm
		wantPrevs bool
	}{
		{"default algorithm", "", []byte("k"), nil, nil, SHA512, false},
		{"sha512", SHA512, []byte("k"), nil, nil, SHA512, false},
		{"sha256", SHA256, []byte("k"), []byte("p"), nil, SHA256, true},
		{"upper case", "SHA256", []byte("k"), nil, nil, SHA256, false},
		{"empty previous is none", SHA512, []byte("k"), []byte{}, nil, SHA512, false},
		{"nil current", SHA512, nil, []byte("p"), ErrNoKey, "", false},
		{"empty current", SHA512, []byte{}, nil, ErrNoKey, "", false},
		{"unknown algorithm", "md5", []byte("k"), nil, ErrUnknownAlgorithm, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKeys(tt.algo, tt.current, tt.previous)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || k != nil {
					t.Fatalf("NewKeys = %v, %v; want nil, %v", k, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != tt.wantAlgo {
				t.Errorf("Algorithm() = %q, want %q", k.Algorithm(), tt.wantAlgo)
			}
			if got := k.previous != nil; got != tt.wantPrevs {
				t.Errorf("has previous = %v, want %v", got, tt.wantPrevs)
			}
		})
	}
}

// NewKeys copies the keys: a caller that zeroes its slices afterwards
// (as it should) does not change the keys.
func TestNewKeysCopiesKey(t *testing.T) {
	cur, prev := []byte("current-key"), []byte("previous-key")
	k := mustKeys(t, SHA512, string(cur), string(prev))
	k2, err := NewKeys(SHA512, cur, prev)
	if err != nil {
		t.Fatal(err)
	}
	clear(cur)
	clear(prev)
	for _, id := range []KeyID{Current, Previous} {
		if got, want := k2.Sign(id, "a", "b"), k.Sign(id, "a", "b"); got != want {
			t.Errorf("key %d changed when the caller's slice was cleared", id)
		}
	}
}

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		in   string
		want Algorithm
		err  bool
	}{
		{"", SHA512, false},
		{"sha512", SHA512, false},
		{"SHA512", SHA512, false},
		{" Sha512\n", SHA512, false},
		{"sha256", SHA256, false},
		{"SHA256", SHA256, false},
		{"sha-256", "", true},
		{"hmac-sha256", "", true},
		{"md5", "", true},
		{"sha1", "", true},
		{"sha384", "", true},
		{"s3cr3t-key-in-wrong-setting", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAlgorithm(tt.in)
			if tt.err {
				if !errors.Is(err, ErrUnknownAlgorithm) {
					t.Fatalf("ParseAlgorithm(%q) error = %v, want ErrUnknownAlgorithm", tt.in, err)
				}
				if strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q repeats the input, which may be a misplaced key", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAlgorithm(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		in   string
		want Message
	}{
		{"debit", Debit},
		{"/debit", Debit},
		{"DEBIT", Debit},
		{" debit ", Debit},
		{"reversal", Reversal},
		{"/reversal", Reversal},
		{"enquiry", Enquiry},
		{"/enquiry", Enquiry},
		{"lienplace", LienPlace},
		{"lien-place", LienPlace},
		{"lien_place", LienPlace},
		{"lien/place", LienPlace},
		{"/lien/place", LienPlace},
		{"LienPlace", LienPlace},
		{"liendebit", LienDebit},
		{"lien-debit", LienDebit},
		{"lien_debit", LienDebit},
		{"/lien/debit", LienDebit},
		{"", ""},
		{"/", ""},
		{"lien", ""},
		{"lien/", ""},
		{"credit", ""},
		{"inquiry", ""},
		{"debits", ""},
		{"//debit", ""},
		{"/debit/", ""},
		{"lien--place", ""},
		{"lien place", ""},
		{"place", ""},
		{"response", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMessage(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrUnknownMessage) || got != "" {
					t.Fatalf("ParseMessage(%q) = %q, %v; want ErrUnknownMessage", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMessage(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	for _, m := range Messages() {
		if got, err := ParseMessage(string(m)); err != nil || got != m {
			t.Errorf("ParseMessage(%q) = %q, %v", m, got, err)
		}
	}
}

func TestMessages(t *testing.T) {
	want := []Message{Debit, Reversal, Enquiry, LienPlace, LienDebit}
	got := Messages()
	if !slices.Equal(got, want) {
		t.Fatalf("Messages() = %v, want %v", got, want)
	}
	got[0] = "mutated"
	if Messages()[0] != Debit {
		t.Fatal("Messages() returns a shared slice")
	}
}

// TestFields pins the field lists of CONTRACT 1.2, written out again here on
// purpose: a change in mac.go must be a change in the contract.
func TestFields(t *testing.T) {
	tests := []struct {
		m    Message
		want []string
	}{
		{Debit, []string{"transactionReference", "requestId", "rrn", "stan", "walletId", "amount", "currencyCode"}},
		{Reversal, []string{"transactionReference", "originalTransactionReference", "requestId", "rrn", "stan", "walletId", "amount", "currencyCode"}},
		{Enquiry, []string{"transactionReference", "requestId", "rrn", "stan", "walletId"}},
		{LienPlace, []string{"transactionReference", "requestId", "walletId", "rrn", "stan", "amount", "currencyCode"}},
		{LienDebit, []string{"transactionReference", "originalTransactionReference", "requestId", "rrn", "stan", "walletId", "amount", "currencyCode"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.m), func(t *testing.T) {
			got := Fields(tt.m)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Fields(%s) = %v, want %v", tt.m, got, tt.want)
			}
			got[0] = "mutated"
			if Fields(tt.m)[0] != tt.want[0] {
				t.Fatal("Fields returns a shared slice")
			}
		})
	}
	if got := Fields("credit"); got != nil {
		t.Errorf("Fields(credit) = %v, want nil", got)
	}

	wantResp := []string{"transactionReference", "requestId", "responseCode"}
	resp := ResponseFields()
	if !slices.Equal(resp, wantResp) {
		t.Fatalf("ResponseFields() = %v, want %v", resp, wantResp)
	}
	resp[0] = "mutated"
	if ResponseFields()[0] != wantResp[0] {
		t.Fatal("ResponseFields returns a shared slice")
	}
}

func TestValues(t *testing.T) {
	req := map[string]string{
		"transactionReference":         "T",
		"originalTransactionReference": "O",
		"requestId":                    "R",
		"rrn":                          "N",
		"stan":                         "S",
		"walletId":                     "W",
		"amount":                       "100",
		// currencyCode absent: contributes "".
	}
	var calls []string
	lookup := func(name string) string {
		calls = append(calls, name)
		return req[name]
	}
	got := Values(Reversal, lookup)
	want := []string{"T", "O", "R", "N", "S", "W", "100", ""}
	if !slices.Equal(got, want) {
		t.Fatalf("Values(reversal) = %q, want %q", got, want)
	}
	if !slices.Equal(calls, Fields(Reversal)) {
		t.Fatalf("fieldText called with %v, want %v", calls, Fields(Reversal))
	}
	if got := Values("credit", lookup); got != nil {
		t.Fatalf("Values(credit) = %q, want nil", got)
	}
}

// An absent field and an empty one are the same to the MAC, and values longer
// than the internal scratch buffer hash like their concatenation.
func TestSumConcatenation(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 70) // > scratch size
	cases := [][]string{
		{},
		{""},
		{"", "", ""},
		{"a", "", "b"},
		{long},
		{long, "x", long[:255], long[:1]},
	}
	for _, algo := range []Algorithm{SHA512, SHA256} {
		k := mustKeys(t, algo, "key", "")
		for i, values := range cases {
			want := Sum(algo, []byte("key"), strings.Join(values, ""))
			if got := Sum(algo, []byte("key"), values...); got != want {
				t.Errorf("%s case %d: Sum of parts %s != Sum of join %s", algo, i, got, want)
			}
			if got := k.Sign(Current, values...); got != want {
				t.Errorf("%s case %d: Sign %s != Sum %s", algo, i, got, want)
			}
			if _, ok := k.Verify(want, values...); !ok {
				t.Errorf("%s case %d: Verify failed", algo, i)
			}
		}
	}
	if got := len(Sum(SHA512, []byte("k"))); got != 128 {
		t.Errorf("len(Sum sha512) = %d, want 128", got)
	}
	if got := len(Sum(SHA256, []byte("k"))); got != 64 {
		t.Errorf("len(Sum sha256) = %d, want 64", got)
	}
	if Sum("", []byte("k"), "v") != Sum(SHA512, []byte("k"), "v") {
		t.Error(`Sum("") is not SHA512`)
	}
}

func TestSumUnknownAlgorithmPanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("Sum with an unknown algorithm did not panic")
		}
		if s := fmt.Sprint(r); strings.Contains(s, "secret") {
			t.Fatalf("panic message %q contains the key", s)
		}
	}()
	Sum("md5", []byte("secret"), "v")
}

// TestKeysNeverPrinted prints Keys every way a log line or an error might and
// checks that the key bytes never come out, in any encoding.
func TestKeysNeverPrinted(t *testing.T) {
	const cur, prev = "Zq7-CURRENT-KEY-9xW", "Pv3-PREVIOUS-KEY-4kT"
	k := mustKeys(t, SHA512, cur, prev)
	single := mustKeys(t, SHA256, cur, "")

	forbidden := func(secret string) []string {
		b := []byte(secret)
		return []string{
			secret,
			strings.ToLower(secret),
			fmt.Sprintf("%x", b),
			fmt.Sprintf("%X", b),
			fmt.Sprintf("% x", b),
			fmt.Sprint(b)[1 : len(fmt.Sprint(b))-1], // "90 113 55 ..." as %v of []byte prints
			fmt.Sprintf("%#v", b)[len("[]byte{") : len(fmt.Sprintf("%#v", b))-1],
			secret[:8], // a prefix is already too much
		}
	}
	bad := append(forbidden(cur), forbidden(prev)...)

	type holder struct {
		K     *Keys
		V     Keys
		inner Keys
	}
	var outputs []string
	for _, kk := range []*Keys{k, single} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10v", "%-40s"} {
			outputs = append(outputs,
				fmt.Sprintf(verb, kk),
				fmt.Sprintf(verb, *kk),
				fmt.Sprintf(verb, holder{K: kk, V: *kk, inner: *kk}),
				fmt.Sprintf(verb, []any{kk, *kk}),
				fmt.Sprintf(verb, map[string]*Keys{"k": kk}),
			)
		}
		outputs = append(outputs,
			kk.String(), kk.GoString(),
			fmt.Sprint(kk), fmt.Sprintln(kk, *kk),
			fmt.Errorf("wrapped: %v", kk).Error(),
		)
	}
	for _, out := range outputs {
		for _, s := range bad {
			if strings.Contains(out, s) {
				t.Fatalf("printed Keys %q contains key material %q", out, s)
			}
		}
	}

	if got, want := k.String(), "mac.Keys{algo=sha512, current=****, previous=****}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := fmt.Sprintf("%#v", single), "mac.Keys{algo=sha256, current=****, previous=none}"; got != want {
		t.Errorf("%%#v = %q, want %q", got, want)
	}
	if got, want := fmt.Sprintf("%q", k), `"mac.Keys{algo=sha512, current=****, previous=****}"`; got != want {
		t.Errorf("%%q = %q, want %q", got, want)
	}
	var nilKeys *Keys
	if got := fmt.Sprintf("%v", nilKeys); strings.Contains(got, "PANIC") {
		t.Errorf("printing a nil *Keys = %q", got)
	}
}

// Keys is used by every request handler at once.
func TestKeysConcurrent(t *testing.T) {
	k := mustKeys(t, SHA512, "cur", "prev")
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				v := []string{fmt.Sprint(g), fmt.Sprint(i)}
				id := KeyID(i % 2)
				m := k.Sign(id, v...)
				if gotID, ok := k.Verify(m, v...); !ok || gotID != id {
					t.Errorf("goroutine %d: Verify(Sign(%d)) = %v, %v", g, id, gotID, ok)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func BenchmarkVerifySHA512(b *testing.B) {
	values := []string{"11123456789", "1", "000111000111", "000018", "1234567894", "100", "566"}
	for _, tc := range []struct {
		name     string
		previous string
		signer   string
	}{
		{"current", "", "walletgate-test-key"},
		{"rotating/current", "old-key", "walletgate-test-key"},
		{"rotating/previous", "old-key", "old-key"},
		{"rotating/fail", "old-key", "stranger"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			k := mustKeys(b, SHA512, "walletgate-test-key", tc.previous)
			got := strings.ToUpper(Sum(SHA512, []byte(tc.signer), values...))
			b.ReportAllocs()
			for b.Loop() {
				k.Verify(got, values...)
			}
		})
	}
}

func BenchmarkSignResponse(b *testing.B) {
	for _, algo := range []Algorithm{SHA512, SHA256} {
		b.Run(string(algo), func(b *testing.B) {
			k := mustKeys(b, algo, "walletgate-test-key", "old-key")
			b.ReportAllocs()
			for b.Loop() {
				k.SignResponse(Current, "11123456789", "1", "00")
			}
		})
	}
}

func BenchmarkSum(b *testing.B) {
	values := []string{"11123456789", "1", "000111000111", "000018", "1234567894", "100", "566"}
	key := []byte("walletgate-test-key")
	b.ReportAllocs()
	for b.Loop() {
		Sum(SHA512, key, values...)
	}
}

func TestZeroKeysFailClosed(t *testing.T) {
	var k Keys
	for _, got := range []string{"", "00", Sum(SHA512, []byte("k"))} {
		if _, ok := k.Verify(got); ok {
			t.Fatalf("zero Keys verified %q", got)
		}
	}
}
