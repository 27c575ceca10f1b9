package oracle

import (
	"slices"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// Wire is what crosses the network between the client pod and the server pod.
type Wire string

const (
	// WireTLS: the client's sidecar originates Istio mTLS (a ClientHello offering
	// istio-peer-exchange, istio: pilot/pkg/networking/util/util.go ALPNInMeshWithMxc); the
	// request's canary is never visible.
	WireTLS Wire = "tls"
	// WirePlaintext: the request, canary included, crosses in the clear — also when the server
	// then resets it (a client without sidecar into STRICT, or a sidecar sending plaintext).
	WirePlaintext Wire = "plaintext"
)

// WireOutcome is a probe's expectation on the wire; Echo is for TCP probes: whether the TCP echo
// answers.
type WireOutcome struct {
	Probe scenarios.Probe
	Wire  Wire
	Echo  bool
}

// sends is what the client puts on the wire for probe p to Service port sp: the same choice
// predictOne makes (a client without sidecar sends what the app sends, plaintext).
func sends(in *Input, p scenarios.Probe, sp fixtures.ServicePort) (client fixtures.Workload, serverSidecar bool, serverMode Mode, send clientTLS, err error) {
	client, _ = in.Topology.Workload(p.From)
	svc, _ := in.Topology.Service(p.To)
	server := in.Topology.ServiceWorkloads(svc)[0]
	serverSidecar = in.Injected[server.Namespace]
	if serverSidecar {
		serverMode = compose(in, server).at(sp.TargetPort)
	}
	send = sendsPlaintext
	if in.Injected[client.Namespace] {
		send, err = clientChoice(in, client, svc, sp, serverSidecar, serverMode)
	}
	return client, serverSidecar, serverMode, send, err
}

func wireOf(send clientTLS) Wire {
	if send == sendsMTLS {
		return WireTLS
	}
	return WirePlaintext
}

// PredictWire returns what crosses the wire for every probe of the HTTP matrix, in matrix order.
// It agrees with each probe's class (WireAgrees): mtls is TLS, plaintext and reset are plaintext,
// and a 503 is whichever the client's sidecar chose (TLS to a server that cannot accept it,
// plaintext into STRICT).
func PredictWire(in Input) ([]WireOutcome, error) {
	if err := check(&in); err != nil {
		return nil, err
	}
	var out []WireOutcome
	for _, p := range scenarios.Matrix(in.Topology) {
		svc, _ := in.Topology.Service(p.To)
		sp := svc.Ports[slices.IndexFunc(svc.Ports, func(x fixtures.ServicePort) bool { return x.Port == p.Port })]
		_, _, _, send, err := sends(&in, p, sp)
		if err != nil {
			return nil, err
		}
		out = append(out, WireOutcome{Probe: p, Wire: wireOf(send)})
	}
	return out, nil
}

// WireAgrees reports whether a wire prediction is consistent with an outcome class: the check
// that ties the wire expectations to the catalog's classes.
func WireAgrees(c scenarios.Class, w Wire) bool {
	switch c {
	case scenarios.ClassMTLS:
		return w == WireTLS
	case scenarios.ClassPlaintext, scenarios.ClassReset:
		return w == WirePlaintext
	case scenarios.ClassUpstreamError:
		return true
	}
	return false
}

// TCPMatrix is every TCP probe: each client × each Service × each of its TCP ports.
func TCPMatrix(topo *fixtures.Topology) []scenarios.Probe {
	var out []scenarios.Probe
	for _, c := range topo.Clients {
		for _, svc := range topo.Services {
			for _, p := range svc.TCPPorts {
				out = append(out, scenarios.Probe{From: c.Ref, To: svc.Ref, Port: p.Port})
			}
		}
	}
	return out
}

// PredictTCP returns, for every TCP probe, what crosses the wire and whether the echo answers.
// A TCP Service port (named tcp-*) gets no HTTP filters on either side, so there is no XFCC and
// no 503: the client's sidecar proxies bytes (tcp_proxy) and the verdict is the wire's and the
// echo's.
//   - The client's choice is the HTTP port's (clientChoice): DestinationRule TLS and auto mTLS
//     decide the cluster's transport socket whatever the protocol (cluster_tls.go).
//   - The server's sidecar, for a TCP port (pilot/pkg/networking/core/filterchain_options.go
//     getFilterChainMatchOptions, default branch): STRICT has only a TLS filter chain
//     (inboundStrictTCPFilterChainMatchOptions), so plaintext matches no chain and the
//     connection is closed; PERMISSIVE has an Istio mTLS, a plain TLS and a raw_buffer chain
//     (inboundPermissiveTCPFilterChainMatchWithMxcOptions): both are accepted; DISABLE has only a
//     raw_buffer chain (inboundPlainTextTCPFilterChainMatchOptions), so mTLS matches no chain.
//   - Without a server sidecar the echo reads the ClientHello as bytes, and the client sidecar's
//     TLS handshake fails: no echo reaches the client.
func PredictTCP(in Input) ([]WireOutcome, error) {
	if err := check(&in); err != nil {
		return nil, err
	}
	var out []WireOutcome
	for _, p := range TCPMatrix(in.Topology) {
		svc, _ := in.Topology.Service(p.To)
		sp := svc.TCPPorts[slices.IndexFunc(svc.TCPPorts, func(x fixtures.ServicePort) bool { return x.Port == p.Port })]
		_, serverSidecar, mode, send, err := sends(&in, p, sp)
		if err != nil {
			return nil, err
		}
		var echo bool
		switch {
		case send == sendsMTLS:
			echo = serverSidecar && mode != Disable
		default:
			echo = !serverSidecar || mode != Strict
		}
		out = append(out, WireOutcome{Probe: p, Wire: wireOf(send), Echo: echo})
	}
	return out, nil
}
