package outbound

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestFailureModes runs every operation of every client against partners that fail in every way the outbox must
// tell apart: the error's class (permanent or retryable), its reason, the metrics outcome, and that no
// credential leaks into the error, even when the partner echoes one.
func TestFailureModes(t *testing.T) {
	echo := `{"message":"bad credentials ` + strings.Join(testSecrets, " ") + `"}`
	modes := []struct {
		name      string
		answer    func(f *fake) func(http.ResponseWriter, *http.Request)
		reason    error
		permanent bool
		outcome   string
	}{
		{"503", func(*fake) func(http.ResponseWriter, *http.Request) {
			return answerJSON(503, `{"message":"maintenance"}`)
		}, ErrUnavailable, false, OutcomeError},
		{"500 without body", func(*fake) func(http.ResponseWriter, *http.Request) { return answerJSON(500, "") },
			ErrUnavailable, false, OutcomeError},
		{"garbage 200", func(*fake) func(http.ResponseWriter, *http.Request) {
			return answerJSON(200, "<html>proxy error</html>")
		}, ErrUnavailable, false, OutcomeError},
		{"empty 200", func(*fake) func(http.ResponseWriter, *http.Request) { return answerJSON(200, "") },
			ErrUnavailable, false, OutcomeError},
		{"slow", func(f *fake) func(http.ResponseWriter, *http.Request) { return f.answerSlow },
			ErrUnavailable, false, OutcomeTimeout},
		{"dropped connection", func(*fake) func(http.ResponseWriter, *http.Request) { return answerDrop },
			ErrUnavailable, false, OutcomeError},
		{"401 echoing the credentials", func(*fake) func(http.ResponseWriter, *http.Request) {
			return answerJSON(401, echo)
		}, ErrAuth, false, OutcomeAuth},
		{"403", func(*fake) func(http.ResponseWriter, *http.Request) { return answerJSON(403, `{}`) },
			ErrAuth, false, OutcomeAuth},
		{"429", func(*fake) func(http.ResponseWriter, *http.Request) { return answerJSON(429, `{}`) },
			ErrUnavailable, false, OutcomeError},
		{"400", func(*fake) func(http.ResponseWriter, *http.Request) {
			return answerJSON(400, `{"message":"amount is invalid `+strings.Join(testSecrets, " ")+`"}`)
		}, ErrInvalid, true, OutcomeInvalid},
		{"422", func(*fake) func(http.ResponseWriter, *http.Request) { return answerJSON(422, `{"message":"no"}`) },
			ErrInvalid, true, OutcomeInvalid},
	}
	for _, cc := range allCalls() {
		for _, mode := range modes {
			t.Run(cc.name+"/"+mode.name, func(t *testing.T) {
				f := newFake(t, nil)
				f.answer = mode.answer(f)
				reg := prometheus.NewRegistry()
				m := NewMetrics(reg)

				hc := testHTTPClient()
				if mode.outcome == OutcomeTimeout {
					hc = shortClient()
				}
				err := cc.call(context.Background(), f.srv.URL, hc, m)
				if err == nil {
					t.Fatal("call succeeded, want an error")
				}
				reason, permanent, outcome := mode.reason, mode.permanent, mode.outcome
				if cc.op == "confirm_debit" && (mode.name == "400" || mode.name == "422") {
					// A refused confirmation is a wrong code: the debit still awaits the right one.
					reason, permanent, outcome = ErrConfirmationRejected, false, OutcomeDeclined
				}
				if !errors.Is(err, reason) {
					t.Errorf("error %q does not wrap %q", err, reason)
				}
				if got := IsPermanent(err); got != permanent {
					t.Errorf("IsPermanent(%q) = %v, want %v", err, got, permanent)
				}
				var pe *PartnerError
				if !errors.As(err, &pe) || pe.Partner != cc.partner || pe.Operation != cc.op {
					t.Errorf("error %q is not a *PartnerError of %s %s", err, cc.partner, cc.op)
				}
				assertNoSecrets(t, cc.partner, err)
				if n := durationCount(t, reg, cc.partner, cc.op, outcome); n != 1 {
					t.Errorf("duration observations with outcome %q = %d, want 1", outcome, n)
				}
				if n := durationTotal(t, reg); n != 1 {
					t.Errorf("duration observations in total = %d, want 1", n)
				}
				// The client never retries by itself. Against the slow partner its 50 ms timeout may fire before
				// the request even reached the handler on a loaded machine, so there "at most one" is the claim.
				if n := len(f.requests()); n > 1 || (n == 0 && mode.outcome != OutcomeTimeout) {
					t.Errorf("partner received %d requests, want 1 (the client never retries by itself)", n)
				}
			})
		}
	}
}

// TestContextCancelled: a call whose context is cancelled while the partner is slow returns promptly with a
// retryable timeout, whatever the http.Client's own timeout.
func TestContextCancelled(t *testing.T) {
	for _, cc := range allCalls() {
		t.Run(cc.name, func(t *testing.T) {
			f := newFake(t, nil) // never answers
			reg := prometheus.NewRegistry()
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for len(f.requests()) == 0 {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
			err := cc.call(ctx, f.srv.URL, &http.Client{}, NewMetrics(reg))
			if !errors.Is(err, context.Canceled) || IsPermanent(err) {
				t.Fatalf("err = %v, want a retryable error wrapping context.Canceled", err)
			}
			if n := durationCount(t, reg, cc.partner, cc.op, OutcomeTimeout); n != 1 {
				t.Errorf("timeout observations = %d, want 1", n)
			}
		})
	}
}

// TestUnreachable: nothing listens at the partner's address.
func TestUnreachable(t *testing.T) {
	f := newFake(t, answerJSON(200, `{}`))
	base := f.srv.URL
	f.srv.Close()
	for _, cc := range allCalls() {
		t.Run(cc.name, func(t *testing.T) {
			err := cc.call(context.Background(), base, testHTTPClient(), nil)
			if !errors.Is(err, ErrUnavailable) || IsPermanent(err) {
				t.Fatalf("err = %v, want retryable ErrUnavailable", err)
			}
			assertNoSecrets(t, cc.partner, err)
		})
	}
}

// TestPartnerErrorText: the text names partner, operation, status, code and message.
func TestPartnerErrorText(t *testing.T) {
	e := &PartnerError{Partner: "connector", Operation: "debit", StatusCode: 200, Code: "INVALID_DATA",
		Message: "amount", Permanent: true, Err: ErrInvalid}
	want := "connector debit: HTTP 200: partner refused the request as invalid [INVALID_DATA]: amount"
	if e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
	if IsPermanent(nil) || IsPermanent(errors.New("x")) || !IsPermanent(ErrAmount) || !IsPermanent(ErrUnsupportedCurrency) {
		t.Fatal("IsPermanent of nil, a plain error, ErrAmount or ErrUnsupportedCurrency is wrong")
	}
}

// TestNoRedirects: a partner answering with a redirect does not get our credentials sent elsewhere, and the
// caller's http.Client is left unchanged.
func TestNoRedirects(t *testing.T) {
	elsewhere := newFake(t, answerJSON(200, `{"success":true,"status":"SUCCESS"}`))
	redirect := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.srv.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}
	hc := testHTTPClient()
	for _, cc := range allCalls() {
		t.Run(cc.name, func(t *testing.T) {
			f := newFake(t, redirect)
			err := cc.call(context.Background(), f.srv.URL, hc, nil)
			if !errors.Is(err, ErrUnavailable) || IsPermanent(err) {
				t.Fatalf("err = %v, want retryable ErrUnavailable", err)
			}
		})
	}
	if n := len(elsewhere.requests()); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
	if hc.CheckRedirect != nil {
		t.Fatal("the caller's http.Client was modified")
	}
}

// TestRequiredFields: requests missing what the partner needs are refused before sending, permanently.
func TestRequiredFields(t *testing.T) {
	f := newFake(t, answerJSON(200, `{"success":true,"status":"SUCCESS"}`))
	bc := testBestCash(f.srv.URL, testHTTPClient(), nil)
	ctx := context.Background()
	calls := map[string]func() error{
		"verify": func() error { _, err := bc.VerifyCustomer(ctx, ""); return err },
		"debit":  func() error { _, err := bc.Debit(ctx, DebitOrder{Phone: "+1", Currency: "566", Amount: 1}); return err },
		"credit": func() error {
			_, err := bc.Credit(ctx, CreditOrder{PartnerReference: "r", Currency: "566", Amount: 1})
			return err
		},
		"confirm": func() error { _, err := bc.ConfirmDebit(ctx, "", "1"); return err },
		"cancel":  func() error { _, err := bc.CancelDebit(ctx, ""); return err },
		"status":  func() error { _, err := bc.Status(ctx, ""); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, ErrInvalid) || !IsPermanent(err) {
				t.Fatalf("err = %v, want permanent ErrInvalid", err)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("partner received %d requests", n)
	}
}
