package ledger

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// lpreq builds a place-lien in NGN (566) whose fingerprint covers every field.
func lpreq(requestID, ref, wallet string, amount, fee int64, mods ...func(*LienPlaceRequest)) LienPlaceRequest {
	p := LienPlaceRequest{WalletID: wallet, Reference: ref, Currency: "566", Amount: amount, Fee: fee}
	for _, m := range mods {
		m(&p)
	}
	p.Envelope = Envelope{
		RequestID:   requestID,
		Fingerprint: fingerprint("lienplace", p.Reference, requestID, p.WalletID, p.Amount, p.Fee, p.Currency),
		Render:      render(requestID),
	}
	return p
}

// ldreq builds a lien debit in NGN (566) of the lien original.
func ldreq(requestID, ref, original, wallet string, amount int64, mods ...func(*LienDebitRequest)) LienDebitRequest {
	c := LienDebitRequest{WalletID: wallet, Reference: ref, Original: original, Currency: "566", Amount: amount}
	for _, m := range mods {
		m(&c)
	}
	c.Envelope = Envelope{
		RequestID:   requestID,
		Fingerprint: fingerprint("liendebit", c.Reference, c.Original, requestID, c.WalletID, c.Amount, c.Fee, c.Currency),
		Render:      render(requestID),
	}
	return c
}

func mustPlace(t testing.TB, l *testLedger, p LienPlaceRequest, decline error) Answer {
	t.Helper()
	a, err := l.PlaceLien(bg, p)
	if err != nil {
		t.Fatalf("PlaceLien(%s): %v", p.RequestID, err)
	}
	checkAnswer(t, a, p.RequestID, decline, false)
	return a
}

func mustLienDebit(t testing.TB, l *testLedger, c LienDebitRequest, decline error) Answer {
	t.Helper()
	a, err := l.DebitLien(bg, c)
	if err != nil {
		t.Fatalf("DebitLien(%s): %v", c.RequestID, err)
	}
	checkAnswer(t, a, c.RequestID, decline, false)
	return a
}

// wantWallet checks a wallet's ledger balance and held amount.
func wantWallet(t testing.TB, l *testLedger, id string, balance, held int64) {
	t.Helper()
	w, err := l.Wallet(bg, id)
	if err != nil {
		t.Fatalf("Wallet(%s): %v", id, err)
	}
	if w.Balance != balance || w.Held != held || w.Available() != balance-held {
		t.Errorf("wallet %s: balance %d held %d available %d, want balance %d held %d", id, w.Balance, w.Held,
			w.Available(), balance, held)
	}
}

// lienTx looks a lien up and checks its state.
func lienTx(t testing.TB, l *testLedger, ref, state string) Transaction {
	t.Helper()
	tx, err := l.Transaction(bg, ref)
	if err != nil {
		t.Fatalf("Transaction(%s): %v", ref, err)
	}
	if tx.Kind != KindLien || tx.State != state {
		t.Errorf("lien %s: kind %s state %s, want %s %s", ref, tx.Kind, tx.State, KindLien, state)
	}
	return tx
}

var lienDay = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)

func TestLienPlaceHolds(t *testing.T) {
	clock := newFakeClock(lienDay)
	l := openTest(t, withOptions(Options{Now: clock.Now, LienTTL: 48 * time.Hour}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 10_000)
	before := readBooks(t, l)

	p := lpreq("req-1", "lien-1", "w1", 2_500, 75)
	p.Details = Details{RRN: "000000000001", CardAcceptorNameLocation: "HOTEL LAGOS NG"}
	mustPlace(t, l, p, nil)

	// The hold lowers the available balance, not the ledger balance; no money moves.
	wantWallet(t, l, "w1", 10_000, 2_575)
	wantBalances(t, l, map[string]int64{"settlement:566": 0, "fee_income:566": 0, "funding:566": -10_000})
	after := readBooks(t, l)
	if after.Entries != before.Entries+1 || after.Lines != before.Lines+1 {
		t.Errorf("a hold is journaled once: entries %d -> %d, lines %d -> %d", before.Entries, after.Entries,
			before.Lines, after.Lines)
	}
	tx := lienTx(t, l, "lien-1", StateHeld)
	if tx.Amount != 2_500 || tx.Fee != 75 || tx.WalletID != "w1" || tx.Entry == 0 || tx.Lien == nil ||
		!tx.Lien.ExpiresAt.Equal(lienDay.Add(48*time.Hour)) || !tx.Lien.EndedAt.IsZero() {
		t.Errorf("Transaction = %+v lien %+v", tx, tx.Lien)
	}
	lines, _, err := l.Statement(bg, "w1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Kind != KindLien || lines[0].Amount != 0 || lines[0].Balance != 10_000 ||
		lines[0].Seq != tx.Entry {
		t.Errorf("Statement = %+v", lines)
	}

	// A debit sees the same available balance.
	mustDebit(t, l, dreq("req-2", "txn-2", "w1", 7_426, 0), ErrInsufficientFunds)
	mustDebit(t, l, dreq("req-3", "txn-3", "w1", 7_425, 0), nil)
	wantWallet(t, l, "w1", 2_575, 2_575)
}

func TestLienPlaceDeclines(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, l *testLedger) // w1 is active, NGN, funded with 1000, daily limit 600
		place LienPlaceRequest
		want  error
	}{
		{"unknown wallet", nil, lpreq("r", "L", "nope", 100, 0), ErrWalletNotFound},
		{"frozen", func(t *testing.T, l *testLedger) { mustSetStatus(t, l, "w1", StatusFrozen) },
			lpreq("r", "L", "w1", 100, 0), ErrWalletNotActive},
		{"closed", func(t *testing.T, l *testLedger) { mustSetStatus(t, l, "w1", StatusClosed) },
			lpreq("r", "L", "w1", 100, 0), ErrWalletNotActive},
		{"currency", nil, lpreq("r", "L", "w1", 100, 0, func(p *LienPlaceRequest) { p.Currency = "978" }), ErrCurrencyMismatch},
		{"funds", nil, lpreq("r", "L", "w1", 1_001, 0), ErrInsufficientFunds},
		{"funds one short with fee", nil, lpreq("r", "L", "w1", 500, 501), ErrInsufficientFunds},
		{"funds taken by another hold", func(t *testing.T, l *testLedger) {
			mustPlace(t, l, lpreq("r0", "L0", "w1", 500, 0), nil)
		}, lpreq("r", "L", "w1", 501, 0), ErrInsufficientFunds},
		{"limit", nil, lpreq("r", "L", "w1", 601, 0), ErrLimitExceeded},
		{"limit after a debit today", func(t *testing.T, l *testLedger) {
			mustDebit(t, l, dreq("r0", "t0", "w1", 500, 0), nil)
		}, lpreq("r", "L", "w1", 101, 0), ErrLimitExceeded},
		{"placed after its release arrived", func(t *testing.T, l *testLedger) {
			mustLienDebit(t, l, ldreq("r0", "C0", "L", "w1", 0), ErrOriginalNotFound)
		}, lpreq("r", "L", "w1", 100, 0), ErrAlreadyReversed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, withOptions(Options{Now: newFakeClock(lienDay).Now}))
			mustWallet(t, l, "w1", "566", 600)
			mustCredit(t, l, "w1", 1_000)
			if tc.setup != nil {
				tc.setup(t, l)
			}
			held := int64(0)
			if w, err := l.Wallet(bg, "w1"); err == nil {
				held = w.Held
			}
			before := readBooks(t, l)
			mustPlace(t, l, tc.place, tc.want)
			after := readBooks(t, l)
			sameMoney(t, before, after)
			if w, err := l.Wallet(bg, "w1"); err == nil && w.Held != held {
				t.Errorf("held %d -> %d on a decline", held, w.Held)
			}
			if after.Requests != before.Requests+1 {
				t.Errorf("the decline is remembered under its requestId: requests %d -> %d", before.Requests, after.Requests)
			}
			tx := lienTx(t, l, "L", StateDeclined)
			if tx.Decline != tc.want || tx.Entry != 0 {
				t.Errorf("Transaction: decline %v entry %d", tx.Decline, tx.Entry)
			}
		})
	}
}

func TestLienPlaceRepeats(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	p := lpreq("r1", "L1", "w1", 300, 10)
	first := mustPlace(t, l, p, nil)

	// The same requestId again: the stored bytes, nothing held twice.
	again, err := l.PlaceLien(bg, p)
	if err != nil || string(again.Response) != string(first.Response) || !again.Replayed {
		t.Fatalf("repeat: %q replayed=%v err=%v", again.Response, again.Replayed, err)
	}
	if a, err := l.Replay(bg, "r1", p.Fingerprint); err != nil || string(a.Response) != string(first.Response) {
		t.Errorf("Replay: %q, %v", a.Response, err)
	}
	// The same requestId with another message: a conflict, nothing stored.
	if _, err := l.PlaceLien(bg, lpreq("r1", "L1", "w1", 301, 10)); err != ErrRequestConflict {
		t.Errorf("requestId reused with another amount: %v, want ErrRequestConflict", err)
	}
	// The same reference under a new requestId: the original decision, nothing held twice.
	mustPlace(t, l, lpreq("r2", "L1", "w1", 300, 10), nil)
	// ... or a conflict when the details differ.
	for name, p := range map[string]LienPlaceRequest{
		"amount":   lpreq("r3", "L1", "w1", 299, 10),
		"fee":      lpreq("r4", "L1", "w1", 300, 0),
		"wallet":   lpreq("r5", "L1", "w2", 300, 10),
		"currency": lpreq("r6", "L1", "w1", 300, 10, func(p *LienPlaceRequest) { p.Currency = "978" }),
	} {
		t.Run(name, func(t *testing.T) { mustPlace(t, l, p, ErrReferenceConflict) })
	}
	wantWallet(t, l, "w1", 1_000, 310)
}

func TestLienDebit(t *testing.T) {
	// w1: 1000 funded, lien L of 300 + fee 10 held: available 690.
	tests := []struct {
		name                string
		amount              int64
		want                error
		balance, held       int64
		settlement, feeInc  int64
		state, releasedBy   string
		dayUsed, entriesAdd int
	}{
		{name: "equal debits the principal and the fee", amount: 300, balance: 690, settlement: 300, feeInc: 10,
			state: StateCompleted, dayUsed: 300, entriesAdd: 1},
		{name: "smaller debits it and releases the rest", amount: 120, balance: 870, settlement: 120, feeInc: 10,
			state: StateCompleted, dayUsed: 120, entriesAdd: 1},
		{name: "larger within available plus the hold", amount: 990, balance: 0, settlement: 990, feeInc: 10,
			state: StateCompleted, dayUsed: 990, entriesAdd: 1},
		{name: "larger than available plus the hold", amount: 991, want: ErrInsufficientFunds, balance: 1_000,
			held: 310, state: StateHeld},
		{name: "zero releases the lien", amount: 0, balance: 1_000, state: StateReleased, releasedBy: ReleaseBySwitch,
			entriesAdd: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, withOptions(Options{Now: newFakeClock(lienDay).Now}))
			mustWallet(t, l, "w1", "566", 0)
			mustCredit(t, l, "w1", 1_000)
			mustPlace(t, l, lpreq("r1", "L", "w1", 300, 10), nil)
			before := readBooks(t, l)

			mustLienDebit(t, l, ldreq("r2", "C", "L", "w1", tc.amount), tc.want)
			wantWallet(t, l, "w1", tc.balance, tc.held)
			wantBalances(t, l, map[string]int64{"settlement:566": tc.settlement, "fee_income:566": tc.feeInc})
			after := readBooks(t, l)
			if after.Entries != before.Entries+tc.entriesAdd {
				t.Errorf("journal entries %d -> %d, want +%d", before.Entries, after.Entries, tc.entriesAdd)
			}
			if got := after.DayUsed["w1"]; got != int64(tc.dayUsed) {
				t.Errorf("daily usage %d, want %d", got, tc.dayUsed)
			}
			lien := lienTx(t, l, "L", tc.state)
			completion, err := l.Transaction(bg, "C")
			if err != nil {
				t.Fatal(err)
			}
			if completion.Kind != KindLienDebit || completion.Original != "L" || completion.Decline != tc.want {
				t.Errorf("completion = %+v", completion)
			}
			switch tc.state {
			case StateCompleted:
				if lien.Lien.Debited != tc.amount || lien.Lien.EndedBy != "C" || lien.Lien.EndEntry != completion.Entry ||
					completion.Entry == 0 || !lien.Lien.EndedAt.Equal(lienDay) || completion.State != StateApproved {
					t.Errorf("lien %+v, completion %+v", lien.Lien, completion)
				}
			case StateReleased:
				if lien.Lien.ReleaseReason != tc.releasedBy || lien.Lien.EndedBy != "C" || lien.Lien.EndEntry == 0 ||
					completion.Entry != 0 {
					t.Errorf("lien %+v, completion %+v", lien.Lien, completion)
				}
			case StateHeld:
				if !lien.Lien.EndedAt.IsZero() || completion.State != StateDeclined {
					t.Errorf("lien %+v, completion %+v", lien.Lien, completion)
				}
			}
		})
	}
}

func TestLienDebitHonouredOnce(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustPlace(t, l, lpreq("r1", "L", "w1", 300, 10), nil)
	first := mustLienDebit(t, l, ldreq("r2", "C", "L", "w1", 300), nil)
	done := readBooks(t, l)

	// The same requestId: the stored bytes.
	a, err := l.DebitLien(bg, ldreq("r2", "C", "L", "w1", 300))
	if err != nil || !a.Replayed || string(a.Response) != string(first.Response) {
		t.Errorf("replay: %q replayed=%v err=%v", a.Response, a.Replayed, err)
	}
	// Re-sent under a new requestId, the same reference or a new one, or a release afterwards: 00, nothing moves.
	mustLienDebit(t, l, ldreq("r3", "C", "L", "w1", 300), nil)
	mustLienDebit(t, l, ldreq("r4", "C2", "L", "w1", 300), nil)
	mustLienDebit(t, l, ldreq("r5", "C3", "L", "w1", 0), nil)
	// The same reference with other details: 94.
	mustLienDebit(t, l, ldreq("r6", "C", "L", "w1", 250), ErrReferenceConflict)
	mustLienDebit(t, l, ldreq("r7", "C", "L", "w1", 300, func(c *LienDebitRequest) { c.Fee = 5 }), ErrReferenceConflict)
	sameMoney(t, done, readBooks(t, l))
	wantWallet(t, l, "w1", 690, 0)
	if tx := lienTx(t, l, "L", StateCompleted); tx.Lien.EndedBy != "C" {
		t.Errorf("completed by %s, want C", tx.Lien.EndedBy)
	}
}

func TestLienDebitOriginals(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustWallet(t, l, "w2", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustCredit(t, l, "w2", 1_000)
	mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 0), nil)
	mustPlace(t, l, lpreq("p2", "L2", "w1", 5_000, 0), ErrInsufficientFunds)
	mustPlace(t, l, lpreq("p3", "L3", "w1", 100, 0), nil)
	mustLienDebit(t, l, ldreq("c0", "C0", "L3", "w1", 0), nil) // released by the switch
	before := readBooks(t, l)

	tests := []struct {
		name string
		c    LienDebitRequest
		want error
	}{
		{"unknown lien", ldreq("c1", "C1", "nope", "w1", 100), ErrOriginalNotFound},
		{"another wallet's lien", ldreq("c2", "C2", "L1", "w2", 100), ErrOriginalMismatch},
		{"another currency", ldreq("c3", "C3", "L1", "w1", 100, func(c *LienDebitRequest) { c.Currency = "978" }), ErrOriginalMismatch},
		{"a declined lien", ldreq("c4", "C4", "L2", "w1", 100), ErrOriginalNotFound},
		{"releasing a declined lien", ldreq("c5", "C5", "L2", "w1", 0), nil},
		{"debiting a released lien", ldreq("c6", "C6", "L3", "w1", 100), ErrLienReleased},
		{"releasing a released lien", ldreq("c7", "C7", "L3", "w1", 0), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { mustLienDebit(t, l, tc.c, tc.want) })
	}
	sameMoney(t, before, readBooks(t, l))
	wantWallet(t, l, "w1", 1_000, 300)
	lienTx(t, l, "L1", StateHeld)
	lienTx(t, l, "L3", StateReleased)

	// A release of a lien never seen leaves a tombstone: the place-lien arriving late holds nothing.
	mustLienDebit(t, l, ldreq("c8", "C8", "late", "w1", 0), ErrOriginalNotFound)
	mustPlace(t, l, lpreq("p4", "late", "w1", 100, 0), ErrAlreadyReversed)
	wantWallet(t, l, "w1", 1_000, 300)
}

func TestLienDebitWalletStatus(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 0), nil)
	mustPlace(t, l, lpreq("p2", "L2", "w1", 300, 0), nil)
	mustSetStatus(t, l, "w1", StatusFrozen)
	// What the hold covers was authorised before the freeze: honoured. More than that is a new spend: 57.
	mustLienDebit(t, l, ldreq("c1", "C1", "L1", "w1", 300), nil)
	mustLienDebit(t, l, ldreq("c2", "C2", "L2", "w1", 301), ErrWalletNotActive)
	wantWallet(t, l, "w1", 700, 300)
}

func TestLienDailyLimit(t *testing.T) {
	clock := newFakeClock(lienDay)
	l := openTest(t, withOptions(Options{Now: clock.Now}))
	mustWallet(t, l, "w1", "566", 1_000)
	mustCredit(t, l, "w1", 100_000)

	mustPlace(t, l, lpreq("p1", "L1", "w1", 1_001, 0), ErrLimitExceeded)
	mustPlace(t, l, lpreq("p2", "L2", "w1", 600, 50), nil) // the fee does not count, as for debits
	mustPlace(t, l, lpreq("p3", "L3", "w1", 600, 0), nil)  // open liens do not count: no money left yet
	// A completed lien counts against the day like a debit.
	mustLienDebit(t, l, ldreq("c2", "C2", "L2", "w1", 600), nil)
	mustDebit(t, l, dreq("d1", "T1", "w1", 401, 0), ErrLimitExceeded)
	mustDebit(t, l, dreq("d2", "T2", "w1", 300, 0), nil) // 900 used
	// The held part of a completion was authorised at placing: honoured past the limit. The excess is checked.
	mustLienDebit(t, l, ldreq("c3", "C3", "L3", "w1", 701), ErrLimitExceeded) // excess 101 past 900 used
	mustLienDebit(t, l, ldreq("c4", "C4", "L3", "w1", 600), nil)
	if got := readBooks(t, l).DayUsed["w1"]; got != 1_500 {
		t.Errorf("daily usage %d, want 1500", got)
	}
	// A reversal of a debit gives the allowance back; the next UTC day starts afresh.
	mustReverse(t, l, rreq("v1", "V1", "T2", "w1", 0), nil)
	mustDebit(t, l, dreq("d3", "T3", "w1", 1, 0), ErrLimitExceeded)
	clock.Advance(14 * time.Hour) // 2025-03-15 00:00 UTC
	mustPlace(t, l, lpreq("p4", "L4", "w1", 500, 0), nil)
	mustLienDebit(t, l, ldreq("c5", "C5", "L4", "w1", 900), nil) // excess 400, day used 0 -> 900
	mustDebit(t, l, dreq("d4", "T4", "w1", 101, 0), ErrLimitExceeded)
	mustDebit(t, l, dreq("d5", "T5", "w1", 100, 0), nil)
}

func TestLienTimeToLive(t *testing.T) {
	clock := newFakeClock(lienDay)
	l := openTest(t, withOptions(Options{Now: clock.Now, LienTTL: time.Hour, LienSweepInterval: -1}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 10), nil)
	clock.Advance(30 * time.Minute)
	mustPlace(t, l, lpreq("p2", "L2", "w1", 200, 0), nil)
	mustPlace(t, l, lpreq("p3", "L3", "w1", 100, 0), nil)
	mustLienDebit(t, l, ldreq("c3", "C3", "L3", "w1", 100), nil)

	clock.Set(lienDay.Add(time.Hour - time.Nanosecond))
	if n, err := l.ReleaseExpiredLiens(bg); err != nil || n != 0 {
		t.Fatalf("before the time to live: released %d, %v", n, err)
	}
	wantWallet(t, l, "w1", 900, 510)

	clock.Set(lienDay.Add(time.Hour))
	before := readBooks(t, l)
	if n, err := l.ReleaseExpiredLiens(bg); err != nil || n != 1 {
		t.Fatalf("at the time to live: released %d, %v; want 1", n, err)
	}
	after := readBooks(t, l)
	wantWallet(t, l, "w1", 900, 200)
	if after.Entries != before.Entries+1 || after.Lines != before.Lines+1 {
		t.Errorf("the release is journaled once: entries %d -> %d", before.Entries, after.Entries)
	}
	tx := lienTx(t, l, "L1", StateReleased)
	if tx.Lien.ReleaseReason != ReleaseExpired || !tx.Lien.EndedAt.Equal(lienDay.Add(time.Hour)) || tx.Lien.EndEntry == 0 ||
		tx.Lien.EndedBy != "" {
		t.Errorf("released lien = %+v", tx.Lien)
	}
	lines, _, err := l.Statement(bg, "w1", 0, 1)
	if err != nil || len(lines) != 1 || lines[0].Kind != KindLienRelease || lines[0].Reference != "L1" ||
		lines[0].Amount != 0 || lines[0].Seq != tx.Lien.EndEntry {
		t.Errorf("statement %+v, %v", lines, err)
	}
	if n, err := l.ReleaseExpiredLiens(bg); err != nil || n != 0 {
		t.Errorf("a second sweep released %d, %v", n, err)
	}

	// A late completion finds nothing held: 25; a late release is acknowledged.
	mustLienDebit(t, l, ldreq("c1", "C1", "L1", "w1", 300), ErrLienReleased)
	mustLienDebit(t, l, ldreq("c1b", "C1b", "L1", "w1", 0), nil)

	// A completion after the time to live but before the sweep: the lien is released then, the same way.
	clock.Set(lienDay.Add(90 * time.Minute))
	mustLienDebit(t, l, ldreq("c2", "C2", "L2", "w1", 200), ErrLienReleased)
	tx = lienTx(t, l, "L2", StateReleased)
	if tx.Lien.ReleaseReason != ReleaseExpired {
		t.Errorf("L2 released for %q, want %q", tx.Lien.ReleaseReason, ReleaseExpired)
	}
	wantWallet(t, l, "w1", 900, 0)
	if n, err := l.ReleaseExpiredLiens(bg); err != nil || n != 0 {
		t.Errorf("nothing left to release: %d, %v", n, err)
	}
}

func TestLienSweeperReleasesInBatches(t *testing.T) {
	clock := newFakeClock(lienDay)
	tick := make(chan time.Time)
	swept := make(chan int)
	l := openTest(t, withNoSync(), withOptions(Options{Now: clock.Now, LienTTL: time.Minute,
		lienSweep: lienSweepHooks{tick: tick, swept: swept}}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000_000)
	const n = maxSweep + 3 // more than one writer operation's worth
	for i := range n {
		mustPlace(t, l, lpreq(fmt.Sprint("p", i), fmt.Sprint("L", i), "w1", 10, 1), nil)
	}
	tick <- lienDay
	if got := <-swept; got != 0 {
		t.Fatalf("sweep before expiry released %d", got)
	}
	clock.Advance(time.Minute)
	tick <- lienDay
	if got := <-swept; got != n {
		t.Fatalf("sweep released %d, want %d", got, n)
	}
	wantWallet(t, l, "w1", 1_000_000, 0)
}

func TestLienSurvivesRestart(t *testing.T) {
	clock := newFakeClock(lienDay)
	l := openTest(t, withOptions(Options{Now: clock.Now, LienTTL: time.Hour}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	placed := mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 10), nil)
	mustPlace(t, l, lpreq("p2", "L2", "w1", 100, 0), nil)
	l.reopen()

	wantWallet(t, l, "w1", 1_000, 410)
	p := lpreq("p1", "L1", "w1", 300, 10)
	if a, err := l.Replay(bg, "p1", p.Fingerprint); err != nil || string(a.Response) != string(placed.Response) {
		t.Errorf("replay after restart: %q, %v", a.Response, err)
	}
	mustLienDebit(t, l, ldreq("c1", "C1", "L1", "w1", 300), nil)
	clock.Advance(time.Hour)
	if n, err := l.ReleaseExpiredLiens(bg); err != nil || n != 1 {
		t.Errorf("expiry index after restart: released %d, %v", n, err)
	}
	l.reopen()
	wantWallet(t, l, "w1", 690, 0)
	lienTx(t, l, "L1", StateCompleted)
	lienTx(t, l, "L2", StateReleased)
}

func TestConcurrentLienCompletions(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 10), nil)

	// The switch re-sends the completion until it hears back: under new requestIds, some with the same
	// reference and some with new ones, all racing. One moves money; all are approved.
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := "C"
			if i%2 == 1 {
				ref = fmt.Sprint("C", i)
			}
			a, err := l.DebitLien(bg, ldreq(fmt.Sprint("c", i), ref, "L1", "w1", 300))
			switch {
			case err != nil:
				errs <- err
			case !a.Outcome.Approved():
				errs <- fmt.Errorf("completion %d declined: %v", i, a.Outcome.Decline)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantWallet(t, l, "w1", 690, 0)
	wantBalances(t, l, map[string]int64{"settlement:566": 300, "fee_income:566": 10})
	lines, _, err := l.Statement(bg, "w1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	debits := 0
	for _, line := range lines {
		if line.Kind == KindLienDebit {
			debits++
		}
	}
	if debits != 1 {
		t.Errorf("%d lien debits on the statement, want 1", debits)
	}
}

func TestLienInvalidInput(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	before := readBooks(t, l)
	for name, err := range map[string]error{
		"place zero":     func() error { _, err := l.PlaceLien(bg, lpreq("r", "L", "w1", 0, 0)); return err }(),
		"place negative": func() error { _, err := l.PlaceLien(bg, lpreq("r", "L", "w1", -1, 0)); return err }(),
		"place fee":      func() error { _, err := l.PlaceLien(bg, lpreq("r", "L", "w1", 1, -1)); return err }(),
		"place overflow": func() error { _, err := l.PlaceLien(bg, lpreq("r", "L", "w1", 1<<62, 1<<62)); return err }(),
		"debit negative": func() error { _, err := l.DebitLien(bg, ldreq("r", "C", "L", "w1", -1)); return err }(),
		"no requestId":   func() error { _, err := l.DebitLien(bg, ldreq("", "C", "L", "w1", 1)); return err }(),
	} {
		if _, ok := err.(*FieldError); !ok {
			t.Errorf("%s: %v, want a *FieldError", name, err)
		}
	}
	after := readBooks(t, l)
	if after.Requests != before.Requests || after.Txns != before.Txns {
		t.Errorf("invalid input was remembered")
	}
}

func TestLienLookupBesideReversalTombstone(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 0), nil)
	mustLienDebit(t, l, ldreq("c1", "C1", "L1", "w1", 300), nil)
	// Reversals undo /debit transactions only: naming a lien finds no debit (and leaves a debit tombstone).
	mustReverse(t, l, rreq("v1", "V1", "L1", "w1", 0), ErrOriginalNotFound)
	wantWallet(t, l, "w1", 700, 0)
	// The look-up still shows the lien, not the tombstone; a reference only the reversal named shows the tombstone.
	lienTx(t, l, "L1", StateCompleted)
	mustReverse(t, l, rreq("v2", "V2", "ghost", "w1", 0), ErrOriginalNotFound)
	if tx, err := l.Transaction(bg, "ghost"); err != nil || tx.State != StateTombstone {
		t.Errorf("ghost: %+v, %v", tx, err)
	}
	// A release of a lien never seen leaves a lien tombstone, shown the same way.
	mustLienDebit(t, l, ldreq("c2", "C2", "ghost2", "w1", 0), ErrOriginalNotFound)
	if tx, err := l.Transaction(bg, "ghost2"); err != nil || tx.State != StateTombstone || tx.Kind != KindLien {
		t.Errorf("ghost2: %+v, %v", tx, err)
	}
}

// A completion racing the sweeper, and a completion racing a release: whichever the writer takes first wins, the
// other sees its result, and the hold is given back exactly once.
func TestLienRaces(t *testing.T) {
	for i := range 10 {
		t.Run(fmt.Sprint("sweep/", i), func(t *testing.T) {
			clock := newFakeClock(lienDay)
			l := openTest(t, withNoSync(), withOptions(Options{Now: clock.Now, LienTTL: time.Hour, LienSweepInterval: -1}))
			mustWallet(t, l, "w1", "566", 0)
			mustCredit(t, l, "w1", 1_000)
			mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 10), nil)
			clock.Advance(time.Hour)
			var wg sync.WaitGroup
			var swept int
			var sweepErr error
			var a Answer
			var err error
			wg.Add(2)
			go func() { defer wg.Done(); swept, sweepErr = l.ReleaseExpiredLiens(bg) }()
			go func() { defer wg.Done(); a, err = l.DebitLien(bg, ldreq("c1", "C1", "L1", "w1", 300)) }()
			wg.Wait()
			if sweepErr != nil || err != nil || swept > 1 || a.Outcome.Decline != ErrLienReleased {
				t.Fatalf("sweep %d %v; completion %v %v", swept, sweepErr, a.Outcome.Decline, err)
			}
			wantWallet(t, l, "w1", 1_000, 0)
			lienTx(t, l, "L1", StateReleased)
		})
		t.Run(fmt.Sprint("release/", i), func(t *testing.T) {
			l := openTest(t, withNoSync())
			mustWallet(t, l, "w1", "566", 0)
			mustCredit(t, l, "w1", 1_000)
			mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 10), nil)
			var wg sync.WaitGroup
			var done, released Answer
			var err1, err2 error
			wg.Add(2)
			go func() { defer wg.Done(); done, err1 = l.DebitLien(bg, ldreq("c1", "C1", "L1", "w1", 300)) }()
			go func() { defer wg.Done(); released, err2 = l.DebitLien(bg, ldreq("c2", "C2", "L1", "w1", 0)) }()
			wg.Wait()
			if err1 != nil || err2 != nil || released.Outcome.Decline != nil {
				t.Fatalf("completion %v %v; release %v %v", done.Outcome.Decline, err1, released.Outcome.Decline, err2)
			}
			switch done.Outcome.Decline {
			case nil: // the completion came first; the release found it completed
				wantWallet(t, l, "w1", 690, 0)
				lienTx(t, l, "L1", StateCompleted)
			case ErrLienReleased:
				wantWallet(t, l, "w1", 1_000, 0)
				lienTx(t, l, "L1", StateReleased)
			default:
				t.Fatalf("completion: %v", done.Outcome.Decline)
			}
		})
	}
}
