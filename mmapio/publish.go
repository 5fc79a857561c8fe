package mmapio

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrNotDurable reports that Publish renamed a file into place but could
// not make the rename durable (the directory sync failed): the new content
// is visible now, but a crash may still bring back the old one. A caller
// that must know which one a reboot finds treats it as fatal.
var ErrNotDurable = errors.New("mmapio: rename not durable")

// Publish makes f the content of name, atomically across a crash: f is a
// file written in full under a temporary name (f.Name()) in name's
// directory; Publish syncs it, renames it to name and syncs the directory,
// so that a reboot finds either the old content of name or all of the new,
// never part of it. With durable false it only renames (for callers whose
// options waive durability). f stays open: the file is the same under
// either name, and the caller closes it.
//
// An error from the file sync or the rename leaves name as it was and the
// temporary file in place, for the caller to remove. An error from the
// directory sync comes after the rename and wraps ErrNotDurable.
func Publish(fsys FS, f File, name string, durable bool) error {
	tmp := f.Name()
	if durable {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("mmapio: publish %s: sync %s: %w", name, tmp, err)
		}
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return fmt.Errorf("mmapio: publish %s: %w", name, err)
	}
	if durable {
		if err := fsys.SyncDir(filepath.Dir(name)); err != nil {
			return fmt.Errorf("mmapio: publish %s: %w: %w", name, ErrNotDurable, err)
		}
	}
	return nil
}
