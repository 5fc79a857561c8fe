package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoolhq/spool/internal/leakcheck"
	"github.com/spoolhq/spool/journal"
	"github.com/zeebo/xxh3"
)

// TestMain doubles as the crashing child of crashedJournal, and fails the
// package if a journal goroutine outlives the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SPOOL_CMD_TEST_CRASH"); dir != "" {
		crashChild(dir)
		return
	}
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked("spool/journal.(*Journal)"); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

const segSize = 64 << 10

func payload(i int) []byte {
	return bytes.Repeat([]byte{byte(i)}, 100+i*97%3000)
}

// crashChild appends entries, makes them durable and exits without
// closing: what a crash leaves behind, an unsealed tail.
func crashChild(dir string) {
	j, err := journal.Open(dir, &journal.Options{SegmentSize: segSize})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 1; i <= 50; i++ {
		if _, err := j.AppendBytes(payload(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

func closedJournal(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	j, err := journal.Open(dir, &journal.Options{SegmentSize: segSize})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		if _, err := j.AppendBytes(payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func crashedJournal(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SPOOL_CMD_TEST_CRASH="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crashing child: %v\n%s", err, out)
	}
	return dir
}

func spool(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Fatalf("output lacks %q:\n%s", l, out)
		}
	}
}

func TestVerifyClean(t *testing.T) {
	for _, dir := range []string{closedJournal(t), crashedJournal(t)} {
		code, out, errOut := spool(t, "verify", dir)
		if code != exitClean {
			t.Fatalf("exit %d:\n%s%s", code, out, errOut)
		}
		wantLines(t, out, dir+": clean\n", "entries 1..50 (50)")
	}
}

func TestVerifyTornTail(t *testing.T) {
	dir := crashedJournal(t)
	rep, err := journal.Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tail := rep.Segments[len(rep.Segments)-1]
	path := filepath.Join(dir, tail.Name)
	// Half a chunk header past the last entry: an append that was torn.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("torn append"), tail.DataEnd)
	f.Close()
	code, out, errOut := spool(t, "verify", dir)
	if code != exitTornTail {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	wantLines(t, out, ": torn-tail\n", "file:   "+path+"\n", fmt.Sprintf("offset: %d\n", tail.DataEnd), "index:  51\n", "entries 1..50 (50)")
}

func TestVerifyCorrupt(t *testing.T) {
	dir := closedJournal(t)
	rep, err := journal.Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := rep.Segments[0]
	path := filepath.Join(dir, first.Name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[4096+32+7] ^= 0x10 // the payload of entry 1, in a sealed segment
	os.WriteFile(path, b, 0o644)
	code, out, errOut := spool(t, "verify", dir)
	if code != exitCorrupt {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	wantLines(t, out, ": corrupt\n", "file:   "+path+"\n", "offset: 4096\n", "index:  1\n", "error:  journal: corrupt", "1 unreadable")

	// A zeroed header of a sealed segment: Open loads it only on first
	// access, so the reads of every entry starting in it fail.
	clear(b[:64])
	os.WriteFile(path, b, 0o644)
	code, out, _ = spool(t, "verify", dir)
	if code != exitCorrupt {
		t.Fatalf("zeroed header: exit %d:\n%s", code, out)
	}
	wantLines(t, out, "offset: 0\n", "zero-filled", fmt.Sprintf("%d unreadable", first.Entries))

	// A zeroed META: Open itself fails, and no range is reported.
	meta := filepath.Join(dir, "META")
	os.WriteFile(meta, make([]byte, 8192), 0o644)
	code, out, _ = spool(t, "verify", dir)
	if code != exitCorrupt {
		t.Fatalf("zeroed meta: exit %d:\n%s", code, out)
	}
	wantLines(t, out, "file:   "+meta+"\n", "no valid meta slot")
	if strings.Contains(out, "entries ") {
		t.Fatalf("reports a range although Open would fail:\n%s", out)
	}
	// stat still reports, and exits 0.
	code, out, _ = spool(t, "stat", dir)
	if code != exitClean {
		t.Fatalf("stat exit %d", code)
	}
	wantLines(t, out, "verdict     corrupt\n", "unchecked", "meta slot 0 invalid")
}

func TestStat(t *testing.T) {
	dir := crashedJournal(t)
	code, out, errOut := spool(t, "stat", dir)
	if code != exitClean {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	rep, _ := journal.Verify(dir, nil)
	wantLines(t, out, "verdict     clean\n", "entries     1..50 (50)", fmt.Sprintf("durable     %d\n", rep.Durable),
		fmt.Sprintf("segments    %d files, %d bytes kept", len(rep.Segments), len(rep.Segments)*segSize), "(current)")
	for _, s := range rep.Segments {
		wantLines(t, out, s.Name+"  "+s.State.String())
	}
}

func TestUsageAndErrors(t *testing.T) {
	dir := closedJournal(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitError, "usage:"},
		{[]string{"frobnicate", dir}, exitError, `unknown command "frobnicate"`},
		{[]string{"verify"}, exitError, "want one directory"},
		{[]string{"verify", dir, dir}, exitError, "want one directory"},
		{[]string{"verify", "-max-entry-size", "0", dir}, exitError, "must be positive"},
		{[]string{"verify", "-bogus", dir}, exitError, "flag provided but not defined"},
		{[]string{"verify", filepath.Join(dir, "missing")}, exitError, "journal: not found"},
		{[]string{"stat", t.TempDir()}, exitError, "journal: not found"},
		{[]string{"help"}, exitClean, "usage:"},
		{[]string{"verify", "-max-entry-size", "1000000", dir}, exitClean, "clean"},
	} {
		code, out, errOut := spool(t, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Fatalf("spool %q: exit %d, want %d with %q:\n%s%s", c.args, code, c.code, c.want, out, errOut)
		}
	}
}

// TestVerifyNewerFormat: a meta file of a newer format (valid checksum) is
// not called corrupt.
func TestVerifyNewerFormat(t *testing.T) {
	dir := closedJournal(t)
	meta := filepath.Join(dir, "META")
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < 2; s++ {
		slot := b[s*4096 : (s+1)*4096]
		binary.LittleEndian.PutUint16(slot[8:], journal.FormatVersion+1)
		binary.LittleEndian.PutUint64(slot[4088:], xxh3.Hash(slot[:4088]))
	}
	os.WriteFile(meta, b, 0o644)
	code, out, _ := spool(t, "verify", dir)
	if code != exitUnsupported {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	wantLines(t, out, ": unsupported\n", "unsupported format version")
}
