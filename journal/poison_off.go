//go:build !spooldebug

package journal

// debugPoison is false in normal builds: borrowed bytes are the mapped
// pages themselves (see poison_on.go for the spooldebug behaviour).
const debugPoison = false

// DebugChecks is true in builds with the spooldebug tag, whose checks
// (poisoned borrowed bytes, the lock-order checker) allocate: allocation
// tests of packages built on the journal skip themselves when it is set.
const DebugChecks = false
