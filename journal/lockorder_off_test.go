//go:build !spooldebug

package journal

import (
	"sync"
	"testing"
	"unsafe"
)

// Normal builds pay nothing for the spooldebug lock checks: an
// orderedMutex is a bare sync.Mutex.
func TestOrderedMutexIsAMutex(t *testing.T) {
	if got, want := unsafe.Sizeof(orderedMutex{}), unsafe.Sizeof(sync.Mutex{}); got != want {
		t.Fatalf("orderedMutex is %d bytes, sync.Mutex %d", got, want)
	}
}
