package mmapio_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spoolhq/spool/mmapio"
	"golang.org/x/sys/unix"
)

// TestAllocateEFBIG reserves more than the process's file-size limit
// (RLIMIT_FSIZE, lowered in a child process so that nothing else is
// limited): Allocate fails with an error wrapping EFBIG whose message names
// it and the limit ("file too large" alone reads like a property of the
// file).
func TestAllocateEFBIG(t *testing.T) {
	if os.Getenv("MMAPIO_EFBIG_CHILD") == "1" {
		lim := unix.Rlimit{Cur: 1 << 20, Max: unix.RLIM_INFINITY}
		var old unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
			t.Fatal(err)
		}
		lim.Max = old.Max
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
			t.Skipf("SKIPPED (cannot lower RLIMIT_FSIZE): %v", err)
		}
		f, err := mmapio.OS.Create(filepath.Join(t.TempDir(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		err = f.Allocate(4 << 20)
		if !errors.Is(err, syscall.EFBIG) || !strings.Contains(err.Error(), "(EFBIG") {
			t.Fatalf("Allocate past RLIMIT_FSIZE = %v, want an error wrapping EFBIG and naming it", err)
		}
		if err := f.Allocate(512 << 10); err != nil {
			t.Fatalf("Allocate below the limit: %v", err)
		}
		return
	}
	runChild(t, "TestAllocateEFBIG", "MMAPIO_EFBIG_CHILD=1")
}

// runChild runs test name alone in a child process with env added and
// fails with its output unless it passes.
func runChild(t *testing.T, name, env string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "SKIPPED") {
		t.Skipf("child skipped:\n%s", out)
	}
	if !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("child did not pass:\n%s", out)
	}
}
