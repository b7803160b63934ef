package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultOpsURL is where the tools find the admin API when WALLETGATE_OPS_URL is unset (the ops listener's default).
const defaultOpsURL = "http://127.0.0.1:9090"

// opsOptions are the flags every admin-API command shares.
type opsOptions struct {
	URL     string
	Token   secret
	JSON    bool
	Timeout time.Duration
}

func (o *opsOptions) bind(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&o.URL, "ops-url", firstNonEmpty(getenv("WALLETGATE_OPS_URL"), defaultOpsURL), "base URL of the ops listener (WALLETGATE_OPS_URL)")
	o.Token = secret(getenv("WALLETGATE_ADMIN_TOKEN"))
	fs.Var(secretFlag{&o.Token}, "admin-token", "bearer token of the admin API (WALLETGATE_ADMIN_TOKEN)")
	fs.BoolVar(&o.JSON, "json", false, "print the admin API's JSON (amounts in minor units) instead of a table")
	def := o.Timeout // a command may preset a longer default
	if def == 0 {
		def = 30 * time.Second
	}
	fs.DurationVar(&o.Timeout, "timeout", def, "give up on the admin API after this long")
}

// client checks the options and returns a client of the admin API.
func (o *opsOptions) client() (*opsClient, error) {
	if o.Token == "" {
		return nil, usageError{errors.New("no admin token: set WALLETGATE_ADMIN_TOKEN (or --admin-token)")}
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("WALLETGATE_OPS_URL %q: want http(s)://host:port", o.URL)}
	}
	return &opsClient{base: strings.TrimRight(u.String(), "/"), token: o.Token,
		http: &http.Client{Timeout: o.Timeout}}, nil
}

// opsClient calls walletgate's admin API (CONTRACT section 2).
type opsClient struct {
	base  string
	token secret
	http  *http.Client
}

// apiError is an error answer of the admin API. It never holds the token.
type apiError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		msg += " " + e.Code + ": " + e.Message
	}
	switch e.Status {
	case http.StatusUnauthorized:
		msg += " (check WALLETGATE_ADMIN_TOKEN)"
	case http.StatusNotFound:
		if e.Code == "not_found" {
			msg += " (is the admin API on? the server needs WALLETGATE_ADMIN_TOKEN)"
		}
	}
	return msg
}

// request sends one call and returns the answer with a 2xx status; any other status is an *apiError. The caller
// closes the body.
func (c *opsClient) request(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+string(c.token))
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	ae := &apiError{Method: method, Path: path, Status: resp.StatusCode}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
		ae.Code, ae.Message = e.Error.Code, e.Error.Message
	}
	return nil, ae
}

// call sends one call and returns the answer's JSON body.
func (c *opsClient) call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	resp, err := c.request(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%s %s: the answer is not JSON (%d bytes)", method, path, len(raw))
	}
	return raw, nil
}

// printJSON writes an answer indented, for scripts (--json).
func printJSON(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// parseArgs parses flags and positional arguments in any order ("wallet show w1 --json" as well as
// "wallet show --json w1") and checks the number of positional arguments.
func parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != len(names) {
		return nil, usageError{fmt.Errorf("want %d argument(s) (%s), got %d", len(names), strings.Join(names, " "), len(pos))}
	}
	return pos, nil
}
