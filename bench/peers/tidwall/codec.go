package tidwall

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

var errShortRecord = errors.New("tidwall adapter: short or corrupt record")

// appendLog appends the encoding of l (without its index, which the wal
// stores) to dst: uvarint term, type byte, varint AppendedAt in Unix
// nanoseconds (0 for the zero time), uvarint-prefixed extensions, then data.
func appendLog(dst []byte, l *raft.Log) []byte {
	dst = binary.AppendUvarint(dst, l.Term)
	dst = append(dst, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	dst = binary.AppendVarint(dst, at)
	dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	return append(dst, l.Data...)
}

// decodeLog fills l from a record produced by appendLog. l's byte slices
// alias rec, which the caller owns.
func decodeLog(rec []byte, index uint64, l *raft.Log) error {
	term, n := binary.Uvarint(rec)
	if n <= 0 || len(rec) == n {
		return errShortRecord
	}
	rec = rec[n:]
	typ := raft.LogType(rec[0])
	rec = rec[1:]
	at, n := binary.Varint(rec)
	if n <= 0 {
		return errShortRecord
	}
	rec = rec[n:]
	extLen, n := binary.Uvarint(rec)
	if n <= 0 || extLen > uint64(len(rec)-n) {
		return errShortRecord
	}
	rec = rec[n:]
	*l = raft.Log{Index: index, Term: term, Type: typ}
	if extLen > 0 {
		l.Extensions = rec[:extLen:extLen]
	}
	if rest := rec[extLen:]; len(rest) > 0 {
		l.Data = rest
	}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	return nil
}
