package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// EnquiryRequest asks for a wallet's balance and name (CONTRACT 1.8).
type EnquiryRequest struct {
	Envelope
	WalletID string
	Currency string // optional: when given it must be the wallet's
}

// MaxPendingEnquiries bounds the enquiry answers the ledger keeps in memory while their request records wait for
// the writer. Past it, an enquiry waits for its record's commit like a debit does.
const MaxPendingEnquiries = 4096

// Enquire answers a balance enquiry. It checks the wallet as a debit would (exists, active, currency when given)
// and, when it approves, sets Outcome.Wallet to the wallet as read, whose Available() is the same available balance
// debits are decided against. Render is called once with the outcome, outside any transaction.
//
// The enquiry is decided in a read-only transaction and its answer never waits for a commit: an enquiry moves
// nothing, so it never waits behind a batch of debits. Its answer is nonetheless remembered under its requestId
// like any switch message (fingerprint and the exact bytes): the record is handed to the writer without waiting,
// and until it is durable the ledger keeps it in memory, where Enquire and the writer's own requestId check (Debit,
// Reverse, PlaceLien, DebitLien) find it; Replay reads only the file and answers ErrNotRecorded meanwhile. So a
// repeat of the same requestId gets the byte-identical answer (Replayed), another message under it
// ErrRequestConflict, even while the writer is stuck. Rules:
//
//   - A requestId already recorded (durable or not) or pending is answered from that record: the stored bytes when
//     the fingerprint matches, else ErrRequestConflict; nothing new is remembered.
//   - The remembering write never overwrites a requestId: when another message recorded it first (it raced the
//     enquiry), the enquiry's record is dropped, and a repeat of the enquiry then gets ErrRequestConflict.
//   - The record is lost if the process stops before its commit, or that commit fails: the enquiry is then
//     forgotten, as if it had never been asked. It moved no money.
//   - With MaxPendingEnquiries records in memory, the enquiry waits for its own commit (ctx bounds the wait in the
//     queue, as for a debit) and answers only when its record is durable.
//
// Besides storage failures (ErrStorage, ErrClosed; also when the ledger refuses writes after ErrOutcomeUnknown,
// since the answer could not be remembered) it returns ErrRequestConflict and *FieldError for an envelope the
// server should have refused.
func (l *Ledger) Enquire(ctx context.Context, q EnquiryRequest) (Answer, error) {
	if err := q.Envelope.validate(); err != nil {
		return Answer{}, err
	}
	if err := ctx.Err(); err != nil {
		return Answer{}, err
	}
	var rec *walletRecord
	var prev *requestRecord
	err := l.view(func(r *rtx) error {
		var err error
		if prev, err = r.request(q.RequestID); err != nil {
			return err
		}
		rec, err = r.wallet(q.WalletID)
		return err
	})
	switch {
	case errors.Is(err, ErrClosed):
		return Answer{}, ErrClosed
	case err != nil:
		return Answer{}, fmt.Errorf("%w: enquiry: %v", ErrStorage, err)
	case prev != nil:
		// Recorded by a batch the writer committed; if it is not yet known durable, its bytes (same fingerprint)
		// were already answered from memory, so answering them again promises nothing new.
		return prev.answer(q.Fingerprint)
	}
	var out Outcome
	switch {
	case rec == nil:
		out.Decline = ErrWalletNotFound
	case rec.Status != StatusActive:
		out.Decline = ErrWalletNotActive
	case q.Currency != "" && q.Currency != rec.Currency:
		out.Decline = ErrCurrencyMismatch
	default:
		w := rec.snapshot()
		out.Wallet = &w
	}
	resp, err := q.Render(out)
	if err != nil {
		return Answer{}, fmt.Errorf("render answer: %w", err)
	}
	return l.rememberEnquiry(ctx, q.Envelope, out, resp)
}

// rememberEnquiry records the enquiry's answer under its requestId and returns what to answer: resp, or the answer
// of an enquiry with the same requestId that got there first.
func (l *Ledger) rememberEnquiry(ctx context.Context, env Envelope, out Outcome, resp []byte) (Answer, error) {
	if err := l.Ready(); err != nil {
		if errors.Is(err, ErrClosed) {
			return Answer{}, ErrClosed
		}
		return Answer{}, fmt.Errorf("%w: enquiry not remembered: %v", ErrStorage, err)
	}
	p := &pendingEnquiry{fingerprint: env.Fingerprint, decline: declineName(out.Decline), response: bytes.Clone(resp)}
	existing, stored, added, err := l.enquiries.add(env.RequestID, p, func() (prev *requestRecord, err error) {
		return l.storedRequest(env.RequestID)
	})
	switch {
	case errors.Is(err, ErrClosed):
		return Answer{}, ErrClosed
	case err != nil:
		return Answer{}, fmt.Errorf("%w: enquiry: %v", ErrStorage, err)
	case existing != nil:
		return existing.answer(env.Fingerprint)
	case stored != nil:
		// Recorded since the enquiry read the file: an enquiry with this requestId was answered and became durable
		// meanwhile, or another message committed it.
		return stored.answer(env.Fingerprint)
	case !added:
		return l.rememberEnquiryNow(ctx, env, p, out)
	}
	o := &op{ctx: context.Background(), fn: p.record(env.RequestID), done: make(chan opResult, 1)}
	queued, err := l.enqueueNoWait(o)
	if err != nil {
		l.enquiries.remove(env.RequestID, p)
		if errors.Is(err, ErrClosed) {
			return Answer{}, ErrClosed
		}
		return Answer{}, fmt.Errorf("%w: enquiry not remembered: %v", ErrStorage, err)
	}
	l.enquiries.settling.Add(1)
	go l.settleEnquiry(env.RequestID, p, o, queued)
	return Answer{Response: resp, Outcome: out}, nil
}

// rememberEnquiryNow is the path of a full pending map: the enquiry's record is committed by the writer before the
// answer, exactly as a debit's would be.
func (l *Ledger) rememberEnquiryNow(ctx context.Context, env Envelope, p *pendingEnquiry, out Outcome) (Answer, error) {
	return writeOp(ctx, l, func(w *wtx) (Answer, error) {
		if a, done, err := w.replayed(env); done {
			return a, err
		}
		rec := requestRecord{fingerprint: p.fingerprint, decline: p.decline, response: p.response}
		if err := w.putRequest(env.RequestID, rec); err != nil {
			return Answer{}, err
		}
		return Answer{Response: bytes.Clone(p.response), Outcome: out}, nil
	})
}

// errQueueFull is returned by enqueueNoWait when the writer's queue has no room.
var errQueueFull = errors.New("writer queue full")

// enqueueNoWait hands o to the writer if its queue has room. It returns queued=false (and no error) when the queue
// is full: the caller must then enqueueWait, from a goroutine of its own.
func (l *Ledger) enqueueNoWait(o *op) (queued bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case l.closed:
		return false, ErrClosed
	case l.failed.Load():
		return false, ErrOutcomeUnknown
	}
	select {
	case l.queue <- o:
		return true, nil
	default:
		return false, nil
	}
}

// enqueueWait hands o to the writer, waiting for room in its queue.
func (l *Ledger) enqueueWait(o *op) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case l.closed:
		return ErrClosed
	case l.failed.Load():
		return ErrOutcomeUnknown
	}
	l.queue <- o
	return nil
}

// settleEnquiry waits until the writer has decided o (recorded, dropped or failed) and then forgets the pending
// record: from then on the requestId's record, if any, is read from the file.
func (l *Ledger) settleEnquiry(requestID string, p *pendingEnquiry, o *op, queued bool) {
	defer l.enquiries.settling.Done()
	defer l.enquiries.remove(requestID, p)
	if !queued {
		if err := l.enqueueWait(o); err != nil {
			return
		}
	}
	<-o.done
}

// pendingEnquiry is an enquiry's request record between its answer and the commit that makes it durable.
type pendingEnquiry struct {
	fingerprint [32]byte
	decline     string
	response    []byte
}

// answer replays p for a message with fingerprint fp: p's bytes (a copy) when they match, else ErrRequestConflict.
func (p *pendingEnquiry) answer(fp [32]byte) (Answer, error) {
	if p.fingerprint != fp {
		return Answer{}, ErrRequestConflict
	}
	// Every repeat and the writer share p until it is durable: each answer gets its own copy.
	return Answer{Response: bytes.Clone(p.response), Outcome: Outcome{Decline: declineByName(p.decline)}, Replayed: true}, nil
}

// record is the writer's operation for p: it stores p under requestID unless the requestId is recorded already
// (another message got there first: p is dropped). It never overwrites a record, and is pure, as op.fn must be.
func (p *pendingEnquiry) record(requestID string) func(w *wtx) (any, error) {
	return func(w *wtx) (any, error) {
		prev, err := w.request(requestID)
		if err != nil || prev != nil {
			return false, err
		}
		rec := requestRecord{fingerprint: p.fingerprint, decline: p.decline, response: p.response}
		return true, w.putRequest(requestID, rec)
	}
}

// pendingEnquiries holds the enquiry records handed to the writer and not yet known durable, by requestId. The
// zero value is ready to use. A record leaves the map only after the writer has decided it, so at every moment a
// requestId an enquiry answered is either in the map or in the file (or was forgotten by a failed commit).
type pendingEnquiries struct {
	mu    sync.Mutex
	m     map[string]*pendingEnquiry
	n     atomic.Int64 // len(m), so that the writer's check costs nothing while no enquiry is pending
	limit int          // 0: MaxPendingEnquiries (tests lower it)

	settling sync.WaitGroup // one per record handed to the writer, done when it left the map
}

// get returns the pending record of requestID, or nil.
func (s *pendingEnquiries) get(requestID string) *pendingEnquiry {
	if s.n.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[requestID]
}

// add makes p the pending record of requestID, unless the requestId is taken: it returns the record pending under
// it (existing), or the record recorded reads from the file (stored); added=false also when the map is full.
//
// recorded runs under the map's lock: a record leaves the map only once it is durable, so a requestId an enquiry
// answered is always found, in the map or in the file. Reading the file before taking the lock would leave a gap
// in which the record of an enquiry answered meanwhile has just moved from the one to the other.
func (s *pendingEnquiries) add(requestID string, p *pendingEnquiry, recorded func() (*requestRecord, error)) (existing *pendingEnquiry, stored *requestRecord, added bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[requestID]; e != nil {
		return e, nil, false, nil
	}
	if stored, err = recorded(); stored != nil || err != nil {
		return nil, stored, false, err
	}
	limit := s.limit
	if limit <= 0 {
		limit = MaxPendingEnquiries
	}
	if len(s.m) >= limit {
		return nil, nil, false, nil
	}
	if s.m == nil {
		s.m = make(map[string]*pendingEnquiry)
	}
	s.m[requestID] = p
	s.n.Store(int64(len(s.m)))
	return nil, nil, true, nil
}

// remove forgets requestID's pending record if it is still p.
func (s *pendingEnquiries) remove(requestID string, p *pendingEnquiry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[requestID] == p {
		delete(s.m, requestID)
		s.n.Store(int64(len(s.m)))
	}
}

// len is the number of pending records.
func (s *pendingEnquiries) len() int { return int(s.n.Load()) }

// replayedPending is the writer's check of a requestId that has no record in the file: an enquiry may have answered
// under it and be waiting for its record's commit. Same contract as replayed.
func (w *wtx) replayedPending(env Envelope) (Answer, bool, error) {
	p := w.l.enquiries.get(env.RequestID)
	if p == nil {
		return Answer{}, false, nil
	}
	a, err := p.answer(env.Fingerprint)
	if err != nil {
		return Answer{}, true, business(err)
	}
	return a, true, nil
}
