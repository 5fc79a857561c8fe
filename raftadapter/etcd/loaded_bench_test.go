//go:build linux

package etcd

import (
	"fmt"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/spoolhq/spool/internal/loadedbench"
)

// Durable latency under CPU load (issue 12): the harness, its floors and
// its metrics are internal/loadedbench's.

// BenchmarkLoadedDurable persists one Ready per call, as an etcd-raft
// application's loop does: 32 new entries, a HardState whose commit index
// follows the previous Ready, MustSync; with N CPU-bound goroutines.
func BenchmarkLoadedDurable(b *testing.B) {
	for _, n := range loadedbench.Levels {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			s, err := Open(filepath.Join(dir, "storage"), nil) // production options
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			buf := loadedbench.Buffer()
			next, commit := uint64(1), uint64(0)
			loadedbench.Run(b, dir, n, func() int {
				size := 0
				ents := make([]*pb.Entry, loadedbench.Entries) // raft hands out new entries every Ready
				for i := range ents {
					d := loadedbench.Data(buf, next)
					ents[i] = &pb.Entry{Term: new(uint64(1)), Index: new(next), Type: new(pb.EntryNormal), Data: d}
					size += len(d)
					next++
				}
				rd := raft.Ready{HardState: hsOf(1, 1, commit), Entries: ents, MustSync: true}
				if err := s.SaveReady(rd); err != nil {
					b.Fatal(err)
				}
				commit = next - 1
				return size
			})
		})
	}
}
