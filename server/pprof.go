package server

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

// mountPprof serves Go's profiler under /debug/pprof on the ops listener, behind the admin token like /admin/
// (and off with it): a heap profile shows memory contents and a CPU profile costs the server time, so neither is
// for anyone who can reach the port. /debug/pprof/cmdline is left out on purpose: walletgate's command line may
// carry --mac-key or --admin-token.
//
// Mutex and block profiles stay empty until sampling is switched on, which costs a little on every contended lock:
// POST /debug/pprof/rates?mutex=N&block=NS sets runtime.SetMutexProfileFraction(N) and
// runtime.SetBlockProfileRate(NS) (0 turns them off again) and answers the previous values.
func (s *Server) mountPprof(e *echo.Echo) {
	g := e.Group("/debug/pprof", s.requireToken)
	index := echo.WrapHandler(http.HandlerFunc(pprof.Index))
	g.GET("", index)
	g.GET("/", index)
	g.GET("/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	g.GET("/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	g.GET("/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	g.POST("/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	g.POST("/rates", setProfileRates)
	g.GET("/cmdline", func(echo.Context) error {
		return apiErr(http.StatusNotFound, "not_found", "the command line is not served: it may hold secrets")
	})
	g.GET("/:name", func(c echo.Context) error {
		pprof.Handler(c.Param("name")).ServeHTTP(c.Response(), c.Request())
		return nil
	})
}

// blockRate remembers the block profile rate: the runtime has no getter for it.
var blockRate atomic.Int64

func setProfileRates(c echo.Context) error {
	parse := func(name string) (int, bool, error) {
		v := c.QueryParam(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, false, apiErr(http.StatusBadRequest, "invalid_request", "%s must be a non-negative integer", name)
		}
		return n, true, nil
	}
	mutex, setMutex, err := parse("mutex")
	if err != nil {
		return err
	}
	block, setBlock, err := parse("block")
	if err != nil {
		return err
	}
	prevMutex := runtime.SetMutexProfileFraction(-1) // -1 reads without changing
	if setMutex {
		runtime.SetMutexProfileFraction(mutex)
	}
	prevBlock := int(blockRate.Load())
	if setBlock {
		runtime.SetBlockProfileRate(block)
		blockRate.Store(int64(block))
	}
	return c.JSON(http.StatusOK, map[string]int{"previousMutex": prevMutex, "previousBlock": prevBlock})
}
