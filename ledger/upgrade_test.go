package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// stmtLineV1Full is a format-1 statement line as format 1 wrote it.
type stmtLineV1Full struct {
	Seq       uint64 `json:"seq"`
	Time      int64  `json:"time"`
	Kind      string `json:"kind"`
	Reference string `json:"reference"`
	Amount    int64  `json:"amount"`
	Balance   int64  `json:"balance"`
	Narration string `json:"narration,omitempty"`
}

// downgradeToV1 rewrites a format-2 file as format 1 laid it out: the statement in the stmt bucket, JSON journal
// entries without links, JSON transactions, JSON wallet records without statement heads, the old format marker.
func downgradeToV1(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		stmt, err := tx.CreateBucket(bucketStmtV1)
		if err != nil {
			return err
		}
		journal := tx.Bucket(bucketJournal)
		type kv struct{ k, v []byte }
		var rewrite []kv
		err = journal.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			if e.Wallet != nil {
				id := e.Wallet.ID
				line := stmtLineV1Full{Seq: e.Seq, Time: e.Time.UnixNano(), Kind: e.Kind, Reference: e.Reference,
					Amount: walletDelta(e, id), Balance: e.Wallet.Balance, Narration: e.Narration}
				key := binary.BigEndian.AppendUint64(append([]byte(id), 0), e.Seq)
				if err := putJSON(stmt, key, line); err != nil {
					return err
				}
				e.Wallet = nil
			}
			raw, _ := json.Marshal(e) // format 1 wrote every entry in JSON
			rewrite = append(rewrite, kv{append([]byte(nil), k...), raw})
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range rewrite {
			if err := journal.Put(r.k, r.v); err != nil {
				return err
			}
		}
		txns := tx.Bucket(bucketTxns) // format 1 wrote transactions in JSON too
		var txnKeys, txnJSON [][]byte
		if err := txns.ForEach(func(k, v []byte) error {
			x, err := decodeTxn(v)
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(x)
			txnKeys, txnJSON = append(txnKeys, bytes.Clone(k)), append(txnJSON, raw)
			return nil
		}); err != nil {
			return err
		}
		for i, k := range txnKeys {
			if err := txns.Put(k, txnJSON[i]); err != nil {
				return err
			}
		}
		wallets := tx.Bucket(bucketWallets)
		var ids []string
		_ = wallets.ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
		for _, id := range ids { // format 1 stored wallets in JSON, without a statement head
			w, err := decodeWallet(id, wallets.Get([]byte(id)))
			if err != nil {
				return err
			}
			w.Last = 0
			raw, _ := json.Marshal(w)
			if err := wallets.Put([]byte(id), raw); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, []byte(formatV1))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// closeAsV1 closes the test ledger, turns its file back into format 1 and opens it with bbolt alone, for a test to
// take the upgrade a step at a time or damage what it will read.
func closeAsV1(t *testing.T, l *testLedger) *bolt.DB {
	t.Helper()
	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	downgradeToV1(t, l.path)
	db, err := bolt.Open(l.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// statements reads every wallet's whole statement, three lines a page.
func statements(t *testing.T, l *testLedger, ids []string) map[string][]StatementLine {
	t.Helper()
	all := map[string][]StatementLine{}
	for _, id := range ids {
		var before uint64
		for {
			lines, next, err := l.Statement(bg, id, before, 3)
			if err != nil {
				t.Fatalf("Statement(%s, %d): %v", id, before, err)
			}
			all[id] = append(all[id], lines...)
			if next == 0 {
				break
			}
			before = next
		}
	}
	return all
}

// A format-1 ledger is upgraded in place by Open, resuming an upgrade a crash cut short, and keeps every balance,
// every statement line and a green audit.
func TestUpgradeFromFormat1(t *testing.T) {
	defer func(n int) { upgradeChunk = n }(upgradeChunk)
	upgradeChunk = 2 // several transactions for the 35 statement lines and 5 wallets

	l := openTest(t, withNoSync())
	ids := []string{"a", "b", "b-1", "c"} // "b-1" sorts right after the stmt keys of "b"
	for _, id := range ids {
		mustWallet(t, l, id, "566", 0)
	}
	mustWallet(t, l, "idle", "566", 0) // no statement at all
	for i := range 5 {
		for j, id := range ids[:3] {
			mustCredit(t, l, id, int64(1_000+i*10+j))
			mustDebit(t, l, dreq(fmt.Sprintf("q%d%d", i, j), fmt.Sprintf("d%d%d", i, j), id, 100, 3), nil)
		}
	}
	mustReverse(t, l, rreq("qr", "r1", "d00", "a", 40), nil)
	mustCredit(t, l, "c", 5_000)
	mustPlace(t, l, lpreq("ql1", "lien-1", "c", 700, 0), nil) // a memo line: holds move no money
	mustLienDebit(t, l, ldreq("ql2", "lien-d1", "lien-1", "c", 700), nil)
	wantStatements := statements(t, l, append(ids, "idle"))
	wantBooks := readBooks(t, l)
	if c := wantStatements["c"]; len(c) != 3 || c[1].Kind != KindLien || c[1].Amount != 0 || len(wantStatements["idle"]) != 0 {
		t.Fatalf("statements before: %+v", wantStatements)
	}
	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}

	downgradeToV1(t, l.path)
	if _, err := CheckFile(bg, l.path, 0); !errors.Is(err, ErrNotLedger) || !strings.Contains(err.Error(), "upgraded in place") {
		t.Errorf("CheckFile(format 1) = %v; want a refusal that says how it is upgraded", err)
	}
	v1, err := os.ReadFile(l.path)
	if err != nil {
		t.Fatal(err)
	}
	// Crashes at several points of the upgrade: Open must resume, not start again or stop.
	for _, crash := range []struct {
		name           string
		links, wallets int // upgrade steps done before the crash (-1: all of them)
	}{{"before any step", 0, 0}, {"after one link step", 1, 0}, {"after the links", -1, 0},
		{"after one wallet step", -1, 1}} {
		t.Run(crash.name, func(t *testing.T) {
			if err := os.WriteFile(l.path, v1, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(l.path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range []struct {
				step func(*bolt.DB, int) (bool, error)
				n    int
			}{{upgradeStepV1, crash.links}, {convertWalletsStepV1, crash.wallets}} {
				for i := 0; i != st.n; i++ {
					done, err := st.step(db, upgradeChunk)
					if err != nil {
						t.Fatal(err)
					}
					if done {
						if st.n > 0 {
							t.Fatalf("the upgrade finished a step after %d transactions: make the ledger bigger", i+1)
						}
						break
					}
				}
			}
			_ = db.Close()

			l.reopen()
			defer l.Ledger.Close()
			rep, err := l.Audit(bg)
			if err != nil || !rep.OK {
				t.Fatalf("audit after the upgrade: %+v, %v", rep, err)
			}
			if got := statements(t, l, append(ids, "idle")); !reflect.DeepEqual(got, wantStatements) {
				t.Errorf("statements after the upgrade:\n\tgot  %+v\n\twant %+v", got, wantStatements)
			}
			if got := readBooks(t, l); !reflect.DeepEqual(got, wantBooks) {
				t.Errorf("books after the upgrade:\n\tgot  %+v\n\twant %+v", got, wantBooks)
			}
			_ = l.db.View(func(tx *bolt.Tx) error {
				meta := tx.Bucket(bucketMeta)
				if tx.Bucket(bucketStmtV1) != nil || meta.Get(keyUpgrade) != nil || meta.Get(keyUpgradeWallets) != nil ||
					string(meta.Get(keyFormat)) != formatID {
					t.Errorf("after the upgrade: stmt bucket %v, cursors %q %q, format %q", tx.Bucket(bucketStmtV1) != nil,
						meta.Get(keyUpgrade), meta.Get(keyUpgradeWallets), meta.Get(keyFormat))
				}
				return tx.Bucket(bucketWallets).ForEach(func(k, v []byte) error {
					if len(v) == 0 || v[0] != walletCodecV1 {
						t.Errorf("wallet %s still stored as %q", k, v)
					}
					return nil
				})
			})
			// The ledger carries on: new movements chain onto the upgraded statements, and a debit recorded in
			// JSON by format 1 is reversed through its record.
			mustDebit(t, l, dreq("after", "after", "a", 10, 0), nil)
			mustReverse(t, l, rreq("after-r", "after-r1", "d11", "b", 20), nil)
			if lines, _, err := l.Statement(bg, "b", 0, 1); err != nil || len(lines) != 1 || lines[0].Reference != "after-r1" ||
				lines[0].Amount != 20 || lines[0].Balance != wantStatements["b"][0].Balance+20 {
				t.Errorf("statement after reversing an upgraded debit: %+v, %v", lines, err)
			}
			if lines, _, err := l.Statement(bg, "a", 0, 2); err != nil || len(lines) != 2 || lines[0].Reference != "after" ||
				lines[1].Seq != wantStatements["a"][0].Seq || lines[0].Balance != lines[1].Balance-10 {
				t.Errorf("statement after a new debit: %+v, %v", lines, err)
			}
		})
	}
}

// A cursor that names no line of the wallet (another wallet's entry, or beyond its newest) still pages correctly.
func TestStatementForeignCursor(t *testing.T) {
	l := openTest(t, withNoSync())
	mustWallet(t, l, "w1", "566", 0)
	mustWallet(t, l, "w2", "566", 0)
	for i := range 4 {
		mustCredit(t, l, "w1", int64(10+i)) // entries 1, 3, 5, 7
		mustCredit(t, l, "w2", 1)           // entries 2, 4, 6, 8
	}
	for _, tc := range []struct {
		before uint64
		want   []uint64
	}{{0, []uint64{7, 5, 3, 1}}, {1 << 40, []uint64{7, 5, 3, 1}}, {9, []uint64{7, 5, 3, 1}}, {7, []uint64{5, 3, 1}},
		{6, []uint64{5, 3, 1}}, {5, []uint64{3, 1}}, {3, []uint64{1}}, {2, []uint64{1}}, {1, nil}} {
		lines, next, err := l.Statement(bg, "w1", tc.before, 10)
		var got []uint64
		for _, line := range lines {
			got = append(got, line.Seq)
		}
		if err != nil || next != 0 || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Statement(w1, before %d) = %v, next %d, %v; want %v", tc.before, got, next, err, tc.want)
		}
	}
}

// A damaged link that does not lead to an older entry is an error for Statement, never a page of repeated lines or a
// walk that does not end (it would hold its read transaction, and with it Close and the writer's next remap).
func TestStatementBrokenChain(t *testing.T) {
	for _, prev := range []uint64{2, 3, 1 << 40} {
		t.Run(fmt.Sprintf("prev %d", prev), func(t *testing.T) {
			l := openTest(t, withNoSync(), withoutAudit())
			mustWallet(t, l, "w1", "566", 0)
			mustCredit(t, l, "w1", 100) // entry 1
			mustCredit(t, l, "w1", 50)  // entry 2
			corrupt(t, l, editEntry(2, func(e *Entry) { e.Wallet.Prev = prev }))
			// Every walk that crosses entry 2's link fails: from the head (0), from a cursor that is not the wallet's
			// (1: the walk starts at the head) and from entry 2 itself (3). A page below it (2) never reads the link.
			for _, before := range []uint64{0, 1, 3} {
				lines, next, err := l.Statement(bg, "w1", before, 10)
				if err == nil || !strings.Contains(err.Error(), "not to an older entry") {
					t.Errorf("Statement(w1, before %d) = %d lines, next %d, %v; want the broken link named", before,
						len(lines), next, err)
				}
			}
			if lines, next, err := l.Statement(bg, "w1", 2, 10); err != nil || len(lines) != 1 || lines[0].Seq != 1 || next != 0 {
				t.Errorf("Statement(w1, before 2) = %+v, next %d, %v; want entry 1 alone", lines, next, err)
			}
			if err := l.Ledger.Close(); err != nil {
				t.Errorf("Close after reading the broken chain: %v", err)
			}
		})
	}
}

// From the upgrade's first transaction the file says it is being upgraded, so that the release before format 2
// refuses it instead of serving it as format 1 (empty statements, lines the upgrade would no longer read); read-only
// opens refuse it too, and Open finishes it.
func TestUpgradeInProgressMarker(t *testing.T) {
	defer func(n int) { upgradeChunk = n }(upgradeChunk)
	upgradeChunk = 1
	l := openTest(t, withNoSync())
	mustWallet(t, l, "a", "566", 0)
	mustCredit(t, l, "a", 1_000)
	mustCredit(t, l, "a", 10)
	db := closeAsV1(t, l)
	if done, err := upgradeStepV1(db, upgradeChunk); err != nil || done {
		t.Fatalf("first link step: done %v, %v", done, err)
	}
	var format string
	_ = db.View(func(tx *bolt.Tx) error { format = string(tx.Bucket(bucketMeta).Get(keyFormat)); return nil })
	_ = db.Close()
	if format != formatUpgrading {
		t.Errorf("after the upgrade's first transaction the file says %q, want %q", format, formatUpgrading)
	}
	if _, err := CheckFile(bg, l.path, 0); !errors.Is(err, ErrNotLedger) || !strings.Contains(err.Error(), "upgraded in place") {
		t.Errorf("CheckFile(half upgraded) = %v; want a refusal that says how it is upgraded", err)
	}
	l.reopen() // finishes the upgrade; the cleanup audits it
	if lines, _, err := l.Statement(bg, "a", 0, 10); err != nil || len(lines) != 2 || lines[0].Balance != 1_010 {
		t.Errorf("statement after the upgrade finished: %+v, %v", lines, err)
	}
}

// An upgrade that meets a statement line without its journal entry stops, says so, and Open refuses the file.
func TestUpgradeMissingEntry(t *testing.T) {
	l := openTest(t, withNoSync(), withoutAudit())
	mustWallet(t, l, "a", "566", 0)
	mustCredit(t, l, "a", 1_000)
	db := closeAsV1(t, l)
	_ = db.Update(func(tx *bolt.Tx) error {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], 1)
		return tx.Bucket(bucketJournal).Delete(k[:])
	})
	_ = db.Close()
	if _, err := Open(l.path, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `statement line 1 of wallet "a": its journal entry is missing`) {
		t.Errorf("Open = %v; want the missing entry named", err)
	}
}
