package probe

import (
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// TestMatchWaypoint: a waypoint expectation matches the waypoint's By/URI-only XFCC and fails a
// sidecar's full element and a 200 without XFCC.
func TestMatchWaypoint(t *testing.T) {
	const waypoint, client = "spiffe://cluster.local/ns/foo/sa/waypoint", "spiffe://cluster.local/ns/foo/sa/sleep"
	want, err := scenarios.ClassWaypoint.Outcome(waypoint, client)
	if err != nil {
		t.Fatal(err)
	}
	if err := Match(want, &Observation{ExitCode: 0, HTTPCode: 200, XFCC: []string{"By=" + waypoint + ";URI=" + client}}); err != nil {
		t.Errorf("the waypoint's header: %v", err)
	}
	sidecar := "By=" + waypoint + ";Hash=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `;Subject="";URI=` + client
	if err := Match(want, &Observation{ExitCode: 0, HTTPCode: 200, XFCC: []string{sidecar}}); err == nil {
		t.Errorf("a sidecar's element matched a waypoint expectation")
	}
	if err := Match(want, &Observation{ExitCode: 0, HTTPCode: 200}); err == nil {
		t.Errorf("no XFCC matched a waypoint expectation")
	}
}
