package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/outbound"
)

// partnerHarness is a harness whose ledger routes events like production (connector and virtual account) and whose
// server has the partner routes wired to the ledger and, through the real BestCash client, to the simulator.
func partnerHarness(t *testing.T, withMovements bool) (*harness, *outbound.Simulator, *failSwitch) {
	t.Helper()
	h := newHarness(t, withLedgerOptions(ledger.Options{Route: outbound.Route(true, true)}))
	sim := outbound.NewSimulator()
	fail := &failSwitch{next: map[string]int{}}
	handler := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.take(strings.TrimPrefix(r.URL.Path, outbound.SimBestCashPath)) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := Config{Store: h.store, Keys: h.keys, AdminToken: testAdminToken, Logger: h.srv.log, Metrics: h.metrics,
		PartnerStore: h.ledger}
	if withMovements {
		bc, _, _ := sim.Configs(srv.URL)
		cfg.Movements = outbound.NewMovements(h.ledger, outbound.NewBestCash(bc, srv.Client(), nil), nil)
	}
	h.srv = New(cfg)
	return h, sim, fail
}

// failSwitch makes the next n requests to a BestCash path fail with 503 before the simulator sees them.
type failSwitch struct {
	mu   sync.Mutex
	next map[string]int
}

func (f *failSwitch) set(path string, n int) {
	f.mu.Lock()
	f.next[path] = n
	f.mu.Unlock()
}

func (f *failSwitch) take(path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next[path] > 0 {
		f.next[path]--
		return true
	}
	return false
}

type opsOutboxEvent struct {
	ID                   uint64 `json:"id"`
	Partner              string `json:"partner"`
	Kind                 string `json:"kind"`
	WalletID             string `json:"walletId"`
	TransactionReference string `json:"transactionReference"`
	Amount               int64  `json:"amount"`
	ResponseCode         string `json:"responseCode"`
	State                string `json:"state"`
	Attempts             int    `json:"attempts"`
	LastError            string `json:"lastError"`
}

type opsOutbox struct {
	Events    []opsOutboxEvent `json:"events"`
	NextAfter uint64           `json:"nextAfter"`
}

func outboxSummary(evs []opsOutboxEvent) string {
	var parts []string
	for _, e := range evs {
		parts = append(parts, e.Partner+" "+e.Kind+" "+e.TransactionReference+" "+e.ResponseCode+" "+e.State)
	}
	return strings.Join(parts, "; ")
}

// TestAdminOutbox: /admin/outbox lists pending and dead deliveries of switch decisions, a manual retry re-queues a
// dead one, and the transaction look-up shows a transaction's deliveries.
func TestAdminOutbox(t *testing.T) {
	h, _, _ := partnerHarness(t, false)
	ctx := context.Background()
	if _, err := h.ledger.CreateWallet(ctx, ledger.NewWallet{ID: "w1", Currency: "566", Name: "Ada", VirtualAccountID: "VA-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ledger.Credit(ctx, ledger.Credit{WalletID: "w1", Amount: 150, Reference: "fund"}); err != nil {
		t.Fatal(err)
	}
	if a := h.send("/debit", debitFields("r1", "T1", "w1", 100), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("debit answered %s", a.ResponseCode)
	}
	if a := h.send("/debit", debitFields("r2", "T2", "w1", 100), mac.Debit); a.ResponseCode != "51" {
		t.Fatalf("debit answered %s", a.ResponseCode)
	}
	h.send("/debit", debitFields("r1", "T1", "w1", 100), mac.Debit) // a replay: nothing new

	list := func(query string) opsOutbox {
		t.Helper()
		return opsDecode[opsOutbox](t, h.admin(http.MethodGet, "/admin/outbox"+query, nil, testAdminToken), http.StatusOK)
	}
	pending := list("?state=pending")
	if got, want := outboxSummary(pending.Events), "connector debit T1 00 pending; virtualaccount debit T1 00 pending; connector debit T2 51 pending"; got != want {
		t.Fatalf("pending outbox:\n\t%s\nwant\t%s", got, want)
	}
	if got := list("?state=dead"); len(got.Events) != 0 {
		t.Errorf("dead letters: %+v", got.Events)
	}
	page := list("?limit=2")
	if len(page.Events) != 2 || page.NextAfter != page.Events[1].ID {
		t.Errorf("first page of 2: %+v", page)
	}
	if rest := list("?limit=2&after=" + itoa(page.NextAfter)); len(rest.Events) != 1 || rest.NextAfter != 0 {
		t.Errorf("second page: %+v", rest)
	}

	txn := opsDecode[opsTxn](t, h.admin(http.MethodGet, "/admin/transactions/T1", nil, testAdminToken), http.StatusOK)
	if len(txn.PartnerDeliveries) != 2 || !strings.Contains(string(txn.PartnerDeliveries[0]), `"partner":"connector"`) {
		t.Errorf("T1 partnerDeliveries = %s", txn.PartnerDeliveries)
	}

	// Dead-letter the connector's T2 as the dispatcher would, then retry it by hand.
	id := pending.Events[2].ID
	if _, err := h.ledger.RecordDelivery(ctx, id, ledger.Attempt{Dead: true, Error: "connector debit: INVALID_DATA"}); err != nil {
		t.Fatal(err)
	}
	dead := list("?state=dead")
	if len(dead.Events) != 1 || dead.Events[0].ID != id || dead.Events[0].LastError != "connector debit: INVALID_DATA" || dead.Events[0].Attempts != 1 {
		t.Fatalf("dead letters: %+v", dead.Events)
	}
	e := opsDecode[opsOutboxEvent](t, h.admin(http.MethodPost, "/admin/outbox/"+itoa(id)+"/retry", nil, testAdminToken), http.StatusOK)
	if e.State != ledger.OutboxPending || e.Attempts != 0 {
		t.Errorf("retried: %+v", e)
	}
	if len(list("?state=dead").Events) != 0 || len(list("?state=pending").Events) != 3 {
		t.Error("the retried event is not back in the pending list")
	}
	if _, err := h.ledger.RecordDelivery(ctx, id, ledger.Attempt{Delivered: true}); err != nil {
		t.Fatal(err)
	}

	errs := []struct {
		name, method, path, token string
		status                    int
		code                      string
	}{
		{"retry a delivered event", http.MethodPost, "/admin/outbox/" + itoa(id) + "/retry", testAdminToken, http.StatusConflict, "already_delivered"},
		{"retry an unknown event", http.MethodPost, "/admin/outbox/999/retry", testAdminToken, http.StatusNotFound, "outbox_event_not_found"},
		{"retry a malformed id", http.MethodPost, "/admin/outbox/x1/retry", testAdminToken, http.StatusNotFound, "outbox_event_not_found"},
		{"unknown state", http.MethodGet, "/admin/outbox?state=delivered", testAdminToken, http.StatusBadRequest, "invalid_request"},
		{"bad limit", http.MethodGet, "/admin/outbox?limit=0", testAdminToken, http.StatusBadRequest, "invalid_request"},
		{"bad cursor", http.MethodGet, "/admin/outbox?after=-1", testAdminToken, http.StatusBadRequest, "invalid_request"},
		{"no token", http.MethodGet, "/admin/outbox", "", http.StatusUnauthorized, "unauthorized"},
		{"top-ups without BestCash", http.MethodPost, "/admin/wallets/w1/topups", testAdminToken, http.StatusNotFound, "bestcash_not_configured"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			opsWantError(t, h.admin(tc.method, tc.path, `{"reference":"x","amount":1,"phone":"+2348012345678"}`, tc.token), tc.status, tc.code)
		})
	}
}

func TestAdminOutboxNotConfigured(t *testing.T) {
	h := newHarness(t)
	opsWantError(t, h.admin(http.MethodGet, "/admin/outbox", nil, testAdminToken), http.StatusNotFound, "partners_not_configured")
	h.fund("w1", "566", 500)
	h.send("/debit", debitFields("r1", "T1", "w1", 100), mac.Debit)
	txn := opsDecode[opsTxn](t, h.admin(http.MethodGet, "/admin/transactions/T1", nil, testAdminToken), http.StatusOK)
	if txn.PartnerDeliveries == nil || len(txn.PartnerDeliveries) != 0 {
		t.Errorf("partnerDeliveries = %v, want []", txn.PartnerDeliveries)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

type opsTopup struct {
	Reference string `json:"reference"`
	WalletID  string `json:"walletId"`
	Amount    int64  `json:"amount"`
	State     string `json:"state"`
	Message   string `json:"message"`
}

type opsCashout struct {
	Reference string `json:"reference"`
	State     string `json:"state"`
	Message   string `json:"message"`
}

// TestAdminTopup: CONTRACT 2 and 5 through the router and the real BestCash client against the simulator.
func TestAdminTopup(t *testing.T) {
	h, sim, _ := partnerHarness(t, true)
	h.fund("w1", "566", 0)
	debits := func() int {
		n := 0
		for _, r := range sim.Requests(outbound.PartnerBestCash) {
			if r.Path == "/operations/debit" {
				n++
			}
		}
		return n
	}

	// 404 at BestCash: 422, and no BestCash debit.
	opsWantError(t, h.admin(http.MethodPost, "/admin/wallets/w1/topups",
		map[string]any{"reference": "T0", "amount": 5000, "phone": "+2250000000000"}, testAdminToken),
		http.StatusUnprocessableEntity, "customer_not_found")
	if n := debits(); n != 0 {
		t.Fatalf("%d BestCash debits for an unknown customer", n)
	}

	body := map[string]any{"reference": "T1", "amount": 5000, "phone": outbound.SimCustomerPhone}
	for range 2 { // idempotent on the reference
		tp := opsDecode[opsTopup](t, h.admin(http.MethodPost, "/admin/wallets/w1/topups", body, testAdminToken), http.StatusAccepted)
		if tp.Reference != "T1" || tp.State != "awaiting_confirmation" {
			t.Fatalf("top-up: %+v", tp)
		}
	}
	if n := debits(); n != 1 {
		t.Errorf("%d BestCash debits, want 1", n)
	}
	body["amount"] = 6000
	opsWantError(t, h.admin(http.MethodPost, "/admin/wallets/w1/topups", body, testAdminToken), http.StatusConflict, "reference_conflict")

	// A wrong code: 422 with BestCash's message; the top-up stays awaiting and says why.
	msg := opsWantError(t, h.admin(http.MethodPost, "/admin/topups/T1/confirm", map[string]any{"code": "000000"}, testAdminToken),
		http.StatusUnprocessableEntity, "confirmation_refused")
	if !strings.Contains(msg, "invalid confirmation code") {
		t.Errorf("message %q lacks BestCash's", msg)
	}
	tp := opsDecode[opsTopup](t, h.admin(http.MethodGet, "/admin/topups/T1", nil, testAdminToken), http.StatusOK)
	if tp.State != "awaiting_confirmation" || !strings.Contains(tp.Message, "invalid confirmation code") {
		t.Errorf("after a wrong code: %+v", tp)
	}
	if b := h.balance("w1"); b != 0 {
		t.Fatalf("balance %d before confirmation", b)
	}

	for range 2 {
		tp = opsDecode[opsTopup](t, h.admin(http.MethodPost, "/admin/topups/T1/confirm",
			map[string]any{"code": outbound.SimConfirmationCode}, testAdminToken), http.StatusOK)
		if tp.State != "confirmed" {
			t.Fatalf("confirm: %+v", tp)
		}
	}
	if b := h.balance("w1"); b != 5000 {
		t.Errorf("balance %d, want 5000 credited once", b)
	}
	opsWantError(t, h.admin(http.MethodPost, "/admin/topups/T1/cancel", nil, testAdminToken), http.StatusConflict, "invalid_state")

	// Cancel another one.
	opsDecode[opsTopup](t, h.admin(http.MethodPost, "/admin/wallets/w1/topups",
		map[string]any{"reference": "T2", "amount": 100, "phone": outbound.SimCustomerPhone}, testAdminToken), http.StatusAccepted)
	tp = opsDecode[opsTopup](t, h.admin(http.MethodPost, "/admin/topups/T2/cancel", "{}", testAdminToken), http.StatusOK)
	if tp.State != "cancelled" || sim.BestCashStatus("T2") != "CANCELLED" {
		t.Errorf("cancel: %+v, BestCash %s", tp, sim.BestCashStatus("T2"))
	}
	opsWantError(t, h.admin(http.MethodPost, "/admin/topups/T2/confirm", map[string]any{"code": outbound.SimConfirmationCode}, testAdminToken),
		http.StatusConflict, "invalid_state")

	// CONTRACT 2 gives confirm and cancel the same body, {"code"}: a cancel that carries the customer's code works.
	opsDecode[opsTopup](t, h.admin(http.MethodPost, "/admin/wallets/w1/topups",
		map[string]any{"reference": "T4", "amount": 100, "phone": outbound.SimCustomerPhone}, testAdminToken), http.StatusAccepted)
	tp = opsDecode[opsTopup](t, h.admin(http.MethodPost, "/admin/topups/T4/cancel",
		map[string]any{"code": outbound.SimConfirmationCode}, testAdminToken), http.StatusOK)
	if tp.State != "cancelled" || sim.BestCashStatus("T4") != "CANCELLED" {
		t.Errorf("cancel with a code: %+v, BestCash %s", tp, sim.BestCashStatus("T4"))
	}

	// BestCash unreachable: 502, nothing decided, repeatable.
	sim.SetDown(outbound.PartnerBestCash, true)
	opsWantError(t, h.admin(http.MethodPost, "/admin/wallets/w1/topups",
		map[string]any{"reference": "T3", "amount": 100, "phone": outbound.SimCustomerPhone}, testAdminToken),
		http.StatusBadGateway, "partner_unavailable")
	sim.SetDown(outbound.PartnerBestCash, false)
	opsDecode[opsTopup](t, h.admin(http.MethodPost, "/admin/wallets/w1/topups",
		map[string]any{"reference": "T3", "amount": 100, "phone": outbound.SimCustomerPhone}, testAdminToken), http.StatusAccepted)

	bad := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"unknown wallet", http.MethodPost, "/admin/wallets/nope/topups", map[string]any{"reference": "X1", "amount": 1, "phone": outbound.SimCustomerPhone}, http.StatusNotFound, "wallet_not_found"},
		{"zero amount", http.MethodPost, "/admin/wallets/w1/topups", map[string]any{"reference": "X2", "amount": 0, "phone": outbound.SimCustomerPhone}, http.StatusBadRequest, "invalid_request"},
		{"unknown field", http.MethodPost, "/admin/wallets/w1/topups", map[string]any{"reference": "X3", "amount": 1, "phone": outbound.SimCustomerPhone, "x": 1}, http.StatusBadRequest, "invalid_request"},
		{"not JSON", http.MethodPost, "/admin/wallets/w1/topups", "nope", http.StatusBadRequest, "invalid_request"},
		{"confirm without a code", http.MethodPost, "/admin/topups/T3/confirm", map[string]any{}, http.StatusBadRequest, "invalid_request"},
		{"confirm an unknown top-up", http.MethodPost, "/admin/topups/nope/confirm", map[string]any{"code": "1"}, http.StatusNotFound, "topup_not_found"},
		{"cancel with an unknown field", http.MethodPost, "/admin/topups/T3/cancel", map[string]any{"why": "x"}, http.StatusBadRequest, "invalid_request"},
		{"cancel with a code too long", http.MethodPost, "/admin/topups/T3/cancel", map[string]any{"code": strings.Repeat("1", 33)}, http.StatusBadRequest, "invalid_request"},
		{"get an unknown top-up", http.MethodGet, "/admin/topups/nope", nil, http.StatusNotFound, "topup_not_found"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			opsWantError(t, h.admin(tc.method, tc.path, tc.body, testAdminToken), tc.status, tc.code)
		})
	}
}

// TestAdminCashout: hold, credit at BestCash, settle; an unknown customer needs names; an outcome BestCash does not
// tell is answered 202 and stays held, never guessed.
func TestAdminCashout(t *testing.T) {
	h, sim, fail := partnerHarness(t, true)
	h.fund("w1", "566", 10_000)
	newPhone := "+2250700000077"

	opsWantError(t, h.admin(http.MethodPost, "/admin/wallets/w1/cashouts",
		map[string]any{"reference": "C0", "amount": 1000, "phone": newPhone}, testAdminToken),
		http.StatusUnprocessableEntity, "customer_not_found")
	if w := opsGetWallet(t, h, "w1"); w.HeldAmount != 0 || w.LedgerBalance != 10_000 {
		t.Fatalf("after a refused cash-out: %+v", w)
	}

	body := map[string]any{"reference": "C1", "amount": 4000, "phone": newPhone, "firstName": "Ada", "lastName": "Obi"}
	for range 2 {
		co := opsDecode[opsCashout](t, h.admin(http.MethodPost, "/admin/wallets/w1/cashouts", body, testAdminToken), http.StatusOK)
		if co.State != "completed" {
			t.Fatalf("cash-out: %+v", co)
		}
	}
	if w := opsGetWallet(t, h, "w1"); w.HeldAmount != 0 || w.LedgerBalance != 6_000 || w.AvailableBalance != 6_000 {
		t.Errorf("after the cash-out: %+v", w)
	}
	opsWantError(t, h.admin(http.MethodPost, "/admin/wallets/w1/cashouts",
		map[string]any{"reference": "C2", "amount": 6001, "phone": newPhone}, testAdminToken),
		http.StatusUnprocessableEntity, "insufficient_funds")

	// BestCash fails after the hold (the credit and the status look-up answer 503): 202, held, with a note; the
	// balance is not touched, the hold stays.
	fail.set("/operations/credit", 1)
	fail.set("/operation", 1)
	co := opsDecode[opsCashout](t, h.admin(http.MethodPost, "/admin/wallets/w1/cashouts",
		map[string]any{"reference": "C3", "amount": 1000, "phone": newPhone}, testAdminToken), http.StatusAccepted)
	if co.State != "held" || co.Message == "" {
		t.Errorf("cash-out while BestCash is down: %+v", co)
	}
	if w := opsGetWallet(t, h, "w1"); w.HeldAmount != 1000 || w.LedgerBalance != 6_000 {
		t.Errorf("while held: %+v", w)
	}
	got := opsDecode[opsCashout](t, h.admin(http.MethodGet, "/admin/cashouts/C3", nil, testAdminToken), http.StatusOK)
	if got.State != "held" {
		t.Errorf("GET cash-out: %+v", got)
	}
	// Repeating it once BestCash is back settles it.
	co = opsDecode[opsCashout](t, h.admin(http.MethodPost, "/admin/wallets/w1/cashouts",
		map[string]any{"reference": "C3", "amount": 1000, "phone": newPhone}, testAdminToken), http.StatusOK)
	if co.State != "completed" || sim.BestCashStatus("C3") != "SUCCESS" {
		t.Errorf("after BestCash came back: %+v, BestCash %s", co, sim.BestCashStatus("C3"))
	}
	if w := opsGetWallet(t, h, "w1"); w.HeldAmount != 0 || w.LedgerBalance != 5_000 {
		t.Errorf("after settling: %+v", w)
	}
	opsWantError(t, h.admin(http.MethodGet, "/admin/cashouts/nope", nil, testAdminToken), http.StatusNotFound, "cashout_not_found")
}
