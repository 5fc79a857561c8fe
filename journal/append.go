package journal

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/stream"
	"github.com/zeebo/xxh3"
)

// appendSink hands a Writer windows of mapped segment pages and frames them
// into chunks. It belongs to the Journal and is used under the writer lock.
type appendSink struct {
	j        *Journal
	seg      *segment // segment holding the current chunk
	startSeg *segment // segment in which the entry started
	idx      uint64
	chunkOff int64 // current chunk header
	payOff   int64 // current chunk payload start
	winOff   int64 // current window [winOff, winEnd)
	winEnd   int64
	limit    int64 // end of the payload the current chunk may hold (chunkCap)
	chunks   int   // chunks of this entry already framed
	total    int64 // payload bytes in those chunks
	hashing  bool  // h holds the current chunk's earlier windows
	h        xxh3.Hasher
	// blocks: the current chunk's segment takes block sums (format 3).
	// Then h hashes the current block, inBlock bytes of it so far, and
	// sums holds the sums of the chunk's earlier blocks: at most a
	// segment's worth, 8 bytes per blockSize, reused from entry to entry.
	blocks  bool
	inBlock int
	sums    []uint64
}

// opState is what an aborted append or batch rolls back to.
type opState struct {
	seg    *segment
	off    int64
	count  uint32
	rolled bool  // a segment was sealed during the operation
	maxOff int64 // furthest byte possibly written in seg
	// Where the operation's first entry starts, once it has begun.
	firstSeg *segment
	firstOff int64
	// Sync round msyncs started, and whether one was running, when the
	// operation began: see abortOpLocked.
	msyncs    uint64
	msyncBusy bool
}

// NextWindow implements stream.Sink.
func (k *appendSink) NextWindow(filled []byte) ([]byte, error) {
	s := k.seg
	used := k.winEnd - k.payOff
	if k.total+used >= k.j.opts.MaxEntrySize {
		return nil, fmt.Errorf("%w: entry %d exceeds %d bytes", ErrTooLarge, k.idx, k.j.opts.MaxEntrySize)
	}
	if !k.hashing {
		k.h.Reset()
		k.hashing, k.inBlock, k.sums = true, 0, k.sums[:0]
	}
	k.absorb(filled)
	if k.winEnd < k.limit {
		k.winOff = k.winEnd
		k.winEnd = min(k.limit, k.winOff+windowCap)
		k.j.claimWindow(s, k.winEnd)
		return s.data[k.winOff:k.winEnd], nil
	}
	// The chunk fills the rest of its segment: frame it and continue the
	// entry in a new segment.
	kind := uint8(kindMiddle)
	if k.chunks == 0 {
		kind = kindFirst
	}
	h := chunkHeader{length: uint32(k.limit - k.payOff), kind: kind, index: k.idx}
	end := k.frame(&h, k.limit)
	k.total += k.limit - k.payOff
	k.chunks++
	s.writeOff, s.highOff = end, max(s.highOff, end)
	count := s.count.Load()
	if s == k.startSeg {
		count++ // the trailer counts the entry where it starts
	}
	k.j.op.rolled = true
	k.j.active = nil
	if err := s.writeTrailer(count, end, true, false); err != nil {
		return nil, err
	}
	next, err := k.j.newSegmentLocked(k.idx, true)
	if err != nil {
		return nil, err
	}
	k.startChunk(next, next.trailerOff())
	k.j.claimWindow(next, k.winEnd)
	return next.data[k.winOff:k.winEnd], nil
}

// startChunk starts a chunk at s's write offset, which may fill the space
// up to limit with its payload and, in a format 3 segment, its block sums.
func (k *appendSink) startChunk(s *segment, limit int64) {
	k.seg = s
	k.chunkOff = s.writeOff
	k.payOff = k.chunkOff + chunkHeaderSize
	k.blocks = s.blockSums()
	k.limit = k.payOff + chunkCap(limit-k.payOff, k.blocks)
	k.winOff = k.payOff
	k.winEnd = min(k.limit, k.payOff+windowCap)
	k.hashing = false
}

// absorb hashes a filled window of the current chunk: whole, or block by
// block. A block's sum is taken when the next byte arrives, so that a
// chunk that ends at one block holds its sum in h, as a chunk without
// block sums does.
func (k *appendSink) absorb(p []byte) {
	if !k.blocks {
		_, _ = k.h.Write(p)
		return
	}
	for len(p) > 0 {
		if k.inBlock == blockSize {
			k.sums = append(k.sums, k.h.Sum64())
			k.h.Reset()
			k.inBlock = 0
		}
		n := min(len(p), blockSize-k.inBlock)
		_, _ = k.h.Write(p[:n])
		k.inBlock += n
		p = p[n:]
	}
}

// frame completes the header h of the current chunk, whose payload ends at
// payEnd and was hashed (absorb) if k.hashing, writes the block sums of a
// chunk larger than a block after its payload, encodes the header and
// returns where the chunk ends: after the sums, else at payEnd.
func (k *appendSink) frame(h *chunkHeader, payEnd int64) int64 {
	s := k.seg
	end := payEnd
	switch {
	case k.blocks && int64(h.length) > blockSize:
		if k.hashing {
			k.sums = append(k.sums, k.h.Sum64()) // the last, partial block
		} else {
			k.sums = appendBlockSums(k.sums[:0], s.data[k.payOff:payEnd])
		}
		sums := alignUp(payEnd)
		end = sums + 8*int64(len(k.sums))
		// The sums may lie past the last window claimed: claim them
		// before writing, or the zero prefill could land on them
		// (prefill.go).
		k.j.claimWindow(s, end)
		b := s.data[sums:end]
		for i, v := range k.sums {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
		h.flags |= chunkFlagBlocks
		h.sum = xxh3.Hash(b)
	case k.hashing:
		h.sum = k.h.Sum64()
	default:
		h.sum = xxh3.Hash(s.data[k.payOff:payEnd])
	}
	k.sums, k.inBlock = k.sums[:0], 0
	h.encode(s.data[k.chunkOff:], s.salt)
	return end
}

// beginEntryLocked positions the sink for entry idx and returns its first
// window. sizeHint, if not negative, is the payload size: an entry that
// would not fit in the active segment but fits in a fresh one starts in a
// fresh one rather than spanning two.
func (j *Journal) beginEntryLocked(idx uint64, sizeHint int64) ([]byte, error) {
	s := j.active
	if s == nil {
		var err error
		if s, err = j.newSegmentLocked(idx, false); err != nil {
			return nil, err
		}
		if j.op.seg == nil && !j.op.rolled {
			j.op.seg, j.op.off, j.op.count, j.op.maxOff = s, s.writeOff, 0, s.writeOff
		}
	}
	count := s.count.Load()
	limit := s.trailerOff() - slotSize*int64(count+1)
	room := chunkCap(limit-s.writeOff-chunkHeaderSize, s.blockSums())
	fresh := chunkCap(s.trailerOff()-slotSize-dataStart-chunkHeaderSize, true) // new segments are format 3
	if room < minChunkPayload || (sizeHint > room && sizeHint <= fresh && s.writeOff > dataStart) {
		j.op.rolled = true
		j.active = nil
		if err := s.writeTrailer(s.count.Load(), s.writeOff, false, false); err != nil {
			return nil, err
		}
		var err error
		if s, err = j.newSegmentLocked(idx, false); err != nil {
			return nil, err
		}
		count = 0
		limit = s.trailerOff() - slotSize
	}
	j.maybePrefaultLocked(s)
	k := &j.sink
	k.idx, k.startSeg, k.chunks, k.total = idx, s, 0, 0
	k.startChunk(s, limit)
	s.setSlot(count, k.chunkOff)
	if j.op.firstSeg == nil {
		j.op.firstSeg, j.op.firstOff = s, k.chunkOff
	}
	j.claimWindow(s, k.winEnd)
	return s.data[k.winOff:k.winEnd], nil
}

// finishEntryLocked frames the entry's last chunk after the payload was
// written; filled is the written part of the last window.
func (j *Journal) finishEntryLocked(filled []byte) error {
	k := &j.sink
	s := k.seg
	end := k.winOff + int64(len(filled))
	length := end - k.payOff
	if k.total+length > j.opts.MaxEntrySize {
		return fmt.Errorf("%w: entry %d exceeds %d bytes", ErrTooLarge, k.idx, j.opts.MaxEntrySize)
	}
	if k.hashing {
		k.absorb(filled)
	}
	kind := uint8(kindFull)
	if k.chunks > 0 {
		kind = kindLast
	}
	h := chunkHeader{length: uint32(length), kind: kind, index: k.idx}
	s.writeOff = alignUp(k.frame(&h, end))
	s.highOff = max(s.highOff, s.writeOff)
	// Counted now; readers see it once LastIndex covers it.
	k.startSeg.count.Add(1)
	return nil
}

// writeEntryLocked appends one entry with index idx from fn or, when fn is
// nil, from p. hint is the payload size if known, else -1.
func (j *Journal) writeEntryLocked(idx uint64, fn func(*stream.Writer) error, p []byte, hint int64) error {
	if fn == nil {
		hint = int64(len(p))
	}
	first, err := j.beginEntryLocked(idx, hint)
	if err != nil {
		return err
	}
	w := &j.w
	w.Reset(&j.sink, first)
	if fn != nil {
		err = fn(w)
		if err == nil {
			err = w.Err()
		}
	} else {
		_, err = w.Write(p)
	}
	filled, werr := w.Detach()
	if j.sink.seg == j.op.seg {
		j.op.maxOff = max(j.op.maxOff, j.sink.winEnd)
	}
	if err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if err := j.finishEntryLocked(filled); err != nil {
		return err
	}
	if s := j.sink.seg; s == j.op.seg {
		// Block sums may lie past the last window: an abort zeroes them
		// too.
		j.op.maxOff = max(j.op.maxOff, s.writeOff)
	}
	return nil
}

// beginOpLocked records the rollback point of an append or batch.
func (j *Journal) beginOpLocked() error {
	if err := j.checkWritable(); err != nil {
		return err
	}
	if j.cleanPending {
		if err := j.clearCleanLocked(); err != nil {
			return err
		}
	}
	started := j.roundMsyncsStarted.Load()
	j.op = opState{seg: j.active, msyncs: started, msyncBusy: j.roundMsyncsDone.Load() != started}
	if s := j.active; s != nil {
		j.op.off, j.op.count, j.op.maxOff = s.writeOff, s.count.Load(), s.writeOff
	}
	return nil
}

// abortOpLocked undoes the unpublished entries of a failed append or batch.
// Without a roll, their bytes are zeroed (and will be synced with the next
// sync, since highOff covers them), so no completed frame of theirs can be
// revived by a crash. With a roll, the sealed segment's trailer already
// counts them, and a durable cut is made.
func (j *Journal) abortOpLocked() error {
	if j.failed.Load() != nil {
		return nil
	}
	if j.op.rolled {
		if j.op.firstSeg == nil {
			return nil // only a seal happened: nothing to undo
		}
		return j.cutLocked(j.last.Load(), j.op.firstSeg, j.op.firstOff)
	}
	if s := j.op.seg; s != nil {
		clear(s.data[j.op.off:j.op.maxOff])
		s.highOff = max(s.highOff, j.op.maxOff)
		s.writeOff = j.op.off
		s.count.Store(j.op.count)
		if j.op.msyncBusy || j.roundMsyncsStarted.Load() != j.op.msyncs {
			// A sync round was writing back pages of this segment
			// while the operation wrote: a page it wrote may have
			// reached the disk holding complete frames of the
			// aborted entries, which a crash before the next sync
			// would revive. Make the zeroes durable first
			// (docs/decisions.md, "Failed appends are zeroed").
			page := int64(mmapio.PageSize())
			from := j.op.off &^ (page - 1)
			if err := s.mm.Sync(int(from), int(j.op.maxOff-from)); err != nil {
				return j.fail(fmt.Errorf("sync %s after an aborted append [%d,%d): %w", s.path, from, j.op.maxOff, err))
			}
		}
	}
	return nil
}

// Append appends one entry whose payload fn streams into w, which writes
// straight into mapped segment pages. It returns the entry's index,
// LastIndex()+1. If fn returns an error (or w's sticky error is set) nothing
// is appended. fn runs under the writer lock: it must not call back into
// the journal.
//
// Durability follows the journal's SyncPolicy.
func (j *Journal) Append(fn func(w *stream.Writer) error) (uint64, error) {
	return j.appendOne(fn, nil, -1)
}

// AppendSized is Append for a payload whose size is known (or estimated)
// in advance: an entry that would not fit in the rest of the active
// segment but fits in a fresh one starts in a fresh one, so that its bytes
// stay contiguous (View.Bytes works; no multi-chunk read). The payload may
// still differ from sizeHint.
func (j *Journal) AppendSized(sizeHint int64, fn func(w *stream.Writer) error) (uint64, error) {
	return j.appendOne(fn, nil, sizeHint)
}

// AppendBytes appends one entry holding a copy of p.
func (j *Journal) AppendBytes(p []byte) (uint64, error) {
	return j.appendOne(nil, p, -1)
}

func (j *Journal) appendOne(fn func(*stream.Writer) error, p []byte, hint int64) (uint64, error) {
	j.mu.Lock()
	idx, err := j.appendOneLocked(fn, p, hint)
	j.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return idx, j.afterAppend(idx, false)
}

func (j *Journal) appendOneLocked(fn func(*stream.Writer) error, p []byte, hint int64) (uint64, error) {
	if err := j.beginOpLocked(); err != nil {
		return 0, err
	}
	idx := j.last.Load() + 1
	if err := j.writeEntryLocked(idx, fn, p, hint); err != nil {
		if aerr := j.abortOpLocked(); aerr != nil {
			err = fmt.Errorf("%w (and rollback failed: %w)", err, aerr)
		}
		return 0, err
	}
	j.last.Store(idx)
	return idx, nil
}

// afterAppend applies the durability policy to a published entry.
func (j *Journal) afterAppend(idx uint64, durable bool) error {
	switch {
	case durable || j.opts.Sync == SyncEach:
		return j.waitDurable(context.Background(), idx)
	case j.opts.Sync == GroupCommit:
		select {
		case j.committer.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Batch appends several entries atomically: readers see none of them until
// the batch function returns, and an error aborts them all. A Batch is
// valid only inside the function passed to AppendBatch.
type Batch struct {
	j       *Journal
	first   uint64
	next    uint64
	durable bool
	err     error
}

// AppendBatch runs fn with a Batch under the writer lock, publishes the
// entries fn appended, and applies the durability policy once for all of
// them (one sync under SyncEach). It returns the first and last index
// appended; an empty batch returns (LastIndex()+1, LastIndex()).
func (j *Journal) AppendBatch(fn func(b *Batch) error) (first, last uint64, err error) {
	j.mu.Lock()
	if err := j.beginOpLocked(); err != nil {
		j.mu.Unlock()
		return 0, 0, err
	}
	b := Batch{j: j, first: j.last.Load() + 1}
	b.next = b.first
	err = fn(&b)
	if err == nil {
		err = b.err
	}
	if err != nil {
		if aerr := j.abortOpLocked(); aerr != nil {
			err = fmt.Errorf("%w (and rollback failed: %w)", err, aerr)
		}
		j.mu.Unlock()
		return 0, 0, err
	}
	last = b.next - 1
	j.last.Store(last)
	j.mu.Unlock()
	b.j = nil
	if last < b.first {
		return b.first, last, nil
	}
	return b.first, last, j.afterAppend(last, b.durable)
}

// Append adds an entry streamed by fn to the batch and returns its index.
// After an error the batch is failed: further appends return the same error
// and AppendBatch rolls everything back.
func (b *Batch) Append(fn func(w *stream.Writer) error) (uint64, error) {
	return b.add(fn, nil, -1)
}

// AppendSized adds an entry streamed by fn whose size is known or
// estimated in advance; see Journal.AppendSized.
func (b *Batch) AppendSized(sizeHint int64, fn func(w *stream.Writer) error) (uint64, error) {
	return b.add(fn, nil, sizeHint)
}

// AppendBytes adds an entry holding a copy of p to the batch.
func (b *Batch) AppendBytes(p []byte) (uint64, error) {
	return b.add(nil, p, -1)
}

func (b *Batch) add(fn func(*stream.Writer) error, p []byte, hint int64) (uint64, error) {
	if b.j == nil {
		return 0, fmt.Errorf("journal: Batch used outside AppendBatch")
	}
	if b.err != nil {
		return 0, b.err
	}
	if err := b.j.writeEntryLocked(b.next, fn, p, hint); err != nil {
		b.err = err
		return 0, err
	}
	b.next++
	return b.next - 1, nil
}

// Next returns the index the next entry of the batch will get.
func (b *Batch) Next() uint64 { return b.next }

// RequireDurable makes AppendBatch return only once the batch is durable,
// whatever the journal's SyncPolicy (a Raft configuration change, say).
func (b *Batch) RequireDurable() { b.durable = true }
