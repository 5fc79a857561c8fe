package journal

// The lock order is written down at the Journal's declaration
// (journal.go). Builds with the spooldebug tag check it for the locks the
// Journal and its spare maker own (lockorder_on.go): taking one while the
// same goroutine holds one of the same journal ranked at or after it
// panics, naming both, and so does taking the writer lock again. In normal
// builds orderedMutex is a sync.Mutex and the checks compile to nothing.

// lockRank is a lock's place in the order: a goroutine holding a lock of
// rank r may take, of the same journal, only locks of rank above r.
type lockRank uint8

const (
	rankWriter    lockRank = iota + 1 // Journal.mu
	rankSealOrder                     // Journal.sealOrder
	rankSeal                          // segment.sealMu
	rankMeta                          // metaStore.mu
	rankSpare                         // spareMaker.mu
	rankLoad                          // segment.loadMu
	rankSync                          // Journal.syncMu
	rankPrefill                       // prefill.mu
)

func (r lockRank) String() string {
	switch r {
	case rankWriter:
		return "the writer lock (Journal.mu)"
	case rankSealOrder:
		return "Journal.sealOrder"
	case rankSeal:
		return "segment.sealMu"
	case rankMeta:
		return "metaStore.mu"
	case rankSpare:
		return "spareMaker.mu"
	case rankLoad:
		return "segment.loadMu"
	case rankSync:
		return "Journal.syncMu"
	case rankPrefill:
		return "prefill.mu"
	}
	return "an unranked lock"
}

// initLocks gives the journal's ordered locks their ranks; the spooldebug
// checks skip a lock without one. Called by Open before recovery.
func (j *Journal) initLocks() {
	j.mu.init(rankWriter, j)
	j.sealOrder.init(rankSealOrder, j)
	j.spareMaker.mu.init(rankSpare, j)
	j.syncMu.init(rankSync, j)
}

// initLocks gives a segment's ordered locks their ranks, in the order of
// its journal; called where segments are made.
func (s *segment) initLocks(j *Journal) {
	s.sealMu.init(rankSeal, j)
	s.loadMu.init(rankLoad, j)
	s.fill.mu.init(rankPrefill, j)
}

// notFromCallback panics, in spooldebug builds, when method is called by a
// goroutine that holds the writer lock: that is an Append, AppendSized or
// AppendBatch callback calling back into the journal, which the API
// forbids (append.go). Most such calls deadlock in normal builds (the
// writer lock is not reentrant); this one would not, and must still not
// be made. Methods that take the writer lock need no call: the lock check
// itself panics on the re-entrant Lock.
func (j *Journal) notFromCallback(method string) {
	j.mu.assertNotHeld(method)
}
