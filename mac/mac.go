// Package mac computes and verifies the HMACs that sign every message between
// the card switch and walletgate (CONTRACT 1.2).
//
// # What is signed
//
// A MAC is
//
//	lowercase hex( HMAC-<algo>( key, v1 || v2 || ... || vn ) )
//
// where v1..vn are the values of a fixed list of JSON fields, concatenated in
// that order with no separators. Fields returns the list for each request
// message, ResponseFields the list for every response:
//
//	debit      transactionReference, requestId, rrn, stan, walletId, amount, currencyCode
//	reversal   transactionReference, originalTransactionReference, requestId, rrn, stan, walletId, amount, currencyCode
//	enquiry    transactionReference, requestId, rrn, stan, walletId
//	lienplace  transactionReference, requestId, walletId, rrn, stan, amount, currencyCode
//	liendebit  transactionReference, originalTransactionReference, requestId, rrn, stan, walletId, amount, currencyCode
//	response   transactionReference, requestId, responseCode
//
// (rrn is the retrieval reference number, stan the system trace audit number.)
// A value is the field's text as sent: a string contributes its content, a
// number its JSON text (amount 100 contributes "100", never "100.0"), and an
// absent field contributes the empty string. This package does not parse JSON:
// the caller supplies the values, usually through Values.
//
// # Algorithms and keys
//
// The algorithm is SHA512 (the default, also chosen by an empty name) or
// SHA256; it is a deployment setting shared with the switch, not negotiated
// per message. Keys holds the current key and, while the switch rotates to a
// new key, the previous one:
//
//   - Verify accepts a MAC made with the current key or, if one is configured,
//     the previous key, and reports which one matched. When a previous key is
//     configured both MACs are always computed, so the time taken does not
//     depend on which key matched.
//   - The response to a request is signed with the key that verified it
//     (Sign and SignResponse take the KeyID that Verify returned), and with the
//     current key when none did. Verify returns Current on failure so callers
//     can pass its KeyID on unconditionally.
//   - Rotation is: configure the new key as current and the old one as
//     previous; once the switch has moved over, drop the previous key.
//
// # Comparison
//
// The received MAC is compared case-insensitively (it is hex-decoded first)
// and in constant time with hmac.Equal. A MAC that is not hex, or whose length
// does not fit the algorithm, simply fails to verify.
//
// # Promises
//
// Everything here is pure: no I/O, no logging, no global state. Keys is safe
// for concurrent use and never prints its key bytes (see Keys.Format). Errors
// never contain a key or a MAC. Slices returned by Fields, ResponseFields and
// Values are fresh copies owned by the caller.
package mac

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Errors returned by this package. Check them with errors.Is: they are
// usually wrapped with more context.
var (
	// ErrNoKey is returned by NewKeys when the current key is empty.
	ErrNoKey = errors.New("mac: no current key")

	// ErrUnknownAlgorithm is returned by ParseAlgorithm and NewKeys when the
	// algorithm is neither "sha512" nor "sha256".
	ErrUnknownAlgorithm = errors.New("mac: unknown algorithm")

	// ErrUnknownMessage is returned by ParseMessage when the name is not one
	// of the five request messages.
	ErrUnknownMessage = errors.New("mac: unknown message")
)

// Algorithm names the hash function of the HMAC.
type Algorithm string

// Supported algorithms. The zero value "" means SHA512 wherever an Algorithm is
// accepted.
const (
	SHA512 Algorithm = "sha512" // default
	SHA256 Algorithm = "sha256"
)

// maxSize is the largest MAC size in bytes (SHA-512).
const maxSize = sha512.Size

// ParseAlgorithm parses an algorithm name, case-insensitively and ignoring
// surrounding blanks: "" gives SHA512 (the default), "sha512" and "sha256"
// give themselves. Anything else is an error wrapping ErrUnknownAlgorithm; the
// error does not repeat the input, in case a key was put in the wrong setting.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", string(SHA512):
		return SHA512, nil
	case string(SHA256):
		return SHA256, nil
	}
	return "", fmt.Errorf("%w (want %q or %q)", ErrUnknownAlgorithm, SHA512, SHA256)
}

// newHash returns the constructor of algo's hash and its output size. ok is
// false for an unknown algorithm. algo must already be normalised (see
// ParseAlgorithm); "" is SHA512.
func (algo Algorithm) newHash() (fn func() hash.Hash, size int, ok bool) {
	switch algo {
	case SHA512, "":
		return sha512.New, sha512.Size, true
	case SHA256:
		return sha256.New, sha256.Size, true
	}
	return nil, 0, false
}

// Message names a request message of the card switch; each has its own list of
// MAC fields.
type Message string

// The five request messages, named after their routes.
const (
	Debit     Message = "debit"     // POST /debit
	Reversal  Message = "reversal"  // POST /reversal
	Enquiry   Message = "enquiry"   // POST /enquiry
	LienPlace Message = "lienplace" // POST /lien/place
	LienDebit Message = "liendebit" // POST /lien/debit
)

// Messages lists the five request messages in the order Debit, Reversal,
// Enquiry, LienPlace, LienDebit. The slice is a fresh copy.
func Messages() []Message {
	return []Message{Debit, Reversal, Enquiry, LienPlace, LienDebit}
}

// ParseMessage parses a message name, case-insensitively and ignoring
// surrounding blanks. It accepts the names of the constants ("debit",
// "lienplace", ...), the route paths with or without their leading slash
// ("/debit", "/lien/place", "lien/debit"), and the lien names written with a
// hyphen or an underscore ("lien-place", "lien_debit"). Anything else is an
// error wrapping ErrUnknownMessage.
func ParseMessage(s string) (Message, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	n = strings.TrimPrefix(n, "/")
	if rest, ok := strings.CutPrefix(n, "lien"); ok && len(rest) > 0 {
		switch rest[0] {
		case '/', '-', '_':
			rest = rest[1:]
		}
		n = "lien" + rest
	}
	switch m := Message(n); m {
	case Debit, Reversal, Enquiry, LienPlace, LienDebit:
		return m, nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownMessage, s)
}

// Field lists, CONTRACT 1.2. Never hand these out: callers get copies.
var (
	debitFields     = []string{"transactionReference", "requestId", "rrn", "stan", "walletId", "amount", "currencyCode"}
	reversalFields  = []string{"transactionReference", "originalTransactionReference", "requestId", "rrn", "stan", "walletId", "amount", "currencyCode"}
	enquiryFields   = []string{"transactionReference", "requestId", "rrn", "stan", "walletId"}
	lienPlaceFields = []string{"transactionReference", "requestId", "walletId", "rrn", "stan", "amount", "currencyCode"}
	lienDebitFields = []string{"transactionReference", "originalTransactionReference", "requestId", "rrn", "stan", "walletId", "amount", "currencyCode"}
	responseFields  = []string{"transactionReference", "requestId", "responseCode"}
)

// fields returns the shared, read-only field list of m, or nil.
func fields(m Message) []string {
	switch m {
	case Debit:
		return debitFields
	case Reversal:
		return reversalFields
	case Enquiry:
		return enquiryFields
	case LienPlace:
		return lienPlaceFields
	case LienDebit:
		return lienDebitFields
	}
	return nil
}

// Fields returns the JSON field names whose values are concatenated, in
// order, for the request MAC of m (CONTRACT 1.2), or nil for an unknown
// message. The slice is a fresh copy: callers may modify it.
func Fields(m Message) []string {
	f := fields(m)
	if f == nil {
		return nil
	}
	return append([]string(nil), f...)
}

// ResponseFields returns the JSON field names whose values are concatenated,
// in order, for the MAC of every response: transactionReference, requestId,
// responseCode. It is a function rather than a variable so that no caller can
// change the list for everybody; the slice is a fresh copy.
func ResponseFields() []string {
	return append([]string(nil), responseFields...)
}

// Values picks the MAC input values of m: for each name of Fields(m), in
// order, fieldText(name), which must return the field's text as sent ("" when
// the field is absent; a number's JSON text, e.g. "100"). It returns nil for an
// unknown message. fieldText is called once per field, in order.
func Values(m Message, fieldText func(name string) string) []string {
	f := fields(m)
	if f == nil {
		return nil
	}
	v := make([]string, len(f))
	for i, name := range f {
		v[i] = fieldText(name)
	}
	return v
}

// Sum returns lowercase hex(HMAC(algo, key, v1 || v2 || ...)), the values
// concatenated with no separators. algo "" is SHA512. Sum panics on an
// algorithm that ParseAlgorithm would reject: that is a programming error, as
// the algorithm comes from a constant or from ParseAlgorithm.
//
// Sum builds a new HMAC on every call; on a hot path use Keys, which reuses
// them.
func Sum(algo Algorithm, key []byte, values ...string) string {
	newHash, _, ok := algo.newHash()
	if !ok {
		panic("mac.Sum: unknown algorithm")
	}
	st := &state{h: hmac.New(newHash, key)}
	return st.hexSum(values)
}

// state is one HMAC with its scratch space. A state belongs to one goroutine
// at a time (Keys pools them per key).
type state struct {
	h       hash.Hash // keyed HMAC
	scratch [256]byte // values are copied here and written in blocks
	sum     [maxSize]byte
}

// mac resets the HMAC, writes values and returns the raw MAC, which aliases
// st.sum and is valid until the next use of st.
//
// The values are copied into st.scratch rather than written one by one with
// io.WriteString: the HMAC has no WriteString method, so io.WriteString
// would allocate a []byte per value.
func (st *state) mac(values []string) []byte {
	st.h.Reset()
	n := 0
	for _, v := range values {
		for len(v) > 0 {
			c := copy(st.scratch[n:], v)
			n += c
			v = v[c:]
			if n == len(st.scratch) {
				st.h.Write(st.scratch[:]) // hash.Hash.Write never returns an error
				n = 0
			}
		}
	}
	if n > 0 {
		st.h.Write(st.scratch[:n])
	}
	return st.h.Sum(st.sum[:0])
}

// hexSum is mac in lowercase hex.
func (st *state) hexSum(values []string) string {
	sum := st.mac(values)
	var dst [2 * maxSize]byte
	n := hex.Encode(dst[:], sum)
	return string(dst[:n])
}

// decodeHex decodes the hex string s (either case) into dst and reports
// whether s was exactly 2*len(dst) hex digits. It never panics. The received
// MAC is not secret, so data-dependent branches here leak nothing.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
