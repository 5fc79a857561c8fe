package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spoolhq/spool/mmapio"
)

// recover loads the meta file and the segments and rebuilds the in-memory
// state: the analysis decides (plan.go), then the plan is applied. It runs
// before the journal is shared, under no lock.
func (j *Journal) recover() error {
	names, err := j.fs.List(j.dir)
	if err != nil {
		return fmt.Errorf("journal: list %s: %w", j.dir, err)
	}
	d := planDir(names)
	for _, n := range d.interrupted {
		_ = j.fs.Remove(filepath.Join(j.dir, n))
	}
	metaPath := filepath.Join(j.dir, metaName)
	if !d.hasMeta {
		if err := d.missingMeta(metaPath); err != nil {
			return err
		}
		if j.opts.NoCreate {
			return fmt.Errorf("%w: no journal in %s", ErrNotFound, j.dir)
		}
		if other := unrelatedNames(names); len(other) > 0 && !j.opts.AllowNonEmpty {
			return &NotEmptyError{Dir: j.dir, Names: other}
		}
		if err := j.create(metaPath); err != nil {
			return err
		}
	}
	st, err := loadMeta(j.fs, metaPath)
	if err != nil {
		return err
	}
	mf, err := j.fs.Open(metaPath, true)
	if err != nil {
		return fmt.Errorf("journal: open %s: %w", metaPath, err)
	}
	// lazy: the newest slot may be a lazy write an earlier instance never
	// synced, so the first write of this one syncs before overwriting
	// the other slot.
	j.meta = &metaStore{fs: j.fs, path: metaPath, dir: j.dir, file: mf, state: st, lazy: true}
	j.meta.mu.init(rankMeta, j)
	j.id = st.journalID
	j.nextSegID = nextSegID(d.files, st)

	a := newAnalysis(j)
	return j.apply(a, a.plan(d.files, st))
}

// apply carries out the plan of the analysis a.
func (j *Journal) apply(a *analysis, p *recoveryPlan) error {
	segs := p.segs
	fail := func(err error) error {
		for _, s := range segs {
			s.unpin()
		}
		return err
	}
	if !p.settled() {
		return fail(p.err)
	}
	if p.cut != nil {
		if err := p.cut.seal(); err != nil {
			p.cut.closeFiles()
			return fail(err)
		}
	}
	segs, err := j.settleScanned(a, segs, p.keep)
	if err != nil {
		return fail(err)
	}
	if p.step == stepChain {
		return fail(p.err)
	}
	j.segs.Store(&segmentSet{segs: segs})
	if p.err != nil {
		return fail(p.err)
	}
	j.first.Store(p.first)
	j.last.Store(p.last)
	if p.cutTail {
		if err := j.truncateBackLocked(p.last); err != nil {
			return err
		}
	}
	j.durable.Store(j.last.Load())

	for _, f := range p.garbage {
		if err := j.fs.Remove(filepath.Join(j.dir, f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: remove stale segment: %w", err)
		}
	}
	if len(p.garbage) > 0 {
		if err := j.fs.SyncDir(j.dir); err != nil {
			return fmt.Errorf("journal: sync dir %s: %w", j.dir, err)
		}
	}
	// Segments wholly below the first index (a TruncateFront whose unlinks
	// did not land).
	if err := j.dropBelowLocked(p.first); err != nil {
		return err
	}
	staleClean := j.meta.state.clean.segID != 0 && !j.cleanPending
	if j.nextSegID > p.st.idHigh || staleClean {
		// Record the ID bound before anything is appended: segments
		// deleted above may have held the highest IDs. A clean record
		// that recovery did not trust (the segment ended in a spanning
		// entry, so it was scanned and sealed) is dropped too: a clean
		// record vouches for the data below it (judgeScan), so none
		// may outlive the state Close described.
		j.meta.mu.Lock()
		st := j.meta.state
		st.clean = segRecord{}
		err := j.meta.writeLocked(j.withIDHigh(st), true)
		j.meta.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// unrelatedNames returns the names of a directory that holds no journal
// (no META, no segment) that Open will not create a journal beside, sorted,
// at most maxUnrelated of them. Tolerated, so that a directory prepared for
// a journal still counts as empty:
//
//   - LOCK: Open creates it before it looks (and an Open that failed
//     leaves it);
//   - META.tmp and *.seg.tmp: an interrupted creation of this journal
//     (recover removes them before it asks);
//   - lost+found: a file system mounted at the journal directory has one;
//   - names starting with ".": hidden files that tools and file systems
//     put in any directory (.DS_Store, .snapshot, .nfsXXXX).
//
// Anything else, a file or a subdirectory, is someone else's: a journal
// created beside it is almost certainly a mistyped path.
func unrelatedNames(names []string) []string {
	var out []string
	for _, n := range names {
		switch {
		case n == "LOCK", n == "lost+found", strings.HasPrefix(n, "."),
			n == metaName+tmpSuffix, strings.HasSuffix(n, ".seg"+tmpSuffix):
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	if len(out) > maxUnrelated {
		out = out[:maxUnrelated]
	}
	return out
}

// maxUnrelated bounds the names a NotEmptyError lists.
const maxUnrelated = 5

// create initialises a new journal: the meta file is written under a
// temporary name, synced and renamed, so a crash leaves either no journal or
// a complete one.
func (j *Journal) create(metaPath string) error {
	st := metaState{
		generation: 0,
		journalID:  randomID(),
		first:      j.opts.FirstIndex,
		minSegID:   1,
		nextSegID:  1,
	}
	tmp := metaPath + tmpSuffix
	f, err := j.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("journal: create %s: %w", tmp, err)
	}
	var buf [metaSlotSize]byte
	st.encode(&buf)
	_, err = f.WriteAt(buf[:], 0)
	if err == nil {
		st.generation = 1
		st.encode(&buf)
		_, err = f.WriteAt(buf[:], metaSlotSize)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = j.fs.Rename(tmp, metaPath)
	}
	if err == nil {
		err = j.fs.SyncDir(j.dir)
	}
	if err != nil {
		return fmt.Errorf("journal: create %s: %w", metaPath, err)
	}
	return nil
}

// loadSegment loads a segment Open left unloaded (ensure): like
// loadSegmentWith, but the slots a scan rebuilds are dropped, because
// ensure refuses a segment without a trailer whatever the scan finds.
func (j *Journal) loadSegment(s *segment, isLast bool, st metaState) error {
	return j.loadSegmentWith(s, isLast, st, func(uint32, int64) {})
}

// mapSegment opens segment s, checks its header against its file name and
// the journal, maps it and reads its trailer (sealed: valid and its own).
// On error, whatever was opened is closed again.
func (j *Journal) mapSegment(s *segment) (t segTrailer, sealed bool, err error) {
	id, path := s.id, s.path
	f, err := j.fs.Open(path, true)
	if err != nil {
		return segTrailer{}, false, fmt.Errorf("journal: open %s: %w", path, err)
	}
	s.file = f
	nameFirst := s.first
	bad := func(err error) (segTrailer, bool, error) {
		s.closeFiles()
		return segTrailer{}, false, err
	}
	var hb [headerSize]byte
	if n, err := f.ReadAt(hb[:], 0); n < headerSize {
		if isIOError(err) {
			return bad(fmt.Errorf("journal: read header of %s: %w", path, err))
		}
		return bad(corruptf(path, 0, 0, "short segment header: %v", err))
	}
	h, err := decodeSegHeader(hb[:])
	if err != nil {
		return bad(&CorruptError{Path: path, Offset: 0, Reason: err.Error(), Err: sentinelOf(err)})
	}
	if h.journalID != j.id {
		return bad(&CorruptError{Path: path, Offset: 16, Reason: fmt.Sprintf("segment of journal %016x in journal %016x", h.journalID, j.id), Err: ErrForeign})
	}
	if h.segID != id {
		return bad(corruptf(path, 24, 0, "header names segment %d", h.segID))
	}
	size, err := f.Size()
	if err != nil {
		return bad(fmt.Errorf("journal: stat %s: %w", path, err))
	}
	if size < h.size {
		return bad(corruptf(path, size, h.base, "file is %d bytes, header says %d", size, h.size))
	}
	s.size, s.base, s.salt = h.size, h.base, segmentSalt(j.id, id)
	s.ckpt = ckptOffFor(h.version)
	s.cont = h.flags&segFlagContinues != 0
	first := s.base
	if s.cont {
		first++
	}
	if first != nameFirst {
		return bad(corruptf(path, 32, s.base, "header says entries start at %d, file name says %d", first, nameFirst))
	}
	// A segment loaded lazily is already published with its first index
	// (from its name), and readers' lookups read it without a lock: write
	// it only where it is not set yet.
	if s.first != first {
		s.first = first
	}
	// The trailer is read with pread, not through the mapping: a fault on a
	// cold mapping reads around the faulting page, and Open touches one
	// page at each end of every segment.
	var tb [trailerSize]byte
	if n, err := f.ReadAt(tb[:], s.trailerOff()); n < trailerSize {
		if isIOError(err) {
			return bad(fmt.Errorf("journal: read trailer of %s: %w", path, err))
		}
		return bad(corruptf(path, s.trailerOff(), s.first, "short trailer read: %v", err))
	}
	mm, err := f.Map(0, int(s.size), true)
	if err != nil {
		return bad(fmt.Errorf("journal: map %s: %w", path, err))
	}
	// Every loaded segment is read at random until a reader asks for more
	// (readahead.go), and a segment appends continue in must not read
	// around either (prefill.go). The whole mapping: advice on part of it
	// splits the VMA, and msync fsyncs once per VMA (prefault.go).
	_ = mm.Advise(0, int(s.size), mmapio.AdviseRandom)
	s.mm, s.data = mm, mm.Bytes()

	t, sealed = decodeTrailer(tb[:])
	if sealed && (t.journalID != j.id || t.segID != id) {
		sealed = false // left over from a recycled file's earlier life
	}
	return t, sealed, nil
}

// loadSegmentWith opens, validates and maps segment s, whose ID, path and
// first index come from its file name (mapSegment), and takes its extent as
// decideLoad says; it writes nothing. A segment without a valid trailer is scanned,
// which hands the slots it rebuilds to setSlot; st supplies the cut and
// clean records (zero for a lazy load). On error, whatever was opened is
// closed again.
func (j *Journal) loadSegmentWith(s *segment, isLast bool, st metaState, setSlot func(i uint32, off int64)) error {
	t, sealed, err := j.mapSegment(s)
	if err != nil {
		return err
	}
	id, path := s.id, s.path
	bad := func(err error) error {
		s.closeFiles()
		return err
	}
	isClean := isLast && st.clean.segID == id
	switch decideLoad(st.cut.segID == id, sealed, func() bool { return isClean && j.trustClean(s, st.clean) }) {
	case loadCut:
		t = segTrailer{journalID: j.id, segID: id, firstStart: s.first, count: st.cut.count, flags: st.cut.flags, dataEnd: st.cut.dataEnd}
		fallthrough
	case loadSealed:
		if err := s.validateTrailer(t); err != nil {
			return bad(err)
		}
		s.applyTrailer(t)
		// Sealed: readers fault in only what they read (readahead.go).
		adviseRandom(s, s.mm)
		return nil
	case loadClean:
		s.writeOff, s.highOff, s.synced = st.clean.dataEnd, st.clean.dataEnd, st.clean.dataEnd
		j.active = s
		j.cleanPending = true
		return nil
	}
	var c checkpoint
	var ckptOK bool
	if fault := mmapio.Guard(func() error {
		s.scan(setSlot)
		c, ckptOK = decodeCheckpoint(s.data[s.ckpt:], s.salt)
		return nil
	}); fault != nil {
		return bad(faultError(path, -1, s.first, fault))
	}
	s.scanned = true
	var ckpt *checkpoint
	if ckptOK {
		ckpt = &c
	}
	var clean *segRecord
	if isClean {
		clean = &st.clean
	}
	switch judgeScan(s.count.Load(), s.writeOff, ckpt, clean) {
	case scanBelowCheckpoint:
		return bad(corruptf(path, s.writeOff, s.first+uint64(s.count.Load()),
			"chunk fails verification below the durable checkpoint (%d entries, %d bytes)", c.count, c.end))
	case scanBelowClean:
		return bad(corruptf(path, s.writeOff, s.first+uint64(s.count.Load()),
			"chunk fails verification below the clean-shutdown record (%d entries, %d bytes)", st.clean.count, st.clean.dataEnd))
	}
	return nil
}

// settleScanned applies the settling of the tail that logBreak decided:
// the segments past the break (segs[keep:]) are deleted (before sealing,
// so a crash in between repeats the same decision) and the scanned
// segments are sealed where their data ends, with the slots their scans
// rebuilt. Appends after a crash go to a new segment, so nothing past a
// recovered end can ever be revalidated by a later append lining up with
// it.
func (j *Journal) settleScanned(a *analysis, segs []*segment, keep int) ([]*segment, error) {
	if keep < len(segs) {
		for _, t := range segs[keep:] {
			if err := j.fs.Remove(t.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return segs, fmt.Errorf("journal: remove unacknowledged segment: %w", err)
			}
			t.unpin()
		}
		segs = segs[:keep]
		if err := j.fs.SyncDir(j.dir); err != nil {
			return segs, fmt.Errorf("journal: sync dir %s: %w", j.dir, err)
		}
	}
	for _, s := range segs {
		if s.scanned {
			if fault := mmapio.Guard(func() error {
				for i, off := range a.slots[s.path] {
					s.setSlot(uint32(i), int64(off))
				}
				return nil
			}); fault != nil {
				return segs, faultError(s.path, -1, s.first, fault)
			}
			if err := s.writeTrailer(s.count.Load(), s.writeOff, s.open, true); err != nil {
				return segs, err
			}
			s.scanned = false
		}
	}
	return segs, nil
}

// isIOError reports a read that failed for another reason than the end
// of the file: the device's error, not damage in the file, so it is
// returned as itself rather than as ErrCorrupt, and not remembered.
func isIOError(err error) bool {
	return err != nil && !errors.Is(err, io.EOF)
}

func (s *segment) validateTrailer(t segTrailer) error {
	maxCount := (s.size - dataStart - trailerSize) / (chunkHeaderSize + slotSize)
	if t.firstStart != s.first || int64(t.count) > maxCount ||
		t.dataEnd < dataStart || t.dataEnd > s.dataLimit(t.count) {
		return corruptf(s.path, s.trailerOff(), s.first, "trailer out of range: first %d count %d end %d", t.firstStart, t.count, t.dataEnd)
	}
	return nil
}

func (s *segment) applyTrailer(t segTrailer) {
	s.sealed = true
	s.count.Store(t.count)
	s.dataEnd = t.dataEnd
	s.writeOff, s.highOff, s.synced = t.dataEnd, t.dataEnd, t.dataEnd
	s.open = t.flags&trailerFlagOpen != 0
}

// trustClean checks a clean-shutdown record against the segment cheaply:
// the last entry's chunk must be where the record says. It reads with
// pread rather than through the cold mapping.
func (j *Journal) trustClean(s *segment, c segRecord) bool {
	if c.dataEnd < dataStart || c.dataEnd > s.dataLimit(c.count) {
		return false
	}
	if c.count == 0 {
		s.count.Store(0)
		return c.dataEnd == dataStart && !s.cont // a lone continuation needs a scan
	}
	var sb [slotSize]byte
	if n, _ := s.file.ReadAt(sb[:], s.slotOff(c.count-1)); n < slotSize {
		return false
	}
	off := int64(binary.LittleEndian.Uint32(sb[:]))
	if off < dataStart || off+chunkHeaderSize > c.dataEnd {
		return false
	}
	var hb [chunkHeaderSize]byte
	if n, _ := s.file.ReadAt(hb[:], off); n < chunkHeaderSize {
		return false
	}
	h, ok := decodeChunkHeader(hb[:], s.salt)
	if !ok || h.index != c.last || h.kind != kindFull {
		return false
	}
	if _, _, end := chunkSpan(off, h); alignUp(end) != c.dataEnd {
		return false
	}
	// Bring the last entry's payload into the page cache with pread too:
	// a Raft node reads its last entry first thing, and a fault on the
	// cold mapping reads around the faulting page by the device's whole
	// read-ahead (docs/decisions.md, "Open reads the last entry with
	// pread").
	if n := min(int64(h.length), warmLastMax); n > 0 {
		_, _ = s.file.ReadAt(make([]byte, n), off+chunkHeaderSize)
	}
	s.count.Store(c.count)
	return true
}

// warmLastMax bounds how much of the last entry Open reads ahead.
const warmLastMax = 256 << 10

// scan walks the chunks of an unsealed segment from the start, verifying
// each, rebuilding the slots, and stops at the first chunk that does not
// verify: everything from there on is an unacknowledged, torn tail. An entry
// whose last chunk is missing is not counted. It sets open when the segment
// ends inside an entry that continues (impossible for the last segment, so
// the caller truncates it).
//
// setSlot records the offset of each entry's first chunk (the analysis'
// table, which Open writes into the segment when it seals it).
//
// A chunk is verified whole: its payload's sum or, in a format 3 segment,
// its block sums and every block. A format 3 segment holds block sums for
// exactly its chunks of more than a block (chunkCap), so a chunk of
// another form there is not one the appender wrote.
func (s *segment) scan(setSlot func(i uint32, off int64)) {
	off := int64(dataStart)
	blocks := s.blockSums()
	var count uint32
	next := s.first // index of the next entry to start
	inEntry := s.cont
	entryStart := int64(-1) // offset of the First chunk of an entry starting here
	end := off              // end of the last complete entry
	for {
		limit := s.trailerOff() - slotSize*int64(count)
		if !inEntry {
			limit -= slotSize // room for the new entry's slot
		}
		if off+chunkHeaderSize > limit {
			break
		}
		h, ok := decodeChunkHeader(s.data[off:], s.salt)
		if !ok || h.blocks() != (blocks && h.length > blockSize) {
			break
		}
		_, _, cend := chunkSpan(off, h)
		if cend > limit {
			break
		}
		want := next
		if inEntry {
			want = s.base
			if entryStart >= 0 {
				want = next
			}
		}
		if h.index != want {
			break
		}
		if inEntry != (h.kind == kindMiddle || h.kind == kindLast) {
			break
		}
		if (h.kind == kindMiddle || h.kind == kindFirst) && int64(h.length) != chunkCap(limit-off-chunkHeaderSize, blocks) {
			// A middle chunk fills its segment; a first chunk is framed
			// only when its segment is full.
			break
		}
		if !s.verifyChunk(off, h) {
			break
		}
		if h.kind == kindFull || h.kind == kindFirst {
			setSlot(count, off)
			entryStart = off
		}
		off = alignUp(cend)
		switch h.kind {
		case kindFull:
			count++
			next++
			end = off
			entryStart = -1
		case kindLast:
			if entryStart >= 0 {
				count++
				next++
			}
			// else: the continuation of the entry that opened this
			// segment is complete.
			inEntry = false
			end = off
			entryStart = -1
		case kindFirst:
			// The entry continues in the next segment, if that exists
			// and agrees (settleScanned checks).
			s.scanEnd(count+1, cend, true)
			return
		case kindMiddle:
			s.scanEnd(count, cend, true) // checked above to fill the segment
			return
		}
	}
	s.scanEnd(count, end, false)
	if s.cont && end == dataStart {
		// The opening continuation did not complete: the entry that
		// started in the previous segment is incomplete. Marking the
		// segment open makes recovery cut that entry off.
		s.open = true
	}
}

func (s *segment) scanEnd(count uint32, end int64, open bool) {
	s.count.Store(count)
	s.writeOff, s.highOff, s.synced = end, end, 0
	s.open = open
}
