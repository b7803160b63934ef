package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenRefusesEmptyFile: only a missing file makes a new ledger. A file that exists with 0 bytes (a ledger wiped
// by a bad copy or a truncating redirect) is refused with ErrCorrupt and a hint, and stays 0 bytes; after the
// operator removes it, the same path opens as a new ledger.
func TestOpenRefusesEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 { // refused every time, not turned into a ledger by the first attempt
		l, err := Open(path, Options{})
		if err == nil {
			_ = l.Close()
			t.Fatal("Open of a 0-byte file succeeded, want it refused")
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open = %v, want ErrCorrupt", err)
		}
		for _, w := range []string{path, "empty (0 bytes)", "remove it to start a new ledger"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
		if st, err := os.Stat(path); err != nil || st.Size() != 0 {
			t.Fatalf("file after the refusal: %v, %v; want it left at 0 bytes", st, err)
		}
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l := openTest(t, withPath(path))
	mustWallet(t, l, "w1", "566", 0)
	mustCredit(t, l, "w1", 100)
	l.reopen()
	wantBalances(t, l, map[string]int64{"w1": 100})
}
