package deploytest

import (
	"testing"
	"time"
)

// ReturnsAfter checks a wait that must end with a change in the cluster: it runs call in the
// background, fails t if call returns in the first half second (before change is made), makes
// change, and returns call's error, failing t if call has not returned within 30s of it.
func ReturnsAfter(t testing.TB, call func() error, change func()) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- call() }()
	select {
	case err := <-errc:
		t.Fatalf("returned before the change it waits for: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	change()
	select {
	case err := <-errc:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("did not return within 30s of the change it waits for")
	}
	return nil
}
