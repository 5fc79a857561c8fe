package mmapio

import "os"

// punchHole is not implemented on macOS: APFS has F_PUNCHHOLE, but with
// alignment rules of its own and no test machine here to check how it
// interacts with live mappings, so the journal keeps the blocks of a
// partly cut segment until the whole segment is unlinked.
func punchHole(*os.File, int64, int64) error { return ErrNoPunch }
