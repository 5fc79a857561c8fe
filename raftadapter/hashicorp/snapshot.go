package hashicorp

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/mmapio"
	"github.com/zeebo/xxh3"
)

// Snapshot file format (drawn in the package doc).
const (
	snapMagic       = "SPOOLSNP"
	snapEndMagic    = "SPOOLEND"
	snapVersion     = 1
	snapHeaderSize  = 16
	snapTrailerSize = 40
	snapExt         = ".snap"
	snapTmpExt      = ".snap.tmp"
	snapBadExt      = ".snap.corrupt"

	// maxSnapMeta bounds the metadata JSON read from a file (a raft
	// configuration of thousands of servers fits easily).
	maxSnapMeta = 16 << 20
	snapBufSize = 256 << 10
)

// ErrSnapshotCorrupt reports a snapshot file whose checksums do not match
// its contents (or that is not a complete snapshot file). Open sets such a
// file aside (renamed to <id>.snap.corrupt) so that List no longer offers
// it and raft falls back to the previous snapshot.
var ErrSnapshotCorrupt = errors.New("hashicorp: snapshot corrupt")

// ErrInvalidSnapshotID reports a snapshot ID that this store did not make
// (see SnapshotStore); no such ID is ever turned into a path.
var ErrInvalidSnapshotID = errors.New("hashicorp: invalid snapshot ID")

// SnapshotStore is a raft.SnapshotStore keeping each snapshot in one file,
// written as a stream (never held in memory), checksummed with xxh3, and
// published atomically: written to a temporary file, synced, renamed into
// place, directory synced. It keeps the newest Retain snapshots.
//
// Open verifies a snapshot's checksums before returning it, and verifies
// them again as the reader reaches its end; a snapshot found corrupt is set
// aside and not listed again, so raft, which tries the snapshots List
// returns newest first until one opens, falls back to the previous one.
//
// IDs are <term>-<index>-<unix milliseconds>, in decimal; Open refuses any
// other string, so an ID cannot name a path outside the directory.
//
// Every file operation goes through an mmapio.FS: the Store's
// Options.FS for Store.Snapshots, mmapio.OS for NewSnapshotStore.
type SnapshotStore struct {
	fs     mmapio.FS
	dir    string
	retain int
	logger hclog.Logger

	mu     sync.Mutex // serialises publication, reaping and ID choice
	lastMs int64      // last timestamp used in an ID
}

// NewSnapshotStore returns a SnapshotStore in dir (created if missing)
// keeping the newest retain snapshots (retain >= 1). It removes temporary
// files that a crash left behind. Store.Snapshots returns the one that Open
// creates beside the log; use NewSnapshotStore for a snapshot store of
// your own. Two SnapshotStores must not share a directory.
func NewSnapshotStore(dir string, retain int, logger hclog.Logger) (*SnapshotStore, error) {
	if retain < 1 {
		return nil, fmt.Errorf("%w: snapshot retain %d < 1", ErrInvalidArgument, retain)
	}
	return newSnapshotStore(mmapio.OS, dir, retain, logger)
}

func newSnapshotStore(fsys mmapio.FS, dir string, retain int, logger hclog.Logger) (*SnapshotStore, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("hashicorp: snapshot dir: %w", err)
	}
	if err := syncDir(fsys, filepath.Dir(dir)); err != nil {
		return nil, err
	}
	names, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("hashicorp: snapshot dir: %w", err)
	}
	removed := false
	for _, n := range names {
		if strings.HasSuffix(n, snapTmpExt) {
			if err := fsys.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("hashicorp: remove unfinished snapshot: %w", err)
			}
			removed = true
		}
	}
	if removed {
		if err := syncDir(fsys, dir); err != nil {
			return nil, err
		}
	}
	return &SnapshotStore{fs: fsys, dir: dir, retain: retain, logger: logger.Named("snapshot")}, nil
}

// Dir returns the snapshot directory.
func (s *SnapshotStore) Dir() string { return s.dir }

// snapID is a parsed snapshot ID.
type snapID struct {
	term, index uint64
	ms          int64
}

func (id snapID) String() string {
	return strconv.FormatUint(id.term, 10) + "-" + strconv.FormatUint(id.index, 10) + "-" + strconv.FormatInt(id.ms, 10)
}

func compareSnapID(a, b snapID) int {
	if c := cmp.Compare(a.term, b.term); c != 0 {
		return c
	}
	if c := cmp.Compare(a.index, b.index); c != 0 {
		return c
	}
	return cmp.Compare(a.ms, b.ms)
}

// parseSnapID accepts exactly the IDs this store makes: three decimal
// numbers without sign or leading zeros, joined by '-'.
func parseSnapID(s string) (snapID, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return snapID{}, false
	}
	var v [3]uint64
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != p {
			return snapID{}, false
		}
		v[i] = n
	}
	if v[2] > 1<<62 {
		return snapID{}, false
	}
	return snapID{term: v[0], index: v[1], ms: int64(v[2])}, true
}

// snapFileMeta is the metadata record of a snapshot file.
type snapFileMeta struct {
	raft.SnapshotMeta
}

// Create implements raft.SnapshotStore: it starts a snapshot, streamed to
// a temporary file by the returned sink's Write and published by its
// Close. trans may be nil; it is used only to encode the deprecated Peers
// field (for version 0 readers) as raft's own stores do.
func (s *SnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	if version < raft.SnapshotVersionMin || version > raft.SnapshotVersionMax {
		return nil, fmt.Errorf("%w: unsupported snapshot version %d", ErrInvalidArgument, version)
	}
	peers, err := encodePeers(configuration, trans)
	if err != nil {
		return nil, err
	}
	return s.create(raft.SnapshotMeta{
		Version:            version,
		Index:              index,
		Term:               term,
		Peers:              peers,
		Configuration:      configuration,
		ConfigurationIndex: configurationIndex,
	})
}

func (s *SnapshotStore) create(meta raft.SnapshotMeta) (*SnapshotSink, error) {
	s.mu.Lock()
	ms := max(time.Now().UnixMilli(), s.lastMs+1)
	var id snapID
	var f mmapio.File
	for {
		id = snapID{term: meta.Term, index: meta.Index, ms: ms}
		published, err := s.exists(filepath.Join(s.dir, id.String()+snapExt))
		if err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("hashicorp: create snapshot: %w", err)
		}
		if !published {
			f, err = s.fs.Create(filepath.Join(s.dir, id.String()+snapTmpExt))
			if err == nil {
				break
			}
			if !errors.Is(err, fs.ErrExist) {
				s.mu.Unlock()
				return nil, fmt.Errorf("hashicorp: create snapshot: %w", err)
			}
		}
		ms++
	}
	s.lastMs = ms
	s.mu.Unlock()
	meta.ID = id.String()
	k := &SnapshotSink{store: s, meta: meta, f: f, tmp: f.Name()}
	k.w = bufio.NewWriterSize(io.NewOffsetWriter(f, 0), snapBufSize)
	var hdr [snapHeaderSize]byte
	copy(hdr[:], snapMagic)
	binary.LittleEndian.PutUint16(hdr[8:], snapVersion)
	k.metaHash.Write(hdr[:])
	if _, err := k.w.Write(hdr[:]); err != nil {
		_ = k.Cancel()
		return nil, err
	}
	s.logger.Debug("creating snapshot", "id", meta.ID)
	return k, nil
}

// exists reports whether name is in the directory.
func (s *SnapshotStore) exists(name string) (bool, error) {
	f, err := s.fs.Open(name, false)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, f.Close()
}

// SnapshotSink is the raft.SnapshotSink of a SnapshotStore.
type SnapshotSink struct {
	store    *SnapshotStore
	meta     raft.SnapshotMeta
	f        mmapio.File
	tmp      string
	w        *bufio.Writer
	dataHash xxh3.Hasher
	metaHash xxh3.Hasher // header, metadata and trailer lengths
	size     int64
	done     bool
	err      error
}

// ID implements raft.SnapshotSink.
func (k *SnapshotSink) ID() string { return k.meta.ID }

// Write implements io.Writer: p is appended to the snapshot's data.
func (k *SnapshotSink) Write(p []byte) (int, error) {
	if k.done {
		return 0, fmt.Errorf("%w: write to a closed snapshot sink", ErrInvalidArgument)
	}
	if k.err != nil {
		return 0, k.err
	}
	n, err := k.w.Write(p)
	_, _ = k.dataHash.Write(p[:n])
	k.size += int64(n)
	if err != nil {
		k.err = err
	}
	return n, err
}

// Close publishes the snapshot: it writes the metadata and checksums,
// syncs the file, renames it into place, syncs the directory, and removes
// snapshots beyond the store's retain count. On error the snapshot is
// discarded.
func (k *SnapshotSink) Close() error {
	if k.done {
		return nil
	}
	if err := k.finish(); err != nil {
		_ = k.Cancel()
		return err
	}
	return k.store.reap()
}

func (k *SnapshotSink) finish() error {
	if k.err != nil {
		return k.err
	}
	k.done = true
	k.meta.Size = k.size
	mj, err := json.Marshal(snapFileMeta{k.meta})
	if err != nil {
		return fmt.Errorf("hashicorp: snapshot meta: %w", err)
	}
	var tr [snapTrailerSize]byte
	binary.LittleEndian.PutUint64(tr[0:], uint64(k.size))
	binary.LittleEndian.PutUint64(tr[8:], uint64(len(mj)))
	binary.LittleEndian.PutUint64(tr[16:], k.dataHash.Sum64())
	k.metaHash.Write(mj)
	k.metaHash.Write(tr[:24])
	binary.LittleEndian.PutUint64(tr[24:], k.metaHash.Sum64())
	copy(tr[32:], snapEndMagic)
	if _, err := k.w.Write(mj); err != nil {
		return err
	}
	if _, err := k.w.Write(tr[:]); err != nil {
		return err
	}
	if err := k.w.Flush(); err != nil {
		return err
	}
	// A failed directory sync (mmapio.ErrNotDurable) leaves the renamed
	// file, complete, which a crash may or may not keep.
	if err := mmapio.Publish(k.store.fs, k.f, filepath.Join(k.store.dir, k.meta.ID+snapExt), true); err != nil {
		return fmt.Errorf("hashicorp: publish snapshot: %w", err)
	}
	err = k.f.Close()
	k.f = nil
	if err != nil {
		return err
	}
	k.store.logger.Info("snapshot published", "id", k.meta.ID, "size", k.size)
	return nil
}

// Cancel implements raft.SnapshotSink: the snapshot is discarded.
func (k *SnapshotSink) Cancel() error {
	k.done = true
	var err error
	if k.f != nil {
		err = k.f.Close()
		k.f = nil
	}
	if rerr := k.store.fs.Remove(k.tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// List implements raft.SnapshotStore: the metadata of the newest (by term,
// index, then creation time) retained snapshots, newest first. Files whose
// metadata does not verify are set aside and left out. List does not read
// snapshot data; Open verifies it.
func (s *SnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	out := make([]*raft.SnapshotMeta, 0, min(len(ids), s.retain))
	for _, id := range ids {
		if len(out) == s.retain {
			break
		}
		f, meta, _, err := s.openFile(id)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // reaped meanwhile
			}
			if errors.Is(err, ErrSnapshotCorrupt) {
				s.setAside(id, err)
				continue
			}
			return nil, err
		}
		_ = f.Close()
		out = append(out, meta)
	}
	return out, nil
}

// ids returns the IDs of the published snapshots, newest first.
func (s *SnapshotStore) ids() ([]snapID, error) {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return nil, fmt.Errorf("hashicorp: list snapshots: %w", err)
	}
	var ids []snapID
	for _, n := range names {
		name, ok := strings.CutSuffix(n, snapExt)
		if !ok {
			continue
		}
		if id, ok := parseSnapID(name); ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b snapID) int { return compareSnapID(b, a) })
	return ids, nil
}

// Open implements raft.SnapshotStore. It verifies the snapshot's metadata
// and data checksums before returning, reading the data once; the returned
// reader checks the data checksum again as it reaches the end, and returns
// an error wrapping ErrSnapshotCorrupt instead of io.EOF if it no longer
// matches. A corrupt snapshot is set aside (see ErrSnapshotCorrupt).
func (s *SnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	sid, ok := parseSnapID(id)
	if !ok {
		return nil, nil, fmt.Errorf("%w %q", ErrInvalidSnapshotID, id)
	}
	f, meta, dataSum, err := s.openFile(sid)
	if err != nil {
		if errors.Is(err, ErrSnapshotCorrupt) {
			s.setAside(sid, err)
		}
		return nil, nil, err
	}
	if err := checkSnapData(f, meta.Size, dataSum, id); err != nil {
		_ = f.Close()
		if errors.Is(err, ErrSnapshotCorrupt) {
			s.setAside(sid, err)
		}
		return nil, nil, err
	}
	r := &snapReader{f: f, id: id, want: dataSum}
	r.r = bufio.NewReaderSize(io.NewSectionReader(f, snapHeaderSize, meta.Size), snapBufSize)
	return meta, r, nil
}

// openFile opens snapshot id and verifies its header, trailer and
// metadata (not its data).
func (s *SnapshotStore) openFile(id snapID) (mmapio.File, *raft.SnapshotMeta, uint64, error) {
	name := id.String()
	f, err := s.fs.Open(filepath.Join(s.dir, name+snapExt), false)
	if err != nil {
		return nil, nil, 0, err
	}
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return nil, nil, 0, err
	}
	meta, sum, err := readSnapMeta(f, size, name)
	if err != nil {
		_ = f.Close()
		return nil, nil, 0, err
	}
	return f, meta, sum, nil
}

// readSnapMeta decodes the header, trailer and metadata of the snapshot
// file id, of size bytes, read through f, and returns the metadata and the
// data checksum. Every length it reads is checked against size (and the
// metadata against maxSnapMeta) before use.
func readSnapMeta(f io.ReaderAt, size int64, id string) (*raft.SnapshotMeta, uint64, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrSnapshotCorrupt, id, fmt.Sprintf(format, args...))
	}
	if size < snapHeaderSize+snapTrailerSize {
		return nil, 0, corrupt("file of %d bytes", size)
	}
	var hdr [snapHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, 0, err
	}
	if string(hdr[:8]) != snapMagic {
		return nil, 0, corrupt("bad magic")
	}
	if v := binary.LittleEndian.Uint16(hdr[8:]); v != snapVersion {
		return nil, 0, corrupt("format version %d, this build reads %d", v, snapVersion)
	}
	var tr [snapTrailerSize]byte
	if _, err := f.ReadAt(tr[:], size-snapTrailerSize); err != nil {
		return nil, 0, err
	}
	if string(tr[32:]) != snapEndMagic {
		return nil, 0, corrupt("bad trailer magic")
	}
	dataLen := binary.LittleEndian.Uint64(tr[0:])
	metaLen := binary.LittleEndian.Uint64(tr[8:])
	room := uint64(size - snapHeaderSize - snapTrailerSize)
	if metaLen > maxSnapMeta || dataLen > room || metaLen != room-dataLen {
		return nil, 0, corrupt("lengths data %d + meta %d do not fit %d bytes", dataLen, metaLen, room)
	}
	mj := make([]byte, metaLen)
	if _, err := f.ReadAt(mj, snapHeaderSize+int64(dataLen)); err != nil {
		return nil, 0, err
	}
	var h xxh3.Hasher
	h.Write(hdr[:])
	h.Write(mj)
	h.Write(tr[:24])
	if h.Sum64() != binary.LittleEndian.Uint64(tr[24:]) {
		return nil, 0, corrupt("metadata checksum mismatch")
	}
	var m snapFileMeta
	if err := json.Unmarshal(mj, &m); err != nil {
		return nil, 0, corrupt("metadata: %v", err)
	}
	if m.ID != id || m.Size != int64(dataLen) {
		return nil, 0, corrupt("metadata names %q of %d bytes", m.ID, m.Size)
	}
	return &m.SnapshotMeta, binary.LittleEndian.Uint64(tr[16:]), nil
}

// checkSnapData reads the size bytes of data of snapshot id through f and
// compares their xxh3 with sum.
func checkSnapData(f io.ReaderAt, size int64, sum uint64, id string) error {
	buf := make([]byte, max(1, min(size, snapBufSize)))
	var h xxh3.Hasher
	if _, err := io.CopyBuffer(&h, io.NewSectionReader(f, snapHeaderSize, size), buf); err != nil {
		return fmt.Errorf("hashicorp: read snapshot %s: %w", id, err)
	}
	if h.Sum64() != sum {
		return fmt.Errorf("%w: %s: data checksum mismatch", ErrSnapshotCorrupt, id)
	}
	return nil
}

// setAside renames a corrupt snapshot so that it is no longer listed.
func (s *SnapshotStore) setAside(id snapID, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := id.String()
	s.logger.Error("snapshot corrupt, setting it aside", "id", name, "error", why)
	if err := s.fs.Rename(filepath.Join(s.dir, name+snapExt), filepath.Join(s.dir, name+snapBadExt)); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.logger.Error("cannot set corrupt snapshot aside", "id", name, "error", err)
		}
		return
	}
	_ = syncDir(s.fs, s.dir)
}

// reap removes published snapshots beyond the retain count, oldest first.
func (s *SnapshotStore) reap() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids, err := s.ids()
	if err != nil {
		return err
	}
	if len(ids) <= s.retain {
		return nil
	}
	for _, id := range ids[s.retain:] {
		if err := s.fs.Remove(filepath.Join(s.dir, id.String()+snapExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("hashicorp: reap snapshot: %w", err)
		}
		s.logger.Debug("reaped snapshot", "id", id.String())
	}
	return syncDir(s.fs, s.dir)
}

// snapReader reads a snapshot's data, checking its checksum at the end.
type snapReader struct {
	f    mmapio.File
	r    *bufio.Reader
	id   string
	h    xxh3.Hasher
	want uint64
	err  error
}

func (r *snapReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	_, _ = r.h.Write(p[:n])
	if err == io.EOF && r.h.Sum64() != r.want {
		err = fmt.Errorf("%w: %s: data changed while being read", ErrSnapshotCorrupt, r.id)
	}
	if err != nil {
		r.err = err
	}
	return n, err
}

// Close releases the file.
func (r *snapReader) Close() error { return r.f.Close() }

// encodePeers encodes the voters' addresses as raft's own snapshot stores
// do for the deprecated SnapshotMeta.Peers field: trans.EncodePeer per
// voter, as a msgpack array.
func encodePeers(configuration raft.Configuration, trans raft.Transport) ([]byte, error) {
	if trans == nil {
		return nil, nil
	}
	var peers [][]byte
	for _, srv := range configuration.Servers {
		if srv.Suffrage == raft.Voter {
			peers = append(peers, trans.EncodePeer(srv.ID, srv.Address))
		}
	}
	var out []byte
	hd := codec.MsgpackHandle{}
	hd.TimeNotBuiltin = true
	if err := codec.NewEncoderBytes(&out, &hd).Encode(peers); err != nil {
		return nil, fmt.Errorf("hashicorp: encode peers: %w", err)
	}
	return out, nil
}

// syncDir fsyncs a directory, making creations, renames and removals in
// it durable.
func syncDir(fsys mmapio.FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("hashicorp: sync dir %s: %w", dir, err)
	}
	return nil
}
