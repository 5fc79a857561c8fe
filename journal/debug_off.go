//go:build !spooldebug

package journal

// debugState is empty in normal builds: use after release is reported as
// ErrReleased by every View method.
// debugViews reports whether use after release panics (spooldebug builds).
const debugViews = false

type debugState struct{}

func (debugState) track(*View)      {}
func (debugState) markReleased()    {}
func (debugState) doubleRelease()   {}
func (debugState) useAfterRelease() {}
