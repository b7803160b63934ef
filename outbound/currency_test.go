package outbound

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"
)

// TestCurrencies: one case per currency walletgate supports, each with an amount shown the way partners get it.
func TestCurrencies(t *testing.T) {
	cases := []struct {
		numeric, alpha string
		exponent       int32
		minor          int64
		major          string
	}{
		{"566", "NGN", 2, 150, "1.50"},
		{"840", "USD", 2, 999, "9.99"},
		{"978", "EUR", 2, 100000, "1000.00"},
		{"826", "GBP", 2, 1, "0.01"},
		{"936", "GHS", 2, 2550, "25.50"},
		{"404", "KES", 2, 70000, "700.00"},
		{"710", "ZAR", 2, 12345, "123.45"},
		{"952", "XOF", 0, 1500, "1500"},
		{"950", "XAF", 0, 15000, "15000"},
		{"800", "UGX", 0, 5000, "5000"},
		{"646", "RWF", 0, 200, "200"},
		{"834", "TZS", 2, 5, "0.05"},
		{"967", "ZMW", 2, 1000, "10.00"},
		{"818", "EGP", 2, 101, "1.01"},
		{"504", "MAD", 2, 10, "0.10"},
		{"784", "AED", 2, 370, "3.70"},
		{"682", "SAR", 2, 375, "3.75"},
		{"414", "KWD", 3, 1005, "1.005"},
		{"048", "BHD", 3, 376, "0.376"},
		{"512", "OMR", 3, 385, "0.385"},
		{"788", "TND", 3, 3100, "3.100"},
	}
	if len(cases) != len(Currencies()) {
		t.Fatalf("%d cases for %d currencies: every currency in the table needs a case", len(cases), len(Currencies()))
	}
	for _, tc := range cases {
		t.Run(tc.alpha, func(t *testing.T) {
			c, ok := CurrencyByNumeric(tc.numeric)
			if !ok || c != (Currency{tc.numeric, tc.alpha, tc.exponent}) {
				t.Fatalf("CurrencyByNumeric(%q) = %+v, %v", tc.numeric, c, ok)
			}
			major, err := ToMajor(tc.minor, tc.numeric)
			if err != nil || !major.Equal(decimal.RequireFromString(tc.major)) {
				t.Fatalf("ToMajor(%d) = %s, %v; want %s", tc.minor, major, err, tc.major)
			}
			text, _, err := majorText(tc.minor, tc.numeric)
			if err != nil || text != tc.major {
				t.Fatalf("majorText(%d) = %q, %v; want %q", tc.minor, text, err, tc.major)
			}
			back, err := FromMajor(decimal.RequireFromString(tc.major), tc.numeric)
			if err != nil || back != tc.minor {
				t.Fatalf("FromMajor(%s) = %d, %v; want %d", tc.major, back, err, tc.minor)
			}
		})
	}
}

// TestCurrencyTable: codes are well formed and unique both ways.
func TestCurrencyTable(t *testing.T) {
	numeric, alpha := regexp.MustCompile(`^[0-9]{3}$`), regexp.MustCompile(`^[A-Z]{3}$`)
	seenN, seenA := map[string]bool{}, map[string]bool{}
	for _, c := range Currencies() {
		if !numeric.MatchString(c.Numeric) || !alpha.MatchString(c.Alpha) || c.Exponent < 0 || c.Exponent > 3 {
			t.Errorf("malformed entry %+v", c)
		}
		if seenN[c.Numeric] || seenA[c.Alpha] {
			t.Errorf("entry %+v repeats a code", c)
		}
		seenN[c.Numeric], seenA[c.Alpha] = true, true
	}
	if _, ok := CurrencyByNumeric("999"); ok {
		t.Error("CurrencyByNumeric(999) found a currency")
	}
	if _, ok := CurrencyByNumeric("NGN"); ok {
		t.Error("CurrencyByNumeric looks up alpha codes")
	}
}

func TestFromMajorRefuses(t *testing.T) {
	cases := []struct {
		name, major, numeric string
		want                 error
	}{
		{"more decimals than NGN has", "1.505", "566", ErrAmount},
		{"decimals on XOF", "1500.5", "952", ErrAmount},
		{"a fourth decimal on KWD", "1.0005", "414", ErrAmount},
		{"beyond int64", "92233720368547758.08", "566", ErrAmount},
		{"beyond int64 negative", "-92233720368547758.09", "566", ErrAmount},
		{"unknown currency", "1", "999", ErrUnsupportedCurrency},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromMajor(decimal.RequireFromString(tc.major), tc.numeric)
			if !errors.Is(err, tc.want) {
				t.Fatalf("FromMajor(%s, %s) = %d, %v; want %v", tc.major, tc.numeric, got, err, tc.want)
			}
		})
	}
	if _, err := ToMajor(1, "999"); !errors.Is(err, ErrUnsupportedCurrency) {
		t.Fatalf("ToMajor in an unknown currency: %v", err)
	}
	if _, _, err := majorText(-1, "566"); !errors.Is(err, ErrAmount) {
		t.Fatalf("majorText of a negative amount: %v", err)
	}
	// Trailing zeros are not extra precision.
	if got, err := FromMajor(decimal.RequireFromString("1.5000"), "566"); err != nil || got != 150 {
		t.Fatalf("FromMajor(1.5000 NGN) = %d, %v", got, err)
	}
}

// TestRoundTrip: ToMajor then FromMajor gives the amount back, at the edges of int64 and in between.
func TestRoundTrip(t *testing.T) {
	amounts := []int64{0, 1, 9, 10, 99, 100, 101, 999, 1000, 123456789, math.MaxInt64, math.MinInt64, -1}
	for v := int64(7); v < math.MaxInt64/13; v *= 13 {
		amounts = append(amounts, v, -v)
	}
	for _, c := range Currencies() {
		for _, minor := range amounts {
			major, err := ToMajor(minor, c.Numeric)
			if err != nil {
				t.Fatalf("ToMajor(%d %s): %v", minor, c.Alpha, err)
			}
			back, err := FromMajor(major, c.Numeric)
			if err != nil || back != minor {
				t.Fatalf("%s: %d → %s → %d, %v", c.Alpha, minor, major, back, err)
			}
			if minor >= 0 {
				text, _, _ := majorText(minor, c.Numeric)
				if d := decimal.RequireFromString(text); !d.Equal(major) {
					t.Fatalf("%s: majorText(%d) = %s, ToMajor = %s", c.Alpha, minor, text, major)
				}
				if c.Exponent == 0 && text != strconv.FormatInt(minor, 10) {
					t.Fatalf("%s: majorText(%d) = %q, want no decimals", c.Alpha, minor, text)
				}
			}
		}
	}
}
