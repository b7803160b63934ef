package ledger

import (
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// openIndex returns the references in the index of open cash-outs, and whether the index exists.
func openIndex(t *testing.T, l *testLedger) (refs []string, exists bool) {
	t.Helper()
	refs = []string{}
	err := l.view(func(r *rtx) error {
		idx := r.tx.Bucket(bucketCashoutsOpen)
		if idx == nil {
			return nil
		}
		exists = true
		return idx.ForEach(func(k, _ []byte) error { refs = append(refs, string(k)); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return refs, exists
}

// wantHeld checks both the index and HeldCashouts against the references expected open, in order.
func wantHeld(t *testing.T, l *testLedger, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	held, err := l.HeldCashouts(bg)
	if err != nil {
		t.Fatalf("HeldCashouts: %v", err)
	}
	got := []string{}
	for _, c := range held {
		if c.State != CashoutHeld {
			t.Errorf("HeldCashouts returned %s in state %s", c.Reference, c.State)
		}
		got = append(got, c.Reference)
	}
	if !slices.Equal(got, want) {
		t.Errorf("HeldCashouts = %v, want %v", got, want)
	}
	if idx, _ := openIndex(t, l); !slices.Equal(idx, want) {
		t.Errorf("open cash-out index = %v, want %v", idx, want)
	}
}

func mustHoldCashout(t *testing.T, l *testLedger, ref string, amount int64) {
	t.Helper()
	if _, err := l.HoldCashout(bg, NewCashout{Reference: ref, WalletID: "w1", Amount: amount, Phone: "+2348012345678"}); err != nil {
		t.Fatalf("HoldCashout(%s): %v", ref, err)
	}
}

// TestHeldCashoutsIndex: a held cash-out enters the index of open cash-outs in the transaction that holds it and
// leaves it in the one that settles it, either way; repeats and refusals leave the index as it is.
func TestHeldCashoutsIndex(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 10_000)
	wantHeld(t, l)
	for _, ref := range []string{"C3", "C1", "C4", "C2"} {
		mustHoldCashout(t, l, ref, 100)
	}
	mustHoldCashout(t, l, "C1", 100) // repeated: same cash-out
	wantHeld(t, l, "C1", "C2", "C3", "C4")

	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"completed", func() error { _, err := l.SettleCashout(bg, "C2", true, ""); return err }, []string{"C1", "C3", "C4"}},
		{"failed", func() error { _, err := l.SettleCashout(bg, "C3", false, "blocked"); return err }, []string{"C1", "C4"}},
		{"noted, still held", func() error { _, err := l.NoteCashout(bg, "C4", "HTTP 503"); return err }, []string{"C1", "C4"}},
		{"settled again the same way", func() error { _, err := l.SettleCashout(bg, "C2", true, ""); return err }, []string{"C1", "C4"}},
		{"settled the other way (refused)", func() error {
			if _, err := l.SettleCashout(bg, "C2", false, ""); err == nil {
				t.Error("settling C2 the other way succeeded")
			}
			return nil
		}, []string{"C1", "C4"}},
		{"the last two", func() error {
			if _, err := l.SettleCashout(bg, "C1", true, ""); err != nil {
				return err
			}
			_, err := l.SettleCashout(bg, "C4", false, "")
			return err
		}, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			wantHeld(t, l, s.want...)
		})
	}
	wantWallet(t, l, "w1", 10_000-200, 0)
}

// dropCashoutIndex closes the ledger, removes the index of open cash-outs as a ledger made before it would lack it,
// and opens the file again.
func dropCashoutIndex(t *testing.T, l *testLedger) {
	t.Helper()
	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(l.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketCashoutsOpen) }); err != nil {
		t.Fatalf("drop the index: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	nl, err := Open(l.path, l.opts)
	if err != nil {
		t.Fatal(err)
	}
	l.setLedger(nl)
	if _, exists := openIndex(t, l); exists {
		t.Fatal("the index survived")
	}
}

// TestHeldCashoutsWithoutTheIndex: a ledger made before the index gets it built from its cash-outs, by the first
// resolver pass or by the first cash-out that changes state, whichever comes first.
func TestHeldCashoutsWithoutTheIndex(t *testing.T) {
	setup := func(t *testing.T) *testLedger {
		l := openTest(t)
		mustWallet(t, l, "w1", "566", 0)
		mustCredit(t, l, "w1", 10_000)
		mustHoldCashout(t, l, "C1", 100)
		mustHoldCashout(t, l, "C2", 100)
		mustHoldCashout(t, l, "C3", 100)
		if _, err := l.SettleCashout(bg, "C2", true, ""); err != nil {
			t.Fatal(err)
		}
		dropCashoutIndex(t, l)
		return l
	}
	t.Run("resolver pass", func(t *testing.T) {
		l := setup(t)
		wantHeld(t, l, "C1", "C3")
	})
	t.Run("new cash-out", func(t *testing.T) {
		l := setup(t)
		mustHoldCashout(t, l, "C0", 100)
		if idx, _ := openIndex(t, l); !slices.Equal(idx, []string{"C0", "C1", "C3"}) {
			t.Errorf("index after a new cash-out = %v", idx)
		}
		wantHeld(t, l, "C0", "C1", "C3")
	})
	t.Run("settlement", func(t *testing.T) {
		l := setup(t)
		if _, err := l.SettleCashout(bg, "C3", false, ""); err != nil {
			t.Fatal(err)
		}
		wantHeld(t, l, "C1")
	})
	t.Run("fresh ledger", func(t *testing.T) {
		l := openTest(t)
		wantHeld(t, l)
		if _, exists := openIndex(t, l); !exists {
			t.Error("HeldCashouts did not build the index")
		}
	})
}
