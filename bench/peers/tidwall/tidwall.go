package tidwall

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/tidwall/wal"

	"github.com/spoolhq/spool/bench/store"
)

// Name is the column name of tidwall/wal.
const Name = "tidwall/wal"

// Spec returns the benchmark column for tidwall/wal.
func Spec() store.Spec {
	return store.Spec{
		Name:   Name,
		Kind:   store.Peer,
		Module: "github.com/tidwall/wal",
		Caps:   store.CapLogStore,
		Notes: []string{
			"tidwall/wal: thin adapter (varint codec for the raft.Log fields); one StoreLogs is one wal.Batch and one fsync (os.File.Sync, not fdatasync). Default options: 20 MB segments, one cached segment, copying reads.",
			"tidwall/wal: keeps the tail segment's bytes in memory and loads a whole segment to read any entry of it; DeleteRange of a prefix rewrites the segment holding the new first index.",
		},
		Open: Open,
	}
}

// Log adapts a tidwall/wal log to raft.LogStore.
type Log struct {
	mu    sync.Mutex // guards batch and buf; serializes writes and deletes
	log   *wal.Log
	batch wal.Batch
	buf   []byte
}

// Open opens (or creates) a tidwall/wal log in dir.
func Open(dir string) (store.Store, error) {
	l, err := wal.Open(dir, &wal.Options{AllowEmpty: true})
	if err != nil {
		return nil, err
	}
	return &Log{log: l}, nil
}

// FirstIndex returns the first index in the log, 0 when it is empty.
func (l *Log) FirstIndex() (uint64, error) {
	first, last, err := l.bounds()
	if err != nil || last < first {
		return 0, err
	}
	return first, nil
}

// LastIndex returns the last index in the log, 0 when it is empty.
func (l *Log) LastIndex() (uint64, error) {
	first, last, err := l.bounds()
	if err != nil || last < first {
		return 0, err
	}
	return last, nil
}

func (l *Log) bounds() (first, last uint64, err error) {
	if first, err = l.log.FirstIndex(); err != nil {
		return 0, 0, err
	}
	last, err = l.log.LastIndex()
	return first, last, err
}

// GetLog reads the entry at index into log. log's byte slices are a fresh
// copy owned by the caller.
func (l *Log) GetLog(index uint64, log *raft.Log) error {
	rec, err := l.log.Read(index)
	if errors.Is(err, wal.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	return decodeLog(rec, index, log)
}

// StoreLog stores one entry.
func (l *Log) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries as one batch and one sync.
func (l *Log) StoreLogs(logs []*raft.Log) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range logs {
		l.buf = appendLog(l.buf[:0], e)
		l.batch.Write(e.Index, l.buf) // Batch.Write copies
	}
	err := l.log.WriteBatch(&l.batch)
	l.batch.Clear()
	return err
}

// DeleteRange deletes [lo, hi], which must be a prefix or a suffix of the
// log (raft deletes nothing else).
func (l *Log) DeleteRange(lo, hi uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	first, last, err := l.bounds()
	if err != nil {
		return err
	}
	switch {
	case lo > hi || last < first || hi < first || lo > last:
		return nil
	case lo <= first:
		return l.log.TruncateFront(min(hi, last) + 1)
	case hi >= last:
		return l.log.TruncateBack(lo - 1)
	default:
		return fmt.Errorf("tidwall adapter: DeleteRange(%d, %d) is neither a prefix nor a suffix of [%d, %d]", lo, hi, first, last)
	}
}

// Close closes the log.
func (l *Log) Close() error { return l.log.Close() }
