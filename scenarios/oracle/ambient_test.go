package oracle

import (
	"maps"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy/policytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// TestAmbientDeniedPorts covers the PeerAuthentication → ztunnel conversion rules one at a time,
// including the three places where ambient reads a port-level policy differently from a sidecar.
func TestAmbientDeniedPorts(t *testing.T) {
	topo := catalogtest.Topology(t)
	both := func(v bool) map[int]bool { return map[int]bool{8000: v, 8080: v} }
	cases := []struct {
		name   string
		yaml   string
		server fixtures.Ref
		want   map[int]bool
	}{
		{"no policy accepts plaintext", "", httpbinFoo, both(false)},
		{"mesh STRICT denies plaintext everywhere", pa("istio-system", "default", mode("STRICT")), httpbinBar, both(true)},
		{"mesh DISABLE is PERMISSIVE", pa("istio-system", "default", mode("DISABLE")), httpbinBar, both(false)},
		{"namespace STRICT", pa("foo", "default", mode("STRICT")), httpbinFoo, both(true)},
		{"namespace DISABLE overrides mesh STRICT", pa("istio-system", "default", mode("STRICT")) + pa("foo", "default", mode("DISABLE")), httpbinFoo, both(false)},
		{"namespace UNSET inherits mesh STRICT", pa("istio-system", "default", mode("STRICT")) + pa("foo", "default", mode("UNSET")), httpbinFoo, both(true)},
		{"root selector ignored", pa("istio-system", "x", httpbinSelector+mode("STRICT")), httpbinFoo, both(false)},
		{"workload DISABLE overrides namespace STRICT", pa("foo", "default", mode("STRICT")) + pa("foo", "w", httpbinSelector+mode("DISABLE")), httpbinFoo, both(false)},
		{"workload STRICT", pa("foo", "w", httpbinSelector+mode("STRICT")), httpbinFoo, both(true)},
		{"workload STRICT, port DISABLE exempted", pa("bar", "w", httpbinSelector+mode("STRICT")+"  portLevelMtls: {8080: {mode: DISABLE}}"), httpbinBar, map[int]bool{8000: true, 8080: false}},
		{"workload PERMISSIVE, port STRICT", pa("bar", "w", httpbinSelector+mode("PERMISSIVE")+"  portLevelMtls: {8000: {mode: STRICT}}"), httpbinBar, map[int]bool{8000: true, 8080: false}},
		{"UNSET, mesh PERMISSIVE, port STRICT", pa("istio-system", "default", mode("PERMISSIVE")) + pa("bar", "w", httpbinSelector+"  portLevelMtls: {8000: {mode: STRICT}}"), httpbinBar, map[int]bool{8000: true, 8080: false}},
		{"UNSET, namespace STRICT, port PERMISSIVE exempted", pa("bar", "default", mode("STRICT")) + pa("bar", "w", httpbinSelector+"  portLevelMtls: {8080: {mode: PERMISSIVE}}"), httpbinBar, map[int]bool{8000: true, 8080: false}},
		{"port key naming a Service port matches nothing", pa("bar", "w", httpbinSelector+mode("STRICT")+"  portLevelMtls: {9080: {mode: DISABLE}}"), httpbinBar, both(true)},
		// Difference 1: only PERMISSIVE ports make the conversion drop the static STRICT policy.
		{"difference 1: UNSET under namespace STRICT, port DISABLE still denied", pa("foo", "default", mode("STRICT")) + pa("foo", "w", httpbinSelector+"  portLevelMtls: {8080: {mode: DISABLE}}"), httpbinFoo, both(true)},
		// Difference 2: STRICT ports of a PERMISSIVE workload policy are skipped under mesh STRICT.
		{"difference 2: workload PERMISSIVE + port STRICT under mesh STRICT denies nothing", pa("istio-system", "default", mode("STRICT")) + pa("foo", "w", httpbinSelector+mode("PERMISSIVE")+"  portLevelMtls: {8000: {mode: STRICT}}"), httpbinFoo, both(false)},
		{"difference 2 needs no namespace policy: namespace PERMISSIVE keeps the STRICT port", pa("istio-system", "default", mode("STRICT")) + pa("foo", "default", mode("PERMISSIVE")) + pa("foo", "w", httpbinSelector+mode("PERMISSIVE")+"  portLevelMtls: {8000: {mode: STRICT}}"), httpbinFoo, map[int]bool{8000: true, 8080: false}},
		// Difference 3: a namespace policy with mode UNSET makes the merged policy empty.
		{"difference 3: namespace UNSET + mesh STRICT + port PERMISSIVE denies nothing", pa("istio-system", "default", mode("STRICT")) + pa("foo", "default", mode("UNSET")) + pa("foo", "w", httpbinSelector+"  portLevelMtls: {8080: {mode: PERMISSIVE}}"), httpbinFoo, both(false)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := AmbientDeniedPorts(Input{Topology: topo, Objects: policytest.Objects(t, c.yaml)})
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got[c.server], c.want) {
				t.Errorf("%s: denied %v, want %v", c.server, got[c.server], c.want)
			}
		})
	}
}

// TestPredictAmbient: mesh to mesh is HBONE whatever the policies and DestinationRules say; a
// client outside the mesh is reset exactly where plaintext is denied; a server outside the mesh
// accepts plaintext from everyone; no probe carries XFCC.
func TestPredictAmbient(t *testing.T) {
	topo := catalogtest.Topology(t)
	yaml := pa("foo", "default", mode("STRICT")) + pa("bar", "default", mode("DISABLE")) +
		dr("foo", "all-disable", "  host: '*.local'\n  trafficPolicy: {tls: {mode: DISABLE}}\n") +
		dr("foo", "legacy-mtls", "  host: httpbin.legacy.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n")
	got, err := PredictAmbient(Input{Topology: topo, Objects: policytest.Objects(t, yaml)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]scenarios.Class{
		"sleep.foo → httpbin.foo":         scenarios.ClassHBONE,
		"sleep.foo → httpbin.bar":         scenarios.ClassHBONE,
		"sleep.foo → httpbin.legacy":      scenarios.ClassPlaintext,
		"sleep.legacy → httpbin.foo":      scenarios.ClassReset,
		"sleep.legacy → httpbin.bar":      scenarios.ClassPlaintext,
		"curl.utilities → httpbin.foo":    scenarios.ClassReset,
		"curl.utilities → httpbin.legacy": scenarios.ClassPlaintext,
		"sleep.bar → httpbin.foo":         scenarios.ClassHBONE,
	}
	if len(got) != 36 {
		t.Fatalf("%d probes, want 36", len(got))
	}
	for _, p := range got {
		if p.XFCC != nil {
			t.Errorf("%s: XFCC %v in ambient", p.Probe, p.XFCC)
		}
		key := p.From.String() + " → " + p.To.String()
		if c, ok := want[key]; ok && p.Class() != c {
			t.Errorf("%s: %s, want %s", p.Probe, p.Class(), c)
		}
	}
}

// TestPredictAmbientUtilitiesJoins: enrolling utilities (label, no restart) makes curl's
// requests HBONE, so STRICT no longer resets them.
func TestPredictAmbientUtilitiesJoins(t *testing.T) {
	topo := catalogtest.Topology(t)
	in := Input{Topology: topo, Objects: policytest.Objects(t, pa("istio-system", "default", mode("STRICT"))),
		Injected: map[string]bool{"foo": true, "bar": true, "utilities": true}}
	got, err := PredictAmbient(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		if p.From.String() != "curl.utilities" {
			continue
		}
		want := scenarios.ClassHBONE
		if p.To.Namespace == "legacy" {
			want = scenarios.ClassPlaintext
		}
		if p.Class() != want {
			t.Errorf("%s: %s, want %s", p.Probe, p.Class(), want)
		}
	}
}

func TestPredictAmbientRejectsEmptySelector(t *testing.T) {
	_, err := PredictAmbient(Input{Topology: catalogtest.Topology(t), Objects: policytest.Objects(t, pa("foo", "x", "  selector: {matchLabels: {}}\n"+mode("STRICT")))})
	if err == nil || !strings.Contains(err.Error(), "spec.selector") {
		t.Fatalf("err = %v, want one naming spec.selector", err)
	}
}

// TestPredictAmbientOnTheAmbientTopology: the fixtures as DATAPLANE=ambient deploys them inject no
// namespace and enrol foo and bar; with no Injected given the oracle reads the enrolled set, so
// it predicts exactly what it predicts from the manifests' injected foo and bar.
func TestPredictAmbientOnTheAmbientTopology(t *testing.T) {
	ambient, err := fixtures.LoadFor(fixtures.Variant{Ambient: true})
	if err != nil {
		t.Fatal(err)
	}
	objs := policytest.Objects(t, pa("foo", "default", mode("STRICT")))
	got, err := PredictAmbient(Input{Topology: ambient, Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	want, err := PredictAmbient(Input{Topology: catalogtest.Topology(t), Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	hbone := 0
	for i := range got {
		if got[i].Outcome.String() != want[i].Outcome.String() {
			t.Errorf("%s: %s on the ambient topology, %s from the manifests", got[i].Probe, got[i].Outcome, want[i].Outcome)
		}
		if got[i].Class() == scenarios.ClassHBONE {
			hbone++
		}
	}
	if hbone == 0 {
		t.Error("no probe is HBONE: the enrolled namespaces were not read")
	}
	denied, err := AmbientDeniedPorts(Input{Topology: ambient, Objects: objs})
	if err != nil || len(denied) != 2 {
		t.Errorf("denied ports on the ambient topology: %v %v, want foo's and bar's servers", denied, err)
	}
}
