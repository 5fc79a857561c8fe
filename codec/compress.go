package codec

// Compression is the policy that decides which appended entries are lz4
// compressed. The zero value compresses nothing.
//
//	codec.Compression{}                            // off
//	codec.Compression{Enabled: true}               // every entry
//	codec.Compression{Enabled: true, MinSize: 4096} // bodies of 4 KiB or more
//
// The decision needs the body's size before the envelope is written: a codec
// that implements Sizer gives it for free; for any other codec (JSON,
// Binary, Blob without a size) the value is first encoded into a discarding
// writer to count its bytes, which costs a second encode but no memory.
type Compression struct {
	// Enabled turns compression on.
	Enabled bool
	// MinSize is the smallest uncompressed body that is compressed; smaller
	// bodies, where lz4 saves little and costs a block header, are stored
	// as they are. 0 compresses every body.
	MinSize int64
}

// wants reports whether a body of size bytes is compressed.
func (c Compression) wants(size int64) bool { return c.Enabled && size >= 0 && size >= c.MinSize }

// needsSize reports whether the policy must know a body's size to decide.
func (c Compression) needsSize() bool { return c.Enabled }
