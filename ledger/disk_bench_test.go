//go:build linux

package ledger

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// BenchmarkDiskCommitPattern times what a bbolt commit asks of the disk, without bbolt: write N pages, fdatasync,
// write the meta page, fdatasync again. One op is one commit. It is the model behind README's "Performance" figures:
// on the disks measured, a commit costs by the separate places it writes more than by its bytes, so the same pages
// side by side cost a fraction of the same pages spread out. The 16 KB variants answer whether larger bbolt pages
// (fewer of them per commit) would pay: each costs more than a 4 KB one in the same pattern, and end to end they did
// not pay (README, "Third round").
//
// Patterns: "contiguous" writes the pages side by side; "window" scatters them over 600 pages, as the ledger does
// with a few thousand wallets (bbolt is copy-on-write and reuses the pages it freed a commit or two before);
// "scattered" spreads them over the whole file, as with a million wallets, where each debit rewrites a wallet leaf
// and branch that nobody touched for a long time and the pages they free are all over the file. Run it on the disk
// the ledger lives on:
//
//	TMPDIR=/var/lib/walletgate go test ./ledger -run '^$' -bench DiskCommitPattern -benchtime 200x
func BenchmarkDiskCommitPattern(b *testing.B) {
	const fileSize = 256 << 20
	path := filepath.Join(b.TempDir(), "pattern.dat")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for off := int64(0); off < fileSize; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk, off); err != nil { // allocated blocks, as a ledger's file mostly has
			b.Fatal(err)
		}
	}
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		b.Fatal(err)
	}
	for _, pageSize := range []int64{4096, 16384} {
		page := make([]byte, pageSize)
		slots := fileSize/pageSize - 1 // slot 0 is the meta page
		for _, pattern := range []string{"contiguous", "window", "scattered"} {
			for _, n := range []int64{10, 40, 90} {
				b.Run(fmt.Sprintf("page=%dk/%s/pages=%d", pageSize>>10, pattern, n), func(b *testing.B) {
					rng := rand.New(rand.NewPCG(uint64(pageSize), uint64(n)))
					offs := make([]int64, n)
					for b.Loop() {
						switch pattern {
						case "contiguous":
							base := 1 + rng.Int64N(slots-n)
							for i := range offs {
								offs[i] = base + int64(i)
							}
						case "window":
							base := 1 + rng.Int64N(slots-600)
							for i := range offs {
								offs[i] = base + rng.Int64N(600)
							}
						case "scattered":
							for i := range offs {
								offs[i] = 1 + rng.Int64N(slots)
							}
						}
						slices.Sort(offs) // bbolt writes its dirty pages in page order
						for _, o := range offs {
							if _, err := f.WriteAt(page, o*pageSize); err != nil {
								b.Fatal(err)
							}
						}
						if err := syscall.Fdatasync(int(f.Fd())); err != nil {
							b.Fatal(err)
						}
						if _, err := f.WriteAt(page[:4096], 0); err != nil {
							b.Fatal(err)
						}
						if err := syscall.Fdatasync(int(f.Fd())); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
