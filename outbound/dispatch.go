package outbound

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
)

// OutboxStore is what the dispatcher needs of the ledger (*ledger.Ledger implements it).
type OutboxStore interface {
	// OutboxHeads returns the oldest durable pending event of every lane and the pending count per partner.
	OutboxHeads(ctx context.Context) ([]ledger.OutboxEvent, map[string]int, error)
	// RecordDelivery writes the outcome of one attempt through the ledger's writer.
	RecordDelivery(ctx context.Context, id uint64, a ledger.Attempt) (ledger.OutboxEvent, error)
	// OutboxWake is signalled after commits that wrote or re-queued outbox events.
	OutboxWake() <-chan struct{}
}

// DeadCounter is implemented by stores that can count dead-lettered events per partner (*ledger.Ledger does). A
// dispatcher whose store implements it keeps walletgate_outbox_dead true: it recounts on every scan, which follows
// its start, every finished attempt (a dead-lettering included) and every commit that re-queued an event (a manual
// retry).
type DeadCounter interface {
	OutboxDeadCounts(ctx context.Context) (map[string]int, error)
}

var _ DeadCounter = (*ledger.Ledger)(nil)

// DeliveryDead is the outcome label of walletgate_outbox_deliveries_total for an attempt that dead-lettered its
// event (a permanent refusal, or the last allowed attempt failed). Every other attempt is counted with Outcome of
// its error: "ok" when delivered (DUPLICATE_ID included), "error", "timeout", "auth", ... when it will be retried.
const DeliveryDead = "dead"

// DispatcherConfig configures a Dispatcher. Zero values take the defaults documented on each field.
type DispatcherConfig struct {
	Store    OutboxStore
	Partners map[string]Deliverer // by partner name; events of a partner missing here wait (pending) until it is configured

	Workers        int           // attempts in flight at once, across lanes; default 8
	MaxAttempts    int           // attempts before an event is dead-lettered; default 10
	BaseBackoff    time.Duration // delay after the first failed attempt, doubled after each; default 1s
	MaxBackoff     time.Duration // cap of the delay; default 5m
	AttemptTimeout time.Duration // bound of one attempt; default 15s
	Poll           time.Duration // rescan at least this often even without a wake-up; default 30s
	// MinScanGap spaces scans of the pending events under a stream of commits (each one wakes the dispatcher);
	// default 20ms.
	MinScanGap time.Duration

	Now    func() time.Time // default time.Now
	Jitter func() float64   // uniform in [0, 1); default math/rand/v2
	// IsPermanent says which errors dead-letter at once; default IsPermanent (plus the deliverers' own refusals).
	IsPermanent func(error) bool

	Metrics *Metrics // optional
	Logger  *zap.Logger
}

// Dispatcher delivers the outbox: in order within a lane (one partner, one wallet: the next event of a lane is
// attempted only after the previous one was delivered or dead-lettered), concurrently across lanes (at most
// Workers attempts at once), with exponential backoff and jitter between attempts, a timeout per attempt, and
// dead-lettering after MaxAttempts or at once on a permanent refusal. It reads only events whose commit is durable
// and writes every outcome back through the ledger, so a restart resumes exactly where it stopped: an attempt cut
// short by a crash is simply made again, and partners recognise the repeat by our reference.
type Dispatcher struct {
	cfg      DispatcherConfig
	log      *zap.Logger
	kick     chan struct{}
	deadSeen map[string]bool // partners that had dead events, so that their gauge returns to 0 (Run's goroutine only)
}

// NewDispatcher returns a dispatcher; Run starts it.
func NewDispatcher(cfg DispatcherConfig) *Dispatcher {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.MaxBackoff < cfg.BaseBackoff {
		cfg.MaxBackoff = cfg.BaseBackoff
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 15 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 30 * time.Second
	}
	if cfg.MinScanGap <= 0 {
		cfg.MinScanGap = 20 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.IsPermanent == nil {
		cfg.IsPermanent = IsPermanent
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Dispatcher{cfg: cfg, log: log, kick: make(chan struct{}, 1), deadSeen: map[string]bool{}}
}

// Backoff is the delay after the attempts-th failed attempt (1 for the first): BaseBackoff doubled per earlier
// failure, capped at MaxBackoff, of which a random half is taken off ("equal jitter"), so that lanes that failed
// together do not come back together.
func (d *Dispatcher) Backoff(attempts int) time.Duration {
	delay := d.cfg.BaseBackoff
	for i := 1; i < attempts && delay < d.cfg.MaxBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, d.cfg.MaxBackoff)
	half := delay / 2
	return delay - half + time.Duration(d.cfg.Jitter()*float64(half))
}

// Kick makes the dispatcher rescan now (for example after a configuration change); it never blocks.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

type attemptDone struct{ lane string }

// Run delivers until ctx ends, then cancels the attempts in flight (their outcome is not recorded: they are made
// again after a restart) and returns once they have returned. It never returns before that, so the caller may
// close the ledger right after.
func (d *Dispatcher) Run(ctx context.Context) {
	inflight := map[string]bool{}
	done := make(chan attemptDone)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	wake := d.cfg.Store.OutboxWake()
	warned := map[string]bool{}

	var lastScan time.Time
	for {
		// A busy switch wakes the dispatcher after every commit; one scan per gap is plenty.
		if gap := d.cfg.MinScanGap - time.Since(lastScan); gap > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(gap):
			}
		}
		lastScan = time.Now()
		next := d.cfg.Poll
		heads, pending, err := d.cfg.Store.OutboxHeads(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.log.Warn("outbox: cannot read pending events", zap.Error(err))
			next = min(next, d.cfg.BaseBackoff)
		}
		d.setPending(pending)
		d.setDead(ctx)
		now := d.cfg.Now()
		sort.Slice(heads, func(i, j int) bool { return heads[i].ID < heads[j].ID })
		for _, h := range heads {
			lane := h.Partner + "\x00" + h.WalletID
			if inflight[lane] {
				continue
			}
			deliverer := d.cfg.Partners[h.Partner]
			if deliverer == nil {
				if !warned[h.Partner] {
					warned[h.Partner] = true
					d.log.Warn("outbox: events wait for a partner that is not configured", zap.String("partner", h.Partner))
				}
				continue
			}
			if wait := h.NextAttempt.Sub(now); wait > 0 {
				next = min(next, wait)
				continue
			}
			if len(inflight) >= d.cfg.Workers {
				break // a finishing attempt triggers the next scan
			}
			inflight[lane] = true
			wg.Add(1)
			go func(ev ledger.OutboxEvent) {
				defer wg.Done()
				d.attempt(ctx, deliverer, ev)
				select {
				case done <- attemptDone{lane: lane}:
				case <-ctx.Done():
				}
			}(h)
		}

		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case r := <-done:
			delete(inflight, r.lane)
			for drained := false; !drained; { // coalesce attempts that finished together into one scan
				select {
				case r := <-done:
					delete(inflight, r.lane)
				default:
					drained = true
				}
			}
		case <-wake:
		case <-d.kick:
		case <-timer.C:
		}
	}
}

// attempt delivers one event and records the outcome.
func (d *Dispatcher) attempt(ctx context.Context, deliverer Deliverer, ev ledger.OutboxEvent) {
	actx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
	err := deliverer.Deliver(actx, ev)
	cancel()
	if err != nil && ctx.Err() != nil {
		return // cut short by shutdown: not an attempt; it is made again after the restart
	}
	n := ev.Attempts + 1
	var a ledger.Attempt
	outcome := Outcome(err)
	switch {
	case err == nil:
		a.Delivered = true
	case d.permanent(err) || n >= d.cfg.MaxAttempts:
		a.Dead, a.Error, outcome = true, err.Error(), DeliveryDead
	default:
		a.Error, a.NextAttempt = err.Error(), d.cfg.Now().Add(d.Backoff(n))
	}
	// The outcome is recorded even when shutdown began meanwhile: the ledger closes only after Run returned.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	if _, rerr := d.cfg.Store.RecordDelivery(rctx, ev.ID, a); rerr != nil {
		// The event stays pending as it was and is attempted again; partners recognise the repeat.
		d.log.Error("outbox: cannot record a delivery attempt", zap.Uint64("id", ev.ID),
			zap.String("partner", ev.Partner), zap.Error(rerr))
		return
	}
	d.cfg.Metrics.ObserveDelivery(ev.Partner, outcome)
	fields := []zap.Field{zap.Uint64("id", ev.ID), zap.String("partner", ev.Partner), zap.String("kind", ev.Kind),
		zap.String("transactionReference", ev.Reference), zap.String("deliveryId", ev.DeliveryID),
		zap.String("walletId", ev.WalletID), zap.Int("attempt", n)}
	switch {
	case a.Delivered:
		d.log.Info("outbox: delivered", fields...)
	case !a.Dead:
		d.log.Warn("outbox: delivery failed, will retry", append(fields, zap.Time("nextAttempt", a.NextAttempt),
			zap.String("error", a.Error))...)
	default:
		d.log.Error("outbox: dead-lettered", append(fields, zap.String("error", a.Error))...)
	}
}

func (d *Dispatcher) permanent(err error) bool {
	var pe permanentError
	return errors.As(err, &pe) || d.cfg.IsPermanent(err)
}

// setDead makes walletgate_outbox_dead true for every partner that has dead events, had some, or has a deliverer.
// A failed count leaves the gauge as it was; the next scan tries again.
func (d *Dispatcher) setDead(ctx context.Context) {
	dc, ok := d.cfg.Store.(DeadCounter)
	if !ok || d.cfg.Metrics == nil {
		return
	}
	dead, err := dc.OutboxDeadCounts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("outbox: cannot count dead letters", zap.Error(err))
		}
		return
	}
	for partner := range d.cfg.Partners {
		d.cfg.Metrics.SetDead(partner, dead[partner])
	}
	for partner := range d.deadSeen {
		d.cfg.Metrics.SetDead(partner, dead[partner])
	}
	for partner, n := range dead {
		d.cfg.Metrics.SetDead(partner, n)
		d.deadSeen[partner] = true
	}
}

// setPending makes walletgate_outbox_pending true for every partner that has events or a deliverer.
func (d *Dispatcher) setPending(pending map[string]int) {
	if pending == nil {
		return
	}
	for partner := range d.cfg.Partners {
		d.cfg.Metrics.SetPending(partner, pending[partner])
	}
	for partner, n := range pending {
		d.cfg.Metrics.SetPending(partner, n)
	}
}
