package mac

import (
	"errors"
	"strings"
	"testing"
)

// sep separates the MAC input values in the fuzzer's joined string. Values
// may contain it after mutation; splitting then just yields other values.
const sep = "\x00"

// FuzzVerify checks Keys.Verify against Sum on arbitrary keys, values and
// received MACs: Verify never panics, always accepts what Sum produced for
// the current or previous key (in either case), never accepts a MAC with one
// hex digit changed, and accepts got only when it is Sum's MAC.
//
// Arguments: sha256 picks the algorithm, key is the current key, got the
// received MAC, joined the values separated by NUL.
//
// Seeds: every vector of ../testdata/mac.json plus garbage; the committed
// corpus is in testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	v := loadVectors(f)
	for _, vec := range v.Requests {
		msg, err := ParseMessage(vec.Message)
		if err != nil {
			f.Fatal(err)
		}
		values := Values(msg, func(name string) string { return text(f, vec.Request, name) })
		f.Add(vec.Algorithm == string(SHA256), []byte(vec.Key), text(f, vec.Request, "mac"), strings.Join(values, sep))
	}
	for _, vec := range v.Responses {
		values := []string{
			text(f, vec.Response, "transactionReference"),
			text(f, vec.Response, "requestId"),
			text(f, vec.Response, "responseCode"),
		}
		f.Add(vec.Algorithm == string(SHA256), []byte(vec.Key), text(f, vec.Response, "mac"), strings.Join(values, sep))
	}
	f.Add(false, []byte("k"), "", "")
	f.Add(true, []byte{0}, "zz", sep+sep)
	f.Add(false, []byte("walletgate-test-key"), "hexdigest", "11123456789"+sep+"1")
	f.Add(true, []byte(strings.Repeat("K", 200)), strings.Repeat("0", 64), strings.Repeat("v", 1000))
	f.Add(false, []byte("\xff\xfe"), strings.Repeat("F", 128), "é"+sep+"\xff")
	f.Add(false, []byte("k"), strings.Repeat("g", 128), "a")
	f.Add(true, []byte("k"), strings.Repeat("a", 63)+"\x00", "a")

	f.Fuzz(func(t *testing.T, useSHA256 bool, key []byte, got, joined string) {
		algo := SHA512
		if useSHA256 {
			algo = SHA256
		}
		values := strings.Split(joined, sep)

		k, err := NewKeys(algo, key, nil)
		if len(key) == 0 {
			if !errors.Is(err, ErrNoKey) {
				t.Fatalf("NewKeys with an empty key: err = %v, want ErrNoKey", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}

		want := Sum(algo, key, values...)

		// Arbitrary got: no panic, and only the real MAC verifies.
		if id, ok := k.Verify(got, values...); ok {
			if id != Current || !strings.EqualFold(got, want) {
				t.Fatalf("Verify accepted %q (id %v), the MAC is %s", got, id, want)
			}
		}

		// The real MAC verifies, in either case.
		for _, m := range []string{want, strings.ToUpper(want)} {
			if id, ok := k.Verify(m, values...); !ok || id != Current {
				t.Fatalf("Verify(Sum) = %v, %v; want Current, true", id, ok)
			}
		}
		if s := k.Sign(Current, values...); s != want {
			t.Fatalf("Sign = %s, Sum = %s", s, want)
		}

		// One hex digit changed never verifies. The position comes from the
		// input so the fuzzer explores all of them.
		i := (len(got) + len(joined)) % len(want)
		if _, ok := k.Verify(flipHex(want, i), values...); ok {
			t.Fatalf("Verify accepted the MAC with digit %d changed", i)
		}
		// Nor does a truncated one.
		if _, ok := k.Verify(want[:len(want)-1], values...); ok {
			t.Fatal("Verify accepted a truncated MAC")
		}

		// Rotation: the same key as previous verifies as Previous (unless it
		// is also the current key).
		other := append([]byte("other-"), key...)
		r, err := NewKeys(algo, other, key)
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := r.Verify(want, values...); !ok || id != Previous {
			t.Fatalf("rotating keys: Verify(previous key's MAC) = %v, %v; want Previous, true", id, ok)
		}
		if s := r.Sign(Previous, values...); s != want {
			t.Fatalf("Sign(Previous) = %s, want %s", s, want)
		}
		if _, ok := r.Verify(got, values...); ok && !strings.EqualFold(got, want) && !strings.EqualFold(got, Sum(algo, other, values...)) {
			t.Fatalf("rotating keys accepted %q, which is neither key's MAC", got)
		}
	})
}
