package authcheck

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Sends is what a client proxy sends upstream through a cluster.
type Sends string

const (
	// SendsIstioMTLS: every endpoint gets Istio mTLS (DestinationRule ISTIO_MUTUAL).
	SendsIstioMTLS Sends = "ISTIO_MUTUAL"
	// SendsAutoMTLS: Istio mTLS to endpoints labelled tlsMode=istio, plaintext to the others
	// (auto mTLS; istio/istio pilot/pkg/networking/core/cluster_tls.go
	// buildUpstreamTLSSettings, transport socket match "tlsMode-istio").
	SendsAutoMTLS Sends = "AUTO"
	// SendsPlaintext: no TLS (DestinationRule DISABLE, or auto mTLS turned off).
	SendsPlaintext Sends = "DISABLE"
	// SendsTLS: TLS that is not Istio's (DestinationRule SIMPLE or MUTUAL with own certs).
	SendsTLS Sends = "TLS"
)

// transportSocketMatchKey is the endpoint metadata namespace transport socket matches read
// (envoy api envoy/config/cluster/v3/cluster.proto TransportSocketMatch; Istio writes tlsMode
// there: pilot/pkg/networking/util/util.go EnvoyTransportSocketMetadataKey).
const transportSocketMatchKey = "envoy.transport_socket_match"

// OutboundCluster is what a client proxy does for one outbound|PORT|SUBSET|HOST cluster.
type OutboundCluster struct {
	Name   string `json:"name"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
	Subset string `json:"subset,omitempty"`
	Sends  Sends  `json:"sends"`
	// Certificate is what the client presents when it originates TLS ("default": the workload
	// certificate), "none" otherwise.
	Certificate string `json:"certificate"`
	// ValidatePeer: the client checks the server's certificate against a trust anchor.
	ValidatePeer bool `json:"validatePeer"`
	// PeerSANs are the server identities the client accepts (empty: any the anchor signed).
	PeerSANs []string `json:"peerSANs,omitempty"`
	// Endpoints is the per-endpoint choice, known when the dump includes EDS.
	Endpoints []EndpointTLS `json:"endpoints,omitempty"`
}

// EndpointTLS is the client's choice for one endpoint of a cluster.
type EndpointTLS struct {
	Address string `json:"address"`
	MTLS    bool   `json:"mtls"`
}

// Upstream is what the client sends to one endpoint.
type Upstream struct {
	Cluster string
	// TLS: the client starts TLS; Istio: with the workload certificate and the mesh root.
	TLS   bool
	Istio bool
	ALPN  []string
	SNI   string
	// PeerSANs the client requires of the server; empty accepts any the anchor signed.
	PeerSANs []string
}

// ErrNoEndpoints: the cluster chooses TLS per endpoint and the dump holds no endpoint data for
// it (take the dump with ?include_eds).
var ErrNoEndpoints = errors.New("no endpoint data")

// ParseOutboundName splits Istio's cluster name outbound|PORT|SUBSET|HOST
// (istio/istio pilot/pkg/model/service.go BuildSubsetKey).
func ParseOutboundName(name string) (host string, port int, subset string, ok bool) {
	parts := strings.Split(name, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		return "", 0, "", false
	}
	p, err := strconv.Atoi(parts[1])
	if err != nil {
		return "", 0, "", false
	}
	return parts[3], p, parts[2], true
}

// OutboundName is the cluster a client uses for host:port without a subset.
func OutboundName(host string, port int) string {
	return "outbound|" + strconv.Itoa(port) + "||" + host
}

func (d *Dump) cluster(name string) *clusterv3.Cluster {
	for _, c := range d.Clusters {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

func (d *Dump) endpoints(cluster string) *endpointv3.ClusterLoadAssignment {
	for _, e := range d.Endpoints {
		if e.GetClusterName() == cluster {
			return e
		}
	}
	return nil
}

// Outbound lists the outbound service clusters in the order the dump has them.
func (d *Dump) Outbound() ([]OutboundCluster, error) {
	var out []OutboundCluster
	for _, c := range d.Clusters {
		host, port, subset, ok := ParseOutboundName(c.GetName())
		if !ok {
			continue
		}
		oc := OutboundCluster{Name: c.GetName(), Host: host, Port: port, Subset: subset, Certificate: "none"}
		side, sends, err := clusterTLS(c)
		if err != nil {
			return nil, err
		}
		oc.Sends = sends
		if side != nil {
			if side.Certificate != "" {
				oc.Certificate = side.Certificate
			}
			oc.ValidatePeer = side.validatesPeer()
			oc.PeerSANs = side.PeerSANs
		}
		if cla := d.endpoints(c.GetName()); cla != nil {
			for _, ep := range lbEndpoints(cla) {
				up, err := upstreamFor(c, ep)
				if err != nil {
					return nil, err
				}
				oc.Endpoints = append(oc.Endpoints, EndpointTLS{Address: endpointAddr(ep), MTLS: up.Istio})
			}
		}
		out = append(out, oc)
	}
	return out, nil
}

// clusterTLS classifies a cluster by its transport sockets; the returned side is the TLS the
// client would originate (for auto mTLS, the tlsMode=istio match's).
func clusterTLS(c *clusterv3.Cluster) (*tlsSide, Sends, error) {
	for _, m := range c.GetTransportSocketMatches() {
		side, err := upstreamTLS(m.GetTransportSocket())
		if err != nil {
			return nil, "", fmt.Errorf("cluster %s match %s: %w", c.GetName(), m.GetName(), err)
		}
		if side.istio() && m.GetMatch().GetFields()["tlsMode"].GetStringValue() == "istio" {
			return side, SendsAutoMTLS, nil
		}
	}
	side, err := upstreamTLS(c.GetTransportSocket())
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: %w", c.GetName(), err)
	}
	switch {
	case side == nil:
		return nil, SendsPlaintext, nil
	case side.istio():
		return side, SendsIstioMTLS, nil
	default:
		return side, SendsTLS, nil
	}
}

func lbEndpoints(cla *endpointv3.ClusterLoadAssignment) []*endpointv3.LbEndpoint {
	var out []*endpointv3.LbEndpoint
	for _, loc := range cla.GetEndpoints() {
		out = append(out, loc.GetLbEndpoints()...)
	}
	return out
}

func endpointAddr(ep *endpointv3.LbEndpoint) string {
	sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
}

// Upstream says what the client sends through cluster to the endpoint at addr. Envoy takes the
// first transport socket match whose every field equals the endpoint's
// envoy.transport_socket_match metadata, else the cluster's transport socket
// (envoy source/common/upstream/transport_socket_match_impl.cc resolve).
func (d *Dump) Upstream(cluster string, addr netip.AddrPort) (Upstream, error) {
	c := d.cluster(cluster)
	if c == nil {
		return Upstream{}, fmt.Errorf("no cluster %s", cluster)
	}
	if len(c.GetTransportSocketMatches()) == 0 {
		return upstreamFor(c, nil)
	}
	cla := d.endpoints(cluster)
	if cla == nil {
		return Upstream{}, fmt.Errorf("cluster %s chooses TLS per endpoint: %w", cluster, ErrNoEndpoints)
	}
	for _, ep := range lbEndpoints(cla) {
		if endpointAddr(ep) == addr.String() {
			return upstreamFor(c, ep)
		}
	}
	return Upstream{}, fmt.Errorf("cluster %s has no endpoint %s", cluster, addr)
}

func upstreamFor(c *clusterv3.Cluster, ep *endpointv3.LbEndpoint) (Upstream, error) {
	ts := c.GetTransportSocket()
	if ep != nil {
		md := ep.GetMetadata().GetFilterMetadata()[transportSocketMatchKey]
		for _, m := range c.GetTransportSocketMatches() {
			if structSubset(m.GetMatch(), md) {
				ts = m.GetTransportSocket()
				break
			}
		}
	}
	return upstreamFromSocket(c.GetName(), ts)
}

func upstreamFromSocket(cluster string, ts *corev3.TransportSocket) (Upstream, error) {
	side, err := upstreamTLS(ts)
	if err != nil {
		return Upstream{}, fmt.Errorf("cluster %s: %w", cluster, err)
	}
	up := Upstream{Cluster: cluster}
	if side != nil {
		up.TLS = true
		up.Istio = side.istio()
		up.ALPN = side.ALPN
		up.SNI = side.SNI
		up.PeerSANs = side.PeerSANs
	}
	return up, nil
}

// structSubset: every field of match is present with an equal value in md.
func structSubset(match, md *structpb.Struct) bool {
	for k, v := range match.GetFields() {
		got, ok := md.GetFields()[k]
		if !ok || !proto.Equal(got, v) {
			return false
		}
	}
	return true
}
