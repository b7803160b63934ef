package ledger

import (
	"errors"
	"testing"
)

// TestWritesRefusedAfterUnknownOutcome: once a commit's outcome is unknown (failed is set, as commit does when the
// failed commit's meta page is visible), the ledger refuses every write with ErrOutcomeUnknown, and commits nothing,
// Ready says so, replays of what is on disk still work, and a reopen (walletgate's restart) takes writes again.
func TestWritesRefusedAfterUnknownOutcome(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustDebit(t, l, dreq("q-d1", "d1", "w1", 100, 0), nil)
	before := readBooks(t, l)

	l.failed.Store(true)
	if _, err := l.Debit(bg, dreq("q-d2", "d2", "w1", 100, 0)); !errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("Debit = %v, want ErrOutcomeUnknown", err)
	}
	if _, err := l.Reverse(bg, rreq("q-r1", "r1", "d1", "w1", 0)); !errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("Reverse = %v, want ErrOutcomeUnknown", err)
	}
	if err := l.Ready(); !errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("Ready = %v, want ErrOutcomeUnknown", err)
	}
	if a, err := l.Replay(bg, "q-d1", dreq("q-d1", "d1", "w1", 100, 0).Fingerprint); err != nil || !a.Replayed {
		t.Errorf("Replay of a committed debit = %+v, %v", a, err)
	}
	after := readBooks(t, l)
	sameMoney(t, before, after)
	if after.Requests != before.Requests || after.Txns != before.Txns || after.LastBatch != before.LastBatch {
		t.Errorf("a refused write left records: %+v -> %+v", before, after)
	}

	l.reopen()
	if err := l.Ready(); err != nil {
		t.Errorf("Ready after reopen = %v", err)
	}
	mustDebit(t, l, dreq("q-d2", "d2", "w1", 100, 0), nil)
}
