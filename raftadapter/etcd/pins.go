package etcd

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/spoolhq/spool/journal"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Pins keeps the journal pages under zero-copy entries mapped. The Data of
// each entry it covers is valid until Release; after Release it must not be
// read (the pages may be unmapped once the journal has truncated them).
//
// A Pins from EntriesPinned is released by its owner, exactly once. Pins
// taken by Entries in Options.ZeroCopy mode are never seen by the caller:
// they are released entry by entry through Storage.Release (and
// ReleaseMessage, etcdwire.Writer), and as a safety net by the garbage
// collector once every entry of the Entries call is unreachable.
type Pins struct {
	s     *Storage
	views []*journal.View // views[i] pins the entry at position pos[i]
	pos   []int32         // position in the returned slice
	live  int             // views not yet released
	base  uintptr         // address of entry 0 (tracked pins)
}

const entrySize = unsafe.Sizeof(pb.Entry{})

// Len returns the number of entries still pinned.
func (p *Pins) Len() int {
	if p == nil {
		return 0
	}
	p.s.pins.mu.Lock()
	defer p.s.pins.mu.Unlock()
	return p.live
}

// Release unpins every entry p covers. Their Data must not be used
// afterwards. Release on a nil *Pins does nothing; a second Release does
// nothing.
func (p *Pins) Release() {
	if p == nil {
		return
	}
	t := &p.s.pins
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range p.views {
		t.releaseLocked(p, i)
	}
}

// pinTable tracks the pins of zero-copy entries handed to raft, by entry
// address, so that they can be released entry by entry. Keys are
// addresses, not pointers, so the table does not keep entries alive and
// the collector can release what raft dropped (runtime.AddCleanup on the
// call's entry array).
type pinTable struct {
	mu     sync.Mutex
	m      map[uintptr]pinRef
	pinned atomic.Int64 // views held, tracked or not
	byGC   atomic.Int64 // views released by the collector
}

type pinRef struct {
	p *Pins
	i int32
}

func (t *pinTable) init() { t.m = make(map[uintptr]pinRef) }

func entryAddr(e *pb.Entry) uintptr { return uintptr(unsafe.Pointer(e)) }

// track registers p's entries (ents, as returned by entriesPinned: one
// array) for release by entry, and the collector safety net.
func (t *pinTable) track(p *Pins, ents []*pb.Entry) {
	t.mu.Lock()
	p.base = entryAddr(ents[0])
	for i, k := range p.pos {
		t.m[entryAddr(ents[k])] = pinRef{p: p, i: int32(i)}
	}
	t.mu.Unlock()
	runtime.AddCleanup(ents[0], collectPins, p)
}

// collectPins runs once every entry of an Entries call is unreachable.
func collectPins(p *Pins) {
	t := &p.s.pins
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range p.views {
		if p.views[i] == nil {
			continue
		}
		t.byGC.Add(1)
		k := p.base + uintptr(p.pos[i])*entrySize
		if ref, ok := t.m[k]; ok && ref.p == p {
			delete(t.m, k)
		}
		t.releaseLocked(p, i)
	}
}

// releaseLocked releases view i of p, if still held.
func (t *pinTable) releaseLocked(p *Pins, i int) {
	v := p.views[i]
	if v == nil {
		return
	}
	v.Release()
	p.views[i] = nil
	p.live--
	t.pinned.Add(-1)
}

// Release unpins the zero-copy entries among ents (those returned by
// Entries in Options.ZeroCopy mode and not yet released); other entries are
// ignored, so passing a whole Ready's CommittedEntries or a message's
// Entries is always correct. The Data of a released entry must not be used
// afterwards.
func (s *Storage) Release(ents []*pb.Entry) {
	if len(ents) == 0 || s.pins.pinned.Load() == 0 {
		return
	}
	t := &s.pins
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range ents {
		if e == nil {
			continue
		}
		k := entryAddr(e)
		if ref, ok := t.m[k]; ok {
			delete(t.m, k)
			t.releaseLocked(ref.p, int(ref.i))
		}
	}
}

// ReleaseMessage releases the zero-copy entries of m (see Release). Call it
// once m has been written to the network, or dropped. etcdwire.Writer does it
// for the messages it writes.
func (s *Storage) ReleaseMessage(m *pb.Message) {
	if m != nil {
		s.Release(m.Entries)
	}
}

// PinStats reports zero-copy pins: entries pinned now, and pins the garbage
// collector released because the entries became unreachable without being
// released (raft drops the entries of some internal reads; a growing
// number otherwise means the application forgets to release).
func (s *Storage) PinStats() (pinned, collected int64) {
	return s.pins.pinned.Load(), s.pins.byGC.Load()
}

// pinnedRec is an entry read by entriesPinned before the entries are
// allocated.
type pinnedRec struct {
	term  uint64
	flags byte
	data  []byte
	v     *journal.View
}

var recPool = sync.Pool{New: func() any { s := make([]pinnedRec, 0, 64); return &s }}

func getRecs() *[]pinnedRec { return recPool.Get().(*[]pinnedRec) }

func putRecs(r *[]pinnedRec) {
	clear(*r)
	*r = (*r)[:0]
	recPool.Put(r)
}
