package ledger

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// reversalFixture: w1 (NGN, funded 1000) with debit "d1" of 300 + fee 20 approved.
func reversalFixture(t *testing.T, opts ...testOption) *testLedger {
	t.Helper()
	l := openTest(t, opts...)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustDebit(t, l, dreq("rq-d1", "d1", "w1", 300, 20), nil)
	return l
}

func wantTxn(t *testing.T, l *testLedger, ref, state string, reversed int64, feeReversed bool, reversals ...string) {
	t.Helper()
	tx, err := l.Transaction(bg, ref)
	if err != nil {
		t.Fatalf("Transaction(%s): %v", ref, err)
	}
	if tx.State != state || tx.ReversedAmount != reversed || tx.FeeReversed != feeReversed || !slices.Equal(tx.Reversals, reversals) {
		t.Errorf("Transaction(%s) = state %s reversed %d feeReversed %v reversals %q; want %s %d %v %q", ref, tx.State,
			tx.ReversedAmount, tx.FeeReversed, tx.Reversals, state, reversed, feeReversed, reversals)
	}
}

func TestReverseFull(t *testing.T) {
	for _, tc := range []struct {
		name   string
		amount int64
	}{{"amount 0", 0}, {"amount equal to the principal", 300}} {
		amount := tc.amount
		t.Run(tc.name, func(t *testing.T) {
			l := reversalFixture(t)
			a := mustReverse(t, l, rreq("rq-r1", "r1", "d1", "w1", amount), nil)
			if !a.Outcome.Approved() {
				t.Errorf("not approved")
			}
			wantBalances(t, l, map[string]int64{"w1": 1_000, "settlement:566": 0, "fee_income:566": 0})
			wantTxn(t, l, "d1", StateReversed, 300, true, "r1")
			rev, err := l.Transaction(bg, "r1")
			if err != nil || rev.Kind != KindReversal || rev.Original != "d1" || rev.State != StateApproved || rev.Entry == 0 {
				t.Errorf("Transaction(r1) = %+v, %v", rev, err)
			}
			lines, _, _ := l.Statement(bg, "w1", 0, 1)
			if len(lines) != 1 || lines[0].Amount != 320 || lines[0].Kind != KindReversal || lines[0].Reference != "r1" {
				t.Errorf("last statement line = %+v", lines)
			}
		})
	}
}

func TestReversePartialThenFull(t *testing.T) {
	for _, final := range []int64{0, 200} {
		t.Run(fmt.Sprintf("final amount %d", final), func(t *testing.T) {
			l := reversalFixture(t)
			mustReverse(t, l, rreq("rq-r1", "r1", "d1", "w1", 100), nil)
			wantBalances(t, l, map[string]int64{"w1": 780, "settlement:566": 200, "fee_income:566": 20})
			wantTxn(t, l, "d1", StatePartiallyReversed, 100, false, "r1")

			// A re-sent debit of a partially reversed debit keeps its original answer.
			mustDebit(t, l, dreq("rq-d1-again", "d1", "w1", 300, 20), nil)

			before := readBooks(t, l)
			mustReverse(t, l, rreq("rq-r2", "r2", "d1", "w1", 201), ErrExceedsRemaining)
			sameMoney(t, before, readBooks(t, l))

			mustReverse(t, l, rreq("rq-r3", "r3", "d1", "w1", final), nil)
			wantBalances(t, l, map[string]int64{"w1": 1_000, "settlement:566": 0, "fee_income:566": 0})
			wantTxn(t, l, "d1", StateReversed, 300, true, "r1", "r3")
		})
	}
}

func TestReverseTwoPartials(t *testing.T) {
	l := reversalFixture(t)
	mustReverse(t, l, rreq("q1", "r1", "d1", "w1", 100), nil)
	mustReverse(t, l, rreq("q2", "r2", "d1", "w1", 150), nil)
	wantBalances(t, l, map[string]int64{"w1": 930, "settlement:566": 50, "fee_income:566": 20})
	wantTxn(t, l, "d1", StatePartiallyReversed, 250, false, "r1", "r2")
	mustReverse(t, l, rreq("q3", "r3", "d1", "w1", 50), nil) // equal to what remains: full, fee back
	wantBalances(t, l, map[string]int64{"w1": 1_000, "settlement:566": 0, "fee_income:566": 0})
	wantTxn(t, l, "d1", StateReversed, 300, true, "r1", "r2", "r3")
}

func TestReverseRepeatedHonouredOnce(t *testing.T) {
	l := reversalFixture(t)
	first := mustReverse(t, l, rreq("rq-r1", "r1", "d1", "w1", 100), nil)
	after1 := readBooks(t, l)

	// Exact repeat: the stored bytes.
	again, err := l.Reverse(bg, rreq("rq-r1", "r1", "d1", "w1", 100))
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, again, "rq-r1", nil, true)
	if string(again.Response) != string(first.Response) {
		t.Errorf("replay %q, first %q", again.Response, first.Response)
	}
	// The switch re-sends under a new requestId: answered, honoured once.
	for _, rq := range []string{"rq-r1-b", "rq-r1-c"} {
		mustReverse(t, l, rreq(rq, "r1", "d1", "w1", 100), nil)
	}
	sameMoney(t, after1, readBooks(t, l))
	wantTxn(t, l, "d1", StatePartiallyReversed, 100, false, "r1")

	// The same reversal reference with other details is a duplicate.
	for _, r := range []ReversalRequest{
		rreq("x1", "r1", "d1", "w1", 99),
		rreq("x2", "r1", "d1", "w2", 100),
		rreq("x3", "r1", "d2", "w1", 100),
		rreq("x4", "r1", "d1", "w1", 100, func(r *ReversalRequest) { r.Currency = "978" }),
	} {
		mustReverse(t, l, r, ErrReferenceConflict)
	}
	sameMoney(t, after1, readBooks(t, l))
	// Same requestId, other message: conflict.
	if _, err := l.Reverse(bg, rreq("rq-r1", "r1", "d1", "w1", 0)); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("err = %v, want ErrRequestConflict", err)
	}
}

func TestReverseNothingToGiveBack(t *testing.T) {
	l := reversalFixture(t)
	mustReverse(t, l, rreq("q1", "r1", "d1", "w1", 0), nil)
	before := readBooks(t, l)
	// A second reversal with a new reference after the full one: approved, nothing moves.
	mustReverse(t, l, rreq("q2", "r2", "d1", "w1", 0), nil)
	mustReverse(t, l, rreq("q3", "r3", "d1", "w1", 300), nil)
	mustReverse(t, l, rreq("q4", "r4", "d1", "w1", 5_000), nil)
	sameMoney(t, before, readBooks(t, l))
	wantTxn(t, l, "d1", StateReversed, 300, true, "r1")
	if tx, _ := l.Transaction(bg, "r2"); tx.State != StateApproved || tx.Entry != 0 {
		t.Errorf("Transaction(r2) = state %s entry %d, want approved without entry", tx.State, tx.Entry)
	}

	// A debit re-sent under a new requestId after the reversal: already reversed, nothing moves.
	mustDebit(t, l, dreq("rq-d1-again", "d1", "w1", 300, 20), ErrAlreadyReversed)
	// ... and with other details it is a duplicate.
	mustDebit(t, l, dreq("rq-d1-other", "d1", "w1", 301, 20), ErrReferenceConflict)
	sameMoney(t, before, readBooks(t, l))
	// The original requestId still replays the approval.
	rep, err := l.Replay(bg, "rq-d1", dreq("rq-d1", "d1", "w1", 300, 20).Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, rep, "rq-d1", nil, true)
}

func TestReverseDeclinedDebit(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 100)
	mustDebit(t, l, dreq("q1", "d1", "w1", 500, 0), ErrInsufficientFunds)
	before := readBooks(t, l)
	for i, amount := range []int64{0, 500, 100, 9_999} {
		mustReverse(t, l, rreq("rq-"+string(rune('a'+i)), "r"+string(rune('a'+i)), "d1", "w1", amount), nil)
	}
	// Even naming another wallet: there is nothing to give back.
	mustReverse(t, l, rreq("rq-x", "rx", "d1", "w2", 0), nil)
	sameMoney(t, before, readBooks(t, l))
	wantTxn(t, l, "d1", StateDeclined, 0, false)
}

func TestReverseUnknownOriginal(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	before := readBooks(t, l)
	mustReverse(t, l, rreq("q1", "r1", "late", "w1", 0), ErrOriginalNotFound)
	wantTxn(t, l, "late", StateTombstone, 0, false)
	// The switch re-sends the reversal: the same answer.
	mustReverse(t, l, rreq("q1-again", "r1", "late", "w1", 0), ErrOriginalNotFound)
	// Another reversal of the same unknown original: not found either.
	mustReverse(t, l, rreq("q2", "r2", "late", "w1", 100), ErrOriginalNotFound)

	// The debit arrives after its reversal: declined, nothing moves.
	mustDebit(t, l, dreq("q3", "late", "w1", 100, 5), ErrAlreadyReversed)
	sameMoney(t, before, readBooks(t, l))
	tx, err := l.Transaction(bg, "late")
	if err != nil || tx.State != StateDeclined || tx.Decline != ErrAlreadyReversed || tx.WalletID != "w1" || tx.Amount != 100 {
		t.Errorf("Transaction(late) = %+v, %v", tx, err)
	}
	// Re-sent under a new requestId: still declined; with other details: a duplicate.
	mustDebit(t, l, dreq("q4", "late", "w1", 100, 5), ErrAlreadyReversed)
	mustDebit(t, l, dreq("q5", "late", "w1", 100, 6), ErrReferenceConflict)
	// The first reversal keeps its answer; a new one is acknowledged with nothing to give back.
	mustReverse(t, l, rreq("q1-third", "r1", "late", "w1", 0), ErrOriginalNotFound)
	mustReverse(t, l, rreq("q6", "r6", "late", "w1", 0), nil)
	sameMoney(t, before, readBooks(t, l))
}

func TestReverseMismatch(t *testing.T) {
	l := reversalFixture(t)
	mustWallet(t, l, "w2", "566", 0)
	mustWallet(t, l, "w3", "978", 0)
	mustCredit(t, l, "w2", 1_000)
	before := readBooks(t, l)
	mustReverse(t, l, rreq("q1", "r1", "d1", "w2", 0), ErrOriginalMismatch)
	mustReverse(t, l, rreq("q2", "r2", "d1", "w1", 0, func(r *ReversalRequest) { r.Currency = "978" }), ErrOriginalMismatch)
	mustReverse(t, l, rreq("q3", "r3", "d1", "w3", 0, func(r *ReversalRequest) { r.Currency = "978" }), ErrOriginalMismatch)
	mustReverse(t, l, rreq("q4", "r4", "d1", "nope", 0), ErrOriginalMismatch)
	sameMoney(t, before, readBooks(t, l))
	wantTxn(t, l, "d1", StateApproved, 0, false)
	// The right wallet can still reverse it.
	mustReverse(t, l, rreq("q5", "r5", "d1", "w1", 0), nil)
	wantBalances(t, l, map[string]int64{"w1": 1_000, "w2": 1_000})
}

func TestReverseInactiveWallet(t *testing.T) {
	for _, s := range []Status{StatusFrozen, StatusClosed} {
		t.Run(string(s), func(t *testing.T) {
			l := reversalFixture(t)
			mustSetStatus(t, l, "w1", s)
			mustReverse(t, l, rreq("q1", "r1", "d1", "w1", 100), nil)
			wantBalances(t, l, map[string]int64{"w1": 780})
			mustReverse(t, l, rreq("q2", "r2", "d1", "w1", 0), nil)
			wantBalances(t, l, map[string]int64{"w1": 1_000, "settlement:566": 0, "fee_income:566": 0})
			if w, _ := l.Wallet(bg, "w1"); w.Status != s {
				t.Errorf("status = %s, want %s", w.Status, s)
			}
		})
	}
}

func TestReverseGivesBackDailyLimit(t *testing.T) {
	clock := newFakeClock(time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC))
	l := openTest(t, withOptions(Options{Now: clock.Now}))
	mustWallet(t, l, "w1", "566", 1_000)
	mustCredit(t, l, "w1", 100_000)

	mustDebit(t, l, dreq("q1", "d1", "w1", 800, 10), nil)
	mustDebit(t, l, dreq("q2", "d2", "w1", 300, 0), ErrLimitExceeded)
	mustReverse(t, l, rreq("q3", "r3", "d1", "w1", 500), nil) // same day: 500 of the limit is back
	mustDebit(t, l, dreq("q4", "d4", "w1", 700, 0), nil)
	mustDebit(t, l, dreq("q5", "d5", "w1", 1, 0), ErrLimitExceeded)

	// Next day: yesterday's debit reversed does not add to today's allowance.
	clock.Advance(24 * time.Hour)
	mustDebit(t, l, dreq("q6", "d6", "w1", 1_000, 0), nil)
	mustReverse(t, l, rreq("q7", "r7", "d4", "w1", 0), nil)
	mustDebit(t, l, dreq("q8", "d8", "w1", 1, 0), ErrLimitExceeded)
	// Today's debit reversed does.
	mustReverse(t, l, rreq("q9", "r9", "d6", "w1", 400), nil)
	mustDebit(t, l, dreq("q10", "d10", "w1", 400, 0), nil)
	mustDebit(t, l, dreq("q11", "d11", "w1", 1, 0), ErrLimitExceeded)
	wantBalances(t, l, map[string]int64{"settlement:566": 1_300, "fee_income:566": 10, "w1": 100_000 - 1_310})
}

func TestTransactionStates(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustDebit(t, l, dreq("q1", "approved", "w1", 100, 1), nil)
	mustDebit(t, l, dreq("q2", "declined", "w1", 5_000, 0), ErrInsufficientFunds)
	mustDebit(t, l, dreq("q3", "reversed", "w1", 100, 1), nil)
	mustReverse(t, l, rreq("q4", "rev-full", "reversed", "w1", 0), nil)
	mustDebit(t, l, dreq("q5", "partial", "w1", 100, 1), nil)
	mustReverse(t, l, rreq("q6", "rev-part", "partial", "w1", 40), nil)
	mustReverse(t, l, rreq("q7", "rev-ghost", "tombstone", "w1", 0), ErrOriginalNotFound)

	tests := []struct {
		ref, kind, state string
		decline          error
		reversals        []string
	}{
		{"approved", KindDebit, StateApproved, nil, nil},
		{"declined", KindDebit, StateDeclined, ErrInsufficientFunds, nil},
		{"reversed", KindDebit, StateReversed, nil, []string{"rev-full"}},
		{"partial", KindDebit, StatePartiallyReversed, nil, []string{"rev-part"}},
		{"tombstone", KindDebit, StateTombstone, nil, nil},
		{"rev-full", KindReversal, StateApproved, nil, nil},
		{"rev-ghost", KindReversal, StateDeclined, ErrOriginalNotFound, nil},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			tx, err := l.Transaction(bg, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if tx.Kind != tc.kind || tx.State != tc.state || tx.Decline != tc.decline || !slices.Equal(tx.Reversals, tc.reversals) {
				t.Errorf("got kind %s state %s decline %v reversals %q", tx.Kind, tx.State, tx.Decline, tx.Reversals)
			}
		})
	}
	if _, err := l.Transaction(bg, "never"); !errors.Is(err, ErrTransactionNotFound) {
		t.Errorf("unknown reference: err = %v", err)
	}
}

func TestReverseInvalidInput(t *testing.T) {
	l := reversalFixture(t)
	for _, r := range []ReversalRequest{rreq("q", "r", "d1", "w1", -1), rreq("", "r", "d1", "w1", 0)} {
		var fe *FieldError
		if _, err := l.Reverse(bg, r); !errors.As(err, &fe) {
			t.Errorf("Reverse(%+v) err = %v, want a *FieldError", r, err)
		}
	}
	wantTxn(t, l, "d1", StateApproved, 0, false)
}
