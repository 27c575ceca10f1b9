package probe

import (
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// TestMatchHBONE: an ambient mTLS expectation (hbone: exit 0, 200, no XFCC) is valid, matches a
// 200 without XFCC, and fails a 200 that carries one (no ztunnel writes XFCC).
func TestMatchHBONE(t *testing.T) {
	hbone, err := scenarios.ClassHBONE.Outcome("", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := Match(hbone, &Observation{ExitCode: 0, HTTPCode: 200}); err != nil {
		t.Errorf("200 without XFCC: %v", err)
	}
	err = Match(hbone, &Observation{ExitCode: 0, HTTPCode: 200, XFCC: []string{`By=spiffe://cluster.local/ns/foo/sa/httpbin;URI=spiffe://cluster.local/ns/foo/sa/sleep`}})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "forwarded-client-cert") {
		t.Errorf("200 with XFCC: %v, want a difference naming XFCC", err)
	}
	if err := Match(hbone, &Observation{ExitCode: 56}); err == nil {
		t.Errorf("a reset matched an hbone expectation")
	}
}
