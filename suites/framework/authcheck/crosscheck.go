package authcheck

import (
	"fmt"
	"time"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// Disagreement is a probe whose observed traffic contradicts the server port's mode as its own
// listener states it: the configuration and the data plane tell different stories, which is a
// failure of its own whatever the scenario expected.
type Disagreement struct {
	Probe    scenarios.Probe
	Mode     Mode
	Observed scenarios.Outcome
	Why      string
}

func (d *Disagreement) Error() string {
	return fmt.Sprintf("disagreement on %s: the listener says %s, but the probe got %s: %s", d.Probe, d.Mode, d.Observed, d.Why)
}

// CrossCheck compares one observed probe with the mode the server's listener has on the
// probe's workload port; serverSidecar says whether the server has a proxy at all (mode is
// ignored when it has none). It returns nil when traffic and configuration can both be true.
// The impossible pairs:
//   - STRICT and a plaintext 200: a STRICT port has no chain that accepts plaintext;
//   - DISABLE and an mTLS 200 (XFCC present): a DISABLE port terminates no TLS;
//   - PERMISSIVE and a reset (exit 56): a PERMISSIVE port accepts plaintext, so only a port
//     that requires mTLS resets a client without a sidecar;
//   - no sidecar and an mTLS 200: nothing on the server side can terminate Istio mTLS.
func CrossCheck(p scenarios.Probe, serverSidecar bool, mode Mode, observed scenarios.Outcome) error {
	class := observed.Class()
	why := ""
	switch {
	case !serverSidecar && class == scenarios.ClassMTLS:
		why = "the server has no sidecar to terminate mTLS"
		mode = ModeNone
	case !serverSidecar:
		return nil
	case mode == ModeStrict && class == scenarios.ClassPlaintext:
		why = "plaintext was accepted on a port that only has mTLS chains"
	case mode == ModeDisable && class == scenarios.ClassMTLS:
		why = "mTLS reached the app on a port that terminates no TLS"
	case mode == ModePermissive && class == scenarios.ClassReset:
		why = "the connection was reset on a port that accepts plaintext"
	default:
		return nil
	}
	return &Disagreement{Probe: p, Mode: mode, Observed: observed, Why: why}
}

// WorkloadCertificate is the certificate the proxy presents as its identity: the SDS resource
// "default".
func (d *Dump) WorkloadCertificate() (Certificate, error) {
	certs, err := d.Certificates()
	if err != nil {
		return Certificate{}, err
	}
	for _, c := range certs {
		if c.Secret == sdsWorkloadCert {
			return c, nil
		}
	}
	return Certificate{}, fmt.Errorf("no %q secret with a certificate in the dump", sdsWorkloadCert)
}

// IstioCABackdate is how far Istio's CA puts a certificate's NotBefore before the moment it signs
// it, against clock skew between the CA and the workloads; NotAfter is that moment plus the
// requested TTL, so a certificate issued for a TTL is valid TTL + IstioCABackdate
// (istio/istio security/pkg/pki/util/generate_cert.go ClockSkewGracePeriod,
// genCertTemplateFromCSR).
const IstioCABackdate = 2 * time.Minute

// CheckCertificate holds a workload certificate to what Istio issues: the SPIFFE ID
// spiffe://<trust domain>/ns/<ns>/sa/<sa> as its URI SAN and a TTL no longer than the configured
// workload certificate TTL (istio-agent SECRET_TTL, 24 h by default; seed 004). The TTL it was
// issued for is its validity less IstioCABackdate.
func CheckCertificate(c Certificate, wantSPIFFE string, maxTTL time.Duration) error {
	if c.SPIFFE != wantSPIFFE {
		return fmt.Errorf("certificate %s: SPIFFE ID %q, want %q", c.Secret, c.SPIFFE, wantSPIFFE)
	}
	if len(c.URIs) != 1 {
		return fmt.Errorf("certificate %s: URI SANs %v, want exactly %s", c.Secret, c.URIs, wantSPIFFE)
	}
	if issued := c.Validity - IstioCABackdate; issued <= 0 || issued > maxTTL {
		return fmt.Errorf("certificate %s: issued for %s (valid %s to %s, %s, less the CA's %s NotBefore backdating), want at most %s",
			c.Secret, issued, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), c.Validity, IstioCABackdate, maxTTL)
	}
	return nil
}
