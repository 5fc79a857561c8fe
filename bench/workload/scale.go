package workload

import (
	"fmt"
	"slices"
	"time"
)

// Scale sizes a run. Sizes are in MiB of log (entries of 1 KiB unless a
// workload says otherwise).
type Scale struct {
	// Name is "quick", "default" or "test".
	Name string `json:"name"`
	// Reps is the number of repetitions of every cell.
	Reps int `json:"reps"`
	// Append128Calls, Append1KCalls: timed StoreLogs calls.
	Append128Calls int `json:"append128_calls"`
	Append1KCalls  int `json:"append1k_calls"`
	// Append256KMiB: MiB written by the 256 KiB × 4 workload.
	Append256KMiB int `json:"append256k_mib"`
	// AppendSpreadMiB: the append workloads' timed calls come in bursts
	// spread over this much log (untimed fills in between), so that they
	// sample every place in a segment file where a long-running log
	// writes, not only the first MiB of a fresh one; 0: one run of calls
	// from the start.
	AppendSpreadMiB int `json:"append_spread_mib"`
	// GroupEntries: entries written by the producers together; the single
	// producer run writes an eighth of it.
	GroupEntries int `json:"group_entries"`
	// Producers: concurrent producers of the group-commit workload.
	Producers int `json:"producers"`
	// ReadMiB: size of the log the read workloads read.
	ReadMiB int `json:"read_mib"`
	// RandReads: GetLog calls of the random-read workload.
	RandReads int `json:"rand_reads"`
	// ReadBudget bounds the timed pass of a read workload: a store that
	// has not read every entry by then is measured on what it read.
	ReadBudget time.Duration `json:"read_budget"`
	// OpenMiB: log sizes of the open time / memory series.
	OpenMiB []int `json:"open_mib"`
	// ReopenMiB: the size whose cold open is the headline reopen figure;
	// one of OpenMiB.
	ReopenMiB int `json:"reopen_mib"`
	// DeleteMiB: size of the log whose oldest half is deleted.
	DeleteMiB int `json:"delete_mib"`
	// SuffixMiB: size of the log whose tail is cut; SuffixCuts: timed cuts.
	SuffixMiB  int `json:"suffix_mib"`
	SuffixCuts int `json:"suffix_cuts"`
	// LoadedCalls: timed durable calls of the loaded workloads (each
	// followed by its floor write); LoadedBudget bounds the timed loop, so
	// that a store whose latency collapses under load is measured on the
	// calls it made.
	LoadedCalls  int           `json:"loaded_calls"`
	LoadedBudget time.Duration `json:"loaded_budget"`
	// MachineSeqMiB, MachineSyncs, MemcpyMiB size the machine limits. The
	// sequential write is as large as the 256 KiB × 4 workload's, which
	// is compared with it.
	MachineSeqMiB int `json:"machine_seq_mib"`
	MachineSyncs  int `json:"machine_syncs"`
	MemcpyMiB     int `json:"memcpy_mib"`
	// CellTimeout bounds one cell's process.
	CellTimeout time.Duration `json:"cell_timeout"`
}

// Quick is the CI scale: every store and workload runs once, on small logs.
// It checks that everything runs, not the figures.
var Quick = Scale{
	Name:            "quick",
	Reps:            1,
	Append128Calls:  100,
	Append1KCalls:   200,
	Append256KMiB:   8,
	AppendSpreadMiB: 4,
	GroupEntries:    1024,
	Producers:       64,
	ReadMiB:         8,
	RandReads:       20000,
	ReadBudget:      time.Second,
	OpenMiB:         []int{16, 32},
	ReopenMiB:       32,
	DeleteMiB:       8,
	SuffixMiB:       4,
	SuffixCuts:      20,
	LoadedCalls:     15,
	LoadedBudget:    200 * time.Millisecond,
	MachineSeqMiB:   8,
	MachineSyncs:    200,
	MemcpyMiB:       16,
	CellTimeout:     2 * time.Minute,
}

// Default is the scale of the published results: three repetitions, the
// sizes the issue names (open time from 256 MiB to 4 GiB, reopen after
// 500 MiB).
var Default = Scale{
	Name:            "default",
	Reps:            3,
	Append128Calls:  1000,
	Append1KCalls:   2000,
	Append256KMiB:   256,
	AppendSpreadMiB: 64,
	GroupEntries:    16384,
	Producers:       64,
	ReadMiB:         256,
	RandReads:       200000,
	ReadBudget:      5 * time.Second,
	OpenMiB:         []int{256, 500, 1024, 4096},
	ReopenMiB:       500,
	DeleteMiB:       256,
	SuffixMiB:       16,
	SuffixCuts:      200,
	LoadedCalls:     500,
	LoadedBudget:    5 * time.Second,
	MachineSeqMiB:   256,
	MachineSyncs:    2000,
	MemcpyMiB:       64,
	CellTimeout:     10 * time.Minute,
}

// Test is the smallest scale, for the harness's own tests.
var Test = Scale{
	Name:            "test",
	Reps:            1,
	Append128Calls:  10,
	Append1KCalls:   20,
	Append256KMiB:   2,
	AppendSpreadMiB: 1,
	GroupEntries:    256,
	Producers:       16,
	ReadMiB:         1,
	RandReads:       1000,
	ReadBudget:      time.Second,
	OpenMiB:         []int{2},
	ReopenMiB:       2,
	DeleteMiB:       1,
	SuffixMiB:       1,
	SuffixCuts:      5,
	LoadedCalls:     10,
	LoadedBudget:    time.Second,
	MachineSeqMiB:   4,
	MachineSyncs:    20,
	MemcpyMiB:       1,
	CellTimeout:     time.Minute,
}

// ScaleByName returns the named scale.
func ScaleByName(name string) (Scale, error) {
	for _, s := range []Scale{Quick, Default, Test} {
		if s.Name == name {
			s.OpenMiB = slices.Clone(s.OpenMiB)
			return s, nil
		}
	}
	return Scale{}, fmt.Errorf("unknown scale %q (quick, default, test)", name)
}

// Validate checks that the scale is usable.
func (s Scale) Validate() error {
	switch {
	case s.Reps < 1:
		return fmt.Errorf("scale %s: reps %d < 1", s.Name, s.Reps)
	case len(s.OpenMiB) == 0:
		return fmt.Errorf("scale %s: no open sizes", s.Name)
	case !slices.Contains(s.OpenMiB, s.ReopenMiB):
		return fmt.Errorf("scale %s: reopen size %d MiB is not one of the open sizes %v", s.Name, s.ReopenMiB, s.OpenMiB)
	case s.Producers < 1 || s.GroupEntries < s.Producers:
		return fmt.Errorf("scale %s: %d producers, %d entries", s.Name, s.Producers, s.GroupEntries)
	case s.SuffixCuts < 1:
		return fmt.Errorf("scale %s: %d suffix cuts", s.Name, s.SuffixCuts)
	case s.LoadedCalls < 1 || s.LoadedBudget <= 0:
		return fmt.Errorf("scale %s: loaded calls %d, budget %v", s.Name, s.LoadedCalls, s.LoadedBudget)
	}
	return nil
}

// LargeOpenMiB returns the open size the "flat RSS" target reads: the
// largest one not above 1 GiB (the smallest when all are larger).
func (s Scale) LargeOpenMiB() int {
	best := 0
	for _, m := range s.OpenMiB {
		if m <= 1024 && m > best {
			best = m
		}
	}
	if best == 0 {
		best = slices.Min(s.OpenMiB)
	}
	return best
}

// SmallOpenMiB returns the smallest open size.
func (s Scale) SmallOpenMiB() int { return slices.Min(s.OpenMiB) }
