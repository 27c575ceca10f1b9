// Package istioca checks the suite's certificate rules against Istio's own CA: a workload
// certificate issued exactly as istiod issues one must pass authcheck.CheckCertificate with the
// suite's default CERT_TTL.
package istioca

import (
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"istio.io/istio/security/pkg/pki/ca"
	"istio.io/istio/security/pkg/pki/util"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// issue signs a CSR for spiffeID with Istio's self-signed CA the way istiod's CA server does
// for istio-agent: SignWithCertChain with the requested TTL (istio/istio
// security/pkg/server/ca/server.go CreateCertificate; istio-agent requests SECRET_TTL,
// pilot/cmd/pilot-agent/options/options.go, 24 h by default). The leaf is made by
// util.GenCertFromCSR (security/pkg/pki/util/generate_cert.go).
func issue(t *testing.T, spiffeID string, ttl time.Duration) authcheck.Certificate {
	t.Helper()
	opts, err := ca.NewSelfSignedDebugIstioCAOptions("", 10*365*24*time.Hour, 24*time.Hour, 90*24*time.Hour,
		fixtures.DefaultTrustDomain, 2048)
	if err != nil {
		t.Fatal(err)
	}
	istioCA, err := ca.NewIstioCA(opts)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, _, err := util.GenCSR(util.CertOptions{Host: spiffeID, RSAKeySize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := istioCA.SignWithCertChain(csrPEM, ca.CertOpts{SubjectIDs: []string{spiffeID}, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	d := &authcheck.Dump{Secrets: []authcheck.Secret{{Name: "default", Secret: &tlsv3.Secret{Name: "default",
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: strings.Join(chain, "")}},
		}}}}}}
	cert, err := d.WorkloadCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestIstioCACertificatePassesCheck(t *testing.T) {
	id := fixtures.SPIFFEID(fixtures.DefaultTrustDomain, "foo", "httpbin")
	maxTTL := settings.Defaults().CertTTL
	cert := issue(t, id, maxTTL)
	// Istio backdates NotBefore (ClockSkewGracePeriod): the certificate is valid longer than its TTL.
	if want := maxTTL + util.ClockSkewGracePeriod; cert.Validity != want {
		t.Errorf("Istio's CA issued a certificate valid %s for a %s TTL, want %s", cert.Validity, maxTTL, want)
	}
	if util.ClockSkewGracePeriod != authcheck.IstioCABackdate {
		t.Errorf("authcheck.IstioCABackdate = %s, Istio's ClockSkewGracePeriod = %s", authcheck.IstioCABackdate, util.ClockSkewGracePeriod)
	}
	if err := authcheck.CheckCertificate(cert, id, maxTTL); err != nil {
		t.Errorf("a certificate Istio's CA issued for CERT_TTL=%s is rejected: %v", maxTTL, err)
	}
	longer := issue(t, id, maxTTL+time.Hour)
	if err := authcheck.CheckCertificate(longer, id, maxTTL); err == nil {
		t.Errorf("a certificate Istio's CA issued for %s passed CERT_TTL=%s", maxTTL+time.Hour, maxTTL)
	}
}
