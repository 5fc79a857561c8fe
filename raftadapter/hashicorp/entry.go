package hashicorp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/stream"
)

// Entry encoding in the journal (drawn in the package doc). The journal
// index is the raft index, so Index is not stored.
const (
	entryVersion = 1

	flagAppendedAt = 1 << 0 // AppendedAt is not the zero time
	flagExtensions = 1 << 1 // Extensions is not empty
	flagCommit     = 1 << 2 // a commit index is recorded
	flagsKnown     = flagAppendedAt | flagExtensions | flagCommit

	// maxEntryHeader bounds the header without Extensions: version,
	// term, type, flags, seconds, nanoseconds, commit index.
	maxEntryHeader = 1 + binary.MaxVarintLen64 + 2 + binary.MaxVarintLen64 + 5 + binary.MaxVarintLen64
)

// ErrEntryFormat reports a journal entry that is not a raft log entry of a
// format version this build reads.
var ErrEntryFormat = errors.New("hashicorp: bad log entry encoding")

// entryEncoder streams one raft.Log into a journal entry. fn is its write
// method bound once, so that StoreLogs passes the same func value for
// every entry and allocates nothing per entry. It is used under the
// Store's write lock.
type entryEncoder struct {
	log    *raft.Log
	commit uint64 // 0: none
	fn     func(w *stream.Writer) error
}

func (e *entryEncoder) write(w *stream.Writer) error {
	l := e.log
	var flags byte
	var sec int64
	var nsec uint64
	if !l.AppendedAt.IsZero() {
		flags |= flagAppendedAt
		sec, nsec = l.AppendedAt.Unix(), uint64(l.AppendedAt.Nanosecond())
	}
	if len(l.Extensions) > 0 {
		flags |= flagExtensions
	}
	if e.commit != 0 {
		flags |= flagCommit
	}
	var hdr [maxEntryHeader]byte
	n := putHeader(hdr[:], l.Term, byte(l.Type), flags, sec, nsec, e.commit)
	_, _ = w.Write(hdr[:n])
	if flags&flagExtensions != 0 {
		w.PutBytes(l.Extensions)
	}
	_, _ = w.Write(l.Data)
	return w.Err()
}

// putHeader writes the fixed part of the header into b and returns its
// length.
func putHeader(b []byte, term uint64, typ, flags byte, sec int64, nsec, commit uint64) int {
	n := binary.PutUvarint(b, entryVersion)
	n += binary.PutUvarint(b[n:], term)
	b[n] = typ
	b[n+1] = flags
	n += 2
	if flags&flagAppendedAt != 0 {
		n += binary.PutVarint(b[n:], sec)
		n += binary.PutUvarint(b[n:], nsec)
	}
	if flags&flagCommit != 0 {
		n += binary.PutUvarint(b[n:], commit)
	}
	return n
}

// decodeEntry reads the entry at idx from r into l. Data and Extensions
// share one new allocation that the caller owns; empty ones come back nil.
func decodeEntry(idx uint64, r *stream.Reader, l *raft.Log) error {
	if _, err := decodeInto(r, l); err != nil {
		return fmt.Errorf("%w: entry %d: %w", ErrEntryFormat, idx, err)
	}
	l.Index = idx
	return nil
}

// decodeHeader reads the header (everything before Extensions) and
// returns term, type, flags, AppendedAt and the commit index.
func decodeHeader(r *stream.Reader) (term uint64, typ raft.LogType, flags byte, at time.Time, commit uint64, err error) {
	if v := r.Uvarint(); v != entryVersion {
		if r.Err() != nil {
			return 0, 0, 0, time.Time{}, 0, r.Err()
		}
		return 0, 0, 0, time.Time{}, 0, fmt.Errorf("format version %d, this build reads %d", v, entryVersion)
	}
	term = r.Uvarint()
	typ = raft.LogType(r.Uint8())
	flags = r.Uint8()
	if err := r.Err(); err != nil {
		return 0, 0, 0, time.Time{}, 0, err
	}
	if flags&^flagsKnown != 0 {
		return 0, 0, 0, time.Time{}, 0, fmt.Errorf("unknown flags %#x", flags)
	}
	if flags&flagAppendedAt != 0 {
		sec := r.Varint()
		nsec := r.Uvarint()
		if nsec >= 1e9 {
			return 0, 0, 0, time.Time{}, 0, fmt.Errorf("nanoseconds %d out of range", nsec)
		}
		at = time.Unix(sec, int64(nsec))
	}
	if flags&flagCommit != 0 {
		commit = r.Uvarint()
	}
	return term, typ, flags, at, commit, r.Err()
}

func decodeInto(r *stream.Reader, l *raft.Log) (uint64, error) {
	term, typ, flags, at, commit, err := decodeHeader(r)
	if err != nil {
		return 0, err
	}
	var extLen uint64
	if flags&flagExtensions != 0 {
		extLen = r.Uvarint()
		if err := r.Err(); err != nil {
			return 0, err
		}
		if extLen == 0 || int64(extLen) < 0 || int64(extLen) > r.Remaining() {
			return 0, fmt.Errorf("extensions length %d with %d bytes left", extLen, r.Remaining())
		}
	}
	dataLen := r.Remaining() - int64(extLen)
	if dataLen < 0 {
		return 0, fmt.Errorf("entry size unknown")
	}
	l.Term, l.Type, l.AppendedAt = term, typ, at
	l.Data, l.Extensions = nil, nil
	if n := int64(extLen) + dataLen; n > 0 {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return 0, err
		}
		if extLen > 0 {
			l.Extensions = buf[:extLen:extLen]
		}
		if dataLen > 0 {
			l.Data = buf[extLen:]
		}
	}
	return commit, nil
}
