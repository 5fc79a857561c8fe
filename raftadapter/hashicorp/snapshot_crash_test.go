package hashicorp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/mmapio/crashfs"
)

// snapCrashRetain is the retain count of the snapshot crash test: small,
// so that publications reap older snapshots.
const snapCrashRetain = 2

// snapCrashData is the data of the snapshot at index i: different for
// every index, and between one and a dozen pages long, so that a crash
// can tear it.
func snapCrashData(i uint64) []byte {
	return snapData(i, 1000+int(i*7919%(48<<10)))
}

// publishSnapCrash publishes the snapshots of indexes from..to into
// store, in order, recording each acknowledged one (its sink's Close returned
// nil) in acked. It stops at the first error and returns it with the
// index being published.
func publishSnapCrash(store *SnapshotStore, from, to uint64, acked *[]string) (uint64, error) {
	for i := from; i <= to; i++ {
		sink, err := store.Create(raft.SnapshotVersionMax, i, 1, testConfig, i, nil)
		if err != nil {
			return i, err
		}
		data := snapCrashData(i)
		for p := data; len(p) > 0; {
			k := min(len(p), 1+len(p)%5003)
			if _, err := sink.Write(p[:k]); err != nil {
				_ = sink.Cancel()
				return i, err
			}
			p = p[k:]
		}
		if err := sink.Close(); err != nil {
			return i, err
		}
		*acked = append(*acked, sink.ID())
	}
	return 0, nil
}

// newestIDs returns the newest snapCrashRetain of ids (in publication
// order), newest first, as List returns them.
func newestIDs(ids []string) []string {
	out := slices.Clone(ids[max(0, len(ids)-snapCrashRetain):])
	slices.Reverse(out)
	return out
}

// TestSnapshotCrash publishes snapshots through a Store on a crashable
// disk, crashes it at a random operation, and builds images of what a
// reboot could find (pages lost, landed or mixed sector by sector, torn
// sectors in half the images; directory operations landed or lost). In
// every image the reopened store lists either the snapshots it listed
// after the last acknowledged publication or those it would list after
// the one in flight, every listed snapshot opens and reads back exactly
// the data written, no snapshot is set aside as corrupt (a half-written
// file never gets a snapshot's name), no temporary file is left, and the
// store publishes again. SPOOL_SNAPSHOT_CRASH_ROUNDS rounds (30), each
// with 4 images.
func TestSnapshotCrash(t *testing.T) {
	rounds := stableEnvInt(t, "SPOOL_SNAPSHOT_CRASH_ROUNDS", 30)
	const nSnaps = 6
	opts := func(fs *crashfs.FS) *Options {
		return &Options{JournalOptions: JournalOptions{FS: fs, SegmentSize: smallSegments}, SnapshotRetain: snapCrashRetain}
	}
	// The number of FS operations the publications make, to spread
	// crashes over all of them.
	total := func() int64 {
		fs := crashfs.New()
		defer fs.Close()
		s, err := Open(t.TempDir(), opts(fs))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		start := fs.Ops()
		var acked []string
		if _, err := publishSnapCrash(s.Snapshots(), 1, nSnaps, &acked); err != nil {
			t.Fatal(err)
		}
		return fs.Ops() - start
	}()
	if total == 0 {
		t.Fatal("publishing snapshots made no operation on the Store's FS")
	}
	for round := range rounds {
		seed := uint64(round) + 1
		rng := rand.New(rand.NewPCG(seed, 11))
		fs := crashfs.New()
		dir := t.TempDir()
		s, err := Open(dir, opts(fs))
		if err != nil {
			t.Fatal(err)
		}
		fs.CrashAfter(int64(rng.IntN(int(total))))
		var acked []string
		inflight, err := publishSnapCrash(s.Snapshots(), 1, nSnaps, &acked)
		if err != nil && !errors.Is(err, crashfs.ErrCrashed) {
			t.Fatalf("round %d: publishing snapshot %d: %v", round, inflight, err)
		}
		snap := fs.Crash()
		_ = s.Close()
		old := newestIDs(acked)
		for img := range 4 {
			d := crashfs.Random(seed*10 + uint64(img))
			if img%2 == 1 {
				d = crashfs.RandomTorn(seed*10 + uint64(img))
			}
			ifs, err := snap.Image(d)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Open(dir, opts(ifs))
			if err != nil {
				t.Fatalf("round %d image %d: Open: %v", round, img, err)
			}
			checkSnapCrashImage(t, round, img, r, ifs, old, acked, inflight)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			ifs.Close()
		}
		fs.Close()
	}
}

// checkSnapCrashImage checks one crash image (see TestSnapshotCrash):
// old lists the snapshots acknowledged before the crash, newest first;
// inflight is the index whose publication the crash interrupted (0:
// none).
func checkSnapCrashImage(t *testing.T, round, img int, r *Store, ifs *crashfs.FS, old, acked []string, inflight uint64) {
	t.Helper()
	metas, err := r.Snapshots().List()
	if err != nil {
		t.Fatalf("round %d image %d: List: %v", round, img, err)
	}
	var got []string
	for _, m := range metas {
		got = append(got, m.ID)
	}
	ok := slices.Equal(got, old)
	if !ok && inflight != 0 && len(got) > 0 {
		// The in-flight snapshot landed: it heads the list, and the
		// acknowledged ones follow.
		if id, valid := parseSnapID(got[0]); valid && id.index == inflight {
			ok = slices.Equal(got, newestIDs(append(slices.Clone(acked), got[0])))
		}
	}
	if !ok {
		t.Fatalf("round %d image %d: List %v; acknowledged %v, in flight: index %d", round, img, got, old, inflight)
	}
	for _, m := range metas {
		meta, rc, err := r.Snapshots().Open(m.ID)
		if err != nil {
			t.Fatalf("round %d image %d: Open(%s): %v", round, img, m.ID, err)
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatalf("round %d image %d: read %s: %v", round, img, m.ID, err)
		}
		if want := snapCrashData(meta.Index); !bytes.Equal(data, want) || meta.Size != int64(len(want)) {
			t.Fatalf("round %d image %d: snapshot %s holds %d bytes (size %d), want the %d written", round, img, m.ID, len(data), meta.Size, len(want))
		}
	}
	names, err := ifs.List(r.Snapshots().Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, snapBadExt) || strings.HasSuffix(n, snapTmpExt) {
			t.Fatalf("round %d image %d: %s left in %v", round, img, n, names)
		}
	}
	// The store keeps working on the image.
	var again []string
	if _, err := publishSnapCrash(r.Snapshots(), 100, 100, &again); err != nil {
		t.Fatalf("round %d image %d: publish after recovery: %v", round, img, err)
	}
	if metas, err := r.Snapshots().List(); err != nil || len(metas) == 0 || metas[0].ID != again[0] {
		t.Fatalf("round %d image %d: List after a new publication: %v, %v; want %s first", round, img, metas, err, again[0])
	}
}
