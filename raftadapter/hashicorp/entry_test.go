package hashicorp

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/stream"
)

func newBytesReader(p []byte) *stream.Reader { return stream.NewReader(nil, p, int64(len(p))) }

// encodeBytes encodes l as StoreLogs would, into a plain slice.
func encodeBytes(l *raft.Log, commit uint64) []byte {
	buf := make([]byte, maxEntryHeader+2*binaryMaxVarint+len(l.Data)+len(l.Extensions))
	w := stream.NewWriter(nil, buf)
	e := entryEncoder{log: l, commit: commit}
	if err := e.write(w); err != nil {
		panic(err)
	}
	out, err := w.Detach()
	if err != nil {
		panic(err)
	}
	return out
}

const binaryMaxVarint = 10

// TestEntryRoundTrip encodes random entries and decodes them back.
func TestEntryRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		l := &raft.Log{Index: uint64(i + 1), Term: rng.Uint64() >> rng.IntN(64), Type: raft.LogType(rng.IntN(256))}
		if rng.IntN(2) == 0 {
			l.Data = make([]byte, rng.IntN(300))
			for j := range l.Data {
				l.Data[j] = byte(rng.Uint32())
			}
		}
		if rng.IntN(3) == 0 {
			l.Extensions = []byte("ext" + string(rune('a'+rng.IntN(26))))
		}
		switch rng.IntN(4) {
		case 0:
		case 1:
			l.AppendedAt = time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9))
		case 2:
			l.AppendedAt = time.Now()
		case 3:
			l.AppendedAt = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)
		}
		commit := uint64(0)
		if rng.IntN(2) == 0 {
			commit = rng.Uint64() >> rng.IntN(64)
		}
		p := encodeBytes(l, commit)
		var got raft.Log
		c, err := decodeInto(newBytesReader(p), &got)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		got.Index = l.Index
		if err := sameLog(&got, l); err != nil {
			t.Fatal(err)
		}
		if c != commit {
			t.Fatalf("commit %d, want %d", c, commit)
		}
		// Every strict prefix of an entry with Extensions fails or
		// yields a shorter entry; none panics.
		for n := range len(p) {
			var g raft.Log
			_, _ = decodeInto(newBytesReader(p[:n]), &g)
		}
	}
}

// TestEntryHeaderSize documents the header cost of a typical command.
func TestEntryHeaderSize(t *testing.T) {
	l := &raft.Log{Index: 1_000_000, Term: 42, Type: raft.LogCommand, Data: bytes.Repeat([]byte{'x'}, 100), AppendedAt: time.Now()}
	n := len(encodeBytes(l, 999_990)) - len(l.Data)
	if n > 18 {
		t.Fatalf("header of %d bytes", n)
	}
	t.Logf("header: %d bytes with AppendedAt and a commit index", n)
}
