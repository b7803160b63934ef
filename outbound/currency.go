package outbound

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
)

// Currency is one ISO 4217 currency: its numeric code ("566"), its alpha-3 code ("NGN") and its exponent, the
// number of decimal places of its minor unit (2 for NGN, 0 for XOF, 3 for KWD).
type Currency struct {
	Numeric, Alpha string
	Exponent       int32
}

// currencies is the one ISO 4217 table of walletgate: the currencies the partners can be told about. A wallet in
// a currency missing here can still be used by the switch; its partner deliveries fail with
// ErrUnsupportedCurrency (permanent) until the currency is added.
var currencies = []Currency{
	{"566", "NGN", 2}, // Nigerian naira (kobo)
	{"840", "USD", 2},
	{"978", "EUR", 2},
	{"826", "GBP", 2},
	{"936", "GHS", 2}, // Ghana cedi (pesewa)
	{"404", "KES", 2}, // Kenyan shilling
	{"710", "ZAR", 2}, // South African rand
	{"952", "XOF", 0}, // CFA franc BCEAO: no minor unit
	{"950", "XAF", 0}, // CFA franc BEAC: no minor unit
	{"800", "UGX", 0}, // Ugandan shilling: no minor unit
	{"646", "RWF", 0}, // Rwandan franc: no minor unit
	{"834", "TZS", 2}, // Tanzanian shilling
	{"967", "ZMW", 2}, // Zambian kwacha
	{"818", "EGP", 2}, // Egyptian pound
	{"504", "MAD", 2}, // Moroccan dirham
	{"784", "AED", 2}, // UAE dirham
	{"682", "SAR", 2}, // Saudi riyal
	{"414", "KWD", 3}, // Kuwaiti dinar (fils)
	{"048", "BHD", 3}, // Bahraini dinar (fils)
	{"512", "OMR", 3}, // Omani rial (baisa)
	{"788", "TND", 3}, // Tunisian dinar (millime)
}

var byNumeric = func() map[string]Currency {
	m := make(map[string]Currency, len(currencies))
	for _, c := range currencies {
		m[c.Numeric] = c
	}
	return m
}()

// Errors of the conversion to a partner's representation. Both are permanent: resending cannot help.
var (
	// ErrUnsupportedCurrency is returned when a numeric currency code is not in the ISO 4217 table.
	ErrUnsupportedCurrency = errors.New("unsupported currency")

	// ErrAmount is returned when an amount cannot be represented: negative, not a whole number of minor units,
	// or beyond int64 minor units.
	ErrAmount = errors.New("amount not representable")
)

// CurrencyByNumeric returns the currency with the ISO 4217 numeric code (three digits, "566").
func CurrencyByNumeric(numeric string) (Currency, bool) {
	c, ok := byNumeric[numeric]
	return c, ok
}

// Currencies returns a copy of the ISO 4217 table, in the order of the table.
func Currencies() []Currency {
	return append([]Currency(nil), currencies...)
}

// ToMajor converts an amount in minor units to the currency's major units, exactly: 150 NGN is 1.50, 1500 XOF is
// 1500, 1005 KWD is 1.005. Negative amounts are returned negative (callers of the partners never send them).
func ToMajor(minor int64, numeric string) (decimal.Decimal, error) {
	c, ok := CurrencyByNumeric(numeric)
	if !ok {
		return decimal.Decimal{}, fmt.Errorf("currency %q: %w", numeric, ErrUnsupportedCurrency)
	}
	return decimal.New(minor, -c.Exponent), nil
}

// FromMajor converts an amount in major units to minor units. It fails with ErrAmount when the amount has more
// decimal places than the currency's exponent (1.505 NGN) or does not fit in an int64.
func FromMajor(major decimal.Decimal, numeric string) (int64, error) {
	c, ok := CurrencyByNumeric(numeric)
	if !ok {
		return 0, fmt.Errorf("currency %q: %w", numeric, ErrUnsupportedCurrency)
	}
	minor := major.Shift(c.Exponent)
	if !minor.IsInteger() {
		return 0, fmt.Errorf("%s %s has more than %d decimals: %w", major.String(), c.Alpha, c.Exponent, ErrAmount)
	}
	bi := minor.BigInt()
	if !bi.IsInt64() {
		return 0, fmt.Errorf("%s %s overflows int64 minor units: %w", major.String(), c.Alpha, ErrAmount)
	}
	return bi.Int64(), nil
}

// majorText is the amount as partners want it: a non-negative decimal in major units with exactly the currency's
// exponent of decimals ("1.50" for 150 kobo, "1500" for 1500 XOF, "1.005" for 1005 fils).
func majorText(minor int64, numeric string) (string, Currency, error) {
	c, ok := CurrencyByNumeric(numeric)
	if !ok {
		return "", Currency{}, fmt.Errorf("currency %q: %w", numeric, ErrUnsupportedCurrency)
	}
	if minor < 0 {
		return "", c, fmt.Errorf("negative amount: %w", ErrAmount)
	}
	return decimal.New(minor, -c.Exponent).StringFixed(c.Exponent), c, nil
}
