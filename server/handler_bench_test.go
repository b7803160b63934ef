package server

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/respcodes"
)

// The handler benchmarks split a switch debit into its costs: the answer's encoding and signature, the whole
// handler without the ledger (a store that decides instantly), and the whole handler on a real, fsync'd ledger.
// Together with BenchmarkDecodeRequest, BenchmarkVerifySHA512 and the ledger's BenchmarkDebitParallel they say
// where a debit's time goes. Run them with
//
//	go test ./server -run '^$' -bench 'Answer|Handler' -benchtime 2s

// BenchmarkAnswerEncoding is the response: JSON encoding plus the response HMAC.
func BenchmarkAnswerEncoding(b *testing.B) {
	keys := mustKeys(b, mac.SHA512, testKey, "")
	s := &Server{keys: keys}
	r, err := DecodeRequest(debitFields("1", "11123456789", "1234567894", 100).json())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.sign(r, respcodes.Approved, mac.Current); err != nil {
			b.Fatal(err)
		}
	}
}

// instantStore decides every debit as approved without storage: the handler's own cost.
type instantStore struct{ Store }

func (instantStore) Replay(context.Context, string, [32]byte) (ledger.Answer, error) {
	return ledger.Answer{}, ledger.ErrNotRecorded
}

func (instantStore) Debit(_ context.Context, d ledger.DebitRequest) (ledger.Answer, error) {
	resp, err := d.Render(ledger.Outcome{})
	return ledger.Answer{Response: resp}, err
}

// benchBodies signs n distinct debits of the seed sample on wallet, in advance.
func benchBodies(keys *mac.Keys, prefix, wallet string, n int) [][]byte {
	bodies := make([][]byte, n)
	for i := range bodies {
		id := fmt.Sprintf("%s%d", prefix, i)
		bodies[i] = debitFields(id, id, wallet, 100).signed(keys, mac.Debit)
	}
	return bodies
}

func benchHandler(b *testing.B, h http.Handler, bodies [][]byte) {
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16) // many requests in flight, as under the switch's load
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[int(next.Add(1)-1)%len(bodies)]
			req := httptest.NewRequest(http.MethodPost, "/debit", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"responseCode":"00"`)) {
				b.Errorf("HTTP %d %s", rec.Code, rec.Body.String())
				return
			}
		}
	})
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(next.Load())/s, "req/s")
	}
}

// benchServer is a server on a fresh ledger in b's temporary directory; wrap, when set, stands between the server
// and the ledger.
func benchServer(b *testing.B, wrap func(Store) Store) (*Server, *ledger.Ledger, *mac.Keys) {
	b.Helper()
	l, err := ledger.Open(filepath.Join(b.TempDir(), "walletgate.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	var store Store = l
	if wrap != nil {
		store = wrap(l)
	}
	keys := mustKeys(b, mac.SHA512, testKey, "")
	return New(Config{Store: store, Keys: keys, Metrics: NewMetrics(prometheus.NewRegistry())}), l, keys
}

func benchFund(b *testing.B, l *ledger.Ledger, id string, amount int64) {
	b.Helper()
	ctx := context.Background()
	if _, err := l.CreateWallet(ctx, ledger.NewWallet{ID: id, Currency: "566", Name: "Bench " + id}); err != nil {
		b.Fatal(err)
	}
	if _, err := l.Credit(ctx, ledger.Credit{WalletID: id, Amount: amount, Reference: "fund-" + id}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkHandlerNoLedger is the switch router's debit path with a store that answers at once: decoding, MAC,
// fingerprint, validation, answer, metrics and the log check.
func BenchmarkHandlerNoLedger(b *testing.B) {
	srv, _, keys := benchServer(b, func(s Store) Store { return instantStore{s} })
	benchHandler(b, srv.Switch(), benchBodies(keys, "n", "w1", 4096))
}

// BenchmarkHandlerDebit is a signed, fsync'd, balance-checked debit through the router on a real ledger: every
// request a fresh approval.
func BenchmarkHandlerDebit(b *testing.B) {
	for _, wallets := range []int{1, 1000} {
		b.Run(fmt.Sprintf("wallets=%d", wallets), func(b *testing.B) {
			srv, l, keys := benchServer(b, nil)
			bodies := make([][]byte, 0, 1<<16)
			for w := range wallets {
				id := fmt.Sprintf("w%d", w)
				benchFund(b, l, id, math.MaxInt64/int64(2*wallets))
				bodies = append(bodies, benchBodies(keys, fmt.Sprintf("b%d-", w), id, (1<<16)/wallets)...)
			}
			if b.N > len(bodies) {
				// Never repeat a body: a repeat is a replay, not a debit.
				for i := len(bodies); i < b.N+1024; i++ {
					id := fmt.Sprintf("x%d", i)
					bodies = append(bodies, debitFields(id, id, fmt.Sprintf("w%d", i%wallets), 100).signed(keys, mac.Debit))
				}
			}
			benchHandler(b, srv.Switch(), bodies)
		})
	}
}

// BenchmarkHandlerReplay is an exact repeat of an answered debit: served from a read transaction.
func BenchmarkHandlerReplay(b *testing.B) {
	srv, l, keys := benchServer(b, nil)
	benchFund(b, l, "w1", 1_000_000)
	bodies := benchBodies(keys, "r", "w1", 64)
	for _, body := range bodies {
		rec := httptest.NewRecorder()
		srv.Switch().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/debit", bytes.NewReader(body)))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
	benchHandler(b, srv.Switch(), bodies)
}
