package server

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/walletgate/walletgate/ledger"
)

// TestAdminBodyAmbiguous: an admin body that encoding/json would accept but read one way among several (a member
// named twice, where the last would win; invalid UTF-8, which it would turn into U+FFFD) is 400 invalid_request and
// changes nothing, through the real ops router.
func TestAdminBodyAmbiguous(t *testing.T) {
	const w = "w1"
	h := newHarness(t)
	h.fund(w, "566", 1_000)
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"credit with amount twice", "/admin/wallets/w1/credit", `{"amount":100,"reference":"c1","narration":"x","amount":5}`, http.StatusBadRequest},
		{"credit with reference twice", "/admin/wallets/w1/credit", `{"amount":100,"reference":"c2","reference":"c3","narration":"x"}`, http.StatusBadRequest},
		{"credit with a name twice, escaped", "/admin/wallets/w1/credit", `{"amount":100,"reference":"c4","narration":"x","\u0061mount":5}`, http.StatusBadRequest},
		{"credit with amount twice, in another case", "/admin/wallets/w1/credit", `{"amount":100,"reference":"c7","narration":"x","AMOUNT":5}`, http.StatusBadRequest},
		{"credit with invalid UTF-8", "/admin/wallets/w1/credit", "{\"amount\":100,\"reference\":\"c5\",\"narration\":\"\xff\"}", http.StatusBadRequest},
		{"wallet with walletId twice", "/admin/wallets", `{"walletId":"w2","currencyCode":"566","name":"Ada","walletId":"w3"}`, http.StatusBadRequest},
		{"status twice", "/admin/wallets/w1/status", `{"status":"frozen","status":"active"}`, http.StatusBadRequest},
		{"a valid credit", "/admin/wallets/w1/credit", `{"amount":100,"reference":"c6","narration":"x"}`, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.balance(w)
			rec := h.admin(http.MethodPost, tc.path, tc.body, testAdminToken)
			if tc.status != http.StatusBadRequest {
				if rec.Code != tc.status {
					t.Fatalf("HTTP %d %s, want %d", rec.Code, rec.Body, tc.status)
				}
				return
			}
			opsWantError(t, rec, http.StatusBadRequest, "invalid_request")
			if got := h.balance(w); got != before {
				t.Errorf("balance %d -> %d", before, got)
			}
		})
	}
	for _, ref := range []string{"c1", "c2", "c3", "c4", "c5", "c7"} {
		if rec := h.admin(http.MethodPost, "/admin/wallets/w1/credit", `{"amount":1,"reference":"`+ref+`","narration":"y"}`, testAdminToken); rec.Code != http.StatusOK {
			t.Errorf("credit under reference %s after the refused one: HTTP %d %s", ref, rec.Code, rec.Body)
		}
	}
	for _, id := range []string{"w2", "w3"} {
		if _, err := h.ledger.Wallet(context.Background(), id); !errors.Is(err, ledger.ErrWalletNotFound) {
			t.Errorf("wallet %s: %v, want not found", id, err)
		}
	}
	if got := h.wallet(w).Status; got != "active" {
		t.Errorf("status %s, want active", got)
	}
}

func TestCheckAdminJSON(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
	}{
		{`{"a":1,"b":2}`, true},
		{`{"a":{"x":1},"b":{"x":2}}`, true},
		{`[{"a":1},{"a":1}]`, true},
		{`{"a":[{"x":1,"y":[1,{"x":2}]}],"x":3}`, true},
		{`{"a":1,"a":1}`, false},
		{`{"a":{"x":1,"x":2}}`, false},
		{`{"a":[{"x":1,"x":2}]}`, false},
		{`{"a":{"b":{}},"a":2}`, false},
		{`{"\u0061":1,"a":2}`, false},
		{`{"amount":1,"Amount":2}`, false},
		{"{\"sk\":1,\"\u017f\u212a\":2}", false}, // long s and Kelvin sign fold to s and k, as encoding/json matches
		{`{"a":{"Amount":1},"amount":2}`, true},
		{"{\"a\":\"\xff\"}", false},
		{`{"a":`, true}, // not JSON: bind's decoder reports it
	}
	for _, tc := range tests {
		if got := checkAdminJSON([]byte(tc.body)) == ""; got != tc.ok {
			t.Errorf("checkAdminJSON(%q) ok = %v, want %v", tc.body, got, tc.ok)
		}
	}
}
