package crashfs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Crash freezes the FS now (see the package doc) and returns the snapshot.
// A second call returns the same snapshot.
func (f *FS) Crash() *Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.snap == nil {
		f.freezeLocked()
	}
	return f.snap
}

// CrashAfter arms a crash: the next n mutating operations happen, and the
// one after them is where the power fails (it does not happen).
func (f *FS) CrashAfter(n int64) {
	f.mu.Lock()
	f.crashAt = f.ops + n + 1
	f.mu.Unlock()
}

// Crashed returns the snapshot taken when the FS froze, or nil.
func (f *FS) Crashed() *Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

// snapFile is one inode as the crash found it.
type snapFile struct {
	path string
	work []byte // working image, its length the working size
	dur  []byte // durable image, its length the durable size
	lost map[int64][]byte
}

// snapDirOp is an unsynced namespace change; files are inode numbers.
type snapDirOp struct {
	kind     dirOpKind
	name, to string
	ino      int
}

// Snapshot is the state of an FS at the instant it crashed.
type Snapshot struct {
	files    map[int]*snapFile
	durNames map[string]int
	pending  []snapDirOp
	dirs     []string
	units    []Unit
	ops      int64
	err      error // a working image could not be read: Image fails
}

// UnitKind is the kind of an unsynced change.
type UnitKind uint8

// Unit kinds.
const (
	// PageUnit is a 4 KiB page whose working bytes differ from its
	// durable bytes.
	PageUnit UnitKind = iota + 1
	// SizeUnit is a file size change not yet synced.
	SizeUnit
	// DirUnit is a create, remove or rename not yet synced.
	DirUnit
)

// Unit is one change that had not reached the disk when the FS crashed.
type Unit struct {
	Index int
	Kind  UnitKind
	Path  string // the file (for DirUnit, the name created, removed or renamed)
	Off   int64  // PageUnit: offset of the page in the file
	Op    string // DirUnit: "create", "remove" or "rename"
	To    string // DirUnit rename: the new name

	ino int // the inode a SizeUnit or PageUnit belongs to
}

// String describes the unit for failure messages.
func (u Unit) String() string {
	switch u.Kind {
	case PageUnit:
		return fmt.Sprintf("#%d page %s@%d", u.Index, u.Path, u.Off)
	case SizeUnit:
		return fmt.Sprintf("#%d size %s", u.Index, u.Path)
	}
	if u.Op == "rename" {
		return fmt.Sprintf("#%d rename %s -> %s", u.Index, u.Path, u.To)
	}
	return fmt.Sprintf("#%d %s %s", u.Index, u.Op, u.Path)
}

// freezeLocked captures the snapshot; from now on mutating operations
// fail. The caller holds f.mu.
func (f *FS) freezeLocked() {
	s := &Snapshot{files: map[int]*snapFile{}, durNames: map[string]int{}, ops: f.ops}
	pathOf := map[*inode]string{}
	for n, ino := range f.durNames {
		pathOf[ino] = n
	}
	for n, ino := range f.names {
		pathOf[ino] = n
	}
	want := map[*inode]bool{}
	for n, ino := range f.durNames {
		s.durNames[n] = ino.id
		want[ino] = true
	}
	for _, op := range f.pending {
		s.pending = append(s.pending, snapDirOp{kind: op.kind, name: op.name, to: op.to, ino: op.ino.id})
		want[op.ino] = true
		if _, ok := pathOf[op.ino]; !ok {
			pathOf[op.ino] = op.name
		}
	}
	for _, ino := range f.inodes {
		if !want[ino] || ino.back == nil {
			continue
		}
		work := make([]byte, ino.size)
		if err := readFull(ino, work, 0); err != nil && s.err == nil {
			s.err = fmt.Errorf("crashfs: snapshot of %s: %w", pathOf[ino], err)
		}
		lost := make(map[int64][]byte, len(ino.lost))
		for p, b := range ino.lost {
			lost[p] = b
		}
		s.files[ino.id] = &snapFile{path: pathOf[ino], work: work, dur: bytes.Clone(ino.dur), lost: lost}
	}
	for d := range f.dirs {
		s.dirs = append(s.dirs, d)
	}
	slices.Sort(s.dirs)
	s.units = s.computeUnits()
	f.snap = s
}

func (s *Snapshot) computeUnits() []Unit {
	var units []Unit
	add := func(u Unit) {
		u.Index = len(units)
		units = append(units, u)
	}
	for _, op := range s.pending {
		add(Unit{Kind: DirUnit, Path: op.name, Op: op.kind.String(), To: op.to})
	}
	ids := make([]int, 0, len(s.files))
	for id := range s.files {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		sf := s.files[id]
		if len(sf.work) != len(sf.dur) {
			add(Unit{Kind: SizeUnit, Path: sf.path, ino: id})
		}
		end := int64(max(len(sf.work), len(sf.dur)))
		for p := int64(0); p < end; p += PageSize {
			if lost, ok := sf.lost[p]; ok && bytes.Equal(lost, page(sf.work, p)) {
				continue // a failed sync left it clean: it stays old
			}
			if !bytes.Equal(page(sf.work, p), page(sf.dur, p)) {
				add(Unit{Kind: PageUnit, Path: sf.path, Off: p, ino: id})
			}
		}
	}
	return units
}

// page returns the PageSize bytes of b at p, zero-padded past its end.
func page(b []byte, p int64) []byte {
	out := make([]byte, PageSize)
	if p < int64(len(b)) {
		copy(out, b[p:])
	}
	return out
}

// Units returns the unsynced changes, in a fixed order: directory
// operations in the order they were made, then each file's size and pages.
func (s *Snapshot) Units() []Unit { return slices.Clone(s.units) }

// Ops returns the number of mutating operations performed before the crash.
func (s *Snapshot) Ops() int64 { return s.ops }

// Sector is what a crash leaves in one 512-byte sector of an unsynced page.
type Sector uint8

// Sector fates.
const (
	SectorOld     Sector = iota // the durable bytes
	SectorNew                   // the working bytes
	SectorGarbage               // neither: bytes no one wrote
)

// Decider chooses what a crash does to each unsynced unit.
type Decider interface {
	// Page fills fate (one entry per 512-byte sector) for a PageUnit.
	Page(u Unit, fate []Sector)
	// Land reports whether a SizeUnit or DirUnit reaches the disk.
	Land(u Unit) bool
}

type fixed struct {
	sector Sector
	land   bool
}

func (d fixed) Page(_ Unit, fate []Sector) {
	for i := range fate {
		fate[i] = d.sector
	}
}
func (d fixed) Land(Unit) bool { return d.land }

// AllNew lands every unsynced change whole; AllOld loses every one.
var (
	AllNew Decider = fixed{sector: SectorNew, land: true}
	AllOld Decider = fixed{sector: SectorOld, land: false}
)

type only struct {
	unit int
	hit  Decider
	rest Decider
}

func (d only) Page(u Unit, fate []Sector) {
	if u.Index == d.unit {
		d.hit.Page(u, fate)
	} else {
		d.rest.Page(u, fate)
	}
}

func (d only) Land(u Unit) bool {
	if u.Index == d.unit {
		return d.hit.Land(u)
	}
	return d.rest.Land(u)
}

// Omit lands every unsynced change whole except unit i, which is lost.
func Omit(i int) Decider { return only{unit: i, hit: AllOld, rest: AllNew} }

// Only loses every unsynced change except unit i, which lands whole.
func Only(i int) Decider { return only{unit: i, hit: AllNew, rest: AllOld} }

type random struct {
	rng  *rand.Rand
	torn bool // sectors may tear into garbage
}

// Random returns a Decider drawing every choice from a generator seeded
// with seed: a page is lost (3 in 10), lands whole (3 in 10) or is mixed
// (4 in 10), each sector of a mixed page old or new at even odds; a size
// change or directory operation lands half the time. Sectors are atomic:
// this is the guarantee of NVMe (AWUPF is at least one logical block) and
// of 512-byte-emulation drives, and the model the durability assertions
// rely on. The decisions depend only on the seed and the order of the
// calls, which Image makes in unit order.
func Random(seed uint64) Decider {
	return &random{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// RandomTorn is Random on hardware whose sectors can tear: a sector of a
// mixed page that was being rewritten (its bytes change) holds garbage 1
// time in 10.
func RandomTorn(seed uint64) Decider {
	return &random{rng: rand.New(rand.NewPCG(seed, seed^0x7f4a7c159e3779b9)), torn: true}
}

func (d *random) Page(_ Unit, fate []Sector) {
	switch r := d.rng.IntN(10); {
	case r < 3:
		fixed{sector: SectorOld}.Page(Unit{}, fate)
	case r < 6:
		fixed{sector: SectorNew}.Page(Unit{}, fate)
	default:
		for i := range fate {
			switch r := d.rng.IntN(20); {
			case d.torn && r < 2:
				fate[i] = SectorGarbage
			case r < 11:
				fate[i] = SectorOld
			default:
				fate[i] = SectorNew
			}
		}
	}
}

func (d *random) Land(Unit) bool { return d.rng.IntN(2) == 0 }

// Image builds the disk a reboot after the crash finds, as a new FS with
// every file clean (durable equals working). d decides each unit in unit
// order; garbage sectors hold bytes derived from the unit and sector
// numbers, so an image is a pure function of the snapshot and d.
func (s *Snapshot) Image(d Decider) (*FS, error) {
	if s.err != nil {
		return nil, s.err
	}
	landed := make([]bool, len(s.units))
	fates := make([][]Sector, len(s.units))
	for _, u := range s.units {
		if u.Kind == PageUnit {
			fates[u.Index] = make([]Sector, PageSize/SectorSize)
			d.Page(u, fates[u.Index])
		} else {
			landed[u.Index] = d.Land(u)
		}
	}
	names := make(map[string]int, len(s.durNames))
	for n, id := range s.durNames {
		names[n] = id
	}
	// Directory units come first, in the order they were made.
	byIno := map[*inode]int{}
	inoOf := func(id int) *inode {
		for ino, i := range byIno {
			if i == id {
				return ino
			}
		}
		ino := &inode{id: id}
		byIno[ino] = id
		return ino
	}
	view := map[string]*inode{}
	for n, id := range names {
		view[n] = inoOf(id)
	}
	for i, op := range s.pending {
		if landed[i] {
			applyDirOp(view, dirOp{kind: op.kind, name: op.name, to: op.to, ino: inoOf(op.ino)})
		}
	}
	// File contents: durable bytes, with the fates of their units.
	sizes := map[int]int64{}
	for id, sf := range s.files {
		sizes[id] = int64(len(sf.dur))
	}
	for _, u := range s.units {
		if u.Kind == SizeUnit && landed[u.Index] {
			sizes[u.ino] = int64(len(s.files[u.ino].work))
		}
	}
	contents := map[int][]byte{}
	for id, sf := range s.files {
		img := make([]byte, sizes[id])
		copy(img, sf.dur)
		contents[id] = img
	}
	for _, u := range s.units {
		if u.Kind != PageUnit {
			continue
		}
		sf, img := s.files[u.ino], contents[u.ino]
		oldp, newp := page(sf.dur, u.Off), page(sf.work, u.Off)
		for k, fate := range fates[u.Index] {
			lo := u.Off + int64(k*SectorSize)
			if lo >= int64(len(img)) {
				break
			}
			var src []byte
			switch fate {
			case SectorOld:
				src = oldp[k*SectorSize : (k+1)*SectorSize]
			case SectorNew:
				src = newp[k*SectorSize : (k+1)*SectorSize]
			default:
				// Only a sector being written can tear: one whose
				// bytes do not change is rewritten intact (SQLite's
				// "powersafe overwrite").
				src = oldp[k*SectorSize : (k+1)*SectorSize]
				if !bytes.Equal(src, newp[k*SectorSize:(k+1)*SectorSize]) {
					src = garbage(u.Index, k)
				}
			}
			copy(img[lo:], src)
		}
	}
	out := New()
	for _, d := range s.dirs {
		out.dirs[d] = true
	}
	made := map[int]*inode{}
	for n, ino := range view {
		id := byIno[ino]
		c, ok := contents[id]
		if !ok {
			continue // an inode the crash never saw data for
		}
		real, ok := made[id]
		if !ok {
			var err error
			if real, err = out.newInodeLocked(); err != nil {
				out.Close()
				return nil, err
			}
			if len(c) > 0 {
				if _, err := real.back.WriteAt(c, 0); err != nil {
					out.Close()
					return nil, fmt.Errorf("crashfs: backing write: %w", err)
				}
			}
			real.size, real.dur = int64(len(c)), bytes.Clone(c)
			made[id] = real
		}
		out.names[n], out.durNames[n] = real, real
	}
	return out, nil
}

// garbage returns a sector of bytes no one wrote, fixed for unit u and
// sector k.
func garbage(u, k int) []byte {
	rng := rand.New(rand.NewPCG(uint64(u)+1, uint64(k)+0x51ed27))
	b := make([]byte, SectorSize)
	for i := 0; i < len(b); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}
