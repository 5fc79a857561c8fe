package codec_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/journal"
)

func exampleJournal() (*journal.Journal, func()) {
	dir, err := os.MkdirTemp("", "codec-example-")
	if err != nil {
		log.Fatal(err)
	}
	j, err := journal.Open(dir, &journal.Options{Sync: journal.PageCache})
	if err != nil {
		log.Fatal(err)
	}
	return j, func() { j.Close(); os.RemoveAll(dir) }
}

// Register a codec for an application command, append typed values and
// read them back.
func Example() {
	j, done := exampleJournal()
	defer done()

	reg := codec.NewRegistry(nil)
	if err := codec.Register(reg, 7, PutCodec{}); err != nil {
		log.Fatal(err)
	}
	idx, err := codec.Append(j, reg, Put{Key: []byte("user/42"), Value: []byte("alice"), Meta: Meta{TTL: time.Hour, Revision: 3}})
	if err != nil {
		log.Fatal(err)
	}

	var p Put // Read copies: p outlives the entry's pin
	if err := codec.Read(j, reg, idx, &p); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d: %s=%s ttl=%v rev=%d\n", idx, p.Key, p.Value, p.Meta.TTL, p.Meta.Revision)
	// Output: 1: user/42=alice ttl=1h0m0s rev=3
}

// Registration refuses a second codec for an id or a Go type.
func ExampleRegister() {
	reg := codec.NewRegistry(nil)
	fmt.Println(codec.Register(reg, 7, PutCodec{}))
	err := codec.Register(reg, 7, codec.String{})
	fmt.Println(errors.Is(err, codec.ErrDuplicate), err)
	err = codec.Register(reg, codec.ReservedMin, codec.Bytes{})
	fmt.Println(errors.Is(err, codec.ErrReservedID))
	// Output:
	// <nil>
	// true codec: duplicate registration type id 7: codec_test.Put already has it, cannot register string
	// true
}

// Replay a journal of mixed entry types, dispatching on each entry's type
// id; an id the registry does not know is a typed error naming the index.
func ExampleIter() {
	j, done := exampleJournal()
	defer done()
	reg := codec.NewRegistry(nil)
	codec.Register(reg, 1, PutCodec{})
	codec.Register(reg, 2, codec.String{})

	codec.Append(j, reg, Put{Key: []byte("a"), Value: []byte("1")})
	codec.Append(j, reg, "checkpoint")
	codec.Append(j, reg, Put{Key: []byte("b"), Value: []byte("2")})

	it := codec.Iter(j, reg, j.FirstIndex())
	defer it.Close()
	var p Put
	var s string
	for it.Next() {
		switch it.Header().TypeID {
		case 1:
			if err := codec.DecodeCurrentBorrowed(it, &p); err != nil { // p aliases the entry until Next
				log.Fatal(err)
			}
			fmt.Printf("%d put %s=%s\n", it.Index(), p.Key, p.Value)
		case 2:
			if err := codec.DecodeCurrent(it, &s); err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%d %s\n", it.Index(), s)
		}
	}
	fmt.Println(it.Err())

	// A registry without the Put codec cannot replay entry 1.
	other := codec.NewRegistry(nil)
	codec.Register(other, 2, codec.String{})
	fmt.Println(codec.Read(j, other, 1, &s))
	// Output:
	// 1 put a=1
	// 2 checkpoint
	// 3 put b=2
	// <nil>
	// codec: unknown type id 1 at index 1
}

// ReadBorrowed decodes without copying: the value's byte fields alias the
// journal's mapped pages and are valid only inside the callback.
func ExampleReadBorrowed() {
	j, done := exampleJournal()
	defer done()
	reg := codec.NewRegistry(nil)
	codec.Register(reg, 1, PutCodec{})
	idx, _ := codec.Append(j, reg, Put{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 1000)})

	var p Put
	err := codec.ReadBorrowed(j, reg, idx, &p, func(p *Put) error {
		fmt.Println(string(p.Key), len(p.Value)) // copy what must outlive the callback
		return nil
	})
	fmt.Println(err)
	// Output:
	// k 1000
	// <nil>
}

// Schema evolution: version 2 of a command adds a field; its codec still
// decodes version 1 entries, so the log is never rewritten.
func Example_schemaEvolution() {
	j, done := exampleJournal()
	defer done()
	v1 := codec.NewRegistry(nil)
	codec.Register(v1, 7, putV1Codec{}) // the old build
	codec.Append(j, v1, PutV1{Key: "a", Value: "old"})

	v2 := codec.NewRegistry(nil)
	codec.Register(v2, 7, putV2Codec{}) // the new build, same id
	codec.Append(j, v2, PutV2{Key: "b", Value: "new", TTL: time.Minute})

	it := codec.Iter(j, v2, 1)
	defer it.Close()
	for it.Next() {
		var p PutV2
		codec.DecodeCurrent(it, &p)
		fmt.Printf("v%d %+v\n", it.Header().Version, p)
	}
	// Output:
	// v1 {Key:a Value:old TTL:0s}
	// v2 {Key:b Value:new TTL:1m0s}
}

// Compression is a policy of the registry, applied per entry; every entry
// records whether it is compressed, so the policy can change at any time.
func ExampleCompression() {
	j, done := exampleJournal()
	defer done()
	reg := codec.NewRegistry(&codec.Options{Compression: codec.Compression{Enabled: true, MinSize: 1024}})
	codec.Register(reg, 1, codec.String{})
	codec.Append(j, reg, "short")
	codec.Append(j, reg, strings.Repeat("a compressible line\n", 500))

	it := codec.Iter(j, reg, 1)
	defer it.Close()
	for it.Next() {
		var s string
		codec.DecodeCurrent(it, &s)
		v, _ := j.Get(it.Index())
		fmt.Printf("%d: %d bytes, compressed %v, %d bytes in the journal\n", it.Index(), len(s), it.Header().Compressed, v.Size())
		v.Release()
	}
	// Output:
	// 1: 5 bytes, compressed false, 8 bytes in the journal
	// 2: 10000 bytes, compressed true, 89 bytes in the journal
}

// A Blob streams a payload too large for memory into the journal and back
// out, through one pooled buffer.
func ExampleBlobCodec() {
	j, done := exampleJournal()
	defer done()
	reg := codec.NewRegistry(nil)
	codec.Register(reg, 9, codec.BlobCodec{})

	const size = 10 << 20
	src := io.LimitReader(zeros{}, size)
	idx, err := codec.Append(j, reg, codec.Blob{Src: src, Size: size})
	if err != nil {
		log.Fatal(err)
	}
	h := sha256.New()
	b := codec.Blob{Dst: h}
	if err := codec.Read(j, reg, idx, &b); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, sha256 %x\n", b.Size, h.Sum(nil)[:8])
	// Output: 10485760 bytes, sha256 e5b844cc57f57094
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
