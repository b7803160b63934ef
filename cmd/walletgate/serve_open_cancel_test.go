package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// serveConfig reads serve's settings from env and args, as serve does.
func serveConfig(t *testing.T, env map[string]string, args ...string) (*config, *mac.Keys) {
	t.Helper()
	var cfg config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.bind(fs, envFunc(env))
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	keys, err := cfg.keys()
	if err != nil {
		t.Fatal(err)
	}
	return &cfg, keys
}

// sha256File is the SHA-256 of the file at path.
func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// runServerResult runs runServer in a goroutine and returns its result, failing the test if it takes longer than
// 10 s; ready records that it was called.
func runServerResult(t *testing.T, ctx context.Context, cfg *config, keys *mac.Keys, stderr io.Writer) (readyCalled bool, err error) {
	t.Helper()
	log, err := newLogger("info", zapcore.AddSync(stderr))
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- runServer(ctx, cfg, keys, log, func(*app) error { ready.Store(true); return errors.New("test: started") })
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("runServer did not return within 10s")
	}
	return ready.Load(), err
}

// TestServeStoppedDuringOpen: a stop asked for while serve opens the ledger (here: before it begins) gives up the
// start-up with nothing written, logs why, and is not a failure: runServer (and run, so the process exits 0) return
// nil without starting anything. Any other failure to open the ledger is still an error.
func TestServeStoppedDuringOpen(t *testing.T) {
	db := filepath.Join(t.TempDir(), "walletgate.db")
	l, err := ledger.Open(db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateWallet(context.Background(), ledger.NewWallet{ID: "w1", Currency: "566", Name: "W One"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	before := sha256File(t, db)
	env := map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_ADMIN_TOKEN": inProcToken, "WALLETGATE_DB": db}
	args := []string{"--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}
	cfg, keys := serveConfig(t, env, args...)
	stopped, cancel := context.WithCancel(context.Background())
	cancel()

	t.Run("runServer", func(t *testing.T) {
		stderr := newLineSink()
		start := time.Now()
		readyCalled, err := runServerResult(t, stopped, cfg, keys, stderr)
		t.Logf("runServer returned %v in %v; stderr:\n%s", err, time.Since(start).Round(time.Microsecond), stderr.String())
		if err != nil {
			t.Errorf("runServer = %v, want nil: a stop during the start-up is not a failure", err)
		}
		if readyCalled {
			t.Error("ready was called")
		}
		logs := stderr.String()
		if !strings.Contains(logs, `"msg":"stopped during start-up, before the ledger was open: nothing was written to it"`) ||
			!strings.Contains(logs, `"level":"info"`) {
			t.Errorf("no info line saying the start-up was stopped:\n%s", logs)
		}
		if strings.Contains(logs, "walletgate started") {
			t.Errorf("it started:\n%s", logs)
		}
		if strings.Contains(logs, inProcKey) || strings.Contains(logs, inProcToken) {
			t.Errorf("a secret appears on stderr:\n%s", logs)
		}
		if sha256File(t, db) != before {
			t.Fatal("the ledger file changed")
		}
	})

	t.Run("run serve", func(t *testing.T) { // what main turns into exit code 0
		stderr := newLineSink()
		err := run(stopped, append([]string{"serve"}, args...), strings.NewReader(""), &bytes.Buffer{}, stderr, envFunc(env))
		if err != nil {
			t.Errorf("run serve = %v, want nil; stderr:\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "stopped during start-up") {
			t.Errorf("no line saying the start-up was stopped:\n%s", stderr.String())
		}
		if sha256File(t, db) != before {
			t.Fatal("the ledger file changed")
		}
	})

	// Nothing holds the file: it opens at once, with its wallet.
	l, err = ledger.Open(db, ledger.Options{OpenTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after the stopped start-ups: %v", err)
	}
	if _, err := l.Wallet(context.Background(), "w1"); err != nil {
		t.Errorf("Wallet(w1): %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("other open failures still fail", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty.db")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, keys := serveConfig(t, map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_DB": empty}, args...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		readyCalled, err := runServerResult(t, ctx, cfg, keys, io.Discard)
		if !errors.Is(err, ledger.ErrCorrupt) {
			t.Errorf("runServer on a 0-byte ledger = %v, want ErrCorrupt", err)
		}
		if readyCalled {
			t.Error("ready was called")
		}
	})
}
