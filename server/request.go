package server

// This file is the switch-message wire format (CONTRACT 1.1-1.4): decoding a request body into a
// Request, the field rules of each message, the request fingerprint used for idempotent replays, and
// SetMAC, which re-signs a body for the `walletgate sign` command and the load tool.
//
// Decoding is split from validation on purpose. CONTRACT 1.4 orders the work as parse, verify MAC,
// replay check, validate: a body that is not a JSON object is rejected at once (HTTP 400 / 30), but a
// field of the wrong JSON type must only be reported after the MAC verified, or an unsigned message
// could learn our field rules. So DecodeRequest keeps every field's text as sent together with its
// JSON type, and Validate reports the problems later.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Route names the five switch messages. Values are used as metric labels and in the fingerprint.
type Route string

// The five switch messages (CONTRACT 1.6-1.9).
const (
	RouteDebit     Route = "debit"
	RouteReversal  Route = "reversal"
	RouteEnquiry   Route = "enquiry"
	RouteLienPlace Route = "lienplace"
	RouteLienDebit Route = "liendebit"
)

// Limits of the switch messages, in bytes of the decoded (unescaped) UTF-8 text. A longer value fails
// Validate with ErrTooLong; README.md quotes them.
const (
	// MaxIDLen bounds requestId, walletId, transactionReference and originalTransactionReference.
	MaxIDLen = 64
	// MaxTerminalFieldLen bounds rrn, stan, terminalId, terminalType, merchantId and
	// acquiringInstitutionId.
	MaxTerminalFieldLen = 32
	// MaxNameLocationLen bounds cardAcceptorNameLocation.
	MaxNameLocationLen = 64
	// MaxMACLen bounds mac (an HMAC-SHA512 in hex is 128 bytes).
	MaxMACLen = 256
	// TransactionDateTimeLayout is the only accepted form of transactionDateTime (time.Parse layout,
	// local time of the switch, no zone, no fraction); its length, 19, is also the field's maximum.
	TransactionDateTimeLayout = "2006-01-02T15:04:05"
	// CurrencyCodeLen is the exact length of currencyCode: an ISO 4217 numeric code of three ASCII
	// digits such as "566" (anything else fails with ErrFormat, not ErrTooLong).
	CurrencyCodeLen = 3
	// MaxAdditionalFields bounds the number of members of additionalFields.
	MaxAdditionalFields = 64
	// MaxAdditionalFieldKeyLen bounds each member name of additionalFields.
	MaxAdditionalFieldKeyLen = 64
	// MaxAdditionalFieldValueLen bounds each value of additionalFields (ISO 8583 LLLVAR: 999).
	MaxAdditionalFieldValueLen = 999
)

// ErrNotObject is returned by DecodeRequest and SetMAC when the body is not a single JSON object
// (the switch gets HTTP 400 / code 30).
var ErrNotObject = errors.New("request body is not a single JSON object")

// Reasons wrapped by a *FieldError from Validate. Each is returned when:
var (
	// ErrMissing: a required field is absent, null, or the empty string (code 30).
	ErrMissing = errors.New("missing")
	// ErrType: a field has the wrong JSON type, e.g. a number where a string belongs, or an
	// additionalFields value that is not a string (code 30).
	ErrType = errors.New("wrong JSON type")
	// ErrTooLong: a value, or additionalFields, exceeds its documented maximum (code 30).
	ErrTooLong = errors.New("too long")
	// ErrFormat: the JSON type is right but the shape is not: currencyCode not three digits, an
	// amount such as 1.5, 1e2, 100.0 or "12a", a transactionDateTime not in
	// TransactionDateTimeLayout (code 30).
	ErrFormat = errors.New("invalid format")
	// ErrAmount: amount <= 0 where it must be positive, a negative amount or fee, an amount or fee
	// that overflows int64, or amount+transactionFee overflowing int64 (code 13).
	ErrAmount = errors.New("invalid amount")
)

// Wrapped forms of ErrNotObject. They are values so that rejecting a body does not allocate, and
// they never quote the body (it may carry card data).
var (
	errWireUTF8      = fmt.Errorf("decode request: %w: invalid UTF-8", ErrNotObject)
	errWireSyntax    = fmt.Errorf("decode request: %w: invalid JSON", ErrNotObject)
	errWireNotObject = fmt.Errorf("decode request: %w: top-level value is not an object", ErrNotObject)
	errWireDuplicate = fmt.Errorf("decode request: %w: duplicate member name", ErrNotObject)
	errWireRoute     = errors.New("unknown route")
)

// FieldError names the field (by its JSON member name, e.g. "amount") and wraps one of ErrMissing,
// ErrType, ErrTooLong, ErrFormat or ErrAmount. It never carries the field's value.
type FieldError struct {
	Field string
	Err   error
}

// Error returns e.g. `field "amount": invalid amount`.
func (e *FieldError) Error() string { return "field " + strconv.Quote(e.Field) + ": " + e.Err.Error() }

// Unwrap returns the reason, for errors.Is.
func (e *FieldError) Unwrap() error { return e.Err }

// Request is one decoded switch message. It keeps, for every field, the text as sent (for the MAC)
// and remembers fields that came with the wrong JSON type, so that the type error can be reported
// AFTER the MAC was verified (CONTRACT 1.4: parse, verify MAC, replay check, validate).
//
// DecodeRequest sets the string fields: a member sent as a JSON string gets its decoded value, any
// other JSON type leaves the field "" (Validate reports it). Amount, TransactionFee and
// AdditionalFields are set by Validate and are meaningful only when Validate returned nil.
// A Request is not safe for concurrent Validate calls.
type Request struct {
	RequestID, WalletID, TransactionReference, OriginalTransactionReference string
	MAC                                                                     string

	TransactionDateTime, TerminalID, TerminalType, MerchantID, AcquiringInstitutionID string

	// RRN: retrieval reference number; STAN: system trace audit number.
	CardAcceptorNameLocation, CurrencyCode, RRN, STAN string

	// Amount is in minor units; valid only when Validate returned nil (0 after an enquiry).
	Amount int64
	// TransactionFee is in minor units; 0 when absent (and after an enquiry).
	TransactionFee int64
	// AdditionalFields is nil when absent or null, else the members as sent (set by Validate).
	AdditionalFields map[string]string

	// vals holds every known member as sent, indexed by wireField. Its strings are sub-strings of
	// one copy of the body, so decoding allocates only for strings that contain escapes.
	vals [numWireFields]wireValue
}

// wireField indexes the known members, in the field order of Request (the order of Validate's
// checks).
type wireField uint8

const (
	fldRequestID wireField = iota
	fldWalletID
	fldTransactionReference
	fldOriginalTransactionReference
	fldMAC
	fldTransactionDateTime
	fldTerminalID
	fldTerminalType
	fldMerchantID
	fldAcquiringInstitutionID
	fldCardAcceptorNameLocation
	fldCurrencyCode
	fldRRN
	fldSTAN
	fldAmount
	fldTransactionFee
	fldAdditionalFields
	numWireFields
)

// wireFieldNames are the JSON member names, matched case-sensitively.
var wireFieldNames = [numWireFields]string{
	fldRequestID:                    "requestId",
	fldWalletID:                     "walletId",
	fldTransactionReference:         "transactionReference",
	fldOriginalTransactionReference: "originalTransactionReference",
	fldMAC:                          "mac",
	fldTransactionDateTime:          "transactionDateTime",
	fldTerminalID:                   "terminalId",
	fldTerminalType:                 "terminalType",
	fldMerchantID:                   "merchantId",
	fldAcquiringInstitutionID:       "acquiringInstitutionId",
	fldCardAcceptorNameLocation:     "cardAcceptorNameLocation",
	fldCurrencyCode:                 "currencyCode",
	fldRRN:                          "rrn",
	fldSTAN:                         "stan",
	fldAmount:                       "amount",
	fldTransactionFee:               "transactionFee",
	fldAdditionalFields:             "additionalFields",
}

// wireFieldMaxLen is the maximum length of each string field (0: not a plain string field).
var wireFieldMaxLen = [numWireFields]int{
	fldRequestID:                    MaxIDLen,
	fldWalletID:                     MaxIDLen,
	fldTransactionReference:         MaxIDLen,
	fldOriginalTransactionReference: MaxIDLen,
	fldMAC:                          MaxMACLen,
	fldTransactionDateTime:          len(TransactionDateTimeLayout),
	fldTerminalID:                   MaxTerminalFieldLen,
	fldTerminalType:                 MaxTerminalFieldLen,
	fldMerchantID:                   MaxTerminalFieldLen,
	fldAcquiringInstitutionID:       MaxTerminalFieldLen,
	fldCardAcceptorNameLocation:     MaxNameLocationLen,
	fldCurrencyCode:                 CurrencyCodeLen,
	fldRRN:                          MaxTerminalFieldLen,
	fldSTAN:                         MaxTerminalFieldLen,
}

func lookupWireField(name string) (wireField, bool) {
	switch name {
	case "requestId":
		return fldRequestID, true
	case "walletId":
		return fldWalletID, true
	case "transactionReference":
		return fldTransactionReference, true
	case "originalTransactionReference":
		return fldOriginalTransactionReference, true
	case "mac":
		return fldMAC, true
	case "transactionDateTime":
		return fldTransactionDateTime, true
	case "terminalId":
		return fldTerminalID, true
	case "terminalType":
		return fldTerminalType, true
	case "merchantId":
		return fldMerchantID, true
	case "acquiringInstitutionId":
		return fldAcquiringInstitutionID, true
	case "cardAcceptorNameLocation":
		return fldCardAcceptorNameLocation, true
	case "currencyCode":
		return fldCurrencyCode, true
	case "rrn":
		return fldRRN, true
	case "stan":
		return fldSTAN, true
	case "amount":
		return fldAmount, true
	case "transactionFee":
		return fldTransactionFee, true
	case "additionalFields":
		return fldAdditionalFields, true
	}
	return 0, false
}

// Required fields per route, as bit sets over wireField.
const (
	wireReqEnquiry   = 1<<fldRequestID | 1<<fldWalletID | 1<<fldTransactionReference
	wireReqDebit     = wireReqEnquiry | 1<<fldAmount | 1<<fldCurrencyCode | 1<<fldTerminalID | 1<<fldTerminalType | 1<<fldMerchantID | 1<<fldCardAcceptorNameLocation | 1<<fldRRN | 1<<fldSTAN
	wireReqReversal  = wireReqDebit | 1<<fldOriginalTransactionReference
	wireReqLienDebit = wireReqEnquiry | 1<<fldOriginalTransactionReference | 1<<fldAmount | 1<<fldCurrencyCode | 1<<fldRRN | 1<<fldSTAN
)

// wireKind is the JSON type of a member as sent.
type wireKind uint8

const (
	wireKindAbsent wireKind = iota
	wireKindNull
	wireKindString
	wireKindNumber
	wireKindBool
	wireKindObject
	wireKindArray
)

// wireValue is one member as sent. text is the decoded value of a string, the literal of a number,
// the raw text of an object (additionalFields), and "" otherwise.
type wireValue struct {
	kind wireKind
	text string
}

// blank reports whether v counts as missing: absent, null or "".
func (v wireValue) blank() bool {
	return v.kind == wireKindAbsent || v.kind == wireKindNull || (v.kind == wireKindString && v.text == "")
}

// DecodeRequest parses body. It fails (with an error wrapping ErrNotObject) only when body is not
// exactly one JSON object: invalid JSON, trailing data, a top-level array/string/number/null, invalid
// UTF-8 anywhere, or a member name that appears twice in any object, nested ones included (we follow
// I-JSON, RFC 7493: duplicate names are ambiguous, and the MAC and the ledger must see the same
// value; names are compared after unescaping, so "a" and "\u0061" are the same name). Member names
// match exactly (case-sensitive — unlike encoding/json's struct matching). Unknown members are
// ignored. Everything else (wrong types, missing fields, bad amounts) is NOT an error here: see
// Validate.
//
// DecodeRequest does not retain body: the Request holds its own copy. The caller bounds the body's
// size (CONTRACT 1: 64 KiB); nesting is bounded by json.Valid, and nested values are skipped
// without recursion.
func DecodeRequest(body []byte) (*Request, error) {
	if err := checkWireBody(body); err != nil {
		return nil, err
	}
	r := &Request{}
	sc := newWireScanner(string(body), true)
	defer sc.release()
	if err := sc.begin(); err != nil {
		return nil, err
	}
	for {
		name, _, val, ok, err := sc.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		f, known := lookupWireField(name)
		if !known {
			continue
		}
		v, err := classifyWireValue(val)
		if err != nil {
			return nil, err
		}
		r.vals[f] = v
	}
	r.RequestID = r.str(fldRequestID)
	r.WalletID = r.str(fldWalletID)
	r.TransactionReference = r.str(fldTransactionReference)
	r.OriginalTransactionReference = r.str(fldOriginalTransactionReference)
	r.MAC = r.str(fldMAC)
	r.TransactionDateTime = r.str(fldTransactionDateTime)
	r.TerminalID = r.str(fldTerminalID)
	r.TerminalType = r.str(fldTerminalType)
	r.MerchantID = r.str(fldMerchantID)
	r.AcquiringInstitutionID = r.str(fldAcquiringInstitutionID)
	r.CardAcceptorNameLocation = r.str(fldCardAcceptorNameLocation)
	r.CurrencyCode = r.str(fldCurrencyCode)
	r.RRN = r.str(fldRRN)
	r.STAN = r.str(fldSTAN)
	return r, nil
}

// str returns the decoded value of a member sent as a JSON string, else "".
func (r *Request) str(f wireField) string {
	if v := r.vals[f]; v.kind == wireKindString {
		return v.text
	}
	return ""
}

// Text returns the field's text as sent, for the MAC: a JSON string's decoded value; a JSON number's
// literal text exactly as sent (`100`, `1e2`, `-0`); "" for an absent field, null, true/false,
// object or array, and for a name that is not a field of the switch messages. field is the JSON
// member name, e.g. "transactionReference". Escapes are decoded as encoding/json decodes them (an
// unpaired surrogate such as \ud800 becomes U+FFFD).
func (r *Request) Text(field string) string {
	f, ok := lookupWireField(field)
	if !ok {
		return ""
	}
	if v := r.vals[f]; v.kind == wireKindString || v.kind == wireKindNumber {
		return v.text
	}
	return ""
}

// Fingerprint identifies the message for the requestId replay check (CONTRACT 1.4: "a hash of every
// MAC field plus transactionFee and the route"): SHA-256 over the route, then Text of each field in
// macFields (the MAC field list of the message, in order), then Text("transactionFee"), each
// prefixed by its length as a big-endian uint64 so that "ab"+"c" and "a"+"bc" differ.
//
// The fee contributes its text as sent, not its parsed value, so Fingerprint works before Validate
// (the replay check comes first): `"transactionFee":5` and `"transactionFee":"5"` agree, while an
// absent fee, `0` and `"00"` are three different messages. Member order and whitespace do not matter.
func (r *Request) Fingerprint(route Route, macFields []string) [32]byte {
	var stack [512]byte
	buf := wireAppendLenPrefixed(stack[:0], string(route))
	for _, f := range macFields {
		buf = wireAppendLenPrefixed(buf, r.Text(f))
	}
	buf = wireAppendLenPrefixed(buf, r.Text("transactionFee"))
	return sha256.Sum256(buf)
}

func wireAppendLenPrefixed(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(s)))
	return append(buf, s...)
}

// Validate checks r as message route and, when it returns nil, sets Amount, TransactionFee and
// AdditionalFields. It returns nil or a *FieldError; an unknown route is a *FieldError for the field
// "route" that wraps none of the exported reasons.
//
// The checks run in four passes, each in the field order of Request, and the first failure wins, so
// the same input always yields the same error:
//  1. ErrType: a field of the wrong JSON type (null counts as absent, never as a type error);
//  2. ErrMissing: a required field of route absent, null or "";
//  3. ErrTooLong / ErrFormat: lengths, currencyCode, transactionDateTime, the syntax of amount and
//     transactionFee, the limits of additionalFields;
//  4. ErrAmount: negative or overflowing amounts, amount 0 on debit and lienplace, and
//     amount+transactionFee overflowing int64 (reported on "transactionFee").
//
// amount and transactionFee are integers in minor units: a JSON number `[0-9]+` (any minus sign, `-0`
// included, is ErrAmount) or a JSON string of ASCII digits (leading zeros allowed). amount is required on every route but
// enquiry and must be > 0 on debit and lienplace, >= 0 on reversal and liendebit (0 means "full").
// On enquiry both amount and transactionFee are ignored and left 0. mac is not required here: the
// MAC verifier runs before Validate.
func (r *Request) Validate(route Route) error {
	r.Amount, r.TransactionFee, r.AdditionalFields = 0, 0, nil
	var required uint32
	money, positive := true, false
	switch route {
	case RouteDebit:
		required, positive = wireReqDebit, true
	case RouteLienPlace:
		required, positive = wireReqDebit, true
	case RouteReversal:
		required = wireReqReversal
	case RouteLienDebit:
		required = wireReqLienDebit
	case RouteEnquiry:
		required, money = wireReqEnquiry, false
	default:
		return &FieldError{Field: "route", Err: errWireRoute}
	}

	// 1. JSON types.
	for f := range numWireFields {
		v := r.vals[f]
		switch f {
		case fldAmount, fldTransactionFee:
			if money && (v.kind == wireKindBool || v.kind == wireKindObject || v.kind == wireKindArray) {
				return wireFieldErr(f, ErrType)
			}
		case fldAdditionalFields:
			switch v.kind {
			case wireKindAbsent, wireKindNull:
			case wireKindObject:
				if !wireAdditionalAllStrings(v.text) {
					return wireFieldErr(f, ErrType)
				}
			default:
				return wireFieldErr(f, ErrType)
			}
		default:
			if v.kind != wireKindAbsent && v.kind != wireKindNull && v.kind != wireKindString {
				return wireFieldErr(f, ErrType)
			}
		}
	}

	// 2. Required fields.
	for f := range numWireFields {
		if required&(1<<f) != 0 && r.vals[f].blank() {
			return wireFieldErr(f, ErrMissing)
		}
	}

	// 3. Lengths and formats.
	var amount, fee int64
	var amountState, feeState wireMinorState
	if money {
		amount, amountState = wireParseMinor(r.vals[fldAmount])
		fee, feeState = wireParseMinor(r.vals[fldTransactionFee])
	}
	var additional map[string]string
	for f := range numWireFields {
		v := r.vals[f]
		switch f {
		case fldAmount:
			if amountState == wireMinorFormat {
				return wireFieldErr(f, ErrFormat)
			}
		case fldTransactionFee:
			if feeState == wireMinorFormat {
				return wireFieldErr(f, ErrFormat)
			}
		case fldAdditionalFields:
			if v.kind == wireKindObject {
				m, ok := wireDecodeAdditional(v.text)
				if !ok {
					return wireFieldErr(f, ErrTooLong)
				}
				additional = m
			}
		case fldCurrencyCode:
			if v.kind == wireKindString && v.text != "" && !wireIsCurrencyCode(v.text) {
				return wireFieldErr(f, ErrFormat)
			}
		case fldTransactionDateTime:
			if v.kind == wireKindString && v.text != "" {
				if len(v.text) > wireFieldMaxLen[f] {
					return wireFieldErr(f, ErrTooLong)
				}
				if !wireIsDateTime(v.text) {
					return wireFieldErr(f, ErrFormat)
				}
			}
		default:
			if v.kind == wireKindString && len(v.text) > wireFieldMaxLen[f] {
				return wireFieldErr(f, ErrTooLong)
			}
		}
	}

	// 4. Amounts.
	if money {
		if amountState == wireMinorNegative || amountState == wireMinorOverflow || (positive && amount == 0) {
			return wireFieldErr(fldAmount, ErrAmount)
		}
		if feeState == wireMinorNegative || feeState == wireMinorOverflow || amount > math.MaxInt64-fee {
			return wireFieldErr(fldTransactionFee, ErrAmount)
		}
	}
	r.Amount, r.TransactionFee, r.AdditionalFields = amount, fee, additional
	return nil
}

func wireFieldErr(f wireField, reason error) error {
	return &FieldError{Field: wireFieldNames[f], Err: reason}
}

// wireMinorState is the outcome of parsing an amount in minor units.
type wireMinorState uint8

const (
	wireMinorOK       wireMinorState = iota // a value, or absent / null / "" (value 0)
	wireMinorFormat                         // not -?[0-9]+ (number) or [0-9]+ (string)
	wireMinorNegative                       // a number with a minus sign, -0 included
	wireMinorOverflow                       // more than math.MaxInt64
)

// wireParseMinor parses an amount or fee. Type errors are not its business (Validate's first pass).
func wireParseMinor(v wireValue) (int64, wireMinorState) {
	s := v.text
	switch v.kind {
	case wireKindString:
	case wireKindNumber:
		neg := s[0] == '-' // a JSON number is never empty
		if neg {
			s = s[1:]
		}
		if !wireAllDigits(s) {
			return 0, wireMinorFormat // 1.5, 1e2, 100.0, 1e999999
		}
		if neg {
			// -0 too: a reversal or lien debit of 0 gives back or releases everything, so a signed zero must not
			// be read as one.
			return 0, wireMinorNegative
		}
		n, ok := wireDigitsToInt64(s)
		if !ok {
			return 0, wireMinorOverflow
		}
		return n, wireMinorOK
	default:
		return 0, wireMinorOK
	}
	if s == "" {
		return 0, wireMinorOK // blank: missing when required (pass 2), else 0
	}
	if !wireAllDigits(s) {
		return 0, wireMinorFormat // "-5", "12a", " 1"
	}
	n, ok := wireDigitsToInt64(s)
	if !ok {
		return 0, wireMinorOverflow
	}
	return n, wireMinorOK
}

func wireAllDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// wireDigitsToInt64 parses a non-empty string of ASCII digits; ok is false when it exceeds MaxInt64.
func wireDigitsToInt64(s string) (n int64, ok bool) {
	for i := 0; i < len(s); i++ {
		d := int64(s[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func wireIsCurrencyCode(s string) bool {
	return len(s) == CurrencyCodeLen && wireAllDigits(s)
}

// wireIsDateTime accepts exactly "DDDD-DD-DDTDD:DD:DD" that is a real date and time. The
// shape is checked before time.Parse so that its leniencies (a one-digit hour, a trailing
// fraction) can never widen the accepted format.
func wireIsDateTime(s string) bool {
	if len(s) != len(TransactionDateTimeLayout) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := TransactionDateTimeLayout[i]; c {
		case '-', 'T', ':':
			if s[i] != c {
				return false
			}
		default:
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
	}
	_, err := time.Parse(TransactionDateTimeLayout, s)
	return err == nil
}

// wireAdditionalAllStrings reports whether every value of the object raw (valid JSON, duplicate
// names already rejected) is a string. It stops at the first other value, nested containers
// included, so it never walks deep nesting.
func wireAdditionalAllStrings(raw string) bool {
	sc := newWireScanner(raw, false)
	defer sc.release()
	if sc.begin() != nil {
		return false
	}
	for {
		sc.skipWS()
		if sc.i >= len(sc.s) {
			return false
		}
		if sc.s[sc.i] == '}' {
			return true
		}
		if sc.s[sc.i] == ',' {
			sc.i++
			sc.skipWS()
		}
		if _, _, err := sc.memberName(); err != nil {
			return false
		}
		sc.skipWS()
		if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
			return false
		}
		end, _, err := wireStringEnd(sc.s, sc.i)
		if err != nil {
			return false
		}
		sc.i = end
	}
}

// wireDecodeAdditional returns the members of raw, an object whose values are all strings
// (wireAdditionalAllStrings), as a map; ok is false when a limit is exceeded.
func wireDecodeAdditional(raw string) (m map[string]string, ok bool) {
	sc := newWireScanner(raw, false)
	defer sc.release()
	if sc.begin() != nil {
		return nil, false
	}
	for {
		name, _, val, more, err := sc.next()
		if err != nil {
			return nil, false
		}
		if !more {
			if m == nil {
				m = map[string]string{}
			}
			return m, true
		}
		if len(m) == MaxAdditionalFields || len(name) > MaxAdditionalFieldKeyLen {
			return nil, false
		}
		v, err := classifyWireValue(val)
		if err != nil || v.kind != wireKindString || len(v.text) > MaxAdditionalFieldValueLen {
			return nil, false
		}
		if m == nil {
			m = make(map[string]string, 4)
		}
		m[name] = v.text
	}
}

// SetMAC returns body, a JSON object, re-encoded with the `mac` member set to mac: in place when
// present, else appended last. Member names and values are copied byte for byte as sent, in their
// order; only the whitespace between top-level members is dropped (whitespace inside a nested value
// is part of its raw text and kept). It fails, with an error wrapping ErrNotObject, exactly when
// DecodeRequest would. It is for `walletgate sign` and the load tool, not the request path.
func SetMAC(body []byte, mac string) ([]byte, error) {
	if err := checkWireBody(body); err != nil {
		return nil, fmt.Errorf("set mac: %w", err)
	}
	quoted, err := json.Marshal(mac)
	if err != nil {
		return nil, fmt.Errorf("set mac: %w", err)
	}
	sc := newWireScanner(string(body), true)
	defer sc.release()
	if err := sc.begin(); err != nil {
		return nil, fmt.Errorf("set mac: %w", err)
	}
	out := make([]byte, 0, len(body)+len(quoted)+8)
	out = append(out, '{')
	replaced := false
	for n := 0; ; n++ {
		name, key, val, ok, err := sc.next()
		if err != nil {
			return nil, fmt.Errorf("set mac: %w", err)
		}
		if !ok {
			if !replaced {
				if n > 0 {
					out = append(out, ',')
				}
				out = append(out, `"mac":`...)
				out = append(out, quoted...)
			}
			break
		}
		if n > 0 {
			out = append(out, ',')
		}
		if name == "mac" {
			out = append(out, `"mac":`...)
			out = append(out, quoted...)
			replaced = true
			continue
		}
		out = append(out, key...)
		out = append(out, ':')
		out = append(out, val...)
	}
	return append(out, '}'), nil
}

// checkWireBody rejects what the scanner must never see: invalid UTF-8 (encoding/json would
// silently turn it into U+FFFD, so the MAC and the ledger could see different text) and invalid
// JSON, including empty input and trailing data.
func checkWireBody(body []byte) error {
	if !utf8.Valid(body) {
		return errWireUTF8
	}
	if !json.Valid(body) {
		return errWireSyntax
	}
	return nil
}

// classifyWireValue returns the kind and text of a raw JSON value (valid JSON, no surrounding
// whitespace).
func classifyWireValue(raw string) (wireValue, error) {
	if raw == "" {
		return wireValue{}, errWireSyntax
	}
	switch raw[0] {
	case '"':
		s, err := unquoteWire(raw)
		if err != nil {
			return wireValue{}, err
		}
		return wireValue{kind: wireKindString, text: s}, nil
	case '{':
		return wireValue{kind: wireKindObject, text: raw}, nil
	case '[':
		return wireValue{kind: wireKindArray}, nil
	case 't', 'f':
		return wireValue{kind: wireKindBool}, nil
	case 'n':
		return wireValue{kind: wireKindNull}, nil
	default:
		return wireValue{kind: wireKindNumber, text: raw}, nil
	}
}

// unquoteWire decodes a JSON string token. Without a backslash the content is returned as a
// sub-string (no allocation); otherwise encoding/json decodes it, for exact \u and surrogate rules.
func unquoteWire(raw string) (string, error) {
	if len(raw) < 2 {
		return "", errWireSyntax
	}
	inner := raw[1 : len(raw)-1]
	if strings.IndexByte(inner, '\\') < 0 {
		return inner, nil
	}
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return "", errWireSyntax
	}
	return s, nil
}

// wireScanner walks a JSON text that json.Valid and utf8.Valid accepted. It slices out the members
// of the top-level object and skips nested values without recursion: open containers live on an
// explicit stack, so deep nesting costs heap, never goroutine stack. With dups set it also rejects
// a member name that appears twice in any object. Its errors are for input that is not valid after
// all; they keep it from panicking if that promise is ever broken.
type wireScanner struct {
	s      string
	i      int
	dups   bool
	names  []string    // names of the members of the open objects, innermost object last (dups only)
	frames []wireFrame // open containers, innermost last
	seen   map[string]struct{}
}

type wireFrame struct {
	object    bool
	nameStart int // index into names of this object's first member name
}

// wireScanners recycles the scanners of DecodeRequest: their name and frame stacks would otherwise
// be two heap allocations per request.
var wireScanners = sync.Pool{New: func() any {
	return &wireScanner{names: make([]string, 0, 32), frames: make([]wireFrame, 0, 8)}
}}

// newWireScanner returns a pooled scanner over s (rejecting duplicate names when dups); release it
// when done.
func newWireScanner(s string, dups bool) *wireScanner {
	sc := wireScanners.Get().(*wireScanner)
	sc.s, sc.i, sc.dups = s, 0, dups
	return sc
}

// release returns sc to the pool without keeping any reference into the body it scanned, and drops
// stacks that an unusual body grew large.
func (sc *wireScanner) release() {
	clear(sc.names[:cap(sc.names)])
	sc.s, sc.names, sc.frames = "", sc.names[:0], sc.frames[:0]
	if cap(sc.names) > 256 || cap(sc.frames) > 256 {
		return // let the GC have it
	}
	if sc.seen != nil {
		if len(sc.seen) > 256 {
			sc.seen = nil
		} else {
			clear(sc.seen)
		}
	}
	wireScanners.Put(sc)
}

// wireDupsLinearMax is the member count up to which duplicates are found by comparing every pair
// (cheaper than a map for the ~17 members of a switch message).
const wireDupsLinearMax = 24

func (sc *wireScanner) skipWS() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// begin consumes the opening brace of the top-level object.
func (sc *wireScanner) begin() error {
	sc.skipWS()
	if sc.i >= len(sc.s) {
		return errWireSyntax
	}
	if sc.s[sc.i] != '{' {
		return errWireNotObject
	}
	sc.i++
	sc.frames = append(sc.frames, wireFrame{object: true, nameStart: len(sc.names)})
	return nil
}

// next returns the next member of the top-level object: its decoded name, its raw name token and its
// raw value, or ok false after the closing brace (and nothing but whitespace after it).
func (sc *wireScanner) next() (name, key, val string, ok bool, err error) {
	sc.skipWS()
	if sc.i >= len(sc.s) {
		return "", "", "", false, errWireSyntax
	}
	switch sc.s[sc.i] {
	case '}':
		sc.i++
		if err := sc.closeObject(); err != nil {
			return "", "", "", false, err
		}
		sc.skipWS()
		if sc.i != len(sc.s) {
			return "", "", "", false, errWireSyntax
		}
		return "", "", "", false, nil
	case ',':
		sc.i++
		sc.skipWS()
	}
	name, key, err = sc.memberName()
	if err != nil {
		return "", "", "", false, err
	}
	sc.skipWS()
	start := sc.i
	if err := sc.skipValue(); err != nil {
		return "", "", "", false, err
	}
	return name, key, sc.s[start:sc.i], true, nil
}

// memberName consumes `"name" :` and records the name in the innermost object.
func (sc *wireScanner) memberName() (name, key string, err error) {
	if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
		return "", "", errWireSyntax
	}
	end, _, err := wireStringEnd(sc.s, sc.i)
	if err != nil {
		return "", "", err
	}
	key = sc.s[sc.i:end]
	sc.i = end
	if name, err = unquoteWire(key); err != nil {
		return "", "", err
	}
	if sc.dups {
		sc.names = append(sc.names, name)
	}
	sc.skipWS()
	if sc.i >= len(sc.s) || sc.s[sc.i] != ':' {
		return "", "", errWireSyntax
	}
	sc.i++
	return name, key, nil
}

// skipValue consumes one value and everything nested in it, iteratively.
func (sc *wireScanner) skipValue() error {
	base := len(sc.frames)
	for {
		sc.skipWS()
		if sc.i >= len(sc.s) {
			return errWireSyntax
		}
		switch sc.s[sc.i] {
		case '"':
			end, _, err := wireStringEnd(sc.s, sc.i)
			if err != nil {
				return err
			}
			sc.i = end
		case '{':
			sc.i++
			sc.frames = append(sc.frames, wireFrame{object: true, nameStart: len(sc.names)})
			sc.skipWS()
			if sc.i < len(sc.s) && sc.s[sc.i] == '}' {
				sc.i++
				sc.frames = sc.frames[:len(sc.frames)-1]
				break
			}
			if _, _, err := sc.memberName(); err != nil {
				return err
			}
			continue // the member's value
		case '[':
			sc.i++
			sc.frames = append(sc.frames, wireFrame{})
			sc.skipWS()
			if sc.i < len(sc.s) && sc.s[sc.i] == ']' {
				sc.i++
				sc.frames = sc.frames[:len(sc.frames)-1]
				break
			}
			continue // the first element
		default: // number, true, false, null
			j := sc.i
			for j < len(sc.s) && isWireScalarByte(sc.s[j]) {
				j++
			}
			if j == sc.i {
				return errWireSyntax
			}
			sc.i = j
		}
		// A value ended: close the containers that end here, until a ',' starts the next value.
	closing:
		for {
			if len(sc.frames) == base {
				return nil
			}
			sc.skipWS()
			if sc.i >= len(sc.s) {
				return errWireSyntax
			}
			top := sc.frames[len(sc.frames)-1]
			switch c := sc.s[sc.i]; {
			case c == ',':
				sc.i++
				if top.object {
					sc.skipWS()
					if _, _, err := sc.memberName(); err != nil {
						return err
					}
				}
				break closing
			case c == '}' && top.object:
				sc.i++
				if err := sc.closeObject(); err != nil {
					return err
				}
			case c == ']' && !top.object:
				sc.i++
				sc.frames = sc.frames[:len(sc.frames)-1]
			default:
				return errWireSyntax
			}
		}
	}
}

// closeObject pops the innermost frame, an object, and checks its member names for duplicates.
func (sc *wireScanner) closeObject() error {
	top := sc.frames[len(sc.frames)-1]
	sc.frames = sc.frames[:len(sc.frames)-1]
	if !sc.dups {
		return nil
	}
	names := sc.names[top.nameStart:]
	sc.names = sc.names[:top.nameStart]
	if len(names) <= wireDupsLinearMax {
		for i := 1; i < len(names); i++ {
			for j := 0; j < i; j++ {
				if names[i] == names[j] {
					return errWireDuplicate
				}
			}
		}
		return nil
	}
	if sc.seen == nil {
		sc.seen = make(map[string]struct{}, len(names))
	} else {
		clear(sc.seen)
	}
	for _, n := range names {
		if _, dup := sc.seen[n]; dup {
			return errWireDuplicate
		}
		sc.seen[n] = struct{}{}
	}
	return nil
}

// wireStringEnd returns the index just past the JSON string token starting at s[i] (a quote), and
// whether it contains an escape. It is linear in the token's length however many escapes it holds:
// the candidate closing quote is searched again only once an escape has moved past it.
func wireStringEnd(s string, i int) (end int, escaped bool, err error) {
	j, q := i+1, -1 // q: the first quote at or after j that is not yet known to be escaped
	for j <= len(s) {
		if q < j {
			k := strings.IndexByte(s[j:], '"')
			if k < 0 {
				break
			}
			q = j + k
		}
		b := strings.IndexByte(s[j:q], '\\')
		if b < 0 {
			return q + 1, escaped, nil
		}
		escaped = true
		j += b + 2 // the backslash and the byte it escapes
	}
	return 0, false, errWireSyntax
}

// isWireScalarByte reports whether c can be part of a number or of true, false, null.
func isWireScalarByte(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' || c == 'E'
}
