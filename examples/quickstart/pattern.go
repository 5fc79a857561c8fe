package main

import "io"

// pattern is the blob's content, generated on the fly: as an io.Reader it
// produces n bytes, as an io.Writer it checks them, so neither side holds
// the blob. It is a run of 64-byte records, half pseudo-random and half a
// fixed template: compressible about 2:1, like much real data.
type pattern struct {
	n, off int64
	bad    int64 // offset of the first byte that differed, -1 if none
}

const template = "|spool quickstart blob record|\n|"

func newPattern(n int64) *pattern { return &pattern{n: n, bad: -1} }

func (p *pattern) at(off int64) byte {
	rec, i := uint64(off/64), off%64
	if i >= 32 {
		return template[i-32]
	}
	x := (rec*4+uint64(i/8))*0x9E3779B97F4A7C15 + 1
	x ^= x >> 29
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 32
	return byte(x >> (8 * (i % 8)))
}

// Read implements io.Reader.
func (p *pattern) Read(b []byte) (int, error) {
	if p.off == p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = p.at(p.off + int64(i))
	}
	p.off += int64(len(b))
	return len(b), nil
}

// Write implements io.Writer.
func (p *pattern) Write(b []byte) (int, error) {
	for i, x := range b {
		if p.bad < 0 && (p.off+int64(i) >= p.n || x != p.at(p.off+int64(i))) {
			p.bad = p.off + int64(i)
		}
	}
	p.off += int64(len(b))
	return len(b), nil
}
