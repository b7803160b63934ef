package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Format 1 kept every wallet's statement in a bucket of its own, "stmt" (walletId 0x00 sequence -> line), and its
// wallet records in JSON. Each movement then wrote one more page, at a random place in the file: half of the bytes
// a debit wrote. Format 2 chains the statement through the journal instead (Entry.Wallet, walletRecord.Last) and
// stores wallet records in binary (walletcodec.go). Open upgrades a format-1 file in place, before the writer
// starts, in transactions of upgradeChunk lines or wallets: an upgrade cut short by a crash resumes where its last
// transaction ended, and linking an entry twice writes the same bytes.
const formatV1 = "walletgate-ledger/1"

// formatUpgrading marks a file part-way through its upgrade, from the upgrade's first transaction to its last:
// neither layout, so the release before format 2 refuses it (it would serve it as format 1, with empty statements,
// and write statement lines the upgrade no longer reads), and only a release with this upgrade finishes it.
const formatUpgrading = "walletgate-ledger/1-upgrading-to-2"

var (
	bucketStmtV1 = []byte("stmt")
	keyUpgrade   = []byte("upgrade") // meta: the last format-1 statement key linked into the journal

	keyUpgradeWallets = []byte("upgradewallets") // meta: the first format-1 wallet record not yet converted
)

// upgradeChunk is how many statement lines one upgrade transaction links (a variable for the tests).
var upgradeChunk = 20_000

// stmtLineV1 is the part of a format-1 statement line the upgrade needs: the rest is in the journal entry.
type stmtLineV1 struct {
	Seq     uint64 `json:"seq"`
	Balance int64  `json:"balance"`
}

func upgradeV1(db *bolt.DB) error {
	for _, step := range []func(*bolt.DB, int) (bool, error){upgradeStepV1, convertWalletsStepV1} {
		for {
			done, err := step(db, upgradeChunk)
			if err != nil {
				return fmt.Errorf("upgrade from %s: %w", formatV1, err)
			}
			if done {
				break
			}
		}
	}
	return nil
}

// upgradeStepV1 links up to n statement lines, in key order (wallet by wallet, oldest first), into the journal. The
// transaction that links the last one also drops the stmt bucket. Wallet records are still JSON here.
func upgradeStepV1(db *bolt.DB, n int) (done bool, err error) {
	err = db.Update(func(tx *bolt.Tx) error {
		meta, journal, wallets := tx.Bucket(bucketMeta), tx.Bucket(bucketJournal), tx.Bucket(bucketWallets)
		if err := meta.Put(keyFormat, []byte(formatUpgrading)); err != nil {
			return err
		}
		stmt := tx.Bucket(bucketStmtV1)
		if stmt == nil { // linked before a crash cut the upgrade short
			done = true
			return nil
		}
		var (
			wallet string // the wallet whose lines are being linked
			prev   uint64 // its last line linked so far
			last   []byte // the last key linked
		)
		setLast := func() error {
			if wallet == "" {
				return nil
			}
			var w walletRecord
			ok, err := getJSON(wallets, []byte(wallet), &w)
			if err != nil || !ok {
				return fmt.Errorf("statement of wallet %q: no readable wallet record (%v)", wallet, err)
			}
			w.Last = prev
			return putJSON(wallets, []byte(wallet), &w)
		}
		c := stmt.Cursor()
		k, v := c.First()
		if from := meta.Get(keyUpgrade); from != nil {
			id, seq, ok := splitStmtKeyV1(from)
			if !ok {
				return fmt.Errorf("%w: upgrade cursor %x", ErrCorrupt, from)
			}
			wallet, prev = id, seq
			if k, v = c.Seek(from); bytes.Equal(k, from) {
				k, v = c.Next()
			}
		}
		for i := 0; k != nil && i < n; k, v = c.Next() {
			id, seq, ok := splitStmtKeyV1(k)
			if !ok {
				return fmt.Errorf("%w: statement key %x", ErrCorrupt, k)
			}
			if id != wallet {
				if err := setLast(); err != nil {
					return err
				}
				wallet, prev = id, 0
			}
			var line stmtLineV1
			if err := json.Unmarshal(v, &line); err != nil || line.Seq != seq {
				return fmt.Errorf("%w: statement line %x (%v)", ErrCorrupt, k, err)
			}
			var key [8]byte
			binary.BigEndian.PutUint64(key[:], seq)
			e, ok, err := getEntry(journal, key[:])
			switch {
			case err != nil:
				return fmt.Errorf("statement line %d of wallet %q: %w", seq, wallet, err)
			case !ok:
				return fmt.Errorf("%w: statement line %d of wallet %q: its journal entry is missing", ErrCorrupt, seq, wallet)
			}
			e.Wallet = &EntryWallet{ID: wallet, Prev: prev, Balance: line.Balance}
			if err := putEntry(journal, key[:], e); err != nil {
				return err
			}
			prev, last = seq, k
			i++
		}
		if k != nil {
			return meta.Put(keyUpgrade, bytes.Clone(last))
		}
		if err := setLast(); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketStmtV1); err != nil {
			return err
		}
		done = true
		return meta.Delete(keyUpgrade)
	})
	return done, err
}

// convertWalletsStepV1 rewrites up to n format-1 wallet records (JSON, which begins with '{') in the binary form of
// walletcodec.go, in key order from where the last step stopped. The transaction that converts the last one writes
// the new format marker.
func convertWalletsStepV1(db *bolt.DB, n int) (done bool, err error) {
	err = db.Update(func(tx *bolt.Tx) error {
		meta, wallets := tx.Bucket(bucketMeta), tx.Bucket(bucketWallets)
		c := wallets.Cursor()
		k, v := c.First()
		if from := meta.Get(keyUpgradeWallets); from != nil {
			k, v = c.Seek(from)
		}
		type converted struct{ id, raw []byte }
		var batch []converted
		for ; k != nil && len(batch) < n; k, v = c.Next() {
			if len(v) > 0 && v[0] != '{' {
				continue // already converted
			}
			var w walletRecord
			if err := json.Unmarshal(v, &w); err != nil || w.ID != string(k) {
				return fmt.Errorf("%w: wallet %q: undecodable (%v)", ErrCorrupt, k, err)
			}
			batch = append(batch, converted{bytes.Clone(k), encodeWallet(&w)})
		}
		for _, c := range batch { // not while the cursor walks the bucket
			if err := wallets.Put(c.id, c.raw); err != nil {
				return err
			}
		}
		if k != nil {
			return meta.Put(keyUpgradeWallets, bytes.Clone(k))
		}
		if err := meta.Delete(keyUpgradeWallets); err != nil {
			return err
		}
		done = true
		return meta.Put(keyFormat, []byte(formatID))
	})
	return done, err
}

// splitStmtKeyV1 splits a format-1 statement key: walletId 0x00 sequence(8).
func splitStmtKeyV1(k []byte) (wallet string, seq uint64, ok bool) {
	if len(k) < 10 || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[:len(k)-9]), binary.BigEndian.Uint64(k[len(k)-8:]), true
}
