//go:build linux

package hashicorp

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// BenchmarkStableSet: durable StableStore writes, each one sync: raft's
// CurrentTerm (a meta store write), and other keys of 1 KiB and 1 MiB (a
// stable file record; the 1 MiB case rewrites the file now and then, as
// overwrites make dead records outweigh live ones).
//
//	go test -run='^$' -bench=StableSet -benchmem -count=6 ./raftadapter/hashicorp/
func BenchmarkStableSet(b *testing.B) {
	b.Run("raft-key", func(b *testing.B) {
		s := openStore(b, b.TempDir(), nil)
		b.ReportAllocs()
		b.SetBytes(8)
		var n uint64
		latencies(b, func() {
			n++
			if err := s.SetUint64([]byte("CurrentTerm"), n); err != nil {
				b.Fatal(err)
			}
		})
	})
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run("app-key/"+sizeName(size), func(b *testing.B) {
			s := openStore(b, b.TempDir(), nil)
			val := make([]byte, size)
			keys := make([][]byte, 16)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("app/key-%d", i))
				if err := s.Set(keys[i], val); err != nil { // create the file
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			i := 0
			latencies(b, func() {
				binary.LittleEndian.PutUint64(val, uint64(i))
				if err := s.Set(keys[i%len(keys)], val); err != nil {
					b.Fatal(err)
				}
				i++
			})
		})
	}
}

// BenchmarkStableGet reads a 1 KiB key of the stable file and raft's
// CurrentTerm.
func BenchmarkStableGet(b *testing.B) {
	s := openStore(b, b.TempDir(), nil)
	if err := s.Set([]byte("app"), make([]byte, 1<<10)); err != nil {
		b.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		b.Fatal(err)
	}
	b.Run("raft-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetUint64([]byte("CurrentTerm")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("app-key/1KiB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(1 << 10)
		for b.Loop() {
			if _, err := s.Get([]byte("app")); err != nil {
				b.Fatal(err)
			}
		}
	})
}
