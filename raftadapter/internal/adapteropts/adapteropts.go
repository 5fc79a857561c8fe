// Package adapteropts holds what the Raft adapters (raftadapter/hashicorp
// and raftadapter/etcd) have in common: the options of the journal under
// them, documented once, and the rule for closing an adapter twice.
//
// Each adapter embeds Journal in its own Options (through an alias,
// hashicorp.JournalOptions and etcd.JournalOptions), so that opts.FS,
// opts.SegmentSize and the rest read and assign the same way in both.
package adapteropts

import (
	"fmt"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/mmapio"
)

// Journal configures the journal an adapter keeps its log in, and the
// files it keeps beside it. The zero value is the production setting.
type Journal struct {
	// FS performs every filesystem and mapping operation of the adapter:
	// the journal's, and those on the adapter's own files (snapshots, the
	// hashicorp StableStore file). nil means mmapio.OS. Tests pass a
	// crashable in-memory FS.
	FS mmapio.FS
	// SegmentSize is the size of new journal segment files, between
	// 64 KiB and 1 GiB; 0 means journal.DefaultSegmentSize (64 MiB).
	// Compaction frees whole segments, so smaller segments return disk
	// space sooner; larger ones mean fewer files.
	SegmentSize int64
	// MaxEntrySize bounds one stored log entry (the engine's entry
	// encoding, a few header bytes included), on write and on read; 0
	// means journal.DefaultMaxEntrySize (1 GiB).
	MaxEntrySize int64
	// MaxOpenSegments caps the sealed journal segments kept mapped, each
	// with an open file, at once (journal.Options.MaxOpenSegments): 0
	// means journal.DefaultMaxOpenSegments (16), a negative value no cap.
	// Raise it when followers or readers reach randomly across more than
	// MaxOpenSegments x SegmentSize of log.
	MaxOpenSegments int
	// NoSync skips the syncs that make written entries durable before
	// the adapter acknowledges them; the journal's truncations still
	// sync. The hashicorp Store still syncs StableStore writes and
	// snapshots; the etcd Storage skips every sync it would issue (meta
	// records and snapshot files too). For tests and benchmarks only: a
	// machine crash can then lose state raft believes persisted, which
	// breaks Raft's safety.
	NoSync bool
}

// FS returns o.FS, or mmapio.OS when it is nil.
func FS(o Journal) mmapio.FS {
	if o.FS == nil {
		return mmapio.OS
	}
	return o.FS
}

// OpenJournal opens the journal in dir as o configures it. Both adapters
// decide themselves when entries become durable, so the journal's policy
// is journal.PageCache.
func OpenJournal(dir string, o Journal) (*journal.Journal, error) {
	return journal.Open(dir, &journal.Options{
		FS:              FS(o),
		SegmentSize:     o.SegmentSize,
		MaxEntrySize:    o.MaxEntrySize,
		MaxOpenSegments: o.MaxOpenSegments,
		Sync:            journal.PageCache,
	})
}

// SecondCloseError is what an adapter's second Close returns: an error
// wrapping journal.ErrClosed, as the journal's own second Close does, so
// that a double close (most often a shutdown path run twice) is visible
// instead of passing silently. pkg names the adapter ("hashicorp",
// "etcd").
func SecondCloseError(pkg string) error {
	return fmt.Errorf("%s: close: %w", pkg, journal.ErrClosed)
}
