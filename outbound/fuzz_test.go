package outbound

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzAnswers feeds every client any status and body a partner could send: no panic, no credential in the
// error, and a success always carries a result the caller can act on.
func FuzzAnswers(f *testing.F) {
	f.Add(200, []byte(`{"success":true,"uuid":"12c0b3f4aa1d02d1608a"}`))
	f.Add(200, []byte(`{"success":false,"error_message":"The following fields are missing: registrationId","error_code":"MISSING_FIELDS"}`))
	f.Add(200, []byte(`{"success":false,"error_code":"DUPLICATE_ID"}`))
	f.Add(200, []byte(vaOK))
	f.Add(200, []byte(`{"data":{"status":"PENDING","partnerReference":"001"}}`))
	f.Add(200, []byte(`{"phone":"+22892685526","firstname":"Kofi"}`))
	f.Add(400, []byte(`{"error":{"code":"X","message":"`+testBCKey+`"}}`))
	f.Add(404, []byte(``))
	f.Add(503, []byte("<html>"))
	f.Add(200, []byte(`{"success":"true","status":["x"],"data":null}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 200
		}
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(string(body))),
				Header: http.Header{}, Request: r}, nil
		})}
		ctx := context.Background()
		bc := testBestCash("http://partner.test", hc, nil)
		for _, call := range []func() (Operation, error){
			func() (Operation, error) { return bc.Debit(ctx, testDebitOrder) },
			func() (Operation, error) { return bc.ConfirmDebit(ctx, "r", "1") },
			func() (Operation, error) { return bc.CancelDebit(ctx, "r") },
			func() (Operation, error) { return bc.Credit(ctx, testCreditOrder) },
			func() (Operation, error) { return bc.Status(ctx, "r") },
		} {
			op, err := call()
			assertNoSecrets(t, PartnerBestCash, err)
			if err == nil && op.Status != OperationPending && op.Status != OperationSuccess && op.Status != OperationFailed {
				t.Fatalf("success with status %q", op.Status)
			}
			_ = IsPermanent(err)
		}
		_, err := bc.VerifyCustomer(ctx, "+1")
		assertNoSecrets(t, PartnerBestCash, err)
		va := testVA("http://partner.test", hc, nil)
		assertNoSecrets(t, PartnerVirtualAccount, va.Debit(ctx, testMirror))
		cn := testConnector("http://partner.test", hc, nil)
		err = cn.Void(ctx, testReversal)
		assertNoSecrets(t, PartnerConnector, err)
		if err == nil && (status < 200 || status > 299) && !strings.Contains(string(body), connDuplicateID) {
			t.Fatalf("connector HTTP %d %q accepted", status, body)
		}
	})
}
