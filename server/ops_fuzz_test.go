package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// adminFuzzCalls are the admin API's calls; the fuzzer picks one by index, a path parameter and a body.
var adminFuzzCalls = []struct{ method, path string }{
	{http.MethodPost, "/admin/wallets"},
	{http.MethodPost, "/admin/wallets/{id}/credit"},
	{http.MethodPost, "/admin/wallets/{id}/status"},
	{http.MethodGet, "/admin/wallets/{id}"},
	{http.MethodGet, "/admin/wallets/{id}/transactions?limit={body}&before={body}"},
	{http.MethodGet, "/admin/transactions/{id}"},
}

// FuzzAdminJSON sends arbitrary bodies and path parameters to the admin API on a real ledger. Whatever it gets, the
// admin API answers JSON: a 2xx with an object, or a 4xx with {"error":{"code","message"}} (never a 5xx: nothing
// fails underneath), and the ledger keeps auditing clean. Committed corpus: testdata/fuzz/FuzzAdminJSON.
func FuzzAdminJSON(f *testing.F) {
	seeds := []struct {
		call int
		id   string
		body string
	}{
		{0, "", `{"walletId":"w1","currencyCode":"566","name":"Ada","dailyDebitLimit":500000}`},
		{0, "", `{"walletId":"w2","currencyCode":"978","name":"Bob","phone":"+2348012345678","virtualAccountId":"va-1"}`},
		{0, "", `{"walletId":"w1","currencyCode":"566","name":"Ada","walletId":"w3"}`},
		{0, "", `{"walletId":"w4","currencyCode":"566","name":"Ada","extra":1}`},
		{0, "", `{"walletId":"w5","currencyCode":566,"name":"Ada"}`},
		{0, "", `{"walletId":"w6","currencyCode":"566","name":"Ada","dailyDebitLimit":1e400}`},
		{0, "", `{"walletId":"w7","currencyCode":"566","name":"Ada"}{}`},
		{0, "", "{\"walletId\":\"w\xff\",\"currencyCode\":\"566\",\"name\":\"Ada\"}"},
		{1, "w1", `{"amount":100000,"reference":"fund-1","narration":"opening"}`},
		{1, "w1", `{"amount":9223372036854775807,"reference":"fund-2","narration":"max"}`},
		{1, "w1", `{"amount":-5,"reference":"fund-3","narration":""}`},
		{1, "w1", `{"amount":"5","reference":"fund-4"}`},
		{1, "w1", `{"amount":null,"reference":null}`},
		{2, "w1", `{"status":"frozen"}`},
		{2, "w2", `{"status":"closed"}`},
		{2, "w1", `{"status":"active"}`},
		{2, "w1", `{"status":"deleted"}`},
		{3, "w1", ``},
		{3, "a/b%zz", ``},
		{4, "w1", `10`},
		{4, "w1", `-1`},
		{5, "11123456789", ``},
		{5, "\x00", ``},
	}
	for _, s := range seeds {
		f.Add(uint8(s.call), s.id, []byte(s.body))
	}

	l, err := ledger.Open(filepath.Join(f.TempDir(), "walletgate.db"), ledger.Options{})
	if err != nil {
		f.Fatal(err)
	}
	audit := func(tb testing.TB) {
		tb.Helper()
		if rep, err := l.Audit(context.Background()); err != nil || !rep.OK {
			tb.Fatalf("audit: ok=%v err=%v problems=%v", rep.OK, err, rep.Problems)
		}
	}
	f.Cleanup(func() {
		audit(f)
		if err := l.Close(); err != nil {
			f.Error(err)
		}
	})
	keys := mustKeys(f, mac.SHA512, testKey, "")
	srv := New(Config{Store: l, Keys: keys, AdminToken: testAdminToken, Logger: zap.NewNop(),
		Metrics: NewMetrics(prometheus.NewRegistry())})
	calls := 0

	f.Fuzz(func(t *testing.T, which uint8, id string, body []byte) {
		c := adminFuzzCalls[int(which)%len(adminFuzzCalls)]
		target := c.path
		target = strings.ReplaceAll(target, "{id}", url.PathEscape(id))
		target = strings.ReplaceAll(target, "{body}", url.QueryEscape(string(body)))
		req, err := http.NewRequest(c.method, "http://ops"+target, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.Ops().ServeHTTP(rec, req)

		if rec.Code >= 500 {
			t.Fatalf("%s %s: HTTP %d %s", c.method, target, rec.Code, rec.Body)
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: HTTP %d, body %q is not a JSON object", c.method, target, rec.Code, rec.Body)
		}
		if rec.Code >= 300 {
			var e struct {
				Error *struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s: HTTP %d %s, want {\"error\":{\"code\",\"message\"}}", c.method, target, rec.Code, rec.Body)
			}
		}
		if calls++; calls%128 == 0 {
			audit(t)
		}
	})
}
