package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walletgate/walletgate/mac"
)

// Config describes one load. Duration or Requests bounds it (both: whichever ends first).
type Config struct {
	// Target is the switch API's base URL, e.g. http://127.0.0.1:8080.
	Target string
	// Ops is the ops listener's base URL (admin API: wallet set-up and the conservation check).
	Ops string
	// AdminToken is the admin API's bearer token. Never printed.
	AdminToken string
	// Keys sign the requests (the switch's MAC key).
	Keys *mac.Keys
	// Template is the sample every message is built from.
	Template *Template

	Concurrency int           // requests in flight at once (connections); default 64
	Duration    time.Duration // how long to send new requests
	Requests    int64         // how many requests to send
	Rate        float64       // requests per second, 0: as fast as answers come back

	Mix Mix

	// Wallets are the wallets the load spreads over. SetupWallets creates and funds them first.
	Wallets      []string
	SetupWallets bool
	Fund         int64 // minor units credited to each wallet by SetupWallets
	Amount       int64 // principal of an approved debit, minor units; default 100 (the seed's sample)
	Fee          int64 // transactionFee of every debit, minor units; default 0 (the seed's samples omit it)

	// RunID prefixes every requestId and transactionReference, so runs never collide; default from the clock.
	RunID string

	// CeilingRounds, when positive, also starts the minimal handler of CeilingHandler on a loopback port and runs
	// the load against it and against Target in that many alternating rounds, splitting Duration or Requests
	// between them; the report then carries walletgate's figures as ratios of the ceiling's.
	CeilingRounds int

	// SkipAudit leaves out GET /admin/audit from the conservation check (it reads the whole journal).
	SkipAudit bool

	// Progress, when set, gets a line every ProgressEvery (default 1s) while the load runs.
	Progress      io.Writer
	ProgressEvery time.Duration

	// Client sends the requests; default: a transport keeping Concurrency connections alive.
	Client *http.Client
}

// insufficientAmount is far above any funding loadgen or populate gives, and far from overflowing.
const insufficientAmount = 1_000_000_000_000_000

func (c *Config) defaults() error {
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Duration <= 0 && c.Requests <= 0 {
		return errors.New("loadgen: a duration or a request count is required")
	}
	if c.Amount <= 0 {
		c.Amount = 100
	}
	if c.Fee < 0 {
		return errors.New("loadgen: negative fee")
	}
	if c.Mix == nil {
		c.Mix = DefaultMix()
	}
	if c.Mix.total() == 0 {
		return errors.New("loadgen: every share of the mix is 0")
	}
	if c.Template == nil || c.Keys == nil {
		return errors.New("loadgen: a template and MAC keys are required")
	}
	if len(c.Wallets) == 0 {
		return errors.New("loadgen: no wallets")
	}
	if c.RunID == "" {
		c.RunID = "lg" + strconv.FormatInt(time.Now().UnixMilli(), 36)
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.Client == nil {
		c.Client = NewClient(c.Concurrency)
	}
	return nil
}

// NewClient is an HTTP client keeping up to conns connections to one host alive.
func NewClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// WalletIDs names n wallets prefix + a zero-padded number, so that they sort in creation order.
func WalletIDs(prefix string, from, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%07d", prefix, from+i)
	}
	return ids
}

// Run sets the wallets up when asked, sends the load, and checks conservation through the admin API.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	adm := &admin{base: cfg.Ops, token: cfg.AdminToken, client: cfg.Client}
	if cfg.SetupWallets {
		if err := setup(ctx, adm, &cfg); err != nil {
			return nil, err
		}
	}
	before, err := adm.total(ctx, cfg.Wallets, cfg.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("conservation: balances before: %w", err)
	}
	g := newGenerator(&cfg)
	var rep *Report
	if cfg.CeilingRounds > 0 {
		if rep, err = runCeiling(ctx, &cfg, g); err != nil {
			return nil, err
		}
	} else {
		rep = runLoad(ctx, &cfg, cfg.Target, g, cfg.Duration, cfg.Requests, cfg.Progress)
	}
	rep.Conservation, err = conserve(ctx, adm, &cfg, g, before)
	return rep, err
}

func setup(ctx context.Context, adm *admin, cfg *Config) error {
	fund := cfg.Fund
	if fund <= 0 {
		fund = 1_000_000_000 // NGN 10 million: ten million approvals of the seed's 100 kobo
	}
	err := forEach(ctx, len(cfg.Wallets), cfg.Concurrency, func(ctx context.Context, i int) error {
		return adm.setupWallet(ctx, cfg.Wallets[i], cfg.Template.Currency(), fund)
	})
	if err != nil {
		return fmt.Errorf("setup wallets: %w", err)
	}
	return nil
}

// sent is a message already answered, kept for exact replays.
type sent struct {
	route Route
	body  []byte
	resp  []byte
	code  string
}

// debitRef is an approved debit that may be reversed.
type debitRef struct {
	wallet, ref string
	amount, fee int64
}

// unknown is a debit whose final state loadgen could not read from the answers (a transport error, a 5xx, a
// timeout): the conservation check asks the admin API.
type unknown struct {
	ref     string
	value   int64 // amount + fee
	counted bool  // value is already in generator.moved
}

// generator builds the messages of one target and keeps what the conservation check needs. It is shared by the
// workers of that target.
type generator struct {
	cfg    *Config
	picker *picker
	seq    atomic.Int64

	moved atomic.Int64 // minor units that left the wallets by answers seen: approvals minus reversals

	mu       sync.Mutex
	replays  []sent // ring of recent answered messages
	replayAt int
	open     []debitRef // approved debits not yet reversed
	unknowns []unknown
}

const replayRing = 4096

func newGenerator(cfg *Config) *generator {
	return &generator{cfg: cfg, picker: newPicker(cfg.Mix)}
}

// request is one message on its way.
type request struct {
	kind   Kind
	msg    Message
	body   []byte
	replay *sent     // KindReplay: the message replayed
	debit  *debitRef // KindReversal: the debit reversed
}

func (g *generator) next(r *rand.Rand) *request {
	kind := g.picker.pick(r)
	q := &request{kind: kind}
	switch kind {
	case KindReplay:
		g.mu.Lock()
		if n := len(g.replays); n > 0 {
			s := g.replays[r.IntN(n)]
			q.replay = &s
		}
		g.mu.Unlock()
		if q.replay != nil {
			q.msg.Route, q.body = q.replay.route, q.replay.body
			return q
		}
		kind = KindApprove // nothing answered yet: send an approval instead
	case KindReversal:
		g.mu.Lock()
		if n := len(g.open); n > 0 {
			i := r.IntN(n)
			d := g.open[i]
			g.open[i] = g.open[n-1]
			g.open = g.open[:n-1]
			q.debit = &d
		}
		g.mu.Unlock()
		if q.debit == nil {
			kind = KindApprove
		}
	}
	q.kind = kind
	n := g.seq.Add(1)
	id := g.cfg.RunID + "-" + strconv.FormatInt(n, 10)
	m := Message{Route: RouteDebit, RequestID: id, Reference: id, Amount: g.cfg.Amount, Fee: g.cfg.Fee,
		RRN: fmt.Sprintf("%012d", n%1_000_000_000_000), STAN: fmt.Sprintf("%06d", n%1_000_000)}
	switch kind {
	case KindApprove:
		m.WalletID = g.cfg.Wallets[r.IntN(len(g.cfg.Wallets))]
	case KindInsufficient:
		m.WalletID = g.cfg.Wallets[r.IntN(len(g.cfg.Wallets))]
		m.Amount = insufficientAmount
	case KindReversal:
		m.Route, m.WalletID, m.Original, m.Amount = RouteReversal, q.debit.wallet, q.debit.ref, q.debit.amount
	case KindEnquiry:
		m.Route, m.WalletID, m.Amount, m.Fee = RouteEnquiry, g.cfg.Wallets[r.IntN(len(g.cfg.Wallets))], 0, 0
	}
	q.msg = m
	q.body = g.cfg.Template.Build(g.cfg.Keys, &m)
	return q
}

// outcome is what one answer told.
type outcome struct {
	status int
	code   string // responseCode, "" when none
	body   []byte
	err    error
}

// known reports whether the outcome of a message is known from its answer.
func (o outcome) known() bool { return o.err == nil && o.status == http.StatusOK && o.code != "" }

// done records an answer: what moved, what may be replayed or reversed later. It returns a problem with the answer
// that the report counts as an error ("" when none).
func (g *generator) done(q *request, o outcome) string {
	value := q.msg.Amount + q.msg.Fee
	switch {
	case q.kind == KindReplay:
		if !o.known() {
			return ""
		}
		if !bytes.Equal(o.body, q.replay.resp) {
			return "replay answer differs from the original"
		}
		return ""
	case q.msg.Route == RouteDebit && !o.known():
		g.mu.Lock()
		g.unknowns = append(g.unknowns, unknown{ref: q.msg.Reference, value: value})
		g.mu.Unlock()
		return ""
	case q.kind == KindReversal && !o.known():
		// The debit was approved (counted); whether the reversal landed is for the admin API to say.
		g.mu.Lock()
		g.unknowns = append(g.unknowns, unknown{ref: q.debit.ref, value: q.debit.amount + q.debit.fee, counted: true})
		g.mu.Unlock()
		return ""
	case !o.known():
		return ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s := sent{route: q.msg.Route, body: q.body, resp: o.body, code: o.code}
	if len(g.replays) < replayRing {
		g.replays = append(g.replays, s)
	} else {
		g.replays[g.replayAt] = s
		g.replayAt = (g.replayAt + 1) % replayRing
	}
	if o.code != "00" {
		return ""
	}
	switch q.msg.Route {
	case RouteDebit:
		g.moved.Add(value)
		g.open = append(g.open, debitRef{wallet: q.msg.WalletID, ref: q.msg.Reference, amount: q.msg.Amount, fee: q.msg.Fee})
	case RouteReversal:
		g.moved.Add(-(q.debit.amount + q.debit.fee))
	}
	return ""
}

// send posts one body and reads the answer's code.
func send(ctx context.Context, client *http.Client, target string, q *request) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+q.msg.Route.Path(), bytes.NewReader(q.body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: stripURL(err)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	o := outcome{status: resp.StatusCode, body: body, err: err}
	if err == nil && resp.StatusCode == http.StatusOK {
		var a struct {
			ResponseCode string `json:"responseCode"`
		}
		if json.Unmarshal(body, &a) == nil {
			o.code = a.ResponseCode
		}
	}
	return o
}

// runLoad sends messages from g to target until the duration or the count is reached, and reports.
func runLoad(ctx context.Context, cfg *Config, target string, g *generator, d time.Duration, count int64, progress io.Writer) *Report {
	rec := newRecorder()
	// In-flight requests are never cancelled: a message whose answer we walked away from has an unknown outcome.
	sendCtx := context.WithoutCancel(ctx)
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	if d > 0 {
		t := time.AfterFunc(d, halt)
		defer t.Stop()
	}
	go func() {
		select {
		case <-ctx.Done():
			halt()
		case <-stop:
		}
	}()

	var issued atomic.Int64
	// take reserves the next request; it returns the time the request is due (for latency under a fixed rate,
	// measured from when it should have been sent, so a slow server cannot hide its queue).
	var take func() (time.Time, bool)
	if cfg.Rate > 0 {
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		start := time.Now()
		take = func() (time.Time, bool) {
			n := issued.Add(1)
			if count > 0 && n > count {
				return time.Time{}, false
			}
			due := start.Add(time.Duration(n-1) * interval)
			if w := time.Until(due); w > 0 {
				t := time.NewTimer(w)
				select {
				case <-t.C:
				case <-stop:
					t.Stop()
					return time.Time{}, false
				}
			}
			select {
			case <-stop:
				return time.Time{}, false
			default:
			}
			return due, true
		}
	} else {
		take = func() (time.Time, bool) {
			select {
			case <-stop:
				return time.Time{}, false
			default:
			}
			if n := issued.Add(1); count > 0 && n > count {
				return time.Time{}, false
			}
			return time.Now(), true
		}
	}

	var wg sync.WaitGroup
	start := time.Now()
	progressDone := make(chan struct{})
	if progress != nil {
		go func() {
			defer close(progressDone)
			tick := time.NewTicker(cfg.ProgressEvery)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					rec.progress(progress, time.Since(start))
				case <-stop:
					return
				}
			}
		}()
	} else {
		close(progressDone)
	}
	for w := range cfg.Concurrency {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w)))
			for {
				due, ok := take()
				if !ok {
					return
				}
				q := g.next(r)
				if cfg.Rate <= 0 {
					due = time.Now() // building and signing the message is the client's time, not the server's
				}
				o := send(sendCtx, cfg.Client, target, q)
				lat := time.Since(due)
				problem := g.done(q, o)
				rec.record(q.kind, o, lat, problem)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	halt()
	<-progressDone
	return rec.report(target, elapsed)
}
