package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// assertBestCashHeaders checks the credentials headers of seed 000.
func assertBestCashHeaders(t *testing.T, got seen) {
	t.Helper()
	if got.Header.Get("X-Auth-ApiKey") != testBCKey || got.Header.Get("X-Auth-ApiSecret") != testBCSecret {
		t.Errorf("credential headers missing or wrong")
	}
	if got.Header.Get("Authorization") != "" {
		t.Errorf("BestCash request carries an Authorization header")
	}
}

// TestBestCashRequests: each operation sends exactly the request of seeds 000 and 004 and reads the answer.
func TestBestCashRequests(t *testing.T) {
	pending := `{"reference":"BC1","partnerReference":"top-1","status":"PENDING","message":"code sent"}`
	cases := []struct {
		name     string
		answer   string
		call     func(ctx context.Context, c *BestCash) (any, error)
		method   string
		path     string
		query    string
		body     string // exact JSON text; "" for none
		want     any
		outcome  string
		metricOp string
	}{
		{
			name:   "verify customer",
			answer: `{"phone":"+22892685526","firstname":"Kofi","lastname":"Mensah"}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.VerifyCustomer(ctx, "+22892685526")
			},
			method: "GET", path: "/external/customer/+22892685526",
			want:    Customer{Phone: "+22892685526", FirstName: "Kofi", LastName: "Mensah"},
			outcome: OutcomeOK, metricOp: "verify_customer",
		},
		{
			name:   "verify customer, answer in a data envelope with camel-case names",
			answer: `{"data":{"firstName":"Kofi","lastName":"Mensah"}}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.VerifyCustomer(ctx, "+22892685526")
			},
			method: "GET", path: "/external/customer/+22892685526",
			want:    Customer{Phone: "+22892685526", FirstName: "Kofi", LastName: "Mensah"},
			outcome: OutcomeOK, metricOp: "verify_customer",
		},
		{
			name:   "status in an envelope, message at the top level",
			answer: `{"message":"ok","data":{"status":"SUCCESSFUL","reference":"BC2"}}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.Status(ctx, "top-1")
			},
			method: "GET", path: "/external/operation", query: "partnerReference=top-1",
			want:    Operation{PartnerReference: "top-1", ID: "BC2", Status: OperationSuccess, RawStatus: "SUCCESSFUL", Message: "ok"},
			outcome: OutcomeOK, metricOp: "status",
		},
		{
			name:   "debit XOF, no minor unit",
			answer: pending,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.Debit(ctx, testDebitOrder)
			},
			method: "POST", path: "/external/operations/debit",
			body:    `{"amount":15000,"partnerReference":"top-1","customer":{"phone":"+22892685526"}}`,
			want:    Operation{PartnerReference: "top-1", ID: "BC1", Status: OperationPending, RawStatus: "PENDING", Message: "code sent"},
			outcome: OutcomeOK, metricOp: "debit",
		},
		{
			name:   "debit NGN in naira with description",
			answer: `{"status":"pending"}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.Debit(ctx, DebitOrder{PartnerReference: "top-2", Phone: "+2348012345678", Currency: "566",
					Amount: 150, Description: "wallet top-up"})
			},
			method: "POST", path: "/external/operations/debit",
			body:    `{"amount":1.50,"partnerReference":"top-2","customer":{"phone":"+2348012345678"},"description":"wallet top-up"}`,
			want:    Operation{PartnerReference: "top-2", Status: OperationPending, RawStatus: "pending"},
			outcome: OutcomeOK, metricOp: "debit",
		},
		{
			name:   "confirm debit",
			answer: `{"reference":"BC1","partnerReference":"top-1","status":"SUCCESS"}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.ConfirmDebit(ctx, "top-1", "654321")
			},
			method: "POST", path: "/external/operations/confirm-debit",
			body:    `{"partnerReference":"top-1","code":"654321"}`,
			want:    Operation{PartnerReference: "top-1", ID: "BC1", Status: OperationSuccess, RawStatus: "SUCCESS"},
			outcome: OutcomeOK, metricOp: "confirm_debit",
		},
		{
			name:   "cancel debit",
			answer: `{"partnerReference":"top-1","status":"CANCELLED"}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.CancelDebit(ctx, "top-1")
			},
			method: "POST", path: "/external/operations/cancel-debit",
			body:    `{"partnerReference":"top-1"}`,
			want:    Operation{PartnerReference: "top-1", Status: OperationFailed, RawStatus: "CANCELLED"},
			outcome: OutcomeOK, metricOp: "cancel_debit", // the cancel did what it was asked
		},
		{
			name:   "cancel debit too late: the customer confirmed it",
			answer: `{"partnerReference":"top-1","status":"SUCCESS"}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.CancelDebit(ctx, "top-1")
			},
			method: "POST", path: "/external/operations/cancel-debit",
			body:    `{"partnerReference":"top-1"}`,
			want:    Operation{PartnerReference: "top-1", Status: OperationSuccess, RawStatus: "SUCCESS"},
			outcome: OutcomeDeclined, metricOp: "cancel_debit",
		},
		{
			name:   "credit a new customer with names",
			answer: `{"partnerReference":"out-1","status":"SUCCESS"}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.Credit(ctx, testCreditOrder)
			},
			method: "POST", path: "/external/operations/credit",
			body:    `{"amount":1.50,"partnerReference":"out-1","customer":{"phone":"+2348012345678","firstname":"Ada","lastname":"Obi"}}`,
			want:    Operation{PartnerReference: "out-1", Status: OperationSuccess, RawStatus: "SUCCESS"},
			outcome: OutcomeOK, metricOp: "credit",
		},
		{
			name:   "credit a known customer, 3-decimal currency",
			answer: `{"partnerReference":"out-2","status":"FAILED","message":"limit reached"}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.Credit(ctx, CreditOrder{PartnerReference: "out-2", Phone: "+96512345678", Currency: "414", Amount: 1005})
			},
			method: "POST", path: "/external/operations/credit",
			body:    `{"amount":1.005,"partnerReference":"out-2","customer":{"phone":"+96512345678"}}`,
			want:    Operation{PartnerReference: "out-2", Status: OperationFailed, RawStatus: "FAILED", Message: "limit reached"},
			outcome: OutcomeDeclined, metricOp: "credit",
		},
		{
			name:   "status by partnerReference",
			answer: `{"partnerReference":"out 1&x","status":"COMPLETED","reference":"BC9"}`,
			call: func(ctx context.Context, c *BestCash) (any, error) {
				return c.Status(ctx, "out 1&x")
			},
			method: "GET", path: "/external/operation", query: "partnerReference=out+1%26x",
			want:    Operation{PartnerReference: "out 1&x", ID: "BC9", Status: OperationSuccess, RawStatus: "COMPLETED"},
			outcome: OutcomeOK, metricOp: "status",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answerJSON(200, tc.answer))
			reg := prometheus.NewRegistry()
			c := testBestCash(f.srv.URL, testHTTPClient(), NewMetrics(reg))
			got, err := tc.call(context.Background(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("result = %+v, want %+v", got, tc.want)
			}
			req := f.only()
			if req.Method != tc.method || req.Path != tc.path || req.Query != tc.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", req.Method, req.Path, req.Query, tc.method, tc.path, tc.query)
			}
			assertBestCashHeaders(t, req)
			if string(req.Body) != tc.body {
				t.Errorf("body = %s, want %s", req.Body, tc.body)
			}
			if tc.body != "" && req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", req.Header.Get("Content-Type"))
			}
			if n := durationCount(t, reg, PartnerBestCash, tc.metricOp, tc.outcome); n != 1 {
				t.Errorf("observations of outcome %s = %d, want 1", tc.outcome, n)
			}
		})
	}
}

// TestBestCashNotFound: 404s are typed results, never permanent, recorded as not_found.
func TestBestCashNotFound(t *testing.T) {
	cases := []struct {
		name string
		call func(context.Context, *BestCash) error
		want error
		op   string
	}{
		{"verify", func(ctx context.Context, c *BestCash) error { _, err := c.VerifyCustomer(ctx, "+1"); return err }, ErrCustomerNotFound, "verify_customer"},
		{"debit", func(ctx context.Context, c *BestCash) error { _, err := c.Debit(ctx, testDebitOrder); return err }, ErrCustomerNotFound, "debit"},
		{"credit without names", func(ctx context.Context, c *BestCash) error {
			o := testCreditOrder
			o.FirstName, o.LastName = "", ""
			_, err := c.Credit(ctx, o)
			return err
		}, ErrCustomerNotFound, "credit"},
		{"confirm", func(ctx context.Context, c *BestCash) error { _, err := c.ConfirmDebit(ctx, "x", "1"); return err }, ErrOperationNotFound, "confirm_debit"},
		{"cancel", func(ctx context.Context, c *BestCash) error { _, err := c.CancelDebit(ctx, "x"); return err }, ErrOperationNotFound, "cancel_debit"},
		{"status", func(ctx context.Context, c *BestCash) error { _, err := c.Status(ctx, "x"); return err }, ErrOperationNotFound, "status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answerJSON(404, `{"message":"not found"}`))
			reg := prometheus.NewRegistry()
			err := tc.call(context.Background(), testBestCash(f.srv.URL, testHTTPClient(), NewMetrics(reg)))
			if !errors.Is(err, tc.want) || IsPermanent(err) {
				t.Fatalf("err = %v, want %v, not permanent", err, tc.want)
			}
			var pe *PartnerError
			if !errors.As(err, &pe) || pe.StatusCode != 404 || pe.Message != "not found" {
				t.Fatalf("err = %#v", err)
			}
			if n := durationCount(t, reg, PartnerBestCash, tc.op, OutcomeNotFound); n != 1 {
				t.Errorf("not_found observations = %d", n)
			}
		})
	}
}

// TestBestCashWrongCode: a refused confirmation keeps the partner's message, is distinguishable and retryable.
func TestBestCashWrongCode(t *testing.T) {
	f := newFake(t, answerJSON(400, `{"code":"INVALID_CODE","message":"Invalid confirmation code"}`))
	reg := prometheus.NewRegistry()
	_, err := testBestCash(f.srv.URL, testHTTPClient(), NewMetrics(reg)).ConfirmDebit(context.Background(), "top-1", "000000")
	var pe *PartnerError
	if !errors.As(err, &pe) || !errors.Is(err, ErrConfirmationRejected) {
		t.Fatalf("err = %v, want a *PartnerError wrapping ErrConfirmationRejected", err)
	}
	if pe.Message != "Invalid confirmation code" || pe.Code != "INVALID_CODE" || pe.StatusCode != 400 || IsPermanent(err) {
		t.Fatalf("PartnerError = %+v", pe)
	}
	if n := durationCount(t, reg, PartnerBestCash, "confirm_debit", OutcomeDeclined); n != 1 {
		t.Errorf("declined observations = %d", n)
	}
}

// TestBestCashUnknownStatus: an answer without a status we know is not guessed at.
func TestBestCashUnknownStatus(t *testing.T) {
	for _, body := range []string{`{"status":"MAYBE"}`, `{"partnerReference":"top-1"}`, `[]`, `{"status":7}`} {
		t.Run(body, func(t *testing.T) {
			f := newFake(t, answerJSON(200, body))
			op, err := testBestCash(f.srv.URL, testHTTPClient(), nil).Status(context.Background(), "top-1")
			if !errors.Is(err, ErrUnavailable) || IsPermanent(err) || op.Status != "" {
				t.Fatalf("Status = %+v, %v; want a retryable error and no status", op, err)
			}
		})
	}
}

// TestBestCashAmountNotSent: a request that cannot be represented never reaches BestCash.
func TestBestCashAmountNotSent(t *testing.T) {
	f := newFake(t, answerJSON(200, `{"status":"PENDING"}`))
	c := testBestCash(f.srv.URL, testHTTPClient(), nil)
	o := testDebitOrder
	o.Currency = "999"
	if _, err := c.Debit(context.Background(), o); !errors.Is(err, ErrUnsupportedCurrency) || !IsPermanent(err) {
		t.Fatalf("unknown currency: %v", err)
	}
	o = testDebitOrder
	o.Amount = -5
	if _, err := c.Debit(context.Background(), o); !errors.Is(err, ErrAmount) || !IsPermanent(err) {
		t.Fatalf("negative amount: %v", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("BestCash received %d requests", n)
	}
}

// TestBestCashAmountIsNumber: the amount is a JSON number in major units, as in seed 000.
func TestBestCashAmountIsNumber(t *testing.T) {
	f := newFake(t, answerJSON(200, `{"status":"PENDING"}`))
	if _, err := testBestCash(f.srv.URL, testHTTPClient(), nil).Debit(context.Background(),
		DebitOrder{PartnerReference: "r", Phone: "+1", Currency: "566", Amount: 150}); err != nil {
		t.Fatal(err)
	}
	body := jsonBody(t, f.only().Body)
	if n, ok := body["amount"].(json.Number); !ok || n.String() != "1.50" {
		t.Fatalf("amount = %#v, want the number 1.50", body["amount"])
	}
	if strings.Contains(string(f.only().Body), `"1.50"`) {
		t.Fatal("amount sent as a string")
	}
}

// TestBestCashBaseURL: a trailing slash on the configured URL changes nothing.
func TestBestCashBaseURL(t *testing.T) {
	f := newFake(t, answerJSON(200, `{}`))
	c := NewBestCash(BestCashConfig{URL: f.srv.URL + "/external/", APIKey: testBCKey, APISecret: testBCSecret}, testHTTPClient(), nil)
	if _, err := c.VerifyCustomer(context.Background(), "+22890000001"); err != nil {
		t.Fatal(err)
	}
	if p := f.only().Path; p != "/external/customer/+22890000001" {
		t.Fatalf("path = %s", p)
	}
}
