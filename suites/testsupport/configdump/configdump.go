// Package configdump writes an authcheck.Dump back out in the Envoy admin endpoint's
// config_dump format. Only tests and the generator check (tools/istiogen) need it: the engine reads
// dumps, it never writes them.
package configdump

import (
	"bytes"
	"encoding/json"
	"strings"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
)

// Marshal writes d in the admin endpoint's format, so that config generated outside
// a proxy (tools/istiogen) is recorded exactly as a live proxy would report it. Every typed
// config inside must be registered in the calling binary.
func Marshal(d *authcheck.Dump) ([]byte, error) {
	var cd adminv3.ConfigDump
	if len(d.NodeIPs) > 0 {
		ips := make([]string, len(d.NodeIPs))
		for i, ip := range d.NodeIPs {
			ips[i] = ip.String()
		}
		b, err := bootstrapWithIPs(strings.Join(ips, ","))
		if err != nil {
			return nil, err
		}
		if err := appendAny(&cd, b); err != nil {
			return nil, err
		}
	}
	var err error
	lcd := &adminv3.ListenersConfigDump{}
	if lcd.DynamicListeners, err = packAll(d.Listeners, func(l *listenerv3.Listener) proto.Message { return l },
		func(l *listenerv3.Listener, a *anypb.Any) *adminv3.ListenersConfigDump_DynamicListener {
			return &adminv3.ListenersConfigDump_DynamicListener{Name: l.GetName(), ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{Listener: a}}
		}); err != nil {
		return nil, err
	}
	ccd := &adminv3.ClustersConfigDump{VersionInfo: d.ClustersVersion}
	if ccd.DynamicActiveClusters, err = packAll(d.Clusters, func(c *clusterv3.Cluster) proto.Message { return c },
		func(_ *clusterv3.Cluster, a *anypb.Any) *adminv3.ClustersConfigDump_DynamicCluster {
			return &adminv3.ClustersConfigDump_DynamicCluster{Cluster: a}
		}); err != nil {
		return nil, err
	}
	ecd := &adminv3.EndpointsConfigDump{}
	if ecd.DynamicEndpointConfigs, err = packAll(d.Endpoints, func(e *endpointv3.ClusterLoadAssignment) proto.Message { return e },
		func(_ *endpointv3.ClusterLoadAssignment, a *anypb.Any) *adminv3.EndpointsConfigDump_DynamicEndpointConfig {
			return &adminv3.EndpointsConfigDump_DynamicEndpointConfig{EndpointConfig: a}
		}); err != nil {
		return nil, err
	}
	scd := &adminv3.SecretsConfigDump{}
	if scd.DynamicActiveSecrets, err = packAll(d.Secrets, func(s authcheck.Secret) proto.Message { return s.Secret },
		func(s authcheck.Secret, a *anypb.Any) *adminv3.SecretsConfigDump_DynamicSecret {
			return &adminv3.SecretsConfigDump_DynamicSecret{Name: s.Name, Secret: a}
		}); err != nil {
		return nil, err
	}
	// Envoy's order: bootstrap, clusters, endpoints, listeners, ..., secrets.
	for _, m := range []proto.Message{ccd, ecd, lcd, scd} {
		if err := appendAny(&cd, m); err != nil {
			return nil, err
		}
	}
	raw, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&cd)
	if err != nil {
		return nil, err
	}
	// protojson output is deliberately unstable in whitespace; re-indent so recorded files
	// diff cleanly.
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// bootstrapWithIPs is the bootstrap section a dump needs to carry the node's pod IPs.
func bootstrapWithIPs(ips string) (*adminv3.BootstrapConfigDump, error) {
	md, err := structpb.NewStruct(map[string]any{"INSTANCE_IPS": ips})
	if err != nil {
		return nil, err
	}
	return &adminv3.BootstrapConfigDump{Bootstrap: &bootstrapv3.Bootstrap{Node: &corev3.Node{Metadata: md}}}, nil
}

// packAll packs each item's message into an Any and wraps it as its config dump entry.
func packAll[T, W any](items []T, msg func(T) proto.Message, wrap func(T, *anypb.Any) W) ([]W, error) {
	var out []W
	for _, item := range items {
		a, err := anypb.New(msg(item))
		if err != nil {
			return nil, err
		}
		out = append(out, wrap(item, a))
	}
	return out, nil
}

func appendAny(cd *adminv3.ConfigDump, m proto.Message) error {
	a, err := anypb.New(m)
	if err != nil {
		return err
	}
	cd.Configs = append(cd.Configs, a)
	return nil
}
