package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestPartnerSettings: the partner settings refuse incomplete credentials and malformed tuning before anything
// starts, take flags over the environment, and never print a credential.
func TestPartnerSettings(t *testing.T) {
	const key = "run-partner-K3y-11"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // substring of the usage error; "" = valid
	}{
		{name: "nothing configured", want: ""},
		{name: "connector without credentials", env: map[string]string{"WALLETGATE_CONNECTOR_URL": "http://c"}, want: "WALLETGATE_CONNECTOR_API_KEY"},
		{name: "virtual account without classifications", env: map[string]string{"WALLETGATE_VA_URL": "http://v", "WALLETGATE_VA_TOKEN": "t"}, want: "_DEBIT_CLASSIFICATION"},
		{name: "BestCash without a secret", env: map[string]string{"WALLETGATE_BESTCASH_URL": "http://b", "WALLETGATE_BESTCASH_API_KEY": "k"}, want: "WALLETGATE_BESTCASH_API_KEY and _API_SECRET"},
		{name: "malformed backoff", env: map[string]string{"WALLETGATE_OUTBOX_BACKOFF": "soon"}, want: "WALLETGATE_OUTBOX_BACKOFF"},
		{name: "zero attempts", env: map[string]string{"WALLETGATE_OUTBOX_MAX_ATTEMPTS": "0"}, want: "WALLETGATE_OUTBOX_MAX_ATTEMPTS"},
		{name: "negative timeout flag", args: []string{"--partner-timeout", "-1s"}, want: "must be positive"},
		{name: "all three", env: map[string]string{
			"WALLETGATE_CONNECTOR_URL": "http://c", "WALLETGATE_CONNECTOR_API_KEY": "ck-secret-1", "WALLETGATE_CONNECTOR_USER": "u", "WALLETGATE_CONNECTOR_PASSWORD": "cp-secret-2",
			"WALLETGATE_VA_URL": "http://v", "WALLETGATE_VA_TOKEN": "vt-secret-3", "WALLETGATE_VA_DEBIT_CLASSIFICATION": "D", "WALLETGATE_VA_CREDIT_CLASSIFICATION": "C",
			"WALLETGATE_BESTCASH_URL": "http://b", "WALLETGATE_BESTCASH_API_KEY": "bk-secret-4", "WALLETGATE_BESTCASH_API_SECRET": "bs-secret-5",
			"WALLETGATE_OUTBOX_BACKOFF": "250ms"}, args: []string{"--outbox-max-attempts", "3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"WALLETGATE_MAC_KEY": key}
			for k, v := range tc.env {
				env[k] = v
			}
			var cfg config
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(new(bytes.Buffer))
			cfg.bind(fs, envFunc(env))
			err := parseFlags(fs, tc.args)
			if err == nil {
				err = cfg.validate()
			}
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("valid settings refused: %v", err)
			}
			var logged bytes.Buffer
			log, _ := newLogger("info", zapcore.AddSync(&logged))
			log.Info("walletgate started", cfg.fields()...)
			for k, v := range env {
				if strings.Contains(k, "KEY") || strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN") {
					if strings.Contains(logged.String(), v) {
						t.Errorf("%s appears in the start-up line: %s", k, logged.String())
					}
				}
			}
			if tc.name == "all three" {
				if cfg.Partners.OutboxBackoff != 250*time.Millisecond || cfg.Partners.OutboxMaxAttempts != 3 {
					t.Errorf("tuning %+v", cfg.Partners)
				}
				p := newPartners(cfg.Partners, zap.NewNop(), prometheus.NewRegistry())
				if got := strings.Join(p.names(), ","); got != "connector,virtualaccount,bestcash" {
					t.Errorf("partners on: %s", got)
				}
				if p.route() == nil || p.movements(nil) == nil {
					t.Error("no route or no BestCash flows with every partner configured")
				}
			}
		})
	}
	if p := newPartners(partnerConfig{}, zap.NewNop(), prometheus.NewRegistry()); p.route() != nil || p.movements(nil) != nil {
		t.Error("without partners there must be no outbox route and no BestCash flows")
	}
}
