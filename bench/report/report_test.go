package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoolhq/spool/bench/catalog"
	"github.com/spoolhq/spool/bench/harness"
	"github.com/spoolhq/spool/bench/workload"
)

// fakeRun builds results for the test scale with one record per
// (column, workload, repetition); value(store, workload, metric, rep) gives
// each figure.
func fakeRun(stores []harness.StoreInfo, reps int, value func(store, wl, metric string, rep int) float64) *harness.Results {
	sc := workload.Test
	sc.Reps = reps
	res := &harness.Results{Command: "test", Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Scale: sc, Stores: stores}
	for _, w := range workload.List(sc) {
		res.Workloads = append(res.Workloads, w)
		cols := []string{workload.MachineColumn}
		if !w.Machine {
			cols = nil
			for _, s := range stores {
				cols = append(cols, s.Name)
			}
		}
		for rep := range reps {
			for _, c := range cols {
				rec := harness.Record{Rep: rep, Store: c, Workload: w.Name, Metrics: map[string]float64{}, Labels: map[string]string{"cache": "warm"}}
				for _, m := range w.Metrics {
					rec.Metrics[m.Key] = value(c, w.Name, m.Key, rep)
				}
				res.Records = append(res.Records, rec)
			}
		}
	}
	return res
}

var peers = []harness.StoreInfo{
	{Name: "raft-wal", Kind: "peer"}, {Name: "raft-boltdb", Kind: "peer"},
	{Name: "tidwall/wal", Kind: "peer"}, {Name: "etcd-wal", Kind: "peer"},
}

func TestSummaryMedianRangeAndRatios(t *testing.T) {
	res := fakeRun(peers, 3, func(store, wl, metric string, rep int) float64 {
		base := map[string]float64{"raft-wal": 100, "raft-boltdb": 50, "tidwall/wal": 200, "etcd-wal": 400, workload.MachineColumn: 1000}[store]
		return base + float64(rep) // 100, 101, 102 -> median 101
	})
	sum := Summarize(res)
	st, ok := sum.Stat("raft-wal", "append-1k", "entries_per_s")
	if !ok {
		t.Fatal("no summary")
	}
	if st.Median != 101 || st.Min != 100 || st.Max != 102 || st.N != 3 {
		t.Fatalf("stat = %+v", st)
	}
	// entries/s: higher is better, the best peer is etcd-wal (401).
	if st.BestPeer != "etcd-wal" || st.PeerRatio == nil || *st.PeerRatio != 101.0/401 {
		t.Fatalf("best peer %q ratio %v", st.BestPeer, st.PeerRatio)
	}
	// call p50: lower is better, the best peer is raft-boltdb (51); the
	// limit is the machine's in-place fsync p50 (1001).
	st, _ = sum.Stat("raft-wal", "append-1k", "call_p50_us")
	if st.BestPeer != "raft-boltdb" || *st.PeerRatio != 101.0/51 || st.LimitRatio == nil || *st.LimitRatio != 101.0/1001 {
		t.Fatalf("lower-is-better ratios: %+v peer %v limit %v", st, *st.PeerRatio, st.LimitRatio)
	}
}

func TestTargetsWithoutSpool(t *testing.T) {
	res := fakeRun(peers, 1, func(string, string, string, int) float64 { return 10 })
	sum := Summarize(res)
	for _, o := range Evaluate(Targets, res, sum) {
		if o.Met != nil || !strings.HasSuffix(o.Status, "not yet registered") {
			t.Errorf("%s: status %q met %v", o.Target.Text, o.Status, o.Met)
		}
	}
	var md bytes.Buffer
	Markdown(&md, res, sum, Evaluate(Targets, res, sum), nil)
	if !strings.Contains(md.String(), "spool: not yet registered") {
		t.Error("markdown does not say spool is not registered")
	}
}

func TestTargetsEvaluatedOnceSpoolIsRegistered(t *testing.T) {
	stores := append([]harness.StoreInfo{
		{Name: catalog.Spool, Kind: "subject"}, {Name: catalog.SpoolNative, Kind: "subject"},
	}, peers...)
	res := fakeRun(stores, 1, func(store, wl, metric string, rep int) float64 {
		switch {
		case store == workload.MachineColumn:
			return 100 // every limit
		case store == catalog.Spool && metric == "call_p50_us":
			return 109 // ≤ 1.15 × 100 (128×64) and ≤ 1.1 × 100 (1 KiB): met
		case store == catalog.Spool && metric == "call_p99_us":
			return 11 // > raft-wal's 10
		case store == catalog.Spool && metric == "entries_per_s":
			return 1000 // vs raft-wal 10: ≥ 1.1× and ≥ 5×
		case store == catalog.Spool && wl == "read-rand" && metric == "ns_per_op":
			return 151 // > 1.5 × the random copy's 100
		case store == catalog.Spool && metric == "reclaimed_statfs_pct":
			return 44 // < 45
		case store == catalog.Spool && metric == "reclaimed_pct":
			return 99 // no longer a target: the statfs figure is
		case store == catalog.Spool:
			return 0.5
		}
		return 10
	})
	sum := Summarize(res)
	got := map[string]string{}
	for _, o := range Evaluate(Targets, res, sum) {
		got[o.Target.Text] = o.Status
	}
	want := map[string]string{
		"append 128 B × 64 durable: call p50 ≤ 1.15× in-place write+fdatasync p50":                         "met",
		"append 128 B × 64 durable: entries/s ≥ 1.1× raft-wal":                                             "met",
		"append one 1 KiB durable: call p50 ≤ 1.1× 4 KiB in-place write+fdatasync p50":                     "met",
		"append 256 KiB × 4 durable: MiB/s ≥ 1.1× raft-wal":                                                "MISSED", // 0.5 < 11
		"append 256 KiB × 4 durable: call p99 ≤ raft-wal's":                                                "MISSED",
		"random GetLog of 1 KiB entries: ns/op ≤ 1.5× a random 1 KiB copy out of an equally large mapping": "MISSED",
		"random GetLog of 1 KiB entries: entries/s ≥ 5× raft-wal":                                          "met",
		"sequential GetLog: ≥ tidwall/wal entries/s":                                                       "met",
		"DeleteRange oldest half: ≤ 0.5× raft-wal's time":                                                  "met", // 0.5 ≤ 5
		"DeleteRange oldest half: ≥ 45% of the disk space free again when the call returns (statfs)":       "MISSED",
	}
	for text, status := range want {
		if got[text] != status {
			t.Errorf("%s: %q, want %q", text, got[text], status)
		}
	}
	for text := range got {
		if strings.Contains(text, "40×") {
			t.Errorf("target %q is still there: issue 14 replaced it with the random-read floor", text)
		}
	}
}

func TestWriteProducesWellFormedFiles(t *testing.T) {
	stores := append([]harness.StoreInfo{{Name: catalog.Spool, Kind: "subject"}}, peers...)
	res := fakeRun(stores, 2, func(store, wl, metric string, rep int) float64 { return float64(len(store)*10 + rep + 1) })
	dir := t.TempDir()
	md, err := Write(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(md, []byte("| spool |")) {
		t.Error("markdown has no spool row")
	}
	svgs, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	if len(svgs) != 4 {
		t.Fatalf("charts: %v", svgs)
	}
	for _, f := range svgs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(bytes.NewReader(b))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s is not well-formed XML: %v", filepath.Base(f), err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, JSONFile)); err != nil {
		t.Fatal(err)
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1.5: "1.5", 12.345: "12.3", 123.4: "123", 12345: "12.3k", 2.5e6: "2.5M", 0.0421: "0.042"} {
		if got := num(v); got != want {
			t.Errorf("num(%g) = %q, want %q", v, got, want)
		}
	}
}

// TestLoadedTargetsAndFloorRow checks the durable-latency-under-load
// figures: one target per spool column and load, each the column's call
// p50 against 1.3× the floor p50 measured in its own cells, and the series
// tables with a column per load and a row pooling every cell's floor.
func TestLoadedTargetsAndFloorRow(t *testing.T) {
	stores := append([]harness.StoreInfo{
		{Name: catalog.Spool, Kind: "subject"}, {Name: catalog.SpoolNative, Kind: "subject"},
		{Name: catalog.SpoolEtcd, Kind: "subject"},
	}, peers...)
	res := fakeRun(stores, 1, func(store, wl, metric string, rep int) float64 {
		switch {
		case metric == "floor_p50_us" && store == "raft-boltdb":
			return 300 // pooled floor: median of 100 ×6 and 300 is 100
		case metric == "floor_p50_us":
			return 100
		case metric == "call_p50_us" && store == catalog.SpoolNative:
			return 125 // ≤ 130: met
		case metric == "call_p50_us" && store == catalog.Spool && wl == workload.LoadedName(8):
			return 12000 // the collapse under load: missed
		case metric == "call_p50_us":
			return 131 // > 130: missed
		}
		return 10
	})
	sum := Summarize(res)
	want := map[[2]string]string{}
	for _, n := range workload.LoadLevels {
		wl := workload.LoadedName(n)
		want[[2]string{catalog.SpoolNative, wl}] = "met"
		want[[2]string{catalog.Spool, wl}] = "MISSED"
		want[[2]string{catalog.SpoolEtcd, wl}] = "MISSED"
	}
	for _, o := range Evaluate(Targets, res, sum) {
		k := [2]string{o.Target.Column, o.Workload}
		status, ok := want[k]
		if !ok || o.Target.Metric != "call_p50_us" {
			continue
		}
		delete(want, k)
		if o.Status != status || o.Threshold == nil || *o.Threshold != 130 {
			t.Errorf("%s: %s (threshold %v), want %s with threshold 130", o.Target.Text, o.Status, o.Threshold, status)
		}
	}
	if len(want) > 0 {
		t.Errorf("no loaded target for %v", want)
	}
	var md bytes.Buffer
	Markdown(&md, res, sum, Evaluate(Targets, res, sum), nil)
	for _, s := range []string{
		"| call p50 µs | N=0 | N=2 | N=8 |",
		"| *floor: in-place write+fdatasync* | 100 [100–300] | 100 [100–300] | 100 [100–300] |",
		"| spool-etcd | 131",
	} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q", s)
		}
	}
}
