//go:build linux

package hashicorp

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/internal/loadedbench"
)

// Durable latency under CPU load (issue 12): the harness, its floors and
// its metrics are internal/loadedbench's.

// BenchmarkLoadedDurable stores 32 entries per durable StoreLogs call,
// shaped as raft's leader loop hands them over (command type, AppendedAt
// set at dispatch), with N CPU-bound goroutines.
func BenchmarkLoadedDurable(b *testing.B) {
	for _, n := range loadedbench.Levels {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			var store raft.LogStore = openStore(b, filepath.Join(dir, "store"), &Options{})
			buf := loadedbench.Buffer()
			logs := make([]*raft.Log, loadedbench.Entries)
			for i := range logs {
				logs[i] = &raft.Log{Term: 3, Type: raft.LogCommand}
			}
			next := uint64(1)
			loadedbench.Run(b, dir, n, func() int {
				size := 0
				now := time.Now()
				for _, l := range logs {
					l.Index, l.Data, l.AppendedAt = next, loadedbench.Data(buf, next), now
					size += len(l.Data)
					next++
				}
				if err := store.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
				return size
			})
		})
	}
}
