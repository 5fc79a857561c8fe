package hashicorp

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/mmapio"
	"github.com/zeebo/xxh3"
)

// The stable file (DIR/STABLE) holds the StableStore keys that do not live
// in the journal's meta store: every key but raft's own, and a raft key
// whose value is too long for the meta store. The format is in the package
// doc ("Stable file format, version 1"); docs/decisions.md says why it
// looks the way it does.
const (
	stableName    = "STABLE"
	stableTmpName = stableName + ".tmp"
	stableMagic   = "SPOOLSKV"
	stableVersion = 1

	// stableSector is the unit of atomic writes the format assumes at
	// most: the file header has a sector to itself, and every appended
	// record starts on a sector boundary, so that appending never
	// rewrites a sector holding acknowledged bytes.
	stableSector     = 512
	stableHeaderSize = stableSector
	stableHeaderUsed = 64

	recHeaderSize        = 40
	recMagic      uint32 = 0x52564b53 // "SKVR"
	recKindSet           = 1

	// maxRecValue is the format's bound on a value's length, whatever
	// the options say.
	maxRecValue = 1 << 30

	// The file grows by a quarter of its size, within these bounds, so a
	// Set rarely extends it and the reserved tail a reopen scans stays
	// small.
	stableGrowMin = 256 << 10
	stableGrowMax = 4 << 20
	// stableCompactMin is the least dead space that makes a Set rewrite
	// the file (with dead space above live space).
	stableCompactMin = 1 << 20
	// stableChunk is the read buffer of Open's scan and the write buffer
	// of a rewrite.
	stableScanChunk  = 64 << 10
	stableWriteChunk = 1 << 20
)

// Defaults of the StableStore's bounds.
const (
	// DefaultMaxStableValueSize is one StableStore value's bound when
	// Options.MaxStableValueSize is 0.
	DefaultMaxStableValueSize = 1 << 20
	// DefaultMaxStableSize is the bound on the stable file's live records
	// when Options.MaxStableSize is 0.
	DefaultMaxStableSize = 64 << 20
	// StableRecordOverhead is what each key costs against MaxStableSize
	// beyond its key and value bytes (a record header; the total is
	// rounded up to 8 bytes).
	StableRecordOverhead = recHeaderSize
	// maxMetaValue is the longest raft-key value kept in the journal's
	// meta store: three raft keys of that length fit in it together.
	maxMetaValue = 1024
)

// StableStore bound errors; a Set past a bound returns a *StableLimitError
// wrapping one of them.
var (
	// ErrStableValueTooLarge reports a value longer than
	// Options.MaxStableValueSize.
	ErrStableValueTooLarge = errors.New("hashicorp: stable value too large")
	// ErrStableFull reports a Set that would take the stable file's live
	// records past Options.MaxStableSize.
	ErrStableFull = errors.New("hashicorp: stable store full")
)

// StableLimitError describes a Set refused by a bound: nothing was written.
type StableLimitError struct {
	Key   string // the key of the Set
	Size  int64  // the value's length, or the total the Set would make
	Limit int64  // the bound
	Err   error  // ErrStableValueTooLarge or ErrStableFull
}

func (e *StableLimitError) Error() string {
	if errors.Is(e.Err, ErrStableFull) {
		return fmt.Sprintf("%v: Set(%q) would hold %d bytes, limit %d", e.Err, e.Key, e.Size, e.Limit)
	}
	return fmt.Sprintf("%v: Set(%q) of %d bytes, limit %d", e.Err, e.Key, e.Size, e.Limit)
}

// Unwrap returns the sentinel.
func (e *StableLimitError) Unwrap() error { return e.Err }

// isRaftKey reports whether key is one of the keys raft itself writes,
// which live in the journal's meta store (a single meta write per Set).
func isRaftKey(key []byte) bool {
	switch string(key) {
	case "CurrentTerm", "LastVoteTerm", "LastVoteCand":
		return true
	}
	return false
}

// stableEntry locates a live record.
type stableEntry struct {
	off  int64
	seq  uint64
	vlen uint32
	klen uint8
}

func (e *stableEntry) recLen() int64 { return recHeaderSize + int64(e.klen) + int64(e.vlen) }

// size is what the record costs against the total bound.
func (e *stableEntry) size() int64 { return align(e.recLen(), 8) }

func recSize(klen, vlen int) int64 { return align(int64(recHeaderSize+klen+vlen), 8) }

func align(n, a int64) int64 { return (n + a - 1) / a * a }

// stableImage is what Open's scan of a stable file finds.
type stableImage struct {
	id      uint64
	index   map[string]*stableEntry
	end     int64  // end of the last record; the next goes at align(end, stableSector)
	nextSeq uint64 // sequence number of the next record
	live    int64  // sum of the live records' sizes
}

// stableFile is the open stable file.
type stableFile struct {
	fs       mmapio.FS
	dir      string
	path     string
	maxValue int
	maxTotal int64
	// onCreate runs before the file is first created (the Store records
	// the new format version with it).
	onCreate func() error

	// wmu serialises writers (Set, rewrite, close); what it guards is
	// also read by writers only.
	wmu     sync.Mutex
	err     error // sticky: a write or sync of the file failed
	end     int64
	nextSeq uint64
	alloc   int64 // file size reserved
	buf     []byte
	rbuf    []byte
	closed  bool

	// mu guards the file, its ID and the index against readers: writers
	// change them holding wmu and mu, readers hold mu shared across their
	// pread, so a rewrite never closes a file under a reader.
	mu    sync.RWMutex
	file  mmapio.File // nil until the first record
	shut  bool        // closed
	id    uint64
	index map[string]*stableEntry
	live  int64
}

// openStable opens dir/STABLE if it exists, removing an unfinished
// rewrite (dir/STABLE.tmp: its rename never happened, so it holds nothing
// acknowledged).
func openStable(fsys mmapio.FS, dir string, maxValue int, maxTotal int64) (*stableFile, error) {
	sf := &stableFile{
		fs: fsys, dir: dir, path: filepath.Join(dir, stableName),
		maxValue: maxValue, maxTotal: maxTotal,
		index: map[string]*stableEntry{}, nextSeq: 1, end: stableHeaderSize,
	}
	if err := fsys.Remove(filepath.Join(dir, stableTmpName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("hashicorp: remove unfinished %s: %w", stableTmpName, err)
	}
	f, err := fsys.Open(sf.path, true)
	if errors.Is(err, fs.ErrNotExist) {
		return sf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hashicorp: open %s: %w", sf.path, err)
	}
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("hashicorp: size of %s: %w", sf.path, err)
	}
	img, err := loadStable(f, size, sf.path)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	sf.file, sf.id, sf.index, sf.live = f, img.id, img.index, img.live
	sf.end, sf.nextSeq, sf.alloc = img.end, img.nextSeq, size
	return sf, nil
}

func stableCorrupt(path string, off int64, format string, args ...any) error {
	return &journal.CorruptError{Path: path, Offset: off, Reason: fmt.Sprintf(format, args...), Err: journal.ErrCorrupt}
}

// chunkReader serves small reads at increasing offsets from one buffer.
type chunkReader struct {
	r    io.ReaderAt
	size int64
	path string
	buf  []byte
	off  int64
	n    int
}

// at returns [pos, pos+n) of the file, or nil if that runs past its end.
// The bytes are valid until the next call.
func (c *chunkReader) at(pos int64, n int) ([]byte, error) {
	if pos < 0 || n > len(c.buf) || pos > c.size-int64(n) {
		return nil, nil
	}
	if pos >= c.off && pos+int64(n) <= c.off+int64(c.n) {
		return c.buf[pos-c.off : pos-c.off+int64(n)], nil
	}
	m := int(min(int64(len(c.buf)), c.size-pos))
	k, err := c.r.ReadAt(c.buf[:m], pos)
	if k < m {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		c.n = 0
		return nil, fmt.Errorf("hashicorp: read %s at %d: %w", c.path, pos, err)
	}
	c.off, c.n = pos, m
	return c.buf[:n], nil
}

// parseRecord reads the record header at pos. ok is false when there is no
// valid record there (its checksum, seeded with the file ID and pos, binds
// it to this place in this file, so stale or misplaced bytes never pass).
// key is valid until the reader's next call.
func parseRecord(c *chunkReader, id uint64, pos int64) (e stableEntry, key []byte, ok bool, err error) {
	h, err := c.at(pos, recHeaderSize)
	if h == nil || err != nil {
		return e, nil, false, err
	}
	klen := int(h[13])
	if binary.LittleEndian.Uint32(h[8:]) != recMagic || h[12] != recKindSet || klen == 0 ||
		binary.LittleEndian.Uint16(h[14:]) != 0 || binary.LittleEndian.Uint32(h[20:]) != 0 {
		return e, nil, false, nil
	}
	vlen := int64(binary.LittleEndian.Uint32(h[16:]))
	if vlen > maxRecValue || pos+recHeaderSize+int64(klen)+vlen > c.size {
		return e, nil, false, nil
	}
	b, err := c.at(pos, recHeaderSize+klen)
	if b == nil || err != nil {
		return e, nil, false, err
	}
	if binary.LittleEndian.Uint64(b) != xxh3.HashSeed(b[8:], id^uint64(pos)) {
		return e, nil, false, nil
	}
	e = stableEntry{off: pos, seq: binary.LittleEndian.Uint64(b[24:]), vlen: uint32(vlen), klen: uint8(klen)}
	return e, b[recHeaderSize:], true, nil
}

// loadStable decodes a stable file of size bytes. The header walk reads
// each record's header and key, not its value, so Open costs little for
// large values; Get checks a value's checksum when it reads it. The last
// record's value is checked here: it is the only one a crash can leave
// torn, and a torn one is dropped (its Set never returned). Damage to
// anything acknowledged is an error wrapping journal.ErrCorrupt: a
// damaged record of the file's base (written and synced before the file
// was published), or a damaged record with a valid later one beyond it
// (each record is synced before the next is written, so a later one proves
// the earlier was acknowledged). Allocations are bounded by size.
func loadStable(r io.ReaderAt, size int64, path string) (*stableImage, error) {
	var hb [stableHeaderUsed]byte
	if size < stableHeaderSize {
		return nil, stableCorrupt(path, 0, "file of %d bytes, shorter than its header", size)
	}
	if n, err := r.ReadAt(hb[:], 0); n < len(hb) {
		return nil, fmt.Errorf("hashicorp: read %s: %w", path, err)
	}
	if string(hb[:8]) != stableMagic {
		return nil, &journal.CorruptError{Path: path, Offset: 0, Reason: "not a stable file (bad magic)", Err: journal.ErrForeign}
	}
	if binary.LittleEndian.Uint64(hb[56:]) != xxh3.Hash(hb[:56]) {
		return nil, stableCorrupt(path, 0, "header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(hb[8:]); v != stableVersion {
		if v > stableVersion {
			return nil, &journal.CorruptError{Path: path, Offset: 0, Reason: fmt.Sprintf("stable file format %d, this build reads %d", v, stableVersion), Err: journal.ErrVersion}
		}
		return nil, stableCorrupt(path, 0, "stable file format %d", v)
	}
	img := &stableImage{
		id:    binary.LittleEndian.Uint64(hb[16:]),
		index: map[string]*stableEntry{},
	}
	baseCount := binary.LittleEndian.Uint64(hb[24:])
	baseEnd := int64(binary.LittleEndian.Uint64(hb[32:]))
	if baseEnd < stableHeaderSize || baseEnd > size || baseCount > uint64(size/recHeaderSize) {
		return nil, stableCorrupt(path, 0, "header: base of %d records ending at %d, file of %d bytes", baseCount, baseEnd, size)
	}
	c := &chunkReader{r: r, size: size, path: path, buf: make([]byte, min(stableScanChunk, size))}

	var (
		end     = int64(stableHeaderSize)
		last    *stableEntry
		lastKey string
		prev    *stableEntry // the entry the last record replaced, if any
		prevEnd int64        // end before the last record
	)
	seq := uint64(1)
	for ; ; seq++ {
		pos := align(end, stableSector)
		if seq <= baseCount {
			pos = align(end, 8)
		}
		e, key, ok, err := parseRecord(c, img.id, pos)
		if err != nil {
			return nil, err
		}
		if !ok || e.seq != seq {
			if seq <= baseCount {
				return nil, stableCorrupt(path, pos, "record %d of the file's %d base records missing or damaged", seq, baseCount)
			}
			break
		}
		if seq == baseCount && pos+e.recLen() != baseEnd {
			return nil, stableCorrupt(path, pos, "base records end at %d, header says %d", pos+e.recLen(), baseEnd)
		}
		k := string(key)
		ne := new(stableEntry)
		*ne = e
		old := img.index[k]
		if old != nil {
			img.live -= old.size()
		}
		img.index[k] = ne
		img.live += ne.size()
		last, lastKey, prev, prevEnd = ne, k, old, end
		end = pos + e.recLen()
	}
	tail := align(end, stableSector)
	if last != nil && last.seq > baseCount {
		ok, err := checkValue(r, img.id, last, path)
		if err != nil {
			return nil, err
		}
		if !ok {
			// Torn: the Set that wrote it never returned.
			img.live -= last.size()
			if prev != nil {
				img.index[lastKey] = prev
				img.live += prev.size()
			} else {
				delete(img.index, lastKey)
			}
			tail, end, seq = last.off, prevEnd, last.seq
		}
	}
	// Nothing valid may follow the tail: a later record proves the one at
	// the tail was acknowledged, so a gap there is damage, not a torn end.
	for p := tail + stableSector; p < size; p += stableSector {
		e, _, ok, err := parseRecord(c, img.id, p)
		if err != nil {
			return nil, err
		}
		if ok && e.seq > seq {
			return nil, stableCorrupt(path, tail, "record %d missing or damaged, but record %d follows at offset %d", seq, e.seq, p)
		}
	}
	img.end, img.nextSeq = end, seq
	return img, nil
}

// checkValue reports whether e's value matches its checksum.
func checkValue(r io.ReaderAt, id uint64, e *stableEntry, path string) (bool, error) {
	b := make([]byte, e.recLen())
	if n, err := r.ReadAt(b, e.off); n < len(b) {
		return false, fmt.Errorf("hashicorp: read %s at %d: %w", path, e.off, err)
	}
	_, _, err := decodeRecord(b, id, e, path)
	return err == nil, nil
}

// decodeRecord checks the record in b (exactly e.recLen() bytes read at
// e.off) and returns its key and value (sub-slices of b).
func decodeRecord(b []byte, id uint64, e *stableEntry, path string) (key, val []byte, err error) {
	kl := int(e.klen)
	if int64(len(b)) != e.recLen() ||
		binary.LittleEndian.Uint64(b) != xxh3.HashSeed(b[8:recHeaderSize+kl], id^uint64(e.off)) ||
		binary.LittleEndian.Uint32(b[8:]) != recMagic ||
		binary.LittleEndian.Uint64(b[24:]) != e.seq ||
		int(b[13]) != kl || binary.LittleEndian.Uint32(b[16:]) != e.vlen {
		return nil, nil, stableCorrupt(path, e.off, "record %d: header damaged", e.seq)
	}
	key, val = b[recHeaderSize:recHeaderSize+kl], b[recHeaderSize+kl:]
	if binary.LittleEndian.Uint64(b[32:]) != xxh3.Hash(val) {
		return nil, nil, stableCorrupt(path, e.off, "record %d (key %q): value checksum mismatch", e.seq, key)
	}
	return key, val, nil
}

// appendRecord appends the record for key and val, written at off of the
// file id with sequence number seq, to dst.
func appendRecord(dst []byte, id uint64, off int64, seq uint64, key, val []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, recHeaderSize+len(key)+len(val))
	var h [recHeaderSize]byte
	binary.LittleEndian.PutUint32(h[8:], recMagic)
	h[12] = recKindSet
	h[13] = byte(len(key))
	binary.LittleEndian.PutUint32(h[16:], uint32(len(val)))
	binary.LittleEndian.PutUint64(h[24:], seq)
	binary.LittleEndian.PutUint64(h[32:], xxh3.Hash(val))
	dst = append(dst, h[:]...)
	dst = append(dst, key...)
	binary.LittleEndian.PutUint64(dst[start:], xxh3.HashSeed(dst[start+8:], id^uint64(off)))
	return append(dst, val...)
}

func encodeStableHeader(id, baseCount uint64, baseEnd int64) []byte {
	b := make([]byte, stableHeaderSize)
	copy(b, stableMagic)
	binary.LittleEndian.PutUint16(b[8:], stableVersion)
	binary.LittleEndian.PutUint64(b[16:], id)
	binary.LittleEndian.PutUint64(b[24:], baseCount)
	binary.LittleEndian.PutUint64(b[32:], uint64(baseEnd))
	binary.LittleEndian.PutUint64(b[56:], xxh3.Hash(b[:56]))
	return b
}

// zeroPad pads packed records to 8 bytes.
var zeroPad [8]byte

func randomFileID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("hashicorp: crypto/rand: " + err.Error())
	}
	return binary.LittleEndian.Uint64(b[:])
}

// growTo returns the reservation for a file that must hold need bytes.
func growTo(have, need int64) int64 {
	return align(need+min(max(have/4, stableGrowMin), stableGrowMax), 64<<10)
}

// get returns a copy of key's value; ok is false when the file holds none.
func (sf *stableFile) get(key []byte) (val []byte, ok bool, err error) {
	sf.mu.RLock()
	if sf.shut {
		sf.mu.RUnlock()
		return nil, false, journal.ErrClosed
	}
	e := sf.index[string(key)]
	if e == nil || sf.file == nil {
		sf.mu.RUnlock()
		return nil, false, nil
	}
	ent, id := *e, sf.id
	b := make([]byte, ent.recLen())
	n, rerr := sf.file.ReadAt(b, ent.off)
	sf.mu.RUnlock()
	if n < len(b) {
		return nil, false, fmt.Errorf("hashicorp: Get(%q): read %s at %d: %w", key, sf.path, ent.off, rerr)
	}
	k, v, err := decodeRecord(b, id, &ent, sf.path)
	if err != nil {
		return nil, false, err
	}
	if !bytes.Equal(k, key) {
		return nil, false, stableCorrupt(sf.path, ent.off, "record %d holds key %q, the index %q", ent.seq, k, key)
	}
	return v[:len(v):len(v)], true, nil
}

// checkTotal refuses a Set past the total bound. The caller holds wmu.
func (sf *stableFile) checkTotal(key []byte, vlen int) error {
	total := sf.live + recSize(len(key), vlen)
	if e := sf.index[string(key)]; e != nil {
		total -= e.size()
	}
	if total > sf.maxTotal {
		return &StableLimitError{Key: string(key), Size: total, Limit: sf.maxTotal, Err: ErrStableFull}
	}
	return nil
}

// setLocked durably stores key = val in the file: one write and one
// fdatasync (which covers a reservation made for it too), or, when dead
// records outweigh live ones, a rewrite that includes it. The caller holds
// wmu.
func (sf *stableFile) setLocked(key, val []byte) error {
	if sf.closed {
		return journal.ErrClosed
	}
	if sf.err != nil {
		return sf.err
	}
	if err := sf.checkTotal(key, len(val)); err != nil {
		return err
	}
	if sf.file == nil {
		if err := sf.onCreate(); err != nil {
			return err
		}
		return sf.rewriteLocked(key, val)
	}
	pos := align(sf.end, stableSector)
	liveAfter := sf.live + recSize(len(key), len(val))
	if e := sf.index[string(key)]; e != nil {
		liveAfter -= e.size()
	}
	if dead := pos + recSize(len(key), len(val)) - stableHeaderSize - liveAfter; dead > liveAfter && dead >= stableCompactMin {
		return sf.rewriteLocked(key, val)
	}
	rec := appendRecord(sf.buf[:0], sf.id, pos, sf.nextSeq, key, val)
	sf.buf = rec[:0]
	need := pos + int64(len(rec))
	if need > sf.alloc {
		a := growTo(sf.alloc, need)
		if err := sf.file.Allocate(a); err != nil {
			return fmt.Errorf("hashicorp: reserve %d bytes for %s: %w", a, sf.path, err)
		}
		sf.alloc = a
	}
	if _, err := sf.file.WriteAt(rec, pos); err != nil {
		sf.err = fmt.Errorf("%w: write %s at %d: %w", journal.ErrFailed, sf.path, pos, err)
		return sf.err
	}
	if err := sf.file.Sync(); err != nil {
		// The pages may have been dropped (a failed fsync is not
		// retried): refuse further writes, as the journal does.
		sf.err = fmt.Errorf("%w: sync %s: %w", journal.ErrFailed, sf.path, err)
		return sf.err
	}
	e := &stableEntry{off: pos, seq: sf.nextSeq, vlen: uint32(len(val)), klen: uint8(len(key))}
	sf.end, sf.nextSeq = need, sf.nextSeq+1
	sf.mu.Lock()
	if old := sf.index[string(key)]; old != nil {
		sf.live -= old.size()
		*old = *e // no new map key: an overwrite allocates nothing here
	} else {
		sf.index[string(key)] = e
	}
	sf.live += e.size()
	sf.mu.Unlock()
	return nil
}

// dropLocked forgets key's record (a raft key now kept in the meta
// store); the next rewrite leaves it out. The caller holds wmu.
func (sf *stableFile) dropLocked(key []byte) {
	if e := sf.index[string(key)]; e != nil {
		sf.mu.Lock()
		delete(sf.index, string(key))
		sf.live -= e.size()
		sf.mu.Unlock()
	}
}

// rewriteLocked writes every live record and then key = val, packed,
// into a new file (STABLE.tmp: written, fdatasynced, renamed over STABLE,
// directory fsynced): after a crash the directory holds the old file or
// the new one, each complete. Values are checked as they are copied, so
// damage is reported, never carried over. The caller holds wmu.
func (sf *stableFile) rewriteLocked(key, val []byte) (err error) {
	type kv struct {
		k string
		e *stableEntry
	}
	live := make([]kv, 0, len(sf.index))
	for k, e := range sf.index {
		if k != string(key) {
			live = append(live, kv{k, e})
		}
	}
	slices.SortFunc(live, func(a, b kv) int { return cmp.Compare(a.e.off, b.e.off) })

	id := randomFileID()
	index := make(map[string]*stableEntry, len(live)+1)
	pos, seq := int64(stableHeaderSize), uint64(1)
	for _, x := range live {
		index[x.k] = &stableEntry{off: pos, seq: seq, vlen: x.e.vlen, klen: x.e.klen}
		pos = align(pos+x.e.recLen(), 8)
		seq++
	}
	newE := &stableEntry{off: pos, seq: seq, vlen: uint32(len(val)), klen: uint8(len(key))}
	index[string(key)] = newE
	end := pos + newE.recLen()

	tmp := filepath.Join(sf.dir, stableTmpName)
	f, err := sf.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("hashicorp: create %s: %w", tmp, err)
	}
	published := false
	defer func() {
		if !published {
			_ = f.Close()
			_ = sf.fs.Remove(tmp)
		}
	}()
	alloc := growTo(end, end)
	if err := f.Allocate(alloc); err != nil {
		return fmt.Errorf("hashicorp: reserve %d bytes for %s: %w", alloc, tmp, err)
	}
	out := sf.buf[:0]
	out = append(out, encodeStableHeader(id, uint64(len(live)+1), end)...)
	woff := int64(0) // file offset of out[0]
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		if _, err := f.WriteAt(out, woff); err != nil {
			return fmt.Errorf("hashicorp: write %s: %w", tmp, err)
		}
		woff += int64(len(out))
		out = out[:0]
		return nil
	}
	for _, x := range live {
		ne := index[x.k]
		out = append(out, zeroPad[:ne.off-woff-int64(len(out))]...)
		b := slices.Grow(sf.rbuf[:0], int(x.e.recLen()))[:x.e.recLen()]
		sf.rbuf = b
		if n, err := sf.file.ReadAt(b, x.e.off); n < len(b) {
			return fmt.Errorf("hashicorp: read %s at %d: %w", sf.path, x.e.off, err)
		}
		k, v, err := decodeRecord(b, sf.id, x.e, sf.path)
		if err != nil {
			return err
		}
		out = appendRecord(out, id, ne.off, ne.seq, k, v)
		if len(out) >= stableWriteChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	out = append(out, zeroPad[:newE.off-woff-int64(len(out))]...)
	out = appendRecord(out, id, newE.off, newE.seq, key, val)
	if err := flush(); err != nil {
		return err
	}
	if cap(out) <= 2*stableWriteChunk+sf.maxValue {
		sf.buf = out[:0]
	}
	perr := mmapio.Publish(sf.fs, f, sf.path, true)
	if perr != nil && !errors.Is(perr, mmapio.ErrNotDurable) {
		return fmt.Errorf("hashicorp: rewrite %s: %w", sf.path, perr)
	}
	published = true
	live2 := int64(0)
	for _, e := range index {
		live2 += e.size()
	}
	sf.mu.Lock()
	old := sf.file
	sf.file, sf.id, sf.index, sf.live = f, id, index, live2
	sf.mu.Unlock()
	sf.end, sf.nextSeq, sf.alloc = end, seq+1, alloc
	if old != nil {
		_ = old.Close()
	}
	if perr != nil {
		// The rename may not be durable, and which file a reboot
		// finds is unknown: refuse further writes.
		sf.err = fmt.Errorf("%w: %w", journal.ErrFailed, perr)
		return sf.err
	}
	return nil
}

// close closes the file; later writes return journal.ErrClosed.
func (sf *stableFile) close() error {
	sf.wmu.Lock()
	defer sf.wmu.Unlock()
	sf.closed = true
	sf.mu.Lock()
	defer sf.mu.Unlock()
	sf.shut = true
	if sf.file == nil {
		return nil
	}
	err := sf.file.Close()
	sf.file = nil
	return err
}

// keys returns the number of keys the file holds.
func (sf *stableFile) keys() int {
	sf.mu.RLock()
	defer sf.mu.RUnlock()
	return len(sf.index)
}

// openStable opens the stable file and forgets the file records of raft
// keys that the meta store holds (its copy wins; the next rewrite drops
// them).
func (s *Store) openStable() error {
	sf, err := openStable(s.opts.FS, s.dir, s.opts.MaxStableValueSize, s.opts.MaxStableSize)
	if err != nil {
		return err
	}
	sf.onCreate = s.recordStableFile
	for _, k := range [...]string{"CurrentTerm", "LastVoteTerm", "LastVoteCand"} {
		if _, ok := s.j.Meta(keyStablePrefix + k); ok {
			sf.dropLocked([]byte(k))
		}
	}
	s.stable = sf
	return nil
}

// recordStableFile moves the store to format 2 before the stable file is
// first created, so that no older build opens a store whose keys it
// cannot see.
func (s *Store) recordStableFile() error {
	if s.format >= storeVersion {
		return nil
	}
	if err := s.j.SetMeta(keyFormat, binary.AppendUvarint(nil, storeVersion)); err != nil {
		return err
	}
	s.format = storeVersion
	return nil
}

// setRaftKey stores one of raft's keys. A value of up to maxMetaValue
// bytes goes to the meta store (a single meta write, as raft's hot path
// always cost), and its copy there wins over any record in the stable
// file. A longer one is written to the stable file first and then removed
// from the meta store: a crash between the two leaves the old value.
func (s *Store) setRaftKey(k string, key, val []byte) error {
	sf := s.stable
	sf.wmu.Lock()
	defer sf.wmu.Unlock()
	if len(val) <= maxMetaValue {
		err := s.j.SetMeta(k, val)
		if err == nil {
			sf.dropLocked(key)
			return nil
		}
		if !errors.Is(err, journal.ErrMetaFull) {
			return err
		}
	}
	if err := sf.setLocked(key, val); err != nil {
		return err
	}
	if _, ok := s.j.Meta(k); ok {
		return s.j.SetMeta(k, nil)
	}
	return nil
}

// setFileKey stores a key other than raft's in the stable file. A copy an
// older version kept in the meta store is shadowed by the file's from the
// moment the record is durable (Get reads the file first), and is then
// deleted to return its room.
func (s *Store) setFileKey(k string, key, val []byte) error {
	sf := s.stable
	sf.wmu.Lock()
	err := sf.setLocked(key, val)
	sf.wmu.Unlock()
	if err != nil {
		return err
	}
	if _, ok := s.j.Meta(k); ok {
		return s.j.SetMeta(k, nil)
	}
	return nil
}
