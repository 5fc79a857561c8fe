//go:build spooldebug

package journal

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// orderedMutex, in spooldebug builds, checks the lock order written at the
// Journal type (journal.go): it records which goroutine holds it, and Lock
// panics when the calling goroutine already holds this lock (a re-entrant
// call, which would deadlock) or a lock of the same journal ranked at or
// after it (an order that can deadlock against a goroutine taking them the
// other way).
// A lock without a rank (init not called) is a plain Mutex.
type orderedMutex struct {
	mu     sync.Mutex
	rank   lockRank
	group  *Journal // locks of different journals are not ordered
	holder int64    // goroutine holding it; guarded by lockTable.mu
}

// lockTable lists, per goroutine, the ranked locks it holds. Goroutines
// are told apart by their ID, which only a debug build may afford to read.
var lockTable struct {
	mu   sync.Mutex
	held map[int64][]*orderedMutex
}

func (m *orderedMutex) init(r lockRank, group *Journal) {
	m.rank, m.group = r, group
}

// Lock checks the order, then locks.
func (m *orderedMutex) Lock() {
	if m.rank == 0 {
		m.mu.Lock()
		return
	}
	g := goroutineID()
	lockTable.mu.Lock()
	for _, h := range lockTable.held[g] {
		if h.group != m.group {
			continue
		}
		if h == m {
			lockTable.mu.Unlock()
			if m.rank == rankWriter {
				panic("journal: re-entrant call: this goroutine already holds the writer lock; an Append, AppendSized or AppendBatch callback must not call back into the journal")
			}
			panic(fmt.Sprintf("journal: %v locked twice by one goroutine", m.rank))
		}
		if h.rank >= m.rank {
			lockTable.mu.Unlock()
			panic(fmt.Sprintf("journal: lock order violated: %v taken while holding %v (the order is written at the Journal type, journal.go)", m.rank, h.rank))
		}
	}
	lockTable.mu.Unlock()
	m.mu.Lock()
	m.record(g)
}

// record notes that goroutine g holds m.
func (m *orderedMutex) record(g int64) {
	lockTable.mu.Lock()
	if lockTable.held == nil {
		lockTable.held = make(map[int64][]*orderedMutex)
	}
	lockTable.held[g] = append(lockTable.held[g], m)
	m.holder = g
	lockTable.mu.Unlock()
}

// TryLock locks if it can without waiting; a lock it takes is recorded as
// Lock's is. It never waits, so it cannot deadlock and checks no order.
func (m *orderedMutex) TryLock() bool {
	if !m.mu.TryLock() {
		return false
	}
	if m.rank != 0 {
		m.record(goroutineID())
	}
	return true
}

// Unlock forgets the holder, then unlocks. It may run on another goroutine
// than Lock did, as a sync.Mutex allows.
func (m *orderedMutex) Unlock() {
	if m.rank != 0 {
		lockTable.mu.Lock()
		g := m.holder
		hs := lockTable.held[g]
		if i := slices.Index(hs, m); i >= 0 {
			hs = slices.Delete(hs, i, i+1)
		}
		if len(hs) == 0 {
			delete(lockTable.held, g)
		} else {
			lockTable.held[g] = hs
		}
		m.holder = 0
		lockTable.mu.Unlock()
	}
	m.mu.Unlock()
}

// assertNotHeld panics if the calling goroutine holds m, which for the
// writer lock means method was called from an append callback.
func (m *orderedMutex) assertNotHeld(method string) {
	if m.rank == 0 {
		return
	}
	g := goroutineID()
	lockTable.mu.Lock()
	held := slices.Contains(lockTable.held[g], m)
	lockTable.mu.Unlock()
	if held {
		panic(fmt.Sprintf("journal: re-entrant call: %s called while this goroutine holds %v; an Append, AppendSized or AppendBatch callback must not call back into the journal", method, m.rank))
	}
}

// goroutineID parses the calling goroutine's ID from the first line of its
// stack ("goroutine 123 [running]:").
func goroutineID() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		panic("journal: cannot read the goroutine ID")
	}
	var id int64
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + int64(c-'0')
	}
	return id
}
