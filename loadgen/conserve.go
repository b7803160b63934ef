package loadgen

import (
	"context"
	"fmt"
)

// conserve checks, through the admin API, that the wallets' total fell by exactly the approved debits minus the
// reversals, and that the audit is green. Messages without a readable answer are resolved by asking for their
// debit's state.
func conserve(ctx context.Context, adm *admin, cfg *Config, g *generator, before int64) (*Conservation, error) {
	c := &Conservation{Wallets: len(cfg.Wallets), Before: before}
	expected := g.moved.Load()
	g.mu.Lock()
	unknowns := append([]unknown(nil), g.unknowns...)
	g.mu.Unlock()
	for _, u := range unknowns {
		state, err := adm.transactionState(ctx, u.ref)
		if err != nil {
			return c, fmt.Errorf("conservation: outcome of %s: %w", u.ref, err)
		}
		c.Resolved++
		should := int64(0)
		if state == "approved" { // loadgen only ever reverses in full: "reversed" gave it all back
			should = u.value
		}
		if u.counted {
			expected -= u.value
		}
		expected += should
	}
	after, err := adm.total(ctx, cfg.Wallets, cfg.Concurrency)
	if err != nil {
		return c, fmt.Errorf("conservation: balances after: %w", err)
	}
	c.After, c.ExpectedDrop, c.ActualDrop = after, expected, before-after
	c.OK = c.ActualDrop == c.ExpectedDrop
	if !c.OK {
		c.Problems = append(c.Problems, fmt.Sprintf("the wallets' total fell by %d, but the approved debits minus the "+
			"reversals come to %d (difference %d)", c.ActualDrop, c.ExpectedDrop, c.ActualDrop-c.ExpectedDrop))
	}
	if !cfg.SkipAudit {
		a, err := adm.audit(ctx)
		if err != nil {
			return c, fmt.Errorf("conservation: audit: %w", err)
		}
		c.Audit = &a
		if !a.OK {
			c.OK = false
			c.Problems = append(c.Problems, "the ledger audit is not green")
		}
	}
	return c, nil
}
