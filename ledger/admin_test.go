package ledger

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCreateWallet(t *testing.T) {
	clock := newFakeClock(time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC))
	l := openTest(t, withOptions(Options{Now: clock.Now}))
	n := NewWallet{ID: "1234567894", Currency: "566", Name: "Ada Obi", DailyDebitLimit: 50_000, Phone: "+2348030000000",
		VirtualAccountID: "va-1"}
	w, err := l.CreateWallet(bg, n)
	if err != nil {
		t.Fatal(err)
	}
	wantW := Wallet{ID: n.ID, Currency: "566", Name: "Ada Obi", Status: StatusActive, DailyDebitLimit: 50_000,
		Phone: n.Phone, VirtualAccountID: "va-1", CreatedAt: clock.Now()}
	if w != wantW {
		t.Errorf("CreateWallet = %+v, want %+v", w, wantW)
	}
	if got, err := l.Wallet(bg, n.ID); err != nil || got != wantW {
		t.Errorf("Wallet = %+v, %v", got, err)
	}

	// Taken: refused, and the first wallet is untouched.
	mustCredit(t, l, n.ID, 10)
	if _, err := l.CreateWallet(bg, NewWallet{ID: n.ID, Currency: "978", Name: "Other"}); !errors.Is(err, ErrWalletExists) {
		t.Errorf("CreateWallet of a taken id: err = %v, want ErrWalletExists", err)
	}
	if got, _ := l.Wallet(bg, n.ID); got.Currency != "566" || got.Name != "Ada Obi" || got.Balance != 10 {
		t.Errorf("the existing wallet changed: %+v", got)
	}
	if _, err := l.Wallet(bg, "missing"); !errors.Is(err, ErrWalletNotFound) {
		t.Errorf("Wallet(missing) err = %v", err)
	}
}

func TestCreateWalletValidation(t *testing.T) {
	l := openTest(t, withNoSync())
	ok := NewWallet{ID: "w", Currency: "566", Name: "Name"}
	with := func(f func(*NewWallet)) NewWallet { n := ok; f(&n); return n }
	tests := []struct {
		name  string
		in    NewWallet
		field string // "" when valid
	}{
		{"minimal", ok, ""},
		{"longest id", with(func(n *NewWallet) { n.ID = strings.Repeat("a", MaxWalletIDLen) }), ""},
		{"id charset", with(func(n *NewWallet) { n.ID = "Az09-_.:" }), ""},
		{"longest name", with(func(n *NewWallet) { n.Name = strings.Repeat("é", MaxNameLen/2) }), ""},
		{"phone", with(func(n *NewWallet) { n.Phone = "+234803" }), ""},
		{"phone without plus", with(func(n *NewWallet) { n.Phone = "123456789012345" }), ""},
		{"empty id", with(func(n *NewWallet) { n.ID = "" }), "walletId"},
		{"id too long", with(func(n *NewWallet) { n.ID = strings.Repeat("a", MaxWalletIDLen+1) }), "walletId"},
		{"id with space", with(func(n *NewWallet) { n.ID = "a b" }), "walletId"},
		{"id with slash", with(func(n *NewWallet) { n.ID = "a/b" }), "walletId"},
		{"id with NUL", with(func(n *NewWallet) { n.ID = "a\x00" }), "walletId"},
		{"no currency", with(func(n *NewWallet) { n.Currency = "" }), "currencyCode"},
		{"alpha currency", with(func(n *NewWallet) { n.Currency = "NGN" }), "currencyCode"},
		{"short currency", with(func(n *NewWallet) { n.Currency = "56" }), "currencyCode"},
		{"long currency", with(func(n *NewWallet) { n.Currency = "5660" }), "currencyCode"},
		{"no name", with(func(n *NewWallet) { n.Name = "" }), "name"},
		{"name too long", with(func(n *NewWallet) { n.Name = strings.Repeat("x", MaxNameLen+1) }), "name"},
		{"name with newline", with(func(n *NewWallet) { n.Name = "a\nb" }), "name"},
		{"name with DEL", with(func(n *NewWallet) { n.Name = "a\x7f" }), "name"},
		{"name with a C1 control", with(func(n *NewWallet) { n.Name = "a\u0085b" }), "name"},
		{"name not UTF-8", with(func(n *NewWallet) { n.Name = "a\xff" }), "name"},
		{"negative limit", with(func(n *NewWallet) { n.DailyDebitLimit = -1 }), "dailyDebitLimit"},
		{"phone too short", with(func(n *NewWallet) { n.Phone = "+12345" }), "phone"},
		{"phone too long", with(func(n *NewWallet) { n.Phone = "1234567890123456" }), "phone"},
		{"phone with letters", with(func(n *NewWallet) { n.Phone = "+23480a0000" }), "phone"},
		{"phone only plus", with(func(n *NewWallet) { n.Phone = "+" }), "phone"},
		{"virtual account id", with(func(n *NewWallet) { n.VirtualAccountID = "va 1" }), "virtualAccountId"},
		{"virtual account id too long", with(func(n *NewWallet) { n.VirtualAccountID = strings.Repeat("v", MaxWalletIDLen+1) }),
			"virtualAccountId"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.field == "" && tc.in.ID == ok.ID {
				tc.in.ID = fmt.Sprintf("ok-%d", i) // valid cases each get a fresh id
			}
			_, err := l.CreateWallet(bg, tc.in)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid input refused: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) || fe.Reason == "" {
				t.Fatalf("err = %v, want a *FieldError for %s wrapping ErrInvalid", err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name the field", err)
			}
			if _, err := l.Wallet(bg, tc.in.ID); tc.in.ID != "" && !errors.Is(err, ErrWalletNotFound) {
				t.Errorf("an invalid wallet was created (%v)", err)
			}
		})
	}
}

func TestCredit(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustWallet(t, l, "w2", "566", 0)
	c := Credit{WalletID: "w1", Amount: 700, Reference: "top-1", Narration: "cash deposit"}
	w, err := l.Credit(bg, c)
	if err != nil || w.Balance != 700 {
		t.Fatalf("Credit = %+v, %v", w, err)
	}
	wantBalances(t, l, map[string]int64{"w1": 700, "funding:566": -700})
	lines, _, _ := l.Statement(bg, "w1", 0, 0)
	if len(lines) != 1 || lines[0].Kind != KindCredit || lines[0].Reference != "top-1" || lines[0].Narration != "cash deposit" ||
		lines[0].Amount != 700 || lines[0].Balance != 700 {
		t.Errorf("Statement = %+v", lines)
	}
	mustDebit(t, l, dreq("q1", "d1", "w1", 100, 0), nil)

	// Same reference, same body: nothing moves, the wallet as it is now.
	before := readBooks(t, l)
	for range 3 {
		w, err := l.Credit(bg, c)
		if err != nil || w.Balance != 600 {
			t.Errorf("repeated Credit = %+v, %v; want the wallet as it is now (600)", w, err)
		}
	}
	// Same reference, another body: a conflict, nothing moves.
	for _, other := range []Credit{
		{WalletID: "w1", Amount: 701, Reference: "top-1", Narration: "cash deposit"},
		{WalletID: "w2", Amount: 700, Reference: "top-1", Narration: "cash deposit"},
		{WalletID: "w1", Amount: 700, Reference: "top-1", Narration: "other"},
		{WalletID: "w1", Amount: 700, Reference: "top-1"},
	} {
		if _, err := l.Credit(bg, other); !errors.Is(err, ErrCreditConflict) {
			t.Errorf("Credit(%+v) err = %v, want ErrCreditConflict", other, err)
		}
	}
	sameMoney(t, before, readBooks(t, l))

	// Unknown wallet.
	if _, err := l.Credit(bg, Credit{WalletID: "nope", Amount: 1, Reference: "top-2"}); !errors.Is(err, ErrWalletNotFound) {
		t.Errorf("Credit to an unknown wallet: err = %v", err)
	}
	// Frozen wallets can be credited, closed ones cannot.
	mustSetStatus(t, l, "w2", StatusFrozen)
	if w, err := l.Credit(bg, Credit{WalletID: "w2", Amount: 50, Reference: "top-3"}); err != nil || w.Balance != 50 || w.Status != StatusFrozen {
		t.Errorf("Credit to a frozen wallet = %+v, %v", w, err)
	}
	mustSetStatus(t, l, "w2", StatusClosed)
	before = readBooks(t, l)
	if _, err := l.Credit(bg, Credit{WalletID: "w2", Amount: 50, Reference: "top-4"}); !errors.Is(err, ErrWalletClosed) {
		t.Errorf("Credit to a closed wallet: err = %v, want ErrWalletClosed", err)
	}
	after := readBooks(t, l)
	sameMoney(t, before, after)
	if after.Credits != before.Credits {
		t.Errorf("a refused credit was remembered")
	}
	// A credit made before the wallet closed still answers as it did.
	if w, err := l.Credit(bg, Credit{WalletID: "w2", Amount: 50, Reference: "top-3"}); err != nil || w.Balance != 50 {
		t.Errorf("repeat of an earlier credit to a now closed wallet = %+v, %v", w, err)
	}
	// A refused reference is free for a valid credit.
	if w, err := l.Credit(bg, Credit{WalletID: "w1", Amount: 5, Reference: "top-4"}); err != nil || w.Balance != 605 {
		t.Errorf("Credit reusing a refused reference = %+v, %v", w, err)
	}
}

func TestCreditValidation(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	tests := []struct {
		c     Credit
		field string
	}{
		{Credit{WalletID: "w1", Amount: 0, Reference: "r"}, "amount"},
		{Credit{WalletID: "w1", Amount: -5, Reference: "r"}, "amount"},
		{Credit{WalletID: "w1", Amount: 1, Reference: ""}, "reference"},
		{Credit{WalletID: "w1", Amount: 1, Reference: "has space"}, "reference"},
		{Credit{WalletID: "w1", Amount: 1, Reference: strings.Repeat("r", MaxReferenceLen+1)}, "reference"},
		{Credit{WalletID: "w1", Amount: 1, Reference: "r", Narration: "tab\there"}, "narration"},
		{Credit{WalletID: "w1", Amount: 1, Reference: "r", Narration: strings.Repeat("n", MaxNarrationLen+1)}, "narration"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			var fe *FieldError
			if _, err := l.Credit(bg, tc.c); !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) {
				t.Errorf("Credit(%+v) err = %v, want a *FieldError for %s", tc.c, err, tc.field)
			}
		})
	}
	if b := readBooks(t, l); b.Entries != 0 || b.Credits != 0 {
		t.Errorf("invalid credits left %d entries and %d credit records", b.Entries, b.Credits)
	}
}

func TestOverflow(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "a", "566", 0)
	mustWallet(t, l, "b", "566", 0)
	mustWallet(t, l, "e", "978", 0)
	mustCredit(t, l, "a", math.MaxInt64-1)
	credit := func(wallet string, amount int64, ref string) error {
		_, err := l.Credit(bg, Credit{WalletID: wallet, Amount: amount, Reference: ref})
		return err
	}

	before := readBooks(t, l)
	if err := credit("a", 2, "over-wallet"); !errors.Is(err, ErrOverflow) { // the wallet would pass MaxInt64
		t.Errorf("err = %v, want ErrOverflow", err)
	}
	if err := credit("b", 3, "over-funding"); !errors.Is(err, ErrOverflow) { // funding:566 would pass MinInt64
		t.Errorf("err = %v, want ErrOverflow", err)
	}
	after := readBooks(t, l)
	sameMoney(t, before, after)
	if after.Credits != before.Credits {
		t.Errorf("an overflowing credit was remembered")
	}
	if rep, err := l.Audit(bg); err != nil || !rep.OK {
		t.Errorf("Audit after refused overflows = %+v, %v", rep, err)
	}

	// Right up to the edge is fine: funding:566 reaches MinInt64 exactly, the wallets hold 2^63 between them.
	if err := credit("b", 2, "edge"); err != nil {
		t.Fatalf("credit to the edge: %v", err)
	}
	wantBalances(t, l, map[string]int64{"a": math.MaxInt64 - 1, "b": 2, "funding:566": math.MinInt64})
	if rep, err := l.Audit(bg); err != nil || !rep.OK || rep.Totals["566"] != 0 {
		t.Errorf("Audit at the edge = %+v, %v", rep, err)
	}
	// Another currency has its own accounts.
	if err := credit("e", math.MaxInt64, "eur"); err != nil {
		t.Fatalf("credit in 978: %v", err)
	}

	// A debit that would overflow settlement is declined (and remembered), nothing moves.
	mustDebit(t, l, dreq("q1", "d1", "a", math.MaxInt64-1, 0), nil)
	before = readBooks(t, l)
	mustDebit(t, l, dreq("q2", "d2", "b", 2, 0), ErrOverflow)
	sameMoney(t, before, readBooks(t, l))
	mustDebit(t, l, dreq("q3", "d2", "b", 2, 0), ErrOverflow)
	mustDebit(t, l, dreq("q4", "d3", "b", 1, 0), nil)
	wantBalances(t, l, map[string]int64{"settlement:566": math.MaxInt64, "b": 1, "a": 0})
	// Reversing gives it back.
	mustReverse(t, l, rreq("q5", "r1", "d1", "a", 0), nil)
	wantBalances(t, l, map[string]int64{"settlement:566": 1, "a": math.MaxInt64 - 1})
	rep, err := l.Audit(bg)
	if err != nil || !rep.OK || rep.Totals["566"] != 0 || rep.Totals["978"] != 0 {
		t.Errorf("Audit = %+v, %v", rep, err)
	}
}

func TestSetStatus(t *testing.T) {
	tests := []struct {
		from, to Status
		err      error
	}{
		{StatusActive, StatusFrozen, nil},
		{StatusActive, StatusClosed, nil},
		{StatusActive, StatusActive, nil},
		{StatusFrozen, StatusActive, nil},
		{StatusFrozen, StatusClosed, nil},
		{StatusFrozen, StatusFrozen, nil},
		{StatusClosed, StatusClosed, nil},
		{StatusClosed, StatusActive, ErrWalletClosed},
		{StatusClosed, StatusFrozen, ErrWalletClosed},
	}
	l := openTest(t, withNoSync())
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%s to %s", tc.from, tc.to), func(t *testing.T) {
			id := fmt.Sprintf("w%d", i)
			mustWallet(t, l, id, "566", 0)
			if tc.from != StatusActive {
				mustSetStatus(t, l, id, tc.from)
			}
			w, err := l.SetStatus(bg, id, tc.to)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			wantStatus := tc.to
			if tc.err != nil {
				wantStatus = tc.from
			} else if w.Status != tc.to || w.ID != id {
				t.Errorf("returned wallet %+v", w)
			}
			if got, _ := l.Wallet(bg, id); got.Status != wantStatus {
				t.Errorf("status = %s, want %s", got.Status, wantStatus)
			}
		})
	}
	var fe *FieldError
	if _, err := l.SetStatus(bg, "w0", Status("deleted")); !errors.As(err, &fe) || fe.Field != "status" {
		t.Errorf("SetStatus(deleted) err = %v, want a *FieldError for status", err)
	}
	if _, err := l.SetStatus(bg, "nope", StatusFrozen); !errors.Is(err, ErrWalletNotFound) {
		t.Errorf("SetStatus(nope) err = %v, want ErrWalletNotFound", err)
	}
}

func TestStatementPaging(t *testing.T) {
	l := openTest(t, withNoSync())
	// w1's lines interleave with other wallets' (whose ids sort before, after and as an extension of w1),
	// so its sequence numbers have gaps and its keys have neighbours on both sides.
	for _, id := range []string{"w0", "w1", "w1-x", "w2"} {
		mustWallet(t, l, id, "566", 0)
	}
	var want []int64 // w1's movements, oldest first
	for i := range 7 {
		amount := int64(100 + i)
		if i == 3 {
			mustDebit(t, l, dreq("q", "d", "w1", 50, 0), nil)
			want = append(want, -50)
		} else {
			mustCredit(t, l, "w1", amount)
			want = append(want, amount)
		}
		mustCredit(t, l, "w0", 1)
		mustCredit(t, l, "w1-x", 1)
		mustCredit(t, l, "w2", 1)
	}
	if len(want) != 7 {
		t.Fatal(len(want))
	}

	type page struct {
		lines []StatementLine
		next  uint64
	}
	for _, cursor := range []string{"next", "last Seq"} {
		t.Run(cursor, func(t *testing.T) {
			var pages []page
			before := uint64(0)
			for {
				lines, next, err := l.Statement(bg, "w1", before, 3)
				if err != nil {
					t.Fatal(err)
				}
				pages = append(pages, page{lines, next})
				if next == 0 || len(pages) > 5 {
					break
				}
				before = next
				if cursor == "last Seq" {
					before = lines[len(lines)-1].Seq
				}
			}
			if len(pages) != 3 || len(pages[0].lines) != 3 || len(pages[1].lines) != 3 || len(pages[2].lines) != 1 {
				t.Fatalf("pages = %+v", pages)
			}
			var got []StatementLine
			for _, p := range pages {
				got = append(got, p.lines...)
			}
			seen := map[uint64]bool{}
			for i, line := range got {
				if seen[line.Seq] {
					t.Errorf("line %d returned twice", line.Seq)
				}
				seen[line.Seq] = true
				if i > 0 && line.Seq >= got[i-1].Seq {
					t.Errorf("not newest first: %d after %d", line.Seq, got[i-1].Seq)
				}
				if w := want[len(want)-1-i]; line.Amount != w {
					t.Errorf("line %d: amount %d, want %d", i, line.Amount, w)
				}
				if i+1 < len(got) && got[i+1].Balance+line.Amount != line.Balance {
					t.Errorf("line %d: balance %d does not follow %d%+d", i, line.Balance, got[i+1].Balance, line.Amount)
				}
			}
			if w, _ := l.Wallet(bg, "w1"); got[0].Balance != w.Balance {
				t.Errorf("newest line's balance %d, wallet %d", got[0].Balance, w.Balance)
			}
		})
	}

	// A cursor older than everything: empty. The other wallets see only their own lines.
	if lines, next, err := l.Statement(bg, "w1", 1, 3); err != nil || len(lines) != 0 || next != 0 {
		t.Errorf("Statement(before 1) = %v, %d, %v", lines, next, err)
	}
	for _, id := range []string{"w0", "w1-x", "w2"} {
		lines, next, err := l.Statement(bg, id, 0, 0)
		if err != nil || len(lines) != 7 || next != 0 {
			t.Errorf("Statement(%s) = %d lines, next %d, %v", id, len(lines), next, err)
		}
		for _, line := range lines {
			if line.Amount != 1 {
				t.Errorf("Statement(%s) has a foreign line %+v", id, line)
			}
		}
	}
	if _, _, err := l.Statement(bg, "nope", 0, 10); !errors.Is(err, ErrWalletNotFound) {
		t.Errorf("Statement(nope) err = %v", err)
	}
}

func TestStatementLimitCaps(t *testing.T) {
	l := openTest(t, withNoSync())
	mustWallet(t, l, "w1", "566", 0)
	const n = MaxStatementPage + 7
	race(n, func(i int) {
		if _, err := l.Credit(bg, Credit{WalletID: "w1", Amount: 1, Reference: fmt.Sprintf("c%d", i)}); err != nil {
			t.Error(err)
		}
	})
	for _, limit := range []int{0, -1, MaxStatementPage, MaxStatementPage + 1, 1 << 30} {
		lines, next, err := l.Statement(bg, "w1", 0, limit)
		if err != nil || len(lines) != MaxStatementPage || next == 0 {
			t.Errorf("limit %d: %d lines, next %d, %v; want %d and a cursor", limit, len(lines), next, err, MaxStatementPage)
			continue
		}
		rest, next2, err := l.Statement(bg, "w1", next, limit)
		if err != nil || len(rest) != n-MaxStatementPage || next2 != 0 || rest[0].Seq >= lines[len(lines)-1].Seq {
			t.Errorf("limit %d, second page: %d lines, next %d, %v", limit, len(rest), next2, err)
		}
	}
	if lines, _, _ := l.Statement(bg, "w1", 0, 10); len(lines) != 10 {
		t.Errorf("limit 10: %d lines", len(lines))
	}
}
