package mmapio_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spoolhq/spool/mmapio"
)

func Example() {
	dir, _ := os.MkdirTemp("", "mmapio-example-")
	defer os.RemoveAll(dir)

	f, err := mmapio.OS.Create(filepath.Join(dir, "seg"))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	// Reserve real blocks first: a full disk fails here, not as SIGBUS.
	if err := f.Allocate(1 << 20); err != nil {
		panic(err)
	}
	m, err := f.Map(0, 1<<20, true)
	if err != nil {
		panic(err)
	}
	defer m.Unmap()
	n := copy(m.Bytes(), "written through the mapping")
	if err := m.Sync(0, n); err != nil { // msync of the enclosing page
		panic(err)
	}
	_ = mmapio.OS.SyncDir(dir) // make the new file's name durable too
	buf := make([]byte, n)
	f.ReadAt(buf, 0)
	fmt.Println(string(buf))
	// Output: written through the mapping
}
