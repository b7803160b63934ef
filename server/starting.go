package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// startingReason is /readyz's reason while the ledger opens.
const startingReason = "starting: the ledger is being opened and checked"

// StartingOps is the ops listener's handler while the ledger opens, which on a large ledger takes minutes (Open's
// consistency check reads the whole file): GET /healthz answers 200 (the process is up, CONTRACT 4), GET /readyz 503
// with the reason (the ledger is not open yet), GET /metrics the registry g (nil: none), and every other path 503
// storage_unavailable, the admin API's answer when the ledger cannot be used. Nothing is read or written. The
// caller serves Ops in its place once the ledger is open.
func StartingOps(g MetricsGatherer) http.Handler {
	e := newEcho()
	e.GET("/healthz", healthz)
	e.GET("/readyz", func(c echo.Context) error { return notReady(c, startingReason) })
	serveMetrics(e, g)
	e.RouteNotFound("/*", func(c echo.Context) error {
		ae := apiErr(http.StatusServiceUnavailable, "storage_unavailable",
			"the ledger is still opening; try again once /readyz answers 200")
		return c.JSON(ae.Status, map[string]*apiError{"error": ae})
	})
	return e
}
