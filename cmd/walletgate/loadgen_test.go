package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/loadgen"
)

const seedDir = "../../testdata/seed"

// TestLoadgenAgainstServe runs `walletgate serve` and `walletgate loadgen` in-process: a few hundred requests, the
// JSON report's counts and code mix, the conservation check, and no secret on either output.
func TestLoadgenAgainstServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "walletgate.db")
	env := map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_ADMIN_TOKEN": inProcToken, "WALLETGATE_DB": db}
	s := startServe(t, env, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"loadgen", "--target", "http://" + s.switchAddr, "--ops", "http://" + s.opsAddr,
		"--samples", seedDir, "--setup-wallets", "10", "--requests", "300", "--duration", "0", "--concurrency", "8",
		"--mix", "approve=80,insufficient=10,replay=5,reversal=5", "--json", "--progress", "off"},
		strings.NewReader(""), &stdout, &stderr, envFunc(env))
	if err != nil {
		t.Fatalf("loadgen: %v\nstderr: %s", err, stderr.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	if rep.Requests != 300 || rep.Errors != 0 || rep.Codes["00"]+rep.Codes["51"] != 300 {
		t.Errorf("requests %d errors %d codes %v, want 300 answered 00 or 51", rep.Requests, rep.Errors, rep.Codes)
	}
	if got := rep.Kinds["insufficient"]; got["51"] == 0 || len(got) != 1 {
		t.Errorf("insufficient: %v, want only 51", got)
	}
	c := rep.Conservation
	if c == nil || !c.OK || c.Audit == nil || !c.Audit.OK || c.Wallets != 10 || c.ExpectedDrop != c.ActualDrop {
		t.Fatalf("conservation %+v", c)
	}
	for _, out := range []string{stdout.String(), stderr.String(), s.stderr.String()} {
		if strings.Contains(out, inProcKey) || strings.Contains(out, inProcToken) {
			t.Fatal("a secret reached the output")
		}
	}
	s.stop(t)
	l, err := ledger.Open(db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if a, err := l.Audit(context.Background()); err != nil || !a.OK || a.Wallets != 10 {
		t.Errorf("ledger after the load: %+v %v", a, err)
	}
}

func TestLoadgenUsage(t *testing.T) {
	env := map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_ADMIN_TOKEN": inProcToken}
	base := []string{"loadgen", "--samples", seedDir}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"remote target", env, []string{"--target", "http://10.1.2.3:8080", "--setup-wallets", "1"}, "not this machine"},
		{"remote ops", env, []string{"--ops", "http://example.com", "--setup-wallets", "1"}, "not this machine"},
		{"not a URL", env, []string{"--target", "127.0.0.1:8080", "--setup-wallets", "1"}, "not an http(s) base URL"},
		{"no wallets", env, nil, "--setup-wallets N or --wallets PREFIX:N"},
		{"both wallet flags", env, []string{"--setup-wallets", "1", "--wallets", "pw:10"}, "do not go together"},
		{"bad wallets", env, []string{"--wallets", "pw"}, "PREFIX:N"},
		{"bad mix", env, []string{"--setup-wallets", "1", "--mix", "lien=1"}, "unknown kind"},
		{"no bound", env, []string{"--setup-wallets", "1", "--duration", "0"}, "--duration or --requests"},
		{"no token", map[string]string{"WALLETGATE_MAC_KEY": inProcKey}, []string{"--setup-wallets", "1"}, "admin token"},
		{"no key", map[string]string{"WALLETGATE_ADMIN_TOKEN": inProcToken}, []string{"--setup-wallets", "1"}, "no MAC key"},
		{"no samples", env, []string{"--samples", "/nonexistent", "--setup-wallets", "1"}, "samples"},
		{"populate without db", env, []string{"--populate"}, "--db"},
		{"progress", env, []string{"--setup-wallets", "1", "--progress", "sometimes"}, "--progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append(append([]string{}, base...), tt.args...), strings.NewReader(""),
				&stdout, &stderr, envFunc(tt.env))
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want a usage error naming %q", err, tt.want)
			}
			if strings.Contains(err.Error()+stderr.String(), inProcKey) || strings.Contains(err.Error()+stderr.String(), inProcToken) {
				t.Error("a secret reached the output")
			}
		})
	}
}

// TestLoadgenPopulate builds a small measurement ledger through the command.
func TestLoadgenPopulate(t *testing.T) {
	db := filepath.Join(t.TempDir(), "big.db")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"loadgen", "--populate", "--samples", seedDir, "--db", db,
		"--populate-wallets", "40", "--populate-entries", "200", "--prefix", "pq"}, strings.NewReader(""), &stdout,
		&stderr, envFunc(map[string]string{"WALLETGATE_MAC_KEY": inProcKey}))
	if err != nil {
		t.Fatalf("populate: %v\n%s", err, stderr.String())
	}
	var rep loadgen.PopulateReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Wallets != 40 || rep.Debits != 160 || rep.Entries != 200 || !rep.AuditOK || rep.DBBytes == 0 {
		t.Errorf("populate report %+v", rep)
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"loadgen", "--audit-db", db}, strings.NewReader(""), &stdout, &stderr,
		envFunc(nil)); err != nil {
		t.Fatalf("--audit-db: %v", err)
	}
	var audit struct {
		OK      bool   `json:"ok"`
		Entries uint64 `json:"entries"`
		Wallets int    `json:"wallets"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &audit); err != nil || !audit.OK || audit.Entries != 200 || audit.Wallets != 40 {
		t.Errorf("--audit-db: %+v %v\n%s", audit, err, stdout.String())
	}
}

func TestPickWallets(t *testing.T) {
	ids := pickWallets("pw", 1000, 50)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || !strings.HasPrefix(id, "pw") || len(id) != 9 {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	if len(ids) != 50 {
		t.Errorf("%d ids, want 50", len(ids))
	}
	if all := pickWallets("pw", 5, 10); len(all) != 5 || all[0] != "pw0000000" || all[4] != "pw0000004" {
		t.Errorf("k >= n must give every wallet in order: %v", all)
	}
}
