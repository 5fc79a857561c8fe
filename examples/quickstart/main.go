// Command quickstart writes application commands and a large blob through
// spool's registered codecs into a journal in a temporary directory,
// reopens it, replays and verifies every entry, and prints what it did and
// how fast.
//
//	go run ./examples/quickstart
package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/journal"
)

// Type ids are persisted in every entry: never reuse one for another type.
const (
	putID  = 1
	blobID = 2
)

// newRegistry registers the application's payload types. Bodies of 4 KiB
// or more are lz4 compressed; each entry records whether it is, so the
// policy can change between runs (the replay below uses another one).
func newRegistry(compress bool) *codec.Registry {
	reg := codec.NewRegistry(&codec.Options{Compression: codec.Compression{Enabled: compress, MinSize: 4 << 10}})
	if err := codec.Register(reg, putID, putCodec{}); err != nil {
		log.Fatal(err)
	}
	if err := codec.Register(reg, blobID, codec.BlobCodec{}); err != nil {
		log.Fatal(err)
	}
	return reg
}

func command(i int) Put {
	return Put{
		Key:   fmt.Sprintf("user/%06d", i),
		Value: bytes.Repeat([]byte{byte(i)}, 100+i%400),
		Meta: Meta{
			TTL:       time.Duration(i%3600) * time.Second,
			Revision:  uint64(i) + 1,
			ClientID:  uint64(i % 16),
			RequestID: uint64(i / 16),
		},
	}
}

func main() {
	log.SetFlags(0)
	dir, err := os.MkdirTemp("", "spool-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	const n = 200_000
	const blobSize = 96 << 20 // streamed through the codec in 64 KiB blocks, never held in memory

	j, err := journal.Open(dir, &journal.Options{Sync: journal.GroupCommit})
	if err != nil {
		log.Fatal(err)
	}
	reg := newRegistry(true)
	start := time.Now()
	var bytesIn int64
	for i := 0; i < n; i++ {
		c := command(i)
		bytesIn += int64(len(c.Key) + len(c.Value))
		if _, err := codec.Append(j, reg, c); err != nil { // encoded straight into the mapped segment
			log.Fatal(err)
		}
	}
	if err := j.Sync(); err != nil {
		log.Fatal(err)
	}
	appendTime := time.Since(start)
	fmt.Printf("appended %d put commands (%.1f MiB) in %v: %.0f entries/s, durable through %d\n",
		n, float64(bytesIn)/(1<<20), appendTime.Round(time.Millisecond), float64(n)/appendTime.Seconds(), j.Durable())

	// A large blob, streamed from a generator through the blob codec and
	// lz4 in 64 KiB blocks: never held whole in memory.
	start = time.Now()
	blobIdx, err := codec.Append(j, reg, codec.Blob{Src: newPattern(blobSize), Size: blobSize})
	if err != nil {
		log.Fatal(err)
	}
	if err := j.Sync(); err != nil {
		log.Fatal(err)
	}
	stored := entrySize(j, blobIdx)
	fmt.Printf("appended a %d MiB blob as entry %d in %v (%.1f MiB stored, lz4)\n",
		blobSize>>20, blobIdx, time.Since(start).Round(time.Millisecond), float64(stored)/(1<<20))
	if err := j.Close(); err != nil {
		log.Fatal(err)
	}

	start = time.Now()
	j, err = journal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()
	fmt.Printf("reopened in %v: entries [%d, %d]\n", time.Since(start).Round(time.Microsecond), j.FirstIndex(), j.LastIndex())

	// Replay with compression off: reading does not depend on the policy.
	reg = newRegistry(false)
	start = time.Now()
	it := codec.Iter(j, reg, j.FirstIndex())
	var c Put
	puts, blobs := 0, 0
	for it.Next() {
		switch it.Header().TypeID {
		case putID:
			// Borrowed: c's key and value alias the mapped pages until
			// it.Next, which is all the comparison needs.
			if err := codec.DecodeCurrentBorrowed(it, &c); err != nil {
				log.Fatalf("entry %d: %v", it.Index(), err)
			}
			if want := command(puts); c.Key != want.Key || !bytes.Equal(c.Value, want.Value) || c.Meta != want.Meta {
				log.Fatalf("entry %d: replayed %q, appended %q", it.Index(), c.Key, want.Key)
			}
			puts++
		case blobID:
			blobs++ // checked below, by streaming
		}
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
	it.Close()
	if puts != n || blobs != 1 {
		log.Fatalf("replayed %d puts and %d blobs, appended %d and 1", puts, blobs, n)
	}
	replay := time.Since(start)
	fmt.Printf("replayed and verified %d commands in %v: %.0f entries/s\n", puts, replay.Round(time.Millisecond), float64(puts)/replay.Seconds())

	start = time.Now()
	check := newPattern(blobSize)
	blob := codec.Blob{Dst: check}
	if err := codec.Read(j, reg, blobIdx, &blob); err != nil {
		log.Fatalf("blob: %v", err)
	}
	if check.bad >= 0 || blob.Size != blobSize {
		log.Fatalf("blob: %d bytes, first difference at %d", blob.Size, check.bad)
	}
	fmt.Printf("streamed and verified the blob in %v\n", time.Since(start).Round(time.Millisecond))
	fmt.Println("ok")
}

// entrySize returns the bytes entry idx takes in the journal.
func entrySize(j *journal.Journal, idx uint64) int64 {
	v, err := j.Get(idx)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Release()
	return v.Size()
}
