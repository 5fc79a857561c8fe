//go:build spooldebug

package journal

import (
	"fmt"
	"os"
	"runtime"
)

// debugState, in builds with the spooldebug tag, remembers where a View was
// released and panics on any later use or second release, naming that
// place; a View collected without being released is reported on stderr.
// debugViews reports whether use after release panics (spooldebug builds).
const debugViews = true

type debugState struct {
	releasedAt string
}

func (d *debugState) track(v *View) {
	runtime.SetFinalizer(v, func(v *View) {
		if !v.released {
			fmt.Fprintf(os.Stderr, "journal: View of entry %d was never released\n", v.idx)
		}
	})
}

func (d *debugState) markReleased() {
	buf := make([]byte, 2048)
	d.releasedAt = string(buf[:runtime.Stack(buf, false)])
}

func (d *debugState) doubleRelease() {
	panic("journal: View released twice; first release at:\n" + d.releasedAt)
}

func (d *debugState) useAfterRelease() {
	panic("journal: View used after release; released at:\n" + d.releasedAt)
}
