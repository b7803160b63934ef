package ledger

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
)

// fillAll sets every field of the struct v points to, recursively, to a distinct non-zero value. A codec that
// forgets a field (one added to the struct later, say) then fails its round trip.
func fillAll(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	next := func() int { *n++; return *n }
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(t, v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1_763_700_000, int64(next())).UTC()))
			return
		}
		for i := range v.NumField() {
			fillAll(t, v.Field(i), n)
		}
	case reflect.String:
		v.SetString("s" + strconv.Itoa(next()))
	case reflect.Int64:
		v.SetInt(-int64(next()) * 1_000_003)
	case reflect.Uint64:
		v.SetUint(uint64(next()) * 1_000_003)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillAll(t, v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillAll(t, k, n)
			fillAll(t, e, n)
			v.SetMapIndex(k, e)
		}
	default:
		t.Fatalf("fillAll: no rule for %s (%s): teach the codec test about it", v.Type(), v.Kind())
	}
}

// Every field of every record the ledger stores in binary survives its codec.
func TestCodecsKeepEveryField(t *testing.T) {
	n := 0
	var w walletRecord
	fillAll(t, reflect.ValueOf(&w).Elem(), &n)
	if got, err := decodeWallet(w.ID, encodeWallet(&w)); err != nil || !reflect.DeepEqual(*got, w) {
		t.Errorf("wallet:\n\tgot  %+v, %v\n\twant %+v", got, err, w)
	}
	var e Entry
	fillAll(t, reflect.ValueOf(&e).Elem(), &n)
	raw, err := encodeEntry(&e)
	if err != nil || raw[0] != entryCodecV1 {
		t.Fatalf("entry: %x, %v", raw, err)
	}
	if got, err := decodeEntry(raw); err != nil || !reflect.DeepEqual(*got, e) {
		t.Errorf("entry:\n\tgot  %+v, %v\n\twant %+v", got, err, e)
	}
	var x txnRecord
	fillAll(t, reflect.ValueOf(&x).Elem(), &n)
	if got, err := decodeTxn(encodeTxn(&x)); err != nil || !reflect.DeepEqual(*got, x) {
		t.Errorf("transaction:\n\tgot  %+v, %v\n\twant %+v", got, err, x)
	}
}

func randTxn(r *rand.Rand) *txnRecord {
	str := func() string {
		b := make([]byte, r.IntN(30))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	num := func() int64 { return r.Int64() >> r.IntN(64) * int64(1-2*r.IntN(2)) }
	t := &txnRecord{Kind: str(), Reference: str(), RequestID: str(), WalletID: str(), Currency: str(), Amount: num(),
		Fee: num(), Decline: str(), State: str(), Original: str(), Reversed: num(), FeeReversed: r.IntN(2) == 0,
		Entry: r.Uint64() >> r.IntN(64), CreatedAt: num(), Day: str()}
	for range r.IntN(3) {
		t.Reversals = append(t.Reversals, str())
	}
	if r.IntN(3) > 0 {
		t.Details = &Details{RRN: str(), STAN: str(), TerminalID: str(), TerminalType: str(), MerchantID: str(),
			AcquiringInstitutionID: str(), CardAcceptorNameLocation: str(), TransactionDateTime: str()}
		for range r.IntN(4) {
			if t.Details.AdditionalFields == nil {
				t.Details.AdditionalFields = map[string]string{}
			}
			t.Details.AdditionalFields[str()] = str()
		}
	}
	if r.IntN(3) == 0 {
		t.Lien = &lienState{ExpiresAt: num(), EndedAt: num(), ReleaseReason: str(), EndedBy: str(), Debited: num(),
			EndEntry: r.Uint64() >> r.IntN(64)}
	}
	return t
}

func TestTxnCodecRoundTrip(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 4))
	for range 20_000 {
		x := randTxn(r)
		raw := encodeTxn(x)
		if got, err := decodeTxn(raw); err != nil || !reflect.DeepEqual(got, x) {
			t.Fatalf("round trip of %+v:\n\tgot %+v, %v", x, got, err)
		}
		if again := encodeTxn(x); string(again) != string(raw) {
			t.Fatalf("%+v encodes to different bytes twice (map order?)", x)
		}
	}
	// A record format 1 wrote in JSON reads back the same.
	x := &txnRecord{Kind: KindDebit, Reference: "d1", RequestID: "q1", WalletID: "w1", Currency: "566", Amount: 100,
		Fee: 3, State: StateReversed, Reversed: 100, FeeReversed: true, Reversals: []string{"r1"}, Entry: 9,
		CreatedAt: 1_763_700_000_000_000_000, Day: "2026-11-21", Details: &Details{RRN: "000000000001",
			AdditionalFields: map[string]string{"channel": "POS"}}, Lien: &lienState{ExpiresAt: 5, EndedBy: "l2"}}
	js, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeTxn(js); err != nil || !reflect.DeepEqual(got, x) {
		t.Errorf("JSON record %s: %+v, %v", js, got, err)
	}
}

// A damaged record is an error, never a transaction.
func TestTxnCodecRefusesDamage(t *testing.T) {
	x := &txnRecord{Kind: KindDebit, Reference: "11123456789", RequestID: "q1", WalletID: "w1", Currency: "566",
		Amount: 2_500, Fee: 75, State: StateApproved, Entry: 42, CreatedAt: 1_763_700_000_000_000_000, Day: "2026-11-21",
		Details: &Details{RRN: "000000000001", STAN: "000001", TerminalID: "2057LA01", MerchantID: "2057LA000000001",
			CardAcceptorNameLocation: "HOTEL LAGOS NG", TransactionDateTime: "1121151500"}}
	raw := encodeTxn(x)
	js, _ := json.Marshal(x)
	if len(raw)*3 > len(js)*2 {
		t.Errorf("a debit's record takes %d bytes, its JSON %d: the binary form should be well under it", len(raw), len(js))
	}
	bad := map[string][]byte{"empty": nil, "trailing byte": append(slices.Clone(raw), 0),
		"entry version": append([]byte{entryCodecV1}, raw[1:]...), "bad lien flag": func() []byte {
			b := slices.Clone(raw)
			b[len(b)-1] = 2 // the Lien flag is the last byte of a record without a lien
			return b
		}(), "huge reversal count": {txnCodecV1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}}
	for i := range len(raw) {
		bad["cut at "+strconv.Itoa(i)] = raw[:i]
	}
	for name, b := range bad {
		if got, err := decodeTxn(b); !errors.Is(err, errTxnRecord) || got != nil {
			t.Errorf("%s: %+v, %v; want errTxnRecord", name, got, err)
		}
	}
}

func FuzzDecodeTxn(f *testing.F) {
	f.Add(encodeTxn(&txnRecord{Kind: KindDebit, Reference: "r", Amount: 1, State: StateApproved,
		Details: &Details{RRN: "1", AdditionalFields: map[string]string{"a": "b"}}, Lien: &lienState{ExpiresAt: 1}}))
	f.Add([]byte(`{"kind":"debit","reference":"r","amount":1,"state":"approved","createdAt":0}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		x, err := decodeTxn(raw)
		if err != nil {
			return
		}
		if y, err := decodeTxn(encodeTxn(x)); err != nil || !reflect.DeepEqual(normTxn(x), normTxn(y)) {
			t.Fatalf("%x decodes to %+v, which round-trips to %+v, %v", raw, x, y, err)
		}
	})
}

// normTxn treats empty and nil collections alike (a JSON record may carry either; the binary form has nil).
func normTxn(x *txnRecord) *txnRecord {
	c := *x
	if len(c.Reversals) == 0 {
		c.Reversals = nil
	}
	if c.Details != nil {
		d := *c.Details
		if len(d.AdditionalFields) == 0 {
			d.AdditionalFields = nil
		}
		c.Details = &d
	}
	return &c
}
