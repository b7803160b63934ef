package ledger

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// The wallet log (ledger format 3).
//
// Every debit changes its wallet's record. Written into the wallets bucket, that is a leaf page of a B-tree keyed
// by walletId, plus the branch above it, rewritten by bbolt's copy-on-write commit at a free page wherever one
// lies: with a million wallets, a batch of ~34 debits wrote ~34 leaves and ~30 branches at ~77 separate places of
// the file, and the disk charges by the place, not the byte (README, "Performance", third round).
//
// So a commit does not write the records it changed into the wallets bucket. It appends them, all in one value
// under the batch's number, to the walletlog bucket: an append, on the pages next to the last commit's. The
// wallets bucket catches up in rounds: when a round starts, the writer takes every wallet whose newest record is
// only in the log ("pending"), sorted by id, and copies a share of them into the wallets bucket in each of the next
// commits (walletRoundCommits commits for the round; more per commit when many are pending), each with its record
// as of that commit. A wallet debited several times in a round costs its leaf once. When the round's last wallet
// is copied, every log value written before the round started is superseded and is deleted, a few per commit.
//
// On disk, then, a wallet's record is its newest value in the log if it has one, else its value in the wallets
// bucket; Open reads the whole log (a few rounds of commits) to rebuild the pending set. Nothing here changes what a
// commit makes durable or when: the log value is written in the same transaction as the journal entries it
// reflects.
//
// In memory, versions holds the records of pending wallets, so that the writer reads a wallet without opening the
// log. Read transactions see the file as of one batch (their snapshot) and must see the records of that batch, not
// newer ones (the audit compares them with the journal in the same snapshot): a version carries its batch, a reader
// takes the newest version not after its snapshot, and the writer keeps older versions while any reader is open.
var bucketWalletLog = []byte("walletlog") // batch (8 bytes, big endian) -> the wallet records it changed

// walletRoundCommits is how many commits a round of copying pending wallets into the wallets bucket spreads over.
// Longer rounds let more debits share a wallet's copy and keep more values in the log and more records in memory.
const walletRoundCommits = 2048

// walletPendingSoftMax: with more pending wallets than this at its start, a round is shorter in proportion, so that
// the records held in memory (~150 bytes each) and Open's replay of the log stay bounded when, say, a million wallets
// are created in a row. Debits spread evenly over a million wallets at 10,000 a second leave ~70,000 pending per
// round: below it, so their copies stay spread over the round's commits. A variable for the tests.
var walletPendingSoftMax = 1 << 17

// walletPruneMax bounds the superseded log values one commit deletes.
const walletPruneMax = 64

type walletVersion struct {
	batch uint64
	raw   []byte // encodeWallet's bytes; never modified
}

type walletLog struct {
	// commitMu is held by the writer, for writing, from the start of a commit until the versions of its batch are
	// in versions; a read transaction begins under it held for reading, so it never sees a batch whose versions are
	// not in memory yet, and is counted in readers before the writer can trim a version it may need. Nobody holds
	// it while waiting for anything else: bbolt's commit may wait for open read transactions (to grow the map).
	commitMu sync.RWMutex
	// mu guards versions: the writer changes it, after a commit, under mu; readers look up under mu held for
	// reading.
	mu       sync.RWMutex
	versions map[string][]walletVersion // records newer than the wallets bucket's (or equal), oldest first
	readers  atomic.Int64               // read transactions open with a snapshot (see Ledger.view)

	// Owned by the writer goroutine.
	pending    map[string]struct{} // wallets whose newest record is in the log only
	todo       []string            // this round's wallets, sorted; todo[next:] are still to copy
	next       int
	perCommit  int    // wallets copied per commit in this round
	roundStart uint64 // the first batch of this round: log values before it are superseded when todo is done
	pruneBelow uint64 // log values of batches before this one are superseded, and deleted a few per commit
	// untrimmed: wallets whose older versions are kept because a reader was open, with the batch that last copied
	// the wallet into the wallets bucket (0: not copied since); trimmed after the first commit with no reader open.
	untrimmed map[string]uint64
	round     int // commits per round (walletRoundCommits; tests shorten it)
}

func newWalletLog(round int) *walletLog {
	if round <= 0 {
		round = walletRoundCommits
	}
	return &walletLog{
		versions:  map[string][]walletVersion{},
		pending:   map[string]struct{}{},
		untrimmed: map[string]uint64{},
		round:     round,
	}
}

// encodeWalletLog lays out the records a batch changed: for each, in id order, the id's length (uvarint), the id,
// the record's length (uvarint) and the record.
func encodeWalletLog(staged map[string][]byte) []byte {
	ids := make([]string, 0, len(staged))
	size := 0
	for id, raw := range staged {
		ids = append(ids, id)
		size += len(id) + len(raw) + 4
	}
	slices.Sort(ids)
	out := make([]byte, 0, size)
	for _, id := range ids {
		out = binary.AppendUvarint(out, uint64(len(id)))
		out = append(out, id...)
		out = binary.AppendUvarint(out, uint64(len(staged[id])))
		out = append(out, staged[id]...)
	}
	return out
}

// decodeWalletLog calls fn with each id and record of a log value (raw may be bbolt memory: fn gets copies). A value
// that does not parse exactly, or holds a record decodeWallet refuses, is an error.
func decodeWalletLog(raw []byte, fn func(id string, rec []byte)) error {
	for len(raw) > 0 {
		var parts [2][]byte
		for i := range parts {
			n, w := binary.Uvarint(raw)
			if w <= 0 || n > uint64(len(raw)-w) {
				return fmt.Errorf("wallet log value is truncated")
			}
			parts[i], raw = raw[w:w+int(n)], raw[w+int(n):]
		}
		id := string(parts[0])
		rec := slices.Clone(parts[1])
		if _, err := decodeWallet(id, rec); err != nil {
			return err
		}
		fn(id, rec)
	}
	return nil
}

// load rebuilds versions and the pending set from the log, before the writer starts. Every wallet in the log is
// pending (some may be in the wallets bucket already, with the same record: copying them again is harmless), and
// the first round starts with the next batch.
func (g *walletLog) load(tx *bolt.Tx, batchSeq uint64) error {
	err := tx.Bucket(bucketWalletLog).ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("wallet log key %x", k)
		}
		batch := binary.BigEndian.Uint64(k)
		if batch > batchSeq {
			return fmt.Errorf("wallet log value of batch %d after the last batch, %d", batch, batchSeq)
		}
		return decodeWalletLog(v, func(id string, rec []byte) {
			g.versions[id] = []walletVersion{{batch: batch, raw: rec}}
			g.pending[id] = struct{}{}
		})
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	g.startRound(batchSeq + 1)
	return nil
}

// startRound makes every pending wallet this round's work, from batch start on.
func (g *walletLog) startRound(start uint64) {
	g.todo = g.todo[:0]
	for id := range g.pending {
		g.todo = append(g.todo, id)
	}
	slices.Sort(g.todo)
	g.next = 0
	g.roundStart = start
	round := g.round
	if n := len(g.pending); n > walletPendingSoftMax {
		round = max(1, int(int64(round)*int64(walletPendingSoftMax)/int64(n)))
	}
	g.perCommit = max(1, (len(g.todo)+round-1)/round)
}

// latest is the writer's look-up: the newest committed record of a pending wallet, nil for the others.
func (g *walletLog) latest(id string) []byte {
	if vs := g.versions[id]; len(vs) > 0 {
		return vs[len(vs)-1].raw
	}
	return nil
}

// at is a reader's look-up: the newest record of id not after batch snap, or nil when the wallets bucket of that
// snapshot has it.
func (g *walletLog) at(id string, snap uint64) []byte {
	g.mu.RLock()
	defer g.mu.RUnlock()
	vs := g.versions[id]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].batch <= snap {
			return vs[i].raw
		}
	}
	return nil
}

// idsAt lists, sorted, the wallets that have a record not after snap but may be missing from the wallets bucket.
func (g *walletLog) idsAt(snap uint64) []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var ids []string
	for id, vs := range g.versions {
		if len(vs) > 0 && vs[0].batch <= snap {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// beforeCommit runs in the writer inside the batch's transaction, after its operations: it appends the records they
// changed to the log, copies this commit's share of the round into the wallets bucket, and deletes superseded log
// values. It returns how many of the round's wallets it copied; nothing in memory changes until afterCommit.
func (g *walletLog) beforeCommit(tx *bolt.Tx, batch uint64, staged map[string][]byte) (copied int, err error) {
	log, wallets := tx.Bucket(bucketWalletLog), tx.Bucket(bucketWallets)
	log.FillPercent = 1.0 // it only appends
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], batch)
	if len(staged) > 0 {
		if err := log.Put(key[:], encodeWalletLog(staged)); err != nil {
			return 0, err
		}
	}
	end := min(len(g.todo), g.next+g.perCommit)
	for _, id := range g.todo[g.next:end] {
		raw, ok := staged[id]
		if !ok {
			raw = g.latest(id)
		}
		if raw == nil {
			return 0, fmt.Errorf("wallet log: pending wallet %q has no record", id)
		}
		if err := wallets.Put([]byte(id), raw); err != nil {
			return 0, err
		}
	}
	if g.pruneBelow > 0 {
		var old [][]byte
		c := log.Cursor()
		for k, _ := c.First(); k != nil && len(old) < walletPruneMax && binary.BigEndian.Uint64(k) < g.pruneBelow; k, _ = c.Next() {
			old = append(old, slices.Clone(k))
		}
		for _, k := range old {
			if err := log.Delete(k); err != nil {
				return 0, err
			}
		}
	}
	return end - g.next, nil
}

// afterCommit records a committed batch in memory; the writer calls it with commitMu held, before anyone can begin
// a read transaction that sees the batch.
func (g *walletLog) afterCommit(batch uint64, staged map[string][]byte, copied int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	readers := g.readers.Load() > 0
	if !readers && len(g.untrimmed) > 0 {
		for id, copiedAt := range g.untrimmed {
			vs := g.versions[id]
			switch {
			case len(vs) > 0 && vs[len(vs)-1].batch > copiedAt:
				g.versions[id] = append(vs[:0], vs[len(vs)-1])
			default:
				delete(g.versions, id)
			}
		}
		clear(g.untrimmed)
	}
	for id, raw := range staged {
		v := walletVersion{batch: batch, raw: raw}
		// The id may share its memory with the request it came from (a substring of its body), and assigning to a
		// map key that is there already stores the new string: the maps take a copy of their own every time, or
		// each pending wallet would keep a request alive (20 MB more live heap with 20,000 wallets in the log).
		id = strings.Clone(id)
		vs := g.versions[id]
		if readers && len(vs) > 0 {
			g.versions[id] = append(vs, v)
			g.untrimmed[id] = g.untrimmed[id] // keep any copy mark
		} else {
			g.versions[id] = append(vs[:0], v)
		}
		g.pending[id] = struct{}{}
	}
	for _, id := range g.todo[g.next : g.next+copied] {
		// The wallets bucket now has id's record as of this batch: versions up to it are no longer needed but by
		// readers of older snapshots.
		delete(g.pending, id)
		if readers {
			g.untrimmed[id] = batch
		} else {
			delete(g.versions, id)
		}
	}
	g.next += copied
	if g.next >= len(g.todo) {
		// Every wallet pending when the round started is in the wallets bucket with a record at least as new as any
		// log value written before the round: those values are superseded.
		g.pruneBelow = g.roundStart
		g.startRound(batch + 1)
	}
}
