package journal

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// damagePayloads flips a payload byte of each entry idx of dir's journal,
// whose segments j (still open) describes, and returns the indexes.
func damagePayloads(t *testing.T, j *Journal, idxs ...uint64) {
	t.Helper()
	type hit struct {
		path string
		off  int64
	}
	var hits []hit
	for _, idx := range idxs {
		s := j.segs.Load().find(idx)
		if err := s.ensure(); err != nil {
			t.Fatal(err)
		}
		hits = append(hits, hit{s.path, s.slot(uint32(idx-s.first)) + chunkHeaderSize + 3})
	}
	mustClose(t, j)
	for _, h := range hits {
		b, err := os.ReadFile(h.path)
		if err != nil {
			t.Fatal(err)
		}
		b[h.off] ^= 0x08
		if err := os.WriteFile(h.path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// problemIndexes returns the entry index of each problem listed.
func problemIndexes(rep *Report) []uint64 {
	var out []uint64
	for _, p := range rep.Problems {
		out = append(out, p.Index)
	}
	return out
}

// TestVerifyListsEveryProblem damages entries in several segments: Verify
// lists every one (file, offset, index), Problem stays the first, and the
// list stops at MaxProblems with a count of the rest. Before, only the
// first problem was reported.
func TestVerifyListsEveryProblem(t *testing.T) {
	size := func(uint64) int { return 300 }
	fill := func(t *testing.T, n uint64) (string, *Journal) {
		dir := t.TempDir()
		j := mustOpen(t, dir, testOpts())
		for i := uint64(1); i <= n; i++ {
			if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
				t.Fatal(err)
			}
		}
		return dir, j
	}

	t.Run("several segments", func(t *testing.T) {
		dir, j := fill(t, 600) // three segments and more
		if len(j.segs.Load().segs) < 3 {
			t.Fatal("want three segments")
		}
		bad := []uint64{5, 250, 420, 599}
		damagePayloads(t, j, bad...)
		rep := verifyAgrees(t, dir, "several")
		if rep.Verdict != VerdictCorrupt || rep.BadEntries != uint64(len(bad)) {
			t.Fatalf("verdict %v, %d bad entries", rep.Verdict, rep.BadEntries)
		}
		if got := problemIndexes(rep); !slices.Equal(got, bad) || rep.MoreProblems != 0 {
			t.Fatalf("problems at entries %v (+%d), want %v", got, rep.MoreProblems, bad)
		}
		if rep.Problem != rep.Problems[0] {
			t.Fatalf("Problem %v is not the first listed", rep.Problem)
		}
		for _, p := range rep.Problems {
			if p.Err == nil || p.Offset < dataStart || filepath.Dir(p.Path) != dir {
				t.Fatalf("problem not located: %+v", p)
			}
		}
	})

	t.Run("more than the limit", func(t *testing.T) {
		const n = MaxProblems + 37
		dir, j := fill(t, n)
		var bad []uint64
		for i := uint64(1); i <= n; i++ {
			bad = append(bad, i)
		}
		damagePayloads(t, j, bad...)
		rep, err := Verify(dir, testOpts())
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Problems) != MaxProblems || rep.MoreProblems != n-MaxProblems || rep.BadEntries != n {
			t.Fatalf("%d problems listed, %d more, %d bad entries; want %d, %d, %d", len(rep.Problems), rep.MoreProblems, rep.BadEntries, MaxProblems, n-MaxProblems, n)
		}
	})

	t.Run("open fails", func(t *testing.T) {
		// A cleanly closed journal with an entry damaged in a sealed
		// segment and the last chunk's header damaged: Open fails on
		// the latter, and Verify still reads the sealed segments
		// before it and lists the former too.
		dir, j := fill(t, 300)
		ss := j.segs.Load().segs
		if len(ss) < 2 {
			t.Fatal("want two segments")
		}
		tail := ss[len(ss)-1]
		lastHdr := tail.slot(tail.count.Load()-1) + 9 // the chunk's length
		tailPath := tail.path
		damagePayloads(t, j, 7) // closes j
		b, err := os.ReadFile(tailPath)
		if err != nil {
			t.Fatal(err)
		}
		b[lastHdr] ^= 0x01
		if err := os.WriteFile(tailPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		rep := verifyAgrees(t, dir, "open fails")
		if rep.Opens || rep.Verdict != VerdictCorrupt || rep.Problem.Index != 300 || rep.Problem.Path != tailPath {
			t.Fatalf("opens %v, %v, problem %v: want Open to fail at entry 300 in %s", rep.Opens, rep.Verdict, rep.Problem, tailPath)
		}
		if got := problemIndexes(rep); !slices.Equal(got, []uint64{300, 7}) || rep.BadEntries != 1 {
			t.Fatalf("problems at entries %v, %d bad entries; want [300 7], 1", got, rep.BadEntries)
		}
	})

	t.Run("torn and corrupt", func(t *testing.T) {
		// A crash: entries damaged in a sealed segment and a torn tail
		// after the checkpoint's bound: both are listed, the verdict is
		// corrupt.
		dir, j := fill(t, 300)
		if err := j.Sync(); err != nil {
			t.Fatal(err)
		}
		for i := uint64(301); i <= 303; i++ {
			if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
				t.Fatal(err)
			}
		}
		tail := j.active
		tornAt := tail.slot(tail.count.Load()-1) + chunkHeaderSize + 1 // inside entry 303, never synced
		tailPath := tail.path
		s := j.segs.Load().find(7)
		if err := s.ensure(); err != nil {
			t.Fatal(err)
		}
		sealedPath, sealedOff := s.path, s.slot(uint32(7-s.first))+chunkHeaderSize+3
		j.crashClose()
		for _, d := range []struct {
			path string
			off  int64
		}{{sealedPath, sealedOff}, {tailPath, tornAt}} {
			b, err := os.ReadFile(d.path)
			if err != nil {
				t.Fatal(err)
			}
			b[d.off] ^= 0x08
			if err := os.WriteFile(d.path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		rep := verifyAgrees(t, dir, "torn and corrupt")
		if rep.Verdict != VerdictCorrupt || rep.LastIndex != 302 || rep.BadEntries != 1 {
			t.Fatalf("verdict %v, last %d, %d bad", rep.Verdict, rep.LastIndex, rep.BadEntries)
		}
		var torn, corrupt int
		for _, p := range rep.Problems {
			switch {
			case p.Err == nil && p.Index == 303:
				torn++
			case p.Err != nil && p.Index == 7:
				corrupt++
			default:
				t.Fatalf("unexpected problem %v", p)
			}
		}
		if torn < 1 || corrupt != 1 {
			t.Fatalf("problems %v: want the torn tail at 303 and entry 7", problemIndexes(rep))
		}
	})
}
