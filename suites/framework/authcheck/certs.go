package authcheck

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// Certificate is the leaf of one workload certificate chain the proxy holds.
type Certificate struct {
	// Secret is the SDS resource ("default" for the workload certificate).
	Secret string `json:"secret"`
	// SPIFFE is the spiffe:// URI SAN, the workload's identity; URIs lists every URI SAN.
	SPIFFE    string    `json:"spiffe"`
	URIs      []string  `json:"uris,omitempty"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// Validity is NotAfter-NotBefore: the TTL Istio issued it for plus IstioCABackdate.
	Validity time.Duration `json:"validity"`
	Issuer   string        `json:"issuer"`
	// SHA256 is the lowercase hex SHA-256 of the DER certificate: the Hash Envoy writes into
	// X-Forwarded-Client-Cert when this proxy is the client (envoyproxy/envoy
	// source/common/http/conn_manager_utility.cc, from the connection's
	// sha256PeerCertificateDigest).
	SHA256 string `json:"sha256"`
}

// Certificates reads every secret holding a certificate chain (the workload certificate;
// trust anchors such as ROOTCA hold none). Envoy's config dump shows certificate chains and
// redacts private keys (envoy source/server/admin/config_dump_handler.cc).
func (d *Dump) Certificates() ([]Certificate, error) {
	var out []Certificate
	for _, s := range d.Secrets {
		tc := s.Secret.GetTlsCertificate()
		if tc == nil {
			continue
		}
		pemData, err := dataSource(tc.GetCertificateChain())
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", s.Name, err)
		}
		if len(pemData) == 0 {
			continue
		}
		leaf, err := leafCertificate(pemData)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", s.Name, err)
		}
		c := Certificate{
			Secret:    s.Name,
			NotBefore: leaf.NotBefore.UTC(),
			NotAfter:  leaf.NotAfter.UTC(),
			Validity:  leaf.NotAfter.Sub(leaf.NotBefore),
			Issuer:    leaf.Issuer.String(),
		}
		sum := sha256.Sum256(leaf.Raw)
		c.SHA256 = hex.EncodeToString(sum[:])
		for _, u := range leaf.URIs {
			c.URIs = append(c.URIs, u.String())
			if u.Scheme == "spiffe" && c.SPIFFE == "" {
				c.SPIFFE = u.String()
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func dataSource(ds *corev3.DataSource) ([]byte, error) {
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		return s.InlineBytes, nil
	case *corev3.DataSource_InlineString:
		return []byte(s.InlineString), nil
	case *corev3.DataSource_Filename:
		// A file on the proxy's disk is not in the dump.
		return nil, fmt.Errorf("certificate chain is the file %s on the proxy, not in the dump", s.Filename)
	}
	return nil, nil
}

func leafCertificate(pemData []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("certificate chain is not PEM: starts %q", strings.SplitN(string(pemData), "\n", 2)[0])
	}
	return x509.ParseCertificate(block.Bytes)
}
