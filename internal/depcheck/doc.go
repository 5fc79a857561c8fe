// Package depcheck holds no code: its test enforces the one-way package
// dependencies of DESIGN.md (the core never imports a Raft engine or a peer
// store).
package depcheck
