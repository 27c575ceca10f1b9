package authcheck

import (
	"fmt"
	"net/netip"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// ProbeInput is one probe as the two proxies' config sees it: a client curls a Service port,
// its sidecar (if any) picks the Service's cluster, and the connection arrives at the server
// pod's IP on the workload port the Service targets.
type ProbeInput struct {
	// Client and Server are the proxies' dumps; nil means the pod has no sidecar.
	Client *Dump
	Server *Dump
	// Cluster is the client's cluster for the Service port: outbound|PORT||HOST.
	Cluster string
	// Endpoint is the server pod IP and the workload port (the Service's targetPort).
	Endpoint netip.AddrPort
	// ServerIdentity is the server's SPIFFE ID, checked against the SANs the client requires.
	ServerIdentity string
}

// Derivation is the outcome class of a probe and why.
type Derivation struct {
	Class scenarios.Class `json:"class"`
	// Sends is what reaches the server: "mtls" or "plaintext".
	Sends string `json:"sends"`
	// Chain is the server filter chain the connection lands on ("" when none, or no sidecar).
	Chain  string `json:"chain,omitempty"`
	Reason string `json:"reason"`
}

// DeriveProbe derives a probe's outcome class from the client's cluster and the server's
// inbound listener. The classes' exact values and their sources are in scenarios/outcome.go.
// Probes are HTTP/1.1 (curl): through a client sidecar they leave its HTTP connection manager,
// whose istio.alpn filter offers ALPN istio-http/1.1 on mTLS
// (istio/istio pilot/pkg/xds/filters/filters.go Alpn); a plaintext HTTP/1.1 connection is
// what http_inspector reports as http/1.1.
func DeriveProbe(in ProbeInput) (Derivation, error) {
	conn := Conn{Port: uint32(in.Endpoint.Port()), Addr: in.Endpoint.Addr(), HTTP: true}
	var up Upstream
	if in.Client != nil {
		var err error
		up, err = in.Client.Upstream(in.Cluster, in.Endpoint)
		if err != nil {
			return Derivation{}, err
		}
		if up.TLS && !up.Istio {
			return Derivation{}, fmt.Errorf("cluster %s originates TLS that is not Istio mTLS; probes do not cover it", in.Cluster)
		}
		if up.Istio {
			conn = Conn{Port: conn.Port, Addr: conn.Addr, TLS: true, ALPN: mtlsHTTPALPN, SNI: up.SNI}
		}
	}
	d := Derivation{Sends: "plaintext"}
	if conn.TLS {
		d.Sends = "mtls"
	}
	if in.Server == nil {
		if conn.TLS {
			d.Class, d.Reason = scenarios.ClassUpstreamError, "client sidecar sends mTLS to a server without a sidecar"
			return d, nil
		}
		d.Class, d.Reason = scenarios.ClassPlaintext, "plaintext to a server without a sidecar"
		return d, nil
	}
	l := in.Server.inboundListener()
	if l == nil {
		return Derivation{}, fmt.Errorf("server dump has no inbound listener")
	}
	if conn.TLS {
		ok, side, chain, err := acceptsMTLS(l, conn)
		if err != nil {
			return Derivation{}, err
		}
		d.Chain = chain
		switch {
		case !ok:
			d.Class, d.Reason = scenarios.ClassUpstreamError, "server has no chain that terminates mTLS for this connection"
		case side.Certificate != sdsWorkloadCert:
			return Derivation{}, fmt.Errorf("server chain %s presents %q, not the workload certificate", chain, side.Certificate)
		case len(up.PeerSANs) > 0 && !sanMatches(up.PeerSANs, in.ServerIdentity):
			d.Class, d.Reason = scenarios.ClassUpstreamError, fmt.Sprintf("client accepts only %v, server is %s", up.PeerSANs, in.ServerIdentity)
		default:
			d.Class, d.Reason = scenarios.ClassMTLS, "mTLS chain accepts the client certificate"
		}
		return d, nil
	}
	ok, chain, err := acceptsPlaintext(l, conn)
	if err != nil {
		return Derivation{}, err
	}
	d.Chain = chain
	switch {
	case ok:
		d.Class, d.Reason = scenarios.ClassPlaintext, "server accepts plaintext on this port"
	case in.Client == nil:
		d.Class, d.Reason = scenarios.ClassReset, "plaintext from a client without a sidecar into a port that requires mTLS"
	default:
		d.Class, d.Reason = scenarios.ClassUpstreamError, "client sidecar sends plaintext into a port that requires mTLS"
	}
	return d, nil
}
