package outbound

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestConnectorRequests: each push is seed 003's body at {url}/{apiKey}/{debit|void|refund} with HTTP Basic auth.
func TestConnectorRequests(t *testing.T) {
	at := time.Date(2026, 11, 21, 13, 4, 5, 0, time.FixedZone("WAT", 3600))
	cases := []struct {
		name string
		call func(context.Context, *Connector) error
		path string
		body string
	}{
		{"approved debit NGN", func(ctx context.Context, c *Connector) error {
			p := testPush
			p.Time, p.CardAcceptor, p.WalletID = at, "SHOPRITE LEKKI LAGOS NG", "1234567894"
			return c.Debit(ctx, p)
		}, "/" + testConnKey + "/debit",
			`{"transactionId":"11123456789","amount":"1.50","currency":"NGN","status":"success","createdAt":"2026-11-21T12:04:05Z","additionalId1":"000000123456","additionalId2":"123456","description":"card debit 11123456789","descriptor":"SHOPRITE LEKKI LAGOS NG","extraData":{"merchantId":"M001","rrn":"000000123456","stan":"123456","terminalId":"2ABC0001","walletId":"1234567894"}}`},
		{"declined debit XOF", func(ctx context.Context, c *Connector) error {
			return c.Debit(ctx, Push{TransactionID: "T2", Currency: "952", Amount: 1500, ResponseCode: "51",
				Message: "insufficient funds"})
		}, "/" + testConnKey + "/debit",
			`{"transactionId":"T2","amount":"1500","currency":"XOF","status":"failed","description":"card debit T2","error":{"message":"insufficient funds","code":"51"}}`},
		{"declined debit without message", func(ctx context.Context, c *Connector) error {
			return c.Debit(ctx, Push{TransactionID: "T3", Currency: "566", Amount: 100, ResponseCode: "57"})
		}, "/" + testConnKey + "/debit",
			`{"transactionId":"T3","amount":"1.00","currency":"NGN","status":"failed","description":"card debit T3","error":{"message":"Transaction declined","code":"57"}}`},
		{"void", func(ctx context.Context, c *Connector) error { return c.Void(ctx, testReversal) },
			"/" + testConnKey + "/void",
			`{"transactionId":"11123456789-R1","referenceTransactionId":"11123456789","amount":"0.50","currency":"NGN","status":"success","description":"card void 11123456789-R1"}`},
		{"refund KWD, 3 decimals", func(ctx context.Context, c *Connector) error {
			p := testReversal
			p.Currency, p.Amount = "414", 1005
			return c.Refund(ctx, p)
		}, "/" + testConnKey + "/refund",
			`{"transactionId":"11123456789-R1","referenceTransactionId":"11123456789","amount":"1.005","currency":"KWD","status":"success","description":"card refund 11123456789-R1"}`},
		{"debit ignores a reference", func(ctx context.Context, c *Connector) error {
			p := testPush
			p.ReferenceTransactionID, p.MerchantID, p.TerminalID, p.RRN, p.STAN = "X", "", "", "", ""
			return c.Debit(ctx, p)
		}, "/" + testConnKey + "/debit",
			`{"transactionId":"11123456789","amount":"1.50","currency":"NGN","status":"success","description":"card debit 11123456789"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answerJSON(200, `{"success":true,"uuid":"12c0b3f4aa1d02d1608a"}`))
			if err := tc.call(context.Background(), testConnector(f.srv.URL+"/", testHTTPClient(), nil)); err != nil {
				t.Fatal(err)
			}
			req := f.only()
			if req.Method != "POST" || req.Path != tc.path {
				t.Errorf("request %s %s, want POST %s", req.Method, req.Path, tc.path)
			}
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testConnUser+":"+testConnPass))
			if req.Header.Get("Authorization") != wantAuth || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers = %v", req.Header)
			}
			if string(req.Body) != tc.body {
				t.Errorf("body = %s\nwant %s", req.Body, tc.body)
			}
			if a, _ := jsonBody(t, req.Body)["amount"].(string); !connAmount.MatchString(a) {
				t.Errorf("amount %q does not match the connector's pattern", a)
			}
		})
	}
}

// TestConnectorAnswers: DUPLICATE_ID is delivered, MISSING_FIELDS and INVALID_DATA are permanent, the rest is
// retryable; the outcome label says which.
func TestConnectorAnswers(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		wantErr   error
		permanent bool
		outcome   string
	}{
		{"success", 200, `{"success":true,"uuid":"12c0b3f4aa1d02d1608a"}`, nil, false, OutcomeOK},
		{"success as string", 200, `{"success":"true"}`, nil, false, OutcomeOK},
		{"duplicate", 200, `{"success":false,"error_message":"duplicate","error_code":"DUPLICATE_ID"}`, nil, false, OutcomeDuplicate},
		{"duplicate as 409", 409, `{"success":false,"error_code":"DUPLICATE_ID"}`, nil, false, OutcomeDuplicate},
		{"missing fields", 200, `{"success":false,"error_message":"The following fields are missing: registrationId","error_code":"MISSING_FIELDS"}`,
			ErrInvalid, true, OutcomeInvalid},
		{"invalid data as 400", 400, `{"success":false,"error_message":"amount","error_code":"INVALID_DATA"}`, ErrInvalid, true, OutcomeInvalid},
		{"invalid reference", 200, `{"success":false,"error_code":"INVALID_REFERENCE"}`, ErrRejected, false, OutcomeDeclined},
		{"unknown error code", 200, `{"success":false,"error_code":"SOMETHING_NEW"}`, ErrRejected, false, OutcomeDeclined},
		{"success false without code", 200, `{"success":false}`, ErrRejected, false, OutcomeDeclined},
		{"no success field", 200, `{"uuid":"x"}`, ErrUnavailable, false, OutcomeError},
		{"5xx with a duplicate-looking body but success true", 500, `{"success":true}`, ErrUnavailable, false, OutcomeError},
		{"404: wrong API key", 404, `{"success":false,"error_message":"connector not found"}`, ErrUnavailable, false, OutcomeError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answerJSON(tc.status, tc.body))
			reg := prometheus.NewRegistry()
			err := testConnector(f.srv.URL, testHTTPClient(), NewMetrics(reg)).Void(context.Background(), testReversal)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if tc.wantErr != nil && (!errors.Is(err, tc.wantErr) || IsPermanent(err) != tc.permanent) {
				t.Fatalf("err = %v, want %v, permanent %v", err, tc.wantErr, tc.permanent)
			}
			if n := durationCount(t, reg, PartnerConnector, "void", tc.outcome); n != 1 {
				t.Errorf("%s observations = %d", tc.outcome, n)
			}
			assertNoSecrets(t, PartnerConnector, err)
		})
	}
}

// TestConnectorRefusesLocally: pushes the connector would refuse are permanent errors without a request.
func TestConnectorRefusesLocally(t *testing.T) {
	long := "0123456789012345678901234567890123456789012345678901" // 51 characters
	cases := []struct {
		name string
		call func(context.Context, *Connector) error
		want error
	}{
		{"no transactionId", func(ctx context.Context, c *Connector) error {
			return c.Debit(ctx, Push{Currency: "566", Amount: 1, Approved: true})
		}, ErrInvalid},
		{"transactionId over 50 characters", func(ctx context.Context, c *Connector) error {
			return c.Debit(ctx, Push{TransactionID: long, Currency: "566", Amount: 1, Approved: true})
		}, ErrInvalid},
		{"void without reference", func(ctx context.Context, c *Connector) error {
			return c.Void(ctx, Push{TransactionID: "R", Currency: "566", Amount: 1, Approved: true})
		}, ErrInvalid},
		{"refund reusing the debit's id", func(ctx context.Context, c *Connector) error {
			return c.Refund(ctx, Push{TransactionID: "D", ReferenceTransactionID: "D", Currency: "566", Amount: 1, Approved: true})
		}, ErrInvalid},
		{"unknown currency", func(ctx context.Context, c *Connector) error {
			return c.Debit(ctx, Push{TransactionID: "D", Currency: "001", Amount: 1, Approved: true})
		}, ErrUnsupportedCurrency},
		{"negative amount", func(ctx context.Context, c *Connector) error {
			return c.Debit(ctx, Push{TransactionID: "D", Currency: "566", Amount: -1, Approved: true})
		}, ErrAmount},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answerJSON(200, `{"success":true}`))
			err := tc.call(context.Background(), testConnector(f.srv.URL, testHTTPClient(), nil))
			if !errors.Is(err, tc.want) || !IsPermanent(err) {
				t.Fatalf("err = %v, want permanent %v", err, tc.want)
			}
			if n := len(f.requests()); n != 0 {
				t.Fatalf("connector received %d requests", n)
			}
		})
	}
}

// TestConnectorKeyNeverInErrors: the API key is a path segment; transport errors must not carry the URL.
func TestConnectorKeyNeverInErrors(t *testing.T) {
	f := newFake(t, answerDrop)
	err := testConnector(f.srv.URL, testHTTPClient(), nil).Debit(context.Background(), testPush)
	if err == nil {
		t.Fatal("dropped connection: no error")
	}
	assertNoSecrets(t, PartnerConnector, err)
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		assertNoSecrets(t, PartnerConnector, e)
	}
	var pe *PartnerError
	if errors.As(err, &pe) {
		for _, e := range pe.Unwrap() {
			assertNoSecrets(t, PartnerConnector, e)
		}
	}
	if got := f.only().RawPath; got != "/"+testConnKey+"/debit" {
		t.Fatalf("path = %s", got)
	}
}

// TestLimit: descriptive fields are cut at the seed's limits without splitting a character.
func TestLimit(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"aé", 2, "a"}, {"éé", 3, "é"}, {"", 0, ""},
	}
	for _, tc := range cases {
		if got := limit(tc.in, tc.n); got != tc.want {
			t.Errorf("limit(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
