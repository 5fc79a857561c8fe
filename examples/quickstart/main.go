// Command quickstart writes payloads through a spool journal in a temporary
// directory, reopens it, replays and verifies every entry, and prints what it
// did and how fast.
//
//	go run ./examples/quickstart
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
)

// put is a small application command: set key to value.
type put struct {
	Key   string
	Value []byte
	TTL   time.Duration
}

func (p *put) encode(w *stream.Writer) error {
	w.PutString(p.Key)
	w.PutBytes(p.Value)
	w.PutVarint(int64(p.TTL))
	return w.Err()
}

func (p *put) decode(r *stream.Reader) error {
	var err error
	if p.Key, err = r.String(); err != nil {
		return err
	}
	if p.Value, err = r.AppendBytes(p.Value[:0]); err != nil {
		return err
	}
	p.TTL = time.Duration(r.Varint())
	return r.Err()
}

func command(i int) put {
	return put{
		Key:   fmt.Sprintf("user/%06d", i),
		Value: bytes.Repeat([]byte{byte(i)}, 100+i%400),
		TTL:   time.Duration(i) * time.Second,
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
	const blobSize = 96 << 20 // larger than a segment: streamed across segments

	j, err := journal.Open(dir, &journal.Options{Sync: journal.GroupCommit})
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	var bytesIn int64
	for i := 0; i < n; i++ {
		c := command(i)
		bytesIn += int64(len(c.Key) + len(c.Value))
		if _, err := j.Append(c.encode); err != nil {
			log.Fatal(err)
		}
	}
	if err := j.Sync(); err != nil {
		log.Fatal(err)
	}
	appendTime := time.Since(start)
	fmt.Printf("appended %d commands (%.1f MiB) in %v: %.0f entries/s, durable through %d\n",
		n, float64(bytesIn)/(1<<20), appendTime.Round(time.Millisecond), float64(n)/appendTime.Seconds(), j.Durable())

	// A large blob, streamed in 1 MiB pieces: never held whole in memory.
	piece := make([]byte, 1<<20)
	start = time.Now()
	blobIdx, err := j.Append(func(w *stream.Writer) error {
		for off := 0; off < blobSize; off += len(piece) {
			for k := range piece {
				piece[k] = byte(off>>20 + k)
			}
			if _, err := w.Write(piece); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := j.Sync(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("appended a %d MiB blob as entry %d in %v\n", blobSize>>20, blobIdx, time.Since(start).Round(time.Millisecond))
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

	start = time.Now()
	var c put
	it := j.Iter(j.FirstIndex())
	i := 0
	for ; i < n && it.Next(); i++ {
		if err := c.decode(it.Reader()); err != nil {
			log.Fatalf("entry %d: %v", it.Index(), err)
		}
		want := command(i)
		if c.Key != want.Key || !bytes.Equal(c.Value, want.Value) || c.TTL != want.TTL {
			log.Fatalf("entry %d: replayed %q, appended %q", it.Index(), c.Key, want.Key)
		}
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
	it.Close()
	replay := time.Since(start)
	fmt.Printf("replayed and verified %d commands in %v: %.0f entries/s\n", i, replay.Round(time.Millisecond), float64(i)/replay.Seconds())

	start = time.Now()
	var got int64
	err = j.Read(blobIdx, func(r *stream.Reader) error {
		for {
			k, err := r.Read(piece)
			for x := 0; x < k; x++ {
				if piece[x] != byte((got+int64(x))>>20+(got+int64(x))%(1<<20)) {
					return fmt.Errorf("blob byte %d differs", got+int64(x))
				}
			}
			got += int64(k)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	})
	if err != nil || got != blobSize {
		log.Fatalf("blob: %d bytes, %v", got, err)
	}
	fmt.Printf("streamed and verified the blob in %v\n", time.Since(start).Round(time.Millisecond))
	fmt.Println("ok")
}
