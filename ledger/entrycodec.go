package ledger

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Journal entries are stored in a compact binary form. A debit appends one, inside the single writer, and JSON was
// about half of the writer's own work per debit and ~300 bytes of the journal's pages; the binary form is about a
// third of the size and an order of magnitude cheaper to write. Entries written as JSON (format 1, and any entry
// whose time the binary form cannot hold) stay readable: a JSON entry begins with '{', a binary one with its
// version byte.
//
// Layout, version entryCodecV1: the version byte; Seq (unsigned varint); Time as Unix nanoseconds (zig-zag
// varint); Kind, Reference, Currency, Narration (each an unsigned varint length and its bytes); the number of
// postings, then each posting's Account and Amount; then 0, or 1 followed by Wallet's ID, Prev and Balance. A record
// that does not parse exactly, with nothing left over, is an error.
const entryCodecV1 = 2 // not 1: the wallet codec's version byte, so the two kinds of record are never confused

var errEntryRecord = errors.New("malformed journal entry")

// minEntryTime and maxEntryTime bound the times a binary entry holds (Unix nanoseconds in an int64).
var (
	minEntryTime = time.Unix(0, math.MinInt64)
	maxEntryTime = time.Unix(0, math.MaxInt64)
)

// encodeEntry returns the stored form of e: binary, or JSON for a time outside what the binary form holds (or the
// error encoding/json gives such a time).
func encodeEntry(e *Entry) ([]byte, error) {
	if e.Time.Before(minEntryTime) || e.Time.After(maxEntryTime) {
		return json.Marshal(e)
	}
	b := make([]byte, 0, 96+len(e.Reference)+len(e.Narration)+24*len(e.Postings))
	b = append(b, entryCodecV1)
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendVarint(b, e.Time.UnixNano())
	for _, s := range []string{e.Kind, e.Reference, e.Currency, e.Narration} {
		b = appendCodecString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Postings)))
	for _, p := range e.Postings {
		b = appendCodecString(b, p.Account)
		b = binary.AppendVarint(b, p.Amount)
	}
	if e.Wallet == nil {
		return append(b, 0), nil
	}
	b = append(b, 1)
	b = appendCodecString(b, e.Wallet.ID)
	b = binary.AppendUvarint(b, e.Wallet.Prev)
	return binary.AppendVarint(b, e.Wallet.Balance), nil
}

func appendCodecString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeEntry reads a stored journal entry, binary or JSON. Nothing it returns aliases raw (bbolt's memory).
func decodeEntry(raw []byte) (*Entry, error) {
	if len(raw) > 0 && raw[0] == '{' {
		e := new(Entry)
		if err := json.Unmarshal(raw, e); err != nil {
			return nil, fmt.Errorf("%w: %v", errEntryRecord, err)
		}
		return e, nil
	}
	if len(raw) == 0 || raw[0] != entryCodecV1 {
		return nil, fmt.Errorf("%w (version %x)", errEntryRecord, raw[:min(len(raw), 1)])
	}
	d := walletDecoder{b: raw[1:]}
	e := &Entry{Seq: d.uvarint()}
	e.Time = time.Unix(0, d.varint()).UTC()
	for _, p := range []*string{&e.Kind, &e.Reference, &e.Currency, &e.Narration} {
		*p = d.string()
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each posting takes at least two bytes: never allocate for a count the record cannot hold
		return nil, errEntryRecord
	}
	e.Postings = make([]Posting, n)
	for i := range e.Postings {
		e.Postings[i].Account = d.string()
		e.Postings[i].Amount = d.varint()
	}
	switch d.byte() {
	case 0:
	case 1:
		e.Wallet = &EntryWallet{ID: d.string(), Prev: d.uvarint(), Balance: d.varint()}
	default:
		d.bad = true
	}
	if d.bad || len(d.b) != 0 {
		return nil, errEntryRecord
	}
	return e, nil
}

func (d *walletDecoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// getEntry reads journal entry key from b; ok is false when there is none.
func getEntry(b interface{ Get([]byte) []byte }, key []byte) (*Entry, bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return nil, false, nil
	}
	e, err := decodeEntry(raw)
	if err != nil {
		return nil, false, fmt.Errorf("journal entry %x: %w", key, err)
	}
	return e, true, nil
}

// putEntry stores journal entry e under key in b.
func putEntry(b interface{ Put([]byte, []byte) error }, key []byte, e *Entry) error {
	raw, err := encodeEntry(e)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}
