package authcheck

import (
	"errors"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

func TestCrossCheck(t *testing.T) {
	probe := scenarios.Probe{From: fixtures.Ref{Name: "sleep", Namespace: "legacy"}, To: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, Port: 8000}
	outcome := func(c scenarios.Class) scenarios.Outcome {
		o, err := c.Outcome("spiffe://cluster.local/ns/foo/sa/httpbin", "spiffe://cluster.local/ns/legacy/sa/sleep")
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	cases := []struct {
		sidecar bool
		mode    Mode
		class   scenarios.Class
		bad     bool
	}{
		{true, ModeStrict, scenarios.ClassPlaintext, true},
		{true, ModeStrict, scenarios.ClassMTLS, false},
		{true, ModeStrict, scenarios.ClassReset, false},
		{true, ModeStrict, scenarios.ClassUpstreamError, false},
		{true, ModeDisable, scenarios.ClassMTLS, true},
		{true, ModeDisable, scenarios.ClassPlaintext, false},
		{true, ModeDisable, scenarios.ClassUpstreamError, false},
		{true, ModePermissive, scenarios.ClassReset, true},
		{true, ModePermissive, scenarios.ClassMTLS, false},
		{true, ModePermissive, scenarios.ClassPlaintext, false},
		{false, "", scenarios.ClassMTLS, true},
		{false, "", scenarios.ClassPlaintext, false},
		{false, "", scenarios.ClassUpstreamError, false},
	}
	for _, tc := range cases {
		err := CrossCheck(probe, tc.sidecar, tc.mode, outcome(tc.class))
		var d *Disagreement
		if got := errors.As(err, &d); got != tc.bad {
			t.Errorf("sidecar=%v mode %s, %s: err = %v, want disagreement=%v", tc.sidecar, tc.mode, tc.class, err, tc.bad)
		}
	}
	err := CrossCheck(probe, true, ModeStrict, outcome(scenarios.ClassPlaintext))
	if want := "disagreement on sleep.legacy → httpbin.foo:8000: the listener says STRICT, but the probe got exit 0, HTTP 200, no XFCC: plaintext was accepted on a port that only has mTLS chains"; err.Error() != want {
		t.Errorf("message = %q\nwant      %q", err, want)
	}
}

func TestCheckCertificate(t *testing.T) {
	c, err := load(t, "namespace-strict_httpbin.foo").WorkloadCertificate()
	if err != nil {
		t.Fatal(err)
	}
	id := "spiffe://cluster.local/ns/foo/sa/httpbin"
	if err := CheckCertificate(c, id, 24*time.Hour); err != nil {
		t.Errorf("Istio-issued certificate rejected: %v", err)
	}
	if err := CheckCertificate(c, "spiffe://cluster.local/ns/bar/sa/httpbin", 24*time.Hour); err == nil {
		t.Error("wrong SPIFFE ID accepted")
	}
	if err := CheckCertificate(c, id, time.Hour); err == nil || err.Error() != "certificate default: issued for 23h58m0s (valid 2026-11-02T09:00:00Z to 2026-11-03T09:00:00Z, 24h0m0s, less the CA's 2m0s NotBefore backdating), want at most 1h0m0s" {
		t.Errorf("TTL check: %v", err)
	}
	d := load(t, "namespace-strict_httpbin.foo")
	d.Secrets = d.Secrets[1:] // only ROOTCA left
	if _, err := d.WorkloadCertificate(); err == nil {
		t.Error("dump without the default secret yielded a workload certificate")
	}
}
