package mmapio_test

import (
	"errors"
	"io"
	"testing"

	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/mmapio/crashfs"
)

// publishFile writes content to dir/f.tmp and publishes it as dir/f.
func publishFile(t *testing.T, fsys mmapio.FS, content string, durable bool) error {
	t.Helper()
	f, err := fsys.Create("d/f.tmp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
	return mmapio.Publish(fsys, f, "d/f", durable)
}

// readFile returns the content of d/f on fsys.
func readFile(t *testing.T, fsys mmapio.FS) string {
	t.Helper()
	f, err := fsys.Open("d/f", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return string(b)
}

// TestPublish: a durable Publish survives a crash that loses everything
// unsynced; one that is not durable leaves the old content in such a
// crash; a failed file sync leaves the old content in place; a failed
// directory sync comes after the rename and says so (ErrNotDurable).
func TestPublish(t *testing.T) {
	newFS := func() *crashfs.FS {
		fs := crashfs.New()
		t.Cleanup(func() { fs.Close() })
		if err := fs.MkdirAll("d"); err != nil {
			t.Fatal(err)
		}
		if err := publishFile(t, fs, "old", true); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	crashImage := func(fs *crashfs.FS) mmapio.FS {
		img, err := fs.Crash().Image(crashfs.AllOld)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { img.Close() })
		return img
	}

	fs := newFS()
	if err := publishFile(t, fs, "new content", true); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, crashImage(fs)); got != "new content" {
		t.Fatalf("durable publish, after a crash: %q", got)
	}

	fs = newFS()
	if err := publishFile(t, fs, "new content", false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, fs); got != "new content" {
		t.Fatalf("publish without sync, before a crash: %q", got)
	}
	if got := readFile(t, crashImage(fs)); got != "old" {
		t.Fatalf("publish without sync, after a crash that lost everything unsynced: %q", got)
	}

	fs = newFS()
	fs.Inject(crashfs.Fault{Kind: crashfs.SyncEIO, Path: "f.tmp"})
	if err := publishFile(t, fs, "new content", true); err == nil || errors.Is(err, mmapio.ErrNotDurable) {
		t.Fatalf("publish with a failing file sync: %v", err)
	}
	if got := readFile(t, fs); got != "old" {
		t.Fatalf("after a failed file sync: %q", got)
	}

	fs = newFS()
	fs.Inject(crashfs.Fault{Kind: crashfs.SyncDirEIO})
	if err := publishFile(t, fs, "new content", true); !errors.Is(err, mmapio.ErrNotDurable) {
		t.Fatalf("publish with a failing directory sync: %v, want mmapio.ErrNotDurable", err)
	}
	if got := readFile(t, fs); got != "new content" {
		t.Fatalf("after a failed directory sync: %q", got)
	}
}
