package mmapio

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Copy copies src to dst like the builtin copy, but a memory fault while
// touching either (SIGBUS from a mapping whose file was truncated or whose
// page could not be read, SIGSEGV from an unmapped range) is returned as an
// error wrapping ErrFault instead of crashing the process.
//
// It relies on runtime/debug.SetPanicOnFault, which is per goroutine; Copy
// enables it for its own duration and restores the previous setting.
func Copy(dst, src []byte) (n int, err error) {
	err = Guard(func() error {
		n = copy(dst, src)
		return nil
	})
	return n, err
}

// Guard runs fn with memory faults turned into an error wrapping ErrFault.
// Panics other than memory faults propagate.
func Guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if err = FaultOf(r); err == nil {
				panic(r)
			}
		}
	}()
	return fn()
}

// FaultOf returns an error wrapping ErrFault, with the faulting address,
// when r (a value returned by recover) is a memory fault raised under
// debug.SetPanicOnFault, and nil otherwise. It is for guarded regions that
// defer their own recovery instead of paying Guard's closure call on a hot
// path; such a region must re-panic when FaultOf returns nil.
func FaultOf(r any) error {
	re, ok := r.(runtime.Error)
	if !ok {
		return nil
	}
	a, ok := r.(interface{ Addr() uintptr })
	if !ok {
		return nil
	}
	return fmt.Errorf("%w at address %#x: %v", ErrFault, a.Addr(), re)
}
