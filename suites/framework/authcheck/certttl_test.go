package authcheck

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/certtest"
)

// issuedLikeIstioCA returns a dump holding a workload certificate made the way Istio's CA makes
// one for a CSR: NotBefore is the signing time minus ClockSkewGracePeriod (2 minutes), NotAfter
// the signing time plus the requested TTL, both from the same time.Now(), the SPIFFE ID the only
// URI SAN, digital signature + key encipherment, server and client auth
// (istio/istio security/pkg/pki/util/generate_cert.go genCertTemplateFromCSR, called by
// GenCertFromCSR from security/pkg/pki/ca/ca.go sign). tools/istiogen's
// TestIstioCACertificatePassesCheck runs Istio's CA itself.
func issuedLikeIstioCA(t *testing.T, spiffe string, ttl time.Duration) *Dump {
	t.Helper()
	now := time.Now()
	ca := certtest.Issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"cluster.local"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil)
	const clockSkewGracePeriod = 2 * time.Minute // generate_cert.go ClockSkewGracePeriod
	leaf := certtest.Issue(t, &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		NotBefore:             now.Add(-clockSkewGracePeriod),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{certtest.URI(t, spiffe)},
	}, ca)
	chain := append(leaf.CertPEM(), ca.CertPEM()...)
	return &Dump{Secrets: []Secret{{Name: sdsWorkloadCert, Secret: &tlsv3.Secret{Name: sdsWorkloadCert,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: chain}},
		}}}}}}
}

// A 24 h workload certificate from Istio's CA is valid 24h02m: it passes a 24 h TTL, and one
// issued for longer than the TTL does not.
func TestCheckCertificateJudgesTTLAsIstioIssuesIt(t *testing.T) {
	id := "spiffe://cluster.local/ns/foo/sa/httpbin"
	c, err := issuedLikeIstioCA(t, id, 24*time.Hour).WorkloadCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if c.Validity != 24*time.Hour+2*time.Minute {
		t.Fatalf("validity %s, want 24h2m0s (the fixture must mirror Istio's CA)", c.Validity)
	}
	if err := CheckCertificate(c, id, 24*time.Hour); err != nil {
		t.Errorf("a 24 h certificate from Istio's CA rejected against a 24 h TTL: %v", err)
	}

	long, err := issuedLikeIstioCA(t, id, 24*time.Hour+time.Minute).WorkloadCertificate()
	if err != nil {
		t.Fatal(err)
	}
	err = CheckCertificate(long, id, 24*time.Hour)
	if err == nil {
		t.Fatal("a certificate issued for 24h1m passed a 24 h TTL")
	}
	if !strings.Contains(err.Error(), "issued for 24h1m0s") || !strings.Contains(err.Error(), "want at most 24h0m0s") {
		t.Errorf("message %q does not say what was issued and what is allowed", err)
	}
}
