package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// AuditReport is the result of Audit. OK is true only when Problems is empty.
type AuditReport struct {
	OK       bool
	Entries  uint64 // journal entries checked
	Accounts int    // accounts (wallets and system accounts) whose balance was recomputed
	Wallets  int
	// Totals is, per currency, the sum of every account's stored balance; zero in a sound ledger.
	Totals   map[string]int64
	Problems []string // at most MaxAuditProblems, then a final "... more" line
}

// MaxAuditProblems caps AuditReport.Problems.
const MaxAuditProblems = 100

// Audit recomputes every account's balance from the journal in one consistent read transaction and checks that
// every entry sums to zero, every wallet's and system account's stored balance equals the sum of its postings,
// no wallet is negative or holds more than it has, every wallet's statement chains through the journal from its
// newest entry and adds up to its balance, and
// each currency's accounts sum to zero.
func (l *Ledger) Audit(ctx context.Context) (AuditReport, error) {
	rep := AuditReport{Totals: map[string]int64{}}
	problems := 0
	fail := func(format string, args ...any) {
		problems++
		if problems <= MaxAuditProblems {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	err := l.view(func(r *rtx) error {
		// Exact sums: a corrupt entry must be reported, not wrapped.
		sums := map[string]*big.Int{}
		add := func(account string, amount int64) {
			s := sums[account]
			if s == nil {
				s = new(big.Int)
				sums[account] = s
			}
			s.Add(s, big.NewInt(amount))
		}
		chains := map[string]*statementChain{}
		var lastSeq uint64
		err := r.journal.ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			rep.Entries++
			e, err := decodeEntry(v)
			if err != nil {
				fail("journal entry %x: undecodable: %v", k, err)
				return nil
			}
			seq := binary.BigEndian.Uint64(k)
			if seq != e.Seq || seq <= lastSeq {
				fail("journal entry %d: stored under key %d after %d", e.Seq, seq, lastSeq)
			}
			lastSeq = seq
			total := new(big.Int)
			for _, p := range e.Postings {
				total.Add(total, big.NewInt(p.Amount))
				add(p.Account, p.Amount)
				if !strings.HasSuffix(p.Account, ":"+e.Currency) && !strings.HasPrefix(p.Account, walletAccountPrefix) {
					fail("journal entry %d: posts to %s in currency %s", e.Seq, p.Account, e.Currency)
				}
			}
			if total.Sign() != 0 {
				fail("journal entry %d (%s %s): postings sum to %s, not zero", e.Seq, e.Kind, e.Reference, total)
			}
			auditLink(e, chains, fail)
			return nil
		})
		if err != nil {
			return err
		}

		seen := map[string]bool{}
		totals := map[string]*big.Int{} // exact: a sound ledger's positive balances may add up to 2^63
		check := func(account, currency string, stored int64) {
			seen[account] = true
			rep.Accounts++
			want := sums[account]
			if want == nil {
				want = new(big.Int)
			}
			if !want.IsInt64() || want.Int64() != stored {
				fail("account %s: stored balance %d, journal says %s", account, stored, want)
			}
			t := totals[currency]
			if t == nil {
				t = new(big.Int)
				totals[currency] = t
			}
			t.Add(t, big.NewInt(stored))
		}
		err = r.forEachWallet(func(k string, v []byte) error {
			w, err := decodeWallet(k, v)
			if err != nil {
				fail("wallet %q: undecodable: %v", k, err)
				return nil
			}
			rep.Wallets++
			check(walletAccount(w.ID), w.Currency, w.Balance)
			if w.Balance < 0 {
				fail("wallet %s: negative balance %d", w.ID, w.Balance)
			}
			if w.Held < 0 || w.Held > w.Balance {
				fail("wallet %s: holds %d of a balance of %d", w.ID, w.Held, w.Balance)
			}
			c := chains[w.ID]
			if c == nil {
				c = &statementChain{}
			}
			c.wallet = true
			if c.last != w.Last {
				fail("wallet %s: statement starts at entry %d, its newest entry is %d", w.ID, w.Last, c.last)
			}
			if c.running != w.Balance {
				fail("wallet %s: statement ends at %d, balance is %d", w.ID, c.running, w.Balance)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = r.accounts.ForEach(func(k, v []byte) error {
			name := string(k)
			i := strings.LastIndexByte(name, ':')
			if i < 0 || len(v) != 8 {
				fail("system account %q: malformed", name)
				return nil
			}
			check(name, name[i+1:], int64(binary.BigEndian.Uint64(v)))
			return nil
		})
		if err != nil {
			return err
		}
		names := make([]string, 0, len(sums))
		for account := range sums {
			names = append(names, account)
		}
		sort.Strings(names)
		for _, account := range names {
			if !seen[account] && sums[account].Sign() != 0 {
				fail("account %s: has postings summing to %s but no stored balance", account, sums[account])
			}
		}
		for currency, t := range totals {
			if t.IsInt64() {
				rep.Totals[currency] = t.Int64()
			}
			if t.Sign() != 0 {
				fail("currency %s: balances sum to %s, not zero", currency, t)
			}
		}
		ids := make([]string, 0)
		for id, c := range chains {
			if !c.wallet {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			fail("journal entries move unknown wallet %q", id)
		}
		return nil
	})
	if err != nil {
		return AuditReport{}, fmt.Errorf("audit: %w", err)
	}
	if problems > MaxAuditProblems {
		rep.Problems = append(rep.Problems, fmt.Sprintf("... and %d more", problems-MaxAuditProblems))
	}
	rep.OK = problems == 0
	return rep, nil
}

// statementChain is what Audit has seen of one wallet's statement so far: its newest entry and the balance after it.
type statementChain struct {
	last    uint64
	running int64
	wallet  bool // a wallet record exists
}

// auditLink checks that entry e is linked into the statement of the wallet it concerns: it moves no other
// wallet, its Prev is that wallet's previous entry and its Balance the previous balance plus its postings.
func auditLink(e *Entry, chains map[string]*statementChain, fail func(string, ...any)) {
	var moved string
	for _, p := range e.Postings {
		id, ok := strings.CutPrefix(p.Account, walletAccountPrefix)
		if !ok || id == moved {
			continue
		}
		if moved != "" {
			fail("journal entry %d: moves two wallets, %s and %s", e.Seq, moved, id)
			return
		}
		moved = id
	}
	switch {
	case e.Wallet == nil && moved != "":
		fail("journal entry %d: moves wallet %s without a statement link", e.Seq, moved)
		return
	case e.Wallet == nil:
		return
	case moved != "" && moved != e.Wallet.ID:
		fail("journal entry %d: moves wallet %s but is linked into the statement of %s", e.Seq, moved, e.Wallet.ID)
		return
	}
	id := e.Wallet.ID
	c := chains[id]
	if c == nil {
		c = &statementChain{}
		chains[id] = c
	}
	if e.Wallet.Prev != c.last {
		fail("wallet %s: entry %d follows entry %d in its statement, not %d", id, e.Seq, e.Wallet.Prev, c.last)
	}
	delta := walletDelta(e, id)
	next, ok := addChecked(c.running, delta)
	if !ok || next != e.Wallet.Balance {
		fail("wallet %s: entry %d says balance %d after %d%+d", id, e.Seq, e.Wallet.Balance, c.running, delta)
	}
	c.last, c.running = e.Seq, e.Wallet.Balance
}
