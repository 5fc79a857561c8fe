package journal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spoolhq/spool/mmapio"
)

// TestPrefillNeverZeroesClaimedBytes runs a prefiller and a writer over
// one mapped file at once, as the prefaulter and an appender do, and
// checks that no zero ever lands on a byte the writer claimed and wrote.
// It repeats until both of the writer's paths have been taken many times:
// claims below the frontier (one atomic load) and claims of a writer that
// overtook the prefiller (which writes its own zeros).
func TestPrefillNeverZeroesClaimedBytes(t *testing.T) {
	const size = 8 << 20
	var fast, overtook int
	for round := 0; fast < 50 || overtook < 50; round++ {
		if round == 2000 {
			t.Fatalf("after %d rounds: %d fast claims, %d overtaking claims; want 50 of each", round, fast, overtook)
		}
		path := filepath.Join(t.TempDir(), "f")
		f, err := mmapio.OS.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Allocate(size); err != nil {
			t.Fatal(err)
		}
		mm, err := f.Map(0, size, true)
		if err != nil {
			t.Fatal(err)
		}
		data := mm.Bytes()
		var p prefill
		p.arm(dataStart)
		limit := int64(size - 64<<10)
		chunk := int64(minPrefillChunk << rand.IntN(4))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for to := int64(dataStart); to < limit; to += 64 << 10 {
				p.fill(f, to, chunk, stop)
			}
		}()
		off := int64(dataStart)
		for off < limit-(64<<10) {
			end := off + 1 + rand.Int64N(48<<10)
			if end <= p.frontier.Load() {
				fast++
			} else {
				overtook++
			}
			p.claim(f, end, limit, chunk)
			for i := off; i < end; i++ {
				data[i] = byte(i%251) | 1
			}
			off = end
		}
		close(stop)
		wg.Wait()
		for i := int64(dataStart); i < off; i++ {
			if data[i] != byte(i%251)|1 {
				t.Fatalf("round %d: byte %d is %#x after the prefill: a zero landed on a claimed byte", round, i, data[i])
			}
		}
		if err := mm.Unmap(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d fast claims, %d overtaking claims", fast, overtook)
}

// TestZeroCapBelowEverySlot fills the smallest segment with empty entries,
// the case with the most slots, and checks that no slot lies below
// zeroCap, where the prefill may write zeros.
func TestZeroCapBelowEverySlot(t *testing.T) {
	j := mustOpen(t, t.TempDir(), &Options{SegmentSize: minSegmentSize, Sync: PageCache})
	defer closeOK(t, j)
	if _, err := j.AppendBytes(nil); err != nil {
		t.Fatal(err)
	}
	first := j.segs.Load().segs[0]
	for len(j.segs.Load().segs) == 1 {
		if _, err := j.AppendBytes(nil); err != nil {
			t.Fatal(err)
		}
	}
	n := first.count.Load()
	low := first.slotOff(n - 1)
	if low < zeroCap(first.size) {
		t.Fatalf("slot %d of a full segment at %d, below zeroCap %d", n-1, low, zeroCap(first.size))
	}
	t.Logf("%d entries; lowest slot at %d, zeroCap %d, data end %d", n, low, zeroCap(first.size), first.writeOff)
}

// TestPrefilledAppendsReadBack appends entries of many sizes, across
// segment rolls, with the prefaulter prefilling ahead, and reads every
// entry back, before and after a reopen. Under PageCache no round sizes the
// prefill pieces, which stay at 4 KiB: a write past the windows the writer
// claimed (a format-3 chunk's block sums follow its last window) is then
// the first thing the prefill zeroes.
func TestPrefilledAppendsReadBack(t *testing.T) {
	for _, policy := range []SyncPolicy{GroupCommit, PageCache} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) { testPrefilledAppendsReadBack(t, policy) })
	}
}

func testPrefilledAppendsReadBack(t *testing.T, policy SyncPolicy) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: 16 << 20, Sync: policy}
	j := mustOpen(t, dir, opts)
	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]byte
	total := 0
	for total < 24<<20 {
		n := rng.IntN(300 << 10)
		switch rng.IntN(8) {
		case 0: // block sums of 0.5-1.5 KiB, crossing pages
			n = 1<<20 + rng.IntN(2<<20)
		case 1, 2, 3, 4, 5:
			n = rng.IntN(2 << 10)
		}
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32()) | 1
		}
		if _, err := j.AppendBytes(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
		total += n
	}
	check := func(j *Journal) {
		for i, p := range want {
			got, err := j.ReadBytes(uint64(i+1), nil)
			if err != nil {
				t.Fatalf("entry %d: %v", i+1, err)
			}
			if !bytes.Equal(got, p) {
				t.Fatalf("entry %d differs", i+1)
			}
		}
	}
	check(j)
	closeOK(t, j)
	j = mustOpen(t, dir, opts)
	defer closeOK(t, j)
	check(j)
}

// TestPrefillSparesBlockSums appends one entry whose block sums end past
// its last window, runs the prefill to the end of what it may zero, and
// reads the entry back: the writer claims the sums before writing them, so
// the prefill's frontier lies past them.
func TestPrefillSparesBlockSums(t *testing.T) {
	j := mustOpen(t, t.TempDir(), &Options{SegmentSize: 16 << 20, Sync: PageCache})
	defer closeOK(t, j)
	// 8 MiB: the payload fills its last window, and 512 block sums (4
	// KiB, more than the claim's rounding to the next page covers) follow
	// it.
	p := payload(3, 8<<20)
	if _, err := j.AppendBytes(p); err != nil {
		t.Fatal(err)
	}
	s := j.segs.Load().segs[0]
	if !s.fill.armed.Load() {
		t.Fatal("the first segment's prefill is not armed")
	}
	s.fill.fill(s.file, zeroCap(s.size), minPrefillChunk, nil)
	got, err := j.ReadBytes(1, nil)
	if err != nil {
		t.Fatalf("entry after the prefill ran ahead of it: %v", err)
	}
	if !bytes.Equal(got, p) {
		t.Fatal("entry differs after the prefill ran ahead of it")
	}
}
