package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walletgate/walletgate/mac"
	"github.com/walletgate/walletgate/server"
)

// macVector is one request vector of testdata/mac.json; Request keeps the vector's member order.
type macVector struct {
	Message   string          `json:"message"`
	Algorithm string          `json:"algorithm"`
	Key       string          `json:"key"`
	Request   json.RawMessage `json:"request"`
	mac       string
}

func readVectors(t *testing.T) []macVector {
	t.Helper()
	raw, err := os.ReadFile(macVectorPath)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Requests []macVector `json:"requests"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	for i := range file.Requests {
		var r struct {
			MAC string `json:"mac"`
		}
		if err := json.Unmarshal(file.Requests[i].Request, &r); err != nil || r.MAC == "" {
			t.Fatalf("vector %d has no mac (%v)", i, err)
		}
		file.Requests[i].mac = r.MAC
	}
	if len(file.Requests) < 10 {
		t.Fatalf("%s holds %d request vectors, want 10 (5 messages x 2 algorithms)", macVectorPath, len(file.Requests))
	}
	return file.Requests
}

// vector returns the vector of message and algorithm.
func vector(t *testing.T, vs []macVector, message, algorithm string) macVector {
	t.Helper()
	for _, v := range vs {
		if v.Message == message && v.Algorithm == algorithm {
			return v
		}
	}
	t.Fatalf("no %s/%s vector in %s", message, algorithm, macVectorPath)
	return macVector{}
}

// withoutMAC is the vector's request as the switch would hand it to `sign`: its mac replaced by the seed's
// placeholder, every other byte as in the file.
func (v macVector) withoutMAC(t *testing.T) []byte {
	t.Helper()
	out := bytes.Replace(v.Request, []byte(`"`+v.mac+`"`), []byte(`"hexdigest"`), 1)
	if bytes.Equal(out, v.Request) {
		t.Fatal("could not blank the vector's mac")
	}
	return out
}

// member is one top-level member of a JSON object: its name and its value, compacted.
type member struct{ name, value string }

// members lists the top-level members of the object data, in order.
func members(t *testing.T, data []byte) []member {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object (%v): %s", err, data)
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, raw); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{tok.(string), c.String()})
	}
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Fatalf("trailing data after the object: %s", data)
	}
	return ms
}

// TestSign signs the seed's sample and every vector request of testdata/mac.json and compares the printed mac with
// the vector's, which was computed independently of walletgate. Everything else must come out unchanged and in
// the same order.
func TestSign(t *testing.T) {
	vectors := readVectors(t)
	seed, err := os.ReadFile(seedDebitPath)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "mac.key")
	if err := os.WriteFile(keyFile, []byte(vectorKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type testCase struct {
		name    string
		args    []string
		env     map[string]string
		stdin   []byte
		wantMAC string
	}
	tests := []testCase{
		{name: "seed debit, sha512 by default", stdin: seed,
			env: map[string]string{"WALLETGATE_MAC_KEY": vectorKey}, wantMAC: vector(t, vectors, "debit", "sha512").mac},
		{name: "seed debit, --message debit", args: []string{"--message", "debit"}, stdin: seed,
			env: map[string]string{"WALLETGATE_MAC_KEY": vectorKey}, wantMAC: vector(t, vectors, "debit", "sha512").mac},
		{name: "seed debit, --algo sha256", args: []string{"--algo", "sha256"}, stdin: seed,
			env: map[string]string{"WALLETGATE_MAC_KEY": vectorKey}, wantMAC: vector(t, vectors, "debit", "sha256").mac},
		{name: "seed debit, WALLETGATE_MAC_ALGO=sha256", stdin: seed,
			env:     map[string]string{"WALLETGATE_MAC_KEY": vectorKey, "WALLETGATE_MAC_ALGO": "sha256"},
			wantMAC: vector(t, vectors, "debit", "sha256").mac},
		{name: "seed debit, --algo wins over the environment", args: []string{"--algo", "sha512"}, stdin: seed,
			env:     map[string]string{"WALLETGATE_MAC_KEY": vectorKey, "WALLETGATE_MAC_ALGO": "sha256"},
			wantMAC: vector(t, vectors, "debit", "sha512").mac},
		{name: "seed debit, key from WALLETGATE_MAC_KEY_FILE", stdin: seed,
			env: map[string]string{"WALLETGATE_MAC_KEY_FILE": keyFile}, wantMAC: vector(t, vectors, "debit", "sha512").mac},
	}
	for _, v := range vectors {
		tests = append(tests, testCase{
			name:    "vector " + v.Message + " " + v.Algorithm,
			args:    []string{"--message", v.Message, "--algo", v.Algorithm},
			env:     map[string]string{"WALLETGATE_MAC_KEY": v.Key},
			stdin:   v.withoutMAC(t),
			wantMAC: v.mac,
		})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"sign"}, tc.args...), bytes.NewReader(tc.stdin), &stdout, &stderr, envFunc(tc.env))
			if err != nil {
				t.Fatalf("sign: %v; stderr: %s", err, stderr.String())
			}
			out := stdout.Bytes()
			if !bytes.HasSuffix(out, []byte("}\n")) {
				t.Fatalf("stdout is not one JSON object and a newline: %q", out)
			}
			got, in := members(t, out), members(t, tc.stdin)
			if len(got) != len(in) {
				t.Fatalf("%d members out, %d in:\nout %s\nin  %s", len(got), len(in), out, tc.stdin)
			}
			for i := range in {
				if got[i].name != in[i].name {
					t.Fatalf("member %d is %q, want %q (order must be kept)", i, got[i].name, in[i].name)
				}
				if in[i].name == "mac" {
					if want := `"` + tc.wantMAC + `"`; got[i].value != want {
						t.Errorf("mac = %s, want the vector's %s", got[i].value, want)
					}
					continue
				}
				if got[i].value != in[i].value {
					t.Errorf("member %q = %s, want it unchanged: %s", in[i].name, got[i].value, in[i].value)
				}
			}
		})
	}
}

// TestSignErrors: without a key, or with a body that is not one JSON object, sign prints nothing on stdout.
func TestSignErrors(t *testing.T) {
	seed, err := os.ReadFile(seedDebitPath)
	if err != nil {
		t.Fatal(err)
	}
	withKey := map[string]string{"WALLETGATE_MAC_KEY": vectorKey}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		stdin     []byte
		wantUsage bool
		is        error
		want      string
	}{
		{name: "no key", stdin: seed, wantUsage: true, want: "WALLETGATE_MAC_KEY"},
		{name: "missing key file", stdin: seed, env: map[string]string{"WALLETGATE_MAC_KEY_FILE": filepath.Join(t.TempDir(), "nope")},
			wantUsage: true, is: os.ErrNotExist},
		{name: "unknown message", args: []string{"--message", "refund"}, stdin: seed, env: withKey, wantUsage: true, is: mac.ErrUnknownMessage},
		{name: "unknown algorithm", args: []string{"--algo", "md5"}, stdin: seed, env: withKey, wantUsage: true, is: mac.ErrUnknownAlgorithm},
		{name: "not JSON", stdin: []byte("requestId=1&amount=100"), env: withKey, is: server.ErrNotObject},
		{name: "empty input", stdin: nil, env: withKey, is: server.ErrNotObject},
		{name: "a JSON array", stdin: []byte(`[{"requestId":"1"}]`), env: withKey, is: server.ErrNotObject},
		{name: "trailing data", stdin: append(append([]byte(nil), seed...), "{}"...), env: withKey, is: server.ErrNotObject},
		{name: "the seed as printed (malformed)", stdin: readFile(t, "../../testdata/seed/debit_approved_malformed.txt"), env: withKey, is: server.ErrNotObject},
		{name: "larger than a switch message", stdin: []byte(`{"requestId":"` + strings.Repeat("1", server.MaxBodyBytes) + `"}`), env: withKey, want: "larger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"sign"}, tc.args...), bytes.NewReader(tc.stdin), &stdout, &stderr, envFunc(tc.env))
			if err == nil {
				t.Fatalf("sign succeeded: %s", stdout.String())
			}
			var u usageError
			if got := errors.As(err, &u); got != tc.wantUsage {
				t.Errorf("usageError = %v, want %v (%v)", got, tc.wantUsage, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if strings.Contains(err.Error()+stderr.String(), vectorKey) {
				t.Errorf("the key appears in the error or on stderr: %v %s", err, stderr.String())
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
