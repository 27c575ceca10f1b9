package oracle

import (
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios/policy/policytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// TestPredictIstioVersion: the prediction is for an Istio version; a malformed one is an error
// naming it, and every rule the oracle models holds unchanged across the window (1.30–1.32).
func TestPredictIstioVersion(t *testing.T) {
	objs := policytest.Objects(t, pa("bar", "default", mode("STRICT"))+dr("bar", "d", "  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}"))
	base, err := Predict(Input{Topology: catalogtest.Topology(t), Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.30.8", "1.31", "1.31.4", "1.32.0"} {
		got, err := Predict(Input{Topology: catalogtest.Topology(t), Objects: objs, IstioVersion: v})
		if err != nil {
			t.Fatalf("Istio %s: %v", v, err)
		}
		for i := range got {
			if got[i].Outcome.String() != base[i].Outcome.String() {
				t.Errorf("Istio %s: %s = %s, want %s", v, got[i].Probe, got[i].Outcome, base[i].Outcome)
			}
		}
	}
	for _, bad := range []string{"v1.31.4", "1.31.x", "latest"} {
		_, err := Predict(Input{Topology: catalogtest.Topology(t), Objects: objs, IstioVersion: bad})
		if err == nil || !strings.Contains(err.Error(), "oracle: istio version: \""+bad+"\" is not an Istio minor") {
			t.Errorf("IstioVersion %q: error = %v", bad, err)
		}
	}
	// The 1.31 subset TLS fallback is no reason to accept subsets: still unmodelled, by name.
	_, err = Predict(Input{Topology: catalogtest.Topology(t), IstioVersion: "1.31.4", Objects: policytest.Objects(t, dr("bar", "d",
		"  host: httpbin.bar.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}\n  subsets: [{name: v1, labels: {app: httpbin}}]"))})
	if err == nil || !strings.HasPrefix(err.Error(), "DestinationRule bar/d: spec.subsets: not modelled by the oracle") {
		t.Errorf("subset on 1.31: %v", err)
	}
}
