package hashicorp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/mmapio/crashfs"
)

// envInt reads a test size from the environment (see README's table of
// SPOOL_* settings), or def.
func stableEnvInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// stableValue is a value no other (key, version) pair shares.
func stableValue(key string, version, size int) []byte {
	v := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(len(key))*7919+uint64(version), uint64(size)))
	for i := range v {
		v[i] = byte(rng.Uint32())
	}
	if size >= 8 {
		binary.LittleEndian.PutUint32(v, uint32(version))
	}
	return v
}

func mustSet(t testing.TB, s *Store, key string, val []byte) {
	t.Helper()
	if err := s.Set([]byte(key), val); err != nil {
		t.Fatalf("Set(%q, %d bytes): %v", key, len(val), err)
	}
}

func checkGet(t testing.TB, s *Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) || (want != nil) != (got != nil) {
		t.Fatalf("Get(%q) = %d bytes %.16x, want %d bytes %.16x", key, len(got), got, len(want), want)
	}
}

// TestStableManyKeys: SPOOL_STABLE_KEYS (10,000) keys of raft-like sizes
// set one by one, read back, and read back again after a reopen. The meta
// store alone held 54 such keys.
func TestStableManyKeys(t *testing.T) {
	n := stableEnvInt(t, "SPOOL_STABLE_KEYS", 10000)
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	want := map[string][]byte{}
	for i := range n {
		k := fmt.Sprintf("app/key-%06d", i)
		v := stableValue(k, 1, 8+i%200)
		mustSet(t, s, k, v)
		want[k] = v
	}
	// Raft's keys beside them.
	if err := s.SetUint64([]byte("CurrentTerm"), 42); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		for k, v := range want {
			checkGet(t, s, k, v)
		}
		if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 42 {
			t.Fatalf("CurrentTerm = %d, %v", v, err)
		}
		checkGet(t, s, "app/never-set", nil)
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, nil)
	check(s)
	if got := s.stable.keys(); got != n {
		t.Fatalf("stable file holds %d keys, want %d", got, n)
	}
}

// TestStableLargeValues: 1 MiB values (the default bound), overwritten,
// across a reopen; one byte more is refused with a typed error; the total
// bound is enforced and counts a replaced value once.
func TestStableLargeValues(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	want := map[string][]byte{}
	for i := range 4 {
		k := fmt.Sprintf("blob%d", i)
		want[k] = stableValue(k, 1, DefaultMaxStableValueSize)
		mustSet(t, s, k, want[k])
	}
	want["blob1"] = stableValue("blob1", 2, DefaultMaxStableValueSize-1)
	mustSet(t, s, "blob1", want["blob1"])
	// raft's LastVoteCand too large for the meta store: kept in the file,
	// and back in the meta store when it shrinks.
	want["LastVoteCand"] = stableValue("LastVoteCand", 1, 300<<10)
	mustSet(t, s, "LastVoteCand", want["LastVoteCand"])
	for k, v := range want {
		checkGet(t, s, k, v)
	}
	err := s.Set([]byte("blob9"), make([]byte, DefaultMaxStableValueSize+1))
	var le *StableLimitError
	if !errors.Is(err, ErrStableValueTooLarge) || !errors.As(err, &le) || le.Limit != DefaultMaxStableValueSize || le.Key != "blob9" {
		t.Fatalf("Set of 1 MiB + 1: %v, want a *StableLimitError wrapping ErrStableValueTooLarge", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, nil)
	for k, v := range want {
		checkGet(t, s, k, v)
	}
	want["LastVoteCand"] = []byte("10.0.0.1:8300")
	mustSet(t, s, "LastVoteCand", want["LastVoteCand"])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, nil)
	for k, v := range want {
		checkGet(t, s, k, v)
	}

	// The total bound.
	small := openStore(t, t.TempDir(), &Options{MaxStableSize: 10 << 10, MaxStableValueSize: 8 << 10})
	mustSet(t, small, "a", make([]byte, 6<<10))
	err = small.Set([]byte("b"), make([]byte, 6<<10))
	if !errors.Is(err, ErrStableFull) || !errors.As(err, &le) || le.Limit != 10<<10 {
		t.Fatalf("Set past MaxStableSize: %v, want a *StableLimitError wrapping ErrStableFull", err)
	}
	mustSet(t, small, "a", make([]byte, 8<<10)) // replaces a: fits
	checkGet(t, small, "b", nil)
	if _, err := Open(t.TempDir(), &Options{MaxStableValueSize: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("MaxStableValueSize -1: %v", err)
	}
}

// TestStableRaftKeysFastPath: raft's keys cost one data sync (the meta
// write) and create no stable file; another key costs one data sync once
// the file exists, and no directory sync.
func TestStableRaftKeysFastPath(t *testing.T) {
	fs := &countingFS{FS: mmapio.OS}
	dir := t.TempDir()
	s := openStore(t, dir, &Options{JournalOptions: JournalOptions{FS: fs}})
	cost := func(op func() error) (data, dirs int64) {
		t.Helper()
		d0, s0 := fs.data.Load(), fs.dirs.Load()
		if err := op(); err != nil {
			t.Fatal(err)
		}
		return fs.data.Load() - d0, fs.dirs.Load() - s0
	}
	for i := range 10 {
		for _, k := range []string{"CurrentTerm", "LastVoteTerm"} {
			if d, sd := cost(func() error { return s.SetUint64([]byte(k), uint64(i)) }); d != 1 || sd != 0 {
				t.Fatalf("SetUint64(%s): %d data syncs, %d directory syncs; want 1 and 0", k, d, sd)
			}
		}
		if d, sd := cost(func() error { return s.Set([]byte("LastVoteCand"), []byte("node-1:8300")) }); d != 1 || sd != 0 {
			t.Fatalf("Set(LastVoteCand): %d data syncs, %d directory syncs; want 1 and 0", d, sd)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, stableName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("raft's keys created %s: %v", stableName, err)
	}
	if v := mustMeta(t, s, keyFormat); v != storeVersionFirst {
		t.Fatalf("store format %d before any other key, want %d", v, storeVersionFirst)
	}
	mustSet(t, s, "app", []byte("first")) // creates the file
	if v := mustMeta(t, s, keyFormat); v != storeVersion {
		t.Fatalf("store format %d with a stable file, want %d", v, storeVersion)
	}
	for i := range 20 {
		val := stableValue("app", i, 1024)
		if d, sd := cost(func() error { return s.Set([]byte("app"), val) }); d != 1 || sd != 0 {
			t.Fatalf("Set of a 1 KiB key: %d data syncs, %d directory syncs; want 1 and 0", d, sd)
		}
	}
}

func mustMeta(t testing.TB, s *Store, key string) uint64 {
	t.Helper()
	b, ok := s.j.Meta(key)
	if !ok {
		t.Fatalf("meta key %q missing", key)
	}
	v, _ := binary.Uvarint(b)
	return v
}

// TestStableOldStore: a store whose keys an older version kept in the
// meta store opens and reads them; a new Set moves a key to the stable
// file and wins over the old copy even if the copy's removal never landed.
func TestStableOldStore(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	// What the previous version wrote: every key in the meta store.
	old := map[string][]byte{}
	for i := range 20 {
		k := fmt.Sprintf("legacy%d", i)
		old[k] = stableValue(k, 1, 100)
		if err := s.j.SetMeta(keyStablePrefix+k, old[k]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.j.SetMeta(keyStablePrefix+"CurrentTerm", binary.LittleEndian.AppendUint64(nil, 7)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, nil)
	for k, v := range old {
		checkGet(t, s, k, v)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("CurrentTerm = %d, %v", v, err)
	}
	newV := stableValue("legacy3", 2, 5000) // more than the meta store holds
	mustSet(t, s, "legacy3", newV)
	if _, ok := s.j.Meta(keyStablePrefix + "legacy3"); ok {
		t.Fatal("the old copy of legacy3 is still in the meta store")
	}
	// A crash between the record and the removal of the old copy: both.
	if err := s.j.SetMeta(keyStablePrefix+"legacy3", old["legacy3"]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, nil)
	checkGet(t, s, "legacy3", newV)
	checkGet(t, s, "legacy4", old["legacy4"])
}

// stableFileBytes returns the stable file of the store in dir.
func stableFileBytes(t testing.TB, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, stableName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStableCompaction: overwriting keys keeps the file near twice its
// live size, and a rewrite keeps every value.
func TestStableCompaction(t *testing.T) {
	fs := &countingFS{FS: mmapio.OS}
	dir := t.TempDir()
	s := openStore(t, dir, &Options{JournalOptions: JournalOptions{FS: fs}})
	want := map[string][]byte{}
	for round := range 60 {
		for i := range 4 {
			k := fmt.Sprintf("k%d", i)
			want[k] = stableValue(k, round, 64<<10+round)
			mustSet(t, s, k, want[k])
		}
	}
	if fs.dirs.Load() < 2 {
		t.Fatalf("%d directory syncs: no rewrite happened", fs.dirs.Load())
	}
	s.stable.wmu.Lock()
	used, live := s.stable.end, s.stable.live
	s.stable.wmu.Unlock()
	if used > 2*live+stableCompactMin+4*stableSector+stableHeaderSize {
		t.Fatalf("stable file uses %d bytes for %d live", used, live)
	}
	for k, v := range want {
		checkGet(t, s, k, v)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, nil)
	for k, v := range want {
		checkGet(t, s, k, v)
	}
}

// writeStableFixture makes a store in dir holding keys a, b (two versions)
// and c, and returns the records' offsets by key and version.
func writeStableFixture(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	s := openStore(t, dir, nil)
	offs := map[string]int64{}
	for _, kv := range []struct {
		k   string
		ver int
	}{{"a", 1}, {"b", 1}, {"b", 2}, {"c", 1}} {
		mustSet(t, s, kv.k, stableValue(kv.k, kv.ver, 3000))
		offs[fmt.Sprintf("%s%d", kv.k, kv.ver)] = s.stable.index[kv.k].off
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return offs
}

func flipStableByte(t *testing.T, dir string, off int64) {
	t.Helper()
	p := filepath.Join(dir, stableName)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStableTornAndCorrupt: a damaged last record is a torn tail (its Set
// never returned) and is dropped; damage to a record with a later one
// behind it is reported, at Open or at Get, as journal.ErrCorrupt naming
// the file and offset, never dropped.
func TestStableTornAndCorrupt(t *testing.T) {
	t.Run("torn last value", func(t *testing.T) {
		dir := t.TempDir()
		offs := writeStableFixture(t, dir)
		flipStableByte(t, dir, offs["c1"]+recHeaderSize+1+100)
		s := openStore(t, dir, nil)
		checkGet(t, s, "c", nil)
		checkGet(t, s, "b", stableValue("b", 2, 3000))
		// The next record goes where the torn one was, and survives.
		mustSet(t, s, "c", stableValue("c", 2, 10))
		if got := s.stable.index["c"].off; got != offs["c1"] {
			t.Fatalf("record after a torn tail at %d, want %d", got, offs["c1"])
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, dir, nil)
		checkGet(t, s, "c", stableValue("c", 2, 10))
	})
	t.Run("torn overwrite", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, dir, nil)
		mustSet(t, s, "a", []byte("old"))
		mustSet(t, s, "a", stableValue("a", 2, 2000))
		off := s.stable.index["a"].off
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		flipStableByte(t, dir, off+recHeaderSize+1+1500)
		s = openStore(t, dir, nil)
		checkGet(t, s, "a", []byte("old"))
	})
	t.Run("garbage after the tail", func(t *testing.T) {
		dir := t.TempDir()
		writeStableFixture(t, dir)
		p := filepath.Join(dir, stableName)
		b := stableFileBytes(t, dir)
		// Fill everything after the last record with a pattern.
		img, err := loadStable(bytes.NewReader(b), int64(len(b)), p)
		if err != nil {
			t.Fatal(err)
		}
		for i := align(img.end, stableSector); i < int64(len(b)); i++ {
			b[i] = byte(i*31 + 7)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s := openStore(t, dir, nil)
		checkGet(t, s, "c", stableValue("c", 1, 3000))
	})
	t.Run("middle value", func(t *testing.T) {
		dir := t.TempDir()
		offs := writeStableFixture(t, dir)
		flipStableByte(t, dir, offs["a1"]+recHeaderSize+1+10)
		s := openStore(t, dir, nil)
		_, err := s.Get([]byte("a"))
		var ce *journal.CorruptError
		if !errors.Is(err, journal.ErrCorrupt) || !errors.As(err, &ce) || ce.Offset != offs["a1"] {
			t.Fatalf("Get of a damaged value: %v, want a *journal.CorruptError at offset %d", err, offs["a1"])
		}
		checkGet(t, s, "c", stableValue("c", 1, 3000))
	})
	t.Run("middle header", func(t *testing.T) {
		dir := t.TempDir()
		offs := writeStableFixture(t, dir)
		flipStableByte(t, dir, offs["b2"]+20)
		_, err := Open(dir, nil)
		var ce *journal.CorruptError
		if !errors.Is(err, journal.ErrCorrupt) || !errors.As(err, &ce) || ce.Offset != offs["b2"] {
			t.Fatalf("Open with a damaged record before the last: %v, want a *journal.CorruptError at offset %d", err, offs["b2"])
		}
	})
	t.Run("base record", func(t *testing.T) {
		dir := t.TempDir()
		offs := writeStableFixture(t, dir)
		// "a" is the record the file was created with.
		flipStableByte(t, dir, offs["a1"]+30)
		if _, err := Open(dir, nil); !errors.Is(err, journal.ErrCorrupt) {
			t.Fatalf("Open with a damaged base record: %v, want journal.ErrCorrupt", err)
		}
	})
	t.Run("header", func(t *testing.T) {
		dir := t.TempDir()
		writeStableFixture(t, dir)
		flipStableByte(t, dir, 20)
		if _, err := Open(dir, nil); !errors.Is(err, journal.ErrCorrupt) {
			t.Fatalf("Open with a damaged file header: %v, want journal.ErrCorrupt", err)
		}
	})
}

// stableOp is one Set of the crash workload.
type stableOp struct {
	key string
	val []byte
}

// stableCrashWorkload returns a sequence of Sets: raft's keys, small and
// 1 KiB keys, 96 KiB values overwritten often enough to rewrite the file,
// and a LastVoteCand too long for the meta store now and then.
func stableCrashWorkload(seed uint64, n int) []stableOp {
	rng := rand.New(rand.NewPCG(seed, 99))
	ops := make([]stableOp, 0, n)
	for i := range n {
		var op stableOp
		switch r := rng.IntN(20); {
		case r < 4:
			op = stableOp{"CurrentTerm", binary.LittleEndian.AppendUint64(nil, uint64(i))}
		case r < 6:
			op.key = "LastVoteCand"
			size := 16
			if rng.IntN(3) == 0 {
				size = 3000
			}
			op.val = stableValue(op.key, i, size)
		case r < 12:
			op.key = fmt.Sprintf("small%d", rng.IntN(30))
			op.val = stableValue(op.key, i, rng.IntN(1100))
		default:
			op.key = fmt.Sprintf("big%d", rng.IntN(3))
			op.val = stableValue(op.key, i, 96<<10)
		}
		ops = append(ops, op)
	}
	return ops
}

// TestStableCrash runs the workload on a crashable disk, crashes it at a
// random operation, and builds images of what a reboot could find (4 KiB
// pages lost, landed or mixed sector by sector, sectors torn into garbage
// in half the images; directory operations landed or lost). In every
// image the store opens, every key reads as its last acknowledged value,
// or as the value of the one Set in flight for that key, and no key holds
// anything else. SPOOL_STABLE_CRASH_ROUNDS rounds (30), each with 4
// images.
func TestStableCrash(t *testing.T) {
	rounds := stableEnvInt(t, "SPOOL_STABLE_CRASH_ROUNDS", 30)
	const nOps = 80
	// The number of FS operations the workload makes, to spread crashes
	// over all of it.
	total := func() int64 {
		fs := crashfs.New()
		defer fs.Close()
		s, err := Open(t.TempDir(), &Options{JournalOptions: JournalOptions{FS: fs, SegmentSize: smallSegments}})
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range stableCrashWorkload(1, nOps) {
			if err := s.Set([]byte(op.key), op.val); err != nil {
				t.Fatal(err)
			}
		}
		n := fs.Ops()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return n
	}()
	for round := range rounds {
		seed := uint64(round) + 1
		rng := rand.New(rand.NewPCG(seed, 5))
		fs := crashfs.New()
		dir := t.TempDir()
		s, err := Open(dir, &Options{JournalOptions: JournalOptions{FS: fs, SegmentSize: smallSegments}})
		if err != nil {
			t.Fatal(err)
		}
		fs.CrashAfter(int64(rng.IntN(int(total))) + 1)
		acked := map[string][]byte{}
		var inflight *stableOp
		for _, op := range stableCrashWorkload(seed, nOps) {
			if err := s.Set([]byte(op.key), op.val); err != nil {
				if !errors.Is(err, crashfs.ErrCrashed) {
					t.Fatalf("round %d: Set(%q): %v", round, op.key, err)
				}
				inflight = &op
				break
			}
			acked[op.key] = op.val
		}
		snap := fs.Crash()
		_ = s.Close()
		for img := range 4 {
			d := crashfs.Random(seed*10 + uint64(img))
			if img%2 == 1 {
				d = crashfs.RandomTorn(seed*10 + uint64(img))
			}
			ifs, err := snap.Image(d)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Open(dir, &Options{JournalOptions: JournalOptions{FS: ifs, SegmentSize: smallSegments}})
			if err != nil {
				t.Fatalf("round %d image %d (%d units): Open: %v", round, img, len(snap.Units()), err)
			}
			keys := map[string]bool{"CurrentTerm": true, "LastVoteCand": true}
			for k := range acked {
				keys[k] = true
			}
			if inflight != nil {
				keys[inflight.key] = true
			}
			for k := range keys {
				got, err := r.Get([]byte(k))
				if err != nil {
					t.Fatalf("round %d image %d: Get(%q): %v", round, img, k, err)
				}
				ok := bytes.Equal(got, acked[k]) && (got == nil) == (acked[k] == nil)
				if inflight != nil && inflight.key == k && bytes.Equal(got, inflight.val) && got != nil {
					ok = true
				}
				if !ok {
					t.Fatalf("round %d image %d: %q holds %d bytes %.16x; acknowledged %d bytes %.16x (in flight: %v)",
						round, img, k, len(got), got, len(acked[k]), acked[k], inflight != nil && inflight.key == k)
				}
			}
			// The store keeps working on the image.
			if err := r.Set([]byte("after"), []byte("crash")); err != nil {
				t.Fatalf("round %d image %d: Set after recovery: %v", round, img, err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			ifs.Close()
		}
		fs.Close()
	}
}

// FuzzStableFile decodes arbitrary stable files: Open's scan and every
// Get never panic, fail only with the documented errors, and allocate in
// proportion to the file.
func FuzzStableFile(f *testing.F) {
	// More seeds, made by a Store, are in testdata/fuzz/FuzzStableFile.
	f.Add(buildStableImage(0, []string{"k1", "k2"}, []string{"k1", "LastVoteCand"}))
	f.Add(buildStableImage(100, []string{"a"}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		img, err := loadStable(bytes.NewReader(data), int64(len(data)), "fuzz")
		runtime.ReadMemStats(&m1)
		if grew := m1.TotalAlloc - m0.TotalAlloc; grew > uint64(64*len(data))+1<<20 {
			t.Fatalf("decoding %d bytes allocated %d", len(data), grew)
		}
		if err != nil {
			if !errors.Is(err, journal.ErrCorrupt) && !errors.Is(err, journal.ErrForeign) && !errors.Is(err, journal.ErrVersion) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		live := int64(0)
		for k, e := range img.index {
			live += e.size()
			if e.off < stableHeaderSize || e.off+e.recLen() > img.end || int(e.klen) != len(k) {
				t.Fatalf("entry %q at %d+%d outside the records [%d, %d)", k, e.off, e.recLen(), stableHeaderSize, img.end)
			}
			b := data[e.off : e.off+e.recLen()]
			key, _, err := decodeRecord(b, img.id, e, "fuzz")
			if err != nil {
				if !errors.Is(err, journal.ErrCorrupt) {
					t.Fatalf("untyped error: %v", err)
				}
				continue
			}
			if string(key) != k {
				t.Fatalf("record of %q indexed as %q", key, k)
			}
		}
		if live != img.live {
			t.Fatalf("live %d, entries sum to %d", img.live, live)
		}
	})
}

// buildStableImage returns a stable file with base records for the keys
// of base (packed) and appended records for those of appended, and pad
// bytes of zeros beyond.
func buildStableImage(pad int, base, appended []string) []byte {
	const id = 0x1234
	var b []byte
	off := int64(stableHeaderSize)
	b = append(b, make([]byte, stableHeaderSize)...)
	seq := uint64(1)
	for _, k := range base {
		b = append(b, zeroPad[:align(off, 8)-off]...)
		off = align(off, 8)
		b = appendRecord(b, id, off, seq, []byte(k), []byte("v-"+k))
		off, seq = int64(len(b)), seq+1
	}
	copy(b, encodeStableHeader(id, uint64(len(base)), off))
	for _, k := range appended {
		next := align(off, stableSector)
		b = append(b, make([]byte, next-off)...)
		b = appendRecord(b, id, next, seq, []byte(k), []byte("value of "+k))
		off, seq = int64(len(b)), seq+1
	}
	return append(b, make([]byte, pad)...)
}

// stableFuzzSeeds returns real stable files: one made by a first Set, one
// after appends and overwrites, one after a rewrite, and one with a torn
// tail.
func stableFuzzSeeds(t testing.TB) [][]byte {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var end int64
	trim := func(b []byte) []byte {
		img, err := loadStable(bytes.NewReader(b), int64(len(b)), "seed")
		if err != nil {
			t.Fatal(err)
		}
		end = img.end
		return b[:align(img.end, stableSector)+stableSector]
	}
	var seeds [][]byte
	mustSet(t, s, "k1", []byte("v1"))
	seeds = append(seeds, trim(stableFileBytes(t, dir)))
	mustSet(t, s, "k2", []byte("value two"))
	mustSet(t, s, "k1", []byte("v1 again"))
	mustSet(t, s, "LastVoteCand", bytes.Repeat([]byte("x"), 1500))
	b := trim(stableFileBytes(t, dir))
	seeds = append(seeds, b)
	torn := bytes.Clone(b)
	torn[end-3] ^= 1
	seeds = append(seeds, torn)
	s.stable.wmu.Lock()
	err = s.stable.rewriteLocked([]byte("k3"), []byte("three"))
	s.stable.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "k4", []byte("four"))
	seeds = append(seeds, trim(stableFileBytes(t, dir)))
	return seeds
}

// TestStableFuzzSeedsDecode: the files a Store writes decode, with their
// keys; the fuzz corpus in testdata/fuzz/FuzzStableFile was made from
// them (and a torn variant, which must decode too).
func TestStableFuzzSeedsDecode(t *testing.T) {
	seeds := append(stableFuzzSeeds(t), buildStableImage(0, []string{"k1", "k2"}, []string{"k1", "LastVoteCand"}))
	for i, b := range seeds {
		img, err := loadStable(bytes.NewReader(b), int64(len(b)), "seed")
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if len(img.index) == 0 {
			t.Fatalf("seed %d: no keys", i)
		}
	}
}
