package etcd

import (
	"encoding/binary"
	"fmt"

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
const (
	keyHardState = "etcd/hs"
	keyBase      = "etcd/base"
	keySnap      = "etcd/snap"

	recordVersion = 1
)

// snapRecord is the metadata of the latest snapshot.
type snapRecord struct {
	index, term uint64
	dataLen     uint64
	dataSum     uint64
	cs          *pb.ConfState // nil: none recorded
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

func newRecordReader(j *journal.Journal, key string) (*recordReader, bool, error) {
	b, ok := j.Meta(key)
	if !ok {
		return nil, false, nil
	}
	r := &recordReader{b: b, key: key}
	if v := r.uvarint(); r.err == nil && v != recordVersion {
		return nil, false, fmt.Errorf("%w: meta record %s version %d", journal.ErrVersion, key, v)
	}
	return r, true, r.err
}

func (h hardState) encode() []byte {
	return appendUvarints(make([]byte, 0, 32), recordVersion, h.term, h.vote, h.commit)
}

func loadHardState(j *journal.Journal) (hardState, error) {
	r, ok, err := newRecordReader(j, keyHardState)
	if !ok || err != nil {
		return hardState{}, err
	}
	h := hardState{term: r.uvarint(), vote: r.uvarint(), commit: r.uvarint(), set: true}
	return h, r.err
}

func (p logPoint) encode() []byte {
	return append(appendUvarints(make([]byte, 0, 24), recordVersion, p.index, p.term), p.kind)
}

func loadLogPoint(j *journal.Journal) (logPoint, bool, error) {
	r, ok, err := newRecordReader(j, keyBase)
	if !ok || err != nil {
		return logPoint{}, false, err
	}
	p := logPoint{index: r.uvarint(), term: r.uvarint()}
	if r.err == nil {
		if len(r.b) != 1 || (r.b[0] != pointCompact && r.b[0] != pointReset) {
			return p, false, fmt.Errorf("%w: meta record %s: bad kind", journal.ErrCorrupt, keyBase)
		}
		p.kind = r.b[0]
	}
	return p, true, r.err
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

func loadSnapRecord(j *journal.Journal) (snapRecord, error) {
	r, ok, err := newRecordReader(j, keySnap)
	if !ok || err != nil {
		return snapRecord{}, err
	}
	s := snapRecord{index: r.uvarint(), term: r.uvarint(), dataLen: r.uvarint()}
	if r.err != nil {
		return s, r.err
	}
	if len(r.b) < 8 {
		return s, fmt.Errorf("%w: meta record %s truncated", journal.ErrCorrupt, keySnap)
	}
	s.dataSum = binary.LittleEndian.Uint64(r.b)
	s.cs = new(pb.ConfState)
	if err := proto.Unmarshal(r.b[8:], s.cs); err != nil {
		return s, fmt.Errorf("%w: meta record %s: conf state: %w", journal.ErrCorrupt, keySnap, err)
	}
	return s, nil
}
