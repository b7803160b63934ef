package ledger

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// corrupt changes the file behind the ledger's back, in one bbolt transaction.
func corrupt(t *testing.T, l *testLedger, fn func(r *rtx) error) {
	t.Helper()
	if err := l.db.Update(func(tx *bolt.Tx) error { return fn(newRtx(tx)) }); err != nil {
		t.Fatalf("corrupt: %v", err)
	}
}

func editWallet(id string, f func(*walletRecord)) func(r *rtx) error {
	return func(r *rtx) error {
		w, err := decodeWallet(id, r.wallets.Get([]byte(id)))
		if err != nil {
			return err
		}
		f(w)
		return r.wallets.Put([]byte(id), encodeWallet(w))
	}
}

func appendEntry(e Entry) func(r *rtx) error {
	return func(r *rtx) error {
		seq, err := r.journal.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		return putEntry(r.journal, k[:], &e)
	}
}

func editEntry(seq uint64, f func(*Entry)) func(r *rtx) error {
	return func(r *rtx) error {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		e, _, err := getEntry(r.journal, k[:])
		if err != nil {
			return err
		}
		f(e)
		return putEntry(r.journal, k[:], e)
	}
}

func setSystem(account string, v int64) func(r *rtx) error {
	return func(r *rtx) error {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(v))
		return r.accounts.Put([]byte(account), b[:])
	}
}

func TestAuditCatchesCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(r *rtx) error
		want    []string // substrings, each of which some problem must contain
	}{
		{"wallet balance", editWallet("w1", func(w *walletRecord) { w.Balance += 1 }),
			[]string{"account wallet:w1: stored balance 681, journal says 680", "wallet w1: statement ends at 680, balance is 681",
				"currency 566: balances sum to 1"}},
		{"negative wallet", editWallet("w2", func(w *walletRecord) { w.Balance = -5 }),
			[]string{"wallet w2: negative balance -5", "account wallet:w2"}},
		{"held above balance", editWallet("w1", func(w *walletRecord) { w.Held = 10_000 }),
			[]string{"wallet w1: holds 10000 of a balance of 680"}},
		{"unbalanced entry", appendEntry(Entry{Kind: KindDebit, Reference: "forged", Currency: "566",
			Postings: []Posting{{Account: "wallet:w1", Amount: -5}, {Account: "settlement:566", Amount: 3}}}),
			[]string{"journal entry 3 (debit forged): postings sum to -2, not zero", "account wallet:w1: stored balance 680, journal says 675"}},
		{"entry in another currency's account", appendEntry(Entry{Kind: KindCredit, Reference: "x", Currency: "566",
			Postings: []Posting{{Account: "funding:978", Amount: -5}, {Account: "settlement:566", Amount: 5}}}),
			[]string{"journal entry 3: posts to funding:978 in currency 566"}},
		{"system account", setSystem("settlement:566", 301),
			[]string{"account settlement:566: stored balance 301, journal says 300"}},
		{"undecodable entry", func(r *rtx) error {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], 99)
			return r.journal.Put(k[:], []byte("{not json"))
		}, []string{"journal entry 0000000000000063: undecodable"}},
		{"statement balance", editEntry(2, func(e *Entry) { e.Wallet.Balance = 690 }),
			[]string{"wallet w1: entry 2 says balance 690 after 1000-320", "wallet w1: statement ends at 690, balance is 680"}},
		{"statement chain", editEntry(2, func(e *Entry) { e.Wallet.Prev = 0 }),
			[]string{"wallet w1: entry 2 follows entry 0 in its statement, not 1"}},
		{"statement head", editWallet("w1", func(w *walletRecord) { w.Last = 1 }),
			[]string{"wallet w1: statement starts at entry 1, its newest entry is 2"}},
		{"entry without its link", editEntry(2, func(e *Entry) { e.Wallet = nil }),
			[]string{"journal entry 2: moves wallet w1 without a statement link", "wallet w1: statement starts at entry 2, its newest entry is 1"}},
		{"link into another wallet's statement", editEntry(2, func(e *Entry) { e.Wallet.ID = "w2" }),
			[]string{"journal entry 2: moves wallet w1 but is linked into the statement of w2"}},
		{"entry moving two wallets", appendEntry(Entry{Kind: KindCredit, Reference: "t", Currency: "566",
			Postings: []Posting{{Account: "wallet:w1", Amount: -7}, {Account: "wallet:w2", Amount: 7}}, Wallet: &EntryWallet{ID: "w1", Prev: 2, Balance: 673}}),
			[]string{"journal entry 3: moves two wallets, w1 and w2"}},
		{"statement of an unknown wallet", appendEntry(Entry{Kind: KindCredit, Reference: "g", Currency: "566",
			Postings: []Posting{{Account: "funding:566", Amount: -1}, {Account: "wallet:ghost", Amount: 1}}, Wallet: &EntryWallet{ID: "ghost", Balance: 1}}),
			[]string{`journal entries move unknown wallet "ghost"`}},
		{"postings without an account", appendEntry(Entry{Kind: KindCredit, Reference: "y", Currency: "566",
			Postings: []Posting{{Account: "funding:566", Amount: -7}, {Account: "mystery:566", Amount: 7}}}),
			[]string{"account mystery:566: has postings summing to 7 but no stored balance", "account funding:566"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, withoutAudit(), withNoSync())
			mustWallet(t, l, "w1", "566", 0)
			mustWallet(t, l, "w2", "566", 0)
			mustCredit(t, l, "w1", 1_000)
			mustDebit(t, l, dreq("q1", "d1", "w1", 300, 20), nil)
			if rep, err := l.Audit(bg); err != nil || !rep.OK || rep.Entries != 2 || rep.Wallets != 2 {
				t.Fatalf("Audit before corruption = %+v, %v", rep, err)
			}
			corrupt(t, l, tc.corrupt)
			rep, err := l.Audit(bg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || len(rep.Problems) == 0 {
				t.Fatalf("Audit OK after corruption: %+v", rep)
			}
			all := strings.Join(rep.Problems, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem mentions %q; problems:\n%s", w, all)
				}
			}
		})
	}
}

// Each fake wallet is two problems (its balance has no postings, its statement is empty), plus the currency's sum.
func TestAuditCapsProblems(t *testing.T) {
	l := openTest(t, withoutAudit(), withNoSync())
	corrupt(t, l, func(r *rtx) error {
		for i := range MaxAuditProblems + 20 {
			id := fmt.Sprintf("fake%03d", i)
			raw := encodeWallet(&walletRecord{ID: id, Currency: "566", Name: id, Status: StatusActive, Balance: 1})
			if err := r.wallets.Put([]byte(id), raw); err != nil {
				return err
			}
		}
		return nil
	})
	rep, err := l.Audit(bg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Problems) != MaxAuditProblems+1 || !strings.HasPrefix(rep.Problems[MaxAuditProblems], "... and 141 more") {
		t.Errorf("OK %v, %d problems, last %q", rep.OK, len(rep.Problems), rep.Problems[len(rep.Problems)-1])
	}
}

func TestAuditSound(t *testing.T) {
	l := openTest(t)
	if rep, err := l.Audit(bg); err != nil || !rep.OK || rep.Entries != 0 || len(rep.Problems) != 0 {
		t.Errorf("Audit of an empty ledger = %+v, %v", rep, err)
	}
	mustWallet(t, l, "w1", "566", 0)
	mustWallet(t, l, "w2", "978", 0)
	mustCredit(t, l, "w1", 500)
	mustCredit(t, l, "w2", 700)
	mustDebit(t, l, dreq("q1", "d1", "w1", 100, 3), nil)
	mustDebit(t, l, dreq("q2", "d2", "w2", 100, 3, withCurrency("978")), nil)
	mustReverse(t, l, rreq("q3", "r3", "d1", "w1", 40), nil)
	rep, err := l.Audit(bg)
	if err != nil || !rep.OK {
		t.Fatalf("Audit = %+v, %v", rep, err)
	}
	// 2 wallets + funding, settlement and fee income in each currency.
	if rep.Entries != 5 || rep.Wallets != 2 || rep.Accounts != 8 || len(rep.Totals) != 2 || rep.Totals["566"] != 0 || rep.Totals["978"] != 0 {
		t.Errorf("Audit = %+v", rep)
	}
}
