package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// corruptFixture writes a ledger with some wallets and returns its bytes and the id of a page in use in one of its
// trees (a leaf or branch page not on the freelist).
func corruptFixture(t *testing.T) ([]byte, int) {
	t.Helper()
	l := openTest(t)
	for i := range 100 {
		id := fmt.Sprintf("w%03d", i)
		mustWallet(t, l, id, "566", 0)
		mustCredit(t, l, id, int64(100+i))
	}
	treePage := 0
	if err := l.db.View(func(tx *bolt.Tx) error {
		for id := 2; treePage == 0; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return fmt.Errorf("no leaf or branch page in use below page %d: %v", id, err)
			}
			if info.Type == "leaf" || info.Type == "branch" {
				treePage = id
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(l.path)
	if err != nil {
		t.Fatal(err)
	}
	l.reopen() // so that openTest's cleanup finds it open
	return b, treePage
}

// TestOpenRefusesCorrupt damages a ledger file the ways disks and copies do. Open must refuse each one with
// ErrCorrupt (or as unreadable when no meta page survives), never panic, and leave the file byte for byte as it was.
func TestOpenRefusesCorrupt(t *testing.T) {
	orig, treePage := corruptFixture(t)
	page := os.Getpagesize()
	fill := func(b []byte, from, to int, v byte) []byte {
		for i := from; i < to && i < len(b); i++ {
			b[i] = v
		}
		return b
	}
	tests := []struct {
		name    string
		damage  func([]byte) []byte
		corrupt bool // ErrCorrupt; else any error
	}{
		{"both meta pages overwritten", func(b []byte) []byte { return fill(b, 0, 2*page, 0xAB) }, false},
		{"a page of the tree zeroed", func(b []byte) []byte { return fill(b, treePage*page, (treePage+1)*page, 0) }, true},
		{"everything after the meta pages zeroed", func(b []byte) []byte { return fill(b, 2*page, len(b), 0) }, true},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "damaged.db")
			if err := os.WriteFile(path, tc.damage(append([]byte(nil), orig...)), 0o600); err != nil {
				t.Fatal(err)
			}
			var want error
			if tc.corrupt {
				want = ErrCorrupt
			}
			err := openRefused(t, path, want)
			t.Logf("Open: %v", err)
		})
	}

	// bbolt could carry on from the other meta page, but a page that fails the check means something damaged the
	// file (a crash cannot tear a page the kernel already has): refuse it too, and let an operator look.
	t.Run("one meta page overwritten", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "torn.db")
		if err := os.WriteFile(path, fill(append([]byte(nil), orig...), 0, page, 0xAB), 0o600); err != nil {
			t.Fatal(err)
		}
		openRefused(t, path, ErrCorrupt)
	})
}
