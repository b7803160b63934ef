package main

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/shopspring/decimal"

	"github.com/walletgate/walletgate/outbound"
)

// lookupCurrency finds an ISO 4217 numeric code in the project's table (package outbound). It is the one place
// the CLI learns currencies from.
func lookupCurrency(numeric string) (outbound.Currency, bool) {
	return outbound.CurrencyByNumeric(numeric)
}

// formatMoney shows minor units in major units with the currency: 123456 in 566 is "1234.56 NGN", 1500 in 952 is
// "1500 XOF". An unknown currency shows the minor units and the numeric code, never a guessed decimal point.
func formatMoney(minor int64, numeric string) string {
	c, ok := lookupCurrency(numeric)
	major, err := outbound.ToMajor(minor, numeric)
	if !ok || err != nil {
		return fmt.Sprintf("%d (minor units, currency %s)", minor, numeric)
	}
	return major.StringFixed(c.Exponent) + " " + c.Alpha
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
	minor, err := outbound.FromMajor(d, numeric)
	if err != nil {
		if c.Exponent == 0 {
			return 0, fmt.Errorf("%w %q: %s has no minor unit, or the amount is too large", errAmount, s, c.Alpha)
		}
		return 0, fmt.Errorf("%w %q: %s has %d decimal places, or the amount is too large", errAmount, s, c.Alpha, c.Exponent)
	}
	return minor, nil
}
