//go:build linux

package journal

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/spoolhq/spool/internal/loadedbench"
)

// Durable latency under CPU load (issue 12): the harness, its floors and
// its metrics are internal/loadedbench's.

// BenchmarkLoadedDurable appends a batch of 32 entries with AppendBatch
// under SyncEach (one sync per batch) with N CPU-bound goroutines.
func BenchmarkLoadedDurable(b *testing.B) {
	for _, n := range loadedbench.Levels {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			j := mustOpen(b, filepath.Join(dir, "journal"), &Options{Sync: SyncEach})
			defer closeOK(b, j)
			buf := loadedbench.Buffer()
			next := uint64(1)
			loadedbench.Run(b, dir, n, func() int {
				size := 0
				_, _, err := j.AppendBatch(func(bt *Batch) error {
					for range loadedbench.Entries {
						p := loadedbench.Data(buf, next)
						if _, err := bt.AppendBytes(p); err != nil {
							return err
						}
						size += len(p)
						next++
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				return size
			})
		})
	}
}
