package ledger

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Transaction records are stored in a compact binary form, like wallets and journal entries: every switch message
// that moves money writes one inside the single writer, and JSON (with the card details: ~400 bytes) was a large
// part of the writer's own work per debit. Records written as JSON by format 1 stay readable: a JSON record begins
// with '{', a binary one with its version byte.
//
// Layout, version txnCodecV1: the version byte; Kind, Reference, RequestID, WalletID, Currency (strings: an
// unsigned varint length and the bytes); Amount, Fee (zig-zag varints); Decline, State, Original (strings);
// Reversed (varint); FeeReversed (a byte, 0 or 1); the number of Reversals and each of them (strings); Entry
// (unsigned varint); CreatedAt (varint); Day (string); Details: 0, or 1 and its eight strings, then the number of
// AdditionalFields and each name and value in name order; Lien: 0, or 1 and ExpiresAt, EndedAt (varints),
// ReleaseReason, EndedBy (strings), Debited (varint), EndEntry (unsigned varint). A record that does not parse
// exactly, with nothing left over, is an error.
const txnCodecV1 = 3 // distinct from the other codecs' version bytes

var errTxnRecord = errors.New("malformed transaction record")

func encodeTxn(t *txnRecord) []byte {
	b := make([]byte, 0, 160+len(t.Reference)+len(t.RequestID))
	b = append(b, txnCodecV1)
	for _, s := range []string{t.Kind, t.Reference, t.RequestID, t.WalletID, t.Currency} {
		b = appendCodecString(b, s)
	}
	b = binary.AppendVarint(b, t.Amount)
	b = binary.AppendVarint(b, t.Fee)
	for _, s := range []string{t.Decline, t.State, t.Original} {
		b = appendCodecString(b, s)
	}
	b = binary.AppendVarint(b, t.Reversed)
	b = appendCodecBool(b, t.FeeReversed)
	b = binary.AppendUvarint(b, uint64(len(t.Reversals)))
	for _, r := range t.Reversals {
		b = appendCodecString(b, r)
	}
	b = binary.AppendUvarint(b, t.Entry)
	b = binary.AppendVarint(b, t.CreatedAt)
	b = appendCodecString(b, t.Day)
	b = appendCodecBool(b, t.Details != nil)
	if d := t.Details; d != nil {
		for _, s := range []string{d.RRN, d.STAN, d.TerminalID, d.TerminalType, d.MerchantID, d.AcquiringInstitutionID,
			d.CardAcceptorNameLocation, d.TransactionDateTime} {
			b = appendCodecString(b, s)
		}
		names := make([]string, 0, len(d.AdditionalFields))
		for k := range d.AdditionalFields {
			names = append(names, k)
		}
		slices.Sort(names) // the same record always encodes to the same bytes
		b = binary.AppendUvarint(b, uint64(len(names)))
		for _, k := range names {
			b = appendCodecString(b, k)
			b = appendCodecString(b, d.AdditionalFields[k])
		}
	}
	b = appendCodecBool(b, t.Lien != nil)
	if l := t.Lien; l != nil {
		b = binary.AppendVarint(b, l.ExpiresAt)
		b = binary.AppendVarint(b, l.EndedAt)
		b = appendCodecString(b, l.ReleaseReason)
		b = appendCodecString(b, l.EndedBy)
		b = binary.AppendVarint(b, l.Debited)
		b = binary.AppendUvarint(b, l.EndEntry)
	}
	return b
}

func appendCodecBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// decodeTxn reads a stored transaction record, binary or JSON. Nothing it returns aliases raw (bbolt's memory).
func decodeTxn(raw []byte) (*txnRecord, error) {
	if len(raw) > 0 && raw[0] == '{' {
		t := new(txnRecord)
		if err := json.Unmarshal(raw, t); err != nil {
			return nil, fmt.Errorf("%w: %v", errTxnRecord, err)
		}
		return t, nil
	}
	if len(raw) == 0 || raw[0] != txnCodecV1 {
		return nil, fmt.Errorf("%w (version %x)", errTxnRecord, raw[:min(len(raw), 1)])
	}
	d := walletDecoder{b: raw[1:]}
	t := new(txnRecord)
	for _, p := range []*string{&t.Kind, &t.Reference, &t.RequestID, &t.WalletID, &t.Currency} {
		*p = d.string()
	}
	t.Amount, t.Fee = d.varint(), d.varint()
	for _, p := range []*string{&t.Decline, &t.State, &t.Original} {
		*p = d.string()
	}
	t.Reversed = d.varint()
	t.FeeReversed = d.bool()
	if n := d.count(); n > 0 {
		t.Reversals = make([]string, n)
		for i := range t.Reversals {
			t.Reversals[i] = d.string()
		}
	}
	t.Entry = d.uvarint()
	t.CreatedAt = d.varint()
	t.Day = d.string()
	if d.bool() {
		t.Details = new(Details)
		for _, p := range []*string{&t.Details.RRN, &t.Details.STAN, &t.Details.TerminalID, &t.Details.TerminalType,
			&t.Details.MerchantID, &t.Details.AcquiringInstitutionID, &t.Details.CardAcceptorNameLocation,
			&t.Details.TransactionDateTime} {
			*p = d.string()
		}
		if n := d.count(); n > 0 {
			t.Details.AdditionalFields = make(map[string]string, n)
			for range n {
				k := d.string()
				t.Details.AdditionalFields[k] = d.string()
			}
		}
	}
	if d.bool() {
		t.Lien = &lienState{ExpiresAt: d.varint(), EndedAt: d.varint(), ReleaseReason: d.string(), EndedBy: d.string(),
			Debited: d.varint(), EndEntry: d.uvarint()}
	}
	if d.bad || len(d.b) != 0 {
		return nil, errTxnRecord
	}
	return t, nil
}

func (d *walletDecoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.bad = true
	return false
}

// count reads a number of items that each take at least one byte: a count the rest of the record cannot hold is
// malformed (and never allocated for).
func (d *walletDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return 0
	}
	return int(n)
}
