// Package depcheck holds no code: its test enforces the one-way package
// dependencies of docs/design.md (the core never imports a Raft engine or a
// peer store, and imports inside the core point down the layering).
package depcheck
