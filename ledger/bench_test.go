package ledger

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
)

// Benchmarks run with real fsync: a debit's cost is dominated by the commit it waits for, and the parallel
// benchmark shows what group commit buys. Run them with
//
//	go test ./ledger -run '^$' -bench . -benchtime 2s

func benchLedger(b *testing.B, opts Options) *testLedger {
	b.Helper()
	l := openTest(b, withOptions(opts))
	mustWallet(b, l, "w1", "566", 0)
	mustCredit(b, l, "w1", math.MaxInt64/2)
	return l
}

func reportOps(b *testing.B, n int64) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, "ops/s")
	}
}

func BenchmarkDebitSerial(b *testing.B) {
	l := benchLedger(b, Options{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprintf("s%d", i)
		if _, err := l.Debit(bg, dreq(id, id, "w1", 100, 1)); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b, int64(i))
}

func BenchmarkDebitParallel(b *testing.B) {
	for _, wallets := range []int{1, 64} {
		b.Run(fmt.Sprintf("wallets=%d", wallets), func(b *testing.B) {
			obs := &batchRecorder{}
			l := benchLedger(b, Options{Observer: obs})
			for w := 2; w <= wallets; w++ {
				id := fmt.Sprintf("w%d", w)
				mustWallet(b, l, id, "566", 0)
				mustCredit(b, l, id, math.MaxInt64/(2*int64(wallets)))
			}
			batches0, _, ops0 := obs.stats()
			var seq, walletSeq atomic.Int64
			b.SetParallelism(16) // many callers in flight, as under a switch's load
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				wallet := fmt.Sprintf("w%d", 1+walletSeq.Add(1)%int64(wallets))
				for pb.Next() {
					id := fmt.Sprintf("p%d", seq.Add(1))
					if _, err := l.Debit(bg, dreq(id, id, wallet, 100, 1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			reportOps(b, seq.Load())
			if batches, _, ops := obs.stats(); batches > batches0 {
				b.ReportMetric(float64(ops-ops0)/float64(batches-batches0), "ops/commit")
			}
		})
	}
}

func BenchmarkReplay(b *testing.B) {
	l := benchLedger(b, Options{})
	d := dreq("r1", "t1", "w1", 100, 1)
	if _, err := l.Debit(bg, d); err != nil {
		b.Fatal(err)
	}
	b.Run("Replay", func(b *testing.B) {
		b.ReportAllocs()
		n := int64(0)
		for b.Loop() {
			n++
			if a, err := l.Replay(bg, d.RequestID, d.Fingerprint); err != nil || !a.Replayed {
				b.Fatal(a, err)
			}
		}
		reportOps(b, n)
	})
	b.Run("Replay miss", func(b *testing.B) {
		// What every fresh debit pays before it goes to the writer: the look-up that finds nothing.
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Replay(bg, "never-sent", d.Fingerprint); !errors.Is(err, ErrNotRecorded) {
				b.Fatal(err)
			}
		}
	})
	b.Run("Replay parallel", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
				if _, err := l.Replay(bg, d.RequestID, d.Fingerprint); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportOps(b, n.Load())
	})
	b.Run("Debit resend", func(b *testing.B) {
		// The same message through the writer: decided from the stored record, but it still waits for a commit.
		b.ReportAllocs()
		n := int64(0)
		for b.Loop() {
			n++
			if a, err := l.Debit(bg, d); err != nil || !a.Replayed {
				b.Fatal(a, err)
			}
		}
		reportOps(b, n)
	})
}
