package server

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestPprofBehindAdminToken(t *testing.T) {
	h := newHarness(t)
	bearer := "Bearer " + testAdminToken
	paths := []string{"/debug/pprof", "/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap",
		"/debug/pprof/mutex", "/debug/pprof/block", "/debug/pprof/symbol"}
	for _, p := range paths {
		t.Run("no token "+p, func(t *testing.T) {
			opsWantError(t, opsDo(h, http.MethodGet, p, "", ""), http.StatusUnauthorized, "unauthorized")
			opsWantError(t, opsDo(h, http.MethodGet, p, "", "Bearer wrong"), http.StatusUnauthorized, "unauthorized")
		})
		t.Run("token "+p, func(t *testing.T) {
			rec := opsDo(h, http.MethodGet, p, "", bearer)
			if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
				t.Fatalf("HTTP %d, %d bytes", rec.Code, rec.Body.Len())
			}
		})
	}
	t.Run("index lists the profiles", func(t *testing.T) {
		body := opsDo(h, http.MethodGet, "/debug/pprof/", "", bearer).Body.String()
		for _, want := range []string{"goroutine", "heap", "mutex", "block", "profile"} {
			if !strings.Contains(body, want) {
				t.Errorf("index lacks %q", want)
			}
		}
	})
	t.Run("goroutine dump is the real one", func(t *testing.T) {
		body := opsDo(h, http.MethodGet, "/debug/pprof/goroutine?debug=2", "", bearer).Body.String()
		if !strings.Contains(body, "goroutine ") || !strings.Contains(body, "ledger.(*Ledger).run") {
			t.Errorf("goroutine dump without the ledger's writer:\n%.400s", body)
		}
	})
	t.Run("cmdline is not served", func(t *testing.T) {
		opsWantError(t, opsDo(h, http.MethodGet, "/debug/pprof/cmdline", "", bearer), http.StatusNotFound, "not_found")
	})
	t.Run("unknown profile", func(t *testing.T) {
		if rec := opsDo(h, http.MethodGet, "/debug/pprof/nosuch", "", bearer); rec.Code != http.StatusNotFound {
			t.Errorf("HTTP %d, want 404", rec.Code)
		}
	})
}

func TestPprofRates(t *testing.T) {
	h := newHarness(t)
	bearer := "Bearer " + testAdminToken
	prev := runtime.SetMutexProfileFraction(-1)
	t.Cleanup(func() {
		runtime.SetMutexProfileFraction(prev)
		runtime.SetBlockProfileRate(0)
		blockRate.Store(0)
	})
	opsWantError(t, opsDo(h, http.MethodPost, "/debug/pprof/rates?mutex=5", "", ""), http.StatusUnauthorized, "unauthorized")
	for _, bad := range []string{"mutex=-1", "block=x", "mutex=1.5"} {
		t.Run(bad, func(t *testing.T) {
			opsWantError(t, opsDo(h, http.MethodPost, "/debug/pprof/rates?"+bad, "", bearer), http.StatusBadRequest, "invalid_request")
		})
	}
	rec := opsDo(h, http.MethodPost, "/debug/pprof/rates?mutex=7&block=1000", "", bearer)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d %s", rec.Code, rec.Body.String())
	}
	if got := runtime.SetMutexProfileFraction(-1); got != 7 {
		t.Errorf("mutex fraction %d, want 7", got)
	}
	rec = opsDo(h, http.MethodPost, "/debug/pprof/rates?mutex=0&block=0", "", bearer)
	if !strings.Contains(rec.Body.String(), `"previousMutex":7`) || !strings.Contains(rec.Body.String(), `"previousBlock":1000`) {
		t.Errorf("answer %s, want the previous rates 7 and 1000", rec.Body.String())
	}
	if got := runtime.SetMutexProfileFraction(-1); got != 0 {
		t.Errorf("mutex fraction %d after turning it off", got)
	}
}

func TestPprofOffWithoutAdminToken(t *testing.T) {
	h := newHarness(t, withAdminToken(""))
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap"} {
		if rec := opsDo(h, http.MethodGet, p, "", "Bearer "+testAdminToken); rec.Code != http.StatusNotFound {
			t.Errorf("%s: HTTP %d, want 404 with the admin API off", p, rec.Code)
		}
	}
}
