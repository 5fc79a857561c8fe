package machine

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestFloorWritesInPlace: the floor file is written to its full size
// before the first write, and writes wrap to its start instead of growing
// it, so every floor write overwrites written blocks.
func TestFloorWritesInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "floor")
	fl, err := OpenFloor(path, 8192)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	a, b := bytes.Repeat([]byte{1}, 5000), bytes.Repeat([]byte{2}, 5000)
	for _, p := range [][]byte{a, b} {
		if err := fl.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8192 || !bytes.Equal(got[:5000], b) || !bytes.Equal(got[5000:], make([]byte, 3192)) {
		t.Fatalf("floor file: %d bytes, head %x, tail %x", len(got), got[:4], got[5000:5004])
	}
	if err := fl.Write(make([]byte, 8193)); err == nil {
		t.Fatal("a write larger than the file succeeded")
	}
}
