package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// simClients serves a fresh simulator and returns clients configured for it.
func simClients(t *testing.T) (*Simulator, *BestCash, *VirtualAccount, *Connector, *prometheus.Registry) {
	t.Helper()
	sim := NewSimulator()
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	bc, va, cn := sim.Configs(srv.URL)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	hc := testHTTPClient()
	return sim, NewBestCash(bc, hc, m), NewVirtualAccount(va, hc, m), NewConnector(cn, hc, m), reg
}

func TestSimulatorTopUp(t *testing.T) {
	ctx := context.Background()
	sim, bc, _, _, _ := simClients(t)

	cust, err := bc.VerifyCustomer(ctx, SimCustomerPhone)
	if err != nil || cust != (Customer{SimCustomerPhone, "Ada", "Obi"}) {
		t.Fatalf("verify = %+v, %v", cust, err)
	}
	if _, err := bc.VerifyCustomer(ctx, "+22890000000"); !errors.Is(err, ErrCustomerNotFound) {
		t.Fatalf("unknown customer: %v", err)
	}
	if _, err := bc.Debit(ctx, DebitOrder{PartnerReference: "t0", Phone: "+22890000000", Currency: "566", Amount: 100}); !errors.Is(err, ErrCustomerNotFound) {
		t.Fatalf("debit of an unknown customer: %v", err)
	}

	order := DebitOrder{PartnerReference: "t1", Phone: SimCustomerPhone, Currency: "566", Amount: 15000}
	op, err := bc.Debit(ctx, order)
	if err != nil || op.Status != OperationPending || op.PartnerReference != "t1" || op.ID == "" {
		t.Fatalf("debit = %+v, %v", op, err)
	}
	again, err := bc.Debit(ctx, order)
	if err != nil || again.ID != op.ID {
		t.Fatalf("repeated debit = %+v, %v; want the same operation %s", again, err, op.ID)
	}

	_, err = bc.ConfirmDebit(ctx, "t1", "000000")
	var pe *PartnerError
	if !errors.Is(err, ErrConfirmationRejected) || !errors.As(err, &pe) || pe.Message != "invalid confirmation code" {
		t.Fatalf("wrong code: %v", err)
	}
	if st, err := bc.Status(ctx, "t1"); err != nil || st.Status != OperationPending {
		t.Fatalf("after a wrong code: %+v, %v", st, err)
	}
	if op, err = bc.ConfirmDebit(ctx, "t1", SimConfirmationCode); err != nil || op.Status != OperationSuccess {
		t.Fatalf("right code: %+v, %v", op, err)
	}
	if op, err = bc.CancelDebit(ctx, "t1"); err != nil || op.Status != OperationSuccess {
		t.Fatalf("cancel after confirmation: %+v, %v; want it still successful", op, err)
	}

	if _, err := bc.Debit(ctx, DebitOrder{PartnerReference: "t2", Phone: SimCustomerPhone, Currency: "952", Amount: 500}); err != nil {
		t.Fatal(err)
	}
	if op, err = bc.CancelDebit(ctx, "t2"); err != nil || op.Status != OperationFailed || op.RawStatus != "CANCELLED" {
		t.Fatalf("cancel: %+v, %v", op, err)
	}
	if op, err = bc.ConfirmDebit(ctx, "t2", SimConfirmationCode); err != nil || op.Status != OperationFailed {
		t.Fatalf("confirm after cancel: %+v, %v; want it still cancelled", op, err)
	}
	if _, err := bc.ConfirmDebit(ctx, "nope", SimConfirmationCode); !errors.Is(err, ErrOperationNotFound) {
		t.Fatalf("confirm of an unknown debit: %v", err)
	}
	if sim.BestCashStatus("t1") != "SUCCESS" || sim.BestCashStatus("t2") != "CANCELLED" || sim.BestCashStatus("x") != "" {
		t.Fatal("BestCashStatus disagrees with the client")
	}
}

func TestSimulatorCashOut(t *testing.T) {
	ctx := context.Background()
	_, bc, _, _, _ := simClients(t)
	order := CreditOrder{PartnerReference: "c1", Phone: "+22899999999", Currency: "952", Amount: 2500}
	if _, err := bc.Credit(ctx, order); !errors.Is(err, ErrCustomerNotFound) {
		t.Fatalf("credit to an unknown customer without names: %v", err)
	}
	if _, err := bc.Status(ctx, "c1"); !errors.Is(err, ErrOperationNotFound) {
		t.Fatalf("status of a refused credit: %v", err)
	}
	order.FirstName, order.LastName = "Kofi", "Mensah"
	op, err := bc.Credit(ctx, order)
	if err != nil || op.Status != OperationSuccess {
		t.Fatalf("credit with names: %+v, %v", op, err)
	}
	if cust, err := bc.VerifyCustomer(ctx, "+22899999999"); err != nil || cust.FirstName != "Kofi" {
		t.Fatalf("the credit did not create the customer: %+v, %v", cust, err)
	}
	if st, err := bc.Status(ctx, "c1"); err != nil || st.Status != OperationSuccess || st.ID != op.ID {
		t.Fatalf("status = %+v, %v", st, err)
	}
}

func TestSimulatorPushes(t *testing.T) {
	ctx := context.Background()
	sim, _, va, cn, reg := simClients(t)

	if err := cn.Debit(ctx, testPush); err != nil {
		t.Fatal(err)
	}
	if err := cn.Debit(ctx, testPush); err != nil {
		t.Fatalf("repeated push: %v, want nil (DUPLICATE_ID is delivered)", err)
	}
	if n := durationCount(t, reg, PartnerConnector, "debit", OutcomeDuplicate); n != 1 {
		t.Fatalf("duplicate observations = %d", n)
	}
	orphan := Push{TransactionID: "R9", ReferenceTransactionID: "never-pushed", Currency: "566", Amount: 1, Approved: true}
	if err := cn.Void(ctx, orphan); !errors.Is(err, ErrRejected) || IsPermanent(err) {
		t.Fatalf("void of an unknown debit: %v, want retryable INVALID_REFERENCE", err)
	}
	if err := cn.Refund(ctx, testReversal); err != nil {
		t.Fatal(err)
	}
	declined := Push{TransactionID: "D51", Currency: "566", Amount: 100, ResponseCode: "51"}
	if err := cn.Debit(ctx, declined); err != nil {
		t.Fatal(err)
	}
	if err := va.Debit(ctx, testMirror); err != nil {
		t.Fatal(err)
	}
	if err := va.Credit(ctx, testMirror); err != nil {
		t.Fatal(err)
	}

	got := sim.Requests(PartnerConnector)
	if len(got) != 5 {
		t.Fatalf("connector requests = %d, want 5", len(got))
	}
	if got[0].Path != "/****/debit" || got[3].Path != "/****/refund" || got[0].Header.Get("Authorization") != "****" {
		t.Fatalf("recorded %s %v: want the API key and credentials masked", got[0].Path, got[0].Header)
	}
	var body map[string]any
	if err := json.Unmarshal(got[4].Body, &body); err != nil || body["status"] != "failed" {
		t.Fatalf("declined push recorded as %s", got[4].Body)
	}
	vas := sim.Requests(PartnerVirtualAccount)
	if len(vas) != 2 || vas[0].Path != "/debit/uni" || vas[1].Path != "/credit/uni" {
		t.Fatalf("virtual-account requests = %+v", vas)
	}
	if len(sim.Requests("")) != 7 {
		t.Fatalf("all requests = %d, want 7", len(sim.Requests("")))
	}
	for _, r := range sim.Requests("") {
		for _, s := range []string{SimConnectorAPIKey, SimConnectorPassword, SimVAToken} {
			if strings.Contains(fmt.Sprint(r), s) {
				t.Fatalf("recorded request %+v holds a credential", r)
			}
		}
	}
}

func TestSimulatorChecksFields(t *testing.T) {
	sim := NewSimulator()
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	_, _, cn := sim.Configs(srv.URL)
	post := func(body string) map[string]any {
		req, _ := http.NewRequest("POST", cn.URL+"/"+cn.APIKey+"/debit", strings.NewReader(body))
		req.SetBasicAuth(cn.User, cn.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	if out := post(`{"amount":"1.00","currency":"NGN"}`); out["error_code"] != "MISSING_FIELDS" {
		t.Fatalf("missing transactionId: %v", out)
	}
	if out := post(`{"transactionId":"a","amount":"1.0001","currency":"NGN"}`); out["error_code"] != "INVALID_DATA" {
		t.Fatalf("four decimals: %v", out)
	}
	if out := post(`{"transactionId":"a","amount":"1.00","currency":"ngn"}`); out["error_code"] != "INVALID_DATA" {
		t.Fatalf("lower-case currency: %v", out)
	}
}

func TestSimulatorFailureSwitches(t *testing.T) {
	ctx := context.Background()
	sim, bc, va, cn, _ := simClients(t)

	sim.FailNext(PartnerConnector, 2, http.StatusServiceUnavailable)
	for i := 0; i < 2; i++ {
		if err := cn.Debit(ctx, testPush); !errors.Is(err, ErrUnavailable) || IsPermanent(err) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	if err := cn.Debit(ctx, testPush); err != nil {
		t.Fatalf("after the failures: %v", err)
	}
	if err := va.Debit(ctx, testMirror); err != nil {
		t.Fatalf("the virtual account failed with the connector: %v", err)
	}

	sim.SetDown(PartnerVirtualAccount, true)
	if err := va.Debit(ctx, testMirror); !errors.Is(err, ErrUnavailable) || IsPermanent(err) {
		t.Fatalf("down: %v", err)
	}
	sim.SetDown(PartnerVirtualAccount, false)
	if err := va.Debit(ctx, testMirror); err != nil {
		t.Fatalf("up again: %v", err)
	}

	sim.FailNext(PartnerBestCash, 1, http.StatusBadGateway)
	if _, err := bc.Credit(ctx, testCreditOrder); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("bestcash failure: %v", err)
	}
	if _, err := bc.Status(ctx, testCreditOrder.PartnerReference); !errors.Is(err, ErrOperationNotFound) {
		t.Fatalf("a failed credit left an operation: %v", err)
	}
}

func TestSimulatorAuth(t *testing.T) {
	sim := NewSimulator()
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	bcCfg, vaCfg, cnCfg := sim.Configs(srv.URL)
	bcCfg.APISecret, vaCfg.Token, cnCfg.Password = "wrong", "wrong", "wrong"
	ctx := context.Background()
	hc := testHTTPClient()
	if _, err := NewBestCash(bcCfg, hc, nil).VerifyCustomer(ctx, SimCustomerPhone); !errors.Is(err, ErrAuth) {
		t.Errorf("bestcash: %v", err)
	}
	if err := NewVirtualAccount(vaCfg, hc, nil).Debit(ctx, testMirror); !errors.Is(err, ErrAuth) {
		t.Errorf("virtual account: %v", err)
	}
	if err := NewConnector(cnCfg, hc, nil).Debit(ctx, testPush); !errors.Is(err, ErrAuth) {
		t.Errorf("connector: %v", err)
	}
	cnCfg.Password = SimConnectorPassword
	cnCfg.APIKey = "other-key"
	if err := NewConnector(cnCfg, hc, nil).Debit(ctx, testPush); !errors.Is(err, ErrUnavailable) || IsPermanent(err) {
		t.Errorf("connector, wrong API key: %v", err)
	}
}

// TestSimulatorConcurrent: many clients at once, each push delivered exactly once (run with -race).
func TestSimulatorConcurrent(t *testing.T) {
	sim, bc, va, cn, reg := simClients(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := testPush
			p.TransactionID = fmt.Sprintf("T%d", i%25) // every id twice
			errs <- cn.Debit(ctx, p)
			m := testMirror
			m.Reference = p.TransactionID
			errs <- va.Debit(ctx, m)
			_, err := bc.Debit(ctx, DebitOrder{PartnerReference: p.TransactionID, Phone: SimCustomerPhone, Currency: "566", Amount: 1})
			errs <- err
			_ = sim.Requests("")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if ok, dup := durationCount(t, reg, PartnerConnector, "debit", OutcomeOK), durationCount(t, reg, PartnerConnector, "debit", OutcomeDuplicate); ok != 25 || dup != 25 {
		t.Fatalf("connector ok %d, duplicate %d; want 25 and 25", ok, dup)
	}
	if n := len(sim.Requests("")); n != 150 {
		t.Fatalf("recorded %d requests, want 150", n)
	}
}
