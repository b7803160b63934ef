package main

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestLienTTLSetting(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"default is seven days", nil, nil, 168 * time.Hour},
		{"from the environment", map[string]string{"WALLETGATE_LIEN_TTL": "72h"}, nil, 72 * time.Hour},
		{"the flag wins", map[string]string{"WALLETGATE_LIEN_TTL": "72h"}, []string{"--lien-ttl", "30m"}, 30 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg config
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.bind(fs, func(k string) string { return tc.env[k] })
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			if cfg.LienTTL != tc.want {
				t.Errorf("LienTTL = %s, want %s", cfg.LienTTL, tc.want)
			}
		})
	}
}
