package outbound

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

const vaOK = `{"transactionType":"DEBIT","amount":1.50,"narration":"x","classificationCode":"SUBLEDGER001_DEBIT",
"success":true,"traceID":"04c46c69","transactionReference":"11123456789","accountID":"0000000238",
"transactionTime":"2023-03-22T12:28:40.034+00:00"}`

// TestVirtualAccountRequests: debit and credit send seed 001's body with the configured classification, the
// amount as a decimal number in major units, the narration and our reference, with the bearer token.
func TestVirtualAccountRequests(t *testing.T) {
	cases := []struct {
		name   string
		call   func(context.Context, *VirtualAccount) error
		mirror Mirror
		path   string
		body   string
		op     string
	}{
		{"debit NGN", func(ctx context.Context, c *VirtualAccount) error { return c.Debit(ctx, testMirror) }, testMirror,
			"/debit/uni",
			`{"accountID":"0000000238","classificationCode":"SUBLEDGER001_DEBIT","amount":1.50,"narration":"Card debit merchant M001 terminal 2ABC0001 RRN 000000123456","transactionReference":"11123456789"}`,
			"debit"},
		{"credit NGN", func(ctx context.Context, c *VirtualAccount) error { return c.Credit(ctx, testMirror) }, testMirror,
			"/credit/uni",
			`{"accountID":"0000000238","classificationCode":"SUBLEDGER001_CREDIT","amount":1.50,"narration":"Card reversal merchant M001 terminal 2ABC0001 RRN 000000123456","transactionReference":"11123456789"}`,
			"credit"},
		{"debit XOF", func(ctx context.Context, c *VirtualAccount) error {
			m := testMirror
			m.Currency, m.Amount = "952", 1500
			return c.Debit(ctx, m)
		}, testMirror, "/debit/uni",
			`{"accountID":"0000000238","classificationCode":"SUBLEDGER001_DEBIT","amount":1500,"narration":"Card debit merchant M001 terminal 2ABC0001 RRN 000000123456","transactionReference":"11123456789"}`,
			"debit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answerJSON(200, vaOK))
			reg := prometheus.NewRegistry()
			if err := tc.call(context.Background(), testVA(f.srv.URL+"/", testHTTPClient(), NewMetrics(reg))); err != nil {
				t.Fatal(err)
			}
			req := f.only()
			if req.Method != "POST" || req.Path != tc.path {
				t.Errorf("request %s %s, want POST %s", req.Method, req.Path, tc.path)
			}
			if req.Header.Get("Authorization") != "Bearer "+testVAToken || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers = %v", req.Header)
			}
			if string(req.Body) != tc.body {
				t.Errorf("body = %s\nwant %s", req.Body, tc.body)
			}
			if n := durationCount(t, reg, PartnerVirtualAccount, tc.op, OutcomeOK); n != 1 {
				t.Errorf("ok observations = %d", n)
			}
		})
	}
}

// TestVirtualAccountAnswers: only "success": true counts; false keeps the partner's message and is permanent.
func TestVirtualAccountAnswers(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		wantErr   error
		permanent bool
		message   string
		outcome   string
	}{
		{"success", 200, vaOK, nil, false, "", OutcomeOK},
		{"success as a string", 200, `{"success":"true"}`, nil, false, "", OutcomeOK},
		{"success false with message", 200, `{"success":false,"message":"Account 0000000238 is dormant"}`,
			ErrRejected, true, "Account 0000000238 is dormant", OutcomeDeclined},
		{"success false with responseMessage", 200, `{"success":false,"responseMessage":"Insufficient balance"}`,
			ErrRejected, true, "Insufficient balance", OutcomeDeclined},
		{"success false without message", 200, `{"success":false}`, ErrRejected, true, "success: false", OutcomeDeclined},
		{"no success field", 200, `{"traceID":"x"}`, ErrUnavailable, false, `answer has no "success" field`, OutcomeError},
		{"success is garbage", 200, `{"success":"maybe"}`, ErrUnavailable, false, `answer has no "success" field`, OutcomeError},
		{"404: wrong URL", 404, `{"message":"no route"}`, ErrUnavailable, false, "no route", OutcomeError},
		{"409", 409, `{"message":"duplicate reference"}`, ErrRejected, true, "duplicate reference", OutcomeDeclined},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answerJSON(tc.status, tc.body))
			reg := prometheus.NewRegistry()
			err := testVA(f.srv.URL, testHTTPClient(), NewMetrics(reg)).Debit(context.Background(), testMirror)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				var pe *PartnerError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &pe) || pe.Message != tc.message || IsPermanent(err) != tc.permanent {
					t.Fatalf("err = %#v, want %v with message %q, permanent %v", err, tc.wantErr, tc.message, tc.permanent)
				}
			}
			if n := durationCount(t, reg, PartnerVirtualAccount, "debit", tc.outcome); n != 1 {
				t.Errorf("%s observations = %d", tc.outcome, n)
			}
		})
	}
}

// TestVirtualAccountRefusesLocally: a mirror that cannot be built is permanent and never sent.
func TestVirtualAccountRefusesLocally(t *testing.T) {
	f := newFake(t, answerJSON(200, vaOK))
	c := testVA(f.srv.URL, testHTTPClient(), nil)
	for name, m := range map[string]Mirror{
		"no account":       {Reference: "r", Currency: "566", Amount: 1},
		"no reference":     {AccountID: "a", Currency: "566", Amount: 1},
		"unknown currency": {AccountID: "a", Reference: "r", Currency: "000", Amount: 1},
		"negative amount":  {AccountID: "a", Reference: "r", Currency: "566", Amount: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if err := c.Debit(context.Background(), m); !IsPermanent(err) {
				t.Fatalf("err = %v, want permanent", err)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("partner received %d requests", n)
	}
}
