package hashicorp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/zeebo/xxh3"
)

var testConfig = raft.Configuration{Servers: []raft.Server{
	{Suffrage: raft.Voter, ID: "a", Address: "addr-a"},
	{Suffrage: raft.Nonvoter, ID: "b", Address: "addr-b"},
}}

func testSnapStore(t testing.TB, retain int) *SnapshotStore {
	t.Helper()
	s, err := NewSnapshotStore(t.TempDir(), retain, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func snapData(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// writeSnap writes a snapshot of data in uneven chunks and publishes it.
func writeSnap(t testing.TB, s raft.SnapshotStore, index, term uint64, data []byte) string {
	t.Helper()
	// raft's FileSnapshotStore needs a transport to encode peers.
	_, trans := raft.NewInmemTransport("addr-a")
	defer trans.Close()
	sink, err := s.Create(raft.SnapshotVersionMax, index, term, testConfig, index-1, trans)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(len(p), 1+len(p)%7919)
		if _, err := sink.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

func readSnap(t testing.TB, s raft.SnapshotStore, id string) (*raft.SnapshotMeta, []byte, error) {
	t.Helper()
	meta, rc, err := s.Open(id)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return meta, b, err
}

func TestSnapshotCreateListOpen(t *testing.T) {
	s := testSnapStore(t, 3)
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Fatalf("List of an empty store: %v, %v", l, err)
	}
	data := snapData(1, 300_000)
	id := writeSnap(t, s, 100, 3, data)
	list, err := s.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v, %v", list, err)
	}
	m := list[0]
	if m.ID != id || m.Index != 100 || m.Term != 3 || m.Size != int64(len(data)) || m.ConfigurationIndex != 99 ||
		m.Version != raft.SnapshotVersionMax || len(m.Configuration.Servers) != 2 || m.Configuration.Servers[1] != testConfig.Servers[1] {
		t.Fatalf("meta %+v", m)
	}
	meta, got, err := readSnap(t, s, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) || meta.ID != id || meta.Size != int64(len(data)) {
		t.Fatalf("read back %d bytes (meta %+v), want %d", len(got), meta, len(data))
	}
	// An empty snapshot.
	id0 := writeSnap(t, s, 101, 3, nil)
	if _, got, err := readSnap(t, s, id0); err != nil || len(got) != 0 {
		t.Fatalf("empty snapshot: %d bytes, %v", len(got), err)
	}
}

// TestSnapshotRetention: the newest retain snapshots are kept, ordered by
// term, then index, newest first.
func TestSnapshotRetention(t *testing.T) {
	s := testSnapStore(t, 2)
	var ids []string
	for i, ti := range [][2]uint64{{10, 1}, {20, 1}, {15, 2}, {30, 2}, {30, 2}} {
		ids = append(ids, writeSnap(t, s, ti[0], ti[1], snapData(uint64(i), 1000)))
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != ids[4] || list[1].ID != ids[3] {
		t.Fatalf("List: %v %v, want %v %v", list[0].ID, list[1].ID, ids[4], ids[3])
	}
	names, _ := filepath.Glob(filepath.Join(s.Dir(), "*"))
	if len(names) != 2 {
		t.Fatalf("files: %v", names)
	}
}

func TestSnapshotCancel(t *testing.T) {
	s := testSnapStore(t, 2)
	sink, err := s.Create(1, 5, 1, testConfig, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := sink.Cancel(); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.List(); len(l) != 0 {
		t.Fatalf("canceled snapshot listed: %v", l)
	}
	if names, _ := filepath.Glob(filepath.Join(s.Dir(), "*")); len(names) != 0 {
		t.Fatalf("files left: %v", names)
	}
	if _, err := sink.Write([]byte("x")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal("Write after Cancel succeeded")
	}
}

// TestSnapshotUnfinishedRemoved: a temporary file left by a crash is
// removed when the store is opened and never listed.
func TestSnapshotUnfinishedRemoved(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSnapshotStore(dir, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := s.Create(1, 5, 1, testConfig, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sink.Write([]byte("never closed"))
	if l, _ := s.List(); len(l) != 0 {
		t.Fatalf("unfinished snapshot listed: %v", l)
	}
	// "Crash" and reopen.
	if _, err := NewSnapshotStore(dir, 2, nil); err != nil {
		t.Fatal(err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 0 {
		t.Fatalf("files left: %v", names)
	}
	_ = sink.Cancel()
}

func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if off < 0 {
		st, _ := f.Stat()
		off += st.Size()
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotCorruptFallsBack: a flipped byte in the data, the metadata or
// the trailer of the newest snapshot makes Open fail (with
// ErrSnapshotCorrupt) and sets the file aside; List then offers the
// previous snapshot.
func TestSnapshotCorruptFallsBack(t *testing.T) {
	for _, where := range []struct {
		name string
		off  int64
	}{{"data", snapHeaderSize + 1000}, {"header", 3}, {"meta", -snapTrailerSize - 5}, {"trailer", -snapTrailerSize + 2}, {"checksum", -16}} {
		t.Run(where.name, func(t *testing.T) {
			s := testSnapStore(t, 3)
			old := writeSnap(t, s, 10, 1, snapData(1, 5000))
			newest := writeSnap(t, s, 20, 1, snapData(2, 5000))
			path := filepath.Join(s.Dir(), newest+snapExt)
			flipByte(t, path, where.off)
			if _, _, err := s.Open(newest); !errors.Is(err, ErrSnapshotCorrupt) {
				t.Fatalf("Open of a corrupt snapshot: %v", err)
			}
			list, err := s.List()
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].ID != old {
				t.Fatalf("List after corruption: %v", list)
			}
			if _, err := os.Stat(filepath.Join(s.Dir(), newest+snapBadExt)); err != nil {
				t.Fatalf("corrupt snapshot not set aside: %v", err)
			}
			if _, got, err := readSnap(t, s, old); err != nil || !bytes.Equal(got, snapData(1, 5000)) {
				t.Fatalf("previous snapshot: %v", err)
			}
		})
	}
}

// TestSnapshotChangedWhileRead: damage after Open's verification is caught
// at the end of the stream.
func TestSnapshotChangedWhileRead(t *testing.T) {
	s := testSnapStore(t, 2)
	id := writeSnap(t, s, 10, 1, snapData(1, 1<<20))
	_, rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	flipByte(t, filepath.Join(s.Dir(), id+snapExt), snapHeaderSize+900_000)
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("read of a snapshot changed under the reader: %v", err)
	}
}

// TestSnapshotIDValidation: Open accepts only IDs the store makes, so no
// name from outside reaches another path.
func TestSnapshotIDValidation(t *testing.T) {
	s := testSnapStore(t, 2)
	id := writeSnap(t, s, 10, 1, []byte("data"))
	outside := filepath.Join(filepath.Dir(s.Dir()), "1-2-3.snap")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "..", "../1-2-3", "1-2-3/../../x", "/etc/passwd", "1-2", "1-2-3-4", "01-2-3", "+1-2-3", "1-2-3.snap",
		"a-b-c", "1-2-99999999999999999999", id + "/", "1-2-3\x00", filepath.Join("..", filepath.Base(s.Dir()), id)} {
		if _, _, err := s.Open(bad); !errors.Is(err, ErrInvalidSnapshotID) {
			t.Errorf("Open(%q): %v, want an invalid-ID error", bad, err)
		}
	}
	if _, _, err := s.Open(id); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotStreams: a snapshot much larger than the store's buffers is
// written and read without the store holding it in memory.
func TestSnapshotStreams(t *testing.T) {
	s := testSnapStore(t, 1)
	const size = 64 << 20
	chunk := snapData(3, 1<<20)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	sink, err := s.Create(1, 1000, 2, testConfig, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range size / len(chunk) {
		if _, err := sink.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	meta, rc, err := s.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100_000)
	var n int64
	for {
		k, err := rc.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = rc.Close()
	runtime.ReadMemStats(&ms)
	if n != size || meta.Size != size {
		t.Fatalf("read %d bytes, meta %d, want %d", n, meta.Size, size)
	}
	if alloc := ms.TotalAlloc - before; alloc > 8<<20 {
		t.Fatalf("allocated %d bytes for a %d-byte snapshot", alloc, size)
	}
}

// TestSnapshotPeers: version 0 readers get the Peers field, encoded as
// raft's stores do.
func TestSnapshotPeers(t *testing.T) {
	s := testSnapStore(t, 2)
	_, trans := raft.NewInmemTransport("addr-a")
	defer trans.Close()
	sink, err := s.Create(raft.SnapshotVersionMin, 10, 1, testConfig, 9, trans)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List()
	if len(list) != 1 || len(list[0].Peers) == 0 || !bytes.Contains(list[0].Peers, []byte("addr-a")) || bytes.Contains(list[0].Peers, []byte("addr-b")) {
		t.Fatalf("peers %q", list[0].Peers)
	}
	if _, err := s.Create(raft.SnapshotVersionMax+1, 10, 1, testConfig, 9, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal("unsupported version accepted")
	}
}

// fuzzSnapID is the ID of the snapshot files FuzzSnapshotFile decodes.
const fuzzSnapID = "7-100-4102444800000"

// snapFileBytes returns the file a SnapshotStore writes for data, with
// the ID fuzzSnapID.
func snapFileBytes(t testing.TB, data []byte, trans raft.Transport) []byte {
	t.Helper()
	s := testSnapStore(t, 1)
	s.lastMs = 4102444800000 - 1 // the next ID ends in 4102444800000
	var version raft.SnapshotVersion = raft.SnapshotVersionMax
	if trans != nil {
		version = raft.SnapshotVersionMin
	}
	sink, err := s.Create(version, 100, 7, testConfig, 99, trans)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if sink.ID() != fuzzSnapID {
		t.Fatalf("snapshot ID %s, want %s", sink.ID(), fuzzSnapID)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir(), fuzzSnapID+snapExt))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openSnapBytes decodes a snapshot file held in memory as Open does:
// header, trailer and metadata, then the data checksum.
func openSnapBytes(b []byte) (*raft.SnapshotMeta, error) {
	r := bytes.NewReader(b)
	meta, sum, err := readSnapMeta(r, int64(len(b)), fuzzSnapID)
	if err != nil {
		return nil, err
	}
	if err := checkSnapData(r, meta.Size, sum, fuzzSnapID); err != nil {
		return nil, err
	}
	return meta, nil
}

// TestSnapshotEveryByte: flipping any bit pattern in any byte of a
// snapshot file, or cutting the file at any length, is reported as
// ErrSnapshotCorrupt: every byte is covered by a checksum or a magic.
func TestSnapshotEveryByte(t *testing.T) {
	good := snapFileBytes(t, snapData(5, 300), nil)
	if meta, err := openSnapBytes(good); err != nil || meta.Size != 300 || meta.Index != 100 || meta.Term != 7 {
		t.Fatalf("intact file: %+v, %v", meta, err)
	}
	for off := range good {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[off] ^= mask
			if _, err := openSnapBytes(b); !errors.Is(err, ErrSnapshotCorrupt) {
				t.Fatalf("byte %d ^ %#x: %v, want ErrSnapshotCorrupt", off, mask, err)
			}
		}
	}
	for n := range len(good) {
		if _, err := openSnapBytes(good[:n]); !errors.Is(err, ErrSnapshotCorrupt) {
			t.Fatalf("file cut at %d of %d bytes: %v, want ErrSnapshotCorrupt", n, len(good), err)
		}
	}
	// The same through the store, on disk.
	s := testSnapStore(t, 2)
	if err := os.WriteFile(filepath.Join(s.Dir(), fuzzSnapID+snapExt), good[:len(good)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(fuzzSnapID); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("Open of a cut file: %v", err)
	}
}

// FuzzSnapshotFile: no file content makes the snapshot decoder panic or
// read out of range (it checks every length against the file's size before
// using it); every rejection wraps ErrSnapshotCorrupt; a file it accepts
// has lengths that fit its size.
func FuzzSnapshotFile(f *testing.F) {
	f.Add(snapFileBytes(f, nil, nil))
	f.Add(snapFileBytes(f, []byte("some snapshot data"), nil))
	_, trans := raft.NewInmemTransport("addr-a")
	f.Add(snapFileBytes(f, snapData(9, 100), trans))
	_ = trans.Close()
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSnapBytes(t, b)
		// Checksums stop almost every mutation at the first check; the
		// same bytes with their checksums recomputed reach the length
		// checks and the metadata decoder.
		checkSnapBytes(t, resealSnap(b))
	})
}

// resealSnap returns b with the checksums in its trailer recomputed, as
// far as its lengths allow.
func resealSnap(b []byte) []byte {
	if len(b) < snapHeaderSize+snapTrailerSize {
		return b
	}
	b = bytes.Clone(b)
	tr := b[len(b)-snapTrailerSize:]
	dataLen := binary.LittleEndian.Uint64(tr[0:])
	room := uint64(len(b) - snapHeaderSize - snapTrailerSize)
	if dataLen > room {
		return b
	}
	binary.LittleEndian.PutUint64(tr[16:], xxh3.Hash(b[snapHeaderSize:snapHeaderSize+dataLen]))
	var h xxh3.Hasher
	h.Write(b[:snapHeaderSize])
	h.Write(b[snapHeaderSize+dataLen : len(b)-snapTrailerSize])
	h.Write(tr[:24])
	binary.LittleEndian.PutUint64(tr[24:], h.Sum64())
	return b
}

// checkSnapBytes decodes b and checks what the decoder says about it.
func checkSnapBytes(t *testing.T, b []byte) {
	meta, err := openSnapBytes(b)
	if err != nil {
		if !errors.Is(err, ErrSnapshotCorrupt) {
			t.Fatalf("error not wrapping ErrSnapshotCorrupt: %v", err)
		}
		return
	}
	if meta.ID != fuzzSnapID || meta.Size < 0 || meta.Size > int64(len(b))-snapHeaderSize-snapTrailerSize {
		t.Fatalf("accepted meta %+v for a file of %d bytes", meta, len(b))
	}
}
