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
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
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
	lcd := &adminv3.ListenersConfigDump{}
	for _, l := range d.Listeners {
		a, err := anypb.New(l)
		if err != nil {
			return nil, err
		}
		lcd.DynamicListeners = append(lcd.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			Name:        l.GetName(),
			ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{Listener: a},
		})
	}
	ccd := &adminv3.ClustersConfigDump{VersionInfo: d.ClustersVersion}
	for _, c := range d.Clusters {
		a, err := anypb.New(c)
		if err != nil {
			return nil, err
		}
		ccd.DynamicActiveClusters = append(ccd.DynamicActiveClusters, &adminv3.ClustersConfigDump_DynamicCluster{Cluster: a})
	}
	ecd := &adminv3.EndpointsConfigDump{}
	for _, e := range d.Endpoints {
		a, err := anypb.New(e)
		if err != nil {
			return nil, err
		}
		ecd.DynamicEndpointConfigs = append(ecd.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{EndpointConfig: a})
	}
	scd := &adminv3.SecretsConfigDump{}
	for _, s := range d.Secrets {
		a, err := anypb.New(s.Secret)
		if err != nil {
			return nil, err
		}
		scd.DynamicActiveSecrets = append(scd.DynamicActiveSecrets, &adminv3.SecretsConfigDump_DynamicSecret{Name: s.Name, Secret: a})
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

func appendAny(cd *adminv3.ConfigDump, m proto.Message) error {
	a, err := anypb.New(m)
	if err != nil {
		return err
	}
	cd.Configs = append(cd.Configs, a)
	return nil
}
