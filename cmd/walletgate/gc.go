package main

import (
	"runtime/debug"
)

// Garbage collector settings for a serving process, unless the operator set GOGC or GOMEMLIMIT (then Go's own
// reading of them stands). walletgate's live heap is small (15-30 MB under a full load) and its garbage is per
// request, so with Go's default of GOGC=100 the collector ran many short cycles and took several percent of the
// CPU the switch's requests need. GOGC=400 collects a quarter as often; the soft limit makes the collector work
// harder again long before the heap could approach the 256 MB a walletgate process is meant to stay under.
const (
	serveGCPercent   = 400
	serveMemoryLimit = 192 << 20
)

func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
}
