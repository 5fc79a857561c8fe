package journal

import (
	"fmt"

	"github.com/spoolhq/spool/mmapio"
)

// SyncPolicy says when appended entries are made durable.
type SyncPolicy int

const (
	// SyncEach makes every append durable before it returns. Appends from
	// concurrent goroutines share syncs: one sync covers every entry
	// appended before it started, so N concurrent appenders cost about one
	// sync per round, not N.
	SyncEach SyncPolicy = iota
	// GroupCommit returns from Append once the entry is readable; a
	// background committer syncs whatever has been appended, one sync right
	// after another. Use WaitDurable (or AppendOptions.Durable) where
	// durability must be known.
	GroupCommit
	// PageCache never syncs on its own: entries become durable on Sync,
	// WaitDurable, a durable append, a segment roll or Close.
	PageCache
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncEach:
		return "sync-each"
	case GroupCommit:
		return "group-commit"
	case PageCache:
		return "page-cache"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// Defaults.
const (
	DefaultSegmentSize  = 64 << 20
	DefaultMaxEntrySize = 1 << 30
)

// Options configure Open. The zero value is usable: OS filesystem, 64 MiB
// segments, SyncEach, first index 1.
type Options struct {
	// FS performs every filesystem and mapping operation; nil means
	// mmapio.OS. Tests pass a crashable in-memory FS.
	FS mmapio.FS
	// SegmentSize is the size of new segment files, rounded up to a
	// multiple of the page size; existing segments keep their size.
	// Between 64 KiB and 1 GiB; 0 means DefaultSegmentSize.
	SegmentSize int64
	// MaxEntrySize bounds the payload of one entry, on append and on read
	// (a length claimed by a damaged file is checked against it before
	// use). 0 means DefaultMaxEntrySize.
	MaxEntrySize int64
	// Sync is the durability policy.
	Sync SyncPolicy
	// FirstIndex is the index of the first entry of a new journal; 0 means 1.
	// An existing journal ignores it (use Reset to move an empty journal).
	FirstIndex uint64
	// NoCreate makes Open fail with ErrNotFound instead of creating a
	// journal in a missing or empty directory.
	NoCreate bool
	// AllowNonEmpty lets Open create a journal in a directory that holds
	// other files. Without it Open refuses, with an error wrapping
	// ErrNotEmpty, a directory that holds no journal (no META file, no
	// segment) but holds anything besides LOCK, lost+found, hidden
	// names (starting with ".") and the temporary files of an
	// interrupted creation: a journal created there is most likely a
	// mistyped path. A journal's own directory is never refused, whatever
	// else it holds (an adapter's snapshots beside it, for one).
	AllowNonEmpty bool
	// MaxOpenSegments caps the sealed segments kept mapped, each with an
	// open file, at once: beyond it the least recently used sealed
	// segment that no reader pins is unmapped and closed, and mapped
	// again when next read. The active segment, segments whose seal is
	// not yet durable and pinned segments (live Views, an Iterator's
	// current entry) are never unmapped; they count against the cap, so
	// more than MaxOpenSegments may be mapped while that many are pinned,
	// and, for a moment, while loads wait for their eviction pass (one
	// per concurrent reader; until the background pass when a writer holds
	// the writer lock). Random reads spread over more than
	// MaxOpenSegments x SegmentSize reload a segment on most reads (tens
	// of microseconds each): raise the cap for them. 0 means
	// DefaultMaxOpenSegments; a negative value means no cap (every segment
	// read stays mapped until a truncation drops it, as before the cap
	// existed). Sealed segments' pages are released from the process once
	// their seal is durable whatever the cap (docs/decisions.md, "Bounded
	// mappings").
	MaxOpenSegments int

	// spare says where the spare segment file (spare.go) is prepared.
	// Tests on the crashable FS prepare it on the append path, so that
	// they see a deterministic sequence of operations; BenchmarkRoll
	// compares all three.
	spare spareMode
}

// spareMode says where the next segment file is prepared.
type spareMode uint8

const (
	spareBackground spareMode = iota // by the spare maker (the default)
	spareInline                      // on the append path, at the half-way append
	spareOff                         // by the roll itself
)

func (o *Options) withDefaults() (Options, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.FS == nil {
		opts.FS = mmapio.OS
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	page := int64(mmapio.PageSize())
	opts.SegmentSize = (opts.SegmentSize + page - 1) / page * page
	if opts.SegmentSize < minSegmentSize || opts.SegmentSize > maxSegmentSize {
		return opts, fmt.Errorf("journal: SegmentSize %d not in [%d, %d]", opts.SegmentSize, minSegmentSize, maxSegmentSize)
	}
	if opts.MaxEntrySize == 0 {
		opts.MaxEntrySize = DefaultMaxEntrySize
	}
	if opts.MaxEntrySize < 0 {
		return opts, fmt.Errorf("journal: negative MaxEntrySize %d", opts.MaxEntrySize)
	}
	if opts.MaxOpenSegments == 0 {
		opts.MaxOpenSegments = DefaultMaxOpenSegments
	}
	if opts.FirstIndex == 0 {
		opts.FirstIndex = 1
	}
	switch opts.Sync {
	case SyncEach, GroupCommit, PageCache:
	default:
		return opts, fmt.Errorf("journal: unknown sync policy %d", opts.Sync)
	}
	return opts, nil
}
