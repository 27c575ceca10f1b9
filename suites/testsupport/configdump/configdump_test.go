package configdump

import (
	"net/netip"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
)

// What Marshal writes reads back (authcheck.ParseConfigDump) as the dump it was given, in
// Envoy's order of config types.
func TestMarshalReadsBack(t *testing.T) {
	d := &authcheck.Dump{
		Listeners:       []*listenerv3.Listener{{Name: "virtualInbound"}, {Name: "0.0.0.0_8000"}},
		Clusters:        []*clusterv3.Cluster{{Name: "outbound|8000||httpbin.foo.svc.cluster.local"}},
		Endpoints:       []*endpointv3.ClusterLoadAssignment{{ClusterName: "outbound|8000||httpbin.foo.svc.cluster.local"}},
		Secrets:         []authcheck.Secret{{Name: "default", Secret: &tlsv3.Secret{Name: "default"}}},
		NodeIPs:         []netip.Addr{netip.MustParseAddr("10.244.0.7")},
		ClustersVersion: "2026-11-02T09:00:00Z/7",
	}
	raw, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := authcheck.ParseConfigDump(raw)
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string, a, b []proto.Message) {
		t.Helper()
		if len(a) != len(b) {
			t.Fatalf("%s: %d read back, %d written", what, len(a), len(b))
		}
		for i := range a {
			if !proto.Equal(a[i], b[i]) {
				t.Errorf("%s[%d]: read back %v, wrote %v", what, i, a[i], b[i])
			}
		}
	}
	same("listeners", messages(got.Listeners), messages(d.Listeners))
	same("clusters", messages(got.Clusters), messages(d.Clusters))
	same("endpoints", messages(got.Endpoints), messages(d.Endpoints))
	if len(got.Secrets) != 1 || got.Secrets[0].Name != "default" || !proto.Equal(got.Secrets[0].Secret, d.Secrets[0].Secret) {
		t.Errorf("secrets read back %v", got.Secrets)
	}
	if len(got.NodeIPs) != 1 || got.NodeIPs[0] != d.NodeIPs[0] || got.ClustersVersion != d.ClustersVersion {
		t.Errorf("node IPs %v, clusters version %q", got.NodeIPs, got.ClustersVersion)
	}
	order := []string{"BootstrapConfigDump", "ClustersConfigDump", "EndpointsConfigDump", "ListenersConfigDump", "SecretsConfigDump"}
	last := -1
	for _, typ := range order {
		at := strings.Index(string(raw), "envoy.admin.v3."+typ)
		if at < last {
			t.Errorf("%s out of Envoy's order %v", typ, order)
		}
		last = at
	}
}

func messages[M proto.Message](ms []M) []proto.Message {
	out := make([]proto.Message, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}
