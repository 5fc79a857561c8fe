package journal

import (
	"cmp"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spoolhq/spool/mmapio"
)

// Recovery is split in two. The analysis (this file) lists the directory,
// lays out and loads the segments and decides everything: it changes no
// file, so Verify runs exactly the analysis Open runs and reports its plan
// instead of applying it. Open applies the plan (recover.go). Every
// decision is a named case of a small function, so that each situation can
// be built and checked on its own (plan_test.go).

// segFile is a segment file found in the directory.
type segFile struct {
	id, first uint64
	name      string
}

// nameCase is the decision about one name in the journal directory.
type nameCase int

const (
	// nameOther: not the journal's (LOCK, lost+found, someone else's
	// file): left alone.
	nameOther nameCase = iota
	// nameMeta: the meta file.
	nameMeta
	// nameInterrupted: META.tmp or *.seg.tmp, an interrupted creation.
	// The rename never happened, so the file holds nothing acknowledged:
	// Open removes it, Verify notes it.
	nameInterrupted
	// nameSegment: a segment file, analysed by its ID and first index.
	nameSegment
)

// classifyName decides what a name in the journal directory is.
func classifyName(n string) (nameCase, segFile) {
	switch {
	case n == metaName:
		return nameMeta, segFile{}
	case n == metaName+tmpSuffix || strings.HasSuffix(n, ".seg"+tmpSuffix):
		return nameInterrupted, segFile{}
	}
	if id, first, ok := parseSegmentName(n); ok {
		return nameSegment, segFile{id: id, first: first, name: n}
	}
	return nameOther, segFile{}
}

// dirPlan is what the listing of the directory decides.
type dirPlan struct {
	hasMeta     bool
	interrupted []string  // names of interrupted creations: remove
	files       []segFile // segment files, sorted by ID
}

// planDir classifies the names of the directory.
func planDir(names []string) dirPlan {
	var d dirPlan
	for _, n := range names {
		switch c, f := classifyName(n); c {
		case nameMeta:
			d.hasMeta = true
		case nameInterrupted:
			d.interrupted = append(d.interrupted, n)
		case nameSegment:
			d.files = append(d.files, f)
		}
	}
	slices.SortFunc(d.files, func(a, b segFile) int { return cmp.Compare(a.id, b.id) })
	return d
}

// missingMeta returns the damage of a directory without a meta file: none
// when it holds no segment either (no journal yet), else ErrCorrupt.
func (d *dirPlan) missingMeta(metaPath string) error {
	if d.hasMeta || len(d.files) == 0 {
		return nil
	}
	return corruptf(metaPath, -1, 0, "meta file missing beside %d segments", len(d.files))
}

// nextSegID returns the ID of the next segment to create: above every ID
// the meta file records and every segment file in the directory.
func nextSegID(files []segFile, st metaState) uint64 {
	id := max(st.nextSegID, st.minSegID, st.idHigh, 1)
	if len(files) > 0 {
		id = max(id, files[len(files)-1].id+1)
	}
	return id
}

// staleCase says why a segment file is garbage.
type staleCase int

const (
	// staleBelowMin: its ID is below the meta's minSegID: a truncation
	// at the front whose unlink did not land.
	staleBelowMin staleCase = iota + 1
	// staleAfterCut: its ID lies after the segment a cut record names and
	// below nextSegID: a truncation at the back whose unlink did not land.
	staleAfterCut
	// staleBelowFirst: its successor's first entry is at or below the
	// first index, so it holds nothing of the log (a TruncateFront whose
	// unlinks did not all land).
	staleBelowFirst
)

// staleFile is a segment file recovery removes.
type staleFile struct {
	segFile
	why staleCase
}

// partitionFiles splits the segment files of the directory, sorted by ID,
// into the live ones and garbage. Segments wholly below the first index go
// before the chain checks, because a later one gone while an earlier one
// stayed would break them. Recovery removes the garbage; Verify reports
// it.
func partitionFiles(files []segFile, st metaState) (live []segFile, garbage []staleFile) {
	for _, f := range files {
		switch {
		case f.id < st.minSegID:
			garbage = append(garbage, staleFile{f, staleBelowMin})
		case st.cut.segID != 0 && f.id > st.cut.segID && f.id < st.nextSegID:
			garbage = append(garbage, staleFile{f, staleAfterCut})
		default:
			live = append(live, f)
		}
	}
	for len(live) > 1 && live[1].first <= st.first {
		garbage = append(garbage, staleFile{live[0], staleBelowFirst})
		live = live[1:]
	}
	return live, garbage
}

// planStep names the step of the analysis that found the damage that
// makes Open fail.
type planStep int

const (
	stepLayout planStep = iota + 1 // the file names do not chain (layOut)
	stepLoad                       // a tail segment failed to load (loadTail)
	stepBreak                      // a break in the tail is damage (logBreak)
	stepChain                      // the settled segments do not chain (checkChain)
	stepBounds                     // the meta file's first index and the segments disagree (logBounds)
)

// recoveryPlan is the analysis' result: what Open does to the directory,
// and what Verify reports.
type recoveryPlan struct {
	st      metaState
	garbage []staleFile // segment files to remove
	// segs are the live segments, laid out from their names, the tail
	// loaded; when layOut fails, those laid out so far.
	segs   []*segment
	failed *segment // the segment whose load failed (stepLoad)
	// keep: segs[:keep] form the log; segs[keep:] follow a torn tail and
	// are removed.
	keep int
	// cut is the loaded segment whose trailer a cut record stands for: its
	// trailer rewrite may not have landed, so Open re-seals it.
	cut *segment
	// first and last bound the log; below says that everything the
	// segments hold lies below first (dropBelow removes it).
	first, last uint64
	below       bool
	// cutTail: the last segment ends inside an entry that continues into
	// a segment that does not exist: Open cuts the log after last.
	cutTail bool
	// err is the damage that makes Open fail, found at step. Open reports
	// damage found at stepChain or stepBounds after settling the tail
	// (removing segs[keep:], sealing the scanned segments), as it always
	// has; at the earlier steps it changes nothing.
	err  error
	step planStep
}

// settled reports whether Open settles the tail before it fails.
func (p *recoveryPlan) settled() bool { return p.err == nil || p.step >= stepChain }

// analysis is one run of the read-only half of recovery. Scans rebuild the
// slots of the segments they walk in tables here, not in the mapping: Open
// writes them when it seals those segments.
type analysis struct {
	j     *Journal
	slots map[string][]uint32 // per segment path
}

func newAnalysis(j *Journal) *analysis {
	return &analysis{j: j, slots: map[string][]uint32{}}
}

// plan lays out the live segments, loads the tail and decides what
// recovery does. Damage that makes Open fail is p.err; an error that is
// not damage (a failed read) is p.err too, at the step that met it.
func (a *analysis) plan(files []segFile, st metaState) *recoveryPlan {
	p := &recoveryPlan{st: st}
	var live []segFile
	live, p.garbage = partitionFiles(files, st)
	if p.segs, p.err = a.layOut(live); p.err != nil {
		p.step = stepLayout
		return p
	}
	if p.failed, p.err = a.loadTail(p.segs, st); p.err != nil {
		p.step = stepLoad
		return p
	}
	for _, s := range p.segs {
		if st.cut.segID != 0 && s.id == st.cut.segID {
			p.cut = s
		}
	}
	if p.keep, p.err = logBreak(p.segs); p.err != nil {
		p.step = stepBreak
		return p
	}
	kept := p.segs[:p.keep]
	if p.err = checkChain(kept); p.err != nil {
		p.step = stepChain
		return p
	}
	if p.first, p.last, p.below, p.err = logBounds(st, kept); p.err != nil {
		p.step = stepBounds
		return p
	}
	p.cutTail = tailCut(kept, p.below)
	return p
}

// layOut makes the segments of the live files and lays out the index from
// their names: entries starting in segment i are [first_i, first_i+1). It
// returns the segments made so far with the error.
func (a *analysis) layOut(live []segFile) ([]*segment, error) {
	j := a.j
	segs := make([]*segment, 0, len(live))
	for _, f := range live {
		s := &segment{j: j, id: f.id, first: f.first, path: filepath.Join(j.dir, f.name)}
		s.initLocks(j)
		s.refs.Store(1)
		j.liveSegments.Add(1)
		segs = append(segs, s)
		if n := len(segs); n > 1 {
			if err := checkPredecessor(segs[n-2], s); err != nil {
				return segs, err
			}
			segs[n-2].count.Store(uint32(s.first - segs[n-2].first))
		}
	}
	return segs, nil
}

// checkPredecessor checks the first index in the name of s against its
// predecessor's: at or after it, and at most 2^32-1 entries on (a
// segment's count is 32 bits).
func checkPredecessor(p, s *segment) error {
	if s.first < p.first || s.first-p.first > 1<<32-1 {
		return corruptf(s.path, -1, s.first, "segment starts at index %d, before or far after its predecessor's %d", s.first, p.first)
	}
	return nil
}

// loadTail loads the segments Open needs at once: the last one and, going
// back, every one until a segment with a durable trailer (seals are synced
// in order, so all earlier ones have theirs; after a clean Close the last
// segment alone), plus the segment a cut record names. On error it returns
// the segment that failed to load.
func (a *analysis) loadTail(segs []*segment, st metaState) (*segment, error) {
	j := a.j
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if err := j.loadSegmentWith(s, i == len(segs)-1, st, a.slotSetter(s.path)); err != nil {
			return s, err
		}
		s.loaded.Store(true)
		if i == len(segs)-1 && j.cleanPending {
			break // a clean Close synced every seal before it
		}
		if s.sealed && i < len(segs)-1 && !s.scanned {
			break
		}
	}
	if st.cut.segID != 0 {
		for _, s := range segs {
			if s.id == st.cut.segID && !s.loaded.Load() {
				if err := j.loadSegmentWith(s, false, st, a.slotSetter(s.path)); err != nil {
					return s, err
				}
				s.loaded.Store(true)
			}
		}
	}
	return nil, nil
}

// slotSetter returns the setSlot of a scan of the segment at path.
func (a *analysis) slotSetter(path string) func(i uint32, off int64) {
	a.slots[path] = a.slots[path][:0]
	return func(i uint32, off int64) {
		tab := a.slots[path]
		if int(i) == len(tab) {
			a.slots[path] = append(tab, uint32(off))
		} else if int(i) < len(tab) {
			tab[i] = uint32(off)
		}
	}
}

// slot returns the offset a scan found for entry first+i of the segment at
// path.
func (a *analysis) slot(path string, i uint32) (int64, bool) {
	tab := a.slots[path]
	if int(i) >= len(tab) {
		return 0, false
	}
	return int64(tab[i]), true
}

// loadCase is how recovery takes the extent of a segment it loads.
type loadCase int

const (
	// loadCut: the meta's cut record names it. The record is
	// authoritative: the trailer rewrite it protects may not have landed.
	// Open re-seals the segment with it; Verify notes it.
	loadCut loadCase = iota + 1
	// loadSealed: it has a valid trailer of its own.
	loadSealed
	// loadClean: the last segment, and the clean-shutdown record names it
	// and checks out: the record gives its extent, no scan needed.
	loadClean
	// loadScan: no trailer (the last segment after a crash, or one whose
	// deferred seal never reached the disk): it is scanned, and
	// judgeScan and logBreak decide.
	loadScan
)

// decideLoad picks the load case. clean is asked only when the segment has
// no trailer (trustClean reads the segment and sets its count).
func decideLoad(cutNamesIt, sealed bool, clean func() bool) loadCase {
	switch {
	case cutNamesIt:
		return loadCut
	case sealed:
		return loadSealed
	case clean():
		return loadClean
	}
	return loadScan
}

// scanCase is the judgement of where the scan of a segment stopped.
type scanCase int

const (
	// scanTorn: above every record that vouches for the segment's data:
	// what follows is an unacknowledged, torn tail, and logBreak decides
	// where the log ends.
	scanTorn scanCase = iota + 1
	// scanBelowCheckpoint: inside a prefix a sync made durable (the
	// segment's checkpoint): damage to acknowledged entries, ErrCorrupt.
	scanBelowCheckpoint
	// scanBelowClean: short of the clean-shutdown record that trustClean
	// refused. Close synced the segment up to the record before writing
	// it, and every mutation clears it first, so the record proves that
	// everything below it was acknowledged and reached the disk: what
	// fails verification there is damage (a flipped bit in the last
	// chunk's header, a frame copied over it), ErrCorrupt.
	scanBelowClean
)

// judgeScan judges a scan that found count entries and data up to end.
// ckpt is the segment's valid checkpoint, clean the clean-shutdown record
// when it names this segment as the last; nil when there is none.
func judgeScan(count uint32, end int64, ckpt *checkpoint, clean *segRecord) scanCase {
	switch {
	case ckpt != nil && (ckpt.count > count || ckpt.end > end):
		return scanBelowCheckpoint
	case clean != nil && (clean.count > count || clean.dataEnd > end):
		return scanBelowClean
	}
	return scanTorn
}

// logBreak returns how many of the loaded tail segments the log keeps. A
// segment is sealed lazily when the next one is created (its trailer
// reaches the disk with the next sync), so after a crash any segment may
// lack its trailer, but then nothing at or after it was ever synced past
// what the scan finds intact. The log therefore ends after the first
// scanned segment that its successor does not continue, or whose opening
// continuation is broken. It returns an error when such a break is damage
// rather than a lost seal: a later segment holds a checkpoint, so a sync
// round made every earlier seal durable, and the entries a trim would drop
// were acknowledged. Recovery removes the segments past the break; Verify
// reports them as a torn tail.
func logBreak(segs []*segment) (int, error) {
	for i := 0; i+1 < len(segs); i++ {
		if !segs[i].scanned || chainOK(segs[i], segs[i+1]) && !brokenContinuation(segs[i]) {
			continue
		}
		for _, t := range segs[i+1:] {
			var c checkpoint
			var ok bool
			if fault := mmapio.Guard(func() error {
				c, ok = decodeCheckpoint(t.data[t.ckpt:], t.salt)
				return nil
			}); fault != nil {
				return 0, faultError(t.path, t.ckpt, t.first, fault)
			}
			if ok {
				p := segs[i]
				return 0, corruptf(p.path, p.writeOff, p.first+uint64(p.count.Load()),
					"segment has no valid trailer and its data ends here, but the later segment %s holds a durable checkpoint (%d entries): acknowledged data is damaged", filepath.Base(t.path), c.count)
			}
		}
		return i + 1, nil
	}
	return len(segs), nil
}

// brokenContinuation reports a scanned segment whose opening continuation
// did not verify (scan marks it open with no data): the entry it continues
// is incomplete, so the log ends before that entry, whatever later segments
// hold. Its base and open flag would otherwise chain it to a successor that
// holds the entry's last chunk, and the entry would be accepted with a
// middle chunk that never reached the disk.
func brokenContinuation(s *segment) bool {
	return s.cont && s.open && s.writeOff == dataStart
}

// checkChain verifies that consecutive loaded segments continue each
// other's indexes, so a missing segment is reported rather than skipped.
// Segments loaded later are checked by ensure against the count their
// successor's name implies.
func checkChain(segs []*segment) error {
	for i := 1; i < len(segs); i++ {
		p, s := segs[i-1], segs[i]
		if !p.loaded.Load() || !s.loaded.Load() {
			continue // checked when loaded (ensure)
		}
		if !chainOK(p, s) {
			wantBase := p.first + uint64(p.count.Load())
			if p.open {
				wantBase--
			}
			return corruptf(s.path, 0, wantBase, "segment base %d (continuation %v) does not follow %s (next %d, open %v)", s.base, s.cont, filepath.Base(p.path), wantBase, p.open)
		}
	}
	return nil
}

// chainOK reports whether s continues p: it starts with the entry after
// p's last, or with the continuation of p's open entry.
func chainOK(p, s *segment) bool {
	want := p.first + uint64(p.count.Load())
	if p.open {
		want--
	}
	return s.base == want && s.cont == p.open
}

// logBounds returns the index range of the log that the settled segments
// and the meta state describe. below reports that every entry the segments
// hold, an incomplete one included, lies below the first index (a
// TruncateFront whose unlinks did not land): dropBelowLocked removes them,
// and there is nothing to cut.
func logBounds(st metaState, segs []*segment) (first, last uint64, below bool, err error) {
	first = st.first
	last = first - 1
	if n := len(segs); n > 0 {
		tail := segs[n-1]
		last = tail.first + uint64(tail.count.Load()) - 1
		if tail.open {
			// Its last entry continues into a segment that does not
			// exist: an incomplete, unacknowledged entry.
			last--
		}
		if segs[0].first > first && last >= segs[0].first {
			return 0, 0, false, corruptf(segs[0].path, 0, first, "meta says the log starts at %d but the first segment starts at %d", first, segs[0].first)
		}
	}
	below = last < first-1
	if below {
		last = first - 1
	}
	return first, last, below, nil
}

// tailCut decides whether the settled log needs a cut at its end: its last
// segment ends inside an entry that continues into a segment that does not
// exist (an incomplete spanning entry, or a cut record whose trailer
// rewrite may not have landed), unless all of it lies below the first
// index.
func tailCut(segs []*segment, below bool) bool {
	n := len(segs)
	return n > 0 && segs[n-1].open && !below
}
