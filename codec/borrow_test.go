package codec_test

import (
	"bytes"
	"testing"

	"github.com/spoolhq/spool/codec"
)

// TestBorrowedLifetimes: a value borrowed from a compressed one-block
// entry stays intact for as long as the API promises (the ReadBorrowed
// callback, the iterator's step) even while other compressed entries are
// decoded, which take decompression buffers from the same pool; and a
// borrowed value reused for an entry that must be copied (a multi-block
// compressed body) is not written through into the journal's pages.
func TestBorrowedLifetimes(t *testing.T) {
	j := openJournal(t, t.TempDir())
	defer j.Close()
	reg := newTestRegistry(t, codec.Options{Compression: codec.Compression{Enabled: true, MinSize: 1000}})
	a := Put{Key: []byte("aaaa"), Value: bytes.Repeat([]byte("A"), 2000)}
	b := Put{Key: []byte("bbbb"), Value: bytes.Repeat([]byte("B"), 2000)}
	small := Put{Key: []byte("plain-key-of-some-length"), Value: []byte("plain value, not compressed")}
	big := Put{Key: []byte("k"), Value: payload(nil, 3*codec.BlockSize, true)}
	var idx [4]uint64
	for i, p := range []Put{a, b, small, big} {
		var err error
		if idx[i], err = codec.Append(j, reg, p); err != nil {
			t.Fatal(err)
		}
	}

	var got, other Put
	must(t, codec.ReadBorrowed(j, reg, idx[0], &got, func(p *Put) error {
		must(t, codec.Read(j, reg, idx[1], &other))
		if !putEqual(*p, a) {
			t.Fatalf("ReadBorrowed value changed while another entry was decoded: %.20q", p.Value)
		}
		return nil
	}))

	it := codec.Iter(j, reg, idx[0])
	defer it.Close()
	if !it.Next() {
		t.Fatal(it.Err())
	}
	must(t, codec.DecodeCurrentBorrowed(it, &got))
	must(t, codec.Read(j, reg, idx[1], &other))
	if !putEqual(got, a) {
		t.Fatalf("iterator's borrowed value changed while another entry was decoded: %.20q", got.Value)
	}

	// Borrow an uncompressed entry (views of the mapped pages), then decode
	// a multi-block compressed entry into the same value: it is copied,
	// and must not land in the pages the value pointed at.
	it2 := codec.Iter(j, reg, idx[2])
	defer it2.Close()
	for it2.Next() {
		must(t, codec.DecodeCurrentBorrowed(it2, &got))
	}
	must(t, it2.Err())
	if !putEqual(got, big) {
		t.Fatal("multi-block entry differs")
	}
	var check Put
	must(t, codec.Read(j, reg, idx[2], &check))
	if !putEqual(check, small) {
		t.Fatalf("the uncompressed entry was overwritten: %q", check.Value)
	}
	// The reader-level DecodeBorrowed copies compressed entries.
	must(t, j.Read(idx[0], func(r *streamReader) error { return codec.DecodeBorrowed(reg, r, &got) }))
	if !putEqual(got, a) {
		t.Fatal("DecodeBorrowed of a compressed entry differs after the read")
	}
}
