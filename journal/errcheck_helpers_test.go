package journal

import (
	"io"
	"os"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// closeOK closes c, which the test expects to close cleanly, and reports
// a failure through tb.Error: a journal's Close syncs and writes the
// clean-shutdown record, so its error is part of what a test checks. It
// suits deferred cleanup; a journal crashed or failed on purpose is
// closed with an explicit `_ =` at its site instead.
func closeOK(tb testing.TB, c io.Closer) {
	tb.Helper()
	if err := c.Close(); err != nil {
		tb.Errorf("Close %T: %v", c, err)
	}
}

// mustClose closes c, which the test expects to close cleanly, before the
// test goes on (typically to reopen the same directory).
func mustClose(tb testing.TB, c io.Closer) {
	tb.Helper()
	if err := c.Close(); err != nil {
		tb.Fatalf("Close %T: %v", c, err)
	}
}

// mustAppend appends p to j and returns its index.
func mustAppend(tb testing.TB, j *Journal, p []byte) uint64 {
	tb.Helper()
	idx, err := j.AppendBytes(p)
	if err != nil {
		tb.Fatalf("AppendBytes(%d bytes) after index %d: %v", len(p), j.LastIndex(), err)
	}
	return idx
}

// mustSync makes everything appended to j durable.
func mustSync(tb testing.TB, j *Journal) {
	tb.Helper()
	if err := j.Sync(); err != nil {
		tb.Fatalf("Sync at index %d: %v", j.LastIndex(), err)
	}
}

// mustWriteFile writes b to the file at path of the real file system.
func mustWriteFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatalf("WriteFile %s: %v", path, err)
	}
}

// releaseFS frees the memory behind a crashfs image, or a test's live
// crashfs FS, once the test is done with it. Its error is ignored on
// purpose: FS.Close only unmaps the FS's own backing memory and says
// nothing about the journal, whose checks are over by then.
func releaseFS(fs *crashfs.FS) { _ = fs.Close() }

// truncateFile cuts the file at path of the real file system to size.
func truncateFile(tb testing.TB, path string, size int64) {
	tb.Helper()
	if err := os.Truncate(path, size); err != nil {
		tb.Fatalf("Truncate %s to %d: %v", path, size, err)
	}
}
