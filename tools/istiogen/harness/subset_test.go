package harness

import (
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// TestSubsetTLSFallback checks, on the generator linked here (Istio 1.31.0), what the 1.31 fix
// "DestinationRule subset without a TLS mode falls back to the rule's top-level TLS"
// (releasenotes/notes/dr-subset-tls-mode-fallback.yaml) changes for the fixtures: httpbin.bar
// has a sidecar, the rule's top level says DISABLE and subset v1 (every httpbin.bar pod) says
// nothing. A client reaches a subset only through a VirtualService route to it
// (networking/v1alpha3 destination_rule.proto: "subsets ... can be used for scenarios like A/B
// testing, or routing to a specific version of a service"; virtual_service.proto
// Destination.subset), so the subset's cluster is generated whether or not a route uses it.
//
//   - The subset cluster's TLS is the top level's in 1.31 as in 1.30: util.MergeSubsetTrafficPolicy
//     merges it, and cluster_tls.go applyUpstreamTLSSettings sets no transport socket for DISABLE
//     — plaintext, as for the default cluster. A probe through the subset sees what it sees
//     without one.
//   - What 1.31 changed is the subset's EDS endpoints: their tlsMode metadata now follows the
//     top-level DISABLE (xds/endpoints/mtls_checker.go tlsModeForDestinationRule falls back to
//     the rule's traffic policy) instead of the sidecar's "istio" — which only transport socket
//     matches (auto mTLS, HBONE) and cross-network filtering read.
func TestSubsetTLSFallback(t *testing.T) {
	const host = "httpbin.bar.svc.cluster.local"
	client := fixtures.Ref{Name: "sleep", Namespace: "foo"}
	for _, tc := range []struct {
		name, trafficPolicy string
		// wantTLSModeIstio: the subset endpoints keep tlsMode=istio (auto mTLS decides).
		wantTLSModeIstio bool
	}{
		{"top-level DISABLE, subset without TLS", "  trafficPolicy: {tls: {mode: DISABLE}}\n", false},
		{"no TLS anywhere (auto mTLS)", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := policy.Decode([]byte("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: httpbin, namespace: bar}\nspec:\n  host: " + host + "\n" + tc.trafficPolicy + "  subsets:\n  - name: v1\n    labels: {app: httpbin}\n"))
			if err != nil {
				t.Fatal(err)
			}
			gen, err := Generate(t, oracle.Input{Topology: catalogtest.Topology(t), Objects: objs})
			if err != nil {
				t.Fatal(err)
			}
			d := gen.Dumps[client]
			for _, port := range []string{"8000", "8080"} {
				def, sub := "outbound|"+port+"||"+host, "outbound|"+port+"|v1|"+host
				clusters := map[string]bool{}
				for _, c := range d.Clusters {
					if c.Name != def && c.Name != sub {
						continue
					}
					// Same TLS for the subset as for the rule's default cluster.
					plaintext := c.TransportSocket == nil && len(c.TransportSocketMatches) == 0
					auto := len(c.TransportSocketMatches) > 0
					clusters[c.Name] = true
					if tc.wantTLSModeIstio && !auto {
						t.Errorf("%s: want auto mTLS (transport socket matches), got %v", c.Name, c.TransportSocket)
					}
					if !tc.wantTLSModeIstio && !plaintext {
						t.Errorf("%s: want plaintext (the top-level DISABLE), got socket %v matches %v", c.Name, c.TransportSocket, c.TransportSocketMatches)
					}
				}
				if !clusters[def] || !clusters[sub] {
					t.Fatalf("sleep.foo has clusters %v for %s, want %s and %s", clusters, port, def, sub)
				}
				found := false
				for _, cla := range d.Endpoints {
					if cla.ClusterName != sub {
						continue
					}
					for _, loc := range cla.Endpoints {
						for _, ep := range loc.LbEndpoints {
							found = true
							mode := ep.GetMetadata().GetFilterMetadata()["envoy.transport_socket_match"].GetFields()["tlsMode"].GetStringValue()
							if (mode == "istio") != tc.wantTLSModeIstio {
								t.Errorf("%s endpoint tlsMode = %q, want istio: %v", sub, mode, tc.wantTLSModeIstio)
							}
						}
					}
				}
				if !found {
					t.Errorf("no endpoints for %s", sub)
				}
			}
		})
	}
}
