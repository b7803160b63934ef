package loadgen

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 60 s, with 3 significant digits.
const (
	histMin    = 1
	histMax    = 60_000_000
	histDigits = 3
)

// recorder collects the answers of one run. It is safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	hist   *hdrhistogram.Histogram
	codes  map[string]int64
	kinds  map[Kind]map[string]int64
	errors map[string]int64
	total  int64
	errs   int64
}

func newRecorder() *recorder {
	return &recorder{hist: hdrhistogram.New(histMin, histMax, histDigits), codes: map[string]int64{},
		kinds: map[Kind]map[string]int64{}, errors: map[string]int64{}}
}

// codeOf names an answer for the code mix: its responseCode, else what happened instead.
func codeOf(o outcome) string {
	switch {
	case o.err != nil:
		return "error"
	case o.status != http.StatusOK:
		return fmt.Sprintf("HTTP %d", o.status)
	case o.code == "":
		return "no code"
	}
	return o.code
}

func (r *recorder) record(kind Kind, o outcome, lat time.Duration, problem string) {
	code := codeOf(o)
	us := lat.Microseconds()
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.hist.RecordValue(min(max(us, histMin), histMax)) // clamped: never out of range
	r.total++
	r.codes[code]++
	k := r.kinds[kind]
	if k == nil {
		k = map[string]int64{}
		r.kinds[kind] = k
	}
	k[code]++
	reason := problem
	switch {
	case o.err != nil:
		reason = o.err.Error()
	case o.status != http.StatusOK:
		reason = fmt.Sprintf("HTTP %d on /%s", o.status, routeOf(kind))
	}
	if reason != "" {
		r.errs++
		if len(r.errors) < 20 || r.errors[reason] > 0 {
			r.errors[reason]++
		}
	}
}

func routeOf(k Kind) Route {
	switch k {
	case KindReversal:
		return RouteReversal
	case KindEnquiry:
		return RouteEnquiry
	}
	return RouteDebit
}

func (r *recorder) progress(w io.Writer, elapsed time.Duration) {
	r.mu.Lock()
	n, errs := r.total, r.errs
	p99 := time.Duration(r.hist.ValueAtQuantile(99)) * time.Microsecond
	r.mu.Unlock()
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(n) / s
	}
	fmt.Fprintf(w, "%6.1fs  %9d requests  %8.0f/s  %6d errors  p99 %s\n", elapsed.Seconds(), n, rate, errs, fmtDur(p99))
}

func (r *recorder) report(target string, elapsed time.Duration) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &Report{Target: target, Requests: r.total, Errors: r.errs, Seconds: elapsed.Seconds(),
		Codes: r.codes, Kinds: map[string]map[string]int64{}, ErrorReasons: r.errors, hist: r.hist}
	for k, v := range r.kinds {
		rep.Kinds[string(k)] = v
	}
	if rep.Seconds > 0 {
		rep.Throughput = float64(r.total) / rep.Seconds
	}
	rep.Latency = latencyOf(r.hist)
	return rep
}

// Latency is a latency distribution, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: h.Mean() / 1000}
}

// Report is the result of a load against one target.
type Report struct {
	Target     string  `json:"target"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput"` // requests per second
	// Latency is from the request's start (its due time under a fixed rate) to its answer, in milliseconds.
	Latency Latency `json:"latencyMs"`
	// Codes counts answers by responseCode; an answer without one is "HTTP <status>", "no code" or "error".
	Codes map[string]int64 `json:"codes"`
	// Kinds is the same, per kind of message.
	Kinds        map[string]map[string]int64 `json:"kinds"`
	ErrorReasons map[string]int64            `json:"errorReasons,omitempty"`
	Conservation *Conservation               `json:"conservation,omitempty"`
	Ceiling      *CeilingReport              `json:"ceiling,omitempty"`

	hist *hdrhistogram.Histogram
}

// Conservation is the money check after a load: the wallets' total fell by exactly what the approved debits took
// minus what the reversals gave back, and walletgate's own audit is green.
type Conservation struct {
	Wallets      int   `json:"wallets"`
	Before       int64 `json:"before"`
	After        int64 `json:"after"`
	ExpectedDrop int64 `json:"expectedDrop"` // approvals minus reversals, in minor units
	ActualDrop   int64 `json:"actualDrop"`
	// Resolved counts messages without a readable answer whose outcome was read from the admin API.
	Resolved int          `json:"resolved"`
	Audit    *AuditResult `json:"audit,omitempty"` // nil when skipped
	OK       bool         `json:"ok"`
	Problems []string     `json:"problems,omitempty"`
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "target       %s\n", r.Target)
	fmt.Fprintf(w, "requests     %d in %.2fs: %.0f/s, %d errors\n", r.Requests, r.Seconds, r.Throughput, r.Errors)
	fmt.Fprintf(w, "latency ms   p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", r.Latency.P50, r.Latency.P90,
		r.Latency.P99, r.Latency.P999, r.Latency.Max)
	var codes []string
	for _, c := range sortedKeys(r.Codes) {
		codes = append(codes, fmt.Sprintf("%s: %d", c, r.Codes[c]))
	}
	fmt.Fprintf(w, "codes        %s\n", strings.Join(codes, ", "))
	for _, k := range Kinds() {
		m := r.Kinds[string(k)]
		if len(m) == 0 {
			continue
		}
		var parts []string
		for _, c := range sortedKeys(m) {
			parts = append(parts, fmt.Sprintf("%s: %d", c, m[c]))
		}
		fmt.Fprintf(w, "  %-12s %s\n", k, strings.Join(parts, ", "))
	}
	for _, e := range sortedKeys(r.ErrorReasons) {
		fmt.Fprintf(w, "error        %dx %s\n", r.ErrorReasons[e], e)
	}
	if c := r.Conservation; c != nil {
		verdict := "OK"
		if !c.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "conservation %s: %d wallets, total %d -> %d, fell by %d, approvals minus reversals %d",
			verdict, c.Wallets, c.Before, c.After, c.ActualDrop, c.ExpectedDrop)
		if c.Resolved > 0 {
			fmt.Fprintf(w, " (%d outcomes read from the admin API)", c.Resolved)
		}
		fmt.Fprintln(w)
		switch {
		case c.Audit == nil:
			fmt.Fprintln(w, "audit        skipped")
		case c.Audit.OK:
			fmt.Fprintf(w, "audit        ok: %d journal entries, %d wallets\n", c.Audit.Entries, c.Audit.Wallets)
		default:
			fmt.Fprintf(w, "audit        NOT OK: %s\n", strings.Join(c.Audit.Problems, "; "))
		}
		for _, p := range c.Problems {
			fmt.Fprintf(w, "problem      %s\n", p)
		}
	}
	if c := r.Ceiling; c != nil {
		c.writeText(w)
	}
}
