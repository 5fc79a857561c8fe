package etcd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/spoolhq/spool/internal/nettest"
	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/raftadapter/etcdwire"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Benchmarks, each with its comparison in the same run:
//
//	go test -run='^$' -bench=. -benchtime=1x ./raftadapter/etcd/   (memory, start-up)
//	go test -run='^$' -bench=SendMsgApp -benchmem ./raftadapter/etcd/
//
// SPOOL_ETCD_BENCH_ENTRIES (default 1000000) sets the entry count of the
// memory and start-up benchmarks; entries are 1 KiB.

func benchEntries() int {
	if v, err := strconv.Atoi(os.Getenv("SPOOL_ETCD_BENCH_ENTRIES")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

const benchEntrySize = 1024

// ---- memory: anonymous RSS with N entries retained ----

// memChild runs in a child process (see TestMain): it fills a Storage or a
// MemoryStorage with n entries of 1 KiB, starts a RawNode on it, and
// prints the process's anonymous RSS.
func memChild(kind string, n int, dir string) error {
	var st raft.Storage
	data := make([]byte, benchEntrySize)
	const batch = 4096
	switch kind {
	case "spool":
		s, err := Open(dir, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		ents := make([]*pb.Entry, batch)
		for i := range ents {
			ents[i] = &pb.Entry{Index: new(uint64(0)), Term: new(uint64(1)), Data: data}
		}
		for lo := 1; lo <= n; lo += batch {
			k := min(batch, n-lo+1)
			for i := range k {
				*ents[i].Index = uint64(lo + i)
			}
			if err := s.Save(hsOf(1, 1, uint64(lo+k-1)), ents[:k], nil, true); err != nil {
				return err
			}
		}
		st = s
	case "memory":
		ms := raft.NewMemoryStorage()
		ents := make([]*pb.Entry, 0, batch)
		for lo := 1; lo <= n; lo += batch {
			ents = ents[:0]
			for i := range min(batch, n-lo+1) {
				// Each retained entry owns its Data, as after a WAL
				// replay or a Ready.
				ents = append(ents, &pb.Entry{Index: new(uint64(lo + i)), Term: new(uint64(1)), Data: bytes.Clone(data)})
			}
			if err := ms.Append(ents); err != nil {
				return err
			}
		}
		if err := ms.SetHardState(hsOf(1, 1, uint64(n))); err != nil {
			return err
		}
		st = ms
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		Applied: uint64(n), MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256})
	if err != nil {
		return err
	}
	// Read a few entries back to show they are there.
	if ents, err := st.Entries(uint64(n/2), uint64(n/2+10), math.MaxUint64); err != nil || len(ents) != 10 {
		return fmt.Errorf("entries: %d %v", len(ents), err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	anon, err := rssAnonKiB()
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("RESULT anon_kib=%d heap_inuse_kib=%d\n", anon, ms.HeapInuse>>10)
	runtime.KeepAlive(rn)
	runtime.KeepAlive(st)
	return nil
}

func rssAnonKiB() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			return strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no RssAnon in /proc/self/status")
}

func runMemChild(b *testing.B, kind string, n int) (anonKiB, heapKiB int64) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SPOOL_ETCD_MEMCHILD="+kind, fmt.Sprintf("SPOOL_ETCD_BENCH_ENTRIES=%d", n),
		"SPOOL_ETCD_MEMCHILD_DIR="+b.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%s child: %v\n%s", kind, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			_, _ = fmt.Sscanf(rest, "anon_kib=%d heap_inuse_kib=%d", &anonKiB, &heapKiB)
			return
		}
	}
	b.Fatalf("%s child printed no result:\n%s", kind, out)
	return
}

// BenchmarkRetainedMemory compares the anonymous RSS of a process holding
// N entries of 1 KiB (no compaction) under a RawNode, with spool Storage
// and with MemoryStorage, each in its own process.
func BenchmarkRetainedMemory(b *testing.B) {
	if _, err := rssAnonKiB(); err != nil {
		b.Skip(err)
	}
	n := benchEntries()
	for range b.N {
		spool, spoolHeap := runMemChild(b, "spool", n)
		mem, memHeap := runMemChild(b, "memory", n)
		b.ReportMetric(float64(spool)/1024, "spool-anon-MiB")
		b.ReportMetric(float64(mem)/1024, "memory-anon-MiB")
		b.ReportMetric(100*float64(spool)/float64(mem), "spool/memory-%")
		b.Logf("%d entries of %d B: anonymous RSS spool %d KiB (heap %d KiB), MemoryStorage %d KiB (heap %d KiB): %.2f%%",
			n, benchEntrySize, spool, spoolHeap, mem, memHeap, 100*float64(spool)/float64(mem))
	}
}

// ---- start-up ----

var startupDir struct {
	once sync.Once
	dir  string
	n    int
	err  error
}

// startupLog builds (once per process) a Storage holding N entries of 1 KiB
// and closes it cleanly.
func startupLog(b *testing.B) (string, int) {
	startupDir.once.Do(func() {
		n := benchEntries()
		dir, err := os.MkdirTemp("", "spool-etcd-startup-")
		if err != nil {
			startupDir.err = err
			return
		}
		startupDir.dir, startupDir.n = dir, n
		s, err := Open(dir, nil)
		if err != nil {
			startupDir.err = err
			return
		}
		data := make([]byte, benchEntrySize)
		var ents []*pb.Entry
		for i := 1; i <= n; i++ {
			for k := range 8 {
				data[k] = byte(i >> (8 * k))
			}
			ents = append(ents, &pb.Entry{Index: new(uint64(i)), Term: new(uint64(1 + i/100000)), Data: bytes.Clone(data)})
			if len(ents) == 4096 || i == n {
				if err := s.Save(hsOf(uint64(1+i/100000), 1, uint64(i)), ents, nil, true); err != nil {
					startupDir.err = err
					return
				}
				ents = ents[:0]
			}
		}
		startupDir.err = s.Close()
	})
	if startupDir.err != nil {
		b.Fatal(startupDir.err)
	}
	return startupDir.dir, startupDir.n
}

// BenchmarkStartup measures what a restart costs before raft can run:
// opening spool Storage over N entries of 1 KiB (1 GiB by default), against
// rebuilding a MemoryStorage from the same entries. The rebuild reads the
// entries from spool's journal (page cache warm) and appends them; it
// stands in for etcd's wal.ReadAll replay, which also decodes records and
// checks CRCs, and is measured against spool in the bench/ module.
func BenchmarkStartup(b *testing.B) {
	dir, n := startupLog(b)
	b.Run("spool-open", func(b *testing.B) {
		for range b.N {
			s, err := Open(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
				MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256})
			if err != nil {
				b.Fatal(err)
			}
			_ = rn
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("memory-rebuild", func(b *testing.B) {
		for range b.N {
			j, err := journal.Open(dir, &journal.Options{Sync: journal.PageCache})
			if err != nil {
				b.Fatal(err)
			}
			ms := raft.NewMemoryStorage()
			it := j.Iter(j.FirstIndex())
			ents := make([]*pb.Entry, 0, 4096)
			for it.Next() {
				var e *pb.Entry
				if p, ok := it.Bytes(); ok {
					term, _, h, err := parseEntryHeader(p)
					if err != nil {
						b.Fatal(err)
					}
					e = &pb.Entry{Index: new(it.Index()), Term: new(term), Data: bytes.Clone(p[h:])}
				} else { // spans two segments
					r := it.Reader()
					term, _, err := readEntryHeader(r)
					if err != nil {
						b.Fatal(err)
					}
					data, err := io.ReadAll(r)
					if err != nil {
						b.Fatal(err)
					}
					e = &pb.Entry{Index: new(it.Index()), Term: new(term), Data: data}
				}
				ents = append(ents, e)
				if len(ents) == cap(ents) {
					if err := ms.Append(ents); err != nil {
						b.Fatal(err)
					}
					ents = ents[:0]
				}
			}
			if err := ms.Append(ents); err != nil {
				b.Fatal(err)
			}
			_ = it.Close()
			if last, _ := ms.LastIndex(); last != uint64(n) {
				b.Fatalf("rebuilt %d entries", last)
			}
			_ = j.Close()
		}
	})
}

// ---- the MsgApp send path ----

// BenchmarkSendMsgApp sends a MsgApp of 64 entries of 1 KiB or 16 KiB over loopback
// TCP, from storage to socket, in four ways: spool zero-copy entries and
// etcdwire.Writer (vectored write from the mapped pages), spool copying
// entries and proto.Marshal, spool zero-copy entries and proto.Marshal, and
// MemoryStorage entries and proto.Marshal. Custom metrics:
// payload-copies/B is user-space copies of each payload byte between the
// storage and the bytes handed to the kernel, measured by address (see
// countCopies) on a message sent the same way after the timed loop;
// allocs/entry is allocations per entry sent.
func BenchmarkSendMsgApp(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("entry=%dKiB", size>>10), func(b *testing.B) { benchSendMsgApp(b, size) })
	}
}

// recordingWriter keeps the slices written to it (by reference), as a
// kernel writev would receive them.
type recordingWriter struct{ pieces [][]byte }

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.pieces = append(w.pieces, p)
	return len(p), nil
}

func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.SliceData(a) == unsafe.SliceData(b))
}

func aliasesAny(p []byte, pieces [][]byte) bool {
	for _, q := range pieces {
		if overlap(p, uintptr(unsafe.Pointer(unsafe.SliceData(q))), uintptr(unsafe.Pointer(unsafe.SliceData(q)))+uintptr(len(q))) == len(p) {
			return true
		}
	}
	return false
}

// countCopies counts the user-space copies of the payload bytes of sent,
// whose bytes in storage are at stored: one where an entry's Data is not
// the stored bytes (Entries copied it), one more where no piece handed to
// the writer contains that Data (the encoder copied it into its buffer).
func countCopies(sent []*pb.Entry, stored [][]byte, pieces [][]byte) int64 {
	var n int64
	for i, e := range sent {
		if !sameBytes(e.Data, stored[i]) {
			n += int64(len(e.Data))
		}
		if !aliasesAny(e.Data, pieces) {
			n += int64(len(e.Data))
		}
	}
	return n
}

func benchSendMsgApp(b *testing.B, size int) {
	const entries = 64
	total := (64 << 20) / size
	src := entsOf(1, 1, total, size)
	ms := raft.NewMemoryStorage()
	if err := ms.Append(src); err != nil {
		b.Fatal(err)
	}
	msg := func(ents []*pb.Entry, lo uint64) *pb.Message {
		return &pb.Message{Type: new(pb.MsgApp), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(1)),
			LogTerm: new(uint64(1)), Index: new(lo - 1), Commit: new(lo), Entries: ents}
	}
	// A variant sends entries [lo, lo+entries) from s (or ms) to w and
	// returns the entries it sent; stored gives where their bytes lie in
	// the storage it reads.
	type variant struct {
		zeroCopy bool
		send     func(w io.Writer, s *Storage, lo uint64) ([]*pb.Entry, error)
		stored   func(s *Storage, lo uint64) ([][]byte, func())
	}
	spoolStored := func(s *Storage, lo uint64) ([][]byte, func()) {
		ents, pins, err := s.EntriesPinned(lo, lo+entries, math.MaxUint64)
		if err != nil {
			b.Fatal(err)
		}
		out := make([][]byte, len(ents))
		for i, e := range ents {
			out[i] = e.Data
		}
		return out, pins.Release
	}
	memStored := func(_ *Storage, lo uint64) ([][]byte, func()) {
		out := make([][]byte, entries)
		for i := range out {
			out[i] = src[int(lo)-1+i].Data // MemoryStorage holds the appended slices
		}
		return out, func() {}
	}
	run := func(b *testing.B, v variant) {
		s := openTest(b, b.TempDir(), &Options{JournalOptions: JournalOptions{SegmentSize: 64 << 20}, ZeroCopy: v.zeroCopy})
		if err := s.Append(src); err != nil {
			b.Fatal(err)
		}
		client, server := nettest.Loopback(b)
		go io.Copy(io.Discard, server)
		var before, after runtime.MemStats
		b.SetBytes(int64(entries * size))
		b.ReportAllocs()
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.ResetTimer()
		for i := range b.N {
			lo := uint64(1 + (i*entries)%(total-entries))
			if _, err := v.send(client, s, lo); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*entries), "allocs/entry")
		// The copies, measured on one more message sent the same way to
		// a writer that keeps the pieces it is handed.
		rec := &recordingWriter{}
		sent, err := v.send(rec, s, 1)
		if err != nil {
			b.Fatal(err)
		}
		stored, release := v.stored(s, 1)
		b.ReportMetric(float64(countCopies(sent, stored, rec.pieces))/float64(entries*size), "payload-copies/B")
		release()
		if p, _ := s.PinStats(); p != 0 {
			b.Fatalf("%d entries still pinned", p)
		}
	}
	b.Run("spool-zerocopy-writev", func(b *testing.B) {
		writers := map[io.Writer]*etcdwire.Writer{}
		run(b, variant{zeroCopy: true, stored: spoolStored, send: func(w io.Writer, s *Storage, lo uint64) ([]*pb.Entry, error) {
			mw := writers[w]
			if mw == nil {
				mw = etcdwire.NewWriter(w, s)
				writers[w] = mw
			}
			ents, err := s.Entries(lo, lo+entries, math.MaxUint64)
			if err != nil {
				return nil, err
			}
			return ents, mw.WriteMessage(msg(ents, lo)) // releases the pins
		}})
	})
	marshalSend := func(w io.Writer, m *pb.Message, buf *[]byte) error {
		out, err := proto.MarshalOptions{}.MarshalAppend((*buf)[:0], m)
		if err != nil {
			return err
		}
		*buf = out
		_, err = w.Write(out)
		return err
	}
	b.Run("spool-copy+proto.Marshal", func(b *testing.B) {
		var buf []byte
		run(b, variant{stored: spoolStored, send: func(w io.Writer, s *Storage, lo uint64) ([]*pb.Entry, error) {
			ents, err := s.Entries(lo, lo+entries, math.MaxUint64)
			if err != nil {
				return nil, err
			}
			return ents, marshalSend(w, msg(ents, lo), &buf)
		}})
	})
	b.Run("spool-zerocopy+proto.Marshal", func(b *testing.B) {
		var buf []byte
		run(b, variant{zeroCopy: true, stored: spoolStored, send: func(w io.Writer, s *Storage, lo uint64) ([]*pb.Entry, error) {
			ents, err := s.Entries(lo, lo+entries, math.MaxUint64)
			if err != nil {
				return nil, err
			}
			err = marshalSend(w, msg(ents, lo), &buf)
			s.Release(ents)
			return ents, err
		}})
	})
	b.Run("memory+proto.Marshal", func(b *testing.B) {
		var buf []byte
		run(b, variant{stored: memStored, send: func(w io.Writer, _ *Storage, lo uint64) ([]*pb.Entry, error) {
			ents, err := ms.Entries(lo, lo+entries, math.MaxUint64)
			if err != nil {
				return nil, err
			}
			return ents, marshalSend(w, msg(ents, lo), &buf)
		}})
	})
}

// BenchmarkTerm measures Term on stored entries (a mapped-page read) and on
// recently appended ones (the term cache).
func BenchmarkTerm(b *testing.B) {
	s := openTest(b, b.TempDir(), nil)
	if err := s.Append(entsOf(1, 1, 4096, 1024)); err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.Term(uint64(4096 - i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("journal", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.Term(uint64(1 + i%2000)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSaveReady measures persisting a Ready of 64 entries of 1 KiB
// (one journal sync).
func BenchmarkSaveReady(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			s := openTest(b, b.TempDir(), &Options{JournalOptions: JournalOptions{SegmentSize: 64 << 20}})
			data := make([]byte, 1024)
			ents := make([]*pb.Entry, 64)
			for i := range ents {
				ents[i] = &pb.Entry{Index: new(uint64(0)), Term: new(uint64(1)), Data: data}
			}
			b.SetBytes(64 * 1024)
			b.ReportAllocs()
			next := uint64(1)
			start := time.Now()
			for range b.N {
				for _, e := range ents {
					*e.Index = next
					next++
				}
				if err := s.Save(hsOf(1, 1, next-1), ents, nil, sync); err != nil {
					b.Fatal(err)
				}
			}
			_ = start
		})
	}
}
