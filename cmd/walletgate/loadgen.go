package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/loadgen"
	"github.com/walletgate/walletgate/mac"
)

// errConservation makes `walletgate loadgen` exit non-zero when money did not add up.
var errConservation = errors.New("conservation check failed")

// loadgenCmd is `walletgate loadgen`: a load against a running walletgate, or (--populate) a large ledger built for
// measurements.
func loadgenCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "switch API base URL")
	ops := fs.String("ops", "http://127.0.0.1:9090", "ops listener base URL (admin API)")
	var token secret = secret(getenv("WALLETGATE_ADMIN_TOKEN"))
	fs.Var(secretFlag{&token}, "admin-token", "admin API bearer token (WALLETGATE_ADMIN_TOKEN)")
	var keyCfg config
	keyCfg.MACKey = secret(getenv("WALLETGATE_MAC_KEY"))
	keyCfg.MACKeyFile = getenv("WALLETGATE_MAC_KEY_FILE")
	fs.StringVar(&keyCfg.MACAlgo, "algo", firstNonEmpty(getenv("WALLETGATE_MAC_ALGO"), string(mac.SHA512)), "sha512 or sha256 (WALLETGATE_MAC_ALGO)")
	samples := fs.String("samples", "testdata/seed", "directory of the seed's sample requests")
	concurrency := fs.Int("concurrency", 64, "requests in flight (connections)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send (0: until --requests)")
	requests := fs.Int64("requests", 0, "how many requests to send (0: until --duration)")
	rate := fs.Float64("rate", 0, "fixed rate in requests per second (0: as fast as answers come)")
	mixFlag := fs.String("mix", loadgen.DefaultMix().String(), "shares of approve, insufficient, replay, reversal, enquiry")
	setupWallets := fs.Int("setup-wallets", 0, "create and fund N new wallets through the admin API and load them")
	walletsFlag := fs.String("wallets", "", "load existing wallets PREFIX:N (PREFIX0000000 ...), e.g. made by --populate")
	sample := fs.Int("sample", 10000, "with --wallets: load this many of them, drawn at random")
	fund := fs.Int64("fund", 1_000_000_000, "minor units credited to each --setup-wallets wallet")
	amount := fs.Int64("amount", 100, "principal of each approved debit, minor units")
	fee := fs.Int64("fee", 0, "transactionFee of each debit, minor units")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	progress := fs.String("progress", "auto", "a progress line every second: auto (on a terminal), on, off")
	ceiling := fs.Bool("ceiling", false, "also load an in-process minimal handler in alternating rounds; report ratios")
	rounds := fs.Int("rounds", 4, "with --ceiling: rounds per target")
	skipAudit := fs.Bool("skip-audit", false, "leave the audit out of the conservation check")
	allowRemote := fs.Bool("allow-remote", false, "allow a target that is not this machine")
	populate := fs.Bool("populate", false, "build a ledger file for measurements instead of sending load (see README)")
	db := fs.String("db", "", "with --populate: the ledger file to build (walletgate must not be running on it)")
	popWallets := fs.Int("populate-wallets", 1_000_000, "with --populate: wallets")
	popEntries := fs.Int64("populate-entries", 10_000_000, "with --populate: journal entries in all")
	prefix := fs.String("prefix", "pw", "with --populate: wallet id prefix")
	auditDB := fs.String("audit-db", "", "audit this ledger file offline (walletgate stopped) and print the result")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *auditDB != "" {
		return auditFile(ctx, *auditDB, stdout)
	}
	keys, err := keyCfg.keys()
	if err != nil {
		return usageError{err}
	}
	tmpl, err := loadgen.LoadTemplate(*samples)
	if err != nil {
		return usageError{err}
	}
	var progressW io.Writer
	switch *progress {
	case "on":
		progressW = stderr
	case "auto":
		if isTerminal(stderr) {
			progressW = stderr
		}
	case "off":
	default:
		return usageError{fmt.Errorf("--progress must be auto, on or off")}
	}

	if *populate {
		if *db == "" {
			return usageError{errors.New("--populate needs --db")}
		}
		rep, err := loadgen.Populate(ctx, loadgen.PopulateConfig{DB: *db, Keys: keys, Template: tmpl, Prefix: *prefix,
			Wallets: *popWallets, Entries: *popEntries, Amount: *amount, Progress: progressW})
		out, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
		if err == nil && !rep.AuditOK {
			err = errors.New("populate: the audit is not green")
		}
		return err
	}

	for _, u := range []string{*target, *ops} {
		if err := checkTarget(u, *allowRemote); err != nil {
			return usageError{err}
		}
	}
	if token == "" {
		return usageError{errors.New("the admin token is required (WALLETGATE_ADMIN_TOKEN or --admin-token)")}
	}
	mix, err := loadgen.ParseMix(*mixFlag)
	if err != nil {
		return usageError{err}
	}
	if *duration <= 0 && *requests <= 0 {
		return usageError{errors.New("give --duration or --requests")}
	}
	cfg := loadgen.Config{Target: strings.TrimRight(*target, "/"), Ops: strings.TrimRight(*ops, "/"),
		AdminToken: string(token), Keys: keys, Template: tmpl, Concurrency: *concurrency, Duration: *duration,
		Requests: *requests, Rate: *rate, Mix: mix, Fund: *fund, Amount: *amount, Fee: *fee, SkipAudit: *skipAudit,
		Progress: progressW}
	if *ceiling {
		if *rounds < 1 {
			return usageError{errors.New("--rounds must be at least 1")}
		}
		cfg.CeilingRounds = *rounds
	}
	switch {
	case *setupWallets > 0 && *walletsFlag != "":
		return usageError{errors.New("--setup-wallets and --wallets do not go together")}
	case *setupWallets > 0:
		cfg.RunID = "lg" + strconv.FormatInt(time.Now().UnixMilli(), 36)
		cfg.Wallets, cfg.SetupWallets = loadgen.WalletIDs(cfg.RunID+"w", 0, *setupWallets), true
	case *walletsFlag != "":
		p, n, ok := strings.Cut(*walletsFlag, ":")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count <= 0 {
			return usageError{errors.New("--wallets must be PREFIX:N")}
		}
		cfg.Wallets = pickWallets(p, count, *sample)
	default:
		return usageError{errors.New("give --setup-wallets N or --wallets PREFIX:N")}
	}

	rep, err := loadgen.Run(ctx, cfg)
	if rep != nil {
		if *jsonOut {
			out, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Fprintf(stdout, "%s\n", out)
		} else {
			rep.WriteText(stdout)
		}
	}
	if err != nil {
		return err
	}
	if rep.Conservation != nil && !rep.Conservation.OK {
		return errConservation
	}
	return nil
}

// auditFile runs the ledger's audit on a file no server holds: on a large ledger it reads every journal entry, longer
// than the ops listener's write timeout allows GET /admin/audit.
func auditFile(ctx context.Context, path string, stdout io.Writer) error {
	if _, err := os.Stat(path); err != nil {
		return usageError{err}
	}
	l, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	start := time.Now()
	rep, err := l.Audit(ctx)
	if err != nil {
		return err
	}
	out, _ := json.MarshalIndent(map[string]any{"ok": rep.OK, "entries": rep.Entries, "wallets": rep.Wallets,
		"problems": rep.Problems, "seconds": time.Since(start).Seconds()}, "", "  ")
	fmt.Fprintf(stdout, "%s\n", out)
	if !rep.OK {
		return errors.New("the audit is not green")
	}
	return nil
}

// pickWallets draws k distinct ids of the n wallets prefix0000000.. at random (all of them when k >= n), so a load
// over a large ledger touches pages all over the file.
func pickWallets(prefix string, n, k int) []string {
	if k <= 0 || k >= n {
		return loadgen.WalletIDs(prefix, 0, n)
	}
	seen := make(map[int]bool, k)
	ids := make([]string, 0, k)
	for len(ids) < k {
		i := rand.IntN(n)
		if !seen[i] {
			seen[i] = true
			ids = append(ids, loadgen.WalletIDs(prefix, i, 1)[0])
		}
	}
	return ids
}

// checkTarget refuses a URL that is not http(s) on this machine, unless remote targets are allowed: a load tool
// that moves money should not be pointed elsewhere by a typo.
func checkTarget(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) base URL", raw)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%s is not this machine (--allow-remote to load it anyway)", raw)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
