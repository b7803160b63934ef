package loadgen

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Kind is one kind of message in the load. Adding a kind is adding a constant here, its line in kinds and its case
// in generator.next.
type Kind string

// The kinds of message loadgen sends.
const (
	// KindApprove is a fresh debit of Config.Amount on a funded wallet: expected 00.
	KindApprove Kind = "approve"
	// KindInsufficient is a fresh debit far above any wallet's balance: expected 51.
	KindInsufficient Kind = "insufficient"
	// KindReplay re-sends, byte for byte, a message already answered: expected its stored answer, byte for byte.
	KindReplay Kind = "replay"
	// KindReversal fully reverses a debit this run had approved (each at most once): expected 00.
	KindReversal Kind = "reversal"
	// KindEnquiry is a balance enquiry (CONTRACT 1.8): expected 00 where the server has /enquiry.
	KindEnquiry Kind = "enquiry"
)

// kinds lists every kind in report order, with its default share.
var kinds = []struct {
	kind  Kind
	share int
}{
	{KindApprove, 90},
	{KindInsufficient, 4},
	{KindReplay, 3},
	{KindReversal, 3},
	{KindEnquiry, 0}, // off by default, so the default load is all money-moving messages; --mix enquiry=N adds them
}

// Kinds lists the known kinds in report order.
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	for i, k := range kinds {
		out[i] = k.kind
	}
	return out
}

// Mix is the share of each kind in the load, as relative weights.
type Mix map[Kind]int

// DefaultMix is 90% approvals, 4% insufficient funds, 3% exact replays, 3% reversals, no enquiries.
func DefaultMix() Mix {
	m := Mix{}
	for _, k := range kinds {
		m[k.kind] = k.share
	}
	return m
}

// ParseMix reads "approve=90,insufficient=4,...": kinds not named keep their default share; a share is a
// non-negative integer; at least one share must be positive.
func ParseMix(s string) (Mix, error) {
	m := DefaultMix()
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("mix: %q is not kind=share", part)
		}
		k := Kind(strings.TrimSpace(name))
		if _, known := m[k]; !known {
			return nil, fmt.Errorf("mix: unknown kind %q (known: %s)", name, kindList())
		}
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("mix: share of %s must be a non-negative integer", k)
		}
		m[k] = n
	}
	if m.total() == 0 {
		return nil, fmt.Errorf("mix: every share is 0")
	}
	return m, nil
}

func kindList() string {
	var names []string
	for _, k := range kinds {
		names = append(names, string(k.kind))
	}
	return strings.Join(names, ", ")
}

func (m Mix) total() int {
	t := 0
	for _, n := range m {
		t += n
	}
	return t
}

// String is the mix in ParseMix's form, kinds in report order.
func (m Mix) String() string {
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k.kind, m[k.kind]))
	}
	return strings.Join(parts, ",")
}

// picker draws kinds by their share.
type picker struct {
	kinds []Kind
	cum   []int
	total int
}

func newPicker(m Mix) *picker {
	p := &picker{}
	for _, k := range kinds {
		if n := m[k.kind]; n > 0 {
			p.total += n
			p.kinds = append(p.kinds, k.kind)
			p.cum = append(p.cum, p.total)
		}
	}
	return p
}

func (p *picker) pick(r *rand.Rand) Kind {
	x := r.IntN(p.total)
	i, _ := slices.BinarySearch(p.cum, x+1)
	return p.kinds[i]
}
