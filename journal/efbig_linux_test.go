package journal

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRealEFBIG runs a journal whose segments are larger than the
// process's file-size limit (RLIMIT_FSIZE, lowered in a child process so
// that nothing else is limited): the append that needs a segment fails
// with ErrNoSpace wrapping EFBIG and naming it, the instance does not fail,
// and once the limit is raised the next append succeeds.
func TestRealEFBIG(t *testing.T) {
	if os.Getenv("SPOOL_EFBIG_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRealEFBIG$", "-test.v")
		cmd.Env = append(os.Environ(), "SPOOL_EFBIG_CHILD=1")
		out, err := cmd.CombinedOutput()
		switch {
		case err != nil:
			t.Fatalf("child: %v\n%s", err, out)
		case strings.Contains(string(out), "SKIPPED"):
			t.Skipf("child skipped:\n%s", out)
		case !strings.Contains(string(out), "--- PASS: TestRealEFBIG"):
			t.Fatalf("child did not pass:\n%s", out)
		}
		return
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := &Options{SegmentSize: 1 << 20, Sync: SyncEach, spare: spareOff}
	j := mustOpen(t, dir, o) // the meta file is 8 KiB: within the limit
	defer closeOK(t, j)
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 256 << 10, Max: old.Max}); err != nil {
		t.Skipf("SKIPPED (cannot lower RLIMIT_FSIZE): %v", err)
	}
	_, err := j.AppendBytes(payload(1, 100))
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.EFBIG) || !strings.Contains(err.Error(), "(EFBIG") {
		t.Fatalf("append with 1 MiB segments under a 256 KiB file-size limit = %v, want ErrNoSpace wrapping EFBIG", err)
	}
	if j.Err() != nil || j.LastIndex() != 0 {
		t.Fatalf("after EFBIG: Err %v, last %d", j.Err(), j.LastIndex())
	}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if idx, err := j.AppendBytes(payload(1, 100)); err != nil || idx != 1 {
		t.Fatalf("append once the limit is raised: %d, %v", idx, err)
	}
	checkEntries(t, j, 1, 1, func(uint64) int { return 100 })
}
