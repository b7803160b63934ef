package ledger

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkGroupCommit measures the commit path's tuning knobs with 64 callers, each debiting in a loop as a
// switch connection does: "think" is the time a caller needs between its answer and its next debit (the HTTP
// round trip and the handler's own work under a real load; 0 is the ledger alone). Compare ops/commit and ops/s
// across the variants:
//
//	go test ./ledger -run '^$' -bench GroupCommit -benchtime 3s
func BenchmarkGroupCommit(b *testing.B) {
	variants := []struct {
		name string
		opts Options
	}{
		{"fill=off", Options{FillWait: -1}},
		{"fill=250us", Options{FillWait: 250 * time.Microsecond}},
		{"fill=1ms", Options{FillWait: time.Millisecond}},
		{"fill=2ms", Options{FillWait: 2 * time.Millisecond}},
		{"delay=1ms", Options{FillWait: -1, BatchDelay: time.Millisecond}},
	}
	for _, think := range []time.Duration{0, 300 * time.Microsecond} {
		for _, v := range variants {
			b.Run(fmt.Sprintf("think=%s/%s", think, v.name), func(b *testing.B) {
				benchCallers(b, v.opts, 64, think)
			})
		}
	}
}

// BenchmarkWriterCPU is BenchmarkGroupCommit without fsync: the writer's own work per debit (deciding, JSON
// records, bbolt pages), which bounds throughput once the disk is fast. The ledger never runs without fsync; this
// only splits the commit path's time into CPU and disk.
func BenchmarkWriterCPU(b *testing.B) {
	benchCallers(b, Options{}, 64, 0, withNoSync())
}

// benchCallers runs b.N debits from `callers` goroutines, each waiting `think` between its debits.
func benchCallers(b *testing.B, opts Options, callers int, think time.Duration, extra ...testOption) {
	obs := &batchRecorder{}
	opts.Observer = obs
	l := openTest(b, append([]testOption{withOptions(opts)}, extra...)...)
	mustWallet(b, l, "w1", "566", 0)
	mustCredit(b, l, "w1", math.MaxInt64/2)
	batches0, _, ops0 := obs.stats()
	var next, done atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				id := fmt.Sprintf("g%d", i)
				if _, err := l.Debit(bg, dreq(id, id, "w1", 100, 1)); err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
				if think > 0 {
					time.Sleep(think)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	reportOps(b, done.Load())
	if batches, _, ops := obs.stats(); batches > batches0 {
		b.ReportMetric(float64(ops-ops0)/float64(batches-batches0), "ops/commit")
	}
}

// BenchmarkCommitPages counts what the disk sees: bbolt's pages written per commit and per debit, with 64 callers
// debiting 1,000 wallets at random (fsync off: pages do not depend on it). A commit costs about 0.3 ms plus 10-20 µs
// per page on the disks measured (README, Performance), so this is the number a change to the ledger's layout
// moves. Record sizes matter through it: the wallets bucket is about half of the pages.
//
//	go test ./ledger -run '^$' -bench CommitPages -benchtime 50000x
func BenchmarkCommitPages(b *testing.B) {
	obs := &batchRecorder{}
	l := openTest(b, withOptions(Options{Observer: obs}), withNoSync())
	wallets := make([]string, 1000)
	for i := range wallets {
		wallets[i] = fmt.Sprintf("w%07d", i)
		mustWallet(b, l, wallets[i], "566", 0)
		mustCredit(b, l, wallets[i], 1<<40) // the funding account is the other side: it must not overflow
	}
	batches0, _, ops0 := obs.stats()
	s0 := l.db.Stats()
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				id := fmt.Sprintf("p%d", i)
				if _, err := l.Debit(bg, dreq(id, id, wallets[int(i*7919)%len(wallets)], 100, 1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	s1 := l.db.Stats()
	d := s1.Sub(&s0)
	batches, _, ops := obs.stats()
	if n := batches - batches0; n > 0 && ops > ops0 {
		pages := float64(d.TxStats.GetWrite())
		b.ReportMetric(float64(ops-ops0)/float64(n), "ops/commit")
		b.ReportMetric(pages/float64(n), "pages/commit")
		b.ReportMetric(pages/float64(ops-ops0), "pages/op")
	}
}
