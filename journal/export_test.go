package journal

import (
	"encoding/binary"

	"github.com/zeebo/xxh3"
)

// crashClose abandons the journal as a crash would: no sync, no clean
// record; the mappings and the lock are released so the test can reopen.
func (j *Journal) crashClose() {
	if !j.closed.CompareAndSwap(false, true) {
		return
	}
	j.stopBackground()
	j.closeSpare(true)
	j.wakeWaiters()
	j.mu.Lock()
	j.releaseAll()
	j.mu.Unlock()
	_ = j.meta.close()
	_ = j.lock.Close()
}

// sumSlot recomputes a meta slot's checksum after a test edits it.
func sumSlot(s []byte) {
	binary.LittleEndian.PutUint64(s[metaSumOff:], xxh3.Hash(s[:metaSumOff]))
}
