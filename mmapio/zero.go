package mmapio

import "os"

// writeZeros extends f from cur to size with written zeros: the portable
// way to reserve blocks where fallocate is unavailable.
func writeZeros(f *os.File, cur, size int64) error {
	zeros := make([]byte, 1<<20)
	for off := cur; off < size; {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}
