package codec_test

import (
	"testing"

	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/journal"
)

// TestZeroAllocs asserts the package's allocation claims for the typical
// command: a typed append through the registry into a journal, a copying
// read into a reused value, a borrowed read, and iteration, allocate
// nothing, uncompressed and (outside the race detector, whose sync.Pool
// drops entries on purpose) lz4 compressed.
func TestZeroAllocs(t *testing.T) {
	if journal.DebugChecks {
		t.Skip("spooldebug build: the journal's debug checks allocate")
	}
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			if p.opts.Compression.Enabled && raceEnabled {
				t.Skip("sync.Pool drops Puts under -race")
			}
			j := openJournal(t, t.TempDir())
			defer j.Close()
			reg := newTestRegistry(t, p.opts)
			cmd := Put{Key: []byte("user/000042"), Value: payload(nil, 200, true), Meta: Meta{TTL: 3e9, Revision: 7, Flags: 1}}
			if _, err := codec.Append(j, reg, cmd); err != nil {
				t.Fatal(err)
			}
			var idx uint64
			if a := testing.AllocsPerRun(200, func() {
				var err error
				if idx, err = codec.Append(j, reg, cmd); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("Append: %v allocs per entry", a)
			}
			got := Put{Key: make([]byte, 0, 64), Value: make([]byte, 0, 256)}
			if a := testing.AllocsPerRun(200, func() {
				if err := codec.Read(j, reg, idx, &got); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("Read: %v allocs per entry", a)
			}
			if !putEqual(got, cmd) {
				t.Fatal("Read differs")
			}
			check := func(p *Put) error { return nil }
			if a := testing.AllocsPerRun(200, func() {
				if err := codec.ReadBorrowed(j, reg, idx, &got, check); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("ReadBorrowed: %v allocs per entry", a)
			}
			it := codec.Iter(j, reg, j.FirstIndex())
			defer it.Close()
			if a := testing.AllocsPerRun(100, func() {
				if !it.Next() {
					t.Fatal("iterator ended", it.Err())
				}
				if err := codec.DecodeCurrent(it, &got); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("Iterator: %v allocs per entry", a)
			}
		})
	}
}
