//go:build linux

package ledger

import (
	"os"
	"syscall"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// readAround prepares bbolt's mapping of db's file for a pass that reads every page (Open's consistency check) and
// returns restore, which undoes it. bbolt maps the file with MADV_RANDOM, which suits its point reads but makes a
// pass over a file the page cache does not hold read one 4 KB page per fault: a cold check of a 6 GB ledger took
// 128-145 s, and 8-13 minutes for 29 GB. With MADV_NORMAL the kernel reads ahead around each fault and the same
// check took 20-27 s (README, Performance).
//
// That read-ahead fills the page cache with large folios, and a later fault on such a folio maps all of it: under
// load the writer's faults would map far more of the file than it reads (a peak RSS of 258-302 MB against 163-198
// MB). restore(true) therefore also drops the mapping's pages and then the file's clean pages from the page cache once
// the pass is over, so that the server's reads start again from pages of bbolt's own faults; restore(false) only
// puts MADV_RANDOM back.
//
// The caller holds a read transaction from before readAround until restore returns, so that bbolt cannot remap the
// file in between and the range advised stays bbolt's mapping. Where the mapping cannot be found (see
// linuxMapSys.find) readAround does nothing and the pass reads as bbolt maps it: this only makes it faster.
func readAround(db *bolt.DB) (restore func(dropCache bool)) {
	none := func(bool) {}
	sys, err := newMapSys(db.Path(), "/proc/self")
	if err != nil {
		return none
	}
	start, end, err := sys.(*linuxMapSys).find()
	if err != nil || madvise(start, end, syscall.MADV_NORMAL) != nil {
		return none
	}
	return func(dropCache bool) {
		_ = madvise(start, end, syscall.MADV_RANDOM)
		if dropCache {
			// The kernel keeps the pages a process maps: the mapping's pages go first (as the map trim drops them).
			_ = madvise(start, end, syscall.MADV_DONTNEED)
			_ = dropFileCache(db.Path())
		}
	}
}

// madvise advises the range [start, end) of a mapping. The range goes to the syscall as plain numbers: it is never
// turned into a Go pointer.
func madvise(start, end uintptr, advice int) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}

// dropFileCache asks the kernel to drop the clean, unmapped pages of the file at path from the page cache
// (POSIX_FADV_DONTNEED). It changes nothing in the file.
func dropFileCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
