// Command foliocheck shows the page-cache folio sizes along a segment file
// and what they cost a small durable write through a mapping (bench/
// README.md, "Methodology"). Linux only, as root (it reads
// /proc/self/pagemap and /proc/kpageflags).
//
// Without -raw it writes -pre-mib MiB of 1 KiB entries and 200 single 1 KiB
// StoreLogs through spool's hashicorp adapter and prints, per region of the
// active segment file, how many of its pages are cached and the sizes of
// the folios that hold them. With -raw MODE it prepares a fallocated
// 64 MiB file the way the journal's prefaulter does (MADV_WILLNEED and
// MADV_POPULATE_WRITE over the first 2 MiB, then MADV_POPULATE_WRITE in
// 512 KiB steps up to 8 MiB past -pre-mib), after MADV_RANDOM on the
// mapping (random), POSIX_FADV_RANDOM on the file (fadvrandom), 1 MiB
// pwrites of zeros (pwrite) or nothing (normal); with -time it then times
// 2000 × (1 KiB store at -pre-mib + msync of the written range) and 2000 ×
// (1 KiB pwrite + fdatasync) at the same place of a fallocated file.
//
//	cd bench && go run ./cmd/foliocheck -pre-mib 40
//	cd bench && go run ./cmd/foliocheck -raw random -time -pre-mib 33
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/raftadapter/hashicorp"
)

func main() {
	pre := flag.Int("pre-mib", 40, "")
	timeIt := flag.Bool("time", false, "with -raw: time 2000 × (1 KiB store at -pre-mib + msync of the written range) on the prepared file, and 1 KiB pwrite + fdatasync at the same place of a fallocated file")
	raw := flag.String("raw", "", "instead of a spool store, a fallocated 64 MiB file faulted in as the prefaulter does: normal, random (MADV_RANDOM first), fadvrandom (POSIX_FADV_RANDOM first), pwrite (zeros written with 1 MiB pwrites first)")
	dir := flag.String("dir", "/tmp/bench14/bench/results/tmp/work/folio", "")
	flag.Parse()
	os.RemoveAll(*dir)
	os.MkdirAll(*dir, 0o755)
	if *raw != "" && *timeIt {
		timeRaw(*dir, *raw, *pre)
		return
	}
	if *raw != "" {
		rawFile(*dir, *raw, *pre)
		analyze(filepath.Join(*dir, "raw.seg"), *raw, *pre)
		return
	}
	s, err := hashicorp.Open(*dir, nil)
	if err != nil {
		panic(err)
	}
	data := make([]byte, 1024)
	idx := uint64(1)
	logs := make([]*raft.Log, 256)
	for i := range logs {
		logs[i] = &raft.Log{Type: raft.LogCommand, Term: 1, AppendedAt: time.Unix(1, 0)}
	}
	for w := 0; w < *pre<<20; w += 256 << 10 {
		for _, l := range logs {
			l.Index, l.Data = idx, data
			idx++
		}
		if err := s.StoreLogs(logs); err != nil {
			panic(err)
		}
	}
	one := []*raft.Log{{Type: raft.LogCommand, Term: 1, AppendedAt: time.Unix(1, 0)}}
	for range 200 {
		one[0].Index, one[0].Data = idx, data
		idx++
		if err := s.StoreLogs(one); err != nil {
			panic(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the prefaulter settle
	segs, _ := filepath.Glob(filepath.Join(*dir, "*.seg"))
	sort.Strings(segs)
	analyze(segs[len(segs)-1], "spool", *pre)
	s.Close()
}

func timeRaw(dir, mode string, pre int) {
	const size = 64 << 20
	path := filepath.Join(dir, "raw.seg")
	m := prepare(path, mode, pre)
	data := make([]byte, 1024)
	lat := make([]time.Duration, 2000)
	off := pre << 20
	for i := range lat {
		data[0] = byte(i)
		t0 := time.Now()
		copy(m[off:], data)
		from := off &^ 4095
		off += len(data)
		if _, _, e := syscall.Syscall(syscall.SYS_MSYNC, uintptr(unsafePointer(m[from:])), uintptr(off-from), 4 /* MS_SYNC */); e != 0 {
			panic(e)
		}
		lat[i] = time.Since(t0)
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	wb := ioWrite()
	syscall.Munmap(m)
	f, _ := os.OpenFile(filepath.Join(dir, "pw.seg"), os.O_CREATE|os.O_RDWR, 0o600)
	syscall.Fallocate(int(f.Fd()), 0, 0, size)
	f.Sync()
	plat := make([]time.Duration, 2000)
	off = pre << 20
	for i := range plat {
		t0 := time.Now()
		f.WriteAt(data, int64(off))
		off += len(data)
		syscall.Fdatasync(int(f.Fd()))
		plat[i] = time.Since(t0)
	}
	f.Close()
	sort.Slice(plat, func(a, b int) bool { return plat[a] < plat[b] })
	fmt.Printf("%-10s at %2d MiB: mmap 1 KiB + msync p50 %4d µs p99 %5d µs; pwrite 1 KiB + fdatasync p50 %4d µs p99 %5d µs (%d KiB dirtied before the pwrites)\n",
		mode, pre, lat[1000].Microseconds(), lat[1980].Microseconds(), plat[1000].Microseconds(), plat[1980].Microseconds(), wb>>10)
}

func ioWrite() int64 {
	b, _ := os.ReadFile("/proc/self/io")
	var v int64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "write_bytes:") {
			fmt.Sscanf(line, "write_bytes: %d", &v)
		}
	}
	return v
}

func rawFile(dir, mode string, pre int) {
	m := prepare(filepath.Join(dir, "raw.seg"), mode, pre)
	syscall.Munmap(m)
}

func prepare(path, mode string, pre int) []byte {
	const size = 64 << 20
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		panic(err)
	}
	if mode == "pwrite" {
		z := make([]byte, 1<<20)
		for off := 0; off < size; off += len(z) {
			f.WriteAt(z, int64(off))
		}
		syscall.Fdatasync(int(f.Fd()))
	}
	if mode == "fadvrandom" {
		syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, size, 1 /* POSIX_FADV_RANDOM */, 0, 0)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	if mode == "random" {
		syscall.Madvise(m, 1 /* MADV_RANDOM */)
	}
	const willneed, populateWrite = 3, 23
	madv := func(off, n, adv int) {
		syscall.Syscall(syscall.SYS_MADVISE, uintptr(unsafePointer(m[off:])), uintptr(n), uintptr(adv))
	}
	madv(0, 2<<20, willneed)
	madv(0, 2<<20, populateWrite)
	for off := 2 << 20; off < min(pre<<20+8<<20, size); off += 512 << 10 {
		madv(off, 512<<10, populateWrite)
	}
	return m
}

func analyze(seg, what string, pre int) {
	f, _ := os.Open(seg)
	st, _ := f.Stat()
	size := int(st.Size())
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	vec := make([]byte, size/4096)
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafePointer(m)), uintptr(size), uintptr(unsafePointer(vec))); e != 0 {
		panic(e)
	}
	pm, _ := os.Open("/proc/self/pagemap")
	kf, _ := os.Open("/proc/kpageflags")
	base := uintptr(unsafePointer(m))
	type region struct{ from, to int }
	regions := []region{{0, 2}, {2, 8}, {8, 16}, {16, 32}, {32, 48}, {48, 64}}
	for _, r := range regions {
		hist := map[int]int{}
		cached := 0
		for p := r.from << 8; p < r.to<<8 && p < len(vec); p++ {
			if vec[p]&1 == 0 {
				continue
			}
			cached++
			sink += m[p*4096] // map it
			var e [8]byte
			pm.ReadAt(e[:], int64((base/4096+uintptr(p))*8))
			v := binary.LittleEndian.Uint64(e[:])
			if v&(1<<63) == 0 {
				continue
			}
			pfn := v & ((1 << 55) - 1)
			var fl [8]byte
			kf.ReadAt(fl[:], int64(pfn*8))
			flags := binary.LittleEndian.Uint64(fl[:])
			if flags&(1<<15) != 0 { // compound head: count the tail run
				n := 1
				for q := p + 1; q < len(vec); q++ {
					sink += m[q*4096]
					pm.ReadAt(e[:], int64((base/4096+uintptr(q))*8))
					v2 := binary.LittleEndian.Uint64(e[:])
					if v2&(1<<63) == 0 {
						break
					}
					kf.ReadAt(fl[:], int64((v2&((1<<55)-1))*8))
					if binary.LittleEndian.Uint64(fl[:])&(1<<16) == 0 {
						break
					}
					n++
				}
				hist[n*4]++
			} else if flags&(1<<16) == 0 {
				hist[4]++
			}
		}
		fmt.Printf("%s pre %d MiB, file %s, [%d,%d) MiB: %d cached pages, folios by KiB: %v\n", what, pre, filepath.Base(seg), r.from, r.to, cached, hist)
	}
}

var sink byte
