//go:build linux

package ledger

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// linuxMapSys is the Linux part of mapTrim: it reads the process's resident file-backed pages from statm and drops
// the ledger file's mapping, found in maps by the file's device and inode.
type linuxMapSys struct {
	statm, maps  string // /proc/self/statm, /proc/self/maps
	major, minor uint64 // the ledger file's device, as maps prints it
	ino          uint64
	page         int64
}

// newMapSys identifies the file at path; proc stands for /proc/self.
func newMapSys(path, proc string) (mapSys, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("map trim: stat: %w", err)
	}
	dev := uint64(st.Dev) // uint32 on some architectures
	return &linuxMapSys{
		statm: filepath.Join(proc, "statm"),
		maps:  filepath.Join(proc, "maps"),
		// The glibc encoding of dev_t, which stat returns; maps prints the kernel's major:minor in hex.
		major: (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff),
		minor: dev&0xff | (dev>>12)&^uint64(0xff),
		ino:   uint64(st.Ino),
		page:  int64(os.Getpagesize()),
	}, nil
}

// resident is the process's resident file-backed memory in bytes: the third field of statm ("shared"), in pages.
func (s *linuxMapSys) resident() (int64, error) {
	b, err := os.ReadFile(s.statm)
	if err != nil {
		return 0, fmt.Errorf("map trim: %w", err)
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, errors.New("map trim: statm: fewer than 3 fields")
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil || pages < 0 {
		return 0, fmt.Errorf("map trim: statm: shared %q is not a page count", f[2])
	}
	return pages * s.page, nil
}

// drop finds the ledger file's mapping now and drops its pages from the process's page tables. The caller makes
// sure that nothing remaps the file until drop returns, so the range found is still the file's when madvise runs.
// The range goes to the syscall as plain numbers: it is never turned into a Go pointer.
func (s *linuxMapSys) drop() error {
	start, end, err := s.find()
	if err != nil {
		return err
	}
	if err := madvise(start, end, syscall.MADV_DONTNEED); err != nil {
		return fmt.Errorf("map trim: madvise: %w", err)
	}
	return nil
}

// find returns the one mapping of the ledger file in maps: read-only and shared from offset 0, bbolt's. Anything
// else (no such mapping, two of them, a line it cannot read) is an error, and nothing is dropped. Where maps shows
// another device than stat does for the same file (overlayfs shows the underlying file, btrfs the file system rather
// than the subvolume), no mapping matches and the trim turns itself off: it never guesses from the path.
func (s *linuxMapSys) find() (start, end uintptr, err error) {
	f, err := os.Open(s.maps)
	if err != nil {
		return 0, 0, fmt.Errorf("map trim: %w", err)
	}
	defer f.Close()
	found := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		m, ok := parseMapsLine(sc.Bytes())
		if !ok {
			return 0, 0, fmt.Errorf("map trim: maps: unreadable line %q", truncate(sc.Text(), 80))
		}
		if m.ino != s.ino || m.major != s.major || m.minor != s.minor {
			continue
		}
		if m.perms != "r--s" || m.offset != 0 || m.end <= m.start {
			return 0, 0, fmt.Errorf("map trim: the ledger file is mapped %s at offset %d, not as bbolt maps it", m.perms, m.offset)
		}
		found++
		start, end = m.start, m.end
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("map trim: maps: %w", err)
	}
	if found != 1 {
		return 0, 0, fmt.Errorf("map trim: the ledger file is mapped %d times, want 1", found)
	}
	return start, end, nil
}

// mapsLine is one line of /proc/self/maps: "start-end perms offset major:minor inode [path]", numbers in hex except
// the inode.
type mapsLine struct {
	start, end   uintptr
	perms        string
	offset       uint64
	major, minor uint64
	ino          uint64
}

// parseMapsLine reads one line of maps; ok is false when it is not in that format.
func parseMapsLine(b []byte) (m mapsLine, ok bool) {
	f := bytes.Fields(b)
	if len(f) < 5 {
		return m, false
	}
	lo, hi, ok := bytes.Cut(f[0], []byte("-"))
	if !ok {
		return m, false
	}
	maj, mnr, ok := bytes.Cut(f[3], []byte(":"))
	if !ok {
		return m, false
	}
	var errs [6]error
	var start, end uint64
	start, errs[0] = strconv.ParseUint(string(lo), 16, 64)
	end, errs[1] = strconv.ParseUint(string(hi), 16, 64)
	m.offset, errs[2] = strconv.ParseUint(string(f[2]), 16, 64)
	m.major, errs[3] = strconv.ParseUint(string(maj), 16, 32)
	m.minor, errs[4] = strconv.ParseUint(string(mnr), 16, 32)
	m.ino, errs[5] = strconv.ParseUint(string(f[4]), 10, 64)
	if errors.Join(errs[:]...) != nil {
		return m, false
	}
	m.start, m.end, m.perms = uintptr(start), uintptr(end), string(f[1])
	return m, true
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
