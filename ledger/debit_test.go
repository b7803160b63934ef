package ledger

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestDebitApproves(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 10_000)

	d := dreq("req-1", "txn-1", "w1", 2_500, 75)
	d.Details = Details{RRN: "000000000001", STAN: "000001", CardAcceptorNameLocation: "SHOP LAGOS NG", TerminalID: "T1"}
	a := mustDebit(t, l, d, nil)
	if !a.Outcome.Approved() {
		t.Errorf("Approved() = false for an approval")
	}
	wantBalances(t, l, map[string]int64{
		"w1":             10_000 - 2_500 - 75,
		"settlement:566": 2_500,
		"fee_income:566": 75,
		"funding:566":    -10_000,
	})

	// The journal entry and the statement line describe the movement.
	tx, err := l.Transaction(bg, "txn-1")
	if err != nil {
		t.Fatalf("Transaction: %v", err)
	}
	if tx.State != StateApproved || tx.Kind != KindDebit || tx.Amount != 2_500 || tx.Fee != 75 || tx.WalletID != "w1" ||
		tx.RequestID != "req-1" || tx.Decline != nil || tx.Entry == 0 || tx.Details == nil || tx.Details.RRN != "000000000001" {
		t.Errorf("Transaction = %+v", tx)
	}
	lines, _, err := l.Statement(bg, "w1", 0, 10)
	if err != nil {
		t.Fatalf("Statement: %v", err)
	}
	if len(lines) != 2 || lines[0].Amount != -2_575 || lines[0].Balance != 7_425 || lines[0].Reference != "txn-1" ||
		lines[0].Seq != tx.Entry || lines[0].Narration != "SHOP LAGOS NG RRN 000000000001" {
		t.Errorf("Statement = %+v", lines)
	}

	// Without a fee nothing goes to fee income.
	mustDebit(t, l, dreq("req-2", "txn-2", "w1", 425, 0), nil)
	wantBalances(t, l, map[string]int64{"w1": 7_000, "settlement:566": 2_925, "fee_income:566": 75})
}

func TestDebitDeclines(t *testing.T) {
	day0 := time.Date(2025, 3, 14, 23, 59, 0, 0, time.UTC)
	tests := []struct {
		name  string
		setup func(t *testing.T, l *testLedger) // w1 is active, NGN, funded with 1000, daily limit 600
		debit DebitRequest
		want  error
	}{
		{"unknown wallet", nil, dreq("r", "t", "nope", 100, 0), ErrWalletNotFound},
		{"frozen", func(t *testing.T, l *testLedger) { mustSetStatus(t, l, "w1", StatusFrozen) },
			dreq("r", "t", "w1", 100, 0), ErrWalletNotActive},
		{"closed", func(t *testing.T, l *testLedger) { mustSetStatus(t, l, "w1", StatusClosed) },
			dreq("r", "t", "w1", 100, 0), ErrWalletNotActive},
		{"currency", nil, dreq("r", "t", "w1", 100, 0, withCurrency("978")), ErrCurrencyMismatch},
		{"funds", nil, dreq("r", "t", "w1", 1_001, 0), ErrInsufficientFunds},
		{"funds one short with fee", nil, dreq("r", "t", "w1", 600, 401), ErrInsufficientFunds},
		{"limit", nil, dreq("r", "t", "w1", 601, 0), ErrLimitExceeded},
		{"limit after earlier debits today", func(t *testing.T, l *testLedger) {
			mustDebit(t, l, dreq("r0", "t0", "w1", 500, 0), nil)
		}, dreq("r", "t", "w1", 101, 0), ErrLimitExceeded},
		{"funds checked before limit", nil, dreq("r", "t", "w1", 2_000, 0), ErrInsufficientFunds},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, withOptions(Options{Now: newFakeClock(day0).Now}))
			mustWallet(t, l, "w1", "566", 600)
			mustCredit(t, l, "w1", 1_000)
			if tc.setup != nil {
				tc.setup(t, l)
			}
			before := readBooks(t, l)
			a := mustDebit(t, l, tc.debit, tc.want)
			if a.Outcome.Approved() {
				t.Errorf("Approved() = true for a decline")
			}
			after := readBooks(t, l)
			sameMoney(t, before, after)
			// The decline is remembered under the request and the reference.
			if after.Requests != before.Requests+1 || after.Txns != before.Txns+1 {
				t.Errorf("records: requests %d -> %d, txns %d -> %d", before.Requests, after.Requests, before.Txns, after.Txns)
			}
			tx, err := l.Transaction(bg, "t")
			if err != nil {
				t.Fatalf("Transaction: %v", err)
			}
			if tx.State != StateDeclined || tx.Decline != tc.want || tx.Entry != 0 {
				t.Errorf("Transaction = state %s decline %v entry %d", tx.State, tx.Decline, tx.Entry)
			}
		})
	}
}

func TestDebitExactlyEnough(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustDebit(t, l, dreq("r1", "t1", "w1", 990, 11), ErrInsufficientFunds) // one short with the fee
	mustDebit(t, l, dreq("r2", "t2", "w1", 990, 10), nil)                  // exactly enough
	wantBalances(t, l, map[string]int64{"w1": 0, "settlement:566": 990, "fee_income:566": 10})
	mustDebit(t, l, dreq("r3", "t3", "w1", 1, 0), ErrInsufficientFunds)
}

func TestDebitDailyLimit(t *testing.T) {
	clock := newFakeClock(time.Date(2025, 3, 14, 22, 0, 0, 0, time.UTC))
	l := openTest(t, withOptions(Options{Now: clock.Now}))
	mustWallet(t, l, "w1", "566", 1_000)
	mustCredit(t, l, "w1", 100_000)

	mustDebit(t, l, dreq("r1", "t1", "w1", 600, 50), nil) // the fee does not count against the limit
	mustDebit(t, l, dreq("r2", "t2", "w1", 400, 50), nil) // exactly at the limit
	before := readBooks(t, l)
	mustDebit(t, l, dreq("r3", "t3", "w1", 1, 0), ErrLimitExceeded)
	sameMoney(t, before, readBooks(t, l))

	// Local time (UTC+1) is already the 15th; the UTC day is not: still limited.
	clock.Set(time.Date(2025, 3, 15, 0, 30, 0, 0, time.FixedZone("WAT", 3600)))
	mustDebit(t, l, dreq("r4", "t4", "w1", 1, 0), ErrLimitExceeded)

	// The UTC day rolls over: the whole limit is available again, and no more.
	clock.Set(time.Date(2025, 3, 15, 0, 0, 1, 0, time.UTC))
	mustDebit(t, l, dreq("r5", "t5", "w1", 1_000, 0), nil)
	mustDebit(t, l, dreq("r6", "t6", "w1", 1, 0), ErrLimitExceeded)
	wantBalances(t, l, map[string]int64{"w1": 100_000 - 2_100, "settlement:566": 2_000, "fee_income:566": 100})

	// A wallet without a limit is not limited.
	mustWallet(t, l, "w2", "566", 0)
	mustCredit(t, l, "w2", 5_000)
	mustDebit(t, l, dreq("r7", "t7", "w2", 5_000, 0), nil)
}

func TestDebitReplay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		amount int64
		want   error
	}{
		{"approved", 100, nil},
		{"declined", 5_000, ErrInsufficientFunds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t)
			mustWallet(t, l, "w1", "566", 0)
			mustCredit(t, l, "w1", 1_000)
			d := dreq("req-1", "txn-1", "w1", tc.amount, 5)
			first := mustDebit(t, l, d, tc.want)
			before := readBooks(t, l)

			// The same message again, through the writer and through Replay.
			d2 := dreq("req-1", "txn-1", "w1", tc.amount, 5)
			d2.Render = func(Outcome) ([]byte, error) { return []byte("rendered again"), nil } // must not be called
			again, err := l.Debit(bg, d2)
			if err != nil {
				t.Fatalf("repeat: %v", err)
			}
			checkAnswer(t, again, "req-1", tc.want, true)
			if string(again.Response) != string(first.Response) {
				t.Errorf("repeat response %q, first %q", again.Response, first.Response)
			}
			rep, err := l.Replay(bg, "req-1", d.Fingerprint)
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			checkAnswer(t, rep, "req-1", tc.want, true)
			sameMoney(t, before, readBooks(t, l))

			// The response is the caller's copy.
			rep.Response[0] = 'X'
			if rep2, _ := l.Replay(bg, "req-1", d.Fingerprint); string(rep2.Response) != string(first.Response) {
				t.Errorf("stored response changed through a returned slice: %q", rep2.Response)
			}

			// Same requestId, another message: a conflict, and nothing is stored.
			other := dreq("req-1", "txn-1", "w1", tc.amount+1, 5)
			if _, err := l.Debit(bg, other); !errors.Is(err, ErrRequestConflict) {
				t.Errorf("Debit with another fingerprint: err = %v, want ErrRequestConflict", err)
			}
			if _, err := l.Replay(bg, "req-1", other.Fingerprint); !errors.Is(err, ErrRequestConflict) {
				t.Errorf("Replay with another fingerprint: err = %v, want ErrRequestConflict", err)
			}
			otherRef := dreq("req-1", "txn-other", "w1", 1, 0)
			if _, err := l.Debit(bg, otherRef); !errors.Is(err, ErrRequestConflict) {
				t.Errorf("Debit of another reference under the same requestId: err = %v", err)
			}
			after := readBooks(t, l)
			sameMoney(t, before, after)
			if after.Requests != before.Requests || after.Txns != before.Txns {
				t.Errorf("a conflict stored something: requests %d -> %d, txns %d -> %d", before.Requests,
					after.Requests, before.Txns, after.Txns)
			}
			if _, err := l.Transaction(bg, "txn-other"); !errors.Is(err, ErrTransactionNotFound) {
				t.Errorf("Transaction(txn-other) err = %v, want ErrTransactionNotFound", err)
			}
			// And the first meaning of req-1 is intact.
			if rep, err := l.Replay(bg, "req-1", d.Fingerprint); err != nil || string(rep.Response) != string(first.Response) {
				t.Errorf("Replay after conflict = %q, %v", rep.Response, err)
			}
		})
	}
}

func TestDebitSameReferenceNewRequest(t *testing.T) {
	tests := []struct {
		name  string
		first DebitRequest
		fund  int64
		again DebitRequest
		want  error
	}{
		{"approval re-rendered", dreq("r1", "t", "w1", 100, 5), 1_000, dreq("r2", "t", "w1", 100, 5), nil},
		{"decline re-rendered", dreq("r1", "t", "w1", 100, 5), 50, dreq("r2", "t", "w1", 100, 5), ErrInsufficientFunds},
		{"other wallet", dreq("r1", "t", "w1", 100, 5), 1_000, dreq("r2", "t", "w2", 100, 5), ErrReferenceConflict},
		{"other amount", dreq("r1", "t", "w1", 100, 5), 1_000, dreq("r2", "t", "w1", 101, 5), ErrReferenceConflict},
		{"other fee", dreq("r1", "t", "w1", 100, 5), 1_000, dreq("r2", "t", "w1", 100, 0), ErrReferenceConflict},
		{"other currency", dreq("r1", "t", "w1", 100, 5), 1_000, dreq("r2", "t", "w1", 100, 5, withCurrency("978")),
			ErrReferenceConflict},
		{"other amount of a decline", dreq("r1", "t", "w1", 100, 5), 50, dreq("r2", "t", "w1", 10, 0), ErrReferenceConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t)
			mustWallet(t, l, "w1", "566", 0)
			mustWallet(t, l, "w2", "566", 0)
			mustCredit(t, l, "w1", tc.fund)
			mustCredit(t, l, "w2", 1_000)
			firstAnswer, err := l.Debit(bg, tc.first)
			if err != nil {
				t.Fatal(err)
			}
			before := readBooks(t, l)
			mustDebit(t, l, tc.again, tc.want)
			after := readBooks(t, l)
			sameMoney(t, before, after)
			if after.Requests != before.Requests+1 || after.Txns != before.Txns {
				t.Errorf("records: requests %d -> %d (want +1), txns %d -> %d (want same)", before.Requests,
					after.Requests, before.Txns, after.Txns)
			}
			// The new requestId replays its own answer; the first one still replays its own.
			rep, err := l.Replay(bg, "r2", tc.again.Fingerprint)
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, rep, "r2", tc.want, true)
			rep, err = l.Replay(bg, "r1", tc.first.Fingerprint)
			if err != nil || string(rep.Response) != string(firstAnswer.Response) {
				t.Errorf("Replay(r1) = %q, %v; want %q", rep.Response, err, firstAnswer.Response)
			}
			// The transaction keeps its first details.
			tx, err := l.Transaction(bg, "t")
			if err != nil || tx.RequestID != "r1" || tx.WalletID != "w1" || tx.Amount != 100 {
				t.Errorf("Transaction = %+v, %v", tx, err)
			}
		})
	}
}

func TestDebitDeclineIsRemembered(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 50)
	mustDebit(t, l, dreq("r1", "t1", "w1", 100, 0), ErrInsufficientFunds)
	mustCredit(t, l, "w1", 1_000)
	before := readBooks(t, l)
	mustDebit(t, l, dreq("r2", "t1", "w1", 100, 0), ErrInsufficientFunds)
	sameMoney(t, before, readBooks(t, l))
	// A new reference is decided afresh.
	mustDebit(t, l, dreq("r3", "t2", "w1", 100, 0), nil)

	// Same for a wallet that did not exist yet.
	mustDebit(t, l, dreq("r4", "t3", "late", 1, 0), ErrWalletNotFound)
	mustWallet(t, l, "late", "566", 0)
	mustCredit(t, l, "late", 10)
	mustDebit(t, l, dreq("r5", "t3", "late", 1, 0), ErrWalletNotFound)
	wantBalances(t, l, map[string]int64{"late": 10})
}

func TestDebitInvalidInput(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	noRender := dreq("r", "t", "w1", 1, 0)
	noRender.Render = nil
	longID := dreq(string(make([]byte, MaxRequestIDLen+1)), "t", "w1", 1, 0)
	tests := []struct {
		name  string
		d     DebitRequest
		field string
	}{
		{"zero amount", dreq("r", "t", "w1", 0, 0), "amount"},
		{"negative amount", dreq("r", "t", "w1", -5, 0), "amount"},
		{"negative fee", dreq("r", "t", "w1", 5, -1), "amount"},
		{"amount plus fee overflows", dreq("r", "t", "w1", 1<<62, 1<<62), "amount"},
		{"no requestId", dreq("", "t", "w1", 1, 0), "requestId"},
		{"requestId too long", longID, "requestId"},
		{"no render", noRender, "render"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := readBooks(t, l)
			_, err := l.Debit(bg, tc.d)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a *FieldError for %s", err, tc.field)
			}
			after := readBooks(t, l)
			sameMoney(t, before, after)
			if after.Requests != before.Requests || after.Txns != before.Txns {
				t.Errorf("an invalid debit stored records")
			}
		})
	}
}

func TestRenderFailureAbortsOnlyThatOperation(t *testing.T) {
	l := openTest(t, withOptions(Options{BatchDelay: 20 * time.Millisecond}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	bad := dreq("bad", "t-bad", "w1", 100, 0)
	bad.Render = func(Outcome) ([]byte, error) { return nil, errors.New("template broken") }
	good := dreq("good", "t-good", "w1", 200, 0)
	errs := make(chan error, 2)
	go func() { _, err := l.Debit(bg, bad); errs <- err }()
	go func() { _, err := l.Debit(bg, good); errs <- err }()
	var storage, ok int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrStorage):
			storage++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if storage != 1 || ok != 1 {
		t.Fatalf("storage failures %d, successes %d; want 1 and 1", storage, ok)
	}
	wantBalances(t, l, map[string]int64{"w1": 800, "settlement:566": 200})
	if _, err := l.Replay(bg, "bad", bad.Fingerprint); !errors.Is(err, ErrNotRecorded) {
		t.Errorf("Replay(bad) err = %v, want ErrNotRecorded", err)
	}
	if _, err := l.Transaction(bg, "t-bad"); !errors.Is(err, ErrTransactionNotFound) {
		t.Errorf("Transaction(t-bad) err = %v, want ErrTransactionNotFound", err)
	}
	if _, err := l.Replay(bg, "good", good.Fingerprint); err != nil {
		t.Errorf("Replay(good): %v", err)
	}
}

// An approval's answer rendered by the caller (Envelope.Approved) is what the ledger answers and stores, without
// calling Render; every other outcome is still rendered inside the commit.
func TestApprovedAnswerRenderedByCaller(t *testing.T) {
	l := openTest(t, withNoSync())
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	var renders atomic.Int64
	withApproved := func(d DebitRequest) DebitRequest {
		d.Approved = []byte("approved by the caller " + d.RequestID)
		inner := d.Render
		d.Render = func(o Outcome) ([]byte, error) { renders.Add(1); return inner(o) }
		return d
	}

	a, err := l.Debit(bg, withApproved(dreq("q1", "d1", "w1", 300, 0)))
	if err != nil || !a.Outcome.Approved() || string(a.Response) != "approved by the caller q1" || renders.Load() != 0 {
		t.Fatalf("approval: %+v %q, %v; Render called %d times", a.Outcome, a.Response, err, renders.Load())
	}
	again, err := l.Debit(bg, withApproved(dreq("q1", "d1", "w1", 300, 0)))
	if err != nil || !again.Replayed || string(again.Response) != "approved by the caller q1" {
		t.Errorf("replay: %+v %q, %v; want the stored answer", again, again.Response, err)
	}
	d, err := l.Debit(bg, withApproved(dreq("q2", "d2", "w1", 5_000, 0)))
	want, _ := render("q2")(Outcome{Decline: ErrInsufficientFunds})
	if err != nil || !errors.Is(d.Outcome.Decline, ErrInsufficientFunds) || string(d.Response) != string(want) || renders.Load() != 1 {
		t.Errorf("decline: %+v %q, %v; want %q rendered once (Render called %d times)", d.Outcome, d.Response, err, want, renders.Load())
	}
}
