//go:build linux

package hashicorp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/internal/childkill"
)

// killData is the Data of entry idx written in term: its size and bytes
// follow from both, so the parent can check every entry it reads back.
func killData(idx, term uint64) []byte {
	n := int((idx*131 + term*7) % 300)
	if (idx+term)%29 == 0 {
		n = 40_000 // a few of these per segment of 64 KiB
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(idx + term + uint64(i))
	}
	return b
}

// TestSIGKILLChild is the child half of TestSIGKILL: random StoreLogs,
// prefix and suffix DeleteRange and SetUint64 calls, each announced on
// stdout before it starts ("B kind a b term") and confirmed once it
// returned ("E").
func TestSIGKILLChild(t *testing.T) {
	dir := os.Getenv("SPOOL_HC_SIGKILL_DIR")
	if dir == "" {
		t.Skip("child process of TestSIGKILL")
	}
	round, _ := strconv.ParseUint(os.Getenv("SPOOL_HC_SIGKILL_ROUND"), 10, 64)
	s, err := Open(dir, &Options{JournalOptions: JournalOptions{SegmentSize: smallSegments}})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(3)
	}
	rng := rand.New(rand.NewPCG(round, 99))
	term := round * 1_000_000
	say := func(format string, args ...any) {
		if _, err := fmt.Printf(format+"\n", args...); err != nil {
			os.Exit(3)
		}
	}
	fail := func(err error) {
		say("error: %v", err)
		os.Exit(3)
	}
	for {
		term++
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		switch r := rng.IntN(20); {
		case r < 14 || first == 0:
			start := last + 1
			if first == 0 {
				start = 1 + rng.Uint64N(5000) // an emptied log restarts anywhere
			}
			n := 1 + rng.Uint64N(64)
			logs := make([]*raft.Log, n)
			for i := range logs {
				idx := start + uint64(i)
				logs[i] = &raft.Log{Index: idx, Term: term, Type: raft.LogCommand, Data: killData(idx, term)}
			}
			say("B S %d %d %d", start, start+n-1, term)
			if err := s.StoreLogs(logs); err != nil {
				fail(err)
			}
		case r < 17:
			min := last - rng.Uint64N(min(10, last-first+1))
			say("B D %d %d %d", min, last, term)
			if err := s.DeleteRange(min, last); err != nil {
				fail(err)
			}
		case r < 19:
			max := first + rng.Uint64N((last-first)/2+1)
			say("B D %d %d %d", first, max, term)
			if err := s.DeleteRange(first, max); err != nil {
				fail(err)
			}
		default:
			say("B T %d 0 %d", term, term)
			if err := s.SetUint64([]byte("CurrentTerm"), term); err != nil {
				fail(err)
			}
		}
		say("E")
	}
}

// killModel is what the log and CurrentTerm hold: terms[i] is the term of
// entry first+i.
type killModel struct {
	first uint64
	terms []uint64
	ct    uint64
}

func (m killModel) apply(kind string, a, b, term uint64) killModel {
	terms := append([]uint64(nil), m.terms...)
	switch kind {
	case "S":
		if len(terms) == 0 {
			m.first = a
		}
		for range b - a + 1 {
			terms = append(terms, term)
		}
	case "D":
		last := m.first + uint64(len(terms)) - 1
		if a <= m.first { // prefix
			terms = terms[min(b, last)-m.first+1:]
			m.first = min(b, last) + 1
		} else {
			terms = terms[:a-m.first]
		}
	case "T":
		m.ct = a
	}
	m.terms = terms
	return m
}

// matches reports whether s holds exactly m.
func (m killModel) matches(s *Store) error {
	first, last := firstLastErr(s)
	wantFirst, wantLast := m.first, m.first+uint64(len(m.terms))-1
	if len(m.terms) == 0 {
		wantFirst, wantLast = 0, 0
	}
	if first != wantFirst || last != wantLast {
		return fmt.Errorf("log [%d, %d], want [%d, %d]", first, last, wantFirst, wantLast)
	}
	for i, term := range m.terms {
		idx := m.first + uint64(i)
		var l raft.Log
		if err := s.GetLog(idx, &l); err != nil {
			return fmt.Errorf("GetLog(%d): %w", idx, err)
		}
		if l.Term != term || !bytes.Equal(l.Data, killData(idx, term)) {
			return fmt.Errorf("entry %d: term %d, %d bytes; want term %d", idx, l.Term, len(l.Data), term)
		}
	}
	if ct, err := s.GetUint64([]byte("CurrentTerm")); err != nil || ct != m.ct {
		return fmt.Errorf("CurrentTerm %d, %v; want %d", ct, err, m.ct)
	}
	return nil
}

func firstLastErr(s *Store) (uint64, uint64) {
	f, _ := s.FirstIndex()
	l, _ := s.LastIndex()
	return f, l
}

// TestSIGKILL re-executes the test binary as a child that stores entries,
// truncates the log at both ends and sets a stable key, kills it with
// SIGKILL at a random point of its progress (in the middle of an
// operation, as often as not), reopens the store and checks that it holds
// exactly the result of every operation the child completed, with or
// without the one it was running: a truncation or a stable key write is
// done or not, no removed entry reappears, and of an interrupted StoreLogs
// a prefix remains (possibly empty or whole; see Store.StoreLogs). The kill
// follows the child's reports, not a clock: it comes only after the child
// completed its first operation (a child killed earlier, still opening the
// store on a busy machine, would test nothing), once it has reported a
// random number of further operation starts and ends. Rounds:
// SPOOL_SIGKILL_ROUNDS (default 6).
func TestSIGKILL(t *testing.T) {
	if os.Getenv("SPOOL_HC_SIGKILL_DIR") != "" {
		t.Skip("in the child")
	}
	rounds := 6
	if n, err := strconv.Atoi(os.Getenv("SPOOL_SIGKILL_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	var model killModel
	midOp, partial := 0, 0
	for round := 1; round <= rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SPOOL_HC_SIGKILL_DIR="+dir, fmt.Sprintf("SPOOL_HC_SIGKILL_ROUND=%d", round))
		// Lines after the first completed operation before the kill: an
		// operation is two lines (its start and its end), so an even count
		// kills between operations, an odd one in the middle of one.
		after := rng.IntN(80)
		jitter := time.Duration(rng.IntN(2000)) * time.Microsecond
		ops := 0
		var pending []string
		var bad string
		lines := 0
		killed := false
		err := childkill.Run(t, cmd, func(line string) bool {
			switch {
			case strings.HasPrefix(line, "B "):
				pending = strings.Fields(line)[1:]
			case line == "E" && pending != nil:
				model = model.apply(pending[0], atou(pending[1]), atou(pending[2]), atou(pending[3]))
				pending = nil
				ops++
			case strings.HasPrefix(line, "=== RUN"), line == "":
				return false
			default:
				if bad == "" {
					bad = line
				}
				return true // kill at once: the child failed
			}
			if ops > 0 {
				lines++
			}
			if ops > 0 && lines > after && !killed {
				killed = true
				time.Sleep(jitter) // anywhere inside the operation that follows
				return true
			}
			return false
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if bad != "" {
			t.Fatalf("round %d: child said %q", round, bad)
		}
		if ops == 0 {
			t.Fatalf("round %d: the child completed no operation", round)
		}
		s, err := Open(dir, &Options{JournalOptions: JournalOptions{SegmentSize: smallSegments}})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		err = model.matches(s)
		if err != nil && pending != nil {
			a, b := atou(pending[1]), atou(pending[2])
			if _, last := firstLastErr(s); pending[0] == "S" && last >= a && last < b {
				// A prefix of the interrupted batch: the journal recovers
				// a contiguous prefix of what was written, and a batch
				// whose StoreLogs did not return is not acknowledged.
				b = last
				partial++
			}
			with := model.apply(pending[0], a, b, atou(pending[3]))
			if err2 := with.matches(s); err2 == nil {
				model, err = with, nil
			} else {
				err = fmt.Errorf("without the interrupted %v: %v; with it: %v", pending, err, err2)
			}
		}
		if pending != nil {
			midOp++
		}
		first, last := firstLastErr(s)
		_ = s.Close()
		if err != nil {
			t.Fatalf("round %d, after %d completed operations: %v", round, ops, err)
		}
		t.Logf("round %d: %d operations completed, killed during %v; log [%d, %d]", round, ops, pending, first, last)
	}
	t.Logf("%d of %d kills interrupted an operation, %d of them a StoreLogs that left part of its batch", midOp, rounds, partial)
}

func atou(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}
