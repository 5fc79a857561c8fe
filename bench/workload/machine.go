package workload

import (
	"fmt"
	"time"

	"github.com/spoolhq/spool/bench/machine"
)

func machineWorkload() Workload {
	ms := []Metric{
		{Key: "seq_write_mibps", Label: "sequential write + 1 fdatasync MiB/s", Better: Higher, Headline: true},
		{Key: "seq_sync_mibps", Label: "sequential 1 MiB write+fdatasync per call MiB/s", Better: Higher, Headline: true},
	}
	for _, v := range []struct{ prefix, what string }{
		{"fsync_inplace", "4 KiB in-place write+fdatasync"},
		{"fsync_prealloc", "4 KiB write+fdatasync into fallocated blocks"},
		{"fsync_append", "4 KiB appending write+fdatasync"},
		{"seq_sync", "1 MiB appending write+fdatasync"},
	} {
		for _, q := range Percentiles {
			m := Metric{Key: PercentileKey(v.prefix, q), Better: Lower}
			switch q {
			case 50, 99, 99.9:
				m.Headline = true
			}
			m.Label = fmt.Sprintf("%s p%g µs", v.what, q)
			if q == 100 {
				m.Label = v.what + " max µs"
			}
			ms = append(ms, m)
		}
	}
	ms = append(ms,
		Metric{Key: "memcpy_mibps", Label: "memcpy MiB/s (large buffers)", Better: Higher, Headline: true},
		Metric{Key: "memcpy4k_mibps", Label: "memcpy MiB/s (4 KiB pieces)", Better: Higher, Headline: true},
		Metric{Key: "randcopy_ns", Label: "1 KiB copy from a random offset of a mapped file as large as the read log, ns", Better: Lower, Headline: true},
	)
	return Workload{
		Name:    "machine",
		Title:   "the machine's limits: sequential write + one fdatasync, 1 MiB write + fdatasync per call, 4 KiB write + fdatasync latency, memcpy, random 1 KiB copy out of a large mapping",
		Machine: true,
		Metrics: ms,
		Run:     runMachine,
	}
}

func runMachine(env *Env) (Result, error) {
	l, err := machine.Measure(machine.Config{
		Dir:         env.Dir,
		SeqBytes:    int64(env.Scale.MachineSeqMiB) * mib,
		Syncs:       env.Scale.MachineSyncs,
		MemcpyBytes: env.Scale.MemcpyMiB * mib,
		// As large as the log read-rand reads, with as many reads.
		RandCopyBytes: int64(env.Scale.ReadMiB) * mib,
		RandCopies:    env.Scale.RandReads,
	})
	if err != nil {
		return Result{}, err
	}
	r := newResult()
	r.Metrics["seq_write_mibps"] = l.SeqWriteMiBps
	r.Metrics["memcpy_mibps"] = l.MemcpyMiBps
	r.Metrics["memcpy4k_mibps"] = l.Memcpy4KiBMiBps
	r.Metrics["seq_sync_mibps"] = l.SeqSyncMiBps
	r.Metrics["randcopy_ns"] = l.RandCopyNs
	for prefix, lat := range map[string][]time.Duration{
		"fsync_inplace":  l.FsyncInPlace,
		"fsync_prealloc": l.FsyncPrealloc,
		"fsync_append":   l.FsyncAppend,
		"seq_sync":       l.SeqSync,
	} {
		addLatencies(r, prefix, lat)
	}
	return r, nil
}
