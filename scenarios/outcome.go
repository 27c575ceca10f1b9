package scenarios

import (
	"fmt"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// Probe is one request of the matrix: a client workload curls a Service port.
type Probe struct {
	From fixtures.Ref `json:"from"`
	To   fixtures.Ref `json:"to"`
	Port int          `json:"port"`
}

func (p Probe) String() string { return fmt.Sprintf("%s → %s:%d", p.From, p.To, p.Port) }

// XFCC holds the X-Forwarded-Client-Cert fields a scenario asserts: By is the server's SPIFFE
// ID, URI the client's.
type XFCC struct {
	By  string `json:"by"`
	URI string `json:"uri"`
}

// Outcome is the exact result a probe must observe.
type Outcome struct {
	// ExitCode is curl's exit code (56: connection reset while receiving).
	ExitCode int `json:"exitCode"`
	// HTTPCode is curl's %{http_code}; 0 when no response arrived (curl prints 000).
	HTTPCode int `json:"httpCode"`
	// MTLS is whether the server's sidecar saw mutual TLS, i.e. whether XFCC is present.
	MTLS bool `json:"mtls"`
	// XFCC is set exactly when MTLS is, except over HBONE (ambient mode, ClassHBONE): mTLS, no XFCC.
	XFCC *XFCC `json:"xfcc,omitempty"`
	// Waypoint is set when the request passed through the server's ambient waypoint, which wrote
	// the XFCC (ClassWaypoint): By is the waypoint's identity, and the header holds By and URI
	// only, no Hash, Subject or DNS.
	Waypoint bool `json:"waypoint,omitempty"`
}

// Class is the name a scenario file uses for an outcome; Expand turns it into an exact Outcome.
type Class string

// The outcome classes, each with the source that fixes its exact values.
const (
	// ClassMTLS: HTTP 200 with XFCC By=<server SPIFFE ID>, URI=<client SPIFFE ID>.
	// Source: seed 000 step 7 and seed 001 "Mutual Authentication by Default"; Envoy's XFCC
	// format with Istio's APPEND_FORWARD + Subject/URI/DNS details
	// (istio/istio pilot/pkg/networking/core/listener_inbound.go).
	ClassMTLS Class = "mtls"
	// ClassPlaintext: HTTP 200, no XFCC (the sidecar strips it on non-mTLS connections;
	// envoy source/common/http/conn_manager_utility.cc).
	ClassPlaintext Class = "plaintext"
	// ClassReset: curl exit 56, HTTP 000. A client with no sidecar sends plaintext into STRICT.
	// istio.io content/en/docs/tasks/security/authentication/authn-policy/snips.sh prints
	// "curl.legacy to httpbin.foo: 000" + "command terminated with exit code 56" (verified by its
	// test.sh); the pre-1.5 page explained "Due to the way Envoy rejects plain-text requests, you
	// will see curl exit code 56" (istio.io commit e59a1998b^, authn-policy/index.md).
	ClassReset Class = "reset"
	// ClassUpstreamError: exit 0, HTTP 503. A sidecar client whose TLS choice the server cannot
	// accept (ISTIO_MUTUAL to no sidecar, plaintext into STRICT, mTLS into DISABLE): the client's
	// Envoy answers 503 "upstream connect error or disconnect/reset before headers". The pre-1.5
	// authn-policy page printed "sleep.foo to httpbin.legacy: 503" and "sleep.foo to httpbin.foo:
	// 503" (istio.io commit e59a1998b^); istio.io content/en/docs/ops/common-problems/
	// network-issues/index.md "503 errors after setting destination rule". No current doc test
	// prints it; istio/istio tests/integration/security/reachability_test.go asserts "not OK".
	ClassUpstreamError Class = "503"
	// ClassHBONE: HTTP 200 over mutual TLS between two ztunnels (ambient mode), with no XFCC: ztunnel
	// is an L4 proxy and adds no header (pkg/workloadapi/workload.proto TunnelProtocol HBONE: "mTLS
	// over HTTP CONNECT"); mTLS is judged from ztunnel's config instead (suites/framework/ztunnel).
	ClassHBONE Class = "hbone"
	// ClassWaypoint: HTTP 200 through the server's ambient waypoint, whose Gateway carries
	// ambient.istio.io/xfcc-include-client-identity: "true": client ztunnel → waypoint → server
	// ztunnel, HBONE on both hops, and the waypoint sets XFCC to exactly
	// By=<waypoint SPIFFE ID>;URI=<client SPIFFE ID> (istio/istio
	// pilot/pkg/networking/core/listener_waypoint.go: header mutation
	// "By=%FILTER_STATE(io.istio.local_principal:PLAIN)%;URI=%FILTER_STATE(io.istio.peer_principal:PLAIN)%",
	// OVERWRITE_IF_EXISTS_OR_ADD; checked by tools/istiogen/waypoint;
	// tests/integration/ambient/xfcc_client_identity_test.go). Its Outcome takes the waypoint's
	// identity where the other classes take the server's.
	ClassWaypoint Class = "waypoint"
)

// Classes lists every class, in the order documentation shows them.
var Classes = []Class{ClassMTLS, ClassPlaintext, ClassReset, ClassUpstreamError, ClassHBONE, ClassWaypoint}

// Outcome expands a class into the exact outcome of a probe from client to server identities;
// for ClassWaypoint serverID is the identity that writes XFCC By, the waypoint's.
func (c Class) Outcome(serverID, clientID string) (Outcome, error) {
	switch c {
	case ClassMTLS:
		return Outcome{ExitCode: 0, HTTPCode: 200, MTLS: true, XFCC: &XFCC{By: serverID, URI: clientID}}, nil
	case ClassPlaintext:
		return Outcome{ExitCode: 0, HTTPCode: 200}, nil
	case ClassReset:
		return Outcome{ExitCode: 56, HTTPCode: 0}, nil
	case ClassUpstreamError:
		return Outcome{ExitCode: 0, HTTPCode: 503}, nil
	case ClassHBONE:
		return Outcome{ExitCode: 0, HTTPCode: 200, MTLS: true}, nil
	case ClassWaypoint:
		return Outcome{ExitCode: 0, HTTPCode: 200, MTLS: true, XFCC: &XFCC{By: serverID, URI: clientID}, Waypoint: true}, nil
	}
	return Outcome{}, fmt.Errorf("unknown outcome %q (want one of %v)", string(c), Classes)
}

// Class names the class an outcome belongs to, or "" if it is none of them.
func (o Outcome) Class() Class {
	switch {
	case o.ExitCode == 0 && o.HTTPCode == 200 && o.MTLS && o.XFCC != nil && o.Waypoint:
		return ClassWaypoint
	case o.ExitCode == 0 && o.HTTPCode == 200 && o.MTLS && o.XFCC == nil:
		return ClassHBONE
	case o.ExitCode == 0 && o.HTTPCode == 200 && o.MTLS:
		return ClassMTLS
	case o.ExitCode == 0 && o.HTTPCode == 200:
		return ClassPlaintext
	case o.ExitCode == 56 && o.HTTPCode == 0:
		return ClassReset
	case o.ExitCode == 0 && o.HTTPCode == 503:
		return ClassUpstreamError
	}
	return ""
}

// String renders an outcome the way a failure message shows it.
func (o Outcome) String() string {
	s := fmt.Sprintf("exit %d, HTTP %03d", o.ExitCode, o.HTTPCode)
	if o.XFCC != nil && o.Waypoint {
		s += fmt.Sprintf(", mTLS through the waypoint (By=%s, URI=%s)", o.XFCC.By, o.XFCC.URI)
	} else if o.XFCC != nil {
		s += fmt.Sprintf(", mTLS (By=%s, URI=%s)", o.XFCC.By, o.XFCC.URI)
	} else {
		s += ", no XFCC"
	}
	return s
}

// ProbeOutcome pairs a probe with its outcome; predictions and expectations are lists of them.
type ProbeOutcome struct {
	Probe
	Outcome
}

// SpecName is the probe as a sentence, the name of its Ginkgo spec:
// "sleep.legacy → httpbin.foo:8000 is reset (exit 56)".
func (p ProbeOutcome) SpecName() string {
	switch p.Class() {
	case ClassMTLS:
		return fmt.Sprintf("%s succeeds over mTLS (By=%s, URI=%s)", p.Probe, p.XFCC.By, p.XFCC.URI)
	case ClassPlaintext:
		return fmt.Sprintf("%s succeeds in plaintext (no XFCC)", p.Probe)
	case ClassReset:
		return fmt.Sprintf("%s is reset (exit 56)", p.Probe)
	case ClassUpstreamError:
		return fmt.Sprintf("%s gets 503 from the client's sidecar", p.Probe)
	case ClassHBONE:
		return fmt.Sprintf("%s succeeds over mTLS (HBONE, no XFCC at L4)", p.Probe)
	case ClassWaypoint:
		return fmt.Sprintf("%s succeeds through the waypoint (By=%s, URI=%s)", p.Probe, p.XFCC.By, p.XFCC.URI)
	}
	return fmt.Sprintf("%s observes %s", p.Probe, p.Outcome)
}

// Cell is the outcome as the seed articles' grids write it ("200", "000 (exit 56)"), with 🔒
// for mutual TLS; `conformance predict` and summary.md both print it.
func (o Outcome) Cell() string {
	s := fmt.Sprintf("%03d", o.HTTPCode)
	if o.ExitCode != 0 {
		s += fmt.Sprintf(" (exit %d)", o.ExitCode)
	}
	if o.MTLS {
		s += " 🔒"
	}
	return s
}
