package ledger

import (
	"errors"
	"testing"
)

// TestTopup: a top-up credits the wallet from "bestcash:<currency>" exactly once, and only when confirmed; every
// step is idempotent on the reference.
func TestTopup(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	n := NewTopup{Reference: "T1", WalletID: "w1", Amount: 5_000, Phone: "+2250700000001"}
	tp, err := l.StartTopup(bg, n)
	if err != nil || tp.State != TopupStarted || tp.Currency != "566" {
		t.Fatalf("StartTopup = %+v, %v", tp, err)
	}
	if tp, err := l.StartTopup(bg, n); err != nil || tp.State != TopupStarted {
		t.Errorf("StartTopup again = %+v, %v", tp, err)
	}
	other := n
	other.Amount = 6_000
	if _, err := l.StartTopup(bg, other); !errors.Is(err, ErrTopupConflict) {
		t.Errorf("StartTopup with another amount = %v, want ErrTopupConflict", err)
	}
	if tp, err := l.SetTopupState(bg, "T1", TopupAwaiting, ""); err != nil || tp.State != TopupAwaiting {
		t.Fatalf("SetTopupState(awaiting) = %+v, %v", tp, err)
	}
	// A wrong code leaves it awaiting, with the partner's message.
	if tp, err := l.SetTopupState(bg, "T1", TopupAwaiting, "invalid code"); err != nil || tp.State != TopupAwaiting || tp.Message != "invalid code" {
		t.Fatalf("SetTopupState(message) = %+v, %v", tp, err)
	}
	wantBalances(t, l, map[string]int64{"w1": 0, "bestcash:566": 0})
	for range 2 {
		tp, err := l.ConfirmTopup(bg, "T1")
		if err != nil || tp.State != TopupConfirmed || tp.Entry == 0 {
			t.Fatalf("ConfirmTopup = %+v, %v", tp, err)
		}
	}
	wantBalances(t, l, map[string]int64{"w1": 5_000, "bestcash:566": -5_000})
	var se *StateError
	if _, err := l.SetTopupState(bg, "T1", TopupCancelled, ""); !errors.As(err, &se) || se.State != TopupConfirmed {
		t.Errorf("cancel after confirmation = %v, want a StateError in state confirmed", err)
	}
	if tp, err := l.Topup(bg, "T1"); err != nil || tp.State != TopupConfirmed || tp.Message != "invalid code" {
		t.Errorf("Topup = %+v, %v", tp, err)
	}
	lines, _, _ := l.Statement(bg, "w1", 0, 0)
	if len(lines) != 1 || lines[0].Kind != KindTopup || lines[0].Amount != 5_000 {
		t.Errorf("statement = %+v", lines)
	}
}

func TestTopupRefusals(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustWallet(t, l, "closed", "566", 0)
	mustSetStatus(t, l, "closed", StatusClosed)
	tests := []struct {
		name string
		n    NewTopup
		want error
	}{
		{"no such wallet", NewTopup{Reference: "A", WalletID: "nope", Amount: 1, Phone: "22507000001"}, ErrWalletNotFound},
		{"closed wallet", NewTopup{Reference: "B", WalletID: "closed", Amount: 1, Phone: "22507000001"}, ErrWalletClosed},
		{"zero amount", NewTopup{Reference: "C", WalletID: "w1", Amount: 0, Phone: "22507000001"}, ErrInvalid},
		{"no phone", NewTopup{Reference: "D", WalletID: "w1", Amount: 1}, ErrInvalid},
		{"bad reference", NewTopup{Reference: "a b", WalletID: "w1", Amount: 1, Phone: "22507000001"}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := l.StartTopup(bg, tc.n); !errors.Is(err, tc.want) {
				t.Errorf("StartTopup = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := l.ConfirmTopup(bg, "nope"); !errors.Is(err, ErrTopupNotFound) {
		t.Errorf("ConfirmTopup(nope) = %v", err)
	}
	// Cancelled and refused top-ups are never credited.
	for ref, state := range map[string]string{"X": TopupRefused, "Y": TopupCancelled} {
		if _, err := l.StartTopup(bg, NewTopup{Reference: ref, WalletID: "w1", Amount: 10, Phone: "22507000001"}); err != nil {
			t.Fatal(err)
		}
		if state == TopupCancelled {
			if _, err := l.SetTopupState(bg, ref, TopupAwaiting, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.SetTopupState(bg, ref, state, ""); err != nil {
			t.Fatal(err)
		}
		var se *StateError
		if _, err := l.ConfirmTopup(bg, ref); !errors.As(err, &se) {
			t.Errorf("ConfirmTopup(%s) = %v, want a StateError", state, err)
		}
	}
	wantBalances(t, l, map[string]int64{"w1": 0})
}

// TestCashout: the hold shrinks the available balance; settling debits into "bestcash:<currency>" or releases,
// once; the other outcome afterwards is refused.
func TestCashout(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 10_000)
	n := NewCashout{Reference: "C1", WalletID: "w1", Amount: 4_000, Phone: "+2250700000001"}
	c, err := l.HoldCashout(bg, n)
	if err != nil || c.State != CashoutHeld {
		t.Fatalf("HoldCashout = %+v, %v", c, err)
	}
	if _, err := l.HoldCashout(bg, n); err != nil {
		t.Fatalf("HoldCashout again: %v", err)
	}
	w, _ := l.Wallet(bg, "w1")
	if w.Held != 4_000 || w.Available() != 6_000 {
		t.Fatalf("after the hold: held %d available %d", w.Held, w.Available())
	}
	// The hold counts against switch debits.
	mustDebit(t, l, dreq("r1", "D1", "w1", 6_001, 0), ErrInsufficientFunds)
	if _, err := l.HoldCashout(bg, NewCashout{Reference: "C2", WalletID: "w1", Amount: 6_001, Phone: "22507000001"}); !errors.Is(err, ErrInsufficientFunds) {
		t.Errorf("second hold above the available balance = %v", err)
	}
	held, err := l.HeldCashouts(bg)
	if err != nil || len(held) != 1 || held[0].Reference != "C1" {
		t.Errorf("HeldCashouts = %+v, %v", held, err)
	}
	for range 2 {
		c, err := l.SettleCashout(bg, "C1", true, "")
		if err != nil || c.State != CashoutCompleted || c.Entry == 0 {
			t.Fatalf("SettleCashout = %+v, %v", c, err)
		}
	}
	w, _ = l.Wallet(bg, "w1")
	if w.Held != 0 || w.Balance != 6_000 {
		t.Errorf("after settling: held %d balance %d", w.Held, w.Balance)
	}
	wantBalances(t, l, map[string]int64{"bestcash:566": 4_000})
	var se *StateError
	if _, err := l.SettleCashout(bg, "C1", false, ""); !errors.As(err, &se) {
		t.Errorf("settling the other way = %v, want a StateError", err)
	}

	// Failed: the hold goes away, nothing moves.
	if _, err := l.HoldCashout(bg, NewCashout{Reference: "C3", WalletID: "w1", Amount: 1_000, Phone: "22507000001",
		FirstName: "Ada", LastName: "Obi"}); err != nil {
		t.Fatal(err)
	}
	if c, err := l.NoteCashout(bg, "C3", "HTTP 503"); err != nil || c.Message != "HTTP 503" {
		t.Errorf("NoteCashout = %+v, %v", c, err)
	}
	if c, err := l.SettleCashout(bg, "C3", false, "account blocked"); err != nil || c.State != CashoutFailed || c.Message != "account blocked" {
		t.Fatalf("SettleCashout(failed) = %+v, %v", c, err)
	}
	w, _ = l.Wallet(bg, "w1")
	if w.Held != 0 || w.Balance != 6_000 {
		t.Errorf("after a failed cash-out: held %d balance %d", w.Held, w.Balance)
	}
	if held, _ := l.HeldCashouts(bg); len(held) != 0 {
		t.Errorf("HeldCashouts = %+v, want none", held)
	}
	if _, err := l.HoldCashout(bg, NewCashout{Reference: "C3", WalletID: "w1", Amount: 1_000, Phone: "22507000001"}); !errors.Is(err, ErrCashoutConflict) {
		t.Errorf("reusing C3 without the names = %v, want ErrCashoutConflict", err)
	}
	mustSetStatus(t, l, "w1", StatusFrozen)
	if _, err := l.HoldCashout(bg, NewCashout{Reference: "C4", WalletID: "w1", Amount: 1, Phone: "22507000001"}); !errors.Is(err, ErrWalletNotActive) {
		t.Errorf("cash-out of a frozen wallet = %v, want ErrWalletNotActive", err)
	}
	if _, err := l.SettleCashout(bg, "nope", true, ""); !errors.Is(err, ErrCashoutNotFound) {
		t.Errorf("SettleCashout(nope) = %v", err)
	}
}

// TestMovementReferencesAreOneNamespace: top-ups and cash-outs are both named at BestCash by their reference, so a
// reference taken by one is refused to the other, and the refusal holds nothing and records nothing.
func TestMovementReferencesAreOneNamespace(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 10_000)
	if _, err := l.StartTopup(bg, NewTopup{Reference: "T1", WalletID: "w1", Amount: 500, Phone: "+2250700000001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.HoldCashout(bg, NewCashout{Reference: "C1", WalletID: "w1", Amount: 1_000, Phone: "+2250700000001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.HoldCashout(bg, NewCashout{Reference: "T1", WalletID: "w1", Amount: 2_000, Phone: "+2250700000001"}); !errors.Is(err, ErrCashoutConflict) {
		t.Errorf("HoldCashout under a top-up's reference = %v, want ErrCashoutConflict", err)
	}
	if _, err := l.StartTopup(bg, NewTopup{Reference: "C1", WalletID: "w1", Amount: 700, Phone: "+2250700000001"}); !errors.Is(err, ErrTopupConflict) {
		t.Errorf("StartTopup under a cash-out's reference = %v, want ErrTopupConflict", err)
	}
	if w, _ := l.Wallet(bg, "w1"); w.Held != 1_000 {
		t.Errorf("held %d, want 1000: the refused cash-out held its amount", w.Held)
	}
	if tp, err := l.Topup(bg, "T1"); err != nil || tp.Amount != 500 {
		t.Errorf("Topup(T1) = %+v, %v", tp, err)
	}
	if _, err := l.Topup(bg, "C1"); !errors.Is(err, ErrTopupNotFound) {
		t.Errorf("Topup(C1) = %v, want ErrTopupNotFound", err)
	}
	if c, err := l.Cashout(bg, "C1"); err != nil || c.Amount != 1_000 {
		t.Errorf("Cashout(C1) = %+v, %v", c, err)
	}
}
