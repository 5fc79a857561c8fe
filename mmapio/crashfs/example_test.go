package crashfs_test

import (
	"fmt"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// A write reaches the disk only when synced; a crash decides the rest.
func Example() {
	fs := crashfs.New()
	defer fs.Close()
	fs.MkdirAll("/d")
	f, _ := fs.Create("/d/file")
	f.WriteAt([]byte("synced"), 0)
	f.Sync()
	fs.SyncDir("/d")
	f.WriteAt([]byte("SYNCED"), 0) // not synced

	snap := fs.Crash()
	fmt.Println(snap.Units())
	for _, d := range []crashfs.Decider{crashfs.AllOld, crashfs.AllNew} {
		img, _ := snap.Image(d)
		g, _ := img.Open("/d/file", false)
		b := make([]byte, 6)
		g.ReadAt(b, 0)
		fmt.Println(string(b))
		g.Close()
		img.Close()
	}
	// Output:
	// [#0 page /d/file@0]
	// synced
	// SYNCED
}
