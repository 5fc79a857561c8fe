package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
)

func openJournal(t testing.TB, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, &journal.Options{Sync: journal.PageCache, SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestJournalMixedPolicies appends under one compression policy, reopens
// the journal under another, twice, and replays every entry: compressed and
// uncompressed entries of several types live side by side, and entries
// larger than a segment span segments in both forms.
func TestJournalMixedPolicies(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	type rec struct {
		put        *Put
		str        string
		compressed bool
	}
	var want []rec
	phases := []codec.Options{
		{},
		{Compression: codec.Compression{Enabled: true}},
		{Compression: codec.Compression{Enabled: true, MinSize: 500}},
	}
	for pi, opts := range phases {
		j := openJournal(t, dir)
		reg := newTestRegistry(t, opts)
		for i := 0; i < 40; i++ {
			var idx uint64
			var err error
			var r rec
			if i%4 == 3 {
				r.str = fmt.Sprintf("phase %d entry %d %s", pi, i, bytes.Repeat([]byte("x"), rng.IntN(2000)))
				idx, err = codec.Append(j, reg, r.str)
				r.compressed = opts.Compression.Enabled && int64(len(r.str)) >= opts.Compression.MinSize
			} else {
				p := randomPut(rng)
				if i == 10 {
					p.Value = payload(rng, 3<<20, true) // spans segments (1 MiB)
				}
				r.put = &p
				idx, err = codec.Append(j, reg, p)
				r.compressed = opts.Compression.Enabled && int64(PutCodec{}.Size(p)) >= opts.Compression.MinSize
			}
			if err != nil {
				t.Fatal(err)
			}
			if idx != uint64(len(want)+1) {
				t.Fatalf("index %d, want %d", idx, len(want)+1)
			}
			want = append(want, r)
		}
		must(t, j.Close())
	}

	// Replay with yet another policy: it does not matter for reading.
	j := openJournal(t, dir)
	defer j.Close()
	reg := newTestRegistry(t, codec.Options{})
	it := codec.Iter(j, reg, 1)
	defer it.Close()
	n, compressed := 0, 0
	for it.Next() {
		w := want[it.Index()-1]
		h := it.Header()
		if h.Compressed != w.compressed {
			t.Fatalf("entry %d: compressed %v, want %v", it.Index(), h.Compressed, w.compressed)
		}
		if h.Compressed {
			compressed++
		}
		if w.put != nil {
			var p Put
			must(t, codec.DecodeCurrent(it, &p))
			if !putEqual(p, *w.put) {
				t.Fatalf("entry %d differs", it.Index())
			}
		} else {
			var s string
			must(t, codec.DecodeCurrentBorrowed(it, &s))
			if s != w.str {
				t.Fatalf("entry %d: %.40q, want %.40q", it.Index(), s, w.str)
			}
		}
		n++
	}
	must(t, it.Err())
	if n != len(want) || compressed == 0 || compressed == n {
		t.Fatalf("replayed %d of %d entries, %d compressed", n, len(want), compressed)
	}

	// Random access by index, copying and borrowing.
	for idx := uint64(1); idx <= uint64(len(want)); idx++ {
		w := want[idx-1]
		if w.put == nil {
			var s string
			must(t, codec.Read(j, reg, idx, &s))
			if s != w.str {
				t.Fatalf("Read %d differs", idx)
			}
			continue
		}
		var p Put
		must(t, codec.ReadBorrowed(j, reg, idx, &p, func(p *Put) error {
			if !putEqual(*p, *w.put) {
				return fmt.Errorf("ReadBorrowed %d differs", idx)
			}
			return nil
		}))
	}
}

// TestJournalErrors: replay errors name the index and wrap the sentinels.
func TestJournalErrors(t *testing.T) {
	j := openJournal(t, t.TempDir())
	defer j.Close()
	full := newTestRegistry(t, codec.Options{})
	if _, err := codec.Append(j, full, Put{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	// A registry that knows strings only: the Put's id 1 is unknown.
	strs := codec.NewRegistry(nil)
	must(t, codec.Register(strs, 3, codec.String{}))
	var s string
	err := codec.Read(j, strs, 1, &s)
	if !errors.Is(err, codec.ErrUnknownType) || err.Error() != "codec: unknown type id 1 at index 1" {
		t.Fatalf("got %v", err)
	}
	it := codec.Iter(j, strs, 1)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	if _, err := it.Any(); !errors.Is(err, codec.ErrUnknownType) || err.Error() != "codec: unknown type id 1 at index 1" {
		t.Fatalf("Any: %v", err)
	}
	must(t, it.Close())
	// A known type read as another.
	if err := codec.Read(j, full, 1, &s); !errors.Is(err, codec.ErrTypeMismatch) {
		t.Fatalf("got %v, want ErrTypeMismatch", err)
	}
	// A type that is not registered at all, on append and read.
	if _, err := codec.Append(j, strs, 42); !errors.Is(err, codec.ErrNotRegistered) {
		t.Fatalf("got %v, want ErrNotRegistered", err)
	}
	if j.LastIndex() != 1 {
		t.Fatalf("failed append left entries: last %d", j.LastIndex())
	}
	// A raw entry that is no envelope.
	idx, _ := j.AppendBytes([]byte{0x70, 1, 1})
	err = codec.Read(j, full, idx, &s)
	if !errors.Is(err, codec.ErrEnvelope) {
		t.Fatalf("got %v, want ErrEnvelope", err)
	}
	var ce *codec.Error
	if !errors.As(err, &ce) || ce.Index != idx {
		t.Fatalf("error %v does not name index %d", err, idx)
	}
	// A codec error aborts the append: nothing is written.
	must(t, codec.Register(full, 20, failing{}))
	if _, err := codec.Append(j, full, failing{}); err == nil || j.LastIndex() != idx {
		t.Fatalf("failing encode: %v, last %d", err, j.LastIndex())
	}
	// Batches: typed entries become visible together.
	first, last, err := j.AppendBatch(func(b *journal.Batch) error {
		for i := 0; i < 3; i++ {
			if _, err := codec.AppendBatch(b, full, fmt.Sprint(i)); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, err)
	for i := first; i <= last; i++ {
		must(t, codec.Read(j, full, i, &s))
		if s != fmt.Sprint(i-first) {
			t.Fatalf("batch entry %d = %q", i, s)
		}
	}
	// Any decodes whatever type is there.
	v, h, err := full.DecodeAny(stream.NewReader(nil, mustBytes(t, j, first), -1))
	if err != nil || v != "0" || h.TypeID != 3 {
		t.Fatalf("DecodeAny: %v %v %v", v, h, err)
	}
}

func mustBytes(t *testing.T, j *journal.Journal, idx uint64) []byte {
	b, err := j.ReadBytes(idx, nil)
	must(t, err)
	return b
}

type failing struct{}

func (failing) Version() uint32 { return 1 }
func (failing) Encode(w *stream.Writer, _ failing) error {
	w.PutString("partial")
	return errors.New("refused")
}
func (failing) Decode(*stream.Reader, uint32, *failing) error { return nil }
