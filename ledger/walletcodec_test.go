package ledger

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestWalletCodecRoundTrip(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	str := func() string {
		b := make([]byte, r.IntN(80))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	num := func() int64 {
		if r.IntN(4) == 0 {
			return []int64{0, math.MinInt64, math.MaxInt64, -1}[r.IntN(4)]
		}
		return r.Int64() >> r.IntN(63)
	}
	for i := range 20_000 {
		w := &walletRecord{ID: "w1", Currency: str(), Name: str(), Status: Status(str()), DailyDebitLimit: num(),
			Phone: str(), VirtualAccountID: str(), Balance: num(), Held: num(), CreatedAt: num(), Day: str(),
			DayDebited: num(), Last: r.Uint64() >> r.IntN(64)}
		if i == 0 {
			w = &walletRecord{ID: "w1"} // every field zero
		}
		got, err := decodeWallet("w1", encodeWallet(w))
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("round trip of %+v: %+v, %v", w, got, err)
		}
	}
}

// A damaged record is an error, never a wallet: every truncation, trailing bytes, another version, a JSON record.
func TestWalletCodecRefusesDamage(t *testing.T) {
	w := &walletRecord{ID: "w1", Currency: "566", Name: "Ada Obi", Status: StatusActive, DailyDebitLimit: 500_000,
		Phone: "+2348012345678", Balance: 1_000_000, Held: 2_575, CreatedAt: 1_763_700_000_000_000_000,
		Day: "2026-11-21", DayDebited: 300, Last: 123_456}
	raw := encodeWallet(w)
	if len(raw) > 80 {
		t.Errorf("a typical wallet takes %d bytes; the point of the codec is to stay far below its JSON", len(raw))
	}
	bad := map[string][]byte{"empty": nil, "trailing byte": append(raw[:len(raw):len(raw)], 0),
		"version 2": append([]byte{2}, raw[1:]...), "json": []byte(`{"id":"w1","balance":5}`),
		"string past the end": func() []byte { b := slices.Clone(raw); b[len(b)-11] = 11; return b }()} // Day: 10 bytes
	for i := range len(raw) {
		bad["cut at "+string(rune('0'+i/10))+string(rune('0'+i%10))] = raw[:i]
	}
	for name, b := range bad {
		if got, err := decodeWallet("w1", b); !errors.Is(err, errWalletRecord) || got != nil {
			t.Errorf("%s: %+v, %v; want errWalletRecord", name, got, err)
		}
	}
	if got, err := decodeWallet("w1", raw); err != nil || !reflect.DeepEqual(got, w) {
		t.Errorf("the undamaged record: %+v, %v", got, err)
	}
}

func FuzzDecodeWallet(f *testing.F) {
	f.Add(encodeWallet(&walletRecord{ID: "w1", Currency: "566", Name: "Ada", Status: StatusActive, Balance: 10}))
	f.Add([]byte{walletCodecV1})
	f.Fuzz(func(t *testing.T, raw []byte) {
		w, err := decodeWallet("w1", raw)
		if err != nil {
			return
		}
		if again := encodeWallet(w); string(again) != string(raw) {
			// Varints have one shortest form; a longer one is accepted, but must decode to the same wallet.
			if w2, err := decodeWallet("w1", again); err != nil || !reflect.DeepEqual(w, w2) {
				t.Fatalf("%x decodes to %+v, which encodes to %x, which decodes to %+v, %v", raw, w, again, w2, err)
			}
		}
	})
}
