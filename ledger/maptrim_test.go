//go:build linux

package ledger

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketBulk holds the bulk values of these tests: key i (8 bytes, big endian) -> bulkValue(i). Audit does not read
// it, so it grows the file without touching the keptBooks.
var bucketBulk = []byte("maptrimtest")

const bulkSize = 4000 // bytes of one bulk value: about a page, so the file grows by about a page per value

// bulkValue is the content of bulk value i: bytes no zeroed page could pass for.
func bulkValue(i uint64) []byte {
	v := make([]byte, bulkSize)
	r := rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24), 0x5a})
	_, _ = r.Read(v)
	return v
}

// putBulk writes bulk values [from, to) through the writer, in operations of at most 64 values.
func putBulk(t testing.TB, l *Ledger, from, to uint64) {
	t.Helper()
	if err := tryPutBulk(l, from, to); err != nil {
		t.Fatal(err)
	}
}

// tryPutBulk is putBulk for goroutines other than the test's.
func tryPutBulk(l *Ledger, from, to uint64) error {
	for lo := from; lo < to; lo += 64 {
		hi := min(lo+64, to)
		_, err := submit(bg, l, func(w *wtx) (struct{}, error) {
			b, err := w.tx.CreateBucketIfNotExists(bucketBulk)
			if err != nil {
				return struct{}{}, err
			}
			for i := lo; i < hi; i++ {
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], i)
				if err := b.Put(k[:], bulkValue(i)); err != nil {
					return struct{}{}, err
				}
			}
			return struct{}{}, nil
		})
		if err != nil {
			return fmt.Errorf("put bulk [%d, %d): %w", lo, hi, err)
		}
	}
	return nil
}

// checkBulk reads every bulk value in one read transaction, so that each of their pages is mapped, and returns how
// many there are; a value that is not bulkValue of its key is an error.
func checkBulk(l *Ledger) (int, error) {
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBulk)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			i := binary.BigEndian.Uint64(k)
			if !bytes.Equal(v, bulkValue(i)) {
				return fmt.Errorf("bulk value %d reads back different", i)
			}
			n++
			return nil
		})
	})
	return n, err
}

// mustCheckBulk fails the test unless exactly want bulk values read back identical.
func mustCheckBulk(t testing.TB, l *Ledger, want int) {
	t.Helper()
	n, err := checkBulk(l)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("read back %d bulk values, want %d", n, want)
	}
}

// commitSmall makes a small commit: the writer then looks at its mapping.
func commitSmall(t testing.TB, l *Ledger) {
	t.Helper()
	_, err := submit(bg, l, func(w *wtx) (struct{}, error) {
		b, err := w.tx.CreateBucketIfNotExists(bucketBulk)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, b.Delete([]byte("none"))
	})
	if err != nil {
		t.Fatalf("small commit: %v", err)
	}
}

// mapping is the ledger file's mapping in this process, read from /proc/self/smaps: its size, and the bytes of it
// resident in the process's page tables.
type mapping struct {
	size, rss int64
	count     int      // mappings of the file found (bbolt keeps one)
	flags     []string // the last mapping's VmFlags ("rr": MADV_RANDOM)
}

func ledgerMapping(t testing.TB, path string) mapping {
	t.Helper()
	m, err := readMapping(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readMapping(path string) (mapping, error) {
	sys, err := newMapSys(path, "/proc/self")
	if err != nil {
		return mapping{}, err
	}
	s := sys.(*linuxMapSys)
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return mapping{}, err
	}
	defer f.Close()
	var m mapping
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if first, _, _ := bytes.Cut(line, []byte(" ")); !bytes.HasSuffix(first, []byte(":")) {
			h, ok := parseMapsLine(line)
			if !ok {
				return mapping{}, fmt.Errorf("smaps: unreadable line %q", line)
			}
			in = h.ino == s.ino && h.major == s.major && h.minor == s.minor
			if in {
				m.count++
				m.size += int64(h.end - h.start)
			}
			continue
		}
		if rest, ok := bytes.CutPrefix(line, []byte("VmFlags:")); ok && in {
			m.flags = strings.Fields(string(rest))
		}
		if rest, ok := bytes.CutPrefix(line, []byte("Rss:")); ok && in {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			if err != nil {
				return mapping{}, fmt.Errorf("smaps: Rss %q: %v", rest, err)
			}
			m.rss += kb << 10
		}
	}
	return m, sc.Err()
}

// keptBooks is what a test remembers of a few wallets to compare after the trims: each wallet and its statement.
type keptBooks map[string]struct {
	w     Wallet
	lines []StatementLine
}

// mustKeptBooks makes n funded wallets named prefix-i with a few debits each, and reads them back.
func mustKeptBooks(t testing.TB, l *testLedger, prefix string, n int) keptBooks {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		mustWallet(t, l, id, "566", 0)
		mustCredit(t, l, id, 100_000+int64(i))
		for j := range 3 {
			ref := fmt.Sprintf("%s-d%d", id, j)
			if _, err := l.Debit(bg, dreq("rq-"+ref, ref, id, 1000+int64(j), 10)); err != nil {
				t.Fatalf("Debit(%s): %v", ref, err)
			}
		}
	}
	return readKeptBooks(t, l.Ledger, prefix, n)
}

func readKeptBooks(t testing.TB, l *Ledger, prefix string, n int) keptBooks {
	t.Helper()
	b := keptBooks{}
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		w, err := l.Wallet(bg, id)
		if err != nil {
			t.Fatalf("Wallet(%s): %v", id, err)
		}
		lines, _, err := l.Statement(bg, id, 0, 0)
		if err != nil {
			t.Fatalf("Statement(%s): %v", id, err)
		}
		b[id] = struct {
			w     Wallet
			lines []StatementLine
		}{w, lines}
	}
	return b
}

// sameKeptBooks compares what the ledger reads now with b.
func sameKeptBooks(l *Ledger, b keptBooks) error {
	for id, want := range b {
		w, err := l.Wallet(bg, id)
		if err != nil {
			return fmt.Errorf("Wallet(%s): %w", id, err)
		}
		if !reflect.DeepEqual(w, want.w) {
			return fmt.Errorf("Wallet(%s) = %+v, want %+v", id, w, want.w)
		}
		lines, _, err := l.Statement(bg, id, 0, 0)
		if err != nil {
			return fmt.Errorf("Statement(%s): %w", id, err)
		}
		if !reflect.DeepEqual(lines, want.lines) {
			return fmt.Errorf("Statement(%s) = %+v, want %+v", id, lines, want.lines)
		}
	}
	return nil
}

func mustAuditOK(t testing.TB, l *Ledger) {
	t.Helper()
	rep, err := l.Audit(bg)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if !rep.OK {
		t.Fatalf("Audit not OK:\n\t%s", strings.Join(rep.Problems, "\n\t"))
	}
}

// TestMapTrimDropsResidentPages reads about 40 MB of ledger in one read transaction, so that it is mapped in the
// process, and checks that the writer's next look drops it while every value still reads back the same.
func TestMapTrimDropsResidentPages(t *testing.T) {
	const limit = 4 << 20
	l := openTest(t, withNoSync(), withOptions(Options{MapTrim: limit, mapTrim: mapTrimHooks{everyCommit: true, noIdle: true}}))
	before := mustKeptBooks(t, l, "w", 20)
	const n = 10_000 // x bulkSize: 40 MB
	putBulk(t, l.Ledger, 0, n)

	trims := l.MapTrims()
	mustCheckBulk(t, l.Ledger, n)
	mustAuditOK(t, l.Ledger)
	read := ledgerMapping(t, l.path)
	if read.count != 1 || read.rss < 32<<20 {
		t.Fatalf("after reading everything: %d mapping(s) of the file with %d bytes resident, want 1 with at least %d",
			read.count, read.rss, 32<<20)
	}
	if got := l.MapTrims(); got != trims {
		t.Fatalf("the ledger trimmed %d times while no commit ran and the idle look was off", got-trims)
	}

	// The writer looks after a batch, once it has answered it: when the second commit returns, the look after the
	// first is over.
	commitSmall(t, l.Ledger)
	commitSmall(t, l.Ledger)
	after := ledgerMapping(t, l.path)
	if after.rss >= limit {
		t.Errorf("after the next commits: %d bytes of the file resident, want < %d (had %d)", after.rss, limit, read.rss)
	}
	if l.MapTrims() <= trims {
		t.Errorf("MapTrims() = %d, want more than %d", l.MapTrims(), trims)
	}
	if err := l.mapTrimErr(); err != nil {
		t.Errorf("trim failed: %v", err)
	}

	mustCheckBulk(t, l.Ledger, n)
	if err := sameKeptBooks(l.Ledger, before); err != nil {
		t.Error(err)
	}
	mustAuditOK(t, l.Ledger)
}

// TestMapTrimOpen reopens a 40 MB ledger: Open's consistency check reads every page, and Open drops them before it
// returns.
func TestMapTrimOpen(t *testing.T) {
	const limit = 4 << 20
	opts := Options{MapTrim: limit, mapTrim: mapTrimHooks{noIdle: true}}
	l := openTest(t, withNoSync(), withOptions(opts))
	const n = 10_000 // 40 MB
	putBulk(t, l.Ledger, 0, n)
	l.reopen()
	if got := l.MapTrims(); got == 0 {
		t.Errorf("MapTrims() = 0 after Open checked a %d-byte file", n*bulkSize)
	}
	if m := ledgerMapping(t, l.path); m.rss >= limit {
		t.Errorf("after Open: %d bytes of the file resident, want < %d", m.rss, limit)
	}
	if err := l.mapTrimErr(); err != nil {
		t.Errorf("trim failed: %v", err)
	}
	mustCheckBulk(t, l.Ledger, n)
}

// TestMapTrimIdle checks that pages a read transaction mapped are dropped although no write comes after it: the
// waiting writer looks on its own.
func TestMapTrimIdle(t *testing.T) {
	const limit = 4 << 20
	l := openTest(t, withNoSync(), withOptions(Options{MapTrim: limit}))
	const n = 4000 // 16 MB
	putBulk(t, l.Ledger, 0, n)
	trims := l.MapTrims()
	mustCheckBulk(t, l.Ledger, n)

	// Liveness, not speed: the look comes every 100 ms; the deadline only keeps a broken trim from hanging the test.
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := ledgerMapping(t, l.path)
		if l.MapTrims() > trims && m.rss < limit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trim while the writer waited: MapTrims() = %d (was %d), %d bytes resident; trim error: %v",
				l.MapTrims(), trims, m.rss, l.mapTrimErr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mustCheckBulk(t, l.Ledger, n)
}

// TestMapTrimNever checks that a negative MapTrim leaves the mapping alone.
func TestMapTrimNever(t *testing.T) {
	l := openTest(t, withNoSync(), withOptions(Options{MapTrim: -1, mapTrim: mapTrimHooks{everyCommit: true}}))
	const n = 2000 // 8 MB
	putBulk(t, l.Ledger, 0, n)
	mustCheckBulk(t, l.Ledger, n)
	commitSmall(t, l.Ledger)
	commitSmall(t, l.Ledger)
	if got := l.MapTrims(); got != 0 {
		t.Errorf("MapTrims() = %d with MapTrim < 0, want 0", got)
	}
	if err := l.mapTrimErr(); err != nil {
		t.Errorf("mapTrimErr() = %v, want nil", err)
	}
	// Nothing dropped what the read mapped (the kernel could, under memory pressure: the bound is half of it).
	if m := ledgerMapping(t, l.path); m.rss < n*bulkSize/2 {
		t.Errorf("%d bytes of the file resident after reading %d, want at least half", m.rss, n*bulkSize)
	}
}

// TestMapTrimFailureTurnsItOff points the trim at /proc files that it must not trust: it turns itself off, drops
// nothing, and the commits go on.
func TestMapTrimFailureTurnsItOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	// The ledger file must exist for its device and inode: create it, then open it again with the fake /proc.
	l0, err := Open(path, Options{MapTrim: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := l0.Close(); err != nil {
		t.Fatal(err)
	}
	sys, err := newMapSys(path, "/proc/self")
	if err != nil {
		t.Fatal(err)
	}
	s := sys.(*linuxMapSys)
	// Addresses in the first pages, which the kernel never maps (vm.mmap_min_addr): were one of these lines ever
	// taken for the ledger's mapping, madvise would fail rather than drop anything.
	file := fmt.Sprintf("%02x:%02x %d", s.major, s.minor, s.ino)
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	const huge = "100000 90000 90000 10 0 100 0\n" // statm: 90000 pages of file-backed memory

	for _, tc := range []struct {
		name, statm, maps, want string
	}{
		{"no statm", "", lines("1000-2000 r--s 00000000 " + file + " /x"), "statm"},
		{"statm garbage", "100000 90000\n", lines("1000-2000 r--s 00000000 " + file + " /x"), "fewer than 3 fields"},
		{"statm not a number", "100000 90000 x 1 0 1 0\n", lines("1000-2000 r--s 00000000 " + file + " /x"), "not a page count"},
		{"file not mapped", huge, lines("1000-2000 r-xp 00000000 fe:00 12 /bin/x"), "mapped 0 times"},
		{"file mapped twice", huge, lines("1000-2000 r--s 00000000 "+file+" /x", "3000-4000 r--s 00000000 "+file+" /x"), "mapped 2 times"},
		{"file mapped writable", huge, lines("1000-2000 rw-s 00000000 " + file + " /x"), "not as bbolt maps it"},
		{"file mapped at an offset", huge, lines("1000-2000 r--s 00001000 " + file + " /x"), "not as bbolt maps it"},
		{"maps garbage", huge, lines("1000-2000 r--s"), "unreadable line"},
		{"no maps", huge, "", "maps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc := t.TempDir()
			if tc.statm != "" {
				if err := os.WriteFile(filepath.Join(proc, "statm"), []byte(tc.statm), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.maps != "" {
				if err := os.WriteFile(filepath.Join(proc, "maps"), []byte(tc.maps), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			l := openTest(t, withPath(path), withNoSync(),
				withOptions(Options{MapTrim: 1, mapTrim: mapTrimHooks{everyCommit: true, noIdle: true, proc: proc}}))
			for range 3 {
				commitSmall(t, l.Ledger)
			}
			if err := l.mapTrimErr(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("mapTrimErr() = %v, want an error containing %q", err, tc.want)
			}
			if got := l.MapTrims(); got != 0 {
				t.Errorf("MapTrims() = %d, want 0", got)
			}
			if err := l.Ready(); err != nil {
				t.Errorf("Ready() = %v after the trim failed, want nil", err)
			}
		})
	}
}

// TestMapTrimConcurrentReaders trims after every commit while readers run read transactions (wallet look-ups,
// statements, audits, every bulk value) and writers grow the file, so that bbolt maps it again and again at new
// sizes (and maybe new addresses) between the trims. Everything must read back the same; run it with -race.
func TestMapTrimConcurrentReaders(t *testing.T) {
	l := openTest(t, withNoSync(), withOptions(Options{MapTrim: 1, mapTrim: mapTrimHooks{everyCommit: true}}))
	fixed := mustKeptBooks(t, l, "fixed", 10)
	start := ledgerMapping(t, l.path)

	const writers, rounds, perRound = 2, 24, 64 // 2 x 24 x 64 x 4000 bytes: about 12 MB of bulk values
	var (
		wg      sync.WaitGroup
		done    = make(chan struct{})
		mu      sync.Mutex
		written int // bulk values committed so far
		errs    = make(chan error, 16)
	)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for r := range rounds {
				base := uint64((w*rounds + r) * perRound)
				if err := tryPutBulk(l.Ledger, base, base+perRound); err != nil {
					report(err)
					return
				}
				mu.Lock()
				written += perRound
				mu.Unlock()
				id := fmt.Sprintf("grow-%d-%d", w, r)
				if _, err := l.CreateWallet(bg, NewWallet{ID: id, Currency: "566", Name: "Wallet " + id}); err != nil {
					report(fmt.Errorf("CreateWallet(%s): %w", id, err))
					return
				}
				if _, err := l.Credit(bg, Credit{WalletID: id, Amount: 5000, Reference: "grow-fund-" + id}); err != nil {
					report(fmt.Errorf("Credit(%s): %w", id, err))
					return
				}
			}
		}()
	}
	readers := []func() error{
		func() error { return sameKeptBooks(l.Ledger, fixed) },
		func() error {
			mu.Lock()
			least := written
			mu.Unlock()
			n, err := checkBulk(l.Ledger)
			if err == nil && n < least {
				err = fmt.Errorf("read %d bulk values, at least %d were committed", n, least)
			}
			return err
		},
		func() error {
			rep, err := l.Audit(bg)
			if err == nil && !rep.OK {
				err = fmt.Errorf("Audit not OK: %s", strings.Join(rep.Problems, "; "))
			}
			return err
		},
	}
	for _, read := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := read(); err != nil {
					report(err)
					return
				}
			}
		}()
	}
	writersWG.Wait()
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	end := ledgerMapping(t, l.path)
	if end.size <= start.size {
		t.Errorf("the mapping stayed at %d bytes: the file never grew enough to be mapped again", start.size)
	}
	if l.MapTrims() == 0 {
		t.Error("MapTrims() = 0: nothing was trimmed")
	}
	if err := l.mapTrimErr(); err != nil {
		t.Errorf("trim failed: %v", err)
	}
	mustCheckBulk(t, l.Ledger, writers*rounds*perRound)
	if err := sameKeptBooks(l.Ledger, fixed); err != nil {
		t.Error(err)
	}
	mustAuditOK(t, l.Ledger)
	t.Logf("mapping %d -> %d bytes, %d trims", start.size, end.size, l.MapTrims())
}

// BenchmarkMapTrimCheck compares the two ways to learn how much of the file is mapped, with about 40 MB of it
// resident: statm (the process's resident file-backed pages, which the trim uses) and the Rss of the mapping in smaps
// (exact, but the kernel walks every mapping's page tables to print it). drop is a trim of the 40 MB.
func BenchmarkMapTrimCheck(b *testing.B) {
	l := openTest(b, withNoSync(), withOptions(Options{MapTrim: -1, LienSweepInterval: -1}))
	const n = 10_000
	putBulk(b, l.Ledger, 0, n)
	mustCheckBulk(b, l.Ledger, n)
	sys, err := newMapSys(l.path, "/proc/self")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("statm", func(b *testing.B) {
		for b.Loop() {
			if _, err := sys.resident(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("smaps", func(b *testing.B) {
		for b.Loop() {
			if _, err := readMapping(l.path); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Dropping runs only where nothing remaps the file: nothing writes here (no lien sweeper either), and MapTrim < 0
	// keeps the writer from trimming on its own.
	b.Run("drop", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			mustCheckBulk(b, l.Ledger, n)
			b.StartTimer()
			if err := sys.drop(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
