package etcd

import (
	"bytes"
	"io"
	"math"
	"runtime"
	"testing"
	"unsafe"

	"github.com/spoolhq/spool/raftadapter/etcdwire"
)

// The receiving side of replication: a follower reads a MsgApp frame,
// decodes it for Node.Step and appends its entries to its journal. The
// test below pins down the copies on that path: the frame is read into one
// buffer of its own (for frames larger than the etcdwire.Reader's 16 KiB
// buffer, straight from the connection into it), entry Data aliases that
// buffer (decoding copies no payload byte), and appending copies each
// payload byte once, from the frame into the mapped segment, with no
// intermediate buffer. The decoder's own allocation and hostile-length
// tests are etcdwire's.

// readerBuffer is the read-ahead buffer of an etcdwire.Reader (16 KiB,
// unexported there): at most that much of a frame passes through it.
const readerBuffer = 16 << 10

// recordingReader records the slices its Read calls fill.
type recordingReader struct {
	r     io.Reader
	reads [][]byte
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.reads = append(r.reads, p[:n])
	return n, err
}

// overlap returns the number of bytes of p within [lo, hi).
func overlap(p []byte, lo, hi uintptr) int {
	if len(p) == 0 {
		return 0
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	b := a + uintptr(len(p))
	if a < lo {
		a = lo
	}
	if b > hi {
		b = hi
	}
	if b <= a {
		return 0
	}
	return int(b - a)
}

// TestReceiveMsgAppCopies checks the copies of the receive path for a
// large MsgApp (64 entries of 4 KiB) and a small one.
func TestReceiveMsgAppCopies(t *testing.T) {
	for _, c := range []struct {
		name       string
		n, size    int
		directRead bool // the frame is larger than the reader's buffer
	}{
		{"large", 64, 4 << 10, true},
		{"small", 8, 100, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			leader := openTest(t, t.TempDir(), &Options{JournalOptions: JournalOptions{SegmentSize: 4 << 20}, ZeroCopy: true})
			ents := entsOf(1, 1, c.n, c.size)
			if err := leader.Append(ents); err != nil {
				t.Fatal(err)
			}
			var wire bytes.Buffer
			mw := etcdwire.NewWriter(&wire, leader)
			if err := mw.WriteMessage(msgApp(t, leader, 1, uint64(c.n)+1)); err != nil {
				t.Fatal(err)
			}
			frameLen := wire.Len()

			// Read: the frame lands in one buffer; Data aliases it.
			rec := &recordingReader{r: bytes.NewReader(wire.Bytes())}
			m, err := etcdwire.NewReader(rec).ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			var lo, hi uintptr = math.MaxUint, 0
			for i, e := range m.Entries {
				if !bytes.Equal(e.Data, ents[i].Data) {
					t.Fatalf("entry %d: data differs", i)
				}
				p := uintptr(unsafe.Pointer(unsafe.SliceData(e.Data)))
				lo, hi = min(lo, p), max(hi, p+uintptr(len(e.Data)))
			}
			if span := int(hi - lo); span >= frameLen {
				t.Fatalf("entry data spans %d bytes, more than the %d-byte frame: not one buffer", span, frameLen)
			}
			// Bytes of the entries' region that the connection's reads
			// wrote in place (the rest came through the reader's buffer).
			direct := 0
			for _, p := range rec.reads {
				direct += overlap(p, lo, hi)
			}
			payload := c.n * c.size
			if c.directRead && direct < payload-readerBuffer {
				t.Fatalf("%d of %d payload bytes read straight into the frame buffer", direct, payload)
			}
			t.Logf("frame %d bytes: %d payload bytes read from the connection straight into the message buffer, %d through the reader's buffer",
				frameLen, direct, payload-direct)

			// Append: one copy, from the frame into the mapped segment;
			// no allocation proportional to the payload.
			follower := openTest(t, t.TempDir(), &Options{JournalOptions: JournalOptions{SegmentSize: 4 << 20}})
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			if err := follower.Save(hsOf(1, 1, 0), m.Entries, nil, true); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&ms1)
			allocated := ms1.TotalAlloc - ms0.TotalAlloc
			if allocated >= uint64(payload)/4 && allocated > 16<<10 {
				t.Fatalf("appending %d payload bytes allocated %d bytes", payload, allocated)
			}
			t.Logf("appending %d entries (%d payload bytes) allocated %d bytes in %d allocations",
				c.n, payload, allocated, ms1.Mallocs-ms0.Mallocs)
			got, err := follower.Entries(1, uint64(c.n)+1, math.MaxUint64)
			if err != nil {
				t.Fatal(err)
			}
			requireEntries(t, ents, got)
		})
	}
}
