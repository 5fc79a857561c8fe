package spoolstore

import (
	"bytes"
	"testing"

	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/bench/store/storetest"
)

func TestLogStoreContract(t *testing.T) { storetest.Run(t, Spec()) }

func TestNativeLogStoreContract(t *testing.T) { storetest.Run(t, NativeSpec()) }

// TestNativeAppendAndView checks the native paths the LogStore contract
// does not cover: AppendDurable continues the log, and View passes the
// entry's Data.
func TestNativeAppendAndView(t *testing.T) {
	s, err := OpenNative(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ca := s.(store.ConcurrentAppender)
	vr := s.(store.ViewReader)
	// The last sizes exceed one verified block of the journal (16 KiB),
	// which the reader hands out block by block.
	for i, size := range []int{100, 101, 102, 16<<10 + 1, 256 << 10} {
		data := bytes.Repeat([]byte{byte(i)}, size)
		idx, err := ca.AppendDurable(data)
		if err != nil {
			t.Fatal(err)
		}
		if idx != uint64(i+1) {
			t.Fatalf("index %d, want %d", idx, i+1)
		}
		if err := vr.View(idx, func(p []byte) error {
			if !bytes.Equal(p, data) {
				t.Fatalf("view of %d: %x, want %x", idx, p, data)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNativeViewAllocs asserts the native read path allocates nothing.
func TestNativeViewAllocs(t *testing.T) {
	s, err := OpenNative(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	idx, err := s.(store.ConcurrentAppender).AppendDurable(make([]byte, 4096))
	if err != nil {
		t.Fatal(err)
	}
	vr := s.(store.ViewReader)
	var n int
	touch := func(p []byte) error { n += len(p); return nil }
	allocs := testing.AllocsPerRun(1000, func() {
		if err := vr.View(idx, touch); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("View: %v allocations per call, want 0", allocs)
	}
}
