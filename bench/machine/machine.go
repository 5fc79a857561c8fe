package machine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Config sizes a measurement.
type Config struct {
	// Dir is an empty directory on the filesystem under test.
	Dir string
	// SeqBytes is the size of the sequential write.
	SeqBytes int64
	// Syncs is the number of 4 KiB write + fdatasync rounds per variant.
	Syncs int
	// MemcpyBytes is the size of the buffers copied.
	MemcpyBytes int
	// RandCopyBytes is the size of the file mapped for the random-copy
	// floor (as large as the log the random reads read); 0 skips it.
	RandCopyBytes int64
	// RandCopies is the number of timed 1 KiB copies from random offsets
	// of that mapping (as many as the random reads).
	RandCopies int
}

// Limits are the measured limits. Latencies hold the sorted samples of each
// write + fdatasync variant.
type Limits struct {
	SeqWriteMiBps float64
	// SeqSyncMiBps is the bandwidth of 1 MiB appending writes each followed
	// by fdatasync, and SeqSync the sorted latencies of those calls: the
	// floor of a store that makes 1 MiB durable per call.
	SeqSyncMiBps    float64
	SeqSync         []time.Duration
	FsyncAppend     []time.Duration
	FsyncInPlace    []time.Duration
	FsyncPrealloc   []time.Duration
	MemcpyMiBps     float64
	Memcpy4KiBMiBps float64
	// RandCopyNs is the time of one 1 KiB copy from a random offset of a
	// mapped, cached file of RandCopyBytes (0 when not measured).
	RandCopyNs float64
}

// Measure measures every limit. Files are created in cfg.Dir and removed.
func Measure(cfg Config) (*Limits, error) {
	var l Limits
	var err error
	if l.SeqWriteMiBps, err = SeqWrite(filepath.Join(cfg.Dir, "seq"), cfg.SeqBytes); err != nil {
		return nil, fmt.Errorf("sequential write: %w", err)
	}
	if l.SeqSyncMiBps, l.SeqSync, err = SeqWriteSync(filepath.Join(cfg.Dir, "seqsync"), cfg.SeqBytes); err != nil {
		return nil, fmt.Errorf("sequential write+fdatasync: %w", err)
	}
	if l.FsyncAppend, err = SyncLatency(filepath.Join(cfg.Dir, "append"), Appending, cfg.Syncs); err != nil {
		return nil, fmt.Errorf("append write+fdatasync: %w", err)
	}
	if l.FsyncInPlace, err = SyncLatency(filepath.Join(cfg.Dir, "inplace"), InPlace, cfg.Syncs); err != nil {
		return nil, fmt.Errorf("in-place write+fdatasync: %w", err)
	}
	if l.FsyncPrealloc, err = SyncLatency(filepath.Join(cfg.Dir, "prealloc"), Fallocated, cfg.Syncs); err != nil {
		return nil, fmt.Errorf("fallocated write+fdatasync: %w", err)
	}
	l.MemcpyMiBps, l.Memcpy4KiBMiBps = Memcpy(cfg.MemcpyBytes)
	if cfg.RandCopyBytes > 0 {
		if l.RandCopyNs, err = RandCopy(filepath.Join(cfg.Dir, "randcopy"), cfg.RandCopyBytes, cfg.RandCopies); err != nil {
			return nil, fmt.Errorf("random copy: %w", err)
		}
	}
	return &l, nil
}

// fill returns n bytes of incompressible data.
func fill(n int) []byte {
	p := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(p)
	return p
}

// SeqWrite writes size bytes to a new file at path in 1 MiB writes, then
// fdatasyncs once, and returns the bandwidth in MiB/s including the sync.
// The file is removed.
func SeqWrite(path string, size int64) (float64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	buf := fill(1 << 20)
	t0 := time.Now()
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := fdatasync(f); err != nil {
		f.Close()
		return 0, err
	}
	d := time.Since(t0)
	return float64(size) / (1 << 20) / d.Seconds(), f.Close()
}

// SeqWriteSync appends size bytes to a new file at path in 1 MiB writes,
// each followed by fdatasync (a store making 1 MiB durable per call), and
// returns the bandwidth in MiB/s and the sorted latencies of the calls. The
// file is removed.
func SeqWriteSync(path string, size int64) (float64, []time.Duration, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, nil, err
	}
	defer os.Remove(path)
	defer f.Close()
	buf := fill(1 << 20)
	var lat []time.Duration
	t0 := time.Now()
	for off := int64(0); off < size; off += int64(len(buf)) {
		c0 := time.Now()
		buf[0] = byte(off >> 20)
		if _, err := f.Write(buf); err != nil {
			return 0, nil, err
		}
		if err := fdatasync(f); err != nil {
			return 0, nil, err
		}
		lat = append(lat, time.Since(c0))
	}
	d := time.Since(t0)
	slices.Sort(lat)
	return float64(len(lat)) / d.Seconds(), lat, nil
}

// Placement says where SyncLatency writes.
type Placement int

const (
	// Appending writes past the end of a growing file: every sync also
	// persists the new size.
	Appending Placement = iota
	// InPlace overwrites blocks of a preallocated file that were written
	// and synced before: the sync persists data only.
	InPlace
	// Fallocated writes into fallocated, never-written blocks: the sync
	// also converts the extent from unwritten to written.
	Fallocated
)

// SyncLatency times n rounds of a 4 KiB write at consecutive offsets
// followed by fdatasync, and returns the sorted latencies. The file at path
// is created and removed.
func SyncLatency(path string, where Placement, n int) ([]time.Duration, error) {
	const block = 4096
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	defer f.Close()
	size := int64(n) * block
	switch where {
	case InPlace:
		if err := preallocate(f, size); err != nil {
			return nil, err
		}
		if _, err := f.WriteAt(make([]byte, size), 0); err != nil {
			return nil, err
		}
		if err := fdatasync(f); err != nil {
			return nil, err
		}
	case Fallocated:
		if err := preallocate(f, size); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	p := fill(block)
	lat := make([]time.Duration, n)
	for i := range n {
		p[0] = byte(i)
		t0 := time.Now()
		if _, err := f.WriteAt(p, int64(i)*block); err != nil {
			return nil, err
		}
		if err := fdatasync(f); err != nil {
			return nil, err
		}
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	return lat, nil
}

// Memcpy returns the memory copy bandwidth in MiB/s: whole buffers of size
// bytes, and the same source copied in 4 KiB pieces into one 4 KiB buffer
// (a reader copying entries out of a log). Each is the median of 5 rounds.
func Memcpy(size int) (whole, pieces float64) {
	size = max(size, 1<<20)
	src := fill(size)
	dst := make([]byte, size)
	copy(dst, src) // fault the destination in
	small := make([]byte, 4096)
	round := func(f func()) float64 {
		var r [5]float64
		for i := range r {
			t0 := time.Now()
			f()
			r[i] = float64(size) / (1 << 20) / time.Since(t0).Seconds()
		}
		slices.Sort(r[:])
		return r[len(r)/2]
	}
	whole = round(func() { copy(dst, src) })
	pieces = round(func() {
		for off := 0; off+len(small) <= len(src); off += len(small) {
			copy(small, src[off:])
		}
	})
	sink = small[0] ^ dst[0]
	return whole, pieces
}

// sink keeps the copies from being optimized away.
var sink byte

var errNoPrealloc = errors.New("preallocation not supported")
