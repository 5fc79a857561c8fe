package spoolstore

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
)

// NativeName is the column name of spool's native journal API.
const NativeName = "spool-native"

// NativeSpec returns the column for spool's native journal API: appends
// from concurrent producers that share syncs (journal.SyncEach group
// commit, store.ConcurrentAppender) and zero-copy pinned reads
// (store.ViewReader). It also serves raft.LogStore so that the harness can
// build its logs, with a minimal entry encoding of its own (uvarint term,
// type byte, data): it is not the hashicorp adapter's format.
func NativeSpec() store.Spec {
	return store.Spec{
		Name:   NativeName,
		Kind:   store.Subject,
		Module: "github.com/spoolhq/spool/journal",
		Caps:   store.CapLogStore | store.CapConcurrentAppend | store.CapViewRead,
		Notes: []string{
			"spool-native: the journal API itself; AppendDurable is journal.Append under SyncEach (concurrent appenders share one msync); View pins the mapped bytes, verifies the checksum and passes them without a copy.",
		},
		Open: OpenNative,
	}
}

// Native is a store.Store over a bare journal.
type Native struct {
	j       *journal.Journal
	viewers sync.Pool // *viewer
}

// OpenNative opens (or creates) a native journal store in dir.
func OpenNative(dir string) (store.Store, error) {
	j, err := journal.Open(dir, &journal.Options{Sync: journal.SyncEach})
	if err != nil {
		return nil, err
	}
	return &Native{j: j}, nil
}

// Close closes the journal.
func (n *Native) Close() error { return n.j.Close() }

// FirstIndex implements raft.LogStore.
func (n *Native) FirstIndex() (uint64, error) {
	if n.j.LastIndex() < n.j.FirstIndex() {
		return 0, nil
	}
	return n.j.FirstIndex(), nil
}

// LastIndex implements raft.LogStore.
func (n *Native) LastIndex() (uint64, error) {
	if n.j.LastIndex() < n.j.FirstIndex() {
		return 0, nil
	}
	return n.j.LastIndex(), nil
}

// GetLog implements raft.LogStore, copying Data out of the mapping.
func (n *Native) GetLog(index uint64, log *raft.Log) error {
	err := n.j.Read(index, func(r *stream.Reader) error {
		log.Index = index
		log.Term = r.Uvarint()
		log.Type = raft.LogType(r.Uint8())
		if err := r.Err(); err != nil {
			return err
		}
		log.Data = make([]byte, r.Remaining())
		_, err := io.ReadFull(r, log.Data)
		return err
	})
	if errors.Is(err, journal.ErrOutOfRange) {
		return raft.ErrLogNotFound
	}
	return err
}

// StoreLog implements raft.LogStore.
func (n *Native) StoreLog(log *raft.Log) error { return n.StoreLogs([]*raft.Log{log}) }

// StoreLogs implements raft.LogStore: one atomic, durable batch.
func (n *Native) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	if n.j.LastIndex() < n.j.FirstIndex() && logs[0].Index != n.j.FirstIndex() {
		if err := n.j.Reset(logs[0].Index); err != nil {
			return err
		}
	}
	_, _, err := n.j.AppendBatch(func(b *journal.Batch) error {
		for _, l := range logs {
			if l.Index != b.Next() {
				return fmt.Errorf("spool-native: index %d, want %d", l.Index, b.Next())
			}
			if _, err := b.AppendSized(int64(len(l.Data)+11), func(w *stream.Writer) error {
				putEntry(w, l.Term, l.Type, l.Data)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

func putEntry(w *stream.Writer, term uint64, typ raft.LogType, data []byte) {
	w.PutUvarint(term)
	w.PutUint8(uint8(typ))
	_, _ = w.Write(data)
}

// DeleteRange implements raft.LogStore for a prefix or a suffix.
func (n *Native) DeleteRange(lo, hi uint64) error {
	first, last := n.j.FirstIndex(), n.j.LastIndex()
	switch {
	case lo <= first && hi >= last:
		return n.j.TruncateFront(last + 1)
	case lo <= first:
		return n.j.TruncateFront(hi + 1)
	case hi >= last:
		return n.j.TruncateBack(lo - 1)
	}
	return fmt.Errorf("spool-native: DeleteRange(%d, %d) inside [%d, %d]", lo, hi, first, last)
}

// AppendDurable implements store.ConcurrentAppender: concurrent callers
// share syncs (journal.SyncEach).
func (n *Native) AppendDurable(data []byte) (uint64, error) {
	return n.j.AppendSized(int64(len(data)+2), func(w *stream.Writer) error {
		putEntry(w, 1, raft.LogCommand, data)
		return nil
	})
}

// View implements store.ViewReader: fn sees the entry's Data where it lies
// in the mapped segment, checksum-verified, under a pin released on return.
// It does not allocate: the callback state comes from a pool.
func (n *Native) View(index uint64, fn func(p []byte) error) error {
	v, _ := n.viewers.Get().(*viewer)
	if v == nil {
		v = &viewer{}
		v.read = v.readEntry
	}
	v.fn = fn
	err := n.j.Read(index, v.read)
	v.fn = nil
	n.viewers.Put(v)
	return err
}

// viewer adapts a View callback to journal.Read without a closure per call.
type viewer struct {
	fn   func(p []byte) error
	read func(r *stream.Reader) error // v.readEntry, bound once
}

func (v *viewer) readEntry(r *stream.Reader) error {
	_ = r.Uvarint()
	_ = r.Uint8()
	p, err := r.Next(int(r.Remaining()))
	if errors.Is(err, stream.ErrSplit) {
		// An entry over one verified block (16 KiB in journal format 3)
		// or spanning segments comes in several windows: copy it.
		p = make([]byte, r.Remaining())
		_, err = io.ReadFull(r, p)
	}
	if err != nil {
		return err
	}
	return v.fn(p)
}
