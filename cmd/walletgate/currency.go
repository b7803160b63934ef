package main

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"

	"github.com/shopspring/decimal"
)

// currency is what the CLI needs of an ISO 4217 currency: its alphabetic code and its exponent (minor units per
// major unit as a power of ten; XOF and XAF have none).
type currency struct {
	Alpha    string
	Exponent int32
}

// lookupCurrency finds an ISO 4217 numeric code. It is the one place the CLI learns currencies from.
func lookupCurrency(numeric string) (currency, bool) {
	c, ok := iso4217[numeric]
	return c, ok
}

// iso4217 holds the currencies a walletgate deployment meets: the switch's region and the usual settlement ones.
var iso4217 = map[string]currency{
	"566": {"NGN", 2}, "952": {"XOF", 0}, "950": {"XAF", 0}, "936": {"GHS", 2}, "404": {"KES", 2},
	"800": {"UGX", 0}, "834": {"TZS", 2}, "646": {"RWF", 0}, "710": {"ZAR", 2}, "818": {"EGP", 2},
	"504": {"MAD", 2}, "788": {"TND", 3}, "231": {"ETB", 2}, "894": {"ZMW", 2}, "454": {"MWK", 2},
	"840": {"USD", 2}, "978": {"EUR", 2}, "826": {"GBP", 2}, "756": {"CHF", 2}, "392": {"JPY", 0},
	"156": {"CNY", 2}, "356": {"INR", 2}, "784": {"AED", 2}, "682": {"SAR", 2}, "048": {"BHD", 3},
	"414": {"KWD", 3}, "512": {"OMR", 3}, "124": {"CAD", 2},
}

// formatMoney shows minor units in major units with the currency: 123456 in 566 is "1234.56 NGN", 1500 in 952 is
// "1500 XOF". An unknown currency shows the minor units and the numeric code, never a guessed decimal point.
func formatMoney(minor int64, numeric string) string {
	c, ok := lookupCurrency(numeric)
	if !ok {
		return fmt.Sprintf("%d (minor units, currency %s)", minor, numeric)
	}
	return decimal.New(minor, -c.Exponent).StringFixed(c.Exponent) + " " + c.Alpha
}

var majorAmount = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

var errAmount = errors.New("invalid amount")

// parseMoney reads an amount typed in major units ("1234.56") into minor units of the currency. It refuses signs,
// exponents, more decimals than the currency has, and anything beyond int64: an operator's typo must never move
// a hundred times the money.
func parseMoney(s, numeric string) (int64, error) {
	c, ok := lookupCurrency(numeric)
	if !ok {
		return 0, fmt.Errorf("%w: currency %s is not known to this tool, so its decimals are unknown", errAmount, numeric)
	}
	if !majorAmount.MatchString(s) {
		return 0, fmt.Errorf("%w %q: want digits with an optional decimal point, in %s", errAmount, s, c.Alpha)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("%w %q: %v", errAmount, s, err)
	}
	minor := d.Shift(c.Exponent)
	if !minor.IsInteger() {
		if c.Exponent == 0 {
			return 0, fmt.Errorf("%w %q: %s has no minor unit", errAmount, s, c.Alpha)
		}
		return 0, fmt.Errorf("%w %q: %s has %d decimal places", errAmount, s, c.Alpha, c.Exponent)
	}
	b := minor.BigInt()
	if !b.IsInt64() || b.Cmp(big.NewInt(0)) < 0 {
		return 0, fmt.Errorf("%w %q: too large", errAmount, s)
	}
	return b.Int64(), nil
}
