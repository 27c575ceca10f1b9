package ambient

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"istio.io/istio/istioctl/pkg/writer/ztunnel/configdump"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/ztunnel"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/tools/istiogen/waypoint"
)

// check runs Istio's ambient control plane on one state and compares, probe by probe and port
// by port, the engine's reading of what ztunnel would receive with the oracle's ambient rules;
// it returns the probes compared and the engine's judgements.
func check(t *testing.T, name string, in oracle.Input) (int, []ztunnel.Judgement) {
	t.Helper()
	want, err := oracle.PredictAmbient(in)
	if err != nil {
		t.Fatalf("%s: oracle: %v", name, err)
	}
	wantPorts, err := oracle.AmbientDeniedPorts(in)
	if err != nil {
		t.Fatalf("%s: oracle: %v", name, err)
	}
	g, err := Generate(t, in)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got, why, err := g.Predict(in.TrustDomain)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for i := range want {
		if got[i].Probe != want[i].Probe {
			t.Fatalf("%s: probe order differs: %s vs %s", name, got[i].Probe, want[i].Probe)
		}
		if got[i].Outcome.String() != want[i].Outcome.String() || got[i].MTLS != want[i].MTLS {
			t.Errorf("DISAGREEMENT %s: %s: oracle %s, Istio's conversion + ztunnel engine %s (%s)", name, want[i].Probe, want[i].Outcome, got[i].Outcome, why[i].Reason)
		}
	}
	gotPorts, err := g.DeniedPorts()
	if err != nil {
		t.Fatal(err)
	}
	if len(gotPorts) != len(wantPorts) {
		t.Errorf("DISAGREEMENT %s: enrolled servers: Istio %v, oracle %v", name, gotPorts, wantPorts)
	}
	for ref, w := range wantPorts {
		if !maps.Equal(gotPorts[ref], w) {
			t.Errorf("DISAGREEMENT %s: %s plaintext denied per port: Istio %v, oracle %v\n%s", name, ref, gotPorts[ref], w, g.Raw)
		}
	}
	return len(want), why
}

// TestCatalogAmbientAgainstIstio: for every step of every catalog scenario (DestinationRule
// scenarios too: Istio must send ztunnel the same thing with or without them), Istio's
// PeerAuthentication → ztunnel conversion, read as ztunnel reads it, gives the oracle's ambient
// outcome for every probe and the oracle's verdict for every enrolled server port.
func TestCatalogAmbientAgainstIstio(t *testing.T) {
	topo := catalogtest.Topology(t)
	catalog := catalogtest.Catalog(t)
	probes := 0
	for _, s := range catalog {
		for i, step := range s.Steps {
			st := s.StateAt(topo, i)
			n, _ := check(t, s.Name+" step "+step.Name, oracle.Input{Topology: topo, Objects: st.Objects, Injected: st.Injected, Waypoints: st.Waypoints})
			probes += n
		}
	}
	t.Logf("%d scenarios, %d probes agree", len(catalog), probes)
}

// TestAmbientRulesAgainstIstio: the oracle's rule cases, including the three places where the
// ambient conversion reads port-level policies differently from sidecars, against Istio's code.
func TestAmbientRulesAgainstIstio(t *testing.T) {
	topo := catalogtest.Topology(t)
	pa := func(ns, name, body string) string {
		return "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n" + body + "\n"
	}
	sel := "  selector: {matchLabels: {app: httpbin}}\n"
	mode := func(m string) string { return "  mtls: {mode: " + m + "}\n" }
	cases := map[string]string{
		"difference 1":                       pa("foo", "default", mode("STRICT")) + pa("foo", "w", sel+"  portLevelMtls: {8080: {mode: DISABLE}}"),
		"difference 2":                       pa("istio-system", "default", mode("STRICT")) + pa("foo", "w", sel+mode("PERMISSIVE")+"  portLevelMtls: {8000: {mode: STRICT}}"),
		"difference 2, ns set":               pa("istio-system", "default", mode("STRICT")) + pa("foo", "default", mode("PERMISSIVE")) + pa("foo", "w", sel+mode("PERMISSIVE")+"  portLevelMtls: {8000: {mode: STRICT}}"),
		"difference 3":                       pa("istio-system", "default", mode("STRICT")) + pa("foo", "default", mode("UNSET")) + pa("foo", "w", sel+"  portLevelMtls: {8080: {mode: PERMISSIVE}}"),
		"strict with exceptions":             pa("bar", "w", sel+mode("STRICT")+"  portLevelMtls: {8080: {mode: DISABLE}, 9080: {mode: PERMISSIVE}}"),
		"mesh permissive, port strict":       pa("istio-system", "default", mode("PERMISSIVE")) + pa("bar", "w", sel+"  portLevelMtls: {8000: {mode: STRICT}, 8080: {mode: DISABLE}}"),
		"namespace strict, mixed ports":      pa("bar", "default", mode("STRICT")) + pa("bar", "w", sel+"  portLevelMtls: {8000: {mode: PERMISSIVE}, 8080: {mode: DISABLE}}"),
		"namespace DISABLE, workload STRICT": pa("foo", "default", mode("DISABLE")) + pa("foo", "w", sel+mode("STRICT")),
	}
	for name, yaml := range cases {
		objs, err := decode(yaml)
		if err != nil {
			t.Fatal(err)
		}
		check(t, name, oracle.Input{Topology: topo, Objects: objs})
		check(t, name+" (utilities enrolled)", oracle.Input{Topology: topo, Objects: objs, Injected: map[string]bool{"foo": true, "bar": true, "utilities": true}})
	}
}

// TestAmbientWaypointsAgainstIstio: foo (and bar) behind a waypoint, its Gateway with and
// without ambient.istio.io/xfcc-include-client-identity, with no policy and with foo STRICT:
// Istio's ambient index gives the namespace's Services the waypoint, the engine sends every
// enrolled client's probe of them through it (and no other), and the outcomes are the oracle's:
// through a waypoint that writes XFCC (waypoint.WritesXFCC) ClassWaypoint, By the waypoint's
// identity; otherwise hbone; clients outside the mesh as without a waypoint.
func TestAmbientWaypointsAgainstIstio(t *testing.T) {
	topo := catalogtest.Topology(t)
	strict, err := decode("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: foo}\nspec: {mtls: {mode: STRICT}}\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, pol := range []struct {
		name    string
		objects []policy.Object
	}{{"no policy", nil}, {"foo STRICT", strict}} {
		for _, waypoints := range []map[string]scenarios.Waypoint{
			{"foo": {Namespace: "foo"}},
			{"foo": {Namespace: "foo", XFCCClientIdentity: true}},
			{"foo": {Namespace: "foo", XFCCClientIdentity: true}, "bar": {Namespace: "bar"}},
		} {
			name := fmt.Sprintf("%s, waypoints %v", pol.name, waypoints)
			in := oracle.Input{Topology: topo, Objects: pol.objects, Waypoints: waypoints}
			_, why := check(t, name, in)
			enrolled, err := oracle.PredictAmbient(in)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range scenarios.Matrix(topo) {
				client, _ := topo.Workload(p.From)
				wp, behind := waypoints[p.To.Namespace]
				want := ""
				if behind && client.Namespace != "legacy" && client.Namespace != "utilities" {
					want = wp.Namespace + "/" + waypoint.Name + "-0"
				}
				if why[i].Waypoint != want {
					t.Errorf("%s: %s: through waypoint %q (%s), want %q", name, p, why[i].Waypoint, why[i].Reason, want)
				}
				if want != "" && wp.XFCCClientIdentity && enrolled[i].Class() != scenarios.ClassWaypoint {
					t.Errorf("%s: %s: the oracle predicts %s, want waypoint", name, p, enrolled[i].Outcome)
				}
			}
		}
	}
}

// TestConfigDumpIsZtunnelShaped: the dump the check writes is read by istioctl's own reader of
// ztunnel dumps, and the engine reads the ztunnel dump Istio records for istioctl's tests.
func TestConfigDumpIsZtunnelShaped(t *testing.T) {
	topo := catalogtest.Topology(t)
	objs, err := decode("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Generate(t, oracle.Input{Topology: topo, Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	w := &configdump.ConfigWriter{}
	if err := w.Prime(g.Raw); err != nil {
		t.Fatalf("istioctl cannot read the dump: %v", err)
	}
	var generic map[string]any
	if err := json.Unmarshal(g.Raw, &generic); err != nil {
		t.Fatal(err)
	}
	for _, wl := range g.Dump.Workloads {
		if wl.Namespace == "foo" && wl.Protocol != ztunnel.ProtocolHBONE {
			t.Errorf("enrolled workload %s/%s has protocol %s", wl.Namespace, wl.Name, wl.Protocol)
		}
		if wl.Namespace == "legacy" && wl.Protocol != ztunnel.ProtocolTCP {
			t.Errorf("legacy workload %s has protocol %s", wl.Name, wl.Protocol)
		}
	}

	dir, err := istioDir()
	if err != nil {
		t.Skipf("Istio's module directory: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "istioctl/pkg/writer/ztunnel/configdump/testdata/dump.json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ztunnel.Parse(raw)
	if err != nil {
		t.Fatalf("engine cannot read Istio's recorded ztunnel dump: %v", err)
	}
	if len(d.Workloads) == 0 || len(d.Policies) == 0 {
		t.Fatalf("recorded dump: %d workloads, %d policies", len(d.Workloads), len(d.Policies))
	}
}
