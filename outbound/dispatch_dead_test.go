package outbound

import (
	"context"
	"testing"

	"github.com/walletgate/walletgate/ledger"
)

// TestDispatcherDeadGauge: walletgate_outbox_dead counts the dead letters waiting for an operator: read from the
// ledger at start-up (dead letters of an earlier run), raised when an event is dead-lettered, lowered when one is
// retried by hand, and it stays up while they are unhandled (unlike a rate of the dead outcome).
func TestDispatcherDeadGauge(t *testing.T) {
	ctx := context.Background()
	l := outboxLedger(t, routeTo("p"))
	mustFund(t, l, "w1", "", 100)
	debit(t, l, "w1", "D1", 10)
	old := outboxState(t, l, ledger.OutboxPending)
	if len(old) != 1 {
		t.Fatalf("%d pending events, want 1", len(old))
	}
	// Dead-lettered by an earlier run.
	if _, err := l.RecordDelivery(ctx, old[0].ID, ledger.Attempt{Dead: true, Error: "refused"}); err != nil {
		t.Fatal(err)
	}

	p := newFakePartner()
	p.failures, p.err = 100, permanentFailure
	_, m, _ := startDispatcher(t, DispatcherConfig{Store: l, Partners: map[string]Deliverer{"p": p}})
	dead := func() float64 { return value(t, m.OutboxDead.WithLabelValues("p")) }
	eventually(t, "the dead gauge at 1 from the ledger at start-up", func() bool { return dead() == 1 })

	debit(t, l, "w1", "D2", 10) // refused for good: dead-lettered
	eventually(t, "the dead gauge at 2 after a dead-lettering", func() bool { return dead() == 2 })
	if n := len(outboxState(t, l, ledger.OutboxDead)); n != 2 {
		t.Fatalf("%d dead events, want 2", n)
	}

	p.mu.Lock()
	p.failures = 0
	p.mu.Unlock()
	if _, err := l.RetryOutbox(ctx, old[0].ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the dead gauge at 1 after a manual retry, the event delivered", func() bool {
		ev, err := l.OutboxEventByID(ctx, old[0].ID)
		return dead() == 1 && err == nil && ev.State == ledger.OutboxDelivered
	})
	if n := len(outboxState(t, l, ledger.OutboxDead)); n != 1 || dead() != 1 {
		t.Errorf("%d dead events, gauge %v: want 1 and 1", n, dead())
	}
}
