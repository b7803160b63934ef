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
