package journal

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// TestSegmentFileFailureRecoverable makes the creation or the reservation
// of a new segment file fail once, for the first segment, for a roll and
// for a roll inside a spanning entry: the append fails with a typed error
// (ErrCreate for a permission, a read-only file system or too many files,
// ErrNoSpace for a full disk, a quota or a file-size limit) wrapping the
// cause, nothing is appended, the instance does not fail, and the next
// append, the cause gone, succeeds. Before the fix a failed create made
// the instance fail until reopen (and EFBIG was not ErrNoSpace).
// The tests run as root, so a directory without write permission would not
// deny anything: crashfs injects the failures.
func TestSegmentFileFailureRecoverable(t *testing.T) {
	type cause struct {
		kind  crashfs.FaultKind
		errno syscall.Errno
		want  error
		text  string // the error message names it
	}
	causes := []cause{
		{crashfs.CreateFail, syscall.EACCES, ErrCreate, ""},
		{crashfs.CreateFail, syscall.EROFS, ErrCreate, ""},
		{crashfs.CreateFail, syscall.EMFILE, ErrCreate, ""},
		{crashfs.CreateFail, syscall.ENOSPC, ErrNoSpace, ""},
		{crashfs.CreateFail, syscall.EDQUOT, ErrNoSpace, ""},
		{crashfs.AllocENOSPC, syscall.EFBIG, ErrNoSpace, "(EFBIG"},
		{crashfs.AllocENOSPC, syscall.EDQUOT, ErrNoSpace, ""},
	}
	for _, c := range causes {
		for _, where := range []string{"first segment", "roll", "spanning roll"} {
			t.Run(fmt.Sprintf("%v %v %s", c.kind, c.errno, where), func(t *testing.T) {
				fs := crashfs.New()
				defer releaseFS(fs)
				o := &Options{FS: fs, SegmentSize: testSegSize, Sync: SyncEach, spare: spareOff}
				j, err := Open(crashDir, o)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { closeOK(t, j) }() // the j reopened below
				size := func(i uint64) int { return 700 }
				var last uint64
				if where != "first segment" {
					// Fill most of the first segment.
					for last = 1; last <= 60; last++ {
						if _, err := j.AppendBytes(payload(last, size(last))); err != nil {
							t.Fatal(err)
						}
					}
					last--
				}
				big := 700
				if where == "roll" {
					big = testSegSize / 2 // does not fit: starts in a new segment
				} else if where == "spanning roll" {
					big = testSegSize * 3 / 2 // continues into new segments
				}
				segs := len(j.segs.Load().segs)
				fs.Inject(crashfs.Fault{Kind: c.kind, Errno: c.errno, Path: ".seg" + tmpSuffix})
				_, err = j.AppendBytes(payload(last+1, big))
				if fs.Fired() != 1 {
					t.Fatalf("the fault did not fire (append: %v)", err)
				}
				if !errors.Is(err, c.want) || !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.text) {
					t.Fatalf("append = %v, want %v wrapping %v (naming %q)", err, c.want, c.errno, c.text)
				}
				if errors.Is(err, ErrFailed) || j.Err() != nil {
					t.Fatalf("the failure made the instance fail: %v (Err %v)", err, j.Err())
				}
				if j.LastIndex() != last || len(j.segs.Load().segs) != segs {
					t.Fatalf("after the failed append: last %d (want %d), %d segments (want %d)", j.LastIndex(), last, len(j.segs.Load().segs), segs)
				}
				checkEntries(t, j, 1, last, size)
				// The cause is gone (the fault fires once): the next
				// append retries the segment and succeeds.
				idx, err := j.AppendBytes(payload(last+1, big))
				if err != nil || idx != last+1 {
					t.Fatalf("append after the cause is gone: %d, %v", idx, err)
				}
				got, err := j.ReadBytes(idx, nil)
				if err != nil || !bytes.Equal(got, payload(idx, big)) {
					t.Fatalf("read back %d: %v", idx, err)
				}
				if err := j.Close(); err != nil {
					t.Fatal(err)
				}
				j, err = Open(crashDir, o)
				if err != nil {
					t.Fatal(err)
				}
				checkEntries(t, j, 1, idx, func(i uint64) int {
					if i == idx {
						return big
					}
					return size(i)
				})
			})
		}
	}
}
