package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"regexp"
	"testing"

	"github.com/walletgate/walletgate/mac"
)

// The signed samples of testdata/switch carry real MACs under the test key (testKey, sha512), so they can be
// pasted into curl against `walletgate serve` with that key. After editing a sample, refresh its MAC with
//
//	go test ./server -run TestSwitchSamples -update
var updateSamples = flag.Bool("update", false, "rewrite the MACs of testdata/switch samples")

var sampleMAC = regexp.MustCompile(`"mac":\s*"[0-9a-fA-F]*"`)

var switchSamples = []struct {
	file string
	path string
	mac  mac.Message
}{
	{"enquiry.json", "/enquiry", mac.Enquiry},
	{"lien_place.json", "/lien/place", mac.LienPlace},
	{"lien_debit.json", "/lien/debit", mac.LienDebit},
	{"lien_release.json", "/lien/debit", mac.LienDebit},
}

// readSample returns a sample, with its MAC refreshed first when -update is given.
func readSample(t *testing.T, keys *mac.Keys, file string, m mac.Message) []byte {
	t.Helper()
	path := "../testdata/switch/" + file
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeRequest(raw)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	want := keys.Sign(mac.Current, mac.Values(m, r.Text)...)
	if *updateSamples && r.MAC != want {
		// Replace the value in place, keeping the file's layout.
		raw = sampleMAC.ReplaceAll(raw, []byte(`"mac": "`+want+`"`))
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		r.MAC = want
	}
	if r.MAC != want {
		t.Fatalf("%s: its mac is stale; run go test ./server -run TestSwitchSamples -update", file)
	}
	return raw
}

func TestSwitchSamples(t *testing.T) {
	const w = "1234567894"
	keys := mustKeys(t, mac.SHA512, testKey, "")
	samples := map[string][]byte{}
	for _, s := range switchSamples {
		samples[s.file] = readSample(t, keys, s.file, s.mac)
	}

	t.Run("enquiry, place, complete", func(t *testing.T) {
		h := newHarness(t, withKeys(keys))
		h.fund(w, "566", 500)
		steps := []struct {
			file, path, code string
			amount           int64
			ledger, held     int64
		}{
			{"enquiry.json", "/enquiry", "00", 500, 500, 0},
			{"lien_place.json", "/lien/place", "00", 300, 500, 310},
			{"enquiry.json", "/enquiry", "00", 500, 500, 310},     // a repeat: the first answer, although 310 is held now
			{"lien_debit.json", "/lien/debit", "00", 250, 240, 0}, // 250 + the held fee of 10
			{"lien_release.json", "/lien/debit", "00", 0, 240, 0}, // completed already: nothing moves
		}
		for _, s := range steps {
			rec := h.post(s.path, samples[s.file])
			a := h.decode(rec)
			if rec.Code != http.StatusOK || a.ResponseCode != s.code || a.Amount != s.amount {
				t.Fatalf("%s: HTTP %d %s, want code %s amount %d", s.file, rec.Code, rec.Body, s.code, s.amount)
			}
			h.wantWallet(w, s.ledger, s.held)
		}
	})
	t.Run("place, release", func(t *testing.T) {
		h := newHarness(t, withKeys(keys))
		h.fund(w, "566", 500)
		if a := h.decode(h.post("/lien/place", samples["lien_place.json"])); a.ResponseCode != "00" {
			t.Fatalf("place: %+v", a)
		}
		if a := h.decode(h.post("/lien/debit", samples["lien_release.json"])); a.ResponseCode != "00" {
			t.Fatalf("release: %+v", a)
		}
		h.wantWallet(w, 500, 0)
		if v := h.lookup("11123456802"); v.State != "released" || v.Lien == nil || v.Lien.ReleaseReason != "switch" {
			t.Errorf("look-up %+v", v)
		}
	})
	t.Run("samples are valid JSON objects", func(t *testing.T) {
		for file, raw := range samples {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
				t.Errorf("%s: %v", file, err)
			}
		}
	})
}
