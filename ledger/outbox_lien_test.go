package ledger

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// lienSummary is an outbox event of a lien debit in one comparable line, with the place-lien it names and the
// merchant and terminal partners will describe it with.
func lienSummary(e OutboxEvent) string {
	s := summary(e)
	if e.Kind == KindLienDebit {
		s += " original=" + e.Original
		if d := e.Details; d != nil {
			s += fmt.Sprintf(" merchant=%s terminal=%s rrn=%s", d.MerchantID, d.TerminalID, d.RRN)
		}
	}
	return s
}

func withCard(merchant, terminal, rrn string) func(*LienPlaceRequest) {
	return func(p *LienPlaceRequest) {
		p.Details = Details{MerchantID: merchant, TerminalID: terminal, RRN: rrn, CardAcceptorNameLocation: "SHOP LAGOS"}
	}
}

func withRRN(rrn string) func(*LienDebitRequest) {
	return func(c *LienDebitRequest) { c.Details = Details{RRN: rrn} }
}

// TestOutboxFollowsLienDecisions: a lien debit that moved money is a final card debit (connector, and the virtual
// account for a wallet that has one, principal + the fee held at placing); a declined lien debit of a positive
// amount goes to the connector with its decline; place-liens, releases (by the switch or by expiry), replays,
// repeated references and lien debits of a completed lien enqueue nothing. Each record is written with the decision.
func TestOutboxFollowsLienDecisions(t *testing.T) {
	clock := newFakeClock(lienDay)
	l := openTest(t, withOptions(Options{Route: testRoute, Now: clock.Now, LienTTL: time.Hour, LienSweepInterval: -1}))
	mustWalletVA(t, l, "w1", "VA-1")
	mustWallet(t, l, "w2", "566", 0)
	mustCredit(t, l, "w1", 10_000)
	mustCredit(t, l, "w2", 100)

	steps := []struct {
		name string
		do   func()
		want []string // new events, in order
	}{
		{"place-lien", func() { mustPlace(t, l, lpreq("p1", "L1", "w1", 1_000, 50, withCard("M1", "T1", "RRN-P")), nil) }, nil},
		{"place-lien replayed", func() {
			if a, err := l.PlaceLien(bg, lpreq("p1", "L1", "w1", 1_000, 50, withCard("M1", "T1", "RRN-P"))); err != nil || !a.Replayed {
				t.Fatalf("replay: %+v %v", a, err)
			}
		}, nil},
		{"declined place-lien", func() { mustPlace(t, l, lpreq("p2", "L2", "w2", 1_000, 0), ErrInsufficientFunds) }, nil},
		{"completion below the hold, card details from the place-lien", func() {
			mustLienDebit(t, l, ldreq("c1", "C1", "L1", "w1", 800, withRRN("RRN-C")), nil)
		}, []string{
			"connector lien_debit C1 w1 amount=800 fee=50 va=VA-1 original=L1 merchant=M1 terminal=T1 rrn=RRN-C",
			"va lien_debit C1 w1 amount=800 fee=50 va=VA-1 original=L1 merchant=M1 terminal=T1 rrn=RRN-C",
		}},
		{"completion replayed", func() {
			if a, err := l.DebitLien(bg, ldreq("c1", "C1", "L1", "w1", 800, withRRN("RRN-C"))); err != nil || !a.Replayed {
				t.Fatalf("replay: %+v %v", a, err)
			}
		}, nil},
		{"completion re-sent under a new requestId", func() {
			mustLienDebit(t, l, ldreq("c1b", "C1", "L1", "w1", 800, withRRN("RRN-C")), nil)
		}, nil},
		{"second lien debit of a completed lien", func() { mustLienDebit(t, l, ldreq("c1c", "C1X", "L1", "w1", 800), nil) }, nil},
		{"release by the switch", func() {
			mustPlace(t, l, lpreq("p3", "L3", "w1", 500, 0), nil)
			mustLienDebit(t, l, ldreq("c3", "C3", "L3", "w1", 0), nil)
		}, nil},
		{"lien debit of a released lien", func() { mustLienDebit(t, l, ldreq("c3b", "C3B", "L3", "w1", 500), ErrLienReleased) },
			[]string{"connector lien_debit C3B w1 amount=500 fee=0 declined=lien_released va=VA-1 original=L3"}},
		{"completion above what the wallet covers", func() {
			mustPlace(t, l, lpreq("p4", "L4", "w2", 50, 0, withCard("M4", "T4", "RRN-4")), nil)
			mustLienDebit(t, l, ldreq("c4", "C4", "L4", "w2", 1_000), ErrInsufficientFunds)
		}, []string{"connector lien_debit C4 w2 amount=1000 fee=0 declined=insufficient_funds original=L4 merchant=M4 terminal=T4 rrn="}},
		{"lien debit naming another wallet's lien", func() { mustLienDebit(t, l, ldreq("c5", "C5", "L4", "w1", 10), ErrOriginalMismatch) },
			[]string{"connector lien_debit C5 w1 amount=10 fee=0 declined=original_mismatch va=VA-1 original=L4"}},
		{"lien debit of an unknown lien", func() { mustLienDebit(t, l, ldreq("c6", "C6", "L9", "w1", 10), ErrOriginalNotFound) },
			[]string{"connector lien_debit C6 w1 amount=10 fee=0 declined=original_not_found va=VA-1 original=L9"}},
		{"release of an unknown lien", func() { mustLienDebit(t, l, ldreq("c7", "C7", "L8", "w1", 0), ErrOriginalNotFound) }, nil},
		{"release by expiry", func() {
			mustPlace(t, l, lpreq("p5", "L5", "w1", 100, 0), nil)
			clock.Advance(2 * time.Hour)
			if n, err := l.ReleaseExpiredLiens(bg); err != nil || n != 2 {
				t.Fatalf("ReleaseExpiredLiens = %d, %v; want 2 (L4 and L5)", n, err)
			}
		}, nil},
		{"release of an expired lien by the switch", func() { mustLienDebit(t, l, ldreq("c5r", "C5R", "L5", "w1", 0), nil) }, nil},
	}
	var want []string
	for _, s := range steps {
		s.do()
		want = append(want, s.want...)
		evs, _, err := l.Outbox(bg, "", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, e := range evs {
			got = append(got, lienSummary(e))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("after %s:\n\tgot  %s\n\twant %s", s.name, strings.Join(got, "\n\t     "), strings.Join(want, "\n\t     "))
		}
	}
	wantWallet(t, l, "w1", 10_000-850, 0)

	// The look-up shows a completion's deliveries under the lien debit and under the lien it completed.
	for _, c := range []struct {
		kind, ref string
		n         int
	}{
		{KindLienDebit, "C1", 2}, {KindLien, "L1", 2}, {KindLienDebit, "C4", 1},
		{KindLien, "L3", 0}, {KindLien, "L4", 0}, {KindDebit, "C1", 0}, {KindReversal, "C1", 0}, {KindCredit, "C1", 0},
	} {
		evs, err := l.Deliveries(bg, c.kind, c.ref)
		if err != nil || len(evs) != c.n {
			t.Errorf("Deliveries(%s %s) = %d events, %v; want %d", c.kind, c.ref, len(evs), err, c.n)
		}
		for _, e := range evs {
			if e.Kind != KindLienDebit || e.Reference != "C1" && e.Reference != "C4" {
				t.Errorf("Deliveries(%s %s) holds %s", c.kind, c.ref, summary(e))
			}
		}
	}
}

// TestOutboxLienRolledBackWithTheDecision: a completion whose batch fails before the commit point leaves neither
// the movement nor its outbox records; the retry writes both once.
func TestOutboxLienRolledBackWithTheDecision(t *testing.T) {
	var fail bool
	l := openTest(t, withOptions(Options{Route: testRoute, BeforeCommit: func() error {
		if fail {
			return errors.New("disk full")
		}
		return nil
	}}))
	mustWalletVA(t, l, "w1", "VA-1")
	mustCredit(t, l, "w1", 1_000)
	mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 20), nil)
	fail = true
	if _, err := l.DebitLien(bg, ldreq("c1", "C1", "L1", "w1", 300)); !errors.Is(err, ErrStorage) {
		t.Fatalf("DebitLien = %v, want ErrStorage", err)
	}
	wantOutbox(t, l, "")
	wantWallet(t, l, "w1", 1_000, 320)
	fail = false
	mustLienDebit(t, l, ldreq("c1", "C1", "L1", "w1", 300), nil)
	wantOutbox(t, l, "", "connector lien_debit C1 w1 amount=300 fee=20 va=VA-1", "va lien_debit C1 w1 amount=300 fee=20 va=VA-1")
	wantWallet(t, l, "w1", 680, 0)
}
