package journal

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mappedSealed counts the segments of the current set that are mapped,
// the active segment excluded: what Options.MaxOpenSegments caps.
func (j *Journal) mappedSealed() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, s := range j.segs.Load().segs {
		if s != j.active && s.loaded.Load() {
			n++
		}
	}
	return n
}

// mappedDuringReads counts the mapped segments of the current set but the
// last (the active one when nothing is written), for checks made while
// readers run: under the loaders' eviction lock, not the writer lock, so
// that the count does not turn loaders' passes over to the bounder. No
// loader's pass evicts during the count; loads may still add segments.
func (j *Journal) mappedDuringReads() int {
	j.bound.evictMu.Lock()
	defer j.bound.evictMu.Unlock()
	segs := j.segs.Load().segs
	n := 0
	for i, s := range segs {
		if i < len(segs)-1 && s.loaded.Load() {
			n++
		}
	}
	return n
}

// settleBound runs one pass of the bounder in the caller's goroutine:
// what its goroutine does when woken, so that a test need not wait for it.
func (j *Journal) settleBound() { j.boundPass() }

// procSegments counts, on Linux, the open descriptors (/proc/self/fd) and
// the mappings (/proc/self/maps) of segment files of dir (spare files
// excluded). ok is false where /proc is absent.
func procSegments(t testing.TB, dir string) (fds, maps int, ok bool) {
	t.Helper()
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	isSeg := func(p string) bool {
		p = strings.TrimSuffix(p, " (deleted)")
		return strings.HasPrefix(p, dir+string(filepath.Separator)) && strings.HasSuffix(p, ".seg")
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, 0, false
	}
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && isSeg(p) {
			fds++
		}
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.SplitN(sc.Text(), " ", 6)
		if len(fields) == 6 && isSeg(strings.TrimSpace(fields[5])) {
			maps++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return fds, maps, true
}
