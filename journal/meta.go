package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/spoolhq/spool/mmapio"
	"github.com/zeebo/xxh3"
)

// The meta file holds two slots; a write goes to the slot not holding the
// newest state, then the file is synced, so a torn write leaves the other
// slot intact. Open takes the valid slot with the higher generation.
//
// Slot layout (metaSlotSize bytes, little endian):
//
//	  0  magic "SPOOLMTA"
//	  8  u16 version, u16 flags, u32 reserved
//	 16  u64 generation
//	 24  u64 journal ID
//	 32  u64 first index (logical; entries below it are compacted)
//	 40  u64 min segment ID (segments with lower IDs are garbage)
//	 48  u64 cut bound (every segment that existed at the last cut or reset
//	         has a lower ID: with a cut, IDs between the cut segment and
//	         this bound are stale)
//	 56  cut:   u64 segment ID (0 = none), u64 data end, u32 count,
//	            u32 flags, u64 last index
//	 88  clean: u64 segment ID (0 = none), u64 data end, u32 count,
//	            u32 reserved, u64 last index
//	120  u64 ID bound: no segment ID at or above it was ever used (IDs are
//	         never reused, so no record can ever name a later segment)
//	128  u16 key count, then per key: u8 key length, u16 value length,
//	         key, value
//	  …  zero padding
//	4088 u64 xxh3 of bytes [0, 4088)
const (
	metaName      = "META"
	metaSlotSize  = 4096
	metaFixedSize = 128
	metaSumOff    = metaSlotSize - 8
	// MaxMetaSize is the room for caller keys and values in the meta
	// store, counting 3 bytes of overhead per key.
	MaxMetaSize = metaSumOff - metaFixedSize - 2
)

// segRecord locates the end of a segment's data; used for cut and clean
// records.
type segRecord struct {
	segID   uint64 // 0: no record
	dataEnd int64
	count   uint32
	flags   uint32
	last    uint64
}

// metaState is the content of one meta slot.
type metaState struct {
	generation uint64
	journalID  uint64
	first      uint64
	minSegID   uint64
	nextSegID  uint64
	cut        segRecord
	clean      segRecord
	idHigh     uint64
	kv         []metaKV // sorted by key
}

type metaKV struct {
	key   string
	value []byte
}

func (m *metaState) kvSize() int {
	n := 0
	for _, kv := range m.kv {
		n += 3 + len(kv.key) + len(kv.value)
	}
	return n
}

func (m *metaState) encode(b *[metaSlotSize]byte) {
	clear(b[:])
	copy(b[0:8], metaMagic)
	binary.LittleEndian.PutUint16(b[8:], FormatVersion)
	binary.LittleEndian.PutUint64(b[16:], m.generation)
	binary.LittleEndian.PutUint64(b[24:], m.journalID)
	binary.LittleEndian.PutUint64(b[32:], m.first)
	binary.LittleEndian.PutUint64(b[40:], m.minSegID)
	binary.LittleEndian.PutUint64(b[48:], m.nextSegID)
	putSegRecord(b[56:88], m.cut)
	putSegRecord(b[88:120], m.clean)
	binary.LittleEndian.PutUint64(b[120:], m.idHigh)
	binary.LittleEndian.PutUint16(b[128:], uint16(len(m.kv)))
	p := 130
	for _, kv := range m.kv {
		b[p] = byte(len(kv.key))
		binary.LittleEndian.PutUint16(b[p+1:], uint16(len(kv.value)))
		p += 3
		p += copy(b[p:], kv.key)
		p += copy(b[p:], kv.value)
	}
	binary.LittleEndian.PutUint64(b[metaSumOff:], xxh3.Hash(b[:metaSumOff]))
}

func putSegRecord(b []byte, r segRecord) {
	binary.LittleEndian.PutUint64(b[0:], r.segID)
	binary.LittleEndian.PutUint64(b[8:], uint64(r.dataEnd))
	binary.LittleEndian.PutUint32(b[16:], r.count)
	binary.LittleEndian.PutUint32(b[20:], r.flags)
	binary.LittleEndian.PutUint64(b[24:], r.last)
}

func getSegRecord(b []byte) segRecord {
	return segRecord{
		segID:   binary.LittleEndian.Uint64(b[0:]),
		dataEnd: int64(binary.LittleEndian.Uint64(b[8:])),
		count:   binary.LittleEndian.Uint32(b[16:]),
		flags:   binary.LittleEndian.Uint32(b[20:]),
		last:    binary.LittleEndian.Uint64(b[24:]),
	}
}

// decodeMetaSlot decodes one slot. It returns an error wrapping ErrForeign
// when the slot is not a meta slot at all, ErrVersion when it is newer, and
// ErrCorrupt when its checksum or contents are bad.
func decodeMetaSlot(b []byte) (metaState, error) {
	var m metaState
	if len(b) < metaSlotSize {
		return m, fmt.Errorf("%w: meta slot of %d bytes", ErrCorrupt, len(b))
	}
	if string(b[0:8]) != metaMagic {
		if allZero(b[:metaSlotSize]) {
			return m, fmt.Errorf("%w: empty meta slot", ErrCorrupt)
		}
		return m, fmt.Errorf("%w: meta slot: bad magic", ErrForeign)
	}
	if binary.LittleEndian.Uint64(b[metaSumOff:]) != xxh3.Hash(b[:metaSumOff]) {
		return m, fmt.Errorf("%w: meta slot: checksum mismatch", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v > FormatVersion || v == 0 {
		if v == 0 {
			return m, fmt.Errorf("%w: meta slot: version 0", ErrCorrupt)
		}
		return m, fmt.Errorf("%w: meta format %d, this build reads up to %d", ErrVersion, v, FormatVersion)
	}
	m.generation = binary.LittleEndian.Uint64(b[16:])
	m.journalID = binary.LittleEndian.Uint64(b[24:])
	m.first = binary.LittleEndian.Uint64(b[32:])
	m.minSegID = binary.LittleEndian.Uint64(b[40:])
	m.nextSegID = binary.LittleEndian.Uint64(b[48:])
	m.cut = getSegRecord(b[56:88])
	m.clean = getSegRecord(b[88:120])
	m.idHigh = binary.LittleEndian.Uint64(b[120:])
	n := int(binary.LittleEndian.Uint16(b[128:]))
	p := 130
	for i := 0; i < n; i++ {
		if p+3 > metaSumOff {
			return m, fmt.Errorf("%w: meta slot: key %d header past end", ErrCorrupt, i)
		}
		kl, vl := int(b[p]), int(binary.LittleEndian.Uint16(b[p+1:]))
		p += 3
		if p+kl+vl > metaSumOff {
			return m, fmt.Errorf("%w: meta slot: key %d of %d+%d bytes past end", ErrCorrupt, i, kl, vl)
		}
		key := string(b[p : p+kl])
		if i > 0 && key <= m.kv[i-1].key {
			return m, fmt.Errorf("%w: meta slot: keys out of order", ErrCorrupt)
		}
		m.kv = append(m.kv, metaKV{key: key, value: bytes.Clone(b[p+kl : p+kl+vl])})
		p += kl + vl
	}
	return m, nil
}

// metaStore is the open meta file.
type metaStore struct {
	fs   mmapio.FS
	path string
	dir  string

	mu    orderedMutex // guards everything below and serialises writes
	file  mmapio.File
	state metaState
	buf   [metaSlotSize]byte
	err   error // sticky write/sync failure
	// lazy: the last write was not synced, so the slot the next write
	// overwrites holds the only durable state.
	lazy bool
}

// loadMeta reads the meta file at path. It returns the newer valid slot.
func loadMeta(fs mmapio.FS, path string) (metaState, error) {
	f, err := fs.Open(path, false)
	if err != nil {
		return metaState{}, err
	}
	defer f.Close()
	var buf [2 * metaSlotSize]byte
	n, rerr := f.ReadAt(buf[:], 0)
	if n < len(buf) && isIOError(rerr) {
		return metaState{}, fmt.Errorf("journal: read %s: %w", path, rerr)
	}
	if n < len(buf) && rerr != nil {
		// A short meta file: decode what is there; a missing slot is
		// simply invalid.
		clear(buf[n:])
	}
	a, errA := decodeMetaSlot(buf[:metaSlotSize])
	b, errB := decodeMetaSlot(buf[metaSlotSize:])
	switch {
	case errA == nil && errB == nil:
		if a.journalID != b.journalID {
			return metaState{}, &CorruptError{Path: path, Offset: metaSlotSize, Reason: "meta slots name different journals", Err: ErrCorrupt}
		}
		if b.generation > a.generation {
			return b, nil
		}
		return a, nil
	case errA == nil:
		return a, nil
	case errB == nil:
		return b, nil
	}
	// Neither slot is valid. Prefer the most telling reason: a version or
	// foreign error beats a checksum error.
	for _, e := range []error{errA, errB} {
		if isVersionOrForeign(e) {
			return metaState{}, &CorruptError{Path: path, Offset: 0, Reason: e.Error(), Err: sentinelOf(e)}
		}
	}
	return metaState{}, &CorruptError{Path: path, Offset: 0, Reason: "no valid meta slot: " + errA.Error() + "; " + errB.Error(), Err: ErrCorrupt}
}

// write persists st as the new state (generation bumped) and syncs when
// durable is set. The caller holds m.mu.
func (m *metaStore) writeLocked(st metaState, durable bool) error {
	if m.err != nil {
		return m.err
	}
	if m.lazy {
		// The target slot holds the newest durable state and the other
		// an unsynced one: overwriting it before the other is durable
		// could leave no valid slot after a crash tears both.
		if err := m.syncLocked(); err != nil {
			return err
		}
	}
	st.generation = m.state.generation + 1
	st.encode(&m.buf)
	off := int64(st.generation%2) * metaSlotSize
	if _, err := m.file.WriteAt(m.buf[:], off); err != nil {
		m.err = fmt.Errorf("%w: meta write %s: %w", ErrFailed, m.path, err)
		return m.err
	}
	if durable {
		if err := m.syncLocked(); err != nil {
			return err
		}
	}
	m.state = st
	m.lazy = !durable
	return nil
}

// syncLocked makes the meta file durable. The caller holds m.mu.
func (m *metaStore) syncLocked() error {
	if err := m.file.Sync(); err != nil {
		m.err = fmt.Errorf("%w: meta sync %s: %w", ErrFailed, m.path, err)
		return m.err
	}
	m.lazy = false
	return nil
}

// get returns a copy of the value of key.
func (m *metaStore) get(key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := slices.BinarySearchFunc(m.state.kv, key, func(kv metaKV, k string) int {
		switch {
		case kv.key < k:
			return -1
		case kv.key > k:
			return 1
		}
		return 0
	})
	if !ok {
		return nil, false
	}
	return bytes.Clone(m.state.kv[i].value), true
}

// withKV returns st's key/values updated by ups (nil value deletes).
func withKV(kvs []metaKV, ups []MetaUpdate) ([]metaKV, error) {
	out := slices.Clone(kvs)
	for _, u := range ups {
		if len(u.Key) == 0 || len(u.Key) > 255 {
			return nil, fmt.Errorf("journal: meta key length %d not in [1,255]", len(u.Key))
		}
		i, found := slices.BinarySearchFunc(out, u.Key, func(kv metaKV, k string) int {
			switch {
			case kv.key < k:
				return -1
			case kv.key > k:
				return 1
			}
			return 0
		})
		switch {
		case u.Value == nil && found:
			out = slices.Delete(out, i, i+1)
		case u.Value == nil:
		case found:
			out[i].value = bytes.Clone(u.Value)
		default:
			out = slices.Insert(out, i, metaKV{key: u.Key, value: bytes.Clone(u.Value)})
		}
	}
	st := metaState{kv: out}
	if st.kvSize() > MaxMetaSize {
		return nil, fmt.Errorf("%w: %d bytes of keys and values, room for %d", ErrMetaFull, st.kvSize(), MaxMetaSize)
	}
	return out, nil
}

// MetaUpdate sets Key to Value in the meta store; a nil Value deletes Key.
type MetaUpdate struct {
	Key   string
	Value []byte
}
