package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// tamperWallet changes wallet id's record where it is read from: its newest value in the wallet log, or the wallets
// bucket when the log has none.
func tamperWallet(tx *bolt.Tx, id string, change func(*walletRecord)) error {
	log := tx.Bucket(bucketWalletLog)
	c := log.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		recs := map[string][]byte{}
		if err := decodeWalletLog(v, func(rid string, raw []byte) { recs[rid] = raw }); err != nil {
			return err
		}
		if raw, ok := recs[id]; ok {
			w, err := decodeWallet(id, raw)
			if err != nil {
				return err
			}
			change(w)
			recs[id] = encodeWallet(w)
			return log.Put(append([]byte(nil), k...), encodeWalletLog(recs))
		}
	}
	b := tx.Bucket(bucketWallets)
	w, err := decodeWallet(id, b.Get([]byte(id)))
	if err != nil {
		return err
	}
	change(w)
	return b.Put([]byte(id), encodeWallet(w))
}

// walletLogState reads what the file holds: the wallets bucket's records, the wallet log's newest record of each
// wallet, and the log's batch numbers.
func walletLogState(t *testing.T, l *testLedger) (bucket, logged map[string][]byte, batches []uint64) {
	t.Helper()
	bucket, logged = map[string][]byte{}, map[string][]byte{}
	err := l.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketWallets).ForEach(func(k, v []byte) error {
			bucket[string(k)] = append([]byte(nil), v...)
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketWalletLog).ForEach(func(k, v []byte) error {
			batches = append(batches, binary.BigEndian.Uint64(k))
			return decodeWalletLog(v, func(id string, raw []byte) { logged[id] = raw })
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return bucket, logged, batches
}

func walletBalances(t *testing.T, l *testLedger, ids []string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, id := range ids {
		w, err := l.Wallet(context.Background(), id)
		if err != nil {
			t.Fatalf("Wallet(%s): %v", id, err)
		}
		out[id] = w.Balance
	}
	return out
}

// TestWalletLogKeepsRecordsOutOfTheBucket: a commit appends the wallet records it changed to the log, not to the
// wallets bucket, and a reopened ledger reads them from the log.
func TestWalletLogKeepsRecordsOutOfTheBucket(t *testing.T) {
	l := openTest(t, withNoSync())
	// A round copies at least one pending wallet per commit: with one debit per commit to 40 wallets in turn, the
	// last debited ones are still in the log alone at the end.
	ids := makeWallets(t, l, "w", 40, 10_000)
	for i := range 80 {
		mustDebit(t, l, dreq(fmt.Sprintf("q%d", i), fmt.Sprintf("d%d", i), ids[i%40], 100, 0), nil)
	}
	want := walletBalances(t, l, ids)
	for _, id := range ids {
		if want[id] != 10_000-2*100 {
			t.Fatalf("balance of %s = %d, want %d", id, want[id], 10_000-200)
		}
	}
	bucket, logged, _ := walletLogState(t, l)
	logOnly := 0
	for _, id := range ids {
		raw, ok := logged[id]
		if !ok {
			raw = bucket[id]
		} else if b, ok := bucket[id]; !ok || string(b) != string(raw) {
			logOnly++
		}
		w, err := decodeWallet(id, raw)
		if err != nil {
			t.Fatalf("the file has no record of %s: %v", id, err)
		}
		if w.Balance != want[id] {
			t.Errorf("the file's newest record of %s has balance %d, want %d", id, w.Balance, want[id])
		}
	}
	if logOnly == 0 {
		t.Errorf("every wallet's newest record is in the wallets bucket already: the debits wrote the bucket")
	}
	t.Logf("%d of %d wallets have their newest record in the log only", logOnly, len(ids))

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.reopen()
	if got := walletBalances(t, l, ids); !maps.Equal(got, want) {
		t.Errorf("balances after reopen = %v, want %v", got, want)
	}
	last := ids[len(ids)-1]
	mustDebit(t, l, dreq("q-after", "d-after", last, 50, 0), nil)
	if got := walletBalances(t, l, []string{last}); got[last] != want[last]-50 {
		t.Errorf("%s after a debit on the reopened ledger = %d, want %d", last, got[last], want[last]-50)
	}
}

// TestWalletLogRoundsCopyAndPrune: with rounds of 3 commits, every pending wallet reaches the wallets bucket with its
// newest record within two rounds, and log values older than a finished round are deleted.
func TestWalletLogRoundsCopyAndPrune(t *testing.T) {
	l := openTest(t, withNoSync(), withOptions(Options{walletRound: 3}))
	ids := makeWallets(t, l, "w", 12, 10_000)
	for i := range 60 {
		mustDebit(t, l, dreq(fmt.Sprintf("q%d", i), fmt.Sprintf("d%d", i), ids[i%12], 10, 0), nil)
	}
	// Commits that touch no wallet let the rounds finish.
	for i := range 40 {
		if _, err := l.Enquire(bg, ereq(fmt.Sprintf("e%d", i), "w00", "566")); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Transaction(bg, "d0"); err != nil {
			t.Fatal(err)
		}
		_ = i
	}
	for i := range 40 {
		mustWallet(t, l, fmt.Sprintf("x%02d", i), "566", 0) // new wallets: the log keeps moving
	}
	bucket, logged, batches := walletLogState(t, l)
	want := walletBalances(t, l, ids)
	for _, id := range ids {
		w, err := decodeWallet(id, bucket[id])
		if err != nil {
			t.Fatalf("wallet %s is not in the wallets bucket: %v", id, err)
		}
		if w.Balance != want[id] || want[id] != 10_000-50 {
			t.Errorf("wallets bucket: %s has %d, want %d (10,000 - 5 x 10)", id, w.Balance, want[id])
		}
		if _, ok := logged[id]; ok {
			t.Errorf("the log still holds %s, copied rounds ago", id)
		}
	}
	l.wlog.mu.RLock()
	pending, versions := len(l.wlog.pending), len(l.wlog.versions)
	l.wlog.mu.RUnlock()
	// 40 new wallets, one per commit, rounds of 3 commits: the log holds the last few rounds' values only.
	if len(batches) == 0 || len(batches) > 16 || pending > 16 || versions > 16 {
		t.Errorf("log values of batches %v, %d pending, %d versions in memory: rounds do not keep up", batches, pending, versions)
	}
}

// TestWalletLogSnapshots: readers see each wallet as of their own batch, while the writer logs, copies and trims
// under them; once they are gone, the writer trims what it kept for them.
func TestWalletLogSnapshots(t *testing.T) {
	g := newWalletLog(2)
	rec := func(balance int64) []byte { return encodeWallet(&walletRecord{Currency: "566", Balance: balance}) }
	balanceAt := func(id string, snap uint64) int64 {
		raw := g.at(id, snap)
		if raw == nil {
			return -1 // the wallets bucket's
		}
		w, err := decodeWallet(id, raw)
		if err != nil {
			t.Fatal(err)
		}
		return w.Balance
	}
	commit := func(batch uint64, staged map[string][]byte) int {
		copied := min(g.perCommit, len(g.todo)-g.next)
		g.afterCommit(batch, staged, copied)
		return copied
	}
	g.startRound(1)
	commit(1, map[string][]byte{"a": rec(100), "b": rec(200)}) // round of nothing ends; a, b pending
	if got := balanceAt("a", 1); got != 100 {
		t.Fatalf("a at 1 = %d, want 100", got)
	}
	g.readers.Add(1) // a reader of batch 1
	commit(2, map[string][]byte{"a": rec(90)})
	commit(3, map[string][]byte{"a": rec(80)}) // the round copies a and b by now
	if got, want := [...]int64{balanceAt("a", 1), balanceAt("a", 2), balanceAt("a", 3), balanceAt("b", 1)}, [...]int64{100, 90, 80, 200}; got != want {
		t.Errorf("with a reader open: a at 1, 2, 3 and b at 1 = %v, want %v", got, want)
	}
	if _, ok := g.pending["b"]; ok {
		t.Errorf("b still pending after a round of 2 commits")
	}
	g.readers.Add(-1)
	commit(4, nil)
	if got := balanceAt("b", 4); got != -1 {
		t.Errorf("b after its copy and the reader's end: a version in memory (%d), want the bucket's", got)
	}
	if vs := g.versions["a"]; len(vs) > 1 {
		t.Errorf("a keeps %d versions with no reader", len(vs))
	}
	if got := balanceAt("a", 4); got != 80 && got != -1 {
		t.Errorf("a at 4 = %d, want 80 or the bucket's", got)
	}
}

// TestWalletLogAuditsUnderLoad: audits (each a snapshot) run while debits commit and rounds copy wallets every
// commit; every one of them must balance.
func TestWalletLogAuditsUnderLoad(t *testing.T) {
	l := openTest(t, withNoSync(), withOptions(Options{walletRound: 1}))
	ids := makeWallets(t, l, "w", 8, 1_000_000)
	var wg sync.WaitGroup
	var debits atomic.Int64
	stop := make(chan struct{})
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := dreq(fmt.Sprintf("q%d-%d", c, i), fmt.Sprintf("d%d-%d", c, i), ids[(c+i)%8], 7, 1)
				if _, err := l.Debit(bg, d); err != nil {
					t.Error(err)
					return
				}
				debits.Add(1)
			}
		}()
	}
	for i := 0; i < 60 || debits.Load() < 200; i++ {
		rep, err := l.Audit(bg)
		if err != nil || !rep.OK {
			t.Errorf("audit under load: %+v, %v", rep, err)
			break
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d debits under the audits", debits.Load())
}

// TestFormat2Upgrade: a format-2 file (wallet records in the wallets bucket only, no log) opens as format 3 with
// the same balances, and older releases will refuse it.
func TestFormat2Upgrade(t *testing.T) {
	l := openTest(t, withNoSync())
	ids := []string{"a", "b", "c"}
	for _, id := range ids {
		mustWallet(t, l, id, "566", 0)
		mustCredit(t, l, id, 5_000)
	}
	mustDebit(t, l, dreq("q1", "d1", "a", 1_000, 10), nil)
	want := walletBalances(t, l, ids)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it format 2: fold the log into the wallets bucket and drop it.
	db, err := bolt.Open(l.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		wallets := tx.Bucket(bucketWallets)
		err := tx.Bucket(bucketWalletLog).ForEach(func(_, v []byte) error {
			return decodeWalletLog(v, func(id string, raw []byte) { _ = wallets.Put([]byte(id), raw) })
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketWalletLog); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, []byte(formatV2))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckFile(bg, l.path, 0); err == nil {
		t.Errorf("CheckFile took a format-2 file as it is")
	}
	l.reopen()
	if got := walletBalances(t, l, ids); !maps.Equal(got, want) {
		t.Errorf("balances after the upgrade = %v, want %v", got, want)
	}
	var format string
	_ = l.db.View(func(tx *bolt.Tx) error {
		format = string(tx.Bucket(bucketMeta).Get(keyFormat))
		return nil
	})
	if format != formatID {
		t.Errorf("format after Open = %q, want %q", format, formatID)
	}
	mustDebit(t, l, dreq("q2", "d2", "b", 500, 0), nil)
	if got := walletBalances(t, l, []string{"b"}); got["b"] != want["b"]-500 {
		t.Errorf("b = %d after a debit on the upgraded file, want %d", got["b"], want["b"]-500)
	}
}

// TestWalletLogCopiesIDs: the ids the wallet log keeps in memory do not share memory with the strings they came
// from, which may be substrings of a whole request: with 20,000 wallets in the log, that kept 20 MB of requests alive.
func TestWalletLogCopiesIDs(t *testing.T) {
	body := strings.Repeat("x", 4096) + "wallet-1" + strings.Repeat("y", 4096)
	id := body[4096 : 4096+len("wallet-1")]
	inBody := func(s string) bool {
		p, b := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(body)))
		return p >= b && p < b+uintptr(len(body))
	}
	if !inBody(id) {
		t.Fatal("the test's id does not share the body's memory")
	}
	g := newWalletLog(4)
	g.startRound(1)
	raw := encodeWallet(&walletRecord{Currency: "566", Balance: 1})
	for batch := uint64(1); batch <= 3; batch++ { // the second and third assignments hit a key already there
		g.afterCommit(batch, map[string][]byte{id: raw}, min(g.perCommit, len(g.todo)-g.next))
		g.readers.Store(int64(batch % 2)) // with and without a reader
		for k := range g.versions {
			if inBody(k) {
				t.Errorf("batch %d: versions keeps the caller's string", batch)
			}
		}
		for k := range g.pending {
			if inBody(k) {
				t.Errorf("batch %d: pending keeps the caller's string", batch)
			}
		}
		for k := range g.untrimmed {
			if inBody(k) {
				t.Errorf("batch %d: untrimmed keeps the caller's string", batch)
			}
		}
	}
}

// TestWalletLogDamagedValueRefused: a wallet log value that does not parse, or holds a record that does not decode,
// makes Open refuse the file (ErrCorrupt) without writing to it, and CheckFile refuse it too: a damaged record must
// never read as a wallet.
func TestWalletLogDamagedValueRefused(t *testing.T) {
	damages := map[string]func([]byte) []byte{
		"truncated":         func(v []byte) []byte { return v[:len(v)-3] },
		"trailing byte":     func(v []byte) []byte { return append(v, 0x01) },
		"record of version": func(v []byte) []byte { v[1+int(v[0])+1] = 0x7f; return v }, // the first record's version byte
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			l := openTest(t, withNoSync(), withoutAudit())
			makeWallets(t, l, "w", 3, 1_000)
			path := l.path
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				k, v := tx.Bucket(bucketWalletLog).Cursor().Last()
				if k == nil {
					return fmt.Errorf("the wallet log is empty")
				}
				return tx.Bucket(bucketWalletLog).Put(append([]byte(nil), k...), damage(append([]byte(nil), v...)))
			})
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			openRefused(t, path, ErrCorrupt)
			if _, err := CheckFile(bg, path, 0); err == nil {
				t.Errorf("CheckFile accepted a damaged wallet log value")
			}
		})
	}
}

// makeWallets opens n wallets prefix00, prefix01, ... in 566, each credited with balance, and returns their ids.
func makeWallets(t *testing.T, l *testLedger, prefix string, n int, balance int64) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%02d", prefix, i)
		mustWallet(t, l, ids[i], "566", 0)
		mustCredit(t, l, ids[i], balance)
	}
	return ids
}

// TestWalletLogRoundLength: a round spreads its wallets over walletRoundCommits commits, and over proportionally
// fewer once more than walletPendingSoftMax are pending.
func TestWalletLogRoundLength(t *testing.T) {
	defer func(v int) { walletPendingSoftMax = v }(walletPendingSoftMax)
	walletPendingSoftMax = 1000
	for _, tc := range []struct{ pending, round, perCommit int }{
		{0, 100, 1},
		{10, 100, 1},  // at least one a commit
		{250, 100, 3}, // 250 over 100 commits
		{1000, 100, 10},
		{4000, 100, 160}, // 4x the soft maximum: rounds of 25 commits
		{100000, 100, 100000},
	} {
		g := newWalletLog(tc.round)
		for i := range tc.pending {
			g.pending[fmt.Sprint(i)] = struct{}{}
		}
		g.startRound(7)
		if g.perCommit != tc.perCommit || len(g.todo) != tc.pending || g.roundStart != 7 || g.next != 0 {
			t.Errorf("%d pending, rounds of %d: %d a commit (want %d), todo %d, start %d, next %d", tc.pending, tc.round,
				g.perCommit, tc.perCommit, len(g.todo), g.roundStart, g.next)
		}
		if !slices.IsSorted(g.todo) {
			t.Errorf("%d pending: todo is not sorted", tc.pending)
		}
	}
}
