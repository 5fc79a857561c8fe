//go:build !linux

package sysstat

// Cache says how a cold-cache measurement evicted the store's pages.
type Cache string

const (
	// ColdDropCaches: the whole page cache was dropped.
	ColdDropCaches Cache = "cold (drop_caches)"
	// ColdFadvise: the store's files were evicted with posix_fadvise.
	ColdFadvise Cache = "cold (fadvise)"
	// Warm: nothing was evicted.
	Warm Cache = "warm"
)

// Evict does nothing outside Linux and reports Warm.
func Evict(dir string) (Cache, error) { return Warm, nil }

// FSType returns "unknown" outside Linux.
func FSType(path string) string { return "unknown" }
