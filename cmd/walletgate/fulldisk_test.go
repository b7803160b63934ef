package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walletgate/walletgate/mac"
)

// capSysAdmin is CAP_SYS_ADMIN's bit in /proc/self/status CapEff: the capability that mounting a tmpfs needs.
const capSysAdmin = 21

// canMount reports whether this process holds CAP_SYS_ADMIN (root in CI does; an ordinary user or an unprivileged
// container does not), reading /proc/self/status.
func canMount() bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<capSysAdmin) != 0
		}
	}
	return false
}

// mountTmpfs mounts a tmpfs of size bytes at a fresh directory and unmounts it in the test's cleanup.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small-disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size))
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		// The capability is there but a security policy (seccomp, AppArmor, a user namespace) forbids mounts:
		// nothing about walletgate can be learnt here; README "Full disk, by hand" is the procedure.
		t.Skipf("mounting a tmpfs is forbidden here despite CAP_SYS_ADMIN: %v", err)
	}
	if err != nil {
		t.Fatalf("mount a %d-byte tmpfs at %s with CAP_SYS_ADMIN: %v (set WALLETGATE_TEST_FULL_DISK=off where "+
			"mounting is not allowed despite the capability)", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fill writes path until the file system is full and returns how many bytes it took.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	for _, chunk := range []int{64 << 10, 4 << 10, 512, 1} {
		buf := make([]byte, chunk)
		for {
			n, err := f.Write(buf)
			total += int64(n)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatalf("fill %s: %v", path, err)
			}
		}
	}
	return total
}

// TestBinaryFullDisk runs the binary on a real, small file system (a tmpfs) and fills it: debits that no longer fit
// get 96 and are not remembered, /readyz answers 503 while that lasts however often it is asked, and once space is
// freed /readyz is 200 again without a single request from the switch, the refused debit is decided for the first
// time, and the audit is green. Mounting needs CAP_SYS_ADMIN: without it the test is skipped with the README's manual
// procedure; with it (CI runs as root) a failure to mount fails the test.
func TestBinaryFullDisk(t *testing.T) {
	if !canMount() {
		t.Skip("needs CAP_SYS_ADMIN to mount a tmpfs (run as root); README \"Full disk, by hand\" does the same by hand")
	}
	if os.Getenv("WALLETGATE_TEST_FULL_DISK") == "off" {
		t.Skip("WALLETGATE_TEST_FULL_DISK=off")
	}
	disk := mountTmpfs(t, 4<<20)
	const w = "1234567894" // the seed's wallet
	env := childEnv(map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_ADMIN_TOKEN": inProcToken,
		"WALLETGATE_DB": filepath.Join(disk, "walletgate.db"), "TMPDIR": t.TempDir()})
	p := startProc(t, env, nil, "serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	switchAddr, opsAddr, _ := startLine(t, p.stderr, p.exited)
	hc := newHTTPClient(t)
	const funding = 100_000_000
	fundWallet(t, hc, opsAddr, inProcToken, w, funding)
	keys := mustKeys(t, mac.SHA512, inProcKey, "")
	seed := readSeed(t)
	readyz := func() int {
		status, _ := call(t, hc, http.MethodGet, "http://"+opsAddr+"/readyz", "", nil)
		return status
	}
	debit := func(i int) string {
		body := debitBody(seed, keys, mac.Current, fmt.Sprintf("fd-%d", i), fmt.Sprintf("FD%d", i), 100)
		status, out := call(t, hc, http.MethodPost, "http://"+switchAddr+"/debit", "", body)
		var a struct{ ResponseCode string }
		if err := json.Unmarshal(out, &a); status != http.StatusOK || err != nil {
			t.Fatalf("debit %d: HTTP %d %s", i, status, out)
		}
		return a.ResponseCode
	}
	if got := readyz(); got != http.StatusOK {
		t.Fatalf("/readyz before the disk is full: HTTP %d", got)
	}

	filler := filepath.Join(disk, "filler")
	t.Logf("filled the file system with %d bytes", fill(t, filler))
	approved, refused := 0, -1
	for i := range 20_000 { // a debit needs a few pages, and the file's free pages run out long before this
		code := debit(i)
		if code == "96" {
			refused = i
			break
		}
		if code != "00" {
			t.Fatalf("debit %d on a filling disk: %s, want 00 or 96", i, code)
		}
		approved++
	}
	if refused < 0 {
		t.Fatalf("no debit got 96 after %d approvals on a full file system", approved)
	}
	t.Logf("%d debits fitted in the file's free pages, then 96", approved)
	for i := range 5 {
		if got := readyz(); got != http.StatusServiceUnavailable {
			t.Fatalf("/readyz %d while the disk is full: HTTP %d, want 503", i, got)
		}
	}
	if code := debit(refused + 1); code != "96" {
		t.Errorf("another debit while the disk is full: %s, want 96", code)
	}
	if got := readyz(); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz after another 96: HTTP %d, want 503", got)
	}

	// Space comes back; the switch sends nothing (the load balancer keeps away from a 503): /readyz must recover.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // a bound against a hang, not a speed requirement
	for readyz() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still 503 30 s after space was freed, with no traffic")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := debit(refused); code != "00" {
		t.Errorf("the debit refused with 96, sent again after the fault: %s, want 00 (decided for the first time)", code)
	}
	approved++
	if got := balance(t, hc, opsAddr, inProcToken, w); got != funding-int64(approved)*100 {
		t.Errorf("balance %d, want %d (%d approved debits of 100)", got, funding-int64(approved)*100, approved)
	}
	checkAudit(t, hc, opsAddr, inProcToken)
	hc.CloseIdleConnections()
	p.terminate(t)
}
