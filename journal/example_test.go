package journal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
)

func Example() {
	dir, err := os.MkdirTemp("", "journal-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Fatal(err)
		}
	}()

	j, err := journal.Open(dir, &journal.Options{Sync: journal.SyncEach})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		// Close syncs and records a clean shutdown: its error matters.
		if err := j.Close(); err != nil {
			log.Fatal(err)
		}
	}()

	// The payload is encoded straight into the mapped segment.
	idx, err := j.Append(func(w *stream.Writer) error {
		w.PutString("user/42")
		w.PutUvarint(1700)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	// The reader borrows the mapped bytes for the duration of the callback.
	err = j.Read(idx, func(r *stream.Reader) error {
		key, _ := r.StringView()
		fmt.Println(idx, key, r.Uvarint(), j.Durable() >= idx)
		return r.Err()
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: 1 user/42 1700 true
}

func ExampleJournal_AppendBatch() {
	dir, err := os.MkdirTemp("", "journal-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Fatal(err)
		}
	}()
	j, err := journal.Open(dir, &journal.Options{Sync: journal.PageCache})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := j.Close(); err != nil {
			log.Fatal(err)
		}
	}()

	// All or nothing, one sync for the batch.
	first, last, err := j.AppendBatch(func(b *journal.Batch) error {
		for _, s := range []string{"a", "b", "c"} {
			if _, err := b.AppendBytes([]byte(s)); err != nil {
				return err
			}
		}
		b.RequireDurable()
		return nil
	})
	fmt.Println(first, last, err, j.Durable())
	// Output: 1 3 <nil> 3
}

func ExampleJournal_Iter() {
	dir, err := os.MkdirTemp("", "journal-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Fatal(err)
		}
	}()
	j, err := journal.Open(dir, &journal.Options{Sync: journal.PageCache})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := j.Close(); err != nil {
			log.Fatal(err)
		}
	}()
	for _, s := range []string{"x", "y", "z"} {
		if _, err := j.AppendBytes([]byte(s)); err != nil {
			log.Fatal(err)
		}
	}
	it := j.Iter(2)
	for it.Next() {
		b, _ := it.Bytes() // valid until the next call to Next
		fmt.Printf("%d=%s ", it.Index(), b)
	}
	fmt.Println(it.Err())
	// Close releases the iterator's pin on the segments it read.
	if err := it.Close(); err != nil {
		log.Fatal(err)
	}
	// Output: 2=y 3=z <nil>
}

func ExampleJournal_TruncateBack() {
	dir, err := os.MkdirTemp("", "journal-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Fatal(err)
		}
	}()
	j, err := journal.Open(dir, &journal.Options{Sync: journal.PageCache})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := j.Close(); err != nil {
			log.Fatal(err)
		}
	}()
	for range 5 {
		if _, err := j.AppendBytes([]byte("old")); err != nil {
			log.Fatal(err)
		}
	}
	// Drop 4 and 5: a Raft follower's conflicting suffix.
	if err := j.TruncateBack(3); err != nil {
		log.Fatal(err)
	}
	// Compact 1.
	if err := j.TruncateFront(2); err != nil {
		log.Fatal(err)
	}
	idx, err := j.AppendBytes([]byte("new"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(j.FirstIndex(), j.LastIndex(), idx)
	// Output: 2 4 4
}
