//go:build linux

package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssFileKB returns the process's resident file-backed memory in KiB
// (RssFile in /proc/self/status); ok is false where it is not reported.
func rssFileKB(t testing.TB) (kb int64, ok bool) {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, found := strings.CutPrefix(sc.Text(), "RssFile:"); found {
			v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("RssFile: %q: %v", rest, err)
			}
			return v, true
		}
	}
	return 0, false
}

// rssFileSettles waits until RssFile is at most limitKB above beforeKB,
// polling: background goroutines release the pages. The deadline only
// guards against their never doing so; ok is false if it passed. It
// returns the growth last seen.
func rssFileSettles(t testing.TB, beforeKB, limitKB int64) (grewKB int64, ok bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		now, _ := rssFileKB(t)
		if grewKB = now - beforeKB; grewKB <= limitKB {
			return grewKB, true
		}
		if time.Now().After(deadline) {
			return grewKB, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLRUReleasesWrittenPages writes many segments' worth of entries and
// checks that the process's file-backed resident set ends within the
// active segment's size (plus a margin for the spare file's head and the
// test binary's own pages) of where it started: the bounder releases the
// pages of each sealed segment once its seal is durable, instead of every
// written page staying resident in the process. The entries still read
// back, byte-identical, from the page cache.
func TestLRUReleasesWrittenPages(t *testing.T) {
	total := int64(envIntShort("SPOOL_LRU_RSS_MB", 256, 64)) << 20
	const segSize = 8 << 20
	const margin = 16 << 20
	dir := t.TempDir()
	j := mustOpen(t, dir, &Options{SegmentSize: segSize, Sync: PageCache})
	defer j.Close()
	before, ok := rssFileKB(t)
	if !ok {
		t.Skip("no RssFile in /proc/self/status")
	}
	buf := payload(3, 256<<10)
	var last uint64
	for written := int64(0); written < total; written += int64(len(buf)) {
		binary.LittleEndian.PutUint64(buf, last+1)
		idx, err := j.AppendBytes(buf)
		if err != nil {
			t.Fatal(err)
		}
		last = idx
		if written%segSize == 0 {
			if err := j.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	// The bounder's goroutine releases the pages.
	limit := int64(segSize+margin) >> 10
	grew, ok := rssFileSettles(t, before, limit)
	if !ok {
		t.Fatalf("RssFile grew by %d KiB after writing %d MiB in %d KiB segments; want at most %d KiB (%d segments released)",
			grew, total>>20, segSize>>10, limit, j.bound.released.Load())
	}
	t.Logf("RssFile grew by %d KiB after writing %d MiB (%d segments, %d released)", grew, total>>20, len(j.segs.Load().segs), j.bound.released.Load())
	for _, i := range []uint64{1, last / 3, last / 2, last} {
		b, err := j.ReadBytes(i, nil)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint64(buf, i)
		if !bytes.Equal(b, buf) {
			t.Fatalf("entry %d differs after its pages were released", i)
		}
	}
}
