// Package closedport gives tests a local address nothing listens on, to be refused there.
package closedport

import (
	"net"
	"testing"
)

// Addr is a 127.0.0.1:<port> address nothing listens on: bound, then released.
func Addr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
