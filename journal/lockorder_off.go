//go:build !spooldebug

package journal

import "sync"

// orderedMutex is a sync.Mutex in normal builds: Lock and Unlock are the
// embedded Mutex's, and the rank is not stored (lockorder.go).
type orderedMutex struct {
	sync.Mutex
}

func (*orderedMutex) init(lockRank, *Journal) {}

func (*orderedMutex) assertNotHeld(string) {}
