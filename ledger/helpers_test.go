package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testLedger is a ledger opened by openTest in t.TempDir(). Like bbolt's internal/btesting, its cleanup checks
// the file for consistency (Audit must be OK) before closing it, so every test that uses it also proves that it
// left a sound ledger behind, whatever it asserted itself.
type testLedger struct {
	*Ledger
	t      testing.TB
	path   string
	opts   Options
	audit  bool
	noSync bool
}

// testOption adjusts openTest.
type testOption func(*testLedger)

// withOptions opens the ledger with o (and keeps o for reopen).
func withOptions(o Options) testOption { return func(tl *testLedger) { tl.opts = o } }

// withPath opens the ledger at path instead of a fresh file in t.TempDir().
func withPath(path string) testOption { return func(tl *testLedger) { tl.path = path } }

// withNoSync turns bbolt's fsync off, for tests that need many commits to check decisions, not durability (the
// property test, audit and paging tests): fsync on a shared CI disk can stall for a second. The ledger itself never
// sets NoSync, and the durability, fault, concurrency and benchmark tests keep it off.
func withNoSync() testOption { return func(tl *testLedger) { tl.noSync = true } }

// withoutAudit skips the cleanup audit: only for tests that corrupt the ledger on purpose.
func withoutAudit() testOption { return func(tl *testLedger) { tl.audit = false } }

func openTest(t testing.TB, opts ...testOption) *testLedger {
	t.Helper()
	tl := &testLedger{t: t, audit: true}
	for _, o := range opts {
		o(tl)
	}
	if tl.path == "" {
		tl.path = filepath.Join(t.TempDir(), "ledger.db")
	}
	l, err := Open(tl.path, tl.opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", tl.path, err)
	}
	tl.setLedger(l)
	t.Cleanup(func() {
		if tl.audit {
			tl.mustAudit()
		}
		if err := tl.Ledger.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tl
}

// mustAudit fails the test when Audit is not OK. A ledger the test closed is reopened for it.
func (tl *testLedger) mustAudit() {
	tl.t.Helper()
	if errors.Is(tl.Ledger.Ready(), ErrClosed) {
		l, err := Open(tl.path, tl.opts)
		if err != nil {
			tl.t.Errorf("cleanup audit: reopen: %v", err)
			return
		}
		tl.setLedger(l)
	}
	rep, err := tl.Audit(context.Background())
	if err != nil {
		tl.t.Errorf("cleanup audit: %v", err)
		return
	}
	if !rep.OK {
		tl.t.Errorf("cleanup audit not OK:\n\t%s", strings.Join(rep.Problems, "\n\t"))
	}
}

// reopen closes the ledger and opens the same file again with the same options.
func (tl *testLedger) reopen() {
	tl.t.Helper()
	if err := tl.Ledger.Close(); err != nil {
		tl.t.Fatalf("Close: %v", err)
	}
	l, err := Open(tl.path, tl.opts)
	if err != nil {
		tl.t.Fatalf("reopen %s: %v", tl.path, err)
	}
	tl.setLedger(l)
}

// setLedger installs a freshly opened ledger. Its writer has not committed anything yet, so changing NoSync here
// happens before any commit reads it (submitting an operation goes through a channel).
func (tl *testLedger) setLedger(l *Ledger) {
	l.db.NoSync = tl.noSync
	tl.Ledger = l
}

var bg = context.Background()

// outcomeName names an outcome the way render stores it.
func outcomeName(decline error) string {
	if decline == nil {
		return "approved"
	}
	if n := declineName(decline); n != "" {
		return n
	}
	return decline.Error()
}

// render makes a Render that answers requestID + ":" + the outcome's name, so a test can read from the bytes
// which request an answer was rendered for and what was decided.
func render(requestID string) Render {
	return func(o Outcome) ([]byte, error) { return []byte(requestID + ":" + outcomeName(o.Decline)), nil }
}

// want is the response render(requestID) produces for decline.
func want(requestID string, decline error) string { return requestID + ":" + outcomeName(decline) }

// fingerprint hashes a route and the fields of a message, standing in for the server's fingerprint.
func fingerprint(route string, fields ...any) [32]byte {
	return sha256.Sum256([]byte(fmt.Sprintf("%s|%q", route, fields)))
}

func withCurrency(c string) func(*DebitRequest) { return func(d *DebitRequest) { d.Currency = c } }

// dreq builds a debit in NGN (566) whose fingerprint covers every field, so changing any field after sealing
// it (with mods) yields another fingerprint.
func dreq(requestID, ref, wallet string, amount, fee int64, mods ...func(*DebitRequest)) DebitRequest {
	d := DebitRequest{WalletID: wallet, Reference: ref, Currency: "566", Amount: amount, Fee: fee}
	for _, m := range mods {
		m(&d)
	}
	d.Envelope = Envelope{
		RequestID:   requestID,
		Fingerprint: fingerprint("debit", d.Reference, requestID, d.WalletID, d.Amount, d.Fee, d.Currency),
		Render:      render(requestID),
	}
	return d
}

// rreq builds a reversal in NGN (566) of original.
func rreq(requestID, ref, original, wallet string, amount int64, mods ...func(*ReversalRequest)) ReversalRequest {
	r := ReversalRequest{WalletID: wallet, Reference: ref, Original: original, Currency: "566", Amount: amount}
	for _, m := range mods {
		m(&r)
	}
	r.Envelope = Envelope{
		RequestID:   requestID,
		Fingerprint: fingerprint("reversal", r.Reference, r.Original, requestID, r.WalletID, r.Amount, r.Currency),
		Render:      render(requestID),
	}
	return r
}

// mustWallet creates an active wallet.
func mustWallet(t testing.TB, l *testLedger, id, currency string, dailyLimit int64) {
	t.Helper()
	if _, err := l.CreateWallet(bg, NewWallet{ID: id, Currency: currency, Name: "Wallet " + id, DailyDebitLimit: dailyLimit}); err != nil {
		t.Fatalf("CreateWallet(%s): %v", id, err)
	}
}

var creditSeq struct {
	sync.Mutex
	n int
}

// mustCredit funds a wallet under a fresh credit reference.
func mustCredit(t testing.TB, l *testLedger, id string, amount int64) {
	t.Helper()
	creditSeq.Lock()
	creditSeq.n++
	ref := fmt.Sprintf("fund-%d", creditSeq.n)
	creditSeq.Unlock()
	if _, err := l.Credit(bg, Credit{WalletID: id, Amount: amount, Reference: ref}); err != nil {
		t.Fatalf("Credit(%s, %d): %v", id, amount, err)
	}
}

// mustSetStatus changes a wallet's status.
func mustSetStatus(t testing.TB, l *testLedger, id string, s Status) {
	t.Helper()
	if _, err := l.SetStatus(bg, id, s); err != nil {
		t.Fatalf("SetStatus(%s, %s): %v", id, s, err)
	}
}

// mustDebit debits and checks the outcome.
func mustDebit(t testing.TB, l *testLedger, d DebitRequest, decline error) Answer {
	t.Helper()
	a, err := l.Debit(bg, d)
	if err != nil {
		t.Fatalf("Debit(%s): %v", d.RequestID, err)
	}
	checkAnswer(t, a, d.RequestID, decline, false)
	return a
}

// mustReverse reverses and checks the outcome.
func mustReverse(t testing.TB, l *testLedger, r ReversalRequest, decline error) Answer {
	t.Helper()
	a, err := l.Reverse(bg, r)
	if err != nil {
		t.Fatalf("Reverse(%s): %v", r.RequestID, err)
	}
	checkAnswer(t, a, r.RequestID, decline, false)
	return a
}

// checkAnswer checks an answer's outcome, bytes and replay flag.
func checkAnswer(t testing.TB, a Answer, requestID string, decline error, replayed bool) {
	t.Helper()
	if a.Outcome.Decline != decline {
		t.Errorf("request %s: decline = %v, want %v", requestID, a.Outcome.Decline, decline)
	}
	if got, w := string(a.Response), want(requestID, decline); got != w {
		t.Errorf("request %s: response = %q, want %q", requestID, got, w)
	}
	if a.Replayed != replayed {
		t.Errorf("request %s: Replayed = %v, want %v", requestID, a.Replayed, replayed)
	}
}

// books is everything that money and idempotency leave in the file: every account's balance (wallets as
// "wallet:<id>"), the number of journal entries, statement lines, request records, transactions and credits.
type books struct {
	Balances  map[string]int64
	DayUsed   map[string]int64
	Status    map[string]Status
	Entries   int
	Lines     int
	Requests  int
	Txns      int
	Credits   int
	LastBatch uint64
}

func readBooks(t testing.TB, l *testLedger) books {
	t.Helper()
	b := books{Balances: map[string]int64{}, DayUsed: map[string]int64{}, Status: map[string]Status{}}
	err := l.view(func(r *rtx) error {
		if err := r.forEachWallet(func(k string, v []byte) error {
			w, err := decodeWallet(k, v)
			if err != nil {
				return err
			}
			b.Balances[walletAccount(w.ID)] = w.Balance
			b.DayUsed[w.ID] = w.DayDebited
			b.Status[w.ID] = w.Status
			return nil
		}); err != nil {
			return err
		}
		if err := r.accounts.ForEach(func(k, v []byte) error {
			b.Balances[string(k)] = int64(binary.BigEndian.Uint64(v))
			return nil
		}); err != nil {
			return err
		}
		b.Entries = r.journal.Stats().KeyN
		if err := r.journal.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			if e.Wallet != nil {
				b.Lines++ // a line of a wallet's statement
			}
			return nil
		}); err != nil {
			return err
		}
		b.Requests = r.requests.Stats().KeyN
		b.Txns = r.txns.Stats().KeyN
		b.Credits = r.credits.Stats().KeyN
		if v := r.meta.Get(keyBatch); len(v) == 8 {
			b.LastBatch = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read books: %v", err)
	}
	return b
}

// sameMoney fails unless no money moved between before and after: same balances, same journal and statements.
func sameMoney(t testing.TB, before, after books) {
	t.Helper()
	if fmt.Sprint(before.Balances) != fmt.Sprint(after.Balances) {
		t.Errorf("balances moved:\n\tbefore %v\n\tafter  %v", before.Balances, after.Balances)
	}
	if fmt.Sprint(before.DayUsed) != fmt.Sprint(after.DayUsed) {
		t.Errorf("daily usage moved:\n\tbefore %v\n\tafter  %v", before.DayUsed, after.DayUsed)
	}
	if before.Entries != after.Entries || before.Lines != after.Lines {
		t.Errorf("journal/statement grew: entries %d -> %d, lines %d -> %d", before.Entries, after.Entries,
			before.Lines, after.Lines)
	}
}

// balance returns one account's balance: a wallet id, or a system account such as "settlement:566".
func balance(t testing.TB, l *testLedger, account string) int64 {
	t.Helper()
	if !strings.Contains(account, ":") {
		w, err := l.Wallet(bg, account)
		if err != nil {
			t.Fatalf("Wallet(%s): %v", account, err)
		}
		return w.Balance
	}
	var v int64
	if err := l.view(func(r *rtx) error { v = r.systemBalance(account); return nil }); err != nil {
		t.Fatalf("balance %s: %v", account, err)
	}
	return v
}

// wantBalances checks balances by account (wallet id or system account).
func wantBalances(t testing.TB, l *testLedger, want map[string]int64) {
	t.Helper()
	for account, w := range want {
		if got := balance(t, l, account); got != w {
			t.Errorf("balance of %s = %d, want %d", account, got, w)
		}
	}
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// createBolt writes a plain bbolt file with the named buckets (and one key in each), as another program would.
func createBolt(t testing.TB, path string, buckets ...string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			b, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bolt.Update: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("bolt.Close: %v", err)
	}
}
