//go:build linux

package journal

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/spoolhq/spool/mmapio"
)

// procIOWriteBytes returns the process's write_bytes from /proc/self/io:
// bytes it caused to be sent to storage, counted when page cache folios
// become dirty (a folio counts whole, however little of it was written).
func procIOWriteBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no write_bytes in /proc/self/io")
	return 0
}

// TestDurableRoundsDirtyWhatTheyWrite appends durable rounds of 1 MiB (4
// entries of 256 KiB, one sync each) and counts the bytes the process
// dirtied in the page cache beyond the zeros the prefill wrote ahead.
// Without the prefill, or with read-around allowed on the write region,
// the page cache holds the segment in folios of up to 2 MiB: every round
// dirties, and its sync writes, the whole folio it ends in, and again in
// the next round (on this CI VM, whose disk reads around 8 MiB: 429 MiB
// dirtied for 160 MiB appended before the prefill). Now a round redirties
// the prefill piece it ends in, a sixteenth of a round, and the
// checkpoint's page (prefill.go).
func TestDurableRoundsDirtyWhatTheyWrite(t *testing.T) {
	// One large segment and no spare file: nothing but the rounds and
	// the prefill ahead of them dirties pages.
	j := mustOpen(t, t.TempDir(), &Options{Sync: SyncEach, SegmentSize: 256 << 20, spare: spareOff})
	defer closeOK(t, j)
	p := bytes.Repeat([]byte{0x5a}, 256<<10)
	round := func() {
		if _, _, err := j.AppendBatch(func(b *Batch) error {
			for range 4 {
				if _, err := b.AppendBytes(p); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		round() // the round-size estimate settles
	}
	const rounds = 160 // stays below zeroCap
	zeros, before := prefillZeroBytes.Load(), procIOWriteBytes(t)
	for range rounds {
		round()
	}
	dirtied := procIOWriteBytes(t) - before
	zeros = prefillZeroBytes.Load() - zeros
	appended := int64(rounds * 4 * len(p))
	// Stores into prefilled folios dirty nothing more; what a round
	// dirties beyond the zeros is the folio it ended in, redirtied by the
	// next one, and the checkpoint's page: 11 MiB here. The bound leaves
	// room for a loaded machine and for the prefill running up to
	// prefaultAhead ahead, so that the zeros counted in the window may
	// differ from those its rounds wrote into by that much.
	redirtied := dirtied - zeros
	bound := appended/2 + rounds*2*int64(mmapio.PageSize()) + prefaultAhead
	t.Logf("%d MiB appended in %d durable rounds: %.1f MiB dirtied, %.1f MiB of them prefill zeros; %.1f MiB redirtied (bound %.1f)",
		appended>>20, rounds, float64(dirtied)/(1<<20), float64(zeros)/(1<<20), float64(redirtied)/(1<<20), float64(bound)/(1<<20))
	if redirtied > bound {
		t.Fatalf("%d bytes redirtied by %d rounds of %d bytes, want at most %d", redirtied, rounds, appended/rounds, bound)
	}
}
