package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
	"github.com/spoolhq/spool/stream"
)

// The crash tests run workloads against a journal on a crashfs.FS, freeze
// the FS at a crash point, build disk images from what was durable and a
// seeded fate for every unsynced page and directory operation, reopen the
// journal on each image and check it against an oracle of what was
// acknowledged. See crash_sweep_test.go for the knobs.

const crashDir = "/spool"

// crashKeys are the meta keys the workloads use; the check reads them all.
var crashKeys = []string{"k0", "k1", "k2", "k3"}

// crashOracle is what the journal must hold after a crash: a contiguous
// prefix of entries that reaches at least durable, and meta equal to one
// of metaStates[metaDurable:].
type crashOracle struct {
	first       uint64
	entries     [][]byte // entries[i] has index first+i; acknowledged or maybe written
	durable     uint64   // every entry at or below it was acknowledged durable
	metaStates  []map[string]string
	metaDurable int
}

func newCrashOracle() *crashOracle {
	return &crashOracle{first: 1, metaStates: []map[string]string{{}}}
}

func (o *crashOracle) last() uint64 { return o.first + uint64(len(o.entries)) - 1 }

func (o *crashOracle) clone() *crashOracle {
	c := *o
	c.entries = slices.Clone(o.entries)
	c.metaStates = slices.Clone(o.metaStates)
	return &c
}

func (o *crashOracle) meta() map[string]string { return o.metaStates[len(o.metaStates)-1] }

func (o *crashOracle) setMeta(updates map[string]*string, durable bool) {
	next := map[string]string{}
	for k, v := range o.meta() {
		next[k] = v
	}
	for k, v := range updates {
		if v == nil {
			delete(next, k)
		} else {
			next[k] = *v
		}
	}
	o.metaStates = append(o.metaStates, next)
	if durable {
		o.metaDurable = len(o.metaStates) - 1
	}
}

func (o *crashOracle) truncateFront(idx uint64) {
	switch {
	case idx <= o.first:
	case idx > o.last()+1:
		o.reset(idx)
	default:
		o.entries = o.entries[idx-o.first:]
		o.first = idx
	}
}

func (o *crashOracle) truncateBack(idx uint64) {
	if idx >= o.last() {
		return
	}
	o.entries = o.entries[:idx+1-o.first]
	o.durable = min(o.durable, idx)
}

func (o *crashOracle) reset(next uint64) {
	o.first, o.entries, o.durable = next, nil, next-1
}

// stepKind is one workload operation.
type stepKind int

const (
	stAppend stepKind = iota
	stAppendStream
	stAppendSized
	stBatch
	stFailAppend
	stFailBatch
	stSync
	stWaitDurable
	stTruncFront
	stTruncBack
	stReset
	stSetMeta
	stLazyMeta
	stReopen
)

var stepNames = [...]string{"append", "append-stream", "append-sized", "batch", "fail-append", "fail-batch", "sync", "wait-durable", "truncate-front", "truncate-back", "reset", "set-meta", "lazy-meta", "reopen"}

// step is a workload operation. Truncation points are fractions of the
// current log, resolved when the step runs, so a fixed workload stays valid
// whatever the log holds.
type step struct {
	kind    stepKind
	sizes   []int   // payload sizes (one for single appends)
	durable bool    // batch: RequireDurable
	frac    float64 // truncations: where in [first, last+1] to cut
	key     string
	val     *string // nil deletes
}

func (s step) String() string {
	switch s.kind {
	case stAppend, stAppendStream, stAppendSized, stBatch, stFailAppend, stFailBatch:
		return fmt.Sprintf("%s%v durable=%v", stepNames[s.kind], s.sizes, s.durable)
	case stTruncFront, stTruncBack:
		return fmt.Sprintf("%s %.2f", stepNames[s.kind], s.frac)
	case stSetMeta, stLazyMeta:
		v := "<delete>"
		if s.val != nil {
			v = *s.val
		}
		return fmt.Sprintf("%s %s=%s", stepNames[s.kind], s.key, v)
	}
	return stepNames[s.kind]
}

var errBoom = errors.New("crash test: caller abort")

// crashRun drives one journal through workload steps, crashes and
// recoveries.
type crashRun struct {
	t      testing.TB
	name   string // seed or workload, for replay
	opts   Options
	fs     *crashfs.FS
	j      *Journal
	o      *crashOracle
	pre    *crashOracle // the state before the step in flight at the crash
	ctr    uint64       // payload generator: every entry ever appended differs
	trace  []string
	verb   bool
	images int
	// allow, when set, accepts a step error that is not a crash (an
	// injected fault): the step is then treated as in flight, like a
	// crash, and its error kept in stepErr.
	allow   func(error) bool
	stepErr error
	// marks holds the durable watermark after each step that moved it,
	// since the last truncation lowered it: marks[len-2] is what the
	// sync round before the last one made durable.
	marks []uint64
}

func newCrashRun(t testing.TB, name string, policy SyncPolicy) *crashRun {
	r := &crashRun{t: t, name: name, o: newCrashOracle(), verb: os.Getenv("SPOOL_CRASH_TRACE") != ""}
	r.opts = Options{SegmentSize: testSegSize, Sync: policy, MaxEntrySize: 1 << 20, spare: spareInline}
	r.fs = crashfs.New()
	r.fs.SetTrace(r.verb)
	return r
}

func (r *crashRun) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	r.trace = append(r.trace, line)
	if len(r.trace) > 60 {
		r.trace = r.trace[len(r.trace)-60:]
	}
	if r.verb {
		r.t.Logf("%s: %s", r.name, line)
	}
}

// fail reports a violation with everything needed to replay it.
func (r *crashRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s (policy %v): %s\nlast steps:\n  %s\nreplay: %s", r.name, r.opts.Sync, fmt.Sprintf(format, args...), strings.Join(r.trace, "\n  "), replayHint(r.name))
}

func replayHint(name string) string {
	if seed, ok := strings.CutPrefix(name, "seed "); ok {
		return "SPOOL_CRASH_SEED=" + seed + " SPOOL_CRASH_TRACE=1 go test -race -run 'TestCrashSweep' ./journal/"
	}
	return "go test -race -run 'TestCrash' ./journal/ (deterministic case: " + name + ")"
}

func (r *crashRun) options(fs *crashfs.FS) *Options {
	o := r.opts
	o.FS = fs
	return &o
}

// open opens the journal on the run's FS. It returns false when the FS
// crashed during Open.
func (r *crashRun) open() bool {
	j, err := Open(crashDir, r.options(r.fs))
	if err != nil {
		if r.fs.Crashed() != nil {
			r.logf("open: crashed: %v", err)
			return false
		}
		r.fail("Open: %v", err)
	}
	r.j = j
	return true
}

func (r *crashRun) payload(n int) []byte {
	r.ctr++
	return payload(r.ctr<<20^uint64(len(r.name)), n)
}

// cut resolves a truncation fraction to an index in [first, last+1].
func (r *crashRun) cut(frac float64) uint64 {
	n := float64(len(r.o.entries) + 1)
	return r.o.first + uint64(min(n-1, frac*n))
}

// do runs one step, updating the oracle. It returns false when the step
// ran into the crash (the FS is frozen); the oracle then holds the state
// with the step done as far as it could have been (maybe-written, never
// durable), and r.pre the state without it.
func (r *crashRun) do(s step) bool {
	j, o := r.j, r.o
	pre := o.clone()
	var err error
	switch s.kind {
	case stAppend, stAppendStream, stAppendSized:
		p := r.payload(s.sizes[0])
		var idx uint64
		switch s.kind {
		case stAppend:
			idx, err = j.AppendBytes(p)
		case stAppendStream:
			idx, err = j.Append(func(w *stream.Writer) error { _, err := w.Write(p); return err })
		default:
			idx, err = j.AppendSized(int64(len(p)), func(w *stream.Writer) error { _, err := w.Write(p); return err })
		}
		o.entries = append(o.entries, p)
		if err == nil {
			if idx != o.last() {
				r.fail("append returned index %d, want %d", idx, o.last())
			}
			if r.opts.Sync == SyncEach {
				o.durable = idx
			}
		}
	case stBatch:
		var ps [][]byte
		for _, n := range s.sizes {
			ps = append(ps, r.payload(n))
		}
		var first, last uint64
		first, last, err = j.AppendBatch(func(b *Batch) error {
			if s.durable {
				b.RequireDurable()
			}
			for _, p := range ps {
				if _, err := b.AppendBytes(p); err != nil {
					return err
				}
			}
			return nil
		})
		o.entries = append(o.entries, ps...)
		if err == nil {
			if first != pre.last()+1 || last != o.last() {
				r.fail("batch returned [%d,%d], want [%d,%d]", first, last, pre.last()+1, o.last())
			}
			if s.durable || r.opts.Sync == SyncEach {
				o.durable = last
			}
		}
	case stFailAppend, stFailBatch:
		// The caller aborts: nothing may be appended, now or after a crash.
		ps := make([][]byte, len(s.sizes))
		for i, n := range s.sizes {
			ps[i] = r.payload(n)
		}
		if s.kind == stFailAppend {
			_, err = j.Append(func(w *stream.Writer) error { _, _ = w.Write(ps[0]); return errBoom }) // the abort, not a write error, is under test
		} else {
			_, _, err = j.AppendBatch(func(b *Batch) error {
				for _, p := range ps {
					if _, err := b.AppendBytes(p); err != nil {
						return err
					}
				}
				return errBoom
			})
		}
		switch {
		case err == nil:
			r.fail("aborted append succeeded")
		case errors.Is(err, errBoom) && r.fs.Crashed() == nil:
			err = nil // aborted: its entries must never appear
		default:
			// The crash came before the abort returned: the caller
			// never learnt the outcome, so the entries are maybe
			// written, like any unacknowledged append.
			o.entries = append(o.entries, ps...)
		}
	case stSync:
		if err = j.Sync(); err == nil {
			o.durable = o.last()
		}
	case stWaitDurable:
		if o.last() >= o.first {
			if err = j.WaitDurable(context.Background(), o.last()); err == nil {
				o.durable = o.last()
			}
		}
	case stTruncFront:
		idx := r.cut(s.frac)
		if s.frac > 1 {
			idx = o.last() + 2 // past the end: the journal empties
		}
		err = j.TruncateFront(idx)
		o.truncateFront(idx)
	case stTruncBack:
		idx := r.cut(s.frac) - 1
		err = j.TruncateBack(idx)
		o.truncateBack(idx)
	case stReset:
		next := o.last() + 1 + uint64(len(o.entries)%3)
		err = j.Reset(next)
		o.reset(next)
	case stSetMeta, stLazyMeta:
		durable := s.kind == stSetMeta
		err = j.UpdateMeta(durable, MetaUpdate{Key: s.key, Value: metaValue(s.val)})
		o.setMeta(map[string]*string{s.key: s.val}, durable && err == nil)
	case stReopen:
		err = j.Close()
		if err == nil {
			o.durable = o.last()
			if !r.open() {
				r.logf("step %v: crashed in reopen", s)
				r.pre = pre
				return false
			}
			r.checkLive()
		}
	}
	if err != nil {
		if r.fs.Crashed() == nil {
			if r.allow == nil || !r.allow(err) {
				r.fail("step %v: %v", s, err)
			}
			r.stepErr = err
		}
		r.logf("step %v: crashed: %v", s, err)
		r.pre = pre
		// A step that failed acknowledged nothing new.
		o.durable = min(pre.durable, o.durable)
		o.metaDurable = pre.metaDurable
		return false
	}
	if d := r.j.Durable(); d > o.durable && d <= o.last() {
		o.durable = d // the watermark is a promise too
	}
	switch {
	case o.durable < pre.durable:
		r.marks = []uint64{o.durable}
	case o.durable > pre.durable:
		r.marks = append(r.marks, o.durable)
	}
	r.logf("step %v: ok, log [%d,%d] durable %d", s, o.first, o.last(), o.durable)
	return true
}

func metaValue(v *string) []byte {
	if v == nil {
		return nil
	}
	return []byte(*v)
}

// checkLive compares a live (not crashed) journal with the oracle exactly.
func (r *crashRun) checkLive() {
	if why := matchExact(r.j, r.o); why != "" {
		r.fail("live journal differs from the oracle: %s", why)
	}
}

// crash freezes the FS now (if no armed crash point did), abandons the
// journal instance and returns the snapshot.
func (r *crashRun) crash() *crashfs.Snapshot {
	snap := r.fs.Crash()
	if r.verb {
		tr := r.fs.Trace()
		r.t.Logf("%s: FS operations before the crash:\n%s", r.name, strings.Join(tr[max(0, len(tr)-40):], "\n"))
	}
	if r.j != nil {
		// The watermark may have moved since the last step (group
		// commit); whatever it claims must survive.
		if d := r.j.Durable(); d > r.o.durable && d <= r.o.last() && d >= r.o.first {
			r.o.durable = d
		}
		r.j.crashClose()
		r.j = nil
	}
	return snap
}

// recoverImage opens the journal on one crash image and checks it. With
// crashIn >= 0 the image itself crashes after that many operations of the
// recovery, and the check runs on an image of that second crash. It
// returns the journal, its FS and the oracle state it matched, or calls
// fail.
func (r *crashRun) recoverImage(snap *crashfs.Snapshot, d crashfs.Decider, label string, crashIn int64, d2 crashfs.Decider) (*Journal, *crashfs.FS, *crashOracle) {
	img, err := snap.Image(d)
	if err != nil {
		r.t.Fatal(err)
	}
	r.images++
	if crashIn >= 0 {
		img.CrashAfter(crashIn)
		j, err := Open(crashDir, r.options(img))
		if err == nil {
			// Recovery finished before the crash point: crash now.
			j.crashClose()
		} else if img.Crashed() == nil {
			r.fail("%s: Open: %v", label, err)
		}
		snap2 := img.Crash()
		img2, err := snap2.Image(d2)
		if err != nil {
			r.t.Fatal(err)
		}
		releaseFS(img)
		img = img2
		r.images++
		label += fmt.Sprintf(", crashed again after %d recovery ops", crashIn)
	}
	j, err := Open(crashDir, r.options(img))
	if err != nil {
		releaseFS(img)
		r.fail("%s: recovery failed (%d unsynced units): %v", label, len(snap.Units()), err)
	}
	c, why := r.matchCrash(j)
	if c == nil {
		units := snap.Units()
		if len(units) > 40 {
			units = units[:40]
		}
		r.fail("%s: recovered journal [%d,%d] is not a valid crash state: %s\nunits: %v", label, j.FirstIndex(), j.LastIndex(), why, units)
	}
	return j, img, c
}

// matchCrash checks j against the post-crash oracle and, when a step was
// in flight, the state before it. It returns the candidate j matches, or
// nil and why neither does.
func (r *crashRun) matchCrash(j *Journal) (*crashOracle, string) {
	cands := []*crashOracle{r.o}
	if r.pre != nil {
		cands = append(cands, r.pre)
	}
	var whys []string
	for _, c := range cands {
		why := matchPrefix(j, c, r.o)
		if why == "" {
			return c, ""
		}
		whys = append(whys, why)
	}
	return nil, strings.Join(whys, "; or, before the step in flight: ")
}

// matchPrefix checks that j holds c's first index, a prefix of c's entries
// reaching c's durable mark, byte-identical, and meta equal to a state
// meta allows.
func matchPrefix(j *Journal, c, meta *crashOracle) string {
	first, last := j.FirstIndex(), j.LastIndex()
	if first != c.first {
		return fmt.Sprintf("first index %d, want %d", first, c.first)
	}
	if last > c.last() {
		return fmt.Sprintf("last index %d beyond anything appended (%d): a phantom or revived entry", last, c.last())
	}
	if need := max(c.durable, c.first-1); last < need {
		return fmt.Sprintf("last index %d, but entries up to %d were acknowledged durable", last, need)
	}
	for i := first; i <= last; i++ {
		got, err := j.ReadBytes(i, nil)
		if err != nil {
			return fmt.Sprintf("entry %d: %v", i, err)
		}
		if want := c.entries[i-c.first]; !bytes.Equal(got, want) {
			return fmt.Sprintf("entry %d: %d bytes differ from the %d appended", i, len(got), len(want))
		}
	}
	return matchMeta(j, meta)
}

func matchMeta(j *Journal, o *crashOracle) string {
	got := map[string]string{}
	for _, k := range crashKeys {
		if v, ok := j.Meta(k); ok {
			got[k] = string(v)
		}
	}
	for _, st := range o.metaStates[o.metaDurable:] {
		if maps.Equal(got, st) {
			return ""
		}
	}
	return fmt.Sprintf("meta %v is none of the states since the last durable write %v", got, o.metaStates[o.metaDurable:])
}

// matchExact checks a journal that did not crash: exactly the oracle.
func matchExact(j *Journal, o *crashOracle) string {
	if j.LastIndex() != o.last() {
		return fmt.Sprintf("last index %d, want %d", j.LastIndex(), o.last())
	}
	c := o.clone()
	c.durable = o.last()
	m := o.clone()
	m.metaDurable = len(m.metaStates) - 1
	return matchPrefix(j, c, m)
}

// recoverImages recovers imagesPerCrash crash images of snap, chosen by
// image(k) (the decider of image k, where its recovery crashes, -1 for
// never, and the decider of that second crash). Every image but the last
// is checked and closed; the run continues on the last one, and old, the
// crashed disk, is released.
func (r *crashRun) recoverImages(snap *crashfs.Snapshot, old *crashfs.FS, round int, image func(k int) (d crashfs.Decider, crashIn int64, d2 crashfs.Decider)) {
	for k := 0; k < imagesPerCrash; k++ {
		d, crashIn, d2 := image(k)
		label := fmt.Sprintf("crash %d image %d", round, k)
		j, img, c := r.recoverImage(snap, d, label, crashIn, d2)
		if k < imagesPerCrash-1 {
			if err := j.Close(); err != nil {
				r.fail("%s: Close: %v", label, err)
			}
			releaseFS(img)
			continue
		}
		releaseFS(old)
		r.adopt(j, img, c)
	}
}

// adopt makes the recovered journal, which matched c, the run's journal:
// its contents are now the durable truth.
func (r *crashRun) adopt(j *Journal, fs *crashfs.FS, c *crashOracle) {
	n := int(j.LastIndex() + 1 - j.FirstIndex())
	o := &crashOracle{first: j.FirstIndex(), entries: slices.Clone(c.entries[:n]), durable: j.LastIndex()}
	got := map[string]string{}
	for _, k := range crashKeys {
		if v, ok := j.Meta(k); ok {
			got[k] = string(v)
		}
	}
	o.metaStates = []map[string]string{got}
	r.o, r.pre, r.j, r.fs = o, nil, j, fs
	fs.SetTrace(r.verb)
}

// close releases the run's journal and FS.
func (r *crashRun) close() {
	if r.j != nil {
		r.j.crashClose()
		r.j = nil
	}
	if r.fs != nil {
		releaseFS(r.fs)
		r.fs = nil
	}
}

// envIntShort is envInt with a smaller default under -short, the fast
// tier (go test -short ./...); ./test.sh runs the full sizes.
func envIntShort(name string, def, short int) int {
	if testing.Short() {
		def = short
	}
	return envInt(name, def)
}

// envInt reads a positive integer knob.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// randomStep draws a workload step.
func randomStep(rng *rand.Rand) step {
	size := func() int {
		switch r := rng.IntN(100); {
		case r < 5:
			return 0
		case r < 40:
			return 1 + rng.IntN(100)
		case r < 75:
			return 100 + rng.IntN(4900)
		case r < 92:
			return 5000 + rng.IntN(25000)
		default:
			return testSegSize + rng.IntN(2*testSegSize) // spans segments
		}
	}
	sizes := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = size()
		}
		return s
	}
	switch r := rng.IntN(100); {
	case r < 20:
		return step{kind: stAppend, sizes: sizes(1)}
	case r < 26:
		return step{kind: stAppendStream, sizes: sizes(1)}
	case r < 30:
		return step{kind: stAppendSized, sizes: sizes(1)}
	case r < 42:
		return step{kind: stBatch, sizes: sizes(1 + rng.IntN(5)), durable: rng.IntN(3) == 0}
	case r < 45:
		return step{kind: stFailAppend, sizes: sizes(1)}
	case r < 48:
		return step{kind: stFailBatch, sizes: sizes(1 + rng.IntN(4))}
	case r < 56:
		return step{kind: stSync}
	case r < 60:
		return step{kind: stWaitDurable}
	case r < 67:
		f := rng.Float64()
		if rng.IntN(10) == 0 {
			f = 2 // past the end
		}
		return step{kind: stTruncFront, frac: f}
	case r < 74:
		return step{kind: stTruncBack, frac: rng.Float64()}
	case r < 76:
		return step{kind: stReset}
	case r < 90:
		s := step{kind: stSetMeta, key: crashKeys[rng.IntN(len(crashKeys))]}
		if r >= 84 {
			s.kind = stLazyMeta
		}
		if rng.IntN(6) != 0 {
			v := strconv.FormatUint(rng.Uint64(), 36)
			s.val = &v
		}
		return s
	default:
		return step{kind: stReopen}
	}
}
