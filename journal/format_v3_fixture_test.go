package journal

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The format 2 fixtures in testdata/format_v2 were written by this package
// before format 3 (per-block checksums) existed, by appending
// fixtureSizes' entries of fixturePayload to a journal with 64 KiB
// segments: clean.tar.gz was closed cleanly, crashed.tar.gz abandoned after
// a Sync as a crash would (its last segment has no trailer, so Open scans
// it). They hold single-chunk entries larger than a block and entries
// spanning segments, both with one checksum over the whole chunk.
var fixtureSizes = []int{0, 1, 100, 4096, 20000, 70000, 30000, 150000, 500, 17000, blockSize + 1, 3}

// fixtureSegSize is the segment size the fixtures were written with.
const fixtureSegSize = 64 << 10

// fixturePayload is entry i's payload in the fixtures: compressible, so the
// archives stay small, and different for every entry.
func fixturePayload(i uint64, n int) []byte {
	b := make([]byte, n)
	const digits = "0123456789abcdef"
	for k := range b {
		b[k] = digits[(k+int(i))%16]
		if k%1000 == 999 {
			b[k] = byte(k/1000) ^ byte(i)
		}
	}
	return b
}

// untarGz extracts a fixture archive into dir.
func untarGz(t *testing.T, archive, dir string) {
	t.Helper()
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(h.Name, "/") || h.Name == ".." {
			t.Fatalf("fixture entry %q", h.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		mustWriteFile(t, filepath.Join(dir, h.Name), b)
	}
}

// tarGz archives the journal files of dir (not LOCK, not a spare).
func tarGz(t *testing.T, dir, archive string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n.Name() == "LOCK" || strings.HasSuffix(n.Name(), tmpSuffix) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: n.Name(), Mode: 0o644, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, archive, buf.Bytes())
}

// Journals written in format 2 still open, verify and read back
// byte-identical, and take new entries: a clean one and a crashed one,
// whose unsealed last segment recovery scans.
func TestFormatV2Fixtures(t *testing.T) {
	for _, name := range []string{"clean", "crashed"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			untarGz(t, filepath.Join("testdata", "format_v2", name+".tar.gz"), dir)
			for _, f := range journalFiles(t, dir) {
				if filepath.Base(f) == metaName {
					continue
				}
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if h, err := decodeSegHeader(b); err != nil || h.version != 2 {
					t.Fatalf("%s: header %+v, %v: not a format 2 segment", f, h, err)
				}
			}
			opts := &Options{SegmentSize: fixtureSegSize, Sync: PageCache}
			rep, err := Verify(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != VerdictClean || rep.Entries() != uint64(len(fixtureSizes)) {
				t.Fatalf("Verify: %v, %d entries: %v", rep.Verdict, rep.Entries(), rep.Problem)
			}
			j := mustOpen(t, dir, opts)
			size := func(i uint64) int { return fixtureSizes[i-1] }
			checkFixture := func() {
				t.Helper()
				for i := uint64(1); i <= uint64(len(fixtureSizes)); i++ {
					got, err := j.ReadBytes(i, nil)
					if err != nil {
						t.Fatalf("entry %d: %v", i, err)
					}
					if !bytes.Equal(got, fixturePayload(i, size(i))) {
						t.Fatalf("entry %d differs", i)
					}
				}
			}
			checkFixture()
			// A new large entry lands after them; all read back after a
			// reopen.
			n := uint64(len(fixtureSizes))
			big := fixturePayload(99, 3*blockSize+5)
			if idx, err := j.AppendBytes(big); err != nil || idx != n+1 {
				t.Fatalf("append: %d, %v", idx, err)
			}
			mustClose(t, j)
			j = mustOpen(t, dir, opts)
			defer mustClose(t, j)
			checkFixture()
			if got, err := j.ReadBytes(n+1, nil); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("entry appended after the fixture: %v", err)
			}
		})
	}
}
