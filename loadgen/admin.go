package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
)

// admin talks to walletgate's admin API (CONTRACT 2). Its errors never carry the token.
type admin struct {
	base   string
	token  string
	client *http.Client
}

// apiError is an admin API answer other than the one expected.
type apiError struct {
	Status int
	Code   string
}

func (e *apiError) Error() string { return fmt.Sprintf("admin API: HTTP %d %s", e.Status, e.Code) }

func (a *admin) do(ctx context.Context, method, path string, in, out any, want ...int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, stripURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	ok := false
	for _, s := range want {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("%s %s: %w", method, path, &apiError{Status: resp.StatusCode, Code: e.Error.Code})
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("admin API %s %s: answer is not the documented JSON: %w", method, path, err)
		}
	}
	return nil
}

// stripURL keeps the reason of a transport error without repeating the request line.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

type walletView struct {
	WalletID      string `json:"walletId"`
	LedgerBalance int64  `json:"ledgerBalance"`
}

// setupWallet creates and funds one wallet; an existing wallet with the same funding is accepted, so a setup can be
// re-run.
func (a *admin) setupWallet(ctx context.Context, id, currency string, fund int64) error {
	err := a.do(ctx, http.MethodPost, "/admin/wallets", map[string]any{"walletId": id, "currencyCode": currency,
		"name": "Load test " + id}, nil, http.StatusCreated)
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.Code == "wallet_exists") {
		return err
	}
	if fund <= 0 {
		return nil
	}
	return a.do(ctx, http.MethodPost, "/admin/wallets/"+url.PathEscape(id)+"/credit", map[string]any{"amount": fund,
		"reference": "fund-" + id, "narration": "load test funding"}, nil, http.StatusOK)
}

func (a *admin) balance(ctx context.Context, id string) (int64, error) {
	var w walletView
	err := a.do(ctx, http.MethodGet, "/admin/wallets/"+url.PathEscape(id), nil, &w, http.StatusOK)
	return w.LedgerBalance, err
}

// transactionState is the state of a transaction by its reference ("" when walletgate does not know it).
func (a *admin) transactionState(ctx context.Context, ref string) (string, error) {
	var t struct {
		State string `json:"state"`
	}
	err := a.do(ctx, http.MethodGet, "/admin/transactions/"+url.PathEscape(ref), nil, &t, http.StatusOK)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return "", nil
	}
	return t.State, err
}

// AuditResult is walletgate's audit, as loadgen saw it.
type AuditResult struct {
	OK       bool     `json:"ok"`
	Entries  uint64   `json:"entries"`
	Wallets  int      `json:"wallets"`
	Problems []string `json:"problems,omitempty"`
}

func (a *admin) audit(ctx context.Context) (AuditResult, error) {
	var r AuditResult
	err := a.do(ctx, http.MethodGet, "/admin/audit", nil, &r, http.StatusOK)
	return r, err
}

// total sums the ledger balances of wallets, asking `workers` at a time.
func (a *admin) total(ctx context.Context, wallets []string, workers int) (int64, error) {
	var sum atomic.Int64
	err := forEach(ctx, len(wallets), workers, func(ctx context.Context, i int) error {
		b, err := a.balance(ctx, wallets[i])
		sum.Add(b)
		return err
	})
	return sum.Load(), err
}

// forEach runs fn(0..n-1) on `workers` goroutines and returns the first error (the others stop taking work).
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
