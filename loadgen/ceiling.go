package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/labstack/echo/v4"

	"github.com/walletgate/walletgate/server"
)

// ceilingRequest is every field of a switch message, decoded the plain way.
type ceilingRequest struct {
	RequestID                    string            `json:"requestId"`
	WalletID                     string            `json:"walletId"`
	Amount                       json.Number       `json:"amount"`
	TransactionReference         string            `json:"transactionReference"`
	OriginalTransactionReference string            `json:"originalTransactionReference"`
	MAC                          string            `json:"mac"`
	TransactionDateTime          string            `json:"transactionDateTime"`
	TerminalID                   string            `json:"terminalId"`
	TerminalType                 string            `json:"terminalType"`
	MerchantID                   string            `json:"merchantId"`
	AcquiringInstitutionID       string            `json:"acquiringInstitutionId"`
	CurrencyCode                 string            `json:"currencyCode"`
	CardAcceptorNameLocation     string            `json:"cardAcceptorNameLocation"`
	RRN                          string            `json:"rrn"`
	STAN                         string            `json:"stan"`
	TransactionFee               json.Number       `json:"transactionFee"`
	AdditionalFields             map[string]string `json:"additionalFields"`
}

type ceilingResponse struct {
	RequestID            string      `json:"requestId"`
	ResponseCode         string      `json:"responseCode"`
	Amount               json.Number `json:"amount"`
	TransactionReference string      `json:"transactionReference"`
	MAC                  string      `json:"mac"`
}

// CeilingHandler is the yardstick of --ceiling: an Echo router with the switch's routes whose handler only decodes
// the message's JSON and answers 00 in walletgate's answer shape. No MAC, no ledger, no fsync: what the HTTP stack
// and JSON cost on this machine, and nothing else.
func CeilingHandler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	h := func(c echo.Context) error {
		body, err := io.ReadAll(io.LimitReader(c.Request().Body, server.MaxBodyBytes+1))
		if err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		var r ceilingRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return c.JSONBlob(http.StatusBadRequest, []byte(`{"responseCode":"30"}`))
		}
		if r.Amount == "" {
			r.Amount = "0"
		}
		return c.JSON(http.StatusOK, ceilingResponse{RequestID: r.RequestID, ResponseCode: "00", Amount: r.Amount,
			TransactionReference: r.TransactionReference})
	}
	for _, r := range []Route{RouteDebit, RouteReversal, RouteEnquiry} {
		e.POST(r.Path(), h)
	}
	return e
}

// CeilingReport compares walletgate with the ceiling over the same rounds.
type CeilingReport struct {
	Rounds int `json:"rounds"`
	// Ceiling is the minimal handler's figures over all its rounds.
	Ceiling Summary `json:"ceiling"`
	// ThroughputRatio is walletgate's throughput divided by the ceiling's; P99Ratio walletgate's p99 over the
	// ceiling's. Both are over all rounds.
	ThroughputRatio float64       `json:"throughputRatio"`
	P99Ratio        float64       `json:"p99Ratio"`
	PerRound        []RoundRatios `json:"perRound"`
}

// Summary is one target's figures.
type Summary struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput"`
	Latency    Latency `json:"latencyMs"`
}

// RoundRatios are the ratios of one round: how steady they are tells how noisy the machine was.
type RoundRatios struct {
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
}

func (c *CeilingReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "ceiling      %d requests in %.2fs: %.0f/s, p99 %.3f ms (minimal Echo handler, in process)\n",
		c.Ceiling.Requests, c.Ceiling.Seconds, c.Ceiling.Throughput, c.Ceiling.Latency.P99)
	fmt.Fprintf(w, "vs ceiling   throughput %.2fx, p99 %.2fx (walletgate / ceiling, %d alternating rounds)\n",
		c.ThroughputRatio, c.P99Ratio, c.Rounds)
	for i, r := range c.PerRound {
		fmt.Fprintf(w, "  round %-4d throughput %.2fx, p99 %.2fx\n", i+1, r.Throughput, r.P99)
	}
}

// startCeiling serves CeilingHandler on a free loopback port with walletgate's listener settings.
func startCeiling() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("ceiling listener: %w", err)
	}
	srv := server.NewHTTPServer(ln.Addr().String(), CeilingHandler(), nil)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// runCeiling runs the load in `rounds` rounds against the ceiling and walletgate alternately (ABBA order, so a
// trend in the machine's load hurts neither side), each getting the same share of the duration or count.
func runCeiling(ctx context.Context, cfg *Config, g *generator) (*Report, error) {
	url, stop, err := startCeiling()
	if err != nil {
		return nil, err
	}
	defer stop()
	rounds := cfg.CeilingRounds
	d := cfg.Duration / time.Duration(rounds)
	n := cfg.Requests / int64(rounds)
	if cfg.Requests > 0 && n == 0 {
		n = 1
	}
	if cfg.Duration > 0 && d <= 0 {
		return nil, errors.New("ceiling: duration too short for the rounds")
	}
	cg := newGenerator(cfg)
	cg.cfg = &Config{}
	*cg.cfg = *cfg
	cg.cfg.RunID = cfg.RunID + "c" // the ceiling has its own ids; it remembers nothing anyway
	var wgReports, ceilReports []*Report
	cr := &CeilingReport{Rounds: rounds}
	for i := range rounds {
		var a, b *Report
		runWG := func() { a = runLoad(ctx, cfg, cfg.Target, g, d, n, cfg.Progress) }
		runCeil := func() { b = runLoad(ctx, cfg, url, cg, d, n, nil) }
		if i%2 == 0 {
			runCeil()
			runWG()
		} else {
			runWG()
			runCeil()
		}
		wgReports, ceilReports = append(wgReports, a), append(ceilReports, b)
		cr.PerRound = append(cr.PerRound, RoundRatios{Throughput: ratio(a.Throughput, b.Throughput),
			P99: ratio(a.Latency.P99, b.Latency.P99)})
		if ctx.Err() != nil {
			break
		}
	}
	rep := merge(cfg.Target, wgReports)
	ceil := merge(url, ceilReports)
	cr.Rounds = len(wgReports)
	cr.Ceiling = Summary{Requests: ceil.Requests, Errors: ceil.Errors, Seconds: ceil.Seconds,
		Throughput: ceil.Throughput, Latency: ceil.Latency}
	cr.ThroughputRatio = ratio(rep.Throughput, ceil.Throughput)
	cr.P99Ratio = ratio(rep.Latency.P99, ceil.Latency.P99)
	rep.Ceiling = cr
	return rep, nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// merge adds up the reports of several rounds against one target.
func merge(target string, reps []*Report) *Report {
	out := &Report{Target: target, Codes: map[string]int64{}, Kinds: map[string]map[string]int64{},
		ErrorReasons: map[string]int64{}, hist: hdrhistogram.New(histMin, histMax, histDigits)}
	for _, r := range reps {
		out.Requests += r.Requests
		out.Errors += r.Errors
		out.Seconds += r.Seconds
		out.hist.Merge(r.hist)
		for c, v := range r.Codes {
			out.Codes[c] += v
		}
		for k, m := range r.Kinds {
			if out.Kinds[k] == nil {
				out.Kinds[k] = map[string]int64{}
			}
			for c, v := range m {
				out.Kinds[k][c] += v
			}
		}
		for e, v := range r.ErrorReasons {
			out.ErrorReasons[e] += v
		}
	}
	if out.Seconds > 0 {
		out.Throughput = float64(out.Requests) / out.Seconds
	}
	out.Latency = latencyOf(out.hist)
	return out
}
