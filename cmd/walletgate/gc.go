package main

import (
	"runtime/debug"
)

// Garbage collector settings for a serving process, unless the operator set GOGC or GOMEMLIMIT (then Go's own
// reading of them stands). walletgate's live heap is small (15-30 MB under a full load) and its garbage is per
// request, so with Go's default of GOGC=100 the collector ran many short cycles and took several percent of the
// CPU the switch's requests need. GOGC=400 collects a quarter as often; the soft limit makes the collector work
// harder again long before the heap could approach the 256 MB a walletgate process is meant to stay under. The
// limit only applies once the ledger is open: Open's consistency check keeps ~190 MB of bookkeeping on a 17.7 GB
// ledger, and a collector held under the limit meanwhile would run almost without pause and slow the start.
const (
	serveGCPercent   = 400
	serveMemoryLimit = 192 << 20
)

// tuneGC sets GOGC now and returns the function that sets the memory limit, to be called once the ledger is open.
func tuneGC(getenv func(string) string) (afterOpen func()) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	return func() {
		if getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(serveMemoryLimit)
		}
	}
}
