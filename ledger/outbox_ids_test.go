package ledger

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// deliveryIDs lists every outbox event as "partner kind reference -> delivery id", oldest first.
func deliveryIDs(t *testing.T, l *testLedger) []string {
	t.Helper()
	evs, _, err := l.Outbox(bg, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Partner+" "+e.Kind+" "+e.Reference+" -> "+e.DeliveryID)
	}
	return out
}

// wantUniqueDeliveryIDs checks that no two events of a partner share a delivery id and that every id fits.
func wantUniqueDeliveryIDs(t *testing.T, l *testLedger) {
	t.Helper()
	evs, _, err := l.Outbox(bg, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	for _, e := range evs {
		if e.DeliveryID == "" || len(e.DeliveryID) > MaxDeliveryID {
			t.Errorf("event %d: delivery id %q: want 1 to %d bytes", e.ID, e.DeliveryID, MaxDeliveryID)
		}
		k := e.Partner + "\x00" + e.DeliveryID
		if other, ok := seen[k]; ok {
			t.Errorf("events %d and %d of %s share delivery id %q", other, e.ID, e.Partner, e.DeliveryID)
		}
		seen[k] = e.ID
	}
}

// TestDeliveryIDsUniqueAcrossKinds: a reference reused across the debit, reversal and lien-debit namespaces (and a
// debit whose reference is another event's derived id) never gives a partner the same id twice; the first event
// under a reference is delivered under the reference itself; ids survive a restart unchanged and the index is
// honoured after it.
func TestDeliveryIDsUniqueAcrossKinds(t *testing.T) {
	clock := newFakeClock(lienDay)
	l := openTest(t, withOptions(Options{Route: testRoute, Now: clock.Now, LienTTL: time.Hour, LienSweepInterval: -1}))
	mustWalletVA(t, l, "w1", "VA-1")
	mustCredit(t, l, "w1", 100_000)
	long := strings.Repeat("9", 64)

	mustDebit(t, l, dreq("d1", "11123456790", "w1", 100, 0), nil)
	mustReverse(t, l, rreq("r1", "11123456790", "11123456790", "w1", 0), nil)
	mustDebit(t, l, dreq("d2", "11123456790-rev", "w1", 100, 0), nil)
	mustDebit(t, l, dreq("d3", "R2~reversal", "w1", 100, 0), nil)
	mustDebit(t, l, dreq("d4", "R2", "w1", 100, 0), nil)
	mustReverse(t, l, rreq("r2", "R2", "R2", "w1", 40), nil)
	mustDebit(t, l, dreq("d5", long, "w1", 100, 0), nil)
	before := deliveryIDs(t, l)
	want := []string{
		"connector debit 11123456790 -> 11123456790",
		"va debit 11123456790 -> 11123456790",
		"connector reversal 11123456790 -> 11123456790~reversal",
		"va reversal 11123456790 -> 11123456790~reversal",
		"connector debit 11123456790-rev -> 11123456790-rev",
		"va debit 11123456790-rev -> 11123456790-rev",
		"connector debit R2~reversal -> R2~reversal",
		"va debit R2~reversal -> R2~reversal",
		"connector debit R2 -> R2",
		"va debit R2 -> R2",
		"connector reversal R2 -> R2~reversal~2",
		"va reversal R2 -> R2~reversal~2",
		"connector debit " + long + " -> " + deliveryIDCandidate(long, KindDebit, 0),
		"va debit " + long + " -> " + deliveryIDCandidate(long, KindDebit, 0),
	}
	if !slices.Equal(before, want) {
		t.Errorf("delivery ids:\n\tgot  %s\n\twant %s", strings.Join(before, "\n\t     "), strings.Join(want, "\n\t     "))
	}
	if got := deliveryIDCandidate(long, KindDebit, 0); len(got) != MaxDeliveryID || !strings.HasPrefix(got, long[:MaxDeliveryID-17]+"~") {
		t.Errorf("long reference: delivery id %q, want %d bytes starting with the reference", got, MaxDeliveryID)
	}

	l.reopen()
	if got := deliveryIDs(t, l); !slices.Equal(got, before) {
		t.Errorf("after restart:\n\tgot  %s\n\twant %s", strings.Join(got, "\n\t     "), strings.Join(before, "\n\t     "))
	}
	// The live case: a debit declined 51 under a reference, then a lien debit approved under the same reference.
	mustWallet(t, l, "w2", "566", 0)
	mustCredit(t, l, "w2", 60)
	mustDebit(t, l, dreq("d6", "11123456791", "w2", 51, 10), ErrInsufficientFunds)
	mustPlace(t, l, lpreq("p1", "L1", "w2", 50, 0), nil)
	mustLienDebit(t, l, ldreq("c1", "11123456791", "L1", "w2", 50), nil)
	got := deliveryIDs(t, l)[len(before):]
	want = []string{
		"connector debit 11123456791 -> 11123456791",
		"connector lien_debit 11123456791 -> 11123456791~lien_debit",
	}
	if !slices.Equal(got, want) {
		t.Errorf("after restart, new events:\n\tgot  %s\n\twant %s", strings.Join(got, "\n\t     "), strings.Join(want, "\n\t     "))
	}
	wantUniqueDeliveryIDs(t, l)

	// The look-up of a transaction shows the same ids.
	ds, err := l.Deliveries(bg, KindLienDebit, "11123456791")
	if err != nil || len(ds) != 1 || ds[0].DeliveryID != "11123456791~lien_debit" {
		t.Errorf("Deliveries(lien debit) = %+v, %v", ds, err)
	}
}

// TestDeliveryIDsIndexBuiltForOlderOutbox: an outbox written before delivery ids were stored gets its index built
// on the next enqueue, reserving the ids its records were delivered under (the reference, and the old "-rev" id of
// a reversal that reused its debit's reference), so no new event reuses them.
func TestDeliveryIDsIndexBuiltForOlderOutbox(t *testing.T) {
	l := openTest(t, withOptions(Options{Route: testRoute}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 10_000)
	mustDebit(t, l, dreq("d1", "D1", "w1", 100, 0), nil)
	mustDebit(t, l, dreq("d2", "D2", "w1", 100, 0), nil)
	mustReverse(t, l, rreq("r2", "D2", "D2", "w1", 0), nil)
	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it an older outbox: no index, no stored ids.
	db, err := bolt.Open(l.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketOutboxIDs); err != nil {
			return err
		}
		b := tx.Bucket(bucketOutbox)
		return b.ForEach(func(k, v []byte) error {
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			delete(m, "deliveryId")
			raw, err := json.Marshal(m)
			if err != nil {
				return err
			}
			return b.Put(k, raw)
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Open(l.path, l.opts)
	if err != nil {
		t.Fatal(err)
	}
	l.setLedger(l2)
	old := deliveryIDs(t, l)
	if want := []string{"connector debit D1 -> ", "connector debit D2 -> ", "connector reversal D2 -> "}; !slices.Equal(old, want) {
		t.Fatalf("older outbox: %q, want %q", old, want)
	}

	mustReverse(t, l, rreq("r1", "D1", "D1", "w1", 0), nil)
	mustDebit(t, l, dreq("d3", "D2-rev", "w1", 100, 0), nil)
	got := deliveryIDs(t, l)[len(old):]
	want := []string{"connector reversal D1 -> D1~reversal", "connector debit D2-rev -> D2-rev~debit"}
	if !slices.Equal(got, want) {
		t.Errorf("new events on an older outbox:\n\tgot  %s\n\twant %s", strings.Join(got, "\n\t     "), strings.Join(want, "\n\t     "))
	}
}
