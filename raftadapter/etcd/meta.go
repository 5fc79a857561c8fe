package etcd

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/spoolhq/spool/journal"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Meta store keys. Every record starts with a uvarint version (1).
//
//	etcd/hs    HardState: uvarint term, vote, commit
//	etcd/base  compaction point: uvarint index, term, byte kind (1 compact, 2 reset)
//	etcd/snap  snapshot: uvarint index, term, data length, u64 xxh3 of the
//	           data (when the Storage keeps it), then the ConfState in
//	           protobuf encoding
//	etcd/first a first Save in progress (no other field): its entries
//	           are discarded at Open unless its HardState was recorded
const (
	keyHardState = "etcd/hs"
	keyBase      = "etcd/base"
	keySnap      = "etcd/snap"
	keyFirstSave = "etcd/first"

	recordVersion = 1
)

// snapRecord is the metadata of the latest snapshot.
type snapRecord struct {
	index, term uint64
	dataLen     uint64
	dataSum     uint64
	cs          *pb.ConfState // nil: no snapshot recorded
}

func (r snapRecord) confState() *pb.ConfState {
	if r.cs == nil {
		return nil
	}
	return proto.CloneOf(r.cs)
}

func (r snapRecord) metadata() *pb.SnapshotMetadata {
	return &pb.SnapshotMetadata{Index: new(r.index), Term: new(r.term), ConfState: r.confState()}
}

func appendUvarints(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

// recordReader decodes the uvarints of one meta record.
type recordReader struct {
	b   []byte
	key string
	err error
}

func (r *recordReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: meta record %s truncated", journal.ErrCorrupt, r.key)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// end reports trailing bytes after a record's last field.
func (r *recordReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: meta record %s: %d trailing bytes", journal.ErrCorrupt, r.key, len(r.b))
	}
	return r.err
}

// newRecordReader starts decoding record b of key: it checks the version.
func newRecordReader(b []byte, key string) (*recordReader, error) {
	r := &recordReader{b: b, key: key}
	if v := r.uvarint(); r.err == nil && v != recordVersion {
		return nil, fmt.Errorf("%w: meta record %s version %d", journal.ErrVersion, key, v)
	}
	if r.err != nil {
		return nil, r.err
	}
	return r, nil
}

func (h hardState) encode() []byte {
	return appendUvarints(make([]byte, 0, 32), recordVersion, h.term, h.vote, h.commit)
}

// decodeHardState decodes an etcd/hs record. Errors wrap journal.ErrCorrupt
// or journal.ErrVersion.
func decodeHardState(b []byte) (hardState, error) {
	r, err := newRecordReader(b, keyHardState)
	if err != nil {
		return hardState{}, err
	}
	h := hardState{term: r.uvarint(), vote: r.uvarint(), commit: r.uvarint(), set: true}
	if err := r.end(); err != nil {
		return hardState{}, err
	}
	return h, nil
}

func loadHardState(j *journal.Journal) (hardState, error) {
	b, ok := j.Meta(keyHardState)
	if !ok {
		return hardState{}, nil
	}
	return decodeHardState(b)
}

func firstSaveRecord() []byte { return appendUvarints(nil, recordVersion) }

// loadFirstSave reports whether an etcd/first record is present. Errors
// wrap journal.ErrCorrupt or journal.ErrVersion.
func loadFirstSave(j *journal.Journal) (bool, error) {
	b, ok := j.Meta(keyFirstSave)
	if !ok {
		return false, nil
	}
	r, err := newRecordReader(b, keyFirstSave)
	if err != nil {
		return false, err
	}
	return true, r.end()
}

func (p logPoint) encode() []byte {
	return append(appendUvarints(make([]byte, 0, 24), recordVersion, p.index, p.term), p.kind)
}

// decodeLogPoint decodes an etcd/base record. Errors wrap
// journal.ErrCorrupt or journal.ErrVersion.
func decodeLogPoint(b []byte) (logPoint, error) {
	r, err := newRecordReader(b, keyBase)
	if err != nil {
		return logPoint{}, err
	}
	p := logPoint{index: r.uvarint(), term: r.uvarint()}
	if r.err != nil {
		return logPoint{}, r.err
	}
	if len(r.b) != 1 || (r.b[0] != pointCompact && r.b[0] != pointReset) {
		return logPoint{}, fmt.Errorf("%w: meta record %s: bad kind", journal.ErrCorrupt, keyBase)
	}
	p.kind = r.b[0]
	return p, nil
}

func loadLogPoint(j *journal.Journal) (logPoint, bool, error) {
	b, ok := j.Meta(keyBase)
	if !ok {
		return logPoint{}, false, nil
	}
	p, err := decodeLogPoint(b)
	return p, err == nil, err
}

func (r snapRecord) encode() ([]byte, error) {
	b := appendUvarints(make([]byte, 0, 64), recordVersion, r.index, r.term, r.dataLen)
	b = binary.LittleEndian.AppendUint64(b, r.dataSum)
	if r.cs != nil {
		var err error
		if b, err = (proto.MarshalOptions{Deterministic: true}).MarshalAppend(b, r.cs); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// maxSnapDataLen bounds the data length a snapshot record may name (the
// data file's size is checked against it before anything is allocated).
const maxSnapDataLen = math.MaxInt64 - snapHeaderSize

// decodeSnapRecord decodes an etcd/snap record. The ConfState of a decoded
// record is never nil: a record exists only for a snapshot. Errors wrap
// journal.ErrCorrupt or journal.ErrVersion.
func decodeSnapRecord(b []byte) (snapRecord, error) {
	r, err := newRecordReader(b, keySnap)
	if err != nil {
		return snapRecord{}, err
	}
	s := snapRecord{index: r.uvarint(), term: r.uvarint(), dataLen: r.uvarint()}
	if r.err != nil {
		return snapRecord{}, r.err
	}
	if s.dataLen > maxSnapDataLen {
		return snapRecord{}, fmt.Errorf("%w: meta record %s: data length %d", journal.ErrCorrupt, keySnap, s.dataLen)
	}
	if len(r.b) < 8 {
		return snapRecord{}, fmt.Errorf("%w: meta record %s truncated", journal.ErrCorrupt, keySnap)
	}
	s.dataSum = binary.LittleEndian.Uint64(r.b)
	s.cs = new(pb.ConfState)
	if err := proto.Unmarshal(r.b[8:], s.cs); err != nil {
		return snapRecord{}, fmt.Errorf("%w: meta record %s: conf state: %w", journal.ErrCorrupt, keySnap, err)
	}
	return s, nil
}

func loadSnapRecord(j *journal.Journal) (snapRecord, error) {
	b, ok := j.Meta(keySnap)
	if !ok {
		return snapRecord{}, nil
	}
	return decodeSnapRecord(b)
}
