package crashfs

import "bytes"

// persistLocked copies working bytes [from, to) into the durable image,
// page by page, applying an armed sync fault. The caller holds f.mu.
func (f *FS) persistLocked(ino *inode, name string, from, to int64) error {
	to = min(to, ino.size)
	if to <= from {
		return nil
	}
	work := make([]byte, to-from)
	if err := readFull(ino, work, from); err != nil {
		return err
	}
	if fl := f.match(SyncEIO, name); fl != nil {
		// fsyncgate: the kernel drops the dirty state of the pages it
		// failed to write, so a later sync does not retry them.
		for p := from &^ (PageSize - 1); p < to; p += PageSize {
			lo, hi := max(p, from), min(p+PageSize, to)
			if lo == p && hi == p+PageSize && !bytes.Equal(work[lo-from:hi-from], durPage(ino, p)) {
				ino.lost[p] = bytes.Clone(work[lo-from : hi-from])
			}
		}
		return injected("sync", name, errEIO)
	}
	if int64(len(ino.dur)) < to {
		ino.dur = append(ino.dur, make([]byte, to-int64(len(ino.dur)))...)
	}
	misdirect := f.match(Misdirect, name)
	var stray []byte // the misdirected sector, written last
	var strayAt int64
	for p := from &^ (PageSize - 1); p < to; p += PageSize {
		lo, hi := max(p, from), min(p+PageSize, to)
		w := work[lo-from : hi-from]
		if lost, ok := ino.lost[p]; ok {
			if lo == p && hi == p+PageSize && bytes.Equal(lost, w) {
				continue // still clean in the kernel's eyes: not written
			}
			delete(ino.lost, p)
		}
		if misdirect != nil && stray == nil {
			if s, ok := firstChangedSector(ino.dur[lo:hi], w); ok {
				// The sector lands Shift bytes away; its own place
				// keeps the old bytes.
				sec := lo + s
				target := sec + misdirect.Shift
				if target < 0 || target+SectorSize > int64(len(ino.dur)) {
					target = sec - misdirect.Shift
				}
				if target >= 0 && target+SectorSize <= int64(len(ino.dur)) {
					old := bytes.Clone(ino.dur[sec : sec+SectorSize])
					copy(ino.dur[lo:hi], w)
					copy(ino.dur[sec:sec+SectorSize], old)
					stray, strayAt = work[sec-from:sec-from+SectorSize], target
					continue
				}
			}
		}
		copy(ino.dur[lo:hi], w)
	}
	if stray != nil {
		copy(ino.dur[strayAt:], stray)
	} else if misdirect != nil {
		misdirect.fired = false // nothing to misdirect: stay armed
	}
	return nil
}

// durPage returns the durable bytes of the page at p, zero-padded.
func durPage(ino *inode, p int64) []byte {
	out := make([]byte, PageSize)
	if p < int64(len(ino.dur)) {
		copy(out, ino.dur[p:])
	}
	return out
}

// firstChangedSector returns the offset within old of the first whole
// sector whose new bytes differ.
func firstChangedSector(old, new []byte) (int64, bool) {
	for s := 0; s+SectorSize <= len(new) && s+SectorSize <= len(old); s += SectorSize {
		if !bytes.Equal(old[s:s+SectorSize], new[s:s+SectorSize]) {
			return int64(s), true
		}
	}
	return 0, false
}
