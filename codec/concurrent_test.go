package codec_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/spoolhq/spool/codec"
)

// TestConcurrent appends and reads typed entries from several goroutines
// through one registry, compressed and not, while another goroutine
// registers more types: the pooled lz4 state and the copy-on-write tables
// are shared safely (run with -race).
func TestConcurrent(t *testing.T) {
	j := openJournal(t, t.TempDir())
	defer j.Close()
	reg := newTestRegistry(t, codec.Options{Compression: codec.Compression{Enabled: true, MinSize: 300}})
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got Put
			for i := 0; i < 200; i++ {
				want := Put{Key: fmt.Appendf(nil, "g%d/%d", g, i), Value: bytes.Repeat([]byte{byte(g)}, i*7)}
				idx, err := codec.Append(j, reg, want)
				if err == nil {
					err = codec.Read(j, reg, idx, &got)
				}
				if err == nil && !putEqual(got, want) {
					err = fmt.Errorf("entry %d differs", idx)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := uint32(100); id < 150; id++ {
			// []byte is registered already: each of these fails.
			if err := codec.Register(reg, id, codec.Codec[[]byte](codec.Bytes{})); err == nil {
				errs <- fmt.Errorf("registered a second codec for []byte under id %d", id)
				return
			}
		}
		// New types succeed, each replacing the lookup tables.
		for _, err := range []error{
			codec.Register(reg, 200, codec.JSON[[1]int]{}),
			codec.Register(reg, 201, codec.JSON[[2]int]{}),
			codec.Register(reg, 202, codec.JSON[[3]int]{}),
			codec.Register(reg, 203, codec.JSON[[4]int]{}),
		} {
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
