package journal

import (
	"errors"
	"slices"
	"testing"
)

// The recovery decisions, one row per situation: each row builds the
// situation and checks the decision the analysis takes (plan.go).

func TestPlanNames(t *testing.T) {
	seg := segmentName(3, 100)
	for _, tc := range []struct {
		name string
		file string
		want nameCase
	}{
		{"meta file -> meta", metaName, nameMeta},
		{"meta tmp file -> remove", metaName + tmpSuffix, nameInterrupted},
		{"segment tmp file -> remove", seg + tmpSuffix, nameInterrupted},
		{"segment file -> segment", seg, nameSegment},
		{"LOCK -> left alone", "LOCK", nameOther},
		{"foreign file -> left alone", "notes.txt", nameOther},
		{"malformed segment name -> left alone", "0003-0064.seg", nameOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, f := classifyName(tc.file)
			if got != tc.want {
				t.Fatalf("classifyName(%q) = %d, want %d", tc.file, got, tc.want)
			}
			if got == nameSegment && (f.id != 3 || f.first != 100 || f.name != seg) {
				t.Fatalf("segment file parsed as %+v", f)
			}
		})
	}
}

func TestPlanDir(t *testing.T) {
	names := []string{segmentName(9, 50), "LOCK", metaName + tmpSuffix, metaName, segmentName(2, 1), segmentName(5, 20) + tmpSuffix}
	d := planDir(names)
	if !d.hasMeta {
		t.Fatal("meta file not found")
	}
	if want := []string{metaName + tmpSuffix, segmentName(5, 20) + tmpSuffix}; !slices.Equal(d.interrupted, want) {
		t.Fatalf("interrupted = %v, want %v", d.interrupted, want)
	}
	if len(d.files) != 2 || d.files[0].id != 2 || d.files[1].id != 9 {
		t.Fatalf("segment files not sorted by ID: %+v", d.files)
	}
}

func TestPlanMissingMeta(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d       dirPlan
		corrupt bool
	}{
		{"no meta, no segment -> no journal yet", dirPlan{}, false},
		{"meta beside segments -> fine", dirPlan{hasMeta: true, files: []segFile{{id: 1, first: 1}}}, false},
		{"no meta beside segments -> ErrCorrupt", dirPlan{files: []segFile{{id: 1, first: 1}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.d.missingMeta(metaName)
			if got := errors.Is(err, ErrCorrupt); got != tc.corrupt || (err != nil) != tc.corrupt {
				t.Fatalf("missingMeta = %v, want corrupt %v", err, tc.corrupt)
			}
		})
	}
}

func TestPlanNextSegID(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []segFile
		st    metaState
		want  uint64
	}{
		{"new journal -> 1", nil, metaState{}, 1},
		{"meta's next ID -> it", nil, metaState{nextSegID: 4, minSegID: 2}, 4},
		{"ID high-water mark above -> it", nil, metaState{nextSegID: 4, idHigh: 9}, 9},
		{"segment file above the meta's IDs -> after it", []segFile{{id: 2}, {id: 12}}, metaState{nextSegID: 4}, 13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextSegID(tc.files, tc.st); got != tc.want {
				t.Fatalf("nextSegID = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPlanPartition(t *testing.T) {
	f := func(id, first uint64) segFile { return segFile{id: id, first: first, name: segmentName(id, first)} }
	for _, tc := range []struct {
		name    string
		files   []segFile
		st      metaState
		live    []uint64 // IDs
		garbage map[uint64]staleCase
	}{
		{"segments in range -> live",
			[]segFile{f(1, 1), f(2, 10)}, metaState{first: 1, minSegID: 1, nextSegID: 3},
			[]uint64{1, 2}, nil},
		{"segment below minSegID -> remove",
			[]segFile{f(1, 1), f(2, 10)}, metaState{first: 10, minSegID: 2, nextSegID: 3},
			[]uint64{2}, map[uint64]staleCase{1: staleBelowMin}},
		{"segment after the cut, below nextSegID -> remove",
			[]segFile{f(1, 1), f(2, 10), f(3, 20)}, metaState{first: 1, minSegID: 1, nextSegID: 4, cut: segRecord{segID: 1}},
			[]uint64{1}, map[uint64]staleCase{2: staleAfterCut, 3: staleAfterCut}},
		{"segment created after the cut (at nextSegID) -> live",
			[]segFile{f(1, 1), f(4, 8)}, metaState{first: 1, minSegID: 1, nextSegID: 4, cut: segRecord{segID: 1}},
			[]uint64{1, 4}, nil},
		{"successor starts at the first index -> remove",
			[]segFile{f(1, 1), f(2, 10), f(3, 20)}, metaState{first: 10, minSegID: 1, nextSegID: 4},
			[]uint64{2, 3}, map[uint64]staleCase{1: staleBelowFirst}},
		{"successor starts past the first index -> live",
			[]segFile{f(1, 1), f(2, 10)}, metaState{first: 9, minSegID: 1, nextSegID: 3},
			[]uint64{1, 2}, nil},
		{"last segment wholly below the first index -> live (dropBelow removes it after the bounds)",
			[]segFile{f(1, 1), f(2, 10)}, metaState{first: 30, minSegID: 1, nextSegID: 3},
			[]uint64{2}, map[uint64]staleCase{1: staleBelowFirst}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live, garbage := partitionFiles(tc.files, tc.st)
			var ids []uint64
			for _, l := range live {
				ids = append(ids, l.id)
			}
			if !slices.Equal(ids, tc.live) {
				t.Fatalf("live = %v, want %v", ids, tc.live)
			}
			got := map[uint64]staleCase{}
			for _, g := range garbage {
				got[g.id] = g.why
			}
			if len(got) != len(tc.garbage) {
				t.Fatalf("garbage = %v, want %v", got, tc.garbage)
			}
			for id, why := range tc.garbage {
				if got[id] != why {
					t.Fatalf("garbage = %v, want %v", got, tc.garbage)
				}
			}
		})
	}
}

func TestPlanPredecessor(t *testing.T) {
	for _, tc := range []struct {
		name        string
		prev, first uint64
		corrupt     bool
	}{
		{"starts after its predecessor -> fine", 10, 20, false},
		{"starts where its predecessor does (no entry starts there) -> fine", 10, 10, false},
		{"starts 2^32-1 entries on -> fine", 10, 10 + 1<<32 - 1, false},
		{"starts before its predecessor -> ErrCorrupt", 10, 9, true},
		{"starts 2^32 entries on -> ErrCorrupt", 10, 10 + 1<<32, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPredecessor(&segment{first: tc.prev}, &segment{first: tc.first})
			if errors.Is(err, ErrCorrupt) != tc.corrupt || (err != nil) != tc.corrupt {
				t.Fatalf("checkPredecessor = %v, want corrupt %v", err, tc.corrupt)
			}
		})
	}
}

func TestPlanLoadCase(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cut, sealed bool
		clean       bool // what trustClean says
		want        loadCase
		askClean    bool // trustClean may be called
	}{
		{"cut record names it -> the record is its trailer", true, false, true, loadCut, false},
		{"cut record names a sealed one -> the record wins", true, true, false, loadCut, false},
		{"valid trailer -> sealed", false, true, true, loadSealed, false},
		{"no trailer, clean record checks out -> trust the record", false, false, true, loadClean, true},
		{"no trailer, clean record refused or absent -> scan", false, false, false, loadScan, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			got := decideLoad(tc.cut, tc.sealed, func() bool { asked = true; return tc.clean })
			if got != tc.want {
				t.Fatalf("decideLoad = %d, want %d", got, tc.want)
			}
			if asked && !tc.askClean {
				t.Fatal("trustClean asked about a segment with a trailer or a cut record")
			}
		})
	}
}

func TestPlanScanCase(t *testing.T) {
	ck := func(count uint32, end int64) *checkpoint { return &checkpoint{count: count, end: end} }
	cl := func(count uint32, end int64) *segRecord { return &segRecord{count: count, dataEnd: end} }
	for _, tc := range []struct {
		name  string
		count uint32
		end   int64
		ckpt  *checkpoint
		clean *segRecord
		want  scanCase
	}{
		{"no record -> torn tail", 3, 8192, nil, nil, scanTorn},
		{"scan reaches the checkpoint -> torn tail above it", 3, 8192, ck(3, 8192), nil, scanTorn},
		{"scan passes the checkpoint -> torn tail above it", 5, 12288, ck(3, 8192), nil, scanTorn},
		{"fewer entries than the checkpoint -> ErrCorrupt", 2, 8192, ck(3, 8192), nil, scanBelowCheckpoint},
		{"data ends below the checkpoint -> ErrCorrupt", 3, 4096, ck(3, 8192), nil, scanBelowCheckpoint},
		{"scan reaches the refused clean record -> torn tail", 3, 8192, nil, cl(3, 8192), scanTorn},
		{"fewer entries than the clean record -> ErrCorrupt", 2, 8192, nil, cl(3, 8192), scanBelowClean},
		{"data ends below the clean record -> ErrCorrupt", 3, 4096, nil, cl(3, 8192), scanBelowClean},
		{"below both -> the checkpoint is reported", 1, 4096, ck(3, 8192), cl(3, 8192), scanBelowCheckpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := judgeScan(tc.count, tc.end, tc.ckpt, tc.clean); got != tc.want {
				t.Fatalf("judgeScan = %d, want %d", got, tc.want)
			}
		})
	}
}

// planSeg builds a loaded in-memory segment for the settle and bounds
// decisions: entries [first, first+count) start in it, base is the index
// of its first chunk (first-1 when it opens with a continuation).
type planSeg struct {
	first      uint64
	count      uint32
	cont, open bool
	scanned    bool
	ckpt       bool  // holds a valid durable checkpoint
	writeOff   int64 // 0: past dataStart
	notLoaded  bool
}

func (p planSeg) build(id uint64) *segment {
	s := &segment{id: id, first: p.first, base: p.first, cont: p.cont, open: p.open, scanned: p.scanned,
		path: segmentName(id, p.first), salt: segmentSalt(1, id), writeOff: p.writeOff}
	if p.cont {
		s.base--
	}
	if s.writeOff == 0 {
		s.writeOff = dataStart + 4096
	}
	s.count.Store(p.count)
	s.loaded.Store(!p.notLoaded)
	s.data = make([]byte, ckptSize)
	if p.ckpt {
		c := checkpoint{end: dataStart, count: 1, last: p.first}
		c.encode(s.data, s.salt)
	}
	return s
}

func buildSegs(ps []planSeg) []*segment {
	segs := make([]*segment, len(ps))
	for i, p := range ps {
		segs[i] = p.build(uint64(i + 1))
	}
	return segs
}

func TestPlanLogBreak(t *testing.T) {
	for _, tc := range []struct {
		name    string
		segs    []planSeg
		keep    int
		corrupt bool
	}{
		{"sealed segments -> keep all",
			[]planSeg{{first: 1, count: 3}, {first: 4, count: 2}}, 2, false},
		{"sealed segment that does not chain -> kept (checkChain reports it)",
			[]planSeg{{first: 1, count: 2}, {first: 4, count: 2}}, 2, false},
		{"unsealed last segment -> keep all",
			[]planSeg{{first: 1, count: 3}, {first: 4, count: 2, scanned: true}}, 2, false},
		{"unsealed non-last segment whose successor continues -> keep all",
			[]planSeg{{first: 1, count: 3, scanned: true}, {first: 4, count: 2, scanned: true}}, 2, false},
		{"unsealed non-last segment ending in an entry its successor continues -> keep all",
			[]planSeg{{first: 1, count: 4, open: true, scanned: true}, {first: 5, count: 2, cont: true}}, 2, false},
		{"unsealed non-last segment whose successor does not continue -> drop the successors",
			[]planSeg{{first: 1, count: 2, scanned: true}, {first: 4, count: 2}, {first: 6, count: 1}}, 1, false},
		{"unsealed non-last segment ending in an entry its successor does not continue -> drop the successors",
			[]planSeg{{first: 1, count: 4, open: true, scanned: true}, {first: 4, count: 2}}, 1, false},
		{"broken opening continuation -> drop the successors",
			[]planSeg{{first: 1, count: 4, open: true}, {first: 5, count: 0, cont: true, open: true, scanned: true, writeOff: dataStart}, {first: 5, count: 2, cont: true}}, 2, false},
		{"break, and a later segment holds a durable checkpoint -> ErrCorrupt",
			[]planSeg{{first: 1, count: 2, scanned: true}, {first: 4, count: 2}, {first: 6, count: 1, ckpt: true}}, 0, true},
		{"break, the unsealed segment's own checkpoint -> drop the successors",
			[]planSeg{{first: 1, count: 2, scanned: true, ckpt: true}, {first: 4, count: 2}}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, err := logBreak(buildSegs(tc.segs))
			if errors.Is(err, ErrCorrupt) != tc.corrupt || (err != nil) != tc.corrupt {
				t.Fatalf("logBreak error = %v, want corrupt %v", err, tc.corrupt)
			}
			if err == nil && keep != tc.keep {
				t.Fatalf("logBreak keeps %d segments, want %d", keep, tc.keep)
			}
		})
	}
}

func TestPlanChain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		segs    []planSeg
		corrupt bool
	}{
		{"consecutive segments -> fine", []planSeg{{first: 1, count: 3}, {first: 4, count: 2}}, false},
		{"an open entry continued -> fine", []planSeg{{first: 1, count: 4, open: true}, {first: 5, count: 2, cont: true}}, false},
		{"a gap -> ErrCorrupt", []planSeg{{first: 1, count: 2}, {first: 4, count: 2}}, true},
		{"an open entry not continued -> ErrCorrupt", []planSeg{{first: 1, count: 4, open: true}, {first: 4, count: 2}}, true},
		{"a gap at a segment not loaded yet -> left to ensure", []planSeg{{first: 1, count: 2, notLoaded: true}, {first: 4, count: 2}}, false},
		{"a gap before a segment not loaded yet -> left to ensure", []planSeg{{first: 1, count: 2}, {first: 4, count: 2, notLoaded: true}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkChain(buildSegs(tc.segs))
			if errors.Is(err, ErrCorrupt) != tc.corrupt || (err != nil) != tc.corrupt {
				t.Fatalf("checkChain = %v, want corrupt %v", err, tc.corrupt)
			}
		})
	}
}

func TestPlanBounds(t *testing.T) {
	for _, tc := range []struct {
		name       string
		first      uint64 // the meta's
		segs       []planSeg
		wantFirst  uint64
		wantLast   uint64
		below, cut bool
		corrupt    bool
	}{
		{"no segment -> empty log at the meta's first index", 5, nil, 5, 4, false, false, false},
		{"entries -> the log ends at the last", 5, []planSeg{{first: 5, count: 3}}, 5, 7, false, false, false},
		{"first index inside the first segment -> the log starts there", 6, []planSeg{{first: 5, count: 3}}, 6, 7, false, false, false},
		{"tail ends in an entry that continues nowhere -> cut it off", 5, []planSeg{{first: 5, count: 3, open: true}}, 5, 6, false, true, false},
		{"everything below the first index -> nothing to cut", 10, []planSeg{{first: 5, count: 3, open: true}}, 10, 9, true, false, false},
		{"meta's first index below the first segment's entries -> ErrCorrupt", 3, []planSeg{{first: 5, count: 3}}, 0, 0, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			segs := buildSegs(tc.segs)
			first, last, below, err := logBounds(metaState{first: tc.first}, segs)
			if errors.Is(err, ErrCorrupt) != tc.corrupt || (err != nil) != tc.corrupt {
				t.Fatalf("logBounds error = %v, want corrupt %v", err, tc.corrupt)
			}
			if err != nil {
				return
			}
			if first != tc.wantFirst || last != tc.wantLast || below != tc.below {
				t.Fatalf("logBounds = [%d, %d] below %v, want [%d, %d] below %v", first, last, below, tc.wantFirst, tc.wantLast, tc.below)
			}
			if got := tailCut(segs, below); got != tc.cut {
				t.Fatalf("tailCut = %v, want %v", got, tc.cut)
			}
		})
	}
}
