package journal

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spoolhq/spool/mmapio"
	"github.com/zeebo/xxh3"
)

// segFile is a segment file found in the directory.
type segFile struct {
	id, first uint64
	name      string
}

// recover loads the meta file and the segments and rebuilds the in-memory
// state. It runs before the journal is shared, under no lock.
func (j *Journal) recover() error {
	names, err := j.fs.List(j.dir)
	if err != nil {
		return fmt.Errorf("journal: list %s: %w", j.dir, err)
	}
	var files []segFile
	hasMeta := false
	for _, n := range names {
		switch {
		case n == metaName:
			hasMeta = true
		case n == metaName+tmpSuffix || strings.HasSuffix(n, ".seg"+tmpSuffix):
			// An interrupted creation: the rename never happened, so
			// the file holds nothing acknowledged.
			_ = j.fs.Remove(filepath.Join(j.dir, n))
		default:
			if id, first, ok := parseSegmentName(n); ok {
				files = append(files, segFile{id: id, first: first, name: n})
			}
		}
	}
	slices.SortFunc(files, func(a, b segFile) int { return cmp.Compare(a.id, b.id) })
	metaPath := filepath.Join(j.dir, metaName)
	if !hasMeta {
		if len(files) > 0 {
			return corruptf(metaPath, -1, 0, "meta file missing beside %d segments", len(files))
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
	j.id = st.journalID

	live, garbage := partitionFiles(files, st)
	j.nextSegID = max(st.nextSegID, st.minSegID, st.idHigh, 1)
	if len(files) > 0 {
		j.nextSegID = max(j.nextSegID, files[len(files)-1].id+1)
	}

	// Lay out the index from the names: entries starting in segment i are
	// [first_i, first_i+1). Only the tail is loaded now: the last segment,
	// and going back, every segment until one with a durable trailer (seals
	// are synced in order, so all earlier ones have theirs), plus the
	// segment a cut record names. The rest load on first access.
	segs := make([]*segment, len(live))
	fail := func(err error) error {
		for _, s := range segs {
			if s != nil {
				s.unpin()
			}
		}
		return err
	}
	for i, f := range live {
		s := &segment{j: j, id: f.id, first: f.first, path: filepath.Join(j.dir, f.name)}
		s.refs.Store(1)
		j.liveSegments.Add(1)
		segs[i] = s
		if i > 0 {
			p := segs[i-1]
			if f.first < p.first || f.first-p.first > 1<<32-1 {
				return fail(corruptf(s.path, -1, f.first, "segment starts at index %d, before or far after its predecessor's %d", f.first, p.first))
			}
			p.count.Store(uint32(f.first - p.first))
		}
	}
	if _, err := j.loadTail(segs, st); err != nil {
		return fail(err)
	}
	segs, err = j.settleScanned(segs)
	if err != nil {
		return fail(err)
	}
	j.segs.Store(&segmentSet{segs: segs})

	first, last, below, err := logBounds(st, segs)
	if err != nil {
		return fail(err)
	}
	j.first.Store(first)
	j.last.Store(last)

	// A tail that needs cutting: an incomplete spanning entry, or a cut
	// record whose trailer rewrite may not have landed.
	if n := len(segs); n > 0 && segs[n-1].open && !below {
		if err := j.truncateBackLocked(last); err != nil {
			return err
		}
	}
	j.durable.Store(j.last.Load())

	for _, f := range garbage {
		if err := j.fs.Remove(filepath.Join(j.dir, f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: remove stale segment: %w", err)
		}
	}
	if len(garbage) > 0 {
		if err := j.fs.SyncDir(j.dir); err != nil {
			return fmt.Errorf("journal: sync dir %s: %w", j.dir, err)
		}
	}
	// Segments wholly below the first index (a TruncateFront whose unlinks
	// did not land).
	if err := j.dropBelowLocked(first); err != nil {
		return err
	}
	staleClean := j.meta.state.clean.segID != 0 && !j.cleanPending
	if j.nextSegID > st.idHigh || staleClean {
		// Record the ID bound before anything is appended: segments
		// deleted above may have held the highest IDs. A clean record
		// that recovery did not trust (the segment ended in a spanning
		// entry, so it was scanned and sealed) is dropped too: a clean
		// record vouches for the data below it (loadSegment), so none
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

// loadSegment opens, validates and maps segment s, whose ID, path and
// first index come from its file name. A segment without a valid trailer is
// scanned; st supplies the cut and clean records (zero for a lazy load).
// On error, whatever was opened is closed again.
func (j *Journal) loadSegment(s *segment, isLast bool, st metaState) error {
	id, path := s.id, s.path
	// Verify loads through a verifyFS, which opens and maps read-only;
	// then nothing here may write.
	vfs, _ := j.fs.(*verifyFS)
	f, err := j.fs.Open(path, true)
	if err != nil {
		return fmt.Errorf("journal: open %s: %w", path, err)
	}
	s.file = f
	nameFirst := s.first
	bad := func(err error) error {
		s.closeFiles()
		return err
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
	s.first = s.base
	if s.cont {
		s.first++
	}
	if s.first != nameFirst {
		return bad(corruptf(path, 32, s.base, "header says entries start at %d, file name says %d", s.first, nameFirst))
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
	s.mm, s.data = mm, mm.Bytes()

	t, sealed := decodeTrailer(tb[:])
	if sealed && (t.journalID != j.id || t.segID != id) {
		sealed = false // left over from a recycled file's earlier life
	}
	if st.cut.segID == id {
		// The cut record is authoritative: the trailer rewrite it
		// protects may not have landed.
		t = segTrailer{journalID: j.id, segID: id, firstStart: s.first, count: st.cut.count, flags: st.cut.flags, dataEnd: st.cut.dataEnd}
		if err := s.validateTrailer(t); err != nil {
			return bad(err)
		}
		s.applyTrailer(t)
		if vfs != nil {
			return nil // Verify reports the cut; Open re-applies it
		}
		if err := s.seal(); err != nil {
			return bad(err)
		}
		return nil
	}
	if sealed {
		if err := s.validateTrailer(t); err != nil {
			return bad(err)
		}
		s.applyTrailer(t)
		return nil
	}
	if isLast && st.clean.segID == id && j.trustClean(s, st.clean) {
		s.writeOff, s.highOff, s.synced = st.clean.dataEnd, st.clean.dataEnd, st.clean.dataEnd
		j.active = s
		j.cleanPending = true
		return nil
	}
	// Not sealed: the last segment after a crash, or one whose deferred
	// seal never reached the disk. Scan it; settleScanned decides.
	// Verify rebuilds the slots beside the read-only mapping, not in it.
	setSlot := s.setSlot
	if vfs != nil {
		setSlot = vfs.slotSetter(path)
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
	if ckptOK && (c.count > s.count.Load() || c.end > s.writeOff) {
		// The scan stopped inside a prefix a sync made durable: this
		// is damage to acknowledged entries, not a torn tail.
		return bad(corruptf(path, s.writeOff, s.first+uint64(s.count.Load()),
			"chunk fails verification below the durable checkpoint (%d entries, %d bytes)", c.count, c.end))
	}
	if isLast && st.clean.segID == id && (st.clean.count > s.count.Load() || st.clean.dataEnd > s.writeOff) {
		// trustClean refused the record, and the scan stopped short of
		// it: Close synced the segment up to the record before writing
		// it, and every mutation clears it first, so the record proves
		// that everything below it was acknowledged and reached the
		// disk. What fails verification there is damage (a flipped bit
		// in the last chunk's header, a frame copied over it), not a
		// torn tail to trim.
		return bad(corruptf(path, s.writeOff, s.first+uint64(s.count.Load()),
			"chunk fails verification below the clean-shutdown record (%d entries, %d bytes)", st.clean.count, st.clean.dataEnd))
	}
	return nil
}

// settleScanned deals with the segments that had to be scanned. A segment
// is sealed lazily when the next one is created (its trailer reaches the
// disk with the next sync), so after a crash any segment may lack its
// trailer, but then nothing at or after it was ever synced past what the
// scan finds intact. The log therefore ends at the first scanned segment
// whose successor does not continue exactly where the scan stopped: later
// segments are deleted (before sealing, so a crash in between repeats the
// same decision) and the scanned segments are sealed where their data ends.
// Appends after a crash go to a new segment, so nothing past a recovered
// end can ever be revalidated by a later append lining up with it.
func (j *Journal) settleScanned(segs []*segment) ([]*segment, error) {
	keep, err := logBreak(segs)
	if err != nil {
		return segs, err
	}
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
			if err := s.writeTrailer(s.count.Load(), s.writeOff, s.open, true); err != nil {
				return segs, err
			}
			s.scanned = false
		}
	}
	return segs, checkChain(segs)
}

// loadTail loads the segments Open needs at once: the last one and, going
// back, every one until a segment with a durable trailer (seals are synced
// in order, so all earlier ones have theirs; after a clean Close the last
// segment alone), plus the segment a cut record names. On error it returns
// the segment that failed to load.
func (j *Journal) loadTail(segs []*segment, st metaState) (*segment, error) {
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if err := j.loadSegment(s, i == len(segs)-1, st); err != nil {
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
				if err := j.loadSegment(s, false, st); err != nil {
					return s, err
				}
				s.loaded.Store(true)
			}
		}
	}
	return nil, nil
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

// partitionFiles splits the segment files of the directory, sorted by ID,
// into the live ones and garbage. Garbage is left by truncations that
// crashed before their unlinks landed, and by a TruncateFront whose
// unlinks did not all land: segments wholly below the first index (their
// successor's first entry is at or below it), which go before the chain
// checks because a later one gone while an earlier one stayed would break
// them. Recovery removes the garbage; Verify reports it.
func partitionFiles(files []segFile, st metaState) (live, garbage []segFile) {
	for _, f := range files {
		stale := f.id < st.minSegID ||
			(st.cut.segID != 0 && f.id > st.cut.segID && f.id < st.nextSegID)
		if stale {
			garbage = append(garbage, f)
		} else {
			live = append(live, f)
		}
	}
	for len(live) > 1 && live[1].first <= st.first {
		garbage = append(garbage, live[0])
		live = live[1:]
	}
	return live, garbage
}

// logBreak returns how many of the loaded tail segments the log keeps: it
// ends after the first scanned segment that its successor does not
// continue, or whose opening continuation is broken. It returns an error
// when such a break is damage rather than a lost seal: a later segment
// holds a checkpoint, so a sync round made every earlier seal durable, and
// the entries a trim would drop were acknowledged. Recovery removes the
// segments past the break; Verify reports them as a torn tail.
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

// isIOError reports a read that failed for another reason than the end
// of the file: the device's error, not damage in the file, so it is
// returned as itself rather than as ErrCorrupt, and not remembered.
func isIOError(err error) bool {
	return err != nil && !errors.Is(err, io.EOF)
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
	if !ok || h.index != c.last || h.kind != kindFull ||
		alignUp(off+chunkHeaderSize+int64(h.length)) != c.dataEnd {
		return false
	}
	// Bring the last entry's payload into the page cache with pread too:
	// a Raft node reads its last entry first thing, and a fault on the
	// cold mapping reads around the faulting page by the device's
	// read-ahead (read_ahead_kb is 8 MiB on the CI VM: a cold open plus
	// one GetLog took 8-12 ms instead of about 1).
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
// setSlot records the offset of each entry's first chunk (s.setSlot, or a
// table beside a read-only mapping for Verify).
func (s *segment) scan(setSlot func(i uint32, off int64)) {
	off := int64(dataStart)
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
		if !ok || off+chunkHeaderSize+int64(h.length) > limit {
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
		if h.kind == kindMiddle && off+chunkHeaderSize+int64(h.length) != limit {
			break // a middle chunk fills its segment
		}
		payload := s.data[off+chunkHeaderSize : off+chunkHeaderSize+int64(h.length)]
		if xxh3.Hash(payload) != h.sum {
			break
		}
		cend := off + chunkHeaderSize + int64(h.length)
		if h.kind == kindFirst && cend != limit {
			break // a first chunk is framed only when its segment is full
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
