package ledger

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The durable outbox. Every switch decision that partners must hear about (CONTRACT 5) writes one outbox record per
// partner that cares, in the same transaction as the decision and its movement: a record exists if and only if the
// decision committed, so nothing is lost on a crash and nothing is reported that did not happen. Which partners
// care is the wiring's business (Options.Route); the ledger only knows partner names.
//
// A record is delivered in order within its lane (partner and wallet) by a dispatcher outside the ledger, which
// reads records only once their batch is durable (OutboxHeads) and writes its bookkeeping back through the writer
// (RecordDelivery, RetryOutbox), like every other write.

var (
	bucketOutbox      = []byte("outbox")   // id (8 bytes, big endian) -> outboxRecord (JSON)
	bucketOutboxQueue = []byte("outboxq")  // state byte ('p' pending, 'd' dead) + id -> partner 0x00 walletId
	bucketOutboxRef   = []byte("outboxr")  // namespace byte + transactionReference 0x00 id -> nothing
	bucketTopups      = []byte("topups")   // top-up reference -> topupRecord (JSON)
	bucketCashouts    = []byte("cashouts") // cash-out reference -> cashoutRecord (JSON)
)

// Outbox record states.
const (
	OutboxPending   = "pending"   // waiting for its (next) delivery attempt
	OutboxDelivered = "delivered" // the partner acknowledged it; final
	OutboxDead      = "dead"      // given up on; RetryOutbox makes it pending again
)

const (
	queuePending byte = 'p'
	queueDead    byte = 'd'
)

// Event is a committed switch decision that partners may be told about. The ledger builds one for every new debit
// decision (approved or declined), for every reversal that moved money, and for every new lien debit of a positive
// amount that was declined or moved money (the completion of a lien is a final card debit); replays, repeated
// references, reversals that moved nothing, place-liens and releases produce no event.
type Event struct {
	Kind      string // KindDebit, KindReversal or KindLienDebit
	WalletID  string
	Reference string // the transactionReference of the debit, reversal or lien debit
	Original  string // reversal: the debit's transactionReference; lien debit: the place-lien's
	Currency  string // ISO 4217 numeric
	// Amount is the principal: debit and lien debit, what was charged (or asked, when declined); reversal, what was
	// given back.
	Amount int64
	// Fee is the fee: debit, charged with the principal (or asked); lien debit, the place-lien's fee charged with the
	// principal (declined: the fee the lien debit named); reversal, given back (only by a full reversal).
	Fee int64
	// Decline is nil for an approved debit or lien debit (and every reversal event), else the decline reason.
	Decline error
	// Full is true for a reversal that left the debit fully reversed (CONTRACT 1.7, amount 0 or what remained).
	Full bool
	// VirtualAccountID is the wallet's virtual account at the time of the decision ("" when it has none or the
	// wallet does not exist).
	VirtualAccountID string
	Details          *Details
	Time             time.Time
}

// Approved reports whether the event reports an approval (every reversal event does).
func (e Event) Approved() bool { return e.Decline == nil }

// Route returns the names of the partners that must receive e (none: nothing is enqueued). It runs inside the
// writer's transaction: it must be fast, pure and safe for concurrent use.
type Route func(e Event) []string

// OutboxEvent is one outbox record: an event for one partner, and its delivery bookkeeping.
type OutboxEvent struct {
	ID      uint64 // increasing in commit order
	Partner string
	// DeliveryID is the id the partner knows the event by (connector transactionId, virtual-account
	// transactionReference): chosen at enqueue, unique per partner, the Reference whenever that was free (see
	// MaxDeliveryID). Empty only for records written before delivery ids were stored.
	DeliveryID string
	Event
	State       string    // OutboxPending, OutboxDelivered, OutboxDead
	Attempts    int       // delivery attempts made (reset by RetryOutbox)
	NextAttempt time.Time // pending: not before this time
	LastError   string    // the last failed attempt's error, as the dispatcher described it
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// outboxRecord is the stored form of an OutboxEvent.
type outboxRecord struct {
	Partner          string   `json:"partner"`
	DeliveryID       string   `json:"deliveryId,omitempty"`
	Kind             string   `json:"kind"`
	WalletID         string   `json:"walletId"`
	Reference        string   `json:"reference"`
	Original         string   `json:"original,omitempty"`
	Currency         string   `json:"currency"`
	Amount           int64    `json:"amount"`
	Fee              int64    `json:"fee,omitempty"`
	Decline          string   `json:"decline,omitempty"`
	Full             bool     `json:"full,omitempty"`
	VirtualAccountID string   `json:"virtualAccountId,omitempty"`
	Details          *Details `json:"details,omitempty"`
	EventTime        int64    `json:"eventTime"`
	Batch            uint64   `json:"batch"` // the batch that wrote or last re-queued it: readable once durable
	State            string   `json:"state"`
	Attempts         int      `json:"attempts,omitempty"`
	NextAttempt      int64    `json:"nextAttempt,omitempty"`
	LastError        string   `json:"lastError,omitempty"`
	CreatedAt        int64    `json:"createdAt"`
	UpdatedAt        int64    `json:"updatedAt"`
}

func (r *outboxRecord) event(id uint64) OutboxEvent {
	return OutboxEvent{
		ID: id, Partner: r.Partner, DeliveryID: r.DeliveryID,
		Event: Event{Kind: r.Kind, WalletID: r.WalletID, Reference: r.Reference, Original: r.Original,
			Currency: r.Currency, Amount: r.Amount, Fee: r.Fee, Decline: declineByName(r.Decline), Full: r.Full,
			VirtualAccountID: r.VirtualAccountID, Details: r.Details, Time: time.Unix(0, r.EventTime).UTC()},
		State: r.State, Attempts: r.Attempts, NextAttempt: unixOrZero(r.NextAttempt), LastError: r.LastError,
		CreatedAt: time.Unix(0, r.CreatedAt).UTC(), UpdatedAt: time.Unix(0, r.UpdatedAt).UTC(),
	}
}

func unixOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func outboxKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func queueKey(state byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{state}, id)
}

func laneValue(partner, walletID string) []byte { return []byte(partner + "\x00" + walletID) }

func outboxRefKey(ns byte, ref string, id uint64) []byte {
	k := make([]byte, 0, 1+len(ref)+9)
	k = append(k, ns)
	k = append(k, ref...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, id)
}

// MaxOutboxError bounds the stored error text of a failed attempt.
const MaxOutboxError = 512

// enqueue writes the outbox records of a decision that was just stored under (ns, rec). It runs in decide, so
// replays and repeated references, which never reach decide, enqueue nothing.
func (w *wtx) enqueue(ns byte, rec *txnRecord, decline error) error {
	route := w.l.opts.Route
	if route == nil {
		return nil
	}
	ev := Event{Kind: rec.Kind, WalletID: rec.WalletID, Reference: rec.Reference, Original: rec.Original,
		Currency: rec.Currency, Amount: rec.Amount, Fee: rec.Fee, Decline: decline, Details: rec.Details, Time: w.now}
	switch ns {
	case nsDebit: // every new decision, a declined one included (its reversal may have come first: 12)
	case nsLienDebit:
		if rec.Amount == 0 || (decline == nil && rec.Entry == 0) {
			// A release moves no money, and the connector never heard of the hold it gives back; an acknowledged
			// lien debit of a lien already completed moved nothing. Neither is reported.
			return nil
		}
		lien, err := w.txn(nsLien, rec.Original)
		if err != nil {
			return err
		}
		if lien != nil && lien.State != StateTombstone && lien.WalletID == rec.WalletID {
			if decline == nil {
				ev.Fee = lien.Fee // the fee charged on completion is the one held at placing
			}
			ev.Details = lienDetails(rec.Details, lien.Details)
		}
	case nsReversal:
		if decline != nil || rec.Entry == 0 {
			return nil // declined, or nothing left to give back: nothing moved, nothing to report
		}
		principal, fee, err := w.reversalMoved(rec)
		if err != nil {
			return err
		}
		ev.Amount, ev.Fee = principal, fee
		orig, err := w.txn(nsDebit, rec.Original)
		if err != nil {
			return err
		}
		ev.Full = orig != nil && orig.State == StateReversed
	default:
		return nil
	}
	wal, err := w.wallet(rec.WalletID)
	if err != nil {
		return err
	}
	if wal != nil {
		ev.VirtualAccountID = wal.VirtualAccountID
	}
	for _, partner := range route(ev) {
		if err := w.putOutbox(ns, partner, ev); err != nil {
			return err
		}
	}
	return nil
}

// lienDetails returns a lien debit's card details completed with the place-lien's: the switch need not repeat the
// merchant and terminal on the completion, and partners describe the capture with them. own is not modified.
func lienDetails(own, placed *Details) *Details {
	if placed == nil {
		return own
	}
	var d Details
	if own != nil {
		d = *own
	}
	d.TerminalID = cmp.Or(d.TerminalID, placed.TerminalID)
	d.TerminalType = cmp.Or(d.TerminalType, placed.TerminalType)
	d.MerchantID = cmp.Or(d.MerchantID, placed.MerchantID)
	d.AcquiringInstitutionID = cmp.Or(d.AcquiringInstitutionID, placed.AcquiringInstitutionID)
	d.CardAcceptorNameLocation = cmp.Or(d.CardAcceptorNameLocation, placed.CardAcceptorNameLocation)
	return &d
}

// reversalMoved reads what a reversal's journal entry gave back: the principal and the fee.
func (w *wtx) reversalMoved(rec *txnRecord) (principal, fee int64, err error) {
	e, ok, err := getEntry(w.journal, outboxKey(rec.Entry))
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		return 0, 0, fmt.Errorf("reversal %s: journal entry %d missing", rec.Reference, rec.Entry)
	}
	var total int64
	for _, p := range e.Postings {
		switch {
		case p.Account == walletAccount(rec.WalletID):
			total += p.Amount
		case strings.HasPrefix(p.Account, FeeIncomeAccount+":"):
			fee -= p.Amount
		}
	}
	return total - fee, fee, nil
}

func (w *wtx) putOutbox(ns byte, partner string, ev Event) error {
	b := w.tx.Bucket(bucketOutbox)
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	deliveryID, err := w.assignDeliveryID(partner, ev.Kind, ev.Reference, id)
	if err != nil {
		return err
	}
	now := w.now.UnixNano()
	rec := outboxRecord{Partner: partner, DeliveryID: deliveryID, Kind: ev.Kind, WalletID: ev.WalletID, Reference: ev.Reference,
		Original: ev.Original, Currency: ev.Currency, Amount: ev.Amount, Fee: ev.Fee, Decline: declineName(ev.Decline),
		Full: ev.Full, VirtualAccountID: ev.VirtualAccountID, Details: ev.Details, EventTime: ev.Time.UnixNano(),
		Batch: w.batch, State: OutboxPending, NextAttempt: now, CreatedAt: now, UpdatedAt: now}
	if err := putJSON(b, outboxKey(id), rec); err != nil {
		return err
	}
	if err := w.tx.Bucket(bucketOutboxQueue).Put(queueKey(queuePending, id), laneValue(partner, ev.WalletID)); err != nil {
		return err
	}
	if err := w.tx.Bucket(bucketOutboxRef).Put(outboxRefKey(ns, ev.Reference, id), nil); err != nil {
		return err
	}
	w.l.outboxDirty = true
	return nil
}

// wakeOutbox runs in the writer after a successful commit.
func (l *Ledger) wakeOutbox() {
	if !l.outboxDirty {
		return
	}
	l.outboxDirty = false
	select {
	case l.outboxWake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// OutboxWake is signalled (coalesced, never blocking the writer) after every commit that wrote outbox records or
// re-queued one. A dispatcher waits on it instead of polling; the records it announces are durable.
func (l *Ledger) OutboxWake() <-chan struct{} { return l.outboxWake }

func (r *rtx) outboxRecord(id uint64) (*outboxRecord, error) {
	var rec outboxRecord
	ok, err := getJSON(r.tx.Bucket(bucketOutbox), outboxKey(id), &rec)
	if !ok || err != nil {
		return nil, err
	}
	return &rec, nil
}

// OutboxHeads returns the oldest pending event of every lane (one partner, one wallet) whose batch is known to be
// durable, oldest first, and the number of pending events per partner (durable or not). Later events of a lane are
// not returned: a lane delivers one event at a time, in order.
func (l *Ledger) OutboxHeads(ctx context.Context) (heads []OutboxEvent, pending map[string]int, err error) {
	durable := l.durable.Load()
	pending = map[string]int{}
	err = l.view(func(r *rtx) error {
		seen := map[string]bool{}
		c := r.tx.Bucket(bucketOutboxQueue).Cursor()
		prefix := []byte{queuePending}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			lane := string(v)
			partner, _, _ := strings.Cut(lane, "\x00")
			pending[partner]++
			if seen[lane] {
				continue
			}
			seen[lane] = true
			if len(k) != 9 {
				return fmt.Errorf("outbox queue key %x: malformed", k)
			}
			id := binary.BigEndian.Uint64(k[1:])
			rec, err := r.outboxRecord(id)
			if err != nil {
				return err
			}
			if rec == nil {
				return fmt.Errorf("outbox queue names missing record %d", id)
			}
			if rec.Batch > durable {
				continue // not known to be on disk yet: never forward it (the lane waits with it)
			}
			heads = append(heads, rec.event(id))
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: outbox heads: %v", ErrStorage, err)
	}
	return heads, pending, nil
}

// Attempt is the outcome of one delivery attempt, for RecordDelivery.
type Attempt struct {
	Delivered   bool      // the partner acknowledged the event
	Dead        bool      // give up: the event is dead-lettered (ignored when Delivered)
	Error       string    // why the attempt failed (no secrets); cut to MaxOutboxError bytes
	NextAttempt time.Time // failed but not dead: not before this time
}

// RecordDelivery writes the outcome of one delivery attempt of a pending event and returns the event as stored. An
// event that is no longer pending (delivered, or dead-lettered meanwhile) is returned unchanged.
func (l *Ledger) RecordDelivery(ctx context.Context, id uint64, a Attempt) (OutboxEvent, error) {
	return writeOp(ctx, l, func(w *wtx) (OutboxEvent, error) {
		rec, err := w.outboxRecord(id)
		switch {
		case err != nil:
			return OutboxEvent{}, err
		case rec == nil:
			return OutboxEvent{}, business(ErrOutboxNotFound)
		case rec.State != OutboxPending:
			return rec.event(id), nil
		}
		q := w.tx.Bucket(bucketOutboxQueue)
		rec.Attempts++
		rec.UpdatedAt = w.now.UnixNano()
		switch {
		case a.Delivered:
			rec.State, rec.NextAttempt = OutboxDelivered, 0
			if err := q.Delete(queueKey(queuePending, id)); err != nil {
				return OutboxEvent{}, err
			}
		case a.Dead:
			rec.State, rec.NextAttempt, rec.LastError = OutboxDead, 0, cut(a.Error, MaxOutboxError)
			if err := q.Delete(queueKey(queuePending, id)); err != nil {
				return OutboxEvent{}, err
			}
			if err := q.Put(queueKey(queueDead, id), laneValue(rec.Partner, rec.WalletID)); err != nil {
				return OutboxEvent{}, err
			}
		default:
			rec.NextAttempt, rec.LastError = a.NextAttempt.UnixNano(), cut(a.Error, MaxOutboxError)
		}
		return rec.event(id), putJSON(w.tx.Bucket(bucketOutbox), outboxKey(id), rec)
	})
}

// RetryOutbox re-queues an event by hand: a dead event becomes pending with its attempts reset, a pending one is
// due at once. A delivered event is refused with ErrOutboxDelivered, an unknown id with ErrOutboxNotFound.
func (l *Ledger) RetryOutbox(ctx context.Context, id uint64) (OutboxEvent, error) {
	return writeOp(ctx, l, func(w *wtx) (OutboxEvent, error) {
		rec, err := w.outboxRecord(id)
		switch {
		case err != nil:
			return OutboxEvent{}, err
		case rec == nil:
			return OutboxEvent{}, business(ErrOutboxNotFound)
		case rec.State == OutboxDelivered:
			return OutboxEvent{}, business(ErrOutboxDelivered)
		}
		q := w.tx.Bucket(bucketOutboxQueue)
		if rec.State == OutboxDead {
			if err := q.Delete(queueKey(queueDead, id)); err != nil {
				return OutboxEvent{}, err
			}
			if err := q.Put(queueKey(queuePending, id), laneValue(rec.Partner, rec.WalletID)); err != nil {
				return OutboxEvent{}, err
			}
			rec.State, rec.Attempts = OutboxPending, 0
		}
		rec.NextAttempt, rec.UpdatedAt, rec.Batch = w.now.UnixNano(), w.now.UnixNano(), w.batch
		w.l.outboxDirty = true
		return rec.event(id), putJSON(w.tx.Bucket(bucketOutbox), outboxKey(id), rec)
	})
}

// MaxOutboxPage caps one page of Outbox.
const MaxOutboxPage = 500

// Outbox lists events by id, oldest first, after the id after (0: from the start): state OutboxPending or
// OutboxDead lists that state, "" lists every event. next is the cursor of the following page, 0 when there is none.
func (l *Ledger) Outbox(ctx context.Context, state string, after uint64, limit int) (events []OutboxEvent, next uint64, err error) {
	if limit <= 0 || limit > MaxOutboxPage {
		limit = MaxOutboxPage
	}
	var prefix []byte
	switch state {
	case OutboxPending:
		prefix = []byte{queuePending}
	case OutboxDead:
		prefix = []byte{queueDead}
	case "":
	default:
		return nil, 0, &FieldError{Field: "state", Reason: "pending, dead or empty"}
	}
	err = l.view(func(r *rtx) error {
		var c *bolt.Cursor
		var k []byte
		if prefix != nil {
			c = r.tx.Bucket(bucketOutboxQueue).Cursor()
			k, _ = c.Seek(queueKey(prefix[0], after+1))
		} else {
			c = r.tx.Bucket(bucketOutbox).Cursor()
			k, _ = c.Seek(outboxKey(after + 1))
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := binary.BigEndian.Uint64(k[len(prefix):])
			if len(events) == limit {
				next = events[len(events)-1].ID
				return nil
			}
			rec, err := r.outboxRecord(id)
			if err != nil {
				return err
			}
			if rec == nil {
				return fmt.Errorf("outbox queue names missing record %d", id)
			}
			events = append(events, rec.event(id))
		}
		return nil
	})
	return events, next, err
}

// OutboxEventByID returns one outbox event, or ErrOutboxNotFound.
func (l *Ledger) OutboxEventByID(ctx context.Context, id uint64) (OutboxEvent, error) {
	var out OutboxEvent
	err := l.view(func(r *rtx) error {
		rec, err := r.outboxRecord(id)
		if err != nil {
			return err
		}
		if rec == nil {
			return ErrOutboxNotFound
		}
		out = rec.event(id)
		return nil
	})
	return out, err
}

// Deliveries returns the outbox events of one transaction (kind and reference as Transaction reports them), oldest
// first. A place-lien (KindLien) reports nothing itself: it shows the deliveries of the lien debit that completed
// it, if any.
func (l *Ledger) Deliveries(ctx context.Context, kind, reference string) ([]OutboxEvent, error) {
	var ns byte
	switch kind {
	case KindDebit:
		ns = nsDebit
	case KindReversal:
		ns = nsReversal
	case KindLienDebit, KindLien:
		ns = nsLienDebit
	default:
		return nil, nil
	}
	var out []OutboxEvent
	err := l.view(func(r *rtx) error {
		if kind == KindLien {
			lien, err := r.txn(nsLien, reference)
			if err != nil {
				return err
			}
			if lien == nil || lien.State != StateCompleted || lien.Lien == nil {
				return nil
			}
			reference = lien.Lien.EndedBy
		}
		prefix := append(append([]byte{ns}, reference...), 0)
		c := r.tx.Bucket(bucketOutboxRef).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(k) != len(prefix)+8 {
				continue // a longer reference that shares the prefix cannot contain 0x00; be safe anyway
			}
			id := binary.BigEndian.Uint64(k[len(prefix):])
			rec, err := r.outboxRecord(id)
			if err != nil {
				return err
			}
			if rec != nil {
				out = append(out, rec.event(id))
			}
		}
		return nil
	})
	return out, err
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// Errors of the outbox.
var (
	// ErrOutboxNotFound is returned when an outbox id names no event.
	ErrOutboxNotFound = errors.New("outbox event not found")

	// ErrOutboxDelivered is returned by RetryOutbox for an event the partner already acknowledged.
	ErrOutboxDelivered = errors.New("outbox event already delivered")
)

// OutboxDeadCounts returns the number of dead-lettered events per partner (partners without any are absent).
func (l *Ledger) OutboxDeadCounts(ctx context.Context) (map[string]int, error) {
	dead := map[string]int{}
	err := l.view(func(r *rtx) error {
		c := r.tx.Bucket(bucketOutboxQueue).Cursor()
		prefix := []byte{queueDead}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			partner, _, _ := strings.Cut(string(v), "\x00")
			dead[partner]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return dead, nil
}
