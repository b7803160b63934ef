package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Namespaces of the txns bucket: each message kind has its own transactionReference space, so a reversal that
// reuses the debit's reference (some switches do) is not mistaken for a reused debit reference.
const (
	nsDebit    byte = 'd'
	nsReversal byte = 'r'
)

// Transaction states, as shown by the admin look-up.
const (
	StateApproved          = "approved"
	StateDeclined          = "declined"
	StateReversed          = "reversed"
	StatePartiallyReversed = "partially_reversed"
	// StateTombstone marks a debit reference whose reversal arrived before it (CONTRACT 1.7).
	StateTombstone = "tombstone"
)

// Kinds of transactions and journal entries.
const (
	KindDebit    = "debit"
	KindReversal = "reversal"
	KindCredit   = "credit"
)

// Details are the card-side facts of a switch message, kept with the transaction for look-ups and partners.
type Details struct {
	RRN                      string            `json:"rrn,omitempty"`  // retrieval reference number
	STAN                     string            `json:"stan,omitempty"` // system trace audit number
	TerminalID               string            `json:"terminalId,omitempty"`
	TerminalType             string            `json:"terminalType,omitempty"`
	MerchantID               string            `json:"merchantId,omitempty"`
	AcquiringInstitutionID   string            `json:"acquiringInstitutionId,omitempty"`
	CardAcceptorNameLocation string            `json:"cardAcceptorNameLocation,omitempty"`
	TransactionDateTime      string            `json:"transactionDateTime,omitempty"`
	AdditionalFields         map[string]string `json:"additionalFields,omitempty"`
}

// walletRecord is the stored form of a wallet.
type walletRecord struct {
	ID               string `json:"id"`
	Currency         string `json:"currency"`
	Name             string `json:"name"`
	Status           Status `json:"status"`
	DailyDebitLimit  int64  `json:"dailyDebitLimit,omitempty"`
	Phone            string `json:"phone,omitempty"`
	VirtualAccountID string `json:"virtualAccountId,omitempty"`
	Balance          int64  `json:"balance"`
	Held             int64  `json:"held,omitempty"`
	CreatedAt        int64  `json:"createdAt"` // unix nanoseconds
	Day              string `json:"day,omitempty"`
	DayDebited       int64  `json:"dayDebited,omitempty"` // principal debited on Day, net of reversals
	// Last is the journal entry of the wallet's newest movement, 0 before the first: the head of its statement,
	// which runs back through each entry's Wallet.Prev (see Entry).
	Last uint64 `json:"last,omitempty"`
}

// txnRecord is the stored form of a switch transaction (namespace + transactionReference).
type txnRecord struct {
	Kind        string   `json:"kind"`
	Reference   string   `json:"reference"`
	RequestID   string   `json:"requestId,omitempty"` // the first requestId that carried it
	WalletID    string   `json:"walletId,omitempty"`
	Currency    string   `json:"currency,omitempty"`
	Amount      int64    `json:"amount"`
	Fee         int64    `json:"fee,omitempty"`
	Decline     string   `json:"decline,omitempty"` // stable decline name; "" when approved
	State       string   `json:"state"`
	Original    string   `json:"original,omitempty"` // reversal: the debit it names
	Reversed    int64    `json:"reversed,omitempty"` // debit: principal reversed so far
	FeeReversed bool     `json:"feeReversed,omitempty"`
	Reversals   []string `json:"reversals,omitempty"` // debit: references of the reversals that moved money
	Entry       uint64   `json:"entry,omitempty"`     // journal entry of the movement, 0 when nothing moved
	CreatedAt   int64    `json:"createdAt"`
	Day         string   `json:"day,omitempty"` // UTC day the debit counted against the daily limit
	Details     *Details `json:"details,omitempty"`

	Lien *lienState `json:"lien,omitempty"` // place-lien: its expiry and how it ended (lien.go)
}

// creditRecord remembers an admin credit by its reference.
type creditRecord struct {
	WalletID  string `json:"walletId"`
	Amount    int64  `json:"amount"`
	Narration string `json:"narration,omitempty"`
	Entry     uint64 `json:"entry"`
}

// Posting moves Amount (signed, minor units) into Account. Wallet accounts are named "wallet:<id>", system
// accounts "<name>:<currency>" (see SettlementAccount and friends).
type Posting struct {
	Account string `json:"account"`
	Amount  int64  `json:"amount"`
}

// Entry is one balanced journal entry.
type Entry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Reference string    `json:"reference"`
	Currency  string    `json:"currency"`
	Narration string    `json:"narration,omitempty"`
	Postings  []Posting `json:"postings"`
	// Wallet links an entry that concerns a wallet into that wallet's statement. A wallet's statement is a chain
	// through the journal, newest first, from the wallet record's Last: appending to it costs no page beyond the
	// journal's tail and the wallet record a movement writes anyway, where a per-wallet index would dirty one
	// more page, at a random place in the file, for every debit.
	Wallet *EntryWallet `json:"wallet,omitempty"`
}

// EntryWallet is an entry's place in the statement of the one wallet it concerns: the wallet it moves, or whose
// holds a memo entry (no postings) records.
type EntryWallet struct {
	ID      string `json:"id"`
	Prev    uint64 `json:"prev,omitempty"` // the wallet's previous entry, 0 for its first
	Balance int64  `json:"balance"`        // the wallet's ledger balance after this entry
}

// System accounts, one of each per currency. Their balances are the other side of every wallet movement:
// settlement owes the card scheme what wallets spent, fee income is walletgate's, funding is where admin
// credits come from (it goes negative as wallets are funded).
const (
	SettlementAccount = "settlement"
	FeeIncomeAccount  = "fee_income"
	FundingAccount    = "funding"
)

const walletAccountPrefix = "wallet:"

func walletAccount(id string) string             { return walletAccountPrefix + id }
func systemAccount(name, currency string) string { return name + ":" + currency }

// rtx reads inside one bbolt transaction. Nothing it returns aliases bbolt memory.
type rtx struct {
	tx       *bolt.Tx
	meta     *bolt.Bucket
	wallets  *bolt.Bucket
	accounts *bolt.Bucket
	journal  *bolt.Bucket
	requests *bolt.Bucket
	txns     *bolt.Bucket
	credits  *bolt.Bucket

	// Wallet records are in the wallets bucket or, newer, in the wallet log (walletlog.go). A reader sees the log's
	// records as of its snapshot batch; the writer sees the last committed ones and its own batch's (staged).
	wl     *walletLog
	snap   uint64
	staged map[string][]byte // the writer's: records this batch changed, by id
}

func newRtx(tx *bolt.Tx) *rtx {
	return &rtx{
		tx:       tx,
		meta:     tx.Bucket(bucketMeta),
		wallets:  tx.Bucket(bucketWallets),
		accounts: tx.Bucket(bucketAccounts),
		journal:  tx.Bucket(bucketJournal),
		requests: tx.Bucket(bucketRequests),
		txns:     tx.Bucket(bucketTxns),
		credits:  tx.Bucket(bucketCredits),
	}
}

// wtx writes inside the writer's batch transaction.
type wtx struct {
	*rtx
	l     *Ledger
	batch uint64
	now   time.Time
}

func newWtx(tx *bolt.Tx, l *Ledger, batch uint64) *wtx {
	w := &wtx{rtx: newRtx(tx), l: l, batch: batch, now: l.now()}
	w.wl, w.staged = l.wlog, map[string][]byte{}
	// The journal only ever appends (NextSequence keys): full pages, where bbolt's default splits them half full.
	w.journal.FillPercent = 1.0
	return w
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %s record: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func (r *rtx) wallet(id string) (*walletRecord, error) {
	if id == "" {
		return nil, nil
	}
	raw := r.walletRaw(id)
	if raw == nil {
		return nil, nil
	}
	return decodeWallet(id, raw)
}

// walletRaw is the stored record of wallet id, nil when there is none (see rtx.wl).
func (r *rtx) walletRaw(id string) []byte {
	switch {
	case r.staged != nil:
		if raw, ok := r.staged[id]; ok {
			return raw
		}
		if raw := r.wl.latest(id); raw != nil {
			return raw
		}
	case r.wl != nil:
		if raw := r.wl.at(id, r.snap); raw != nil {
			return raw
		}
	}
	return r.wallets.Get([]byte(id))
}

// forEachWallet calls fn with every wallet's record, in a reader: those of the wallets bucket in id order (the log's
// where it has a newer one), then those only the log has, in id order.
func (r *rtx) forEachWallet(fn func(id string, raw []byte) error) error {
	err := r.wallets.ForEach(func(k, v []byte) error {
		if r.wl != nil {
			if raw := r.wl.at(string(k), r.snap); raw != nil {
				v = raw
			}
		}
		return fn(string(k), v)
	})
	if err != nil || r.wl == nil {
		return err
	}
	for _, id := range r.wl.idsAt(r.snap) {
		if r.wallets.Get([]byte(id)) != nil {
			continue
		}
		if err := fn(id, r.wl.at(id, r.snap)); err != nil {
			return err
		}
	}
	return nil
}

// putWallet stages rec: the commit appends it to the wallet log (walletlog.go).
func (w *wtx) putWallet(rec *walletRecord) error {
	w.staged[rec.ID] = encodeWallet(rec)
	return nil
}

func txnKey(ns byte, ref string) []byte {
	k := make([]byte, 1+len(ref))
	k[0] = ns
	copy(k[1:], ref)
	return k
}

func (r *rtx) txn(ns byte, ref string) (*txnRecord, error) {
	key := txnKey(ns, ref)
	raw := r.txns.Get(key)
	if raw == nil {
		return nil, nil
	}
	t, err := decodeTxn(raw)
	if err != nil {
		return nil, fmt.Errorf("transaction %q: %w", key, err)
	}
	return t, nil
}

func (w *wtx) putTxn(ns byte, rec *txnRecord) error {
	return w.txns.Put(txnKey(ns, rec.Reference), encodeTxn(rec))
}

// requestRecord is the idempotency record of one requestId.
type requestRecord struct {
	batch       uint64
	fingerprint [32]byte
	decline     string
	response    []byte
}

func encodeRequestRecord(rec requestRecord) []byte {
	out := make([]byte, 0, 8+32+1+len(rec.decline)+len(rec.response))
	out = binary.BigEndian.AppendUint64(out, rec.batch)
	out = append(out, rec.fingerprint[:]...)
	out = append(out, byte(len(rec.decline)))
	out = append(out, rec.decline...)
	return append(out, rec.response...)
}

// decodeRequestRecord copies raw (which may be bbolt memory) into a requestRecord.
func decodeRequestRecord(raw []byte) (requestRecord, error) {
	var rec requestRecord
	if len(raw) < 41 || len(raw) < 41+int(raw[40]) {
		return rec, fmt.Errorf("request record of %d bytes is truncated", len(raw))
	}
	rec.batch = binary.BigEndian.Uint64(raw)
	copy(rec.fingerprint[:], raw[8:40])
	n := int(raw[40])
	rec.decline = string(raw[41 : 41+n])
	rec.response = bytes.Clone(raw[41+n:])
	return rec, nil
}

func (r *rtx) request(id string) (*requestRecord, error) { return requestIn(r.requests, id) }

// requestIn reads requestId id's record from the requests bucket; nil when there is none.
func requestIn(requests *bolt.Bucket, id string) (*requestRecord, error) {
	if id == "" {
		return nil, nil
	}
	raw := requests.Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	rec, err := decodeRequestRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("requestId record: %w", err)
	}
	return &rec, nil
}

func (w *wtx) putRequest(id string, rec requestRecord) error {
	rec.batch = w.batch
	return w.requests.Put([]byte(id), encodeRequestRecord(rec))
}

func (r *rtx) systemBalance(account string) int64 {
	v := r.accounts.Get([]byte(account))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// addChecked returns a+b, or ok=false when the sum overflows int64.
func addChecked(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// post writes one balanced journal entry: it updates the balance of every account it names (wal, when given,
// is the wallet record of the single wallet the entry may touch, updated in memory and stored), and appends the
// entry, linked into the wallet's statement. It checks every balance for overflow before writing anything, and
// returns ErrOverflow untouched so callers can turn it into a decline.
func (w *wtx) post(e *Entry, wal *walletRecord) (uint64, error) {
	var sum int64
	newSys := make(map[string]int64, len(e.Postings))
	var walletDelta int64
	for _, p := range e.Postings {
		var ok bool
		if sum, ok = addChecked(sum, p.Amount); !ok {
			return 0, ErrOverflow
		}
		if wal != nil && p.Account == walletAccount(wal.ID) {
			if walletDelta, ok = addChecked(walletDelta, p.Amount); !ok {
				return 0, ErrOverflow
			}
			continue
		}
		if len(p.Account) > len(walletAccountPrefix) && p.Account[:len(walletAccountPrefix)] == walletAccountPrefix {
			return 0, fmt.Errorf("journal entry %s posts to a wallet it did not load: %s", e.Reference, p.Account)
		}
		cur, seen := newSys[p.Account]
		if !seen {
			cur = w.systemBalance(p.Account)
		}
		if newSys[p.Account], ok = addChecked(cur, p.Amount); !ok {
			return 0, ErrOverflow
		}
	}
	if sum != 0 {
		return 0, fmt.Errorf("journal entry %s does not balance: sum %d", e.Reference, sum)
	}
	var newWalletBalance int64
	if wal != nil {
		var ok bool
		if newWalletBalance, ok = addChecked(wal.Balance, walletDelta); !ok {
			return 0, ErrOverflow
		}
		if newWalletBalance < 0 {
			return 0, fmt.Errorf("journal entry %s would take wallet %s below zero", e.Reference, wal.ID)
		}
	}

	seq, err := w.journal.NextSequence()
	if err != nil {
		return 0, err
	}
	e.Seq = seq
	e.Time = w.now
	if wal != nil {
		e.Wallet = &EntryWallet{ID: wal.ID, Prev: wal.Last, Balance: newWalletBalance}
	}
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], seq)
	if err := putEntry(w.journal, key[:], e); err != nil {
		return 0, err
	}
	for account, bal := range newSys {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(bal))
		if err := w.accounts.Put([]byte(account), v[:]); err != nil {
			return 0, err
		}
	}
	if wal != nil {
		wal.Balance, wal.Last = newWalletBalance, seq
		if err := w.putWallet(wal); err != nil {
			return 0, err
		}
	}
	return seq, nil
}

// day is the UTC calendar day used for daily limits.
func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
