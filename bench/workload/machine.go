package workload

import (
	"fmt"
	"time"

	"github.com/spoolhq/spool/bench/machine"
)

func machineWorkload() Workload {
	ms := []Metric{
		{Key: "seq_write_mibps", Label: "sequential write + 1 fdatasync MiB/s", Better: Higher, Headline: true},
	}
	for _, v := range []struct{ prefix, what string }{
		{"fsync_inplace", "4 KiB in-place write+fdatasync"},
		{"fsync_prealloc", "4 KiB write+fdatasync into fallocated blocks"},
		{"fsync_append", "4 KiB appending write+fdatasync"},
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
	)
	return Workload{
		Name:    "machine",
		Title:   "the machine's limits: sequential write + one fdatasync, 4 KiB write + fdatasync latency, memcpy",
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
	})
	if err != nil {
		return Result{}, err
	}
	r := newResult()
	r.Metrics["seq_write_mibps"] = l.SeqWriteMiBps
	r.Metrics["memcpy_mibps"] = l.MemcpyMiBps
	r.Metrics["memcpy4k_mibps"] = l.Memcpy4KiBMiBps
	for prefix, lat := range map[string][]time.Duration{
		"fsync_inplace":  l.FsyncInPlace,
		"fsync_prealloc": l.FsyncPrealloc,
		"fsync_append":   l.FsyncAppend,
	} {
		addLatencies(r, prefix, lat)
	}
	return r, nil
}
