package journal

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// planScenario is one situation on the disk, built by a journal's own
// operations and a few file edits, and the decision the analysis must take
// about it.
type planScenario struct {
	name  string
	build func(t *testing.T, dir string)
	check func(t *testing.T, d dirPlan, p *recoveryPlan)
}

// analyse runs the analysis of dir as Verify does (no Open, read-only
// files) and checks that it changed no file.
func analyse(t *testing.T, dir string) (dirPlan, *recoveryPlan) {
	t.Helper()
	before := dirImage(t, dir)
	o, err := testOpts().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	j := &Journal{dir: dir, fs: &verifyFS{base: o.FS}, opts: o}
	names, err := j.fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := planDir(names)
	var p *recoveryPlan
	if d.hasMeta {
		st, err := loadMeta(j.fs, filepath.Join(dir, metaName))
		if err != nil {
			t.Fatal(err)
		}
		j.id = st.journalID
		p = newAnalysis(j).plan(d.files, st)
		j.segs.Store(&segmentSet{segs: p.segs})
	}
	j.releaseAll()
	if after := dirImage(t, dir); !maps.Equal(before, after) {
		t.Fatalf("the analysis changed the directory: %v, was %v", after, before)
	}
	return d, p
}

// appendN appends entries from..to of 700-900 bytes.
func appendN(t *testing.T, j *Journal, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := j.AppendBytes(payload(i, 700+int(i%3)*100)); err != nil {
			t.Fatal(err)
		}
	}
}

// clearTrailer zeroes the trailer of the segment file at path, which
// starts at trailerOff: its deferred seal never reached the disk. With
// tornAt >= 0, 512 bytes of data from there on are garbage too.
func clearTrailer(t *testing.T, path string, trailerOff int64, tornAt int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[trailerOff:])
	if tornAt >= 0 {
		for k := tornAt; k < tornAt+512; k++ {
			b[k] ^= 0xff
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func staleOf(p *recoveryPlan) []staleCase {
	var out []staleCase
	for _, g := range p.garbage {
		out = append(out, g.why)
	}
	return out
}

func TestPlanScenarios(t *testing.T) {
	lostSeal := func(torn bool) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			j := mustOpen(t, dir, testOpts())
			appendN(t, j, 1, 300)
			ss := j.segs.Load().segs
			victim := ss[len(ss)-2]
			tornAt := -1
			if torn { // in entry first+5: the scan keeps five
				tornAt = int(victim.slot(5)) + chunkHeaderSize + 3
			}
			path, trailerOff := victim.path, victim.trailerOff()
			j.crashClose()
			clearTrailer(t, path, trailerOff, tornAt)
		}
	}
	for _, sc := range []planScenario{
		{"interrupted creations -> remove them", func(t *testing.T, dir string) {
			j := mustOpen(t, dir, testOpts())
			appendN(t, j, 1, 10)
			mustClose(t, j)
			for _, n := range []string{metaName + tmpSuffix, segmentName(7, 11) + tmpSuffix} {
				if err := os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, func(t *testing.T, d dirPlan, p *recoveryPlan) {
			got := slices.Sorted(slices.Values(d.interrupted))
			if want := []string{segmentName(7, 11) + tmpSuffix, metaName + tmpSuffix}; !slices.Equal(got, want) {
				t.Fatalf("interrupted = %v, want %v", got, want)
			}
			if p.err != nil || p.last != 10 {
				t.Fatalf("plan: err %v, last %d", p.err, p.last)
			}
		}},
		{"segments but no meta file -> ErrCorrupt", func(t *testing.T, dir string) {
			j := mustOpen(t, dir, testOpts())
			appendN(t, j, 1, 10)
			mustClose(t, j)
			if err := os.Remove(filepath.Join(dir, metaName)); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, d dirPlan, p *recoveryPlan) {
			if err := d.missingMeta(metaName); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("missingMeta = %v, want ErrCorrupt", err)
			}
		}},
		{"segments of the journal before a Reset -> remove (below minSegID)", func(t *testing.T, dir string) {
			j := mustOpen(t, dir, testOpts())
			appendN(t, j, 1, 100)
			old := j.segs.Load().segs[0]
			b, err := os.ReadFile(old.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Reset(1000); err != nil {
				t.Fatal(err)
			}
			appendN(t, j, 1000, 1010)
			mustClose(t, j)
			if err := os.WriteFile(old.path, b, 0o644); err != nil { // its unlink did not land
				t.Fatal(err)
			}
		}, func(t *testing.T, d dirPlan, p *recoveryPlan) {
			if got := staleOf(p); !slices.Equal(got, []staleCase{staleBelowMin}) {
				t.Fatalf("garbage %v, want one below minSegID", got)
			}
			if p.err != nil || p.first != 1000 || p.last != 1010 {
				t.Fatalf("plan: err %v, [%d, %d]", p.err, p.first, p.last)
			}
		}},
		{"segment wholly below the first index -> remove (below first)", func(t *testing.T, dir string) {
			j := mustOpen(t, dir, testOpts())
			appendN(t, j, 1, 300)
			ss := j.segs.Load().segs
			old, next := ss[0], ss[1]
			b, err := os.ReadFile(old.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.TruncateFront(next.first + 1); err != nil {
				t.Fatal(err)
			}
			mustClose(t, j)
			if err := os.WriteFile(old.path, b, 0o644); err != nil { // its unlink did not land
				t.Fatal(err)
			}
		}, func(t *testing.T, d dirPlan, p *recoveryPlan) {
			if got := staleOf(p); !slices.Equal(got, []staleCase{staleBelowFirst}) {
				t.Fatalf("garbage %v, want one below the first index", got)
			}
			if p.err != nil || p.last != 300 {
				t.Fatalf("plan: err %v, last %d", p.err, p.last)
			}
		}},
		{"clean Close -> the last segment is taken from the clean record", func(t *testing.T, dir string) {
			j := mustOpen(t, dir, testOpts())
			appendN(t, j, 1, 300)
			mustClose(t, j)
		}, func(t *testing.T, d dirPlan, p *recoveryPlan) {
			tail := p.segs[len(p.segs)-1]
			if p.err != nil || p.last != 300 || tail.scanned || tail.sealed || !tail.j.cleanPending {
				t.Fatalf("plan: err %v, last %d, tail scanned %v sealed %v", p.err, p.last, tail.scanned, tail.sealed)
			}
			if p.keep != len(p.segs) || p.cutTail || len(p.garbage) != 0 {
				t.Fatalf("plan: keep %d of %d, cut %v, garbage %v", p.keep, len(p.segs), p.cutTail, p.garbage)
			}
		}},
		{"crash -> the last segment is scanned, its torn tail trimmed", func(t *testing.T, dir string) {
			crashedJournal(t, dir, 50, 5, func(i uint64) int { return 700 })
		}, func(t *testing.T, d dirPlan, p *recoveryPlan) {
			tail := p.segs[len(p.segs)-1]
			if p.err != nil || !tail.scanned || p.last < 50 || p.last > 55 || p.keep != len(p.segs) {
				t.Fatalf("plan: err %v, tail scanned %v, last %d, keep %d of %d", p.err, tail.scanned, p.last, p.keep, len(p.segs))
			}
		}},
		{"unsealed non-last segment whose successor continues -> keep the log", lostSeal(false),
			func(t *testing.T, d dirPlan, p *recoveryPlan) {
				victim := p.segs[len(p.segs)-2]
				if p.err != nil || !victim.scanned || p.keep != len(p.segs) || p.last != 300 {
					t.Fatalf("plan: err %v, victim scanned %v, keep %d of %d, last %d", p.err, victim.scanned, p.keep, len(p.segs), p.last)
				}
			}},
		{"unsealed non-last segment whose successor does not continue -> drop the successors", lostSeal(true),
			func(t *testing.T, d dirPlan, p *recoveryPlan) {
				victim := p.segs[len(p.segs)-2]
				if p.err != nil || !victim.scanned || p.keep != len(p.segs)-1 || p.last != victim.first+4 {
					t.Fatalf("plan: err %v, victim scanned %v, keep %d of %d, last %d (victim starts at %d)", p.err, victim.scanned, p.keep, len(p.segs), p.last, victim.first)
				}
			}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			sc.build(t, dir)
			d, p := analyse(t, dir)
			sc.check(t, d, p)
		})
	}
}
