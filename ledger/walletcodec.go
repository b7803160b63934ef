package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Wallet records are stored in a compact binary form, not JSON. Every debit rewrites its wallet's record, so the
// wallets bucket takes one dirty page per wallet a batch touches; at about a third of the JSON's size (no member
// names, no id: the key is the id) three times as many wallets share a page, and fewer pages reach the disk per
// commit. Measured with loadgen on 1,000 wallets: the wallets bucket was more than half of the pages a commit wrote.
//
// Layout, version walletCodecV1: the version byte, then Balance, Held, DailyDebitLimit, CreatedAt and DayDebited
// as zig-zag varints, Last as an unsigned varint, then Currency, Name, Status, Phone, VirtualAccountID and Day, each
// an unsigned varint length and its bytes. A record that does not parse exactly, with nothing left over, is an
// error: a damaged record must never read as a wallet.
const walletCodecV1 = 1

func encodeWallet(w *walletRecord) []byte {
	b := make([]byte, 0, 64+len(w.Name)+len(w.Phone)+len(w.VirtualAccountID))
	b = append(b, walletCodecV1)
	for _, v := range []int64{w.Balance, w.Held, w.DailyDebitLimit, w.CreatedAt, w.DayDebited} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, w.Last)
	for _, s := range []string{w.Currency, w.Name, string(w.Status), w.Phone, w.VirtualAccountID, w.Day} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errWalletRecord = errors.New("malformed wallet record")

// decodeWallet reads the record stored under id. Nothing it returns aliases raw (bbolt's memory).
func decodeWallet(id string, raw []byte) (*walletRecord, error) {
	if len(raw) == 0 || raw[0] != walletCodecV1 {
		return nil, fmt.Errorf("wallet %q: %w (version %x)", id, errWalletRecord, raw[:min(len(raw), 1)])
	}
	d := walletDecoder{b: raw[1:]}
	w := &walletRecord{ID: id}
	for _, p := range []*int64{&w.Balance, &w.Held, &w.DailyDebitLimit, &w.CreatedAt, &w.DayDebited} {
		*p = d.varint()
	}
	w.Last = d.uvarint()
	var status string
	for _, p := range []*string{&w.Currency, &w.Name, &status, &w.Phone, &w.VirtualAccountID, &w.Day} {
		*p = d.string()
	}
	w.Status = Status(status)
	if d.bad || len(d.b) != 0 {
		return nil, fmt.Errorf("wallet %q: %w", id, errWalletRecord)
	}
	return w, nil
}

type walletDecoder struct {
	b   []byte
	bad bool
}

func (d *walletDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *walletDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *walletDecoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
