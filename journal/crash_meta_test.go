package journal

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// TestCrashMetaSectors crashes a meta write between its write and its
// sync and tries every old/new/garbage combination of the eight sectors of
// the slot it wrote (3^8 = 6561 images), for a write to either slot: each
// image must load as exactly the old state or exactly the new one, never a
// mix, never an error. Every ninth image is also opened as a journal and
// checked end to end (the cheaper loadMeta is what Open itself uses).
func TestCrashMetaSectors(t *testing.T) {
	images, opened := 0, 0
	for slot := 0; slot < 2; slot++ {
		t.Run(fmt.Sprintf("slot write %d", slot), func(t *testing.T) {
			fs := crashfs.New()
			defer releaseFS(fs)
			j, err := Open(crashDir, &Options{FS: fs, SegmentSize: testSegSize, spare: spareInline})
			if err != nil {
				t.Fatal(err)
			}
			if slot == 1 { // move the next write to the other slot
				if err := j.SetMeta("k3", []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			if err := j.SetMeta("k0", []byte("old")); err != nil {
				t.Fatal(err)
			}
			oldState := j.meta.state
			// The new write changes bytes in every sector of the slot.
			long := strings.Repeat("n", 3900)
			fs.CrashAfter(1) // the write lands in the page cache; its sync is the crash
			if err := j.SetMeta("k1", []byte(long)); err == nil {
				t.Fatal("SetMeta survived its crash")
			}
			snap := j.crashCloseSnap(fs)
			units := snap.Units()
			if len(units) != 1 || units[0].Kind != crashfs.PageUnit || !strings.HasSuffix(units[0].Path, metaName) {
				t.Fatalf("units %v, want the one meta slot page", units)
			}
			newState := oldState
			newState.generation++
			newState.kv, _ = withKV(oldState.kv, []MetaUpdate{{Key: "k1", Value: []byte(long)}})
			fate := make([]crashfs.Sector, crashfs.PageSize/crashfs.SectorSize)
			for combo := 0; combo < pow3(len(fate)); combo++ {
				for i, c := 0, combo; i < len(fate); i, c = i+1, c/3 {
					fate[i] = crashfs.Sector(c % 3)
				}
				img, err := snap.Image(sectorFates(fate))
				if err != nil {
					t.Fatal(err)
				}
				st, err := loadMeta(img, filepath.Join(crashDir, metaName))
				if err != nil {
					t.Fatalf("fates %v: meta does not load: %v", fate, err)
				}
				allNew := !strings.ContainsAny(fmtFates(fate), "og")
				want := oldState
				if allNew {
					want = newState
				}
				if why := sameMetaState(st, want); why != "" {
					t.Fatalf("fates %v (all new %v): %s", fate, allNew, why)
				}
				if combo%9 == 0 {
					j2, err := Open(crashDir, &Options{FS: img, SegmentSize: testSegSize, spare: spareInline})
					if err != nil {
						t.Fatalf("fates %v: Open: %v", fate, err)
					}
					got, _ := j2.Meta("k1")
					if allNew != (string(got) == long) {
						t.Fatalf("fates %v: journal meta k1 has %d bytes", fate, len(got))
					}
					if err := j2.Close(); err != nil {
						t.Fatalf("fates %v: Close of the recovered journal: %v", fate, err)
					}
					opened++
				}
				releaseFS(img)
				images++
			}
		})
	}
	t.Logf("%d meta crash images (%d opened as journals)", images, opened)
}

// crashCloseSnap abandons j on its frozen FS and returns the snapshot.
func (j *Journal) crashCloseSnap(fs *crashfs.FS) *crashfs.Snapshot {
	snap := fs.Crash()
	j.crashClose()
	return snap
}

func pow3(n int) int {
	p := 1
	for ; n > 0; n-- {
		p *= 3
	}
	return p
}

// sectorFates applies one fate per sector to every page unit.
type sectorFates []crashfs.Sector

func (d sectorFates) Page(_ crashfs.Unit, fate []crashfs.Sector) { copy(fate, d) }
func (d sectorFates) Land(crashfs.Unit) bool                     { return true }

func fmtFates(f []crashfs.Sector) string {
	b := make([]byte, len(f))
	for i, s := range f {
		b[i] = "ong"[s]
	}
	return string(b)
}

func sameMetaState(a, b metaState) string {
	if a.generation != b.generation || a.journalID != b.journalID || a.first != b.first ||
		a.minSegID != b.minSegID || a.nextSegID != b.nextSegID || a.cut != b.cut ||
		a.clean != b.clean || a.idHigh != b.idHigh || len(a.kv) != len(b.kv) {
		return fmt.Sprintf("state generation %d (%d keys), want generation %d (%d keys)", a.generation, len(a.kv), b.generation, len(b.kv))
	}
	for i := range a.kv {
		if a.kv[i].key != b.kv[i].key || string(a.kv[i].value) != string(b.kv[i].value) {
			return fmt.Sprintf("key %q differs", a.kv[i].key)
		}
	}
	return ""
}
