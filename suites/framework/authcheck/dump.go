// Package authcheck reads an Envoy config dump from an Istio sidecar and says what its TLS
// configuration means, the view seed 002 got from the since-removed `istioctl exp auth check`:
//   - per inbound port: whether the proxy accepts Istio mTLS, plaintext, whether it requires a
//     client certificate, and the PeerAuthentication mode (STRICT, PERMISSIVE, DISABLE) that
//     this amounts to;
//   - per outbound cluster (outbound|PORT||host): what the client sends (Istio mTLS, plaintext,
//     or auto-mTLS through the tlsMode=istio transport socket match) and which peer identities
//     it accepts;
//   - per workload certificate: its SPIFFE URI SAN, validity period and issuer.
//
// It decides by emulating Envoy's filter chain selection and transport socket matching on the
// dump, never by reading names Istio happens to give chains, so the same engine judges a live
// proxy and the config Istio's own generator produces (tools/istiogen).
package authcheck

import (
	"fmt"
	"net/netip"
	"strings"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	// Typed configs the engine reads inside listeners and clusters; importing them registers
	// their types for Any resolution.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
)

// Secret is one SDS secret as the proxy holds it.
type Secret struct {
	Name   string
	Secret *tlsv3.Secret
}

// Dump is the part of one proxy's config dump the engine reads.
type Dump struct {
	Listeners []*listenerv3.Listener
	Clusters  []*clusterv3.Cluster
	// Endpoints are present when the dump was taken with ?include_eds; auto-mTLS decides per
	// endpoint, so without them a client's choice for an auto-mTLS cluster is unknown. Envoy
	// dumps each endpoint with its metadata, tlsMode included (envoyproxy/envoy
	// source/server/admin/config_dump_handler.cc addLbEndpoint).
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []Secret
	// NodeIPs are the proxy's pod IPs (bootstrap node metadata INSTANCE_IPS); inbound filter
	// chains can match on them.
	NodeIPs []netip.Addr
	// ClustersVersion is the version_info of the last CDS response the proxy accepted
	// (envoy api envoy/admin/v3/config_dump_shared.proto ClustersConfigDump.version_info): Istio
	// sends its push version there, "<RFC 3339 time>/<counter>", new with every push
	// (istio/istio pilot/pkg/xds/xdsgen.go pushXds, delta.go pushDeltaXds; discovery.go
	// NextVersion).
	ClustersVersion string
}

// opaqueType stands in for typed configs this build does not know (Istio's own filters, Wasm,
// extensions newer than go-control-plane): decoding keeps their type URL and drops their
// fields, which the engine never reads. Without it one unknown extension would make a whole
// dump unreadable.
var opaqueType = func() protoreflect.MessageType {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:        proto.String("authcheck/opaque.proto"),
		Package:     proto.String("authcheck"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Opaque")}},
	}, nil)
	if err != nil {
		panic(err)
	}
	return dynamicpb.NewMessageType(fd.Messages().Get(0))
}()

// lenientResolver resolves every type URL: known types to themselves, unknown ones to opaque.
type lenientResolver struct{}

func (lenientResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (lenientResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if err == protoregistry.NotFound {
		return opaqueType, nil
	}
	return mt, err
}

func (lenientResolver) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(field)
}

func (lenientResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true, Resolver: lenientResolver{}}

// ParseConfigDump reads the JSON the Envoy admin endpoint /config_dump returns (istio-proxy:
// `pilot-agent request GET config_dump`, optionally with ?include_eds).
func ParseConfigDump(data []byte) (*Dump, error) {
	var cd adminv3.ConfigDump
	if err := unmarshal.Unmarshal(data, &cd); err != nil {
		return nil, fmt.Errorf("config dump: %w", err)
	}
	d := &Dump{}
	for _, cfg := range cd.GetConfigs() {
		msg, err := anypb.UnmarshalNew(cfg, proto.UnmarshalOptions{Resolver: lenientResolver{}, DiscardUnknown: true})
		if err != nil {
			return nil, fmt.Errorf("config dump: %s: %w", cfg.GetTypeUrl(), err)
		}
		switch c := msg.(type) {
		case *adminv3.BootstrapConfigDump:
			ips, err := instanceIPs(c)
			if err != nil {
				return nil, err
			}
			d.NodeIPs = ips
		case *adminv3.ListenersConfigDump:
			if err := appendEach(&d.Listeners, "listener", c.GetStaticListeners(), (*adminv3.ListenersConfigDump_StaticListener).GetListener); err != nil {
				return nil, err
			}
			// The active state is what serves traffic; a listener still warming has none.
			if err := appendEach(&d.Listeners, "listener", c.GetDynamicListeners(), func(dl *adminv3.ListenersConfigDump_DynamicListener) *anypb.Any {
				return dl.GetActiveState().GetListener()
			}); err != nil {
				return nil, err
			}
		case *adminv3.ClustersConfigDump:
			d.ClustersVersion = c.GetVersionInfo()
			if err := appendEach(&d.Clusters, "cluster", c.GetStaticClusters(), (*adminv3.ClustersConfigDump_StaticCluster).GetCluster); err != nil {
				return nil, err
			}
			if err := appendEach(&d.Clusters, "cluster", c.GetDynamicActiveClusters(), (*adminv3.ClustersConfigDump_DynamicCluster).GetCluster); err != nil {
				return nil, err
			}
		case *adminv3.EndpointsConfigDump:
			if err := appendEach(&d.Endpoints, "endpoints", c.GetStaticEndpointConfigs(), (*adminv3.EndpointsConfigDump_StaticEndpointConfig).GetEndpointConfig); err != nil {
				return nil, err
			}
			if err := appendEach(&d.Endpoints, "endpoints", c.GetDynamicEndpointConfigs(), (*adminv3.EndpointsConfigDump_DynamicEndpointConfig).GetEndpointConfig); err != nil {
				return nil, err
			}
		case *adminv3.SecretsConfigDump:
			if err := addSecrets(d, c.GetStaticSecrets()); err != nil {
				return nil, err
			}
			if err := addSecrets(d, c.GetDynamicActiveSecrets()); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// appendAny unmarshals a into a new T and appends it to list; a nil a is none. what names the
// resource in the error.
func appendAny[T any, PT interface {
	*T
	proto.Message
}](list *[]PT, a *anypb.Any, what string) error {
	if a == nil {
		return nil
	}
	m := PT(new(T))
	if err := unmarshalAny(a, m); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	*list = append(*list, m)
	return nil
}

// appendEach is appendAny on every entry of a config dump list: each kind of entry (static,
// dynamic) wraps the resource in its own message, which get unwraps.
func appendEach[E, T any, PT interface {
	*T
	proto.Message
}](list *[]PT, what string, entries []E, get func(E) *anypb.Any) error {
	for _, e := range entries {
		if err := appendAny(list, get(e), what); err != nil {
			return err
		}
	}
	return nil
}

// addSecrets is addSecret on every entry of a config dump's static or dynamic secrets.
func addSecrets[S interface {
	GetName() string
	GetSecret() *anypb.Any
}](d *Dump, secrets []S) error {
	for _, s := range secrets {
		if err := d.addSecret(s.GetName(), s.GetSecret()); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dump) addSecret(name string, a *anypb.Any) error {
	if a == nil {
		return nil
	}
	s := &tlsv3.Secret{}
	if err := unmarshalAny(a, s); err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	if name == "" {
		name = s.GetName()
	}
	d.Secrets = append(d.Secrets, Secret{Name: name, Secret: s})
	return nil
}

func unmarshalAny(a *anypb.Any, into proto.Message) error {
	return anypb.UnmarshalTo(a, into, proto.UnmarshalOptions{Resolver: lenientResolver{}, DiscardUnknown: true})
}

// instanceIPs reads INSTANCE_IPS, the comma-separated pod IPs istio-agent puts in the node
// metadata (istio/istio pkg/bootstrap/config.go, NodeMetadata.InstanceIPs).
func instanceIPs(b *adminv3.BootstrapConfigDump) ([]netip.Addr, error) {
	v := b.GetBootstrap().GetNode().GetMetadata().GetFields()["INSTANCE_IPS"].GetStringValue()
	var out []netip.Addr
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap node metadata INSTANCE_IPS: %w", err)
		}
		out = append(out, ip)
	}
	return out, nil
}
