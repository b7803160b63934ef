package ledger

import (
	"context"
	"errors"
	"testing"
)

func ereq(requestID, wallet, currency string) EnquiryRequest {
	return EnquiryRequest{WalletID: wallet, Currency: currency, Envelope: Envelope{RequestID: requestID,
		Fingerprint: fingerprint("enquiry", requestID, wallet), Render: render(requestID)}}
}

func TestEnquire(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	mustPlace(t, l, lpreq("p1", "L1", "w1", 300, 10), nil)
	mustWallet(t, l, "frozen", "566", 0)
	mustSetStatus(t, l, "frozen", StatusFrozen)
	mustWallet(t, l, "closed", "566", 0)
	mustSetStatus(t, l, "closed", StatusClosed)

	tests := []struct {
		name string
		q    EnquiryRequest
		want error
	}{
		{"approved", ereq("e1", "w1", "566"), nil},
		{"approved without a currency", ereq("e2", "w1", ""), nil},
		{"unknown wallet", ereq("e3", "nope", ""), ErrWalletNotFound},
		{"frozen", ereq("e4", "frozen", ""), ErrWalletNotActive},
		{"closed", ereq("e5", "closed", ""), ErrWalletNotActive},
		{"another currency", ereq("e6", "w1", "978"), ErrCurrencyMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := readBooks(t, l)
			a, err := l.Enquire(bg, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, a, tc.q.RequestID, tc.want, false)
			if tc.want == nil {
				w := a.Outcome.Wallet
				if w == nil || w.ID != "w1" || w.Balance != 1_000 || w.Held != 310 || w.Available() != 690 || w.Name != "Wallet w1" || w.Currency != "566" {
					t.Errorf("wallet %+v", w)
				}
			} else if a.Outcome.Wallet != nil {
				t.Errorf("a decline carries a wallet: %+v", a.Outcome.Wallet)
			}
			// Read only: nothing is written, not even the requestId.
			after := readBooks(t, l)
			sameMoney(t, before, after)
			if after.Requests != before.Requests || after.Txns != before.Txns || after.LastBatch != before.LastBatch {
				t.Errorf("an enquiry wrote: %+v -> %+v", before, after)
			}
			if _, err := l.Replay(bg, tc.q.RequestID, tc.q.Fingerprint); !errors.Is(err, ErrNotRecorded) {
				t.Errorf("Replay after an enquiry: %v, want ErrNotRecorded", err)
			}
		})
	}
}

// An enquiry never waits for the writer: it is answered while a commit is stuck.
func TestEnquireBypassesTheWriter(t *testing.T) {
	stuck, release := make(chan struct{}), make(chan struct{})
	block := false
	l := openTest(t, withOptions(Options{BeforeCommit: func() error {
		if block {
			stuck <- struct{}{}
			<-release
		}
		return nil
	}}))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 1_000)
	block = true // only the writer goroutine reads it, after the channel send of the next operation

	done := make(chan error, 1)
	go func() { _, err := l.Credit(bg, Credit{WalletID: "w1", Amount: 5, Reference: "stuck"}); done <- err }()
	<-stuck // the writer is inside a commit and will stay there
	a, err := l.Enquire(bg, ereq("e1", "w1", "566"))
	if err != nil || a.Outcome.Wallet == nil || a.Outcome.Wallet.Balance != 1_000 {
		t.Errorf("enquiry during a commit: %+v, %v", a.Outcome, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	block = false
}

func TestEnquireFailures(t *testing.T) {
	l := openTest(t)
	mustWallet(t, l, "w1", "566", 0)
	if _, err := l.Enquire(bg, ereq("", "w1", "")); err == nil {
		t.Error("an enquiry without a requestId was answered")
	}
	failing := ereq("e1", "w1", "")
	failing.Render = func(Outcome) ([]byte, error) { return nil, errors.New("render failed") }
	if _, err := l.Enquire(bg, failing); err == nil {
		t.Error("a render failure was not reported")
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := l.Enquire(ctx, ereq("e2", "w1", "")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Enquire(bg, ereq("e3", "w1", "")); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}
