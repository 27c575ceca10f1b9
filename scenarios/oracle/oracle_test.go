package oracle

import (
	"strings"
	"testing"

	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy/policytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

func pa(ns, name, body string) string {
	return "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n" + body + "\n"
}

func dr(ns, name, body string) string {
	return "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n" + body + "\n"
}

const httpbinSelector = "  selector: {matchLabels: {app: httpbin}}\n"

func mode(m string) string { return "  mtls: {mode: " + m + "}\n" }

var (
	httpbinFoo    = fixtures.Ref{Name: "httpbin", Namespace: "foo"}
	httpbinBar    = fixtures.Ref{Name: "httpbin", Namespace: "bar"}
	httpbinLegacy = fixtures.Ref{Name: "httpbin", Namespace: "legacy"}
)

// TestEffectiveModes covers the PeerAuthentication composition rules one at a time.
func TestEffectiveModes(t *testing.T) {
	topo := catalogtest.Topology(t)
	cases := []struct {
		name   string
		yaml   string
		server fixtures.Ref
		want   map[int]Mode
	}{
		{"no policy is PERMISSIVE", "", httpbinFoo, map[int]Mode{8000: Permissive, 8080: Permissive}},
		{"root namespace without selector is mesh-wide", pa("istio-system", "default", mode("STRICT")), httpbinBar, map[int]Mode{8000: Strict, 8080: Strict}},
		{"mesh UNSET is PERMISSIVE", pa("istio-system", "default", mode("UNSET")), httpbinBar, map[int]Mode{8000: Permissive, 8080: Permissive}},
		{"selector policy in the root namespace is ignored", pa("istio-system", "x", httpbinSelector+mode("STRICT")), httpbinFoo, map[int]Mode{8000: Permissive, 8080: Permissive}},
		{"namespace policy applies to its namespace", pa("foo", "default", mode("STRICT")), httpbinFoo, map[int]Mode{8000: Strict, 8080: Strict}},
		{"namespace policy does not leak to another namespace", pa("foo", "default", mode("STRICT")), httpbinBar, map[int]Mode{8000: Permissive, 8080: Permissive}},
		{"namespace overrides mesh", pa("istio-system", "default", mode("STRICT")) + pa("bar", "default", mode("PERMISSIVE")), httpbinBar, map[int]Mode{8000: Permissive, 8080: Permissive}},
		{"namespace UNSET inherits mesh", pa("istio-system", "default", mode("STRICT")) + pa("bar", "default", mode("UNSET")), httpbinBar, map[int]Mode{8000: Strict, 8080: Strict}},
		{"workload overrides namespace", pa("foo", "default", mode("STRICT")) + pa("foo", "w", httpbinSelector+mode("DISABLE")), httpbinFoo, map[int]Mode{8000: Disable, 8080: Disable}},
		{"workload UNSET inherits namespace", pa("foo", "default", mode("STRICT")) + pa("foo", "w", httpbinSelector+mode("UNSET")), httpbinFoo, map[int]Mode{8000: Strict, 8080: Strict}},
		{"selector that matches nothing applies to nothing", pa("foo", "w", "  selector: {matchLabels: {app: other}}\n"+mode("STRICT")), httpbinFoo, map[int]Mode{8000: Permissive, 8080: Permissive}},
		{"port level overrides workload", pa("bar", "w", httpbinSelector+mode("STRICT")+"  portLevelMtls: {8080: {mode: DISABLE}}"), httpbinBar, map[int]Mode{8000: Strict, 8080: Disable}},
		{"port UNSET inherits the workload mode", pa("bar", "w", httpbinSelector+mode("DISABLE")+"  portLevelMtls: {8080: {mode: UNSET}}"), httpbinBar, map[int]Mode{8000: Disable, 8080: Disable}},
		{"port UNSET under workload UNSET inherits the namespace", pa("bar", "default", mode("STRICT")) + pa("bar", "w", httpbinSelector+"  portLevelMtls: {8080: {mode: UNSET}, 8000: {mode: PERMISSIVE}}"), httpbinBar, map[int]Mode{8000: Permissive, 8080: Strict}},
		{"port key naming a Service port matches nothing", pa("bar", "w", httpbinSelector+mode("STRICT")+"  portLevelMtls: {9080: {mode: DISABLE}}"), httpbinBar, map[int]Mode{8000: Strict, 8080: Strict}},
		{"oldest mesh policy wins", pa("istio-system", "b", mode("STRICT")) + pa("istio-system", "a", mode("DISABLE")), httpbinFoo, map[int]Mode{8000: Strict, 8080: Strict}},
		{"oldest namespace policy wins", pa("foo", "zz", mode("STRICT")) + pa("foo", "aa", mode("PERMISSIVE")), httpbinFoo, map[int]Mode{8000: Strict, 8080: Strict}},
		{"oldest workload policy wins", pa("foo", "zz", httpbinSelector+mode("DISABLE")) + pa("foo", "aa", httpbinSelector+mode("STRICT")), httpbinFoo, map[int]Mode{8000: Disable, 8080: Disable}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := EffectiveModes(Input{Topology: topo, Objects: policytest.Objects(t, c.yaml)})
			if err != nil {
				t.Fatal(err)
			}
			for port, want := range c.want {
				if got[c.server][port] != want {
					t.Errorf("%s:%d = %q, want %q", c.server, port, got[c.server][port], want)
				}
			}
			if _, ok := got[httpbinLegacy]; ok {
				t.Errorf("httpbin.legacy has no sidecar and must have no mode, got %v", got[httpbinLegacy])
			}
		})
	}
}

// TestNamespacePortLevelIgnored: the CRD rejects portLevelMtls without a selector, but an object
// that got past it (older CRDs) must still not change modes: Istio reads portLevelMtls only
// from the workload policy.
func TestNamespacePortLevelIgnored(t *testing.T) {
	obj := &securityv1.PeerAuthentication{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "foo"}}
	obj.Spec.Mtls = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: securityv1beta1.PeerAuthentication_MutualTLS_STRICT}
	obj.Spec.PortLevelMtls = map[uint32]*securityv1beta1.PeerAuthentication_MutualTLS{8080: {Mode: securityv1beta1.PeerAuthentication_MutualTLS_DISABLE}}
	got, err := EffectiveModes(Input{Topology: catalogtest.Topology(t), Objects: []policy.Object{{PeerAuthentication: obj}}})
	if err != nil {
		t.Fatal(err)
	}
	if got[httpbinFoo][8080] != Strict {
		t.Fatalf("httpbin.foo:8080 = %q, want STRICT", got[httpbinFoo][8080])
	}
}

func probe(from, to string, port int) scenarios.Probe {
	f, _ := fixtures.ParseRef(from)
	tt, _ := fixtures.ParseRef(to)
	return scenarios.Probe{From: f, To: tt, Port: port}
}

// TestPredict covers the client's TLS choice and what the server makes of it.
func TestPredict(t *testing.T) {
	topo := catalogtest.Topology(t)
	strictBar := pa("bar", "default", mode("STRICT"))
	cases := []struct {
		name     string
		yaml     string
		injected map[string]bool
		probe    scenarios.Probe
		want     scenarios.Class
	}{
		{"auto mTLS between sidecars", "", nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"auto mTLS sends plaintext to a server without sidecar", "", nil, probe("sleep.foo", "httpbin.legacy", 8000), scenarios.ClassPlaintext},
		{"no sidecar into PERMISSIVE", "", nil, probe("sleep.legacy", "httpbin.bar", 8000), scenarios.ClassPlaintext},
		{"no sidecar into STRICT is reset", strictBar, nil, probe("sleep.legacy", "httpbin.bar", 8000), scenarios.ClassReset},
		{"disabled-injection namespace is no sidecar", strictBar, nil, probe("curl.utilities", "httpbin.bar", 8080), scenarios.ClassReset},
		{"injected utilities client gets mTLS", strictBar, map[string]bool{"foo": true, "bar": true, "utilities": true}, probe("curl.utilities", "httpbin.bar", 8080), scenarios.ClassMTLS},
		{"auto mTLS sends plaintext to DISABLE", pa("bar", "default", mode("DISABLE")), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassPlaintext},
		{"auto mTLS follows the target port's mode", pa("bar", "w", httpbinSelector+mode("STRICT")+"  portLevelMtls: {8080: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 9080), scenarios.ClassPlaintext},
		// Client-side auto mTLS reads only the mesh and namespace policy of the Service's namespace
		// (pilot/pkg/model/push_context.go BestEffortInferServiceMTLSMode; issue 10 item 7).
		{"namespace DISABLE + workload STRICT: sidecar clients send plaintext and get 503", pa("bar", "default", mode("DISABLE")) + pa("bar", "w", httpbinSelector+mode("STRICT")), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"namespace DISABLE + workload STRICT: no sidecar is reset", pa("bar", "default", mode("DISABLE")) + pa("bar", "w", httpbinSelector+mode("STRICT")), nil, probe("sleep.legacy", "httpbin.bar", 8000), scenarios.ClassReset},
		{"namespace DISABLE + workload PERMISSIVE: plaintext", pa("bar", "default", mode("DISABLE")) + pa("bar", "w", httpbinSelector+mode("PERMISSIVE")), nil, probe("sleep.bar", "httpbin.bar", 8080), scenarios.ClassPlaintext},
		{"namespace DISABLE + port-level STRICT: 503 on that port", pa("bar", "default", mode("DISABLE")) + pa("bar", "w", httpbinSelector+"  portLevelMtls: {8080: {mode: STRICT}}"), nil, probe("sleep.foo", "httpbin.bar", 9080), scenarios.ClassUpstreamError},
		{"mesh DISABLE + workload STRICT: 503", pa("istio-system", "default", mode("DISABLE")) + pa("bar", "w", httpbinSelector+mode("STRICT")), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"mesh DISABLE, namespace UNSET inherits it for the client too", pa("istio-system", "default", mode("DISABLE")) + pa("bar", "default", mode("UNSET")) + pa("bar", "w", httpbinSelector+mode("PERMISSIVE")), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassPlaintext},
		{"mesh DISABLE, namespace PERMISSIVE: auto mTLS again", pa("istio-system", "default", mode("DISABLE")) + pa("bar", "default", mode("PERMISSIVE")), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"namespace DISABLE elsewhere does not matter", pa("foo", "default", mode("DISABLE")) + pa("bar", "w", httpbinSelector+mode("STRICT")), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"namespace DISABLE + workload STRICT + DR ISTIO_MUTUAL: mTLS", pa("bar", "default", mode("DISABLE")) + pa("bar", "w", httpbinSelector+mode("STRICT")) + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR ISTIO_MUTUAL to no sidecar is 503", dr("legacy", "d", "  host: httpbin.legacy.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), nil, probe("sleep.bar", "httpbin.legacy", 8000), scenarios.ClassUpstreamError},
		{"DR does not affect a client without sidecar", dr("legacy", "d", "  host: httpbin.legacy.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), nil, probe("sleep.legacy", "httpbin.legacy", 8000), scenarios.ClassPlaintext},
		{"DR DISABLE into STRICT is 503", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"DR DISABLE into PERMISSIVE is plaintext", dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassPlaintext},
		{"DR ISTIO_MUTUAL into DISABLE is 503", pa("bar", "default", mode("DISABLE")) + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"DR short host resolves in its namespace", strictBar + dr("bar", "d", "  host: httpbin\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"DR short host does not match another namespace", strictBar + dr("foo", "d", "  host: httpbin\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR wildcard host", strictBar + dr("bar", "d", "  host: \"*.bar.svc.cluster.local\"\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"DR exact host beats wildcard", strictBar + dr("bar", "w", "  host: \"*.local\"\n  trafficPolicy: {tls: {mode: DISABLE}}") + dr("bar", "e", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR in the client namespace beats the server namespace", strictBar + dr("bar", "s", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}") + dr("foo", "c", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR in the server namespace beats the root namespace", strictBar + dr("istio-system", "r", "  host: \"*.local\"\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}") + dr("bar", "s", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"DR in the root namespace applies everywhere", dr("istio-system", "r", "  host: \"*.local\"\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), nil, probe("sleep.bar", "httpbin.legacy", 8080), scenarios.ClassUpstreamError},
		{"DR port level is keyed by Service port", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {portLevelSettings: [{port: {number: 9080}, tls: {mode: DISABLE}}]}"), nil, probe("sleep.foo", "httpbin.bar", 9080), scenarios.ClassUpstreamError},
		{"DR port level leaves other Service ports to the same workload port alone", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {portLevelSettings: [{port: {number: 9080}, tls: {mode: DISABLE}}]}"), nil, probe("sleep.foo", "httpbin.bar", 8080), scenarios.ClassMTLS},
		{"DR without trafficPolicy leaves auto mTLS", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR port level replaces the destination-level tls", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}, portLevelSettings: [{port: {number: 8000}, tls: {mode: ISTIO_MUTUAL}}]}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},

		// exportTo and workloadSelector (pilot/pkg/model/push_context.go setDestinationRules,
		// destinationRule; pilot/pkg/model/sidecar.go SidecarScope.DestinationRule; issue 10 item 8).
		{"DR exported only to legacy is not applied in foo", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  exportTo: [legacy]\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR exported only to legacy is not applied in its own namespace", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  exportTo: [legacy]\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.bar", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR exported only to legacy is applied there", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  exportTo: [legacy]\n  trafficPolicy: {tls: {mode: DISABLE}}"), map[string]bool{"foo": true, "bar": true, "legacy": true}, probe("sleep.legacy", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"DR exportTo . applies only in its namespace", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  exportTo: [.]\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR exportTo . applies in its namespace", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  exportTo: [.]\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.bar", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"DR in the root namespace exported to . applies to no client outside it", dr("istio-system", "r", "  host: \"*.local\"\n  exportTo: [.]\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), nil, probe("sleep.bar", "httpbin.legacy", 8080), scenarios.ClassPlaintext},
		{"DR workloadSelector selecting the client applies", strictBar + dr("foo", "d", "  host: httpbin.bar.svc.cluster.local\n  workloadSelector: {matchLabels: {app: sleep}}\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"DR workloadSelector selecting no client applies to none", strictBar + dr("foo", "d", "  host: httpbin.bar.svc.cluster.local\n  workloadSelector: {matchLabels: {app: nothing}}\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR workloadSelector is never exported", strictBar + dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  workloadSelector: {matchLabels: {app: sleep}}\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"DR workloadSelector selecting no client still hides the Service namespace's rule", dr("bar", "s", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}") + dr("foo", "d", "  host: httpbin.bar.svc.cluster.local\n  workloadSelector: {matchLabels: {app: nothing}}\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"same host, same namespace: a younger rule fills an older rule without trafficPolicy", strictBar + dr("bar", "a", "  host: httpbin.bar.svc.cluster.local") + dr("bar", "b", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
		{"same host, same namespace: the older trafficPolicy wins", strictBar + dr("bar", "a", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}") + dr("bar", "b", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassMTLS},
		{"same host, different exportTo: both kept, the younger applies", strictBar + dr("bar", "a", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}") + dr("bar", "b", "  host: httpbin.bar.svc.cluster.local\n  exportTo: [\"*\"]\n  trafficPolicy: {tls: {mode: DISABLE}}"), nil, probe("sleep.foo", "httpbin.bar", 8000), scenarios.ClassUpstreamError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Predict(Input{Topology: topo, Objects: policytest.Objects(t, c.yaml), Injected: c.injected})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				if g.Probe == c.probe {
					if g.Class() != c.want {
						t.Fatalf("%s = %s, want %s", c.probe, g.Outcome, c.want)
					}
					return
				}
			}
			t.Fatalf("%s not in the matrix", c.probe)
		})
	}
}

func TestPredictXFCCIdentitiesFollowTrustDomain(t *testing.T) {
	got, err := Predict(Input{Topology: catalogtest.Topology(t), TrustDomain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if g.Probe == probe("curl.utilities", "httpbin.foo", 8000) && g.MTLS {
			t.Fatalf("curl.utilities has no sidecar: %s", g.Outcome)
		}
		if g.Probe == probe("sleep.bar", "httpbin.foo", 8080) {
			want := scenarios.XFCC{By: "spiffe://example.org/ns/foo/sa/httpbin", URI: "spiffe://example.org/ns/bar/sa/sleep"}
			if g.XFCC == nil || *g.XFCC != want {
				t.Fatalf("XFCC = %+v, want %+v", g.XFCC, want)
			}
			return
		}
	}
	t.Fatal("probe not found")
}

func TestPredictRejectsUnmodelledTLS(t *testing.T) {
	_, err := Predict(Input{Topology: catalogtest.Topology(t), Objects: policytest.Objects(t, dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: SIMPLE}}"))})
	if err == nil || !strings.Contains(err.Error(), "SIMPLE") {
		t.Fatalf("want an error naming SIMPLE, got %v", err)
	}
}

// TestPredictRejectsUnmodelledFields: a field the oracle has no rule for is an error naming it,
// never silently ignored (issue 10 item 8).
func TestPredictRejectsUnmodelledFields(t *testing.T) {
	cases := map[string]struct{ yaml, field string }{
		"subsets":                   {dr("bar", "d", "  host: httpbin\n  subsets: [{name: v1, labels: {version: v1}}]"), "spec.subsets"},
		"connectionPool":            {dr("bar", "d", "  host: httpbin\n  trafficPolicy: {connectionPool: {tcp: {maxConnections: 10}}}"), "spec.trafficPolicy.connectionPool"},
		"loadBalancer PASSTHROUGH":  {dr("bar", "d", "  host: httpbin\n  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}"), "spec.trafficPolicy.loadBalancer"},
		"port-level connectionPool": {dr("bar", "d", "  host: httpbin\n  trafficPolicy: {tls: {mode: DISABLE}, portLevelSettings: [{port: {number: 8000}, tls: {mode: DISABLE}}, {port: {number: 8080}, connectionPool: {tcp: {maxConnections: 10}}}]}"), "spec.trafficPolicy.portLevelSettings[1].connectionPool"},
		"tls subjectAltNames":       {dr("bar", "d", "  host: httpbin\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL, subjectAltNames: [spiffe://x]}}"), "spec.trafficPolicy.tls.subjectAltNames"},
		"tls sni":                   {dr("bar", "d", "  host: httpbin\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL, sni: x}}"), "spec.trafficPolicy.tls.sni"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Predict(Input{Topology: catalogtest.Topology(t), Objects: policytest.Objects(t, c.yaml)})
			want := "DestinationRule bar/d: " + c.field + ": not modelled by the oracle"
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error = %v, want it to start with %q", err, want)
			}
		})
	}
}

func TestMatrixSize(t *testing.T) {
	got, err := Predict(Input{Topology: catalogtest.Topology(t)})
	if err != nil {
		t.Fatal(err)
	}
	// 4 clients × 3 httpbin Services × 3 Service ports.
	if len(got) != 36 {
		t.Fatalf("matrix has %d probes, want 36", len(got))
	}
}
