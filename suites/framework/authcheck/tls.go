package authcheck

import (
	"fmt"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
)

// SDS resource names istio-agent serves: the workload certificate and the mesh root
// (istio/istio pkg/security/security.go WorkloadKeyCertResourceName, RootCertReqResourceName).
const (
	sdsWorkloadCert = "default"
	sdsRootCert     = "ROOTCA"
)

// tlsSide is what one TLS context says, on either side of a connection.
type tlsSide struct {
	// Certificate names what the proxy presents: SDS resource names, or "inline".
	Certificate string
	// Validation names the trust anchor the proxy checks the peer against ("" when none).
	Validation string
	// PeerSANs are the peer identities it requires (empty: any peer the anchor signed).
	PeerSANs []string
	ALPN     []string
	SNI      string
	// RequireClientCert is set on the server side only.
	RequireClientCert bool
}

// istio reports whether the context is Istio's own mutual TLS: the workload certificate and
// the mesh root, both from istio-agent's SDS (what ISTIO_MUTUAL generates:
// istio/istio pilot/pkg/networking/core/cluster_tls.go, pilot/pkg/security/model/authentication.go
// ApplyToCommonTLSContext).
func (t *tlsSide) istio() bool {
	return t != nil && t.Certificate == sdsWorkloadCert && t.Validation == sdsRootCert
}

func (t *tlsSide) validatesPeer() bool { return t != nil && t.Validation != "" }

const (
	typeDownstreamTLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
	typeUpstreamTLS   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
)

// downstreamTLS decodes a listener transport socket; nil means plaintext (no socket, or one
// that does not terminate TLS such as raw_buffer).
func downstreamTLS(ts *corev3.TransportSocket) (*tlsSide, error) {
	ctx, side, err := decodeTLS[tlsv3.DownstreamTlsContext](ts, typeDownstreamTLS)
	if side == nil || err != nil {
		return nil, err
	}
	side.RequireClientCert = ctx.GetRequireClientCertificate().GetValue()
	return side, nil
}

// upstreamTLS decodes a cluster transport socket; nil means plaintext.
func upstreamTLS(ts *corev3.TransportSocket) (*tlsSide, error) {
	ctx, side, err := decodeTLS[tlsv3.UpstreamTlsContext](ts, typeUpstreamTLS)
	if side == nil || err != nil {
		return nil, err
	}
	side.SNI = ctx.GetSni()
	return side, nil
}

// decodeTLS decodes a transport socket whose typed config is typeURL into a T and what its common
// TLS context says; a socket of another type (or none) is plaintext: a nil side.
func decodeTLS[T any, PT interface {
	*T
	proto.Message
	GetCommonTlsContext() *tlsv3.CommonTlsContext
}](ts *corev3.TransportSocket, typeURL string) (PT, *tlsSide, error) {
	a := ts.GetTypedConfig()
	if a == nil || a.GetTypeUrl() != typeURL {
		return nil, nil, nil
	}
	ctx := PT(new(T))
	if err := unmarshalAny(a, ctx); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ctx.ProtoReflect().Descriptor().Name(), err)
	}
	return ctx, commonTLS(ctx.GetCommonTlsContext()), nil
}

func commonTLS(c *tlsv3.CommonTlsContext) *tlsSide {
	side := &tlsSide{ALPN: slices.Clone(c.GetAlpnProtocols())}
	switch {
	case len(c.GetTlsCertificateSdsSecretConfigs()) > 0:
		side.Certificate = c.GetTlsCertificateSdsSecretConfigs()[0].GetName()
	case len(c.GetTlsCertificates()) > 0:
		side.Certificate = "inline"
	}
	var vc *tlsv3.CertificateValidationContext
	switch v := c.GetValidationContextType().(type) {
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		side.Validation = v.CombinedValidationContext.GetValidationContextSdsSecretConfig().GetName()
		vc = v.CombinedValidationContext.GetDefaultValidationContext()
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		side.Validation = v.ValidationContextSdsSecretConfig.GetName()
	case *tlsv3.CommonTlsContext_ValidationContext:
		vc = v.ValidationContext
		if vc.GetTrustedCa() != nil {
			side.Validation = "inline"
		}
	}
	for _, m := range vc.GetMatchTypedSubjectAltNames() {
		side.PeerSANs = append(side.PeerSANs, stringMatcher(m.GetMatcher()))
	}
	//nolint:staticcheck // older control planes still send the deprecated field.
	for _, m := range vc.GetMatchSubjectAltNames() {
		side.PeerSANs = append(side.PeerSANs, stringMatcher(m))
	}
	return side
}

// stringMatcher renders a matcher the way istioctl does: exact values as-is, others with
// their kind.
func stringMatcher(m *matcherv3.StringMatcher) string {
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return p.Exact
	case *matcherv3.StringMatcher_Prefix:
		return p.Prefix + "*"
	case *matcherv3.StringMatcher_Suffix:
		return "*" + p.Suffix
	case *matcherv3.StringMatcher_SafeRegex:
		return "regex:" + p.SafeRegex.GetRegex()
	case *matcherv3.StringMatcher_Contains:
		return "*" + p.Contains + "*"
	}
	return m.String()
}

// sanMatches reports whether identity satisfies one of the matchers as rendered by
// stringMatcher (exact, prefix*, *suffix).
func sanMatches(sans []string, identity string) bool {
	for _, s := range sans {
		switch {
		case s == identity:
			return true
		case len(s) > 1 && s[len(s)-1] == '*' && s[0] != '*' && len(identity) >= len(s)-1 && identity[:len(s)-1] == s[:len(s)-1]:
			return true
		case len(s) > 1 && s[0] == '*' && s[len(s)-1] != '*' && len(identity) >= len(s)-1 && identity[len(identity)-len(s)+1:] == s[1:]:
			return true
		}
	}
	return false
}
