package journal

import "github.com/spoolhq/spool/mmapio"

// Read-ahead (docs/decisions.md, "Cold reads and GetLog cost").
//
// A sealed segment's mapping is advised MADV_RANDOM where it is mapped
// (first load, reload after eviction, retirement of a segment this process
// wrote), so that a fault on a page that is not cached reads that page and
// not the kernel's read-around window (read_ahead_kb, 8 MiB on some disks):
// a reader of an entry's first bytes, or of one small entry at random,
// reads what it touches. Readers that will read a range in order ask for
// it instead, with MADV_WILLNEED, which starts the reads of the whole range
// at once in large requests:
//
//   - a whole-entry read (Bytes, AppendTo, ReadBytes) of a chunk of at least
//     adviseWholeMin bytes advises the chunk before verifying it;
//   - a View's reader advises a growing window ahead of the block it hands
//     out, from the second block of a chunk on (a reader that stops in the
//     first block advises nothing);
//   - an Iterator advises a growing window of data, and of the slots, ahead
//     of the entry it is on.
//
// Each advice is one madvise call on a range of at least 64 KiB (slots:
// 16 KiB, 4096 entries), so a warm read pays one system call per window,
// never one per small read. The active segment is advised random by its
// writer (prefault.go: read-around would build the large folios a sync
// writes back whole); its readers mostly read pages the writer just wrote,
// which are cached, and an Iterator advises ahead of itself there too.
const (
	// adviseWholeMin is the smallest chunk range a whole read advises.
	adviseWholeMin = 64 << 10
	// readerFirstWindow and readerMaxWindow bound the window a View's
	// reader advises ahead; it doubles at each advice.
	readerFirstWindow = 64 << 10
	readerMaxWindow   = 1 << 20
	// iterFirstWindow and iterMaxWindow bound the data window an Iterator
	// advises ahead of its entry in a segment; it doubles at each advice.
	iterFirstWindow = 256 << 10
	iterMaxWindow   = 2 << 20
	// iterSlotWindow is the span of slots an Iterator advises at once.
	iterSlotWindow = 16 << 10
	// willNeedPiece is the most one madvise call asks for: the kernel
	// reads max(read_ahead_kb, max_sectors_kb) of a call at most, and
	// max_sectors_kb is at least 1 MiB on common devices (1280 KiB is
	// Linux's default for many).
	willNeedPiece = 1 << 20
)

// adviseRandom turns off the kernel's read-around for a sealed segment's
// mapping, unless an Iterator is replaying it (iterAhead). Best effort: a
// failed hint costs reads, not data.
func adviseRandom(s *segment, mm mmapio.Mapping) {
	s.randomRead.Store(true)
	if s.replaying.Load() == 0 {
		_ = mm.Advise(0, int(s.size), mmapio.AdviseRandom)
	}
}

// willNeed asks the kernel to start reading [from, to) of s's file into the
// page cache, in calls of at most willNeedPiece bytes: Linux reads at most
// max(read_ahead_kb, max_sectors_kb) of one MADV_WILLNEED call and leaves
// the rest to faults, which, under MADV_RANDOM, read a page each. The
// caller holds a pin on s (so the mapping stays). Best effort, like
// adviseRandom.
func (s *segment) willNeed(from, to int64) {
	if s.mm == nil {
		return
	}
	for from < to {
		n := min(to-from, willNeedPiece)
		_ = s.mm.Advise(int(from), int(n), mmapio.AdviseWillNeed)
		from += n
	}
}

// adviseChunk advises the rest of the cursor's chunk, from pos to the end
// of its block sums, when that is at least adviseWholeMin bytes: a whole
// read is about to touch all of it in order.
func (c *blockCursor) adviseChunk() {
	from := c.payOff + int64(c.pos)
	to := c.payOff + int64(len(c.pay))
	if c.sums != nil {
		to = alignUp(to) + int64(len(c.sums))
	}
	if to-from >= adviseWholeMin {
		c.seg.willNeed(from, to)
	}
}

// aheadCursor is a View reader's source: a blockCursor that advises a
// window ahead of the blocks it hands out. Chunks without block sums were
// verified whole when opened (their pages are in), so it advises only
// block-summed ones.
type aheadCursor struct {
	blockCursor
	// The chunk the window belongs to (seg, payOff), and the payload
	// offset advised up to; window is the next advice's size.
	aseg   *segment
	aoff   int64
	ahead  int
	window int
}

// NextWindow implements stream.Source.
func (a *aheadCursor) NextWindow() ([]byte, error) {
	if a.sums != nil && a.pos < len(a.pay) {
		a.advise()
	}
	return a.blockCursor.NextWindow()
}

// advise starts the reads of the next window once the reader is within
// half a window of the advised end. The first block of a chunk is not
// advised: it is all a prefix reader reads, and its faults read it.
func (a *aheadCursor) advise() {
	if a.aseg != a.seg || a.aoff != a.payOff {
		a.aseg, a.aoff = a.seg, a.payOff
		a.ahead, a.window = min(a.pos+blockSize, len(a.pay)), readerFirstWindow
		if a.pos == 0 {
			return
		}
	}
	if a.ahead >= len(a.pay) || a.pos < a.ahead-a.window/2 {
		return
	}
	from := max(a.ahead, a.pos)
	to := min(from+a.window, len(a.pay))
	a.seg.willNeed(a.payOff+int64(from), a.payOff+int64(to))
	a.ahead, a.window = to, min(2*a.window, readerMaxWindow)
}

// iterAhead is an Iterator's read-ahead state in the segment it reads.
//
// In a sealed segment (advised random) the data is not advised with
// MADV_WILLNEED: Linux fills the page cache with 4 KiB folios for it, and a
// cold replay of 128 MiB of 1 KiB entries took 106-124 ms that way against
// 80-99 ms with the kernel's own read-around, which builds large folios
// (MADV_SEQUENTIAL: 125-147 ms; BenchmarkColdRead/replay, interleaved).
// Instead the first Iterator to enter the segment gives its mapping the
// default advice back, and the last to leave it advises it random again
// (segment.replaying counts them). The two advice calls of a
// segment can race with another Iterator's; the loser leaves a hint that
// costs read speed until the next switch, never data.
type iterAhead struct {
	seg    *segment
	seq    bool  // seg was given the default advice for this Iterator
	data   int64 // file offset the data is advised up to
	slots  int64 // file offset the slots are advised down to
	window int64
}

// enter counts the Iterator in as an in-order reader of s, which it has
// pinned.
func (a *iterAhead) enter(s *segment) {
	if !s.randomRead.Load() {
		return // the active segment: the kernel's default read-around
	}
	a.seq = true
	if s.replaying.Add(1) == 1 {
		_ = s.mm.Advise(0, int(s.size), mmapio.AdviseNormal)
	}
}

// leave counts the Iterator out of its segment. It may no longer hold a
// pin there, so it takes one to touch the mapping, and skips the advice
// if the segment is gone or unmapped (a reload advises afresh).
func (a *iterAhead) leave() {
	s := a.seg
	if s == nil || !a.seq {
		return
	}
	a.seq = false
	if s.replaying.Add(-1) != 0 || !s.tryPin() {
		return
	}
	if s.loaded.Load() {
		_ = s.mm.Advise(0, int(s.size), mmapio.AdviseRandom)
	}
	s.unpin()
}

// advise is called with the iterator's current entry, index idx, whose
// first chunk lies at [off, end) of s (pinned): it advises the data ahead
// of end and the slots of the entries after idx, each when the advised
// range runs out within half a window. The data advised stops at the
// lowest slot (count read now: the active segment grows).
func (a *iterAhead) advise(s *segment, idx uint64, off, end int64) {
	if a.seg != s {
		a.leave()
		*a = iterAhead{seg: s, data: off, slots: s.slotOff(uint32(idx-s.first)) + slotSize, window: iterFirstWindow}
		a.enter(s)
	}
	count := s.count.Load()
	if count == 0 {
		return
	}
	lowSlot := s.slotOff(count - 1)
	if !a.seq && end+a.window/2 > a.data && a.data < lowSlot {
		from := max(a.data, off)
		to := min(from+a.window, lowSlot)
		s.willNeed(from, to)
		a.data, a.window = to, min(2*a.window, iterMaxWindow)
	}
	if so := s.slotOff(uint32(idx - s.first)); so-iterSlotWindow/2 < a.slots && a.slots > lowSlot {
		from := max(a.slots-iterSlotWindow, lowSlot)
		s.willNeed(from, a.slots)
		a.slots = from
	}
}
