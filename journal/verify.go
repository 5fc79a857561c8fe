package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/spoolhq/spool/mmapio"
)

// Verdict classifies a journal directory as Verify found it.
type Verdict int

const (
	// VerdictClean: Open would recover nothing and every entry reads back.
	VerdictClean Verdict = iota
	// VerdictTornTail: Open would succeed and every entry it keeps reads
	// back, but recovery would trim an unacknowledged tail (a torn append,
	// an incomplete spanning entry, segments that do not continue the log).
	VerdictTornTail
	// VerdictCorrupt: Open would fail, or a read of an entry inside the log
	// would fail, with an error wrapping ErrCorrupt or ErrForeign.
	VerdictCorrupt
	// VerdictUnsupported: a file has a format newer than this build reads
	// (ErrVersion); nothing was concluded about its integrity.
	VerdictUnsupported
)

// String returns the verdict as spool verify prints it.
func (v Verdict) String() string {
	switch v {
	case VerdictClean:
		return "clean"
	case VerdictTornTail:
		return "torn-tail"
	case VerdictCorrupt:
		return "corrupt"
	case VerdictUnsupported:
		return "unsupported"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Report is the result of Verify.
type Report struct {
	Dir     string // the directory verified
	Verdict Verdict
	// Problem is the first finding of the verdict's kind; nil when clean.
	Problem *Problem
	// Problems lists every finding, corrupt and torn alike, in the order
	// Verify made them, up to MaxProblems; MoreProblems counts those left
	// out. Problem is one of them. When Open would fail, verification
	// stops at that damage, except that the entries of the segments before
	// it that are sealed on the disk are still read, so damage there is
	// listed too.
	Problems     []*Problem
	MoreProblems int
	// Opens tells whether Open would succeed. When it is false the index
	// range and durability fields are zero.
	Opens     bool
	JournalID uint64 // from the meta file; 0 if it could not be read
	// FirstIndex and LastIndex bound the log Open would present, after
	// trimming a torn tail (LastIndex = FirstIndex-1 when it is empty).
	FirstIndex, LastIndex uint64
	// Durable is the highest index the journal's own records vouch was
	// made durable: LastIndex after a clean shutdown, else the higher of the
	// last entry of a sealed segment and the tail's checkpoint. Recovery
	// reports damage at or below it as corruption; a torn tail lies above.
	// Verify reads through the page cache, so on a journal that is in use
	// the records of the last sync round may not be on the disk yet.
	Durable uint64
	// Checkpoint is the durable checkpoint of the last segment, if valid.
	Checkpoint *Checkpoint
	// Segments lists every segment file in ID order, whatever its state.
	Segments []SegmentReport
	// Meta describes the two slots of the meta file.
	Meta [2]MetaSlotReport
	// SegmentBytes is the size of the segment files Open would keep;
	// PayloadBytes the payload bytes of the entries that were verified.
	SegmentBytes, PayloadBytes int64
	// BadEntries counts entries in [FirstIndex, LastIndex] whose read
	// fails; when Open would fail, the unreadable entries found in the
	// sealed segments before the damage that makes it fail.
	BadEntries uint64
	// Notes list what recovery would tidy without losing anything: files
	// of interrupted creations, stale segments, a cut to re-apply, an
	// invalid older meta slot.
	Notes []string
}

// MaxProblems bounds Report.Problems: a journal damaged throughout (a
// foreign file system's bytes, a zeroed region) would otherwise list one
// problem per entry.
const MaxProblems = 100

// Entries returns the number of entries in the log Open would present.
func (r *Report) Entries() uint64 {
	if !r.Opens {
		return 0
	}
	return r.LastIndex + 1 - r.FirstIndex
}

// Problem locates a finding: the file, the byte offset in it (-1 when the
// finding concerns the whole file) and the entry index (0 when unknown).
type Problem struct {
	Path   string // the file (the directory when no file is to blame)
	Offset int64  // byte offset in Path, or -1
	Index  uint64 // entry index, or 0
	Reason string // what is wrong, without the location
	// Err is, for a corrupt or unsupported journal, the error Open or the
	// read returns (it wraps ErrCorrupt, ErrForeign or ErrVersion, and also
	// mmapio.ErrFault when the mapped bytes could not be read); nil for a
	// torn tail, which recovery trims without an error.
	Err error
}

// String returns the problem as "file at offset N (index I): reason".
func (p *Problem) String() string {
	s := p.Path
	if p.Offset >= 0 {
		s += fmt.Sprintf(" at offset %d", p.Offset)
	}
	if p.Index != 0 {
		s += fmt.Sprintf(" (index %d)", p.Index)
	}
	return s + ": " + p.Reason
}

// SegmentState says what Verify found a segment to be.
type SegmentState int

const (
	// SegmentSealed has a valid trailer (or a cut record standing for it).
	SegmentSealed SegmentState = iota
	// SegmentActive is an unsealed tail segment: trusted through the clean
	// shutdown record, or scanned; recovery seals it where its data ends.
	SegmentActive
	// SegmentStale is left over from a truncation whose unlink did not
	// land, or lies wholly below the first index; recovery removes it.
	SegmentStale
	// SegmentDropped follows a torn tail: it does not continue the log, and
	// recovery removes it.
	SegmentDropped
	// SegmentDamaged could not be loaded (see Report.Problem).
	SegmentDamaged
	// SegmentUnchecked was not reached: Open would fail before it.
	SegmentUnchecked
)

// String returns the state as spool stat prints it.
func (s SegmentState) String() string {
	switch s {
	case SegmentSealed:
		return "sealed"
	case SegmentActive:
		return "active"
	case SegmentStale:
		return "stale"
	case SegmentDropped:
		return "dropped"
	case SegmentDamaged:
		return "damaged"
	case SegmentUnchecked:
		return "unchecked"
	}
	return fmt.Sprintf("SegmentState(%d)", int(s))
}

// SegmentReport describes one segment file.
type SegmentReport struct {
	Name       string // file name in the directory
	ID         uint64
	FirstIndex uint64 // first entry starting in it (from its name)
	Entries    uint32 // entries starting in it, as recovery counts them
	FileSize   int64  // bytes, as the file system reports them
	DataEnd    int64  // end of chunk data; 0 if not loaded
	State      SegmentState
	Checkpoint *Checkpoint // valid durable checkpoint in its first page, if read
}

// Checkpoint is a segment's durable checkpoint: a prefix that an earlier
// sync made durable (see the package doc).
type Checkpoint struct {
	DataEnd   int64  // end of the durable prefix of the segment's data
	Entries   uint32 // entries starting in the segment within it
	LastIndex uint64 // the journal's last index when that prefix was synced
}

// MetaSlotReport describes one of the two meta slots.
type MetaSlotReport struct {
	Generation uint64 // write count; the valid slot with the higher one is current
	Current    bool   // the slot Open uses
	Err        error  // why the slot is invalid; nil when valid
}

// Verify checks the journal in dir without changing it: both meta slots,
// every segment header and trailer, and every chunk of every entry Open
// would keep, with the decoders and the recovery decisions Open uses. Its
// verdict agrees with Open followed by a read of every entry: clean, a torn
// tail that recovery would trim, or corruption that Open or a read would
// report. opts supplies FS and MaxEntrySize (as Open would use them); other
// fields are ignored.
//
// Verify opens and maps every file read-only and takes no lock, so it can
// run beside a process that has the journal open, but then it sees a moving
// target: appends in flight look like a torn tail, and a truncation running
// meanwhile can make a segment vanish (an error, or a corrupt verdict). For
// a definitive verdict run it on a journal no process has open.
//
// The error is non-nil only when verification could not be carried out (an
// error wrapping ErrNotFound for a missing or empty directory, or an I/O
// error); damage is described by the Report. Verify holds no copy of the
// log: it keeps the tail segments mapped and one other at a time (plus
// those a spanning entry crosses), and one table, the chunk offsets of the
// unsealed tail segments that a scan rebuilt, 4 bytes per entry (at most a
// ninth of a segment's size).
func Verify(dir string, opts *Options) (*Report, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &verifier{
		rep: &Report{Dir: dir},
		vfs: &verifyFS{base: o.FS},
	}
	v.j = &Journal{dir: dir, fs: v.vfs, opts: o}
	v.a = newAnalysis(v.j)
	defer v.j.releaseAll()
	if err := v.run(); err != nil {
		return v.rep, err
	}
	return v.rep, nil
}

// verifier carries one Verify run. Its Journal is never opened: it holds
// the segment set that recovery would build, loaded through verifyFS.
type verifier struct {
	rep   *Report
	vfs   *verifyFS
	j     *Journal
	a     *analysis
	files []segFile
	segs  map[*segment]int // index into rep.Segments
}

// stop records a failure that Open would report and ends verification; an
// error that is no journal damage (I/O) is returned instead.
func (v *verifier) stop(err error) error {
	if !isDamage(err) {
		return err
	}
	v.corrupt(err)
	v.rep.Opens = false
	v.rep.FirstIndex, v.rep.LastIndex, v.rep.Durable = 0, 0, 0
	return nil
}

// corrupt records damage that Open or a read reports.
func (v *verifier) corrupt(err error) {
	verdict := VerdictCorrupt
	if errors.Is(err, ErrVersion) && !errors.Is(err, ErrCorrupt) {
		verdict = VerdictUnsupported
	}
	p := &Problem{Path: v.rep.Dir, Offset: -1, Reason: err.Error(), Err: err}
	var ce *CorruptError
	if errors.As(err, &ce) {
		p.Path, p.Offset, p.Index, p.Reason = ce.Path, ce.Offset, ce.Index, ce.Reason
	}
	v.list(p)
	if v.rep.Verdict >= VerdictCorrupt {
		return // the first one stands
	}
	v.rep.Verdict, v.rep.Problem = verdict, p
}

// torn records a tail that recovery would trim.
func (v *verifier) torn(path string, off int64, idx uint64, format string, args ...any) {
	p := &Problem{Path: path, Offset: off, Index: idx, Reason: fmt.Sprintf(format, args...)}
	v.list(p)
	if v.rep.Verdict != VerdictClean {
		return
	}
	v.rep.Verdict, v.rep.Problem = VerdictTornTail, p
}

// list adds a finding to Report.Problems, or counts it once the list is
// full.
func (v *verifier) list(p *Problem) {
	if len(v.rep.Problems) < MaxProblems {
		v.rep.Problems = append(v.rep.Problems, p)
	} else {
		v.rep.MoreProblems++
	}
}

func (v *verifier) note(format string, args ...any) {
	v.rep.Notes = append(v.rep.Notes, fmt.Sprintf(format, args...))
}

// run runs the analysis of Journal.recover (plan.go) and reports its plan
// instead of applying it, then reads every entry as a caller would.
func (v *verifier) run() error {
	dir, rep := v.j.dir, v.rep
	names, err := v.vfs.List(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s: %w", ErrNotFound, dir, err)
		}
		return fmt.Errorf("journal: list %s: %w", dir, err)
	}
	d := planDir(names)
	for _, n := range d.interrupted {
		v.note("%s: interrupted creation, recovery removes it", n)
	}
	v.files = d.files
	rep.Segments = make([]SegmentReport, len(v.files))
	for i, f := range v.files {
		rep.Segments[i] = SegmentReport{Name: f.name, ID: f.id, FirstIndex: f.first, State: SegmentUnchecked, FileSize: v.fileSize(f.name)}
	}
	metaPath := filepath.Join(dir, metaName)
	if !d.hasMeta {
		if err := d.missingMeta(metaPath); err != nil {
			return v.stop(err)
		}
		return fmt.Errorf("%w: no journal in %s", ErrNotFound, dir)
	}
	v.inspectMetaSlots(metaPath)
	st, err := loadMeta(v.vfs, metaPath)
	if err != nil {
		return v.stop(err)
	}
	for i := range rep.Meta {
		rep.Meta[i].Current = rep.Meta[i].Err == nil && rep.Meta[i].Generation == st.generation
		if rep.Meta[i].Err != nil {
			v.note("%s slot %d invalid (the other one is used): %v", metaName, i, rep.Meta[i].Err)
		}
	}
	v.j.id, rep.JournalID = st.journalID, st.journalID
	return v.report(v.a.plan(v.files, st))
}

// report reports the plan, step by step as Open would apply it.
func (v *verifier) report(p *recoveryPlan) error {
	j, rep := v.j, v.rep
	index := make(map[string]int, len(v.files)) // file name -> rep.Segments
	for i, f := range v.files {
		index[f.name] = i
	}
	for _, f := range p.garbage {
		rep.Segments[index[f.name]].State = SegmentStale
		v.note("%s: left by an earlier truncation, recovery removes it", f.name)
	}
	v.segs = make(map[*segment]int, len(p.segs))
	for _, s := range p.segs {
		v.segs[s] = index[filepath.Base(s.path)]
	}
	j.segs.Store(&segmentSet{segs: p.segs}) // released by releaseAll
	switch p.step {
	case stepLayout:
		return v.stop(p.err)
	case stepLoad:
		rep.Segments[v.segs[p.failed]].State = SegmentDamaged
		if err := v.stop(p.err); err != nil {
			return err
		}
		return v.readSealedBefore(p.segs, slices.Index(p.segs, p.failed), p.st)
	}
	for _, s := range p.segs {
		if s.loaded.Load() {
			v.record(s, true)
		}
	}
	if p.st.cut.segID != 0 {
		v.note("meta records a cut of segment %016x at offset %d: recovery re-applies it", p.st.cut.segID, p.st.cut.dataEnd)
	}
	if p.step == stepBreak {
		return v.stop(p.err)
	}
	segs := v.settle(p)
	if p.step == stepChain {
		return v.stop(p.err)
	}
	return v.bound(p, segs)
}

// readSealedBefore reads, after damage at live[failed] that makes Open
// fail, every entry of the segments before it up to the last one whose
// trailer is valid on the disk: seals are synced in segment order, so
// every earlier segment is sealed too, and its entries are part of the log
// whatever recovery would decide about the damaged tail. Damage there is
// listed as well, so one run reports all of it. Segments after the last
// valid trailer are left unchecked: they may be an unsealed tail whose
// extent only recovery could settle.
func (v *verifier) readSealedBefore(live []*segment, failed int, st metaState) error {
	k := -1
	for i := failed - 1; i >= 0; i-- {
		if v.sealedOnDisk(live[i]) {
			k = i
			break
		}
	}
	if k < 0 {
		return nil
	}
	// Entries starting in live[0..k]; the last of them may continue past
	// live[k] (its trailer's open flag), into the damage: left out.
	first := max(st.first, live[0].first)
	last := live[k+1].first - 1
	if v.openTrailer(live[k]) {
		last--
	}
	if last < first || last+1 < last {
		return nil
	}
	v.j.segs.Store(&segmentSet{segs: live[:k+1]})
	v.j.first.Store(first)
	v.j.last.Store(last)
	bad := v.rep.BadEntries
	if err := v.readAll(first, last); err != nil {
		return err
	}
	for _, s := range live[:k+1] {
		v.recordLoaded(s)
	}
	v.j.segs.Store(&segmentSet{segs: live})
	if v.rep.BadEntries > bad {
		v.note("%d entries before the damage that makes Open fail are unreadable too", v.rep.BadEntries-bad)
	}
	return nil
}

// sealedOnDisk reports whether s has a valid trailer of its own on the
// disk, read with pread (s need not be loaded).
func (v *verifier) sealedOnDisk(s *segment) bool {
	t, ok := v.readTrailer(s)
	return ok && t.firstStart == s.first
}

// openTrailer reports whether the trailer of s says its last entry
// continues in the next segment.
func (v *verifier) openTrailer(s *segment) bool {
	t, ok := v.readTrailer(s)
	return ok && t.flags&trailerFlagOpen != 0
}

func (v *verifier) readTrailer(s *segment) (segTrailer, bool) {
	f, err := v.vfs.Open(s.path, false)
	if err != nil {
		return segTrailer{}, false
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size < headerSize+trailerSize {
		return segTrailer{}, false
	}
	var hb [headerSize]byte
	if n, _ := f.ReadAt(hb[:], 0); n < headerSize {
		return segTrailer{}, false
	}
	h, err := decodeSegHeader(hb[:])
	if err != nil || h.size > size {
		return segTrailer{}, false
	}
	var tb [trailerSize]byte
	if n, _ := f.ReadAt(tb[:], int64(h.size)-trailerSize); n < trailerSize {
		return segTrailer{}, false
	}
	t, ok := decodeTrailer(tb[:])
	return t, ok && t.journalID == v.j.id && t.segID == s.id
}

// settle reports the settling of the tail: the segments past the break
// are dropped.
func (v *verifier) settle(p *recoveryPlan) []*segment {
	segs := p.segs
	if keep := p.keep; keep < len(segs) {
		q, d := segs[keep-1], segs[keep]
		v.torn(d.path, -1, d.base, "does not continue %s where its scan stopped (entry %d): recovery removes it and %d later segments",
			filepath.Base(q.path), q.first+uint64(q.count.Load()), len(segs)-keep-1)
		for _, t := range segs[keep:] {
			v.rep.Segments[v.segs[t]].State = SegmentDropped
			t.unpin()
		}
		segs = segs[:keep]
		v.j.segs.Store(&segmentSet{segs: segs})
	}
	return segs
}

// bound sets the index range as recover does and reads every entry.
func (v *verifier) bound(p *recoveryPlan, segs []*segment) error {
	j, rep, st := v.j, v.rep, p.st
	if p.err != nil {
		return v.stop(p.err)
	}
	first, last := p.first, p.last
	if p.cutTail {
		tail := segs[len(segs)-1]
		// Recovery cuts the incomplete spanning entry; the cut needs the
		// slot of the segment it starts in.
		c := j.segs.Load().find(last + 1)
		var off int64 = -1
		if c != nil {
			if err := c.ensure(); err != nil {
				rep.Segments[v.segs[c]].State = SegmentDamaged
				return v.stop(err)
			}
			off = c.writeOff // entry last+1 is not counted in c: it ends c's data
			if i := uint32(last + 1 - c.first); i < c.count.Load() {
				off = v.slotOf(c, i)
			}
		}
		v.torn(tail.path, off, last+1, "entry %d continues past the last segment: recovery cuts it", last+1)
	}
	for _, s := range segs {
		if s.scanned {
			v.checkTornBytes(s)
		}
	}
	rep.Opens, rep.FirstIndex, rep.LastIndex = true, first, last
	// Segments wholly below the first index are removed (dropBelow).
	keep := len(segs)
	if first <= last {
		keep = slices.Index(segs, j.segs.Load().find(first))
		keep = max(keep, 0)
	}
	for _, s := range segs[:keep] {
		rep.Segments[v.segs[s]].State = SegmentStale
		v.note("%s: wholly below the first index %d, recovery removes it", filepath.Base(s.path), first)
	}
	for _, s := range segs[keep:] {
		rep.SegmentBytes += rep.Segments[v.segs[s]].FileSize
	}
	j.first.Store(first)
	j.last.Store(last)
	if err := v.readAll(first, last); err != nil {
		return err
	}
	for _, s := range segs[keep:] {
		v.recordLoaded(s)
	}
	v.durable(segs[keep:], st)
	return nil
}

// checkTornBytes reports non-zero bytes between the end of a scanned
// segment's data and the slots of the entries it keeps: chunk bytes or
// slots of an append that never completed, which recovery discards by
// sealing the segment at its data end. Pristine preallocated space (and the
// zeroed bytes of a failed append) is zero.
func (v *verifier) checkTornBytes(s *segment) {
	from, to := s.writeOff, s.trailerOff()-slotSize*int64(s.count.Load())
	var at int64 = -1
	fault := mmapio.Guard(func() error {
		for off := from; off < to; {
			n := min(to-off, int64(len(zeroPage)))
			if chunk := s.data[off : off+n]; string(chunk) != string(zeroPage[:n]) {
				for i, b := range chunk {
					if b != 0 {
						at = off + int64(i)
						return nil
					}
				}
			}
			off += n
		}
		return nil
	})
	if fault != nil {
		v.corrupt(faultError(s.path, from, s.first+uint64(s.count.Load()), fault))
		return
	}
	if at >= 0 {
		v.torn(s.path, s.writeOff, s.first+uint64(s.count.Load()),
			"torn tail: no chunk verifies here, %d bytes of unacknowledged data follow (first non-zero byte at offset %d); recovery trims them", to-at, at)
	}
}

var zeroPage [4096]byte

// readAll reads every entry of [first, last] as Get does, verifying every
// chunk's header and payload (every block and the block sums of a format 3
// chunk), and releases each segment's mapping once the
// entries starting in it are done. It stops at an error that is not
// damage (a failed read of the device), which it returns.
func (v *verifier) readAll(first, last uint64) error {
	j, rep := v.j, v.rep
	ss := j.segs.Load()
	done := 0 // segments before ss.segs[done] have been released
	var view View
	for idx := first; idx <= last && idx >= first; idx++ {
		s := ss.find(idx)
		if s == nil {
			v.badEntry(fmt.Errorf("%w: entry %d: no segment holds it", ErrCorrupt, idx))
			continue
		}
		for ; done < len(ss.segs) && ss.segs[done] != s; done++ {
			v.unload(ss.segs[done])
		}
		if err := s.ensure(); err != nil {
			if !isDamage(err) {
				return err
			}
			// Every entry starting in it fails the same way.
			v.rep.Segments[v.segs[s]].State = SegmentDamaged
			n := uint64(1)
			if end := s.first + uint64(s.count.Load()); end > idx {
				n = min(end-idx, last-idx+1)
			}
			v.corrupt(err)
			rep.BadEntries += n
			idx += n - 1
			continue
		}
		v.record(s, false)
		i := idx - s.first
		if i >= uint64(s.count.Load()) {
			v.badEntry(fmt.Errorf("%w: entry %d: no segment holds it", ErrCorrupt, idx))
			continue
		}
		off := int64(-1) // openAt reads the slot on disk
		if s.scanned {
			if o, ok := v.a.slot(s.path, uint32(i)); ok {
				off = o
			}
		}
		s.tryPin() // the set holds a reference: this cannot fail
		err := view.openAt(j, s, off, idx)
		if err == nil {
			err = v.drain(&view)
			view.unpinAll()
		}
		if err != nil {
			if !isDamage(err) {
				return err
			}
			v.badEntry(err)
			continue
		}
		rep.PayloadBytes += view.size
	}
	return nil
}

// isDamage reports an error that Open or a read returns for the journal's
// content, as opposed to a failure to read it.
func isDamage(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrForeign) || errors.Is(err, ErrVersion)
}

// drain verifies what open left unverified: the blocks of a chunk with
// block sums (and the sums themselves) and the continuation chunks of a
// spanning entry.
func (v *verifier) drain(view *View) error {
	for {
		if _, err := view.nextWindow(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func (v *verifier) badEntry(err error) {
	v.rep.BadEntries++
	v.corrupt(err)
}

// slotOf returns the offset of the first chunk of entry first+i of s: from
// the table of a scan Verify made (the mapping is read-only, and the slots
// on disk of an unsealed segment may be stale), else from the slot itself.
// It returns -1 if the slot cannot be read.
func (v *verifier) slotOf(s *segment, i uint32) int64 {
	if s.scanned {
		if off, ok := v.a.slot(s.path, i); ok {
			return off
		}
	}
	var off int64 = -1
	_ = mmapio.Guard(func() error { off = s.slot(i); return nil })
	return off
}

// unload unmaps a segment whose entries are all verified, so that a long
// journal costs one mapping and descriptor at a time, not one per segment.
func (v *verifier) unload(s *segment) {
	v.recordLoaded(s)
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.refs.Load() == 1 && s.loaded.Load() {
		s.closeFiles()
		s.loaded.Store(false)
	}
}

// recordLoaded records a segment that reads loaded (or failed to load)
// on their own, such as one holding only the middle of a spanning entry.
func (v *verifier) recordLoaded(s *segment) {
	s.loadMu.Lock()
	failed := s.loadErr != nil
	s.loadMu.Unlock()
	switch {
	case failed:
		v.rep.Segments[v.segs[s]].State = SegmentDamaged
	case s.loaded.Load() && v.rep.Segments[v.segs[s]].State == SegmentUnchecked:
		v.record(s, false)
	}
}

// record copies what loading found about s into its SegmentReport.
func (v *verifier) record(s *segment, tail bool) {
	r := &v.rep.Segments[v.segs[s]]
	r.Entries, r.DataEnd = s.count.Load(), s.writeOff
	switch {
	case s.sealed:
		r.State = SegmentSealed
	default:
		r.State = SegmentActive
	}
	if tail && s.data != nil {
		_ = mmapio.Guard(func() error {
			if c, ok := decodeCheckpoint(s.data[s.ckpt:], s.salt); ok {
				r.Checkpoint = &Checkpoint{DataEnd: c.end, Entries: c.count, LastIndex: c.last}
			}
			return nil
		})
	}
}

// durable computes Report.Durable and Report.Checkpoint from the records
// of the kept segments.
func (v *verifier) durable(segs []*segment, st metaState) {
	rep := v.rep
	if len(segs) == 0 {
		rep.Durable = rep.LastIndex
		return
	}
	tail := segs[len(segs)-1]
	if v.j.cleanPending {
		rep.Durable = rep.LastIndex
	} else {
		d := rep.FirstIndex - 1
		for _, s := range segs {
			r := rep.Segments[v.segs[s]]
			if r.State == SegmentSealed && s.count.Load() > 0 {
				end := s.first + uint64(s.count.Load()) - 1
				if s.open {
					end--
				}
				d = max(d, end)
			}
			if s.scanned && r.Checkpoint != nil {
				d = max(d, r.Checkpoint.LastIndex)
			}
		}
		rep.Durable = min(d, rep.LastIndex)
	}
	rep.Checkpoint = rep.Segments[v.segs[tail]].Checkpoint
}

// inspectMetaSlots decodes both meta slots for the report; loadMeta makes
// the decision.
func (v *verifier) inspectMetaSlots(path string) {
	f, err := v.vfs.Open(path, false)
	if err != nil {
		for i := range v.rep.Meta {
			v.rep.Meta[i].Err = err
		}
		return
	}
	defer f.Close()
	var buf [2 * metaSlotSize]byte
	n, _ := f.ReadAt(buf[:], 0)
	clear(buf[n:])
	for i := range v.rep.Meta {
		m, err := decodeMetaSlot(buf[i*metaSlotSize : (i+1)*metaSlotSize])
		v.rep.Meta[i] = MetaSlotReport{Generation: m.generation, Err: err}
	}
}

func (v *verifier) fileSize(name string) int64 {
	f, err := v.vfs.Open(filepath.Join(v.j.dir, name), false)
	if err != nil {
		return 0
	}
	defer f.Close()
	n, _ := f.Size()
	return n
}

// verifyFS is the FS Verify reads through: every file is opened and mapped
// read-only, and every operation that would change the directory fails. The
// analysis writes nothing anyway; this makes a slip fail loudly rather than
// change a journal Verify was asked only to read.
type verifyFS struct {
	base mmapio.FS
}

var errReadOnly = errors.New("journal: verify opened the directory read-only")

func (v *verifyFS) Open(name string, _ bool) (mmapio.File, error) {
	f, err := v.base.Open(name, false)
	if err != nil {
		return nil, err
	}
	return readOnlyFile{f}, nil
}

func (v *verifyFS) List(dir string) ([]string, error) { return v.base.List(dir) }
func (v *verifyFS) Create(name string) (mmapio.File, error) {
	return nil, fmt.Errorf("%w: create %s", errReadOnly, name)
}
func (v *verifyFS) Remove(name string) error { return fmt.Errorf("%w: remove %s", errReadOnly, name) }
func (v *verifyFS) Rename(o, n string) error { return fmt.Errorf("%w: rename %s", errReadOnly, o) }
func (v *verifyFS) MkdirAll(dir string) error {
	return fmt.Errorf("%w: mkdir %s", errReadOnly, dir)
}
func (v *verifyFS) SyncDir(dir string) error { return fmt.Errorf("%w: sync %s", errReadOnly, dir) }
func (v *verifyFS) Lock(name string) (io.Closer, error) {
	return nil, fmt.Errorf("%w: lock %s", errReadOnly, name)
}

// readOnlyFile is a file opened read-only whose mappings are read-only.
type readOnlyFile struct{ mmapio.File }

func (f readOnlyFile) WriteAt(p []byte, off int64) (int, error) {
	return 0, fmt.Errorf("%w: write %s", errReadOnly, f.Name())
}
func (f readOnlyFile) Allocate(int64) error {
	return fmt.Errorf("%w: allocate %s", errReadOnly, f.Name())
}
func (f readOnlyFile) Truncate(int64) error {
	return fmt.Errorf("%w: truncate %s", errReadOnly, f.Name())
}
func (f readOnlyFile) Sync() error { return fmt.Errorf("%w: sync %s", errReadOnly, f.Name()) }
func (f readOnlyFile) Map(off int64, n int, _ bool) (mmapio.Mapping, error) {
	return f.File.Map(off, n, false)
}
