//go:build linux

package ledger

import (
	"os"
	"slices"
	"syscall"
	"testing"
	"unsafe"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// TestCheckReadsAround checks that Open's consistency check reads with the kernel's read-ahead (bbolt's MADV_RANDOM
// lifted from its mapping) and that bbolt's advice is back once Open returns.
func TestCheckReadsAround(t *testing.T) {
	var during mapping
	var duringErr error
	opts := Options{open: openHooks{check: func() {}}}
	l := openTest(t, withNoSync(), withOptions(opts))
	putBulk(t, l.Ledger, 0, 500)
	if m := ledgerMapping(t, l.path); !slices.Contains(m.flags, "rr") {
		t.Fatalf("bbolt's own mapping has VmFlags %v, want rr (MADV_RANDOM): the test cannot tell advice apart", m.flags)
	}
	l.opts.open.check = func() { during, duringErr = readMapping(l.path) }
	l.reopen()
	if duringErr != nil {
		t.Fatal(duringErr)
	}
	if during.count != 1 || slices.Contains(during.flags, "rr") {
		t.Errorf("during the check: %d mapping(s), VmFlags %v; want 1 without rr", during.count, during.flags)
	}
	if after := ledgerMapping(t, l.path); !slices.Contains(after.flags, "rr") {
		t.Errorf("after Open: VmFlags %v, want rr (bbolt's MADV_RANDOM back)", after.flags)
	}
	mustCheckBulk(t, l.Ledger, 500)
}

// TestCheckDropsPageCache checks that Open leaves the ledger file's pages out of the page cache after its check, so
// that the large folios its read-ahead made are not mapped whole by the server's later faults, and that the file
// reads back the same.
func TestCheckDropsPageCache(t *testing.T) {
	l := openTest(t)
	const n = 2000 // 8 MB
	putBulk(t, l.Ledger, 0, n)
	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(l.path); err != nil { // the whole file in the page cache
		t.Fatal(err)
	}
	before := residentShare(t, l.path)
	if before < 0.9 {
		t.Fatalf("after reading the file: %.2f of it in the page cache, want at least 0.9: the test cannot see a drop", before)
	}
	reopened, err := Open(l.path, l.opts)
	if err != nil {
		t.Fatal(err)
	}
	l.setLedger(reopened)
	after := residentShare(t, l.path)
	var fs unix.Statfs_t
	if err := unix.Statfs(l.path, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		// tmpfs keeps its files only in the page cache: nothing can be dropped, and nothing must be lost.
		if after < before {
			t.Errorf("on tmpfs: %.2f of the file in the page cache after Open, %.2f before", after, before)
		}
	} else if after > 0.5 {
		t.Errorf("after Open: %.2f of the file in the page cache (%.2f before), want at most 0.5", after, before)
	}
	mustCheckBulk(t, l.Ledger, n)
}

// residentShare is the share of the file at path that the page cache holds, from mincore over a mapping of it.
func residentShare(t testing.TB, path string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	page := os.Getpagesize()
	vec := make([]byte, (len(data)+page-1)/page)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	in := 0
	for _, v := range vec {
		in += int(v & 1)
	}
	return float64(in) / float64(len(vec))
}

// TestReadAroundRestoreKeepsCache checks readAround's other use, CheckFile's (a backup file opened read-only):
// restore(false) puts bbolt's MADV_RANDOM back and leaves the file's pages in the page cache for the audit.
func TestReadAroundRestoreKeepsCache(t *testing.T) {
	l := openTest(t)
	putBulk(t, l.Ledger, 0, 500)
	if err := l.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := openReadOnly(l.path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.ReadFile(l.path); err != nil {
		t.Fatal(err)
	}
	before := residentShare(t, l.path)
	err = db.View(func(*bolt.Tx) error {
		restore := readAround(db)
		if m := ledgerMapping(t, l.path); slices.Contains(m.flags, "rr") {
			t.Errorf("read-only mapping after readAround: VmFlags %v, want no rr", m.flags)
		}
		restore(false)
		if m := ledgerMapping(t, l.path); !slices.Contains(m.flags, "rr") {
			t.Errorf("read-only mapping after restore(false): VmFlags %v, want rr", m.flags)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := residentShare(t, l.path); after < before {
		t.Errorf("restore(false) dropped pages from the page cache: %.2f of the file resident, %.2f before", after, before)
	}
	if _, err := CheckFile(bg, l.path, 0); err != nil {
		t.Errorf("CheckFile: %v", err)
	}
}
