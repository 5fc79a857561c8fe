//go:build spooldebug

package journal

import (
	"bytes"
	"testing"

	"github.com/spoolhq/spool/stream"
)

// TestDebugPoisonsBorrowedBytes: in spooldebug builds, bytes borrowed from
// a Read callback or an Iterator entry are overwritten when their scope
// ends, and a reader kept past its callback reads nothing, so a caller
// that retains them fails visibly in its tests.
func TestDebugPoisonsBorrowedBytes(t *testing.T) {
	j := mustOpen(t, t.TempDir(), testOpts())
	defer j.Close()
	sizes := []int{100, 3 * testSegSize / 2, 7} // the second spans segments
	for i, n := range sizes {
		if _, err := j.AppendBytes(payload(uint64(i+1), n)); err != nil {
			t.Fatal(err)
		}
	}
	poisoned := func(b []byte) bool {
		return len(b) > 0 && bytes.Count(b, []byte{poisonByte}) == len(b)
	}
	for idx := uint64(1); idx <= uint64(len(sizes)); idx++ {
		var kept []byte
		var keptReader *stream.Reader
		err := j.Read(idx, func(r *stream.Reader) error {
			b, err := r.Next(int(r.Remaining()))
			if !bytes.Equal(b, payload(idx, sizes[idx-1])) {
				t.Fatalf("entry %d read wrong inside the callback", idx)
			}
			kept, keptReader = b, r
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !poisoned(kept) {
			t.Fatalf("entry %d: bytes kept past the Read callback are not poisoned", idx)
		}
		if _ = keptReader.Uint8(); keptReader.Err() == nil {
			t.Fatalf("entry %d: a reader kept past its callback still reads", idx)
		}
	}
	it := j.Iter(1)
	var prev []byte
	for it.Next() {
		if prev != nil && !poisoned(prev) {
			t.Fatalf("entry %d: bytes of the previous entry not poisoned by Next", it.Index())
		}
		b, ok := it.Bytes()
		if !ok || !bytes.Equal(b, payload(it.Index(), sizes[it.Index()-1])) {
			t.Fatalf("entry %d: iterator bytes wrong", it.Index())
		}
		prev = b
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	if !poisoned(prev) {
		t.Fatal("bytes of the last entry not poisoned by the Next that ended the iteration")
	}
	it.Close()
	it = j.Iter(1)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	b, _ := it.Bytes()
	if poisoned(b) {
		t.Fatal("bytes poisoned while the entry is current")
	}
	it.Close()
	if !poisoned(b) {
		t.Fatal("bytes of the current entry not poisoned by Close")
	}
}
