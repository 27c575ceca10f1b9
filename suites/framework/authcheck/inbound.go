package authcheck

import (
	"fmt"
	"net/netip"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
)

// Mode is the PeerAuthentication mode a port's filter chains amount to
// (istio/api security/v1beta1/peer_authentication.proto MutualTLS.Mode): the oracle's own type,
// so a prediction and an observation compare without a conversion.
type Mode = oracle.Mode

const (
	ModeStrict     = oracle.Strict     // mTLS only
	ModePermissive = oracle.Permissive // mTLS and plaintext
	ModeDisable    = oracle.Disable    // plaintext only
	// ModeNone: the port accepts neither (no chain, or only one-way TLS); not a PeerAuthentication mode.
	ModeNone Mode = "NONE"
)

// virtualInboundName is the listener iptables redirects inbound traffic to
// (istio/istio pilot/pkg/model/listener.go VirtualInboundListenerName).
const virtualInboundName = "virtualInbound"

// InboundPort is what a server proxy does with connections to one workload port.
type InboundPort struct {
	// Port is the workload (container) port; 0 stands for every port without chains of its own.
	Port int `json:"port"`
	// AcceptsMTLS: a client presenting an Istio certificate completes a handshake with a chain
	// that validates client certificates.
	AcceptsMTLS bool `json:"acceptsMTLS"`
	// AcceptsPlaintext: a plaintext client reaches a chain that does not terminate TLS.
	AcceptsPlaintext bool `json:"acceptsPlaintext"`
	// RequiresClientCert: the mTLS chain rejects a handshake without a client certificate.
	RequiresClientCert bool `json:"requiresClientCert"`
	// Certificate is what the mTLS chain presents (the SDS resource, "default" for the
	// workload certificate), "none" without one.
	Certificate string `json:"certificate"`
	Mode        Mode   `json:"mode"`
	// MTLSChain and PlaintextChain name the chains that accepted each kind of client.
	MTLSChain      string `json:"mtlsChain,omitempty"`
	PlaintextChain string `json:"plaintextChain,omitempty"`
}

// inboundListener is the sidecar's virtualInbound listener, or nil for a proxy without one.
func (d *Dump) inboundListener() *listenerv3.Listener {
	for _, l := range d.Listeners {
		if l.GetName() == virtualInboundName {
			return l
		}
	}
	for _, l := range d.Listeners {
		if l.GetTrafficDirection() == corev3.TrafficDirection_INBOUND {
			return l
		}
	}
	return nil
}

// inboundAddr is the destination address inbound connections carry: the pod IP.
func (d *Dump) inboundAddr() netip.Addr {
	if len(d.NodeIPs) > 0 {
		return d.NodeIPs[0]
	}
	return netip.Addr{}
}

// InboundPorts lists every workload port the inbound listener has chains for, in port order,
// then port 0 for all other ports.
func (d *Dump) InboundPorts() ([]InboundPort, error) {
	l := d.inboundListener()
	if l == nil {
		return nil, fmt.Errorf("no inbound listener (%s): not a sidecar proxy", virtualInboundName)
	}
	own := l.GetAddress().GetSocketAddress().GetPortValue()
	var ports []int
	for _, fc := range l.GetFilterChains() {
		p := fc.GetFilterChainMatch().GetDestinationPort()
		// The chain for the listener's own port only stops loops (Istio's
		// virtualInbound-blackhole); no workload listens there.
		if p == nil || p.GetValue() == own {
			continue
		}
		if !slices.Contains(ports, int(p.GetValue())) {
			ports = append(ports, int(p.GetValue()))
		}
	}
	slices.Sort(ports)
	ports = append(ports, 0)
	out := make([]InboundPort, 0, len(ports))
	for _, p := range ports {
		ip, err := d.Inbound(p)
		if err != nil {
			return nil, err
		}
		out = append(out, ip)
	}
	return out, nil
}

// Inbound judges one workload port by offering it the connections Istio clients make: mTLS
// (HTTP and TCP ALPN) and plaintext (HTTP and TCP).
func (d *Dump) Inbound(port int) (InboundPort, error) {
	l := d.inboundListener()
	if l == nil {
		return InboundPort{}, fmt.Errorf("no inbound listener (%s): not a sidecar proxy", virtualInboundName)
	}
	res := InboundPort{Port: port, Certificate: "none"}
	addr := d.inboundAddr()
	for _, alpn := range [][]string{mtlsHTTPALPN, mtlsTCPALPN} {
		ok, side, chain, err := acceptsMTLS(l, Conn{Port: uint32(port), Addr: addr, TLS: true, ALPN: alpn})
		if err != nil {
			return InboundPort{}, err
		}
		if ok {
			res.AcceptsMTLS = true
			res.RequiresClientCert = side.RequireClientCert
			res.Certificate = side.Certificate
			res.MTLSChain = chain
			break
		}
	}
	for _, http := range []bool{true, false} {
		ok, chain, err := acceptsPlaintext(l, Conn{Port: uint32(port), Addr: addr, HTTP: http})
		if err != nil {
			return InboundPort{}, err
		}
		if ok {
			res.AcceptsPlaintext = true
			res.PlaintextChain = chain
			break
		}
	}
	switch {
	case res.AcceptsMTLS && res.AcceptsPlaintext:
		res.Mode = ModePermissive
	case res.AcceptsMTLS && res.RequiresClientCert:
		res.Mode = ModeStrict
	case res.AcceptsPlaintext:
		res.Mode = ModeDisable
	default:
		res.Mode = ModeNone
	}
	return res, nil
}

// acceptsMTLS: the chain conn lands on terminates TLS and validates client certificates.
func acceptsMTLS(l *listenerv3.Listener, conn Conn) (bool, *tlsSide, string, error) {
	fc := SelectFilterChain(l, conn)
	if fc == nil {
		return false, nil, "", nil
	}
	side, err := downstreamTLS(fc.GetTransportSocket())
	if err != nil {
		return false, nil, "", fmt.Errorf("listener %s chain %s: %w", l.GetName(), fc.GetName(), err)
	}
	if side == nil || !side.validatesPeer() {
		return false, side, fc.GetName(), nil
	}
	return true, side, fc.GetName(), nil
}

// acceptsPlaintext: the chain conn lands on does not terminate TLS.
func acceptsPlaintext(l *listenerv3.Listener, conn Conn) (bool, string, error) {
	fc := SelectFilterChain(l, conn)
	if fc == nil {
		return false, "", nil
	}
	side, err := downstreamTLS(fc.GetTransportSocket())
	if err != nil {
		return false, "", fmt.Errorf("listener %s chain %s: %w", l.GetName(), fc.GetName(), err)
	}
	return side == nil, fc.GetName(), nil
}
