package codec_test

import (
	"testing"
	"time"

	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/stream"
)

// Schema evolution, as the README shows it: version 1 of a command wrote a
// key and a value; version 2 adds a TTL. The v2 codec keeps decoding v1
// entries, so a log written by the old build replays under the new one
// without being rewritten.

// PutV1 is the first version of the command.
type PutV1 struct{ Key, Value string }

type putV1Codec struct{}

func (putV1Codec) Version() uint32 { return 1 }
func (putV1Codec) Encode(w *stream.Writer, p PutV1) error {
	w.PutString(p.Key)
	w.PutString(p.Value)
	return w.Err()
}
func (putV1Codec) Decode(r *stream.Reader, _ uint32, p *PutV1) error {
	p.Key, _ = r.String()
	p.Value, _ = r.String()
	return r.Err()
}

// PutV2 adds a TTL. It is the same Go type name in a real program (the
// type evolves in place); the tests use two names to hold both builds.
type PutV2 struct {
	Key, Value string
	TTL        time.Duration
}

type putV2Codec struct{}

func (putV2Codec) Version() uint32 { return 2 }
func (putV2Codec) Encode(w *stream.Writer, p PutV2) error {
	w.PutString(p.Key)
	w.PutString(p.Value)
	w.PutVarint(int64(p.TTL))
	return w.Err()
}
func (putV2Codec) Decode(r *stream.Reader, version uint32, p *PutV2) error {
	p.Key, _ = r.String()
	p.Value, _ = r.String()
	p.TTL = 0 // version 1 had no TTL: the default
	if version >= 2 {
		p.TTL = time.Duration(r.Varint())
	}
	return r.Err()
}

func TestSchemaEvolution(t *testing.T) {
	dir := t.TempDir()
	// The old build writes version 1 entries.
	j := openJournal(t, dir)
	old := codec.NewRegistry(nil)
	must(t, codec.Register(old, 7, putV1Codec{}))
	for _, k := range []string{"a", "b"} {
		if _, err := codec.Append(j, old, PutV1{Key: k, Value: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	must(t, j.Close())

	// The new build registers the v2 codec under the same id and appends
	// version 2 entries to the same log.
	j = openJournal(t, dir)
	defer j.Close()
	reg := codec.NewRegistry(&codec.Options{Compression: codec.Compression{Enabled: true}})
	must(t, codec.Register(reg, 7, putV2Codec{}))
	if _, err := codec.Append(j, reg, PutV2{Key: "c", Value: "v2", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	want := []PutV2{{"a", "v1", 0}, {"b", "v1", 0}, {"c", "v2", time.Minute}}
	versions := []uint32{1, 1, 2}
	it := codec.Iter(j, reg, 1)
	defer it.Close()
	for i := 0; it.Next(); i++ {
		var p PutV2
		must(t, codec.DecodeCurrent(it, &p))
		if p != want[i] || it.Header().Version != versions[i] {
			t.Fatalf("entry %d: %+v (version %d), want %+v", it.Index(), p, it.Header().Version, want[i])
		}
	}
	must(t, it.Err())
}
