package journal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
)

func Example() {
	dir, _ := os.MkdirTemp("", "journal-example-")
	defer os.RemoveAll(dir)

	j, err := journal.Open(dir, &journal.Options{Sync: journal.SyncEach})
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()

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
	dir, _ := os.MkdirTemp("", "journal-example-")
	defer os.RemoveAll(dir)
	j, _ := journal.Open(dir, &journal.Options{Sync: journal.PageCache})
	defer j.Close()

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
	dir, _ := os.MkdirTemp("", "journal-example-")
	defer os.RemoveAll(dir)
	j, _ := journal.Open(dir, &journal.Options{Sync: journal.PageCache})
	defer j.Close()
	for _, s := range []string{"x", "y", "z"} {
		j.AppendBytes([]byte(s))
	}
	it := j.Iter(2)
	defer it.Close()
	for it.Next() {
		b, _ := it.Bytes() // valid until the next call to Next
		fmt.Printf("%d=%s ", it.Index(), b)
	}
	fmt.Println(it.Err())
	// Output: 2=y 3=z <nil>
}

func ExampleJournal_TruncateBack() {
	dir, _ := os.MkdirTemp("", "journal-example-")
	defer os.RemoveAll(dir)
	j, _ := journal.Open(dir, &journal.Options{Sync: journal.PageCache})
	defer j.Close()
	for range 5 {
		j.AppendBytes([]byte("old"))
	}
	j.TruncateBack(3)  // drop 4 and 5: a Raft follower's conflicting suffix
	j.TruncateFront(2) // compact 1
	idx, _ := j.AppendBytes([]byte("new"))
	fmt.Println(j.FirstIndex(), j.LastIndex(), idx)
	// Output: 2 4 4
}
