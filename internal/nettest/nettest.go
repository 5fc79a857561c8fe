// Package nettest holds network helpers shared by tests: the wire codec's
// and the etcd adapter's both send raft messages over a real TCP
// connection. Only tests import it.
package nettest

import (
	"net"
	"testing"
)

// Loopback returns the two ends of a TCP connection on 127.0.0.1, closed
// when the test ends.
func Loopback(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-ch
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}
