package etcd

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// Entry encoding in the journal (see the package doc for the drawing). The
// journal index is the raft index, so Index is not stored.
const (
	entryVersion = 1

	flagTypeMask   = 0x1f // EntryType value
	flagTypeSet    = 1 << 5
	flagDataSet    = 1 << 6 // Data non-nil (an empty but present Data)
	flagTermSet    = 1 << 7
	maxEntryType   = flagTypeMask
	maxEntryHeader = 2*binary.MaxVarintLen64 + 1
)

// errEntryFormat reports a journal payload that is not a raft entry of a
// version this build reads. It wraps journal.ErrCorrupt (a journal entry
// verified by its checksum that does not decode is damage, or another
// program's data); an unknown version wraps journal.ErrVersion as well.
var errEntryFormat = fmt.Errorf("%w: etcd: bad entry encoding", journal.ErrCorrupt)

// entryFlags returns the flags byte of e, or an error for a type that does
// not fit.
func entryFlags(e *pb.Entry) (byte, error) {
	var f byte
	if e.Type != nil {
		t := *e.Type
		if t < 0 || t > maxEntryType {
			return 0, fmt.Errorf("etcd: entry %d: type %d not storable (0..%d)", e.GetIndex(), t, maxEntryType)
		}
		f |= byte(t) | flagTypeSet
	}
	if e.Data != nil {
		f |= flagDataSet
	}
	if e.Term != nil {
		f |= flagTermSet
	}
	return f, nil
}

// putEntryHeader writes the header of e into b (at least maxEntryHeader
// bytes) and returns its length.
func putEntryHeader(b []byte, term uint64, flags byte) int {
	n := binary.PutUvarint(b, entryVersion)
	n += binary.PutUvarint(b[n:], term)
	b[n] = flags
	return n + 1
}

// parseEntryHeader decodes the header at the start of a contiguous payload.
// It returns the term, the flags and the header length.
func parseEntryHeader(p []byte) (term uint64, flags byte, n int, err error) {
	v, k := binary.Uvarint(p)
	if k <= 0 || v != entryVersion {
		if k > 0 {
			return 0, 0, 0, fmt.Errorf("%w: version %d: %w", errEntryFormat, v, journal.ErrVersion)
		}
		return 0, 0, 0, fmt.Errorf("%w: truncated version", errEntryFormat)
	}
	term, m := binary.Uvarint(p[k:])
	if m <= 0 || k+m >= len(p) {
		return 0, 0, 0, fmt.Errorf("%w: truncated header", errEntryFormat)
	}
	n = k + m
	return term, p[n], n + 1, nil
}

// readEntryHeader decodes the header through a reader (entries that span
// segments).
func readEntryHeader(r *stream.Reader) (term uint64, flags byte, err error) {
	if v := r.Uvarint(); r.Err() == nil && v != entryVersion {
		return 0, 0, fmt.Errorf("%w: version %d: %w", errEntryFormat, v, journal.ErrVersion)
	}
	term = r.Uvarint()
	flags = r.Uint8()
	if err := r.Err(); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errEntryFormat, err)
	}
	return term, flags, nil
}

// entryProtoSize returns proto.Size of the entry a stored entry decodes to:
// the size raft's maxSize arguments count.
func entryProtoSize(index, term uint64, flags byte, dataLen int) uint64 {
	n := 1 + protowire.SizeVarint(index)
	if flags&flagTermSet != 0 {
		n += 1 + protowire.SizeVarint(term)
	}
	if flags&flagTypeSet != 0 {
		n += 1 + protowire.SizeVarint(uint64(flags&flagTypeMask))
	}
	if flags&flagDataSet != 0 || dataLen > 0 {
		n += 1 + protowire.SizeBytes(dataLen)
	}
	return uint64(n)
}

// entryChunk holds the storage of a run of decoded entries: one allocation
// for the structs, one for the scalar fields their pointers point at.
type entryChunk struct {
	ents []pb.Entry
	sc   []entryScalars
	used int
}

type entryScalars struct {
	term, index uint64
	typ         pb.EntryType
}

// entryAlloc hands out entries in growing chunks so that decoding n entries
// costs O(log n) allocations and never copies an entry already handed out.
type entryAlloc struct {
	cur       entryChunk
	remaining int // entries still possibly needed (bounds chunk sizes)
	chunks    int
}

func (a *entryAlloc) next() (*pb.Entry, *entryScalars) {
	if a.cur.used == len(a.cur.ents) {
		n := 8 << min(a.chunks, 10)
		n = max(1, min(n, a.remaining))
		a.cur = entryChunk{ents: make([]pb.Entry, n), sc: make([]entryScalars, n)}
		a.chunks++
	}
	i := a.cur.used
	a.cur.used++
	a.remaining--
	return &a.cur.ents[i], &a.cur.sc[i]
}

// fill sets e's fields from a stored entry; data is used as is.
func fill(e *pb.Entry, sc *entryScalars, index, term uint64, flags byte, data []byte) {
	sc.index = index
	e.Index = &sc.index
	if flags&flagTermSet != 0 {
		sc.term = term
		e.Term = &sc.term
	}
	if flags&flagTypeSet != 0 {
		sc.typ = pb.EntryType(flags & flagTypeMask)
		e.Type = &sc.typ
	}
	if flags&flagDataSet != 0 && data == nil {
		data = []byte{}
	}
	e.Data = data
}

// byteArena hands out copies of payloads from shared blocks, so that a
// copying Entries call costs a few allocations rather than one per entry.
type byteArena struct {
	block []byte
}

const arenaBlock = 32 << 10

func (a *byteArena) alloc(n int) []byte {
	if n == 0 {
		return nil
	}
	if n > arenaBlock/4 {
		return make([]byte, n)
	}
	if len(a.block) < n {
		a.block = make([]byte, arenaBlock)
	}
	b := a.block[:n:n]
	a.block = a.block[n:]
	return b
}

// readRest copies the rest of r (an entry spanning segments) into the arena.
func (a *byteArena) readRest(r *stream.Reader) ([]byte, error) {
	n := r.Remaining()
	if n < 0 {
		return nil, fmt.Errorf("%w: unknown entry size", errEntryFormat)
	}
	b := a.alloc(int(n))
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
