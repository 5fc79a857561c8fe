package tidwall

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, in := range []raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand},
		{Index: 7, Term: 3, Type: raft.LogConfiguration, Data: []byte("cfg"), Extensions: []byte("ext")},
		{Index: 9, Term: 1 << 40, Type: raft.LogNoop, Data: bytes.Repeat([]byte{0xAB}, 1000), AppendedAt: time.Unix(1700000000, 12345)},
	} {
		rec := appendLog(nil, &in)
		var out raft.Log
		if err := decodeLog(rec, in.Index, &out); err != nil {
			t.Fatalf("decode %+v: %v", in, err)
		}
		if out.Index != in.Index || out.Term != in.Term || out.Type != in.Type ||
			!bytes.Equal(out.Data, in.Data) || !bytes.Equal(out.Extensions, in.Extensions) || !out.AppendedAt.Equal(in.AppendedAt) {
			t.Fatalf("round trip: got %+v, want %+v", out, in)
		}
	}
}

func TestCodecRejectsShortRecords(t *testing.T) {
	full := appendLog(nil, &raft.Log{Term: 5, Type: raft.LogCommand, Extensions: []byte("abcdef"), Data: []byte("x")})
	for n := range 6 { // every cut inside the header or the extensions
		var out raft.Log
		if err := decodeLog(full[:n], 1, &out); err == nil {
			t.Errorf("decode of %d-byte prefix succeeded", n)
		}
	}
}
