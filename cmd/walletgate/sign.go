package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/server"
)

// sign reads one switch request on stdin and prints it with its "mac" set, the other members as they were.
func sign(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	message := fs.String("message", string(mac.Debit), "debit, reversal, enquiry, lienplace or liendebit")
	var cfg config
	cfg.MACKey = secret(getenv("WALLETGATE_MAC_KEY"))
	cfg.MACKeyFile = getenv("WALLETGATE_MAC_KEY_FILE")
	fs.StringVar(&cfg.MACAlgo, "algo", firstNonEmpty(getenv("WALLETGATE_MAC_ALGO"), string(mac.SHA512)), "sha512 or sha256 (WALLETGATE_MAC_ALGO)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := mac.ParseMessage(*message)
	if err != nil {
		return usageError{err}
	}
	keys, err := cfg.keys()
	if err != nil {
		return usageError{err}
	}
	body, err := io.ReadAll(io.LimitReader(stdin, server.MaxBodyBytes+1))
	if err != nil {
		return err
	}
	if len(body) > server.MaxBodyBytes {
		return fmt.Errorf("request larger than %d bytes", server.MaxBodyBytes)
	}
	r, err := server.DecodeRequest(body)
	if err != nil {
		return err
	}
	out, err := server.SetMAC(body, keys.Sign(mac.Current, mac.Values(m, r.Text)...))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
