package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/mac"
)

// secret holds a credential. It never prints itself: fmt, %v, %#v and zap all see "****" (or "" when unset).
type secret string

func (s secret) String() string {
	if s == "" {
		return ""
	}
	return "****"
}

func (s secret) GoString() string { return `"` + s.String() + `"` }

// config is everything `serve` reads from the environment (CONTRACT section 3); each variable has a flag of the
// same meaning, and a flag given on the command line wins.
type config struct {
	Listen         string
	OpsListen      string
	DB             string
	MACKey         secret
	MACKeyFile     string
	MACKeyPrevious secret
	MACAlgo        string
	AdminToken     secret
	LogLevel       string
	TLSCert        string
	TLSKey         string
	TLSClientCA    string
	Partners       partnerConfig // CONTRACT 5 (partners.go)
	LienTTL        time.Duration // WALLETGATE_LIEN_TTL: how long a lien waits for its completion

	lienTTLEnvErr error // WALLETGATE_LIEN_TTL did not parse; reported by validate
}

// Defaults of CONTRACT sections 1-3.
const (
	defaultListen    = ":8080"
	defaultOpsListen = "127.0.0.1:9090"
	defaultDB        = "./data/walletgate.db"
)

type secretFlag struct{ s *secret }

func (f secretFlag) String() string {
	if f.s == nil {
		return ""
	}
	return f.s.String()
}
func (f secretFlag) Set(v string) error { *f.s = secret(v); return nil }

// bind registers the flags of cfg on fs, with defaults taken from the environment.
func (cfg *config) bind(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&cfg.Listen, "listen", env("WALLETGATE_LISTEN", defaultListen), "switch API address (WALLETGATE_LISTEN)")
	fs.StringVar(&cfg.OpsListen, "ops-listen", env("WALLETGATE_OPS_LISTEN", defaultOpsListen), "ops API address (WALLETGATE_OPS_LISTEN)")
	fs.StringVar(&cfg.DB, "db", env("WALLETGATE_DB", defaultDB), "ledger file (WALLETGATE_DB)")
	cfg.MACKey = secret(getenv("WALLETGATE_MAC_KEY"))
	fs.Var(secretFlag{&cfg.MACKey}, "mac-key", "MAC key shared with the switch (WALLETGATE_MAC_KEY; prefer the file)")
	fs.StringVar(&cfg.MACKeyFile, "mac-key-file", getenv("WALLETGATE_MAC_KEY_FILE"), "file holding the MAC key (WALLETGATE_MAC_KEY_FILE)")
	cfg.MACKeyPrevious = secret(getenv("WALLETGATE_MAC_KEY_PREVIOUS"))
	fs.Var(secretFlag{&cfg.MACKeyPrevious}, "mac-key-previous", "previous MAC key, accepted during rotation (WALLETGATE_MAC_KEY_PREVIOUS)")
	fs.StringVar(&cfg.MACAlgo, "mac-algo", env("WALLETGATE_MAC_ALGO", string(mac.SHA512)), "sha512 or sha256 (WALLETGATE_MAC_ALGO)")
	cfg.AdminToken = secret(getenv("WALLETGATE_ADMIN_TOKEN"))
	fs.Var(secretFlag{&cfg.AdminToken}, "admin-token", "bearer token of the admin API; empty: admin API off (WALLETGATE_ADMIN_TOKEN)")
	fs.StringVar(&cfg.LogLevel, "log-level", env("WALLETGATE_LOG_LEVEL", "info"), "debug, info, warn or error (WALLETGATE_LOG_LEVEL)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", getenv("WALLETGATE_TLS_CERT"), "PEM certificate of the switch listener (WALLETGATE_TLS_CERT)")
	fs.StringVar(&cfg.TLSKey, "tls-key", getenv("WALLETGATE_TLS_KEY"), "PEM key of the switch listener (WALLETGATE_TLS_KEY)")
	fs.StringVar(&cfg.TLSClientCA, "tls-client-ca", getenv("WALLETGATE_TLS_CLIENT_CA"), "PEM CA that switch client certificates must chain to (WALLETGATE_TLS_CLIENT_CA)")
	cfg.LienTTL = ledger.DefaultLienTTL
	if v := getenv("WALLETGATE_LIEN_TTL"); v != "" {
		if d, err := time.ParseDuration(v); err != nil {
			cfg.lienTTLEnvErr = err
		} else {
			cfg.LienTTL = d
		}
	}
	fs.DurationVar(&cfg.LienTTL, "lien-ttl", cfg.LienTTL, "time to live of a lien not completed, e.g. 168h (WALLETGATE_LIEN_TTL)")
	cfg.Partners.bind(fs, getenv)
}

var errNoMACKey = errors.New("no MAC key: set WALLETGATE_MAC_KEY or WALLETGATE_MAC_KEY_FILE (or --mac-key / --mac-key-file)")

// keys resolves the MAC keys. It never puts key material into its errors.
func (cfg *config) keys() (*mac.Keys, error) {
	algo, err := mac.ParseAlgorithm(cfg.MACAlgo)
	if err != nil {
		return nil, fmt.Errorf("WALLETGATE_MAC_ALGO: %w", err)
	}
	current := []byte(cfg.MACKey)
	if cfg.MACKeyFile != "" {
		if cfg.MACKey != "" {
			return nil, errors.New("set either WALLETGATE_MAC_KEY or WALLETGATE_MAC_KEY_FILE, not both")
		}
		raw, err := os.ReadFile(cfg.MACKeyFile)
		if err != nil {
			return nil, fmt.Errorf("WALLETGATE_MAC_KEY_FILE: cannot read %s: %w", cfg.MACKeyFile, errors.Unwrap(err))
		}
		current = []byte(strings.TrimRight(string(raw), "\r\n"))
	}
	if len(current) == 0 {
		return nil, errNoMACKey
	}
	return mac.NewKeys(algo, current, []byte(cfg.MACKeyPrevious))
}

func (cfg *config) validate() error {
	if cfg.lienTTLEnvErr != nil {
		return fmt.Errorf("WALLETGATE_LIEN_TTL: %w", cfg.lienTTLEnvErr)
	}
	if cfg.LienTTL <= 0 {
		return errors.New("WALLETGATE_LIEN_TTL must be a positive duration such as 168h")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("WALLETGATE_TLS_CERT and WALLETGATE_TLS_KEY go together")
	}
	if cfg.TLSClientCA != "" && cfg.TLSCert == "" {
		return errors.New("WALLETGATE_TLS_CLIENT_CA needs WALLETGATE_TLS_CERT and WALLETGATE_TLS_KEY")
	}
	return cfg.Partners.validate()
}

// fields is the start-up log line's view of cfg: every secret masked.
func (cfg *config) fields() []zap.Field {
	return append([]zap.Field{
		zap.String("listen", cfg.Listen), zap.String("opsListen", cfg.OpsListen), zap.String("db", cfg.DB),
		zap.Stringer("macKey", cfg.MACKey), zap.String("macKeyFile", cfg.MACKeyFile),
		zap.Stringer("macKeyPrevious", cfg.MACKeyPrevious), zap.String("macAlgo", cfg.MACAlgo),
		zap.Stringer("adminToken", cfg.AdminToken), zap.String("logLevel", cfg.LogLevel),
		zap.String("tlsCert", cfg.TLSCert), zap.String("tlsClientCA", cfg.TLSClientCA),
		zap.Duration("lienTTL", cfg.LienTTL),
	}, cfg.Partners.fields()...)
}

// newLogger builds the JSON logger on stderr.
func newLogger(level string, sink zapcore.WriteSyncer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("WALLETGATE_LOG_LEVEL: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), sink, lvl)
	return zap.New(core, zap.ErrorOutput(sink)), nil
}
