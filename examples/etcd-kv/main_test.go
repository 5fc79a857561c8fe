package main

import (
	"io"
	"log"
	"os"
	"testing"

	"go.etcd.io/raft/v3"
)

// TestDemo runs the README's demo at a smaller size.
func TestDemo(t *testing.T) {
	raft.SetLogger(&raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)})
	stdout := os.Stdout
	if !testing.Verbose() {
		devnull, _ := os.Open(os.DevNull)
		os.Stdout = devnull
		defer func() { os.Stdout = stdout; devnull.Close() }()
	}
	if err := demo(t.TempDir(), 600, false); err != nil {
		t.Fatal(err)
	}
}
