package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// opsError is the admin API's error body (CONTRACT 2).
type opsError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// opsWallet is the contract's wallet view, decoded independently of the server's own type.
type opsWallet struct {
	WalletID         string    `json:"walletId"`
	CurrencyCode     string    `json:"currencyCode"`
	Name             string    `json:"name"`
	Status           string    `json:"status"`
	LedgerBalance    int64     `json:"ledgerBalance"`
	AvailableBalance int64     `json:"availableBalance"`
	HeldAmount       int64     `json:"heldAmount"`
	DailyDebitLimit  int64     `json:"dailyDebitLimit"`
	Phone            string    `json:"phone"`
	VirtualAccountID string    `json:"virtualAccountId"`
	CreatedAt        time.Time `json:"createdAt"`
}

type opsLine struct {
	Seq          uint64    `json:"seq"`
	Time         time.Time `json:"time"`
	Kind         string    `json:"kind"`
	Reference    string    `json:"reference"`
	Amount       int64     `json:"amount"`
	BalanceAfter int64     `json:"balanceAfter"`
}

type opsStatement struct {
	WalletID     string    `json:"walletId"`
	Transactions []opsLine `json:"transactions"`
	NextBefore   uint64    `json:"nextBefore"`
}

type opsTxn struct {
	TransactionReference         string            `json:"transactionReference"`
	Kind                         string            `json:"kind"`
	WalletID                     string            `json:"walletId"`
	CurrencyCode                 string            `json:"currencyCode"`
	Amount                       int64             `json:"amount"`
	Fee                          int64             `json:"fee"`
	ResponseCode                 string            `json:"responseCode"`
	State                        string            `json:"state"`
	OriginalTransactionReference string            `json:"originalTransactionReference"`
	ReversedAmount               int64             `json:"reversedAmount"`
	Reversals                    []string          `json:"reversals"`
	PartnerDeliveries            []json.RawMessage `json:"partnerDeliveries"`
}

// opsDo sends a request to the ops router with exactly the given Authorization header ("" sends none).
func opsDo(h *harness, method, path, body, authorization string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.srv.Ops().ServeHTTP(rec, req)
	return rec
}

// opsDecode checks the status and the JSON content type and decodes the body into a T.
func opsDecode[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	var v T
	if rec.Code != status {
		t.Fatalf("HTTP %d, want %d: %s", rec.Code, status, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q is not the expected JSON: %v", rec.Body.String(), err)
	}
	return v
}

// opsWantError checks an error answer: the status, the {"error":{"code","message"}} format, the code, and that
// the message is not empty. It returns the message.
func opsWantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("HTTP %d, want %d: %s", rec.Code, status, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil || len(raw) != 1 || raw["error"] == nil {
		t.Fatalf("body %q is not {\"error\":{...}}", rec.Body.String())
	}
	var e opsError
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == nil {
		t.Fatalf("body %q is not the error format: %v", rec.Body.String(), err)
	}
	if e.Error.Code != code {
		t.Errorf("error code %q, want %q (%s)", e.Error.Code, code, rec.Body.String())
	}
	if e.Error.Message == "" {
		t.Errorf("error without a message: %s", rec.Body.String())
	}
	return e.Error.Message
}

// opsCreate creates a wallet through the admin API.
func opsCreate(t *testing.T, h *harness, id, currency string) opsWallet {
	t.Helper()
	rec := h.admin(http.MethodPost, "/admin/wallets",
		map[string]any{"walletId": id, "currencyCode": currency, "name": "Wallet " + id}, testAdminToken)
	return opsDecode[opsWallet](t, rec, http.StatusCreated)
}

// opsCredit credits a wallet through the admin API and expects 200.
func opsCredit(t *testing.T, h *harness, id string, amount int64, ref string) opsWallet {
	t.Helper()
	rec := h.admin(http.MethodPost, "/admin/wallets/"+id+"/credit",
		map[string]any{"amount": amount, "reference": ref, "narration": "credit " + ref}, testAdminToken)
	return opsDecode[opsWallet](t, rec, http.StatusOK)
}

func opsGetWallet(t *testing.T, h *harness, id string) opsWallet {
	t.Helper()
	return opsDecode[opsWallet](t, h.admin(http.MethodGet, "/admin/wallets/"+id, nil, testAdminToken), http.StatusOK)
}

func opsStatementLen(t *testing.T, h *harness, id string) int {
	t.Helper()
	st := opsDecode[opsStatement](t, h.admin(http.MethodGet, "/admin/wallets/"+id+"/transactions?limit=500", nil,
		testAdminToken), http.StatusOK)
	return len(st.Transactions)
}

// opsLogText is every log entry, message and fields, as one string per entry.
func opsLogText(h *harness) []string {
	var out []string
	for _, e := range h.logs.All() {
		out = append(out, fmt.Sprintf("%s %s %v", e.Level, e.Message, e.ContextMap()))
	}
	return out
}

func TestOpsHealth(t *testing.T) {
	tests := []struct {
		name       string
		closeFirst bool
		path       string
		status     int
		check      func(t *testing.T, body map[string]string)
	}{
		{name: "healthz", path: "/healthz", status: http.StatusOK},
		{name: "readyz open", path: "/readyz", status: http.StatusOK, check: func(t *testing.T, b map[string]string) {
			if b["status"] != "ready" {
				t.Errorf("status %q, want ready", b["status"])
			}
		}},
		{name: "readyz closed", closeFirst: true, path: "/readyz", status: http.StatusServiceUnavailable,
			check: func(t *testing.T, b map[string]string) {
				if b["reason"] == "" {
					t.Errorf("503 without a reason: %v", b)
				}
			}},
		{name: "healthz closed", closeFirst: true, path: "/healthz", status: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.closeFirst {
				h.close() // audits first; the cleanup's close is a no-op
			}
			body := opsDecode[map[string]string](t, h.admin(http.MethodGet, tc.path, nil, ""), tc.status)
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

// TestOpsClosedLedger: admin calls on a closed ledger answer 503 in the error format, never a success or a 4xx
// that would blame the caller.
func TestOpsClosedLedger(t *testing.T) {
	h := newHarness(t)
	opsCreate(t, h, "w-1", "566")
	h.close()
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"create", http.MethodPost, "/admin/wallets", map[string]any{"walletId": "w-2", "currencyCode": "566", "name": "x"},
			http.StatusServiceUnavailable, "storage_unavailable"},
		{"credit", http.MethodPost, "/admin/wallets/w-1/credit", map[string]any{"amount": 1, "reference": "c-1"},
			http.StatusServiceUnavailable, "storage_unavailable"},
		{"status", http.MethodPost, "/admin/wallets/w-1/status", map[string]any{"status": "frozen"},
			http.StatusServiceUnavailable, "storage_unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opsWantError(t, h.admin(tc.method, tc.path, tc.body, testAdminToken), tc.status, tc.code)
		})
	}
	t.Run("read", func(t *testing.T) {
		opsWantError(t, h.admin(http.MethodGet, "/admin/wallets/w-1", nil, testAdminToken),
			http.StatusServiceUnavailable, "storage_unavailable")
	})
}

func TestOpsMetricsEndpoint(t *testing.T) {
	h := newHarness(t)
	h.fund("w-1", "566", 10_000)
	if a := h.send("/debit", debitFields("req-1", "ref-1", "w-1", 100), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("debit answered %s, want 00", a.ResponseCode)
	}
	tests := []struct {
		name string
		tok  string
	}{
		{"no token needed", ""},
		{"token ignored", testAdminToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.admin(http.MethodGet, "/metrics", nil, tc.tok)
			if rec.Code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", rec.Code, rec.Body.String())
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want the text exposition format", ct)
			}
			body := rec.Body.String()
			for _, want := range []string{
				"# TYPE walletgate_requests_total counter",
				`walletgate_requests_total{code="00",route="debit"} 1`,
				`walletgate_request_duration_seconds_count{route="debit"} 1`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %q:\n%s", want, body)
				}
			}
		})
	}
}

// opsAdminRoutes is every admin route with a body it would accept.
var opsAdminRoutes = []struct{ method, path, body string }{
	{http.MethodPost, "/admin/wallets", `{"walletId":"w-new","currencyCode":"566","name":"New"}`},
	{http.MethodGet, "/admin/wallets/w-1", ""},
	{http.MethodPost, "/admin/wallets/w-1/credit", `{"amount":100,"reference":"c-1","narration":"n"}`},
	{http.MethodPost, "/admin/wallets/w-1/status", `{"status":"frozen"}`},
	{http.MethodGet, "/admin/wallets/w-1/transactions", ""},
	{http.MethodGet, "/admin/transactions/ref-1", ""},
	{http.MethodGet, "/admin/audit", ""},
	{http.MethodGet, "/admin/backup", ""},
	{http.MethodGet, "/admin/", ""},
	{http.MethodGet, "/admin/no-such-route", ""},
}

func TestAdminOff(t *testing.T) {
	h := newHarness(t, withAdminToken(""))
	h.fund("w-1", "566", 1_000)
	for _, r := range opsAdminRoutes {
		for _, auth := range []string{"", "Bearer " + testAdminToken, "Bearer "} {
			t.Run(r.method+" "+r.path+" auth="+auth, func(t *testing.T) {
				opsWantError(t, opsDo(h, r.method, r.path, r.body, auth), http.StatusNotFound, "not_found")
			})
		}
	}
	t.Run("nothing changed", func(t *testing.T) {
		if got := h.balance("w-1"); got != 1_000 {
			t.Errorf("balance %d, want 1000", got)
		}
		if _, err := h.ledger.Wallet(context.Background(), "w-new"); !errors.Is(err, ledger.ErrWalletNotFound) {
			t.Errorf("w-new: err %v, want ErrWalletNotFound", err)
		}
	})
	t.Run("ops still up", func(t *testing.T) {
		if rec := h.admin(http.MethodGet, "/healthz", nil, ""); rec.Code != http.StatusOK {
			t.Errorf("/healthz HTTP %d", rec.Code)
		}
	})
}

func TestAdminAuth(t *testing.T) {
	h := newHarness(t)
	h.fund("w-1", "566", 1_000)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+testAdminToken))
	bad := []struct{ name, auth string }{
		{"none", ""},
		{"wrong token", "Bearer not-the-token"},
		{"basic scheme", basic},
		{"token alone", testAdminToken},
		{"shorter token", "Bearer " + testAdminToken[:len(testAdminToken)-1]},
		{"token plus a character", "Bearer " + testAdminToken + "x"},
		{"empty bearer", "Bearer "},
		{"no space", "Bearer" + testAdminToken},
		{"two spaces", "Bearer  " + testAdminToken},
		{"token in another case", "Bearer " + strings.ToUpper(testAdminToken)},
	}
	for _, r := range opsAdminRoutes {
		for _, tc := range bad {
			t.Run(r.method+" "+r.path+"/"+tc.name, func(t *testing.T) {
				rec := opsDo(h, r.method, r.path, r.body, tc.auth)
				opsWantError(t, rec, http.StatusUnauthorized, "unauthorized")
				if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", rec.Header().Get("WWW-Authenticate"))
				}
				if strings.Contains(rec.Body.String(), testAdminToken) {
					t.Errorf("the answer holds the admin token: %s", rec.Body.String())
				}
			})
		}
	}
	t.Run("refused calls changed nothing", func(t *testing.T) {
		w, err := h.ledger.Wallet(context.Background(), "w-1")
		if err != nil || w.Balance != 1_000 || w.Status != ledger.StatusActive {
			t.Errorf("w-1 = %+v, %v; want balance 1000, active", w, err)
		}
		if _, err := h.ledger.Wallet(context.Background(), "w-new"); !errors.Is(err, ledger.ErrWalletNotFound) {
			t.Errorf("w-new: err %v, want ErrWalletNotFound", err)
		}
	})
	good := []struct {
		name, method, path, body string
		status                   int
	}{
		{"audit", http.MethodGet, "/admin/audit", "", http.StatusOK},
		{"get wallet", http.MethodGet, "/admin/wallets/w-1", "", http.StatusOK},
		{"create", http.MethodPost, "/admin/wallets", `{"walletId":"w-2","currencyCode":"566","name":"Two"}`, http.StatusCreated},
	}
	for _, tc := range good {
		t.Run("right token/"+tc.name, func(t *testing.T) {
			rec := opsDo(h, tc.method, tc.path, tc.body, "Bearer "+testAdminToken)
			if rec.Code != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), testAdminToken) {
				t.Errorf("the answer holds the admin token: %s", rec.Body.String())
			}
		})
	}
	t.Run("unknown admin route with the token", func(t *testing.T) {
		opsWantError(t, opsDo(h, http.MethodGet, "/admin/no-such-route", "", "Bearer "+testAdminToken),
			http.StatusNotFound, "not_found")
	})
	t.Run("token not logged", func(t *testing.T) {
		for _, line := range opsLogText(h) {
			if strings.Contains(line, testAdminToken) {
				t.Errorf("log line holds the admin token: %s", line)
			}
		}
	})
}

func TestAdminCreateWallet(t *testing.T) {
	h := newHarness(t)
	before := time.Now().Add(-time.Second)

	t.Run("201 with every field", func(t *testing.T) {
		rec := h.admin(http.MethodPost, "/admin/wallets", map[string]any{"walletId": "w-1", "currencyCode": "566",
			"name": "Ada Obi", "dailyDebitLimit": 500_000, "phone": "+2348012345678", "virtualAccountId": "va-1"}, testAdminToken)
		raw := opsDecode[map[string]any](t, rec, http.StatusCreated)
		for _, f := range []string{"walletId", "currencyCode", "name", "status", "ledgerBalance", "availableBalance",
			"heldAmount", "dailyDebitLimit", "createdAt"} {
			if _, ok := raw[f]; !ok {
				t.Errorf("wallet view lacks %q: %s", f, rec.Body.String())
			}
		}
		w := opsDecode[opsWallet](t, rec, http.StatusCreated)
		want := opsWallet{WalletID: "w-1", CurrencyCode: "566", Name: "Ada Obi", Status: "active",
			DailyDebitLimit: 500_000, Phone: "+2348012345678", VirtualAccountID: "va-1", CreatedAt: w.CreatedAt}
		if w != want {
			t.Errorf("wallet\n got %+v\nwant %+v", w, want)
		}
		if w.CreatedAt.Before(before) || w.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("createdAt %v is not now", w.CreatedAt)
		}
		if got := opsGetWallet(t, h, "w-1"); got != w {
			t.Errorf("GET after create\n got %+v\nwant %+v", got, w)
		}
	})
	t.Run("optional fields absent", func(t *testing.T) {
		rec := h.admin(http.MethodPost, "/admin/wallets", `{"walletId":"w-2","currencyCode":"978","name":"Eu"}`, testAdminToken)
		raw := opsDecode[map[string]any](t, rec, http.StatusCreated)
		if v, ok := raw["dailyDebitLimit"]; !ok || v != float64(0) {
			t.Errorf("dailyDebitLimit %v (present %v), want 0", v, ok)
		}
	})
	t.Run("409 wallet_exists", func(t *testing.T) {
		rec := h.admin(http.MethodPost, "/admin/wallets",
			map[string]any{"walletId": "w-1", "currencyCode": "978", "name": "Other"}, testAdminToken)
		opsWantError(t, rec, http.StatusConflict, "wallet_exists")
		if w := opsGetWallet(t, h, "w-1"); w.Name != "Ada Obi" || w.CurrencyCode != "566" {
			t.Errorf("existing wallet changed: %+v", w)
		}
	})

	valid := `{"walletId":"w-x","currencyCode":"566","name":"X"}`
	big := `{"walletId":"w-big","currencyCode":"566","name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	bad := []struct {
		name   string
		body   string
		status int
		code   string
		field  string // the message must name it
	}{
		{"walletId with a space", `{"walletId":"w x","currencyCode":"566","name":"X"}`, 400, "invalid_request", "walletId"},
		{"walletId with a slash", `{"walletId":"w/x","currencyCode":"566","name":"X"}`, 400, "invalid_request", "walletId"},
		{"walletId non-ASCII", `{"walletId":"wé","currencyCode":"566","name":"X"}`, 400, "invalid_request", "walletId"},
		{"walletId empty", `{"walletId":"","currencyCode":"566","name":"X"}`, 400, "invalid_request", "walletId"},
		{"walletId absent", `{"currencyCode":"566","name":"X"}`, 400, "invalid_request", "walletId"},
		{"walletId 65 chars", `{"walletId":"` + strings.Repeat("w", 65) + `","currencyCode":"566","name":"X"}`, 400, "invalid_request", "walletId"},
		{"currencyCode alpha", `{"walletId":"w-x","currencyCode":"NGN","name":"X"}`, 400, "invalid_request", "currencyCode"},
		{"currencyCode 2 digits", `{"walletId":"w-x","currencyCode":"56","name":"X"}`, 400, "invalid_request", "currencyCode"},
		{"currencyCode 4 digits", `{"walletId":"w-x","currencyCode":"5666","name":"X"}`, 400, "invalid_request", "currencyCode"},
		{"currencyCode absent", `{"walletId":"w-x","name":"X"}`, 400, "invalid_request", "currencyCode"},
		{"name empty", `{"walletId":"w-x","currencyCode":"566","name":""}`, 400, "invalid_request", "name"},
		{"name with a control character", `{"walletId":"w-x","currencyCode":"566","name":"a\nb"}`, 400, "invalid_request", "name"},
		{"negative dailyDebitLimit", `{"walletId":"w-x","currencyCode":"566","name":"X","dailyDebitLimit":-1}`, 400, "invalid_request", "dailyDebitLimit"},
		{"phone with letters", `{"walletId":"w-x","currencyCode":"566","name":"X","phone":"0803-CALL-ME"}`, 400, "invalid_request", "phone"},
		{"phone too short", `{"walletId":"w-x","currencyCode":"566","name":"X","phone":"+123"}`, 400, "invalid_request", "phone"},
		{"bad virtualAccountId", `{"walletId":"w-x","currencyCode":"566","name":"X","virtualAccountId":"va 1"}`, 400, "invalid_request", "virtualAccountId"},
		{"unknown field", `{"walletId":"w-x","currencyCode":"566","name":"X","colour":"red"}`, 400, "invalid_request", "colour"},
		{"currencyCode as number", `{"walletId":"w-x","currencyCode":566,"name":"X"}`, 400, "invalid_request", "currencyCode"},
		{"dailyDebitLimit as string", `{"walletId":"w-x","currencyCode":"566","name":"X","dailyDebitLimit":"100"}`, 400, "invalid_request", "dailyDebitLimit"},
		{"dailyDebitLimit fractional", `{"walletId":"w-x","currencyCode":"566","name":"X","dailyDebitLimit":1.5}`, 400, "invalid_request", "dailyDebitLimit"},
		{"walletId as number", `{"walletId":1,"currencyCode":"566","name":"X"}`, 400, "invalid_request", "walletId"},
		{"array", `[` + valid + `]`, 400, "invalid_request", ""},
		{"string", `"w-x"`, 400, "invalid_request", ""},
		{"number", `42`, 400, "invalid_request", ""},
		{"null", `null`, 400, "invalid_request", ""},
		{"empty body", ``, 400, "invalid_request", ""},
		{"whitespace body", " \n", 400, "invalid_request", ""},
		{"truncated", `{"walletId":"w-x","currencyCode":"566"`, 400, "invalid_request", ""},
		{"trailing garbage", valid + `xyz`, 400, "invalid_request", ""},
		{"two objects", valid + valid, 400, "invalid_request", ""},
		{"trailing brace", valid + `}`, 400, "invalid_request", ""},
		{"trailing bracket", valid + `]`, 400, "invalid_request", ""},
		{"body over 64 KiB", big, 413, "body_too_large", ""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			msg := opsWantError(t, h.admin(http.MethodPost, "/admin/wallets", tc.body, testAdminToken), tc.status, tc.code)
			if tc.field != "" && !strings.Contains(msg, tc.field) {
				t.Errorf("message %q does not name the field %q", msg, tc.field)
			}
		})
	}
	t.Run("refused bodies created nothing", func(t *testing.T) {
		for _, id := range []string{"w-x", "w-big"} {
			opsWantError(t, h.admin(http.MethodGet, "/admin/wallets/"+id, nil, testAdminToken), http.StatusNotFound, "wallet_not_found")
		}
		rep, err := h.ledger.Audit(context.Background())
		if err != nil || rep.Wallets != 2 {
			t.Errorf("audit: %d wallets, err %v; want 2 (w-1, w-2)", rep.Wallets, err)
		}
	})
	t.Run("body of exactly 64 KiB", func(t *testing.T) {
		body := `{"walletId":"w-64k","currencyCode":"566","name":"Padded"}`
		body += strings.Repeat(" ", MaxBodyBytes-len(body))
		opsDecode[opsWallet](t, h.admin(http.MethodPost, "/admin/wallets", body, testAdminToken), http.StatusCreated)
	})
}

func TestAdminGetWallet(t *testing.T) {
	h := newHarness(t)
	h.fund("w-1", "566", 7_500)
	tests := []struct {
		name   string
		id     string
		status int
		want   opsWallet
	}{
		{name: "funded wallet", id: "w-1", status: http.StatusOK, want: opsWallet{WalletID: "w-1", CurrencyCode: "566",
			Name: "Test w-1", Status: "active", LedgerBalance: 7_500, AvailableBalance: 7_500}},
		{name: "unknown", id: "w-2", status: http.StatusNotFound},
		{name: "prefix of a known id", id: "w-", status: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.admin(http.MethodGet, "/admin/wallets/"+tc.id, nil, testAdminToken)
			if tc.status != http.StatusOK {
				opsWantError(t, rec, tc.status, "wallet_not_found")
				return
			}
			w := opsDecode[opsWallet](t, rec, http.StatusOK)
			if w.CreatedAt.IsZero() {
				t.Error("createdAt is zero")
			}
			tc.want.CreatedAt = w.CreatedAt
			if w != tc.want {
				t.Errorf("wallet\n got %+v\nwant %+v", w, tc.want)
			}
		})
	}
}

func TestAdminCredit(t *testing.T) {
	h := newHarness(t)
	opsCreate(t, h, "w-1", "566")
	opsCreate(t, h, "w-2", "566")
	opsCreate(t, h, "w-closed", "566")
	if rec := h.admin(http.MethodPost, "/admin/wallets/w-closed/status", `{"status":"closed"}`, testAdminToken); rec.Code != http.StatusOK {
		t.Fatalf("close w-closed: HTTP %d %s", rec.Code, rec.Body.String())
	}
	first := `{"amount":10000,"reference":"c-1","narration":"opening balance"}`

	steps := []struct {
		name    string
		wallet  string
		body    string
		status  int
		code    string // error code when status is not 200
		balance int64  // w-1's balance afterwards
	}{
		{"first credit", "w-1", first, 200, "", 10_000},
		{"same body again", "w-1", first, 200, "", 10_000},
		{"same body, members reordered", "w-1", `{"narration":"opening balance","reference":"c-1","amount":10000}`, 200, "", 10_000},
		{"same reference, other amount", "w-1", `{"amount":20000,"reference":"c-1","narration":"opening balance"}`, 409, "reference_conflict", 10_000},
		{"same reference, other narration", "w-1", `{"amount":10000,"reference":"c-1","narration":"something else"}`, 409, "reference_conflict", 10_000},
		{"same reference, no narration", "w-1", `{"amount":10000,"reference":"c-1"}`, 409, "reference_conflict", 10_000},
		{"same reference, other wallet", "w-2", first, 409, "reference_conflict", 10_000},
		{"unknown wallet", "w-404", `{"amount":100,"reference":"c-404"}`, 404, "wallet_not_found", 10_000},
		{"amount 0", "w-1", `{"amount":0,"reference":"c-2"}`, 400, "invalid_request", 10_000},
		{"amount absent", "w-1", `{"reference":"c-2"}`, 400, "invalid_request", 10_000},
		{"negative amount", "w-1", `{"amount":-100,"reference":"c-2"}`, 400, "invalid_request", 10_000},
		{"fractional amount", "w-1", `{"amount":1.5,"reference":"c-2"}`, 400, "invalid_request", 10_000},
		{"amount as string", "w-1", `{"amount":"100","reference":"c-2"}`, 400, "invalid_request", 10_000},
		{"amount beyond int64", "w-1", `{"amount":9223372036854775808,"reference":"c-2"}`, 400, "invalid_request", 10_000},
		{"reference absent", "w-1", `{"amount":100}`, 400, "invalid_request", 10_000},
		{"reference with a space", "w-1", `{"amount":100,"reference":"c 2"}`, 400, "invalid_request", 10_000},
		{"unknown field", "w-1", `{"amount":100,"reference":"c-2","currency":"566"}`, 400, "invalid_request", 10_000},
		{"closed wallet", "w-closed", `{"amount":100,"reference":"c-3"}`, 409, "wallet_closed", 10_000},
		{"second credit", "w-1", `{"amount":250,"reference":"c-2","narration":"more"}`, 200, "", 10_250},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			rec := h.admin(http.MethodPost, "/admin/wallets/"+s.wallet+"/credit", s.body, testAdminToken)
			if s.status == http.StatusOK {
				w := opsDecode[opsWallet](t, rec, http.StatusOK)
				if w.WalletID != s.wallet || w.LedgerBalance != s.balance || w.AvailableBalance != s.balance {
					t.Errorf("answer %+v, want wallet %s with balance %d", w, s.wallet, s.balance)
				}
			} else {
				opsWantError(t, rec, s.status, s.code)
			}
			if got := h.balance("w-1"); got != s.balance {
				t.Errorf("w-1 balance %d, want %d", got, s.balance)
			}
		})
	}
	t.Run("one statement line per credit", func(t *testing.T) {
		if n := opsStatementLen(t, h, "w-1"); n != 2 {
			t.Errorf("w-1 has %d statement lines, want 2", n)
		}
		for _, id := range []string{"w-2", "w-closed"} {
			if got := h.balance(id); got != 0 {
				t.Errorf("%s balance %d, want 0", id, got)
			}
		}
	})
	t.Run("frozen wallet can be credited", func(t *testing.T) {
		opsCreate(t, h, "w-frozen", "566")
		if rec := h.admin(http.MethodPost, "/admin/wallets/w-frozen/status", `{"status":"frozen"}`, testAdminToken); rec.Code != http.StatusOK {
			t.Fatalf("freeze: HTTP %d %s", rec.Code, rec.Body.String())
		}
		if w := opsCredit(t, h, "w-frozen", 40, "c-frozen"); w.LedgerBalance != 40 || w.Status != "frozen" {
			t.Errorf("credit of a frozen wallet: %+v", w)
		}
	})
}

func TestAdminCreditOverflow(t *testing.T) {
	h := newHarness(t)
	opsCreate(t, h, "w-big", "978")
	near := int64(math.MaxInt64 - 10)
	opsCredit(t, h, "w-big", near, "c-near")
	steps := []struct {
		name    string
		body    string
		status  int
		code    string
		balance int64
	}{
		{"one past MaxInt64", `{"amount":11,"reference":"c-over"}`, 422, "amount_overflow", near},
		{"far past MaxInt64", `{"amount":9223372036854775807,"reference":"c-far"}`, 422, "amount_overflow", near},
		// The refused reference was not remembered: it can be used again for an amount that fits.
		{"refused reference reused, up to MaxInt64", `{"amount":10,"reference":"c-over"}`, 200, "", math.MaxInt64},
		{"one more", `{"amount":1,"reference":"c-one"}`, 422, "amount_overflow", math.MaxInt64},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			lines := opsStatementLen(t, h, "w-big")
			rec := h.admin(http.MethodPost, "/admin/wallets/w-big/credit", s.body, testAdminToken)
			if s.status == http.StatusOK {
				if w := opsDecode[opsWallet](t, rec, http.StatusOK); w.LedgerBalance != s.balance {
					t.Errorf("answer balance %d, want %d", w.LedgerBalance, s.balance)
				}
			} else {
				opsWantError(t, rec, s.status, s.code)
				if n := opsStatementLen(t, h, "w-big"); n != lines {
					t.Errorf("a refused credit wrote a statement line: %d lines, had %d", n, lines)
				}
			}
			if got := h.balance("w-big"); got != s.balance {
				t.Errorf("balance %d, want %d", got, s.balance)
			}
		})
	}
}

func TestAdminStatus(t *testing.T) {
	h := newHarness(t)
	h.fund("w-1", "566", 100_000)
	n := 0
	debit := func(t *testing.T, want string) {
		t.Helper()
		n++
		id := fmt.Sprintf("st-%d", n)
		if a := h.send("/debit", debitFields("req-"+id, "ref-"+id, "w-1", 100), mac.Debit); a.ResponseCode != want {
			t.Errorf("debit answered %s, want %s", a.ResponseCode, want)
		}
	}
	steps := []struct {
		name   string
		wallet string
		body   string
		status int
		code   string // error code, or the wallet status expected after a 200
		debit  string // the code a debit gets afterwards ("": no debit)
	}{
		{"freeze", "w-1", `{"status":"frozen"}`, 200, "frozen", "57"},
		{"freeze again", "w-1", `{"status":"frozen"}`, 200, "frozen", "57"},
		{"unfreeze", "w-1", `{"status":"active"}`, 200, "active", "00"},
		{"active again", "w-1", `{"status":"active"}`, 200, "active", "00"},
		{"invalid status", "w-1", `{"status":"deleted"}`, 400, "invalid_request", "00"},
		{"status in capitals", "w-1", `{"status":"FROZEN"}`, 400, "invalid_request", "00"},
		{"empty status", "w-1", `{"status":""}`, 400, "invalid_request", "00"},
		{"status absent", "w-1", `{}`, 400, "invalid_request", "00"},
		{"status as number", "w-1", `{"status":1}`, 400, "invalid_request", "00"},
		{"unknown field", "w-1", `{"status":"frozen","reason":"fraud"}`, 400, "invalid_request", "00"},
		{"unknown wallet", "w-404", `{"status":"frozen"}`, 404, "wallet_not_found", "00"},
		{"close", "w-1", `{"status":"closed"}`, 200, "closed", "57"},
		{"close again", "w-1", `{"status":"closed"}`, 200, "closed", ""},
		{"closed to active", "w-1", `{"status":"active"}`, 409, "wallet_closed", "57"},
		{"closed to frozen", "w-1", `{"status":"frozen"}`, 409, "wallet_closed", ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			rec := h.admin(http.MethodPost, "/admin/wallets/"+s.wallet+"/status", s.body, testAdminToken)
			if s.status == http.StatusOK {
				if w := opsDecode[opsWallet](t, rec, http.StatusOK); w.Status != s.code || w.WalletID != s.wallet {
					t.Errorf("answer %+v, want %s %s", w, s.wallet, s.code)
				}
			} else {
				opsWantError(t, rec, s.status, s.code)
			}
			if s.debit != "" {
				debit(t, s.debit)
			}
		})
	}
	t.Run("final state", func(t *testing.T) {
		if w := opsGetWallet(t, h, "w-1"); w.Status != "closed" || w.LedgerBalance != 100_000-2*100-7*100 {
			t.Errorf("wallet %+v, want closed with 99100 (nine approved debits of 100)", w)
		}
	})
}

func TestAdminStatement(t *testing.T) {
	h := newHarness(t)
	opsCreate(t, h, "w-1", "566")
	opsCreate(t, h, "w-other", "566")
	opsCreate(t, h, "w-empty", "566")
	opsCredit(t, h, "w-1", 10_000, "c-1")
	opsCredit(t, h, "w-other", 500, "c-other-1")
	if a := h.send("/debit", debitFields("req-d1", "d-1", "w-1", 1_000).set("transactionFee", 50), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("d-1 answered %s", a.ResponseCode)
	}
	if a := h.send("/debit", debitFields("req-d2", "d-2", "w-1", 2_000), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("d-2 answered %s", a.ResponseCode)
	}
	if a := h.send("/debit", debitFields("req-big", "d-big", "w-1", 1_000_000), mac.Debit); a.ResponseCode != "51" {
		t.Fatalf("d-big answered %s, want 51", a.ResponseCode) // a decline moves nothing: no statement line
	}
	if a := h.send("/reversal", reversalFields("req-r1", "r-1", "d-2", "w-1", 500), mac.Reversal); a.ResponseCode != "00" {
		t.Fatalf("r-1 answered %s", a.ResponseCode)
	}
	opsCredit(t, h, "w-other", 700, "c-other-2")
	opsCredit(t, h, "w-1", 300, "c-2")
	if a := h.send("/debit", debitFields("req-d3", "d-3", "w-1", 100), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("d-3 answered %s", a.ResponseCode)
	}
	want := []opsLine{ // newest first
		{Kind: "debit", Reference: "d-3", Amount: -100, BalanceAfter: 7_650},
		{Kind: "credit", Reference: "c-2", Amount: 300, BalanceAfter: 7_750},
		{Kind: "reversal", Reference: "r-1", Amount: 500, BalanceAfter: 7_450},
		{Kind: "debit", Reference: "d-2", Amount: -2_000, BalanceAfter: 6_950},
		{Kind: "debit", Reference: "d-1", Amount: -1_050, BalanceAfter: 8_950},
		{Kind: "credit", Reference: "c-1", Amount: 10_000, BalanceAfter: 10_000},
	}
	check := func(t *testing.T, got []opsLine, want []opsLine) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%d lines, want %d: %+v", len(got), len(want), got)
		}
		for i := range got {
			g := got[i]
			if g.Seq == 0 || g.Time.IsZero() {
				t.Errorf("line %d has no seq or time: %+v", i, g)
			}
			if i > 0 && g.Seq >= got[i-1].Seq {
				t.Errorf("line %d seq %d not older than line %d seq %d", i, g.Seq, i-1, got[i-1].Seq)
			}
			g.Seq, g.Time = 0, time.Time{}
			if g != want[i] {
				t.Errorf("line %d\n got %+v\nwant %+v", i, g, want[i])
			}
		}
	}

	t.Run("one page", func(t *testing.T) {
		rec := h.admin(http.MethodGet, "/admin/wallets/w-1/transactions", nil, testAdminToken)
		raw := opsDecode[map[string]json.RawMessage](t, rec, http.StatusOK)
		if _, ok := raw["nextBefore"]; ok {
			t.Errorf("nextBefore present on the only page: %s", rec.Body.String())
		}
		var lines []map[string]json.RawMessage
		if err := json.Unmarshal(raw["transactions"], &lines); err != nil || len(lines) == 0 {
			t.Fatalf("transactions: %v", err)
		}
		for _, f := range []string{"seq", "time", "kind", "reference", "amount", "balanceAfter"} {
			if _, ok := lines[0][f]; !ok {
				t.Errorf("statement line lacks %q: %s", f, rec.Body.String())
			}
		}
		st := opsDecode[opsStatement](t, rec, http.StatusOK)
		if st.WalletID != "w-1" {
			t.Errorf("walletId %q", st.WalletID)
		}
		check(t, st.Transactions, want)
	})
	for _, limit := range []int{1, 2, 4, 5, 6, 500} {
		t.Run(fmt.Sprintf("pages of %d", limit), func(t *testing.T) {
			var all []opsLine
			path := fmt.Sprintf("/admin/wallets/w-1/transactions?limit=%d", limit)
			pages := 0
			for {
				st := opsDecode[opsStatement](t, h.admin(http.MethodGet, path, nil, testAdminToken), http.StatusOK)
				pages++
				if len(st.Transactions) == 0 || len(st.Transactions) > limit {
					t.Fatalf("page %d has %d lines (limit %d)", pages, len(st.Transactions), limit)
				}
				all = append(all, st.Transactions...)
				if st.NextBefore == 0 {
					break
				}
				if pages > len(want) {
					t.Fatalf("more than %d pages", len(want))
				}
				path = fmt.Sprintf("/admin/wallets/w-1/transactions?limit=%d&before=%d", limit, st.NextBefore)
			}
			if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
			check(t, all, want)
		})
	}
	t.Run("before an old cursor", func(t *testing.T) {
		full := opsDecode[opsStatement](t, h.admin(http.MethodGet, "/admin/wallets/w-1/transactions", nil, testAdminToken), http.StatusOK)
		cursor := full.Transactions[3].Seq // d-2: lines strictly older than it
		st := opsDecode[opsStatement](t, h.admin(http.MethodGet,
			fmt.Sprintf("/admin/wallets/w-1/transactions?before=%d", cursor), nil, testAdminToken), http.StatusOK)
		check(t, st.Transactions, want[4:])
	})
	t.Run("other wallet", func(t *testing.T) {
		st := opsDecode[opsStatement](t, h.admin(http.MethodGet, "/admin/wallets/w-other/transactions?limit=1", nil, testAdminToken), http.StatusOK)
		if len(st.Transactions) != 1 || st.Transactions[0].Reference != "c-other-2" || st.NextBefore == 0 {
			t.Fatalf("first page %+v", st)
		}
		st = opsDecode[opsStatement](t, h.admin(http.MethodGet,
			fmt.Sprintf("/admin/wallets/w-other/transactions?limit=1&before=%d", st.NextBefore), nil, testAdminToken), http.StatusOK)
		if len(st.Transactions) != 1 || st.Transactions[0].Reference != "c-other-1" || st.NextBefore != 0 {
			t.Fatalf("second page %+v", st)
		}
	})
	t.Run("empty wallet", func(t *testing.T) {
		rec := h.admin(http.MethodGet, "/admin/wallets/w-empty/transactions", nil, testAdminToken)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"transactions":[]`) {
			t.Errorf("HTTP %d %s, want 200 with an empty list", rec.Code, rec.Body.String())
		}
	})
	for _, q := range []string{"limit=0", "limit=501", "limit=abc", "limit=-1", "limit=1.5", "before=0", "before=-1",
		"before=abc", "before=18446744073709551616"} {
		t.Run("bad query "+q, func(t *testing.T) {
			msg := opsWantError(t, h.admin(http.MethodGet, "/admin/wallets/w-1/transactions?"+q, nil, testAdminToken),
				http.StatusBadRequest, "invalid_request")
			if param := strings.SplitN(q, "=", 2)[0]; !strings.Contains(msg, param) {
				t.Errorf("message %q does not name %q", msg, param)
			}
		})
	}
	t.Run("unknown wallet", func(t *testing.T) {
		opsWantError(t, h.admin(http.MethodGet, "/admin/wallets/w-404/transactions", nil, testAdminToken),
			http.StatusNotFound, "wallet_not_found")
	})
}

func TestAdminTransaction(t *testing.T) {
	h := newHarness(t)
	h.fund("w-1", "566", 100_000)
	get := func(t *testing.T, ref string) (opsTxn, map[string]json.RawMessage) {
		t.Helper()
		rec := h.admin(http.MethodGet, "/admin/transactions/"+ref, nil, testAdminToken)
		return opsDecode[opsTxn](t, rec, http.StatusOK), opsDecode[map[string]json.RawMessage](t, rec, http.StatusOK)
	}
	steps := []struct {
		name    string
		send    func(t *testing.T) // the switch message of this step
		ref     string             // what to look up afterwards
		want    opsTxn
		balance int64
	}{
		{
			name: "approved debit with fee",
			send: func(t *testing.T) {
				if a := h.send("/debit", debitFields("req-1", "t-1", "w-1", 5_000).set("transactionFee", 100), mac.Debit); a.ResponseCode != "00" {
					t.Fatalf("debit answered %s", a.ResponseCode)
				}
			},
			ref: "t-1",
			want: opsTxn{TransactionReference: "t-1", Kind: "debit", WalletID: "w-1", CurrencyCode: "566", Amount: 5_000,
				Fee: 100, ResponseCode: "00", State: "approved", Reversals: []string{}},
			balance: 100_000 - 5_100,
		},
		{
			name: "partial reversal",
			send: func(t *testing.T) {
				if a := h.send("/reversal", reversalFields("req-2", "rv-1", "t-1", "w-1", 2_000), mac.Reversal); a.ResponseCode != "00" {
					t.Fatalf("reversal answered %s", a.ResponseCode)
				}
			},
			ref: "t-1",
			want: opsTxn{TransactionReference: "t-1", Kind: "debit", WalletID: "w-1", CurrencyCode: "566", Amount: 5_000,
				Fee: 100, ResponseCode: "00", State: "partially_reversed", ReversedAmount: 2_000, Reversals: []string{"rv-1"}},
			balance: 100_000 - 3_100,
		},
		{
			name: "the reversal's own reference",
			ref:  "rv-1",
			want: opsTxn{TransactionReference: "rv-1", Kind: "reversal", WalletID: "w-1", CurrencyCode: "566", Amount: 2_000,
				ResponseCode: "00", State: "approved", OriginalTransactionReference: "t-1", Reversals: []string{}},
			balance: 100_000 - 3_100,
		},
		{
			name: "full reversal of the rest",
			send: func(t *testing.T) {
				if a := h.send("/reversal", reversalFields("req-3", "rv-2", "t-1", "w-1", 0), mac.Reversal); a.ResponseCode != "00" {
					t.Fatalf("reversal answered %s", a.ResponseCode)
				}
			},
			ref: "t-1",
			want: opsTxn{TransactionReference: "t-1", Kind: "debit", WalletID: "w-1", CurrencyCode: "566", Amount: 5_000,
				Fee: 100, ResponseCode: "00", State: "reversed", ReversedAmount: 5_000, Reversals: []string{"rv-1", "rv-2"}},
			balance: 100_000,
		},
		{
			name: "declined debit",
			send: func(t *testing.T) {
				if a := h.send("/debit", debitFields("req-4", "t-2", "w-1", 1_000_000), mac.Debit); a.ResponseCode != "51" {
					t.Fatalf("debit answered %s, want 51", a.ResponseCode)
				}
			},
			ref: "t-2",
			want: opsTxn{TransactionReference: "t-2", Kind: "debit", WalletID: "w-1", CurrencyCode: "566", Amount: 1_000_000,
				ResponseCode: "51", State: "declined", Reversals: []string{}},
			balance: 100_000,
		},
		{
			name: "reference with a space, escaped in the path",
			send: func(t *testing.T) {
				if a := h.send("/debit", debitFields("req-5", "T 5?#", "w-1", 10), mac.Debit); a.ResponseCode != "00" {
					t.Fatalf("debit answered %s", a.ResponseCode)
				}
			},
			ref: "T%205%3F%23",
			want: opsTxn{TransactionReference: "T 5?#", Kind: "debit", WalletID: "w-1", CurrencyCode: "566", Amount: 10,
				ResponseCode: "00", State: "approved", Reversals: []string{}},
			balance: 100_000 - 10,
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.send != nil {
				s.send(t)
			}
			got, raw := get(t, s.ref)
			for _, f := range []string{"kind", "walletId", "amount", "fee", "currencyCode", "responseCode", "state",
				"reversals", "partnerDeliveries", "wallet", "code"} {
				if _, ok := raw[f]; !ok {
					t.Errorf("transaction view lacks %q", f)
				}
			}
			// CONTRACT 2 names this look-up's fields "wallet" and "code": both spellings carry the same values.
			if string(raw["wallet"]) != string(raw["walletId"]) || string(raw["code"]) != string(raw["responseCode"]) {
				t.Errorf("wallet %s / code %s differ from walletId %s / responseCode %s",
					raw["wallet"], raw["code"], raw["walletId"], raw["responseCode"])
			}
			if got.PartnerDeliveries == nil || len(got.PartnerDeliveries) != 0 {
				t.Errorf("partnerDeliveries %v, want []", got.PartnerDeliveries)
			}
			got.PartnerDeliveries = nil
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", s.want) {
				t.Errorf("transaction\n got %+v\nwant %+v", got, s.want)
			}
			if got.Reversals == nil {
				t.Error("reversals is null, want a list")
			}
			if b := h.balance("w-1"); b != s.balance {
				t.Errorf("balance %d, want %d", b, s.balance)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		opsWantError(t, h.admin(http.MethodGet, "/admin/transactions/t-404", nil, testAdminToken),
			http.StatusNotFound, "transaction_not_found")
	})
	t.Run("credit references are not switch transactions", func(t *testing.T) {
		opsWantError(t, h.admin(http.MethodGet, "/admin/transactions/fund-w-1", nil, testAdminToken),
			http.StatusNotFound, "transaction_not_found")
	})
}

// TestAdminTransactionEscapedSlash: the switch may use any characters in a transactionReference, "/" included;
// its admin look-up must find it when the path carries it as %2F.
func TestAdminTransactionEscapedSlash(t *testing.T) {
	h := newHarness(t)
	h.fund("w-1", "566", 1_000)
	if a := h.send("/debit", debitFields("req-1", "T/1", "w-1", 10), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("debit answered %s", a.ResponseCode)
	}
	got := opsDecode[opsTxn](t, h.admin(http.MethodGet, "/admin/transactions/T%2F1", nil, testAdminToken), http.StatusOK)
	if got.TransactionReference != "T/1" || got.State != "approved" {
		t.Errorf("transaction %+v, want T/1 approved", got)
	}
}

func TestAdminAudit(t *testing.T) {
	h := newHarness(t)
	h.fund("w-1", "566", 10_000)
	h.fund("w-2", "978", 500)
	if a := h.send("/debit", debitFields("req-1", "ref-1", "w-1", 1_000).set("transactionFee", 25), mac.Debit); a.ResponseCode != "00" {
		t.Fatalf("debit answered %s", a.ResponseCode)
	}
	if a := h.send("/reversal", reversalFields("req-2", "rev-1", "ref-1", "w-1", 400), mac.Reversal); a.ResponseCode != "00" {
		t.Fatalf("reversal answered %s", a.ResponseCode)
	}
	rec := h.admin(http.MethodGet, "/admin/audit", nil, testAdminToken)
	raw := opsDecode[map[string]json.RawMessage](t, rec, http.StatusOK)
	for _, f := range []string{"ok", "entries", "accounts", "wallets", "totals", "problems"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("audit lacks %q: %s", f, rec.Body.String())
		}
	}
	var rep struct {
		OK       bool             `json:"ok"`
		Entries  uint64           `json:"entries"`
		Accounts int              `json:"accounts"`
		Wallets  int              `json:"wallets"`
		Totals   map[string]int64 `json:"totals"`
		Problems []string         `json:"problems"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"ok", rep.OK},
		{"4 entries (2 credits, debit, reversal)", rep.Entries == 4},
		{"2 wallets", rep.Wallets == 2},
		{"at least wallets + funding + settlement + fee income accounts", rep.Accounts >= 5},
		{"totals zero per currency", rep.Totals["566"] == 0 && rep.Totals["978"] == 0 && len(rep.Totals) >= 1},
		{"problems an empty list", rep.Problems != nil && len(rep.Problems) == 0 && string(raw["problems"]) == "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("audit %s", rec.Body.String())
			}
		})
	}
}

func TestAdminStorageFailure(t *testing.T) {
	h := newHarness(t, withLedgerOptions(ledger.Options{BeforeCommit: func() error { return errors.New("disk full") }}))
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"create", http.MethodPost, "/admin/wallets", `{"walletId":"w-1","currencyCode":"566","name":"One"}`,
			http.StatusServiceUnavailable, "storage_unavailable"},
		{"wallet does not exist afterwards", http.MethodGet, "/admin/wallets/w-1", "", http.StatusNotFound, "wallet_not_found"},
		{"create again", http.MethodPost, "/admin/wallets", `{"walletId":"w-1","currencyCode":"566","name":"One"}`,
			http.StatusServiceUnavailable, "storage_unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := opsWantError(t, opsDo(h, tc.method, tc.path, tc.body, "Bearer "+testAdminToken), tc.status, tc.code)
			if strings.Contains(msg, "disk full") {
				t.Errorf("message %q exposes the storage error", msg)
			}
		})
	}
	t.Run("logged as an error", func(t *testing.T) {
		if n := h.logs.FilterMessage("admin request failed").Len(); n != 2 {
			t.Errorf("%d \"admin request failed\" log entries, want 2", n)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		// Every commit fails, the probe write of /readyz too: not ready, without the device's error text.
		rec := h.admin(http.MethodGet, "/readyz", nil, "")
		if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "disk full") {
			t.Errorf("/readyz HTTP %d %s, want 503 without the storage error", rec.Code, rec.Body)
		}
	})
}

// TestAdminBodyNotLogged: what an operator sends is not echoed into error messages or logs (a mistyped body may
// hold a secret), only the field name.
func TestAdminBodyNotLogged(t *testing.T) {
	h := newHarness(t)
	const secret = "s3cr3t-value-typed-in-the-wrong-field"
	bodies := []string{
		`{"walletId":"w-1","currencyCode":"566","name":"X","` + secret + `":1}`,
		`{"walletId":"w-1","currencyCode":"` + secret + `","name":"X"}`,
		`{"walletId":"w-1","currencyCode":"566","name":"X","dailyDebitLimit":"` + secret + `"}`,
		`{"walletId":"` + secret + `!","currencyCode":"566","name":"X"}`,
		`{"walletId":"w-1"` + secret,
	}
	for i, b := range bodies {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			rec := h.admin(http.MethodPost, "/admin/wallets", b, testAdminToken)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("HTTP %d, want 400: %s", rec.Code, rec.Body.String())
			}
			// An unknown member's name is worth naming; a value never is.
			if i > 0 && bytes.Contains(rec.Body.Bytes(), []byte(secret)) {
				t.Errorf("the answer echoes the input value: %s", rec.Body.String())
			}
		})
	}
	for _, line := range opsLogText(h) {
		if strings.Contains(line, secret) {
			t.Errorf("log line holds the input: %s", line)
		}
	}
}
