package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Delivery ids. A partner recognises a repeated event by the id we send it (the connector's transactionId, the
// virtual account's transactionReference) and answers a reused one as "already have it" (connector DUPLICATE_ID).
// Our transactionReferences live in separate namespaces (debit, reversal, lien debit), so the reference alone does
// not name one event: a lien debit or a reversal may carry the reference of another transaction. Every outbox
// record therefore gets its delivery id when it is enqueued, in the decision's own transaction, and keeps it:
//
//   - deterministic: chosen once and stored in the record, so every retry and every restart sends the same id;
//   - unique per partner: an index of the ids used (bucket outboxids, partner 0x00 id -> outbox id) is written in
//     the same transaction, and an id already in it is never chosen again;
//   - our transactionReference whenever that is free (the common case: the first event under a reference).
//
// On a collision the candidates are, in order, "<ref>~<kind>" and "<ref>~<kind>~2", "~3", ...; the first that is
// free is taken. A candidate longer than MaxDeliveryID bytes (references may have 64) is shortened to the start of
// the reference, "~" and the first 16 hex digits of the SHA-256 of the full candidate, which is still unique in
// practice and is checked against the index like any other.

// MaxDeliveryID is the longest delivery id: the connector's transactionId limit (50 characters).
const MaxDeliveryID = 50

var bucketOutboxIDs = []byte("outboxids") // partner 0x00 delivery id -> outbox id (8 bytes, big endian)

// legacyReversalSuffix is what deliveries before stored delivery ids appended to a reversal that reused its
// debit's reference; such ids are reserved when the index is built.
const legacyReversalSuffix = "-rev"

func deliveryIDKey(partner, id string) []byte { return []byte(partner + "\x00" + id) }

// deliveryIDCandidate is the n-th candidate id (0: the reference itself) of an event of kind under ref.
func deliveryIDCandidate(ref, kind string, n int) string {
	s := ref
	switch {
	case n == 1:
		s = ref + "~" + kind
	case n > 1:
		s = ref + "~" + kind + "~" + strconv.Itoa(n)
	}
	if len(s) <= MaxDeliveryID {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return cut(ref, MaxDeliveryID-17) + "~" + hex.EncodeToString(sum[:8])
}

// maxDeliveryIDCandidates bounds the search; reaching it means the index is full of one reference's ids, a bug.
const maxDeliveryIDCandidates = 10_000

// assignDeliveryID picks the delivery id of a new outbox record (outbox id) of partner and writes it in the index.
func (w *wtx) assignDeliveryID(partner, kind, ref string, id uint64) (string, error) {
	idx, err := w.outboxIDs()
	if err != nil {
		return "", err
	}
	for n := 0; n < maxDeliveryIDCandidates; n++ {
		cand := deliveryIDCandidate(ref, kind, n)
		if cand == "" || idx.Get(deliveryIDKey(partner, cand)) != nil {
			continue
		}
		return cand, idx.Put(deliveryIDKey(partner, cand), outboxKey(id))
	}
	return "", fmt.Errorf("outbox: no free delivery id for %s %s of %s", kind, ref, partner)
}

// outboxIDs returns the delivery id index, creating it on first use. A ledger whose outbox predates the index
// gets it built from its records: each record reserves the ids it was (or would be) delivered under then, its
// reference, and for a reversal that reused its debit's reference also that reference with the old suffix.
func (w *wtx) outboxIDs() (*bolt.Bucket, error) {
	if b := w.tx.Bucket(bucketOutboxIDs); b != nil {
		return b, nil
	}
	idx, err := w.tx.CreateBucket(bucketOutboxIDs)
	if err != nil {
		return nil, err
	}
	c := w.tx.Bucket(bucketOutbox).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var rec outboxRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil, fmt.Errorf("outbox record %x: %w", k, err)
		}
		ids := []string{rec.DeliveryID}
		if rec.DeliveryID == "" {
			ids = []string{rec.Reference}
			if rec.Kind == KindReversal && rec.Original == rec.Reference {
				ids = append(ids, rec.Reference+legacyReversalSuffix)
			}
		}
		for _, id := range ids {
			key := deliveryIDKey(rec.Partner, id)
			if idx.Get(key) != nil {
				continue // already taken by an older record (the collision this index exists to prevent)
			}
			if err := idx.Put(key, k); err != nil {
				return nil, err
			}
		}
	}
	return idx, nil
}
