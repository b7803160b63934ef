package ledger

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
)

func randEntry(r *rand.Rand) *Entry {
	str := func() string {
		b := make([]byte, r.IntN(40))
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
	e := &Entry{Seq: r.Uint64() >> r.IntN(64), Time: time.Unix(0, num()).UTC(), Kind: str(), Reference: str(),
		Currency: str(), Narration: str()}
	if r.IntN(5) > 0 {
		e.Postings = []Posting{}
		for range r.IntN(4) {
			e.Postings = append(e.Postings, Posting{Account: str(), Amount: num()})
		}
	}
	if r.IntN(2) == 0 {
		e.Wallet = &EntryWallet{ID: str(), Prev: r.Uint64() >> r.IntN(64), Balance: num()}
	}
	return e
}

// sameEntry compares two entries as the ledger reads them: nil and empty postings alike (binary has no nil).
func sameEntry(a, b *Entry) bool {
	a2, b2 := *a, *b
	if len(a2.Postings) == 0 {
		a2.Postings = nil
	}
	if len(b2.Postings) == 0 {
		b2.Postings = nil
	}
	return a2.Time.Equal(b2.Time) && reflect.DeepEqual(func() Entry { a2.Time = time.Time{}; return a2 }(),
		func() Entry { b2.Time = time.Time{}; return b2 }())
}

func TestEntryCodecRoundTrip(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 3))
	for range 20_000 {
		e := randEntry(r)
		raw, err := encodeEntry(e)
		if err != nil || len(raw) == 0 || raw[0] != entryCodecV1 {
			t.Fatalf("encodeEntry(%+v) = %x, %v; want the binary form", e, raw, err)
		}
		got, err := decodeEntry(raw)
		if err != nil || !sameEntry(got, e) {
			t.Fatalf("round trip of %+v:\n\tgot %+v, %v", e, got, err)
		}
	}
	// Entries written as JSON (format 1) read back the same, and so does a time the binary form cannot hold.
	for _, e := range []*Entry{{Seq: 3, Time: time.Unix(1_763_700_000, 5).UTC(), Kind: KindDebit, Reference: "d1",
		Currency: "566", Narration: "naïve ₦", Postings: []Posting{{Account: "wallet:w1", Amount: -3},
			{Account: "settlement:566", Amount: 3}}}, {Seq: 7, Time: time.Date(2300, 1, 2, 3, 4, 5, 6, time.UTC), Kind: KindCredit,
		Postings: []Posting{{Account: "funding:566", Amount: -5}, {Account: "wallet:w1", Amount: 5}},
		Wallet:   &EntryWallet{ID: "w1", Balance: 5}}} {
		js, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := decodeEntry(js); err != nil || !sameEntry(got, e) {
			t.Errorf("JSON entry %s: %+v, %v", js, got, err)
		}
	}
	far := &Entry{Seq: 1, Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), Kind: KindCredit}
	if raw, err := encodeEntry(far); err != nil || raw[0] != '{' {
		t.Errorf("an entry in 2300 encoded as %q, %v; want JSON", raw, err)
	} else if got, err := decodeEntry(raw); err != nil || !sameEntry(got, far) {
		t.Errorf("an entry in 2300 read back as %+v, %v", got, err)
	}
	if _, err := encodeEntry(&Entry{Time: time.Date(10_000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("an entry in the year 10000 encoded; want encoding/json's error")
	}
}

// A damaged entry is an error, never an entry: every truncation, trailing bytes, another version, a bad flag.
func TestEntryCodecRefusesDamage(t *testing.T) {
	e := &Entry{Seq: 123_456, Time: time.Date(2026, 11, 21, 15, 0, 0, 123, time.UTC), Kind: KindDebit,
		Reference: "11123456789", Currency: "566", Narration: "HOTEL LAGOS NG",
		Postings: []Posting{{Account: "wallet:w1", Amount: -103}, {Account: "settlement:566", Amount: 100},
			{Account: "fee_income:566", Amount: 3}}, Wallet: &EntryWallet{ID: "w1", Prev: 123_400, Balance: 99_897}}
	raw, err := encodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(e)
	if len(raw)*2 > len(js) {
		t.Errorf("a debit's entry takes %d bytes, its JSON %d: the binary form should be well under half", len(raw), len(js))
	}
	bad := map[string][]byte{"empty": nil, "trailing byte": append(slices.Clone(raw), 0),
		"wallet version": append([]byte{walletCodecV1}, raw[1:]...), "bad wallet flag": func() []byte {
			b := slices.Clone(raw)
			b[len(b)-1-len(uvarintBytes(99_897*2))-len(uvarintBytes(123_400))-1-2] = 7 // the flag before "w1"
			return b
		}(), "huge posting count": {entryCodecV1, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}}
	for i := range len(raw) {
		bad["cut at "+strconv.Itoa(i)] = raw[:i]
	}
	for name, b := range bad {
		if got, err := decodeEntry(b); !errors.Is(err, errEntryRecord) || got != nil {
			t.Errorf("%s: %+v, %v; want errEntryRecord", name, got, err)
		}
	}
	if got, err := decodeEntry(raw); err != nil || !sameEntry(got, e) {
		t.Errorf("the undamaged entry: %+v, %v", got, err)
	}
}

func uvarintBytes(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func FuzzDecodeEntry(f *testing.F) {
	raw, _ := encodeEntry(&Entry{Seq: 1, Time: time.Unix(1_763_700_000, 0), Kind: KindDebit, Reference: "r",
		Currency: "566", Postings: []Posting{{Account: "wallet:w1", Amount: -1}, {Account: "settlement:566", Amount: 1}},
		Wallet: &EntryWallet{ID: "w1", Balance: 9}})
	f.Add(raw)
	f.Add([]byte(`{"seq":1,"postings":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := decodeEntry(raw)
		if err != nil {
			return
		}
		again, err := encodeEntry(e)
		if err != nil {
			return // a JSON entry with a time encoding/json refuses to write back
		}
		if e2, err := decodeEntry(again); err != nil || !sameEntry(e, e2) {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which decodes to %+v, %v", raw, e, again, e2, err)
		}
	})
}
