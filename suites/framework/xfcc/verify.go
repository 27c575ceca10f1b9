package xfcc

import (
	"fmt"
	"regexp"
)

// Want is what the XFCC header of an mTLS request to an Istio sidecar must say.
type Want struct {
	// By is the server's SPIFFE ID: the URI SAN of the certificate the server's sidecar presented.
	By string
	// URI is the client's SPIFFE ID: the URI SAN of the certificate the client presented.
	URI string
	// Hash, when set, is the exact hex SHA-256 of the client certificate; when empty the hash only
	// has to look like one, because Istio's workload certificates rotate.
	Hash string
	// Waypoint: an ambient waypoint wrote the header, not a sidecar's connection manager: By is
	// the waypoint's identity and the element is exactly By and URI, nothing from a certificate.
	// The waypoint's header_mutation filter overwrites XFCC with
	// By=%FILTER_STATE(io.istio.local_principal:PLAIN)%;URI=%FILTER_STATE(io.istio.peer_principal:PLAIN)%
	// (istio/istio pilot/pkg/networking/core/listener_waypoint.go buildWaypointInboundHTTPFilters,
	// checked by tools/istiogen/waypoint; tests/integration/ambient/xfcc_client_identity_test.go
	// expects URI=spiffe://<client>).
	Waypoint bool
}

// hashPattern is Envoy's sha256PeerCertificateDigest: Hex::encode of a SHA-256, lowercase.
var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Verify checks the X-Forwarded-Client-Cert values one request carried (nil when the header was
// absent) and returns the parsed elements.
//
// want == nil means the connection was not mutual TLS, so the header must be absent: Envoy
// removes it when the downstream connection presented no peer certificate
// (envoyproxy/envoy source/common/http/conn_manager_utility.cc). A header that is present but
// not expected is a failure, never ignored.
//
// want != nil means exactly one element (curl sends no XFCC and Istio's inbound listener uses
// APPEND_FORWARD with Subject, URI and DNS details: istio/istio
// pilot/pkg/networking/core/listener_inbound.go) holding exactly one By equal to want.By, a
// 64-digit lowercase hex Hash, Subject="" (Istio workload certificates carry no subject:
// istio/istio security/pkg/pki/util/generate_cert.go genCertTemplateFromCSR starts from an
// empty pkix.Name and fills it only in dual-use mode; the SPIFFE ID is the URI SAN) and exactly
// one URI equal to want.URI. With want.Waypoint the one element is exactly By and URI.
func Verify(values []string, want *Want) ([]Element, error) {
	if want == nil {
		if len(values) > 0 {
			return nil, fmt.Errorf("%s is present but the connection should not be mutual TLS: %q", Header, values)
		}
		return nil, nil
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("%s is absent but the connection should be mutual TLS (By=%s, URI=%s)", Header, want.By, want.URI)
	}
	if len(values) != 1 {
		return nil, fmt.Errorf("%s appears %d times, want once: %q", Header, len(values), values)
	}
	elements, err := Parse(values[0])
	if err != nil {
		return nil, err
	}
	if len(elements) != 1 {
		return elements, fmt.Errorf("%s has %d elements, want 1 (one sidecar hop): %q", Header, len(elements), values[0])
	}
	e := elements[0]
	var problems []string
	if len(e.By) != 1 || e.By[0] != want.By {
		problems = append(problems, fmt.Sprintf("By=%q, want [%q]", e.By, want.By))
	}
	if want.Waypoint {
		if extra := (Element{Hash: e.Hash, Cert: e.Cert, Chain: e.Chain, Subject: e.Subject, HasSubject: e.HasSubject, DNS: e.DNS}).String(); extra != "" {
			problems = append(problems, fmt.Sprintf("%s, want only By and URI (a waypoint's header)", extra))
		}
	} else {
		problems = append(problems, sidecarProblems(e, want)...)
	}
	if len(e.URI) != 1 || e.URI[0] != want.URI {
		problems = append(problems, fmt.Sprintf("URI=%q, want [%q]", e.URI, want.URI))
	}
	if len(problems) > 0 {
		return elements, fmt.Errorf("%s %q: %v", Header, values[0], problems)
	}
	return elements, nil
}

// sidecarProblems are the differences of a sidecar's element from want beyond By and URI: its
// Hash and its empty Subject.
func sidecarProblems(e Element, want *Want) []string {
	var problems []string
	switch {
	case want.Hash != "" && e.Hash != want.Hash:
		problems = append(problems, fmt.Sprintf("Hash=%q, want %q", e.Hash, want.Hash))
	case !hashPattern.MatchString(e.Hash):
		problems = append(problems, fmt.Sprintf("Hash=%q is not 64 lowercase hex digits", e.Hash))
	}
	if !e.HasSubject || e.Subject != "" {
		problems = append(problems, fmt.Sprintf("Subject=%q (present: %t), want present and empty", e.Subject, e.HasSubject))
	}
	return problems
}
