//go:build spooldebug

package journal

// debugPoison, in builds with the spooldebug tag, makes the pooled views
// behind Read, ReadBytes' callers and Iterator serve a heap copy of each
// entry and overwrite it with poisonByte when the borrowing scope ends (the
// Read callback returns, the Iterator moves on or closes), so that code
// keeping a borrowed slice past its lifetime reads garbage in tests instead
// of mapped bytes that happen to stay valid.
const debugPoison = true

// DebugChecks is true in builds with the spooldebug tag, whose checks
// (poisoned borrowed bytes, the lock-order checker) allocate: allocation
// tests of packages built on the journal skip themselves when it is set.
const DebugChecks = true
