package oracle

import (
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy/policytest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// classOf names an outcome's class, as scenario files do.
func classOf(o scenarios.Outcome) scenarios.Class {
	switch {
	case o.MTLS:
		return scenarios.ClassMTLS
	case o.ExitCode == 56:
		return scenarios.ClassReset
	case o.HTTPCode == 503:
		return scenarios.ClassUpstreamError
	}
	return scenarios.ClassPlaintext
}

// Every step of the catalog: the wire prediction of each probe agrees with its predicted class
// (mtls → TLS, plaintext and reset → plaintext), and the 503s split both ways somewhere.
func TestWireAgreesWithClassesOverTheCatalog(t *testing.T) {
	catalog := catalogtest.Catalog(t)
	topo := catalogtest.Topology(t)
	seen := map[scenarios.Class]map[Wire]bool{}
	for _, s := range catalog {
		for i := range s.Steps {
			st := s.StateAt(topo, i)
			in := Input{Topology: topo, Objects: st.Objects, Injected: st.Injected}
			outcomes, err := Predict(in)
			if err != nil {
				t.Fatalf("%s step %d: %v", s.Name, i, err)
			}
			wires, err := PredictWire(in)
			if err != nil {
				t.Fatal(err)
			}
			for j, o := range outcomes {
				c := classOf(o.Outcome)
				if wires[j].Probe != o.Probe || !WireAgrees(c, wires[j].Wire) {
					t.Errorf("%s step %d %s: class %s, wire %s", s.Name, i, o.Probe, c, wires[j].Wire)
				}
				if seen[c] == nil {
					seen[c] = map[Wire]bool{}
				}
				seen[c][wires[j].Wire] = true
			}
		}
	}
	if !seen[scenarios.ClassUpstreamError][WireTLS] || !seen[scenarios.ClassUpstreamError][WirePlaintext] {
		t.Errorf("503 wires seen: %v, want both (ISTIO_MUTUAL to no sidecar; DISABLE into STRICT)", seen[scenarios.ClassUpstreamError])
	}
	if !seen[scenarios.ClassPlaintext][WirePlaintext] || !seen[scenarios.ClassMTLS][WireTLS] {
		t.Errorf("wires seen %v", seen)
	}
}

func TestPredictTCP(t *testing.T) {
	topo := catalogtest.Topology(t)
	type want struct {
		wire Wire
		echo bool
	}
	cases := []struct {
		name, yaml string
		want       map[scenarios.Probe]want
	}{
		{"baseline: auto mTLS between sidecars, PERMISSIVE takes plaintext", "", map[scenarios.Probe]want{
			probe("sleep.foo", "httpbin.bar", 9000):    {WireTLS, true},
			probe("sleep.legacy", "httpbin.foo", 9000): {WirePlaintext, true},
			probe("sleep.foo", "httpbin.legacy", 9000): {WirePlaintext, true},
		}},
		{"namespace STRICT: plaintext into STRICT matches no filter chain", pa("foo", "default", mode("STRICT")), map[scenarios.Probe]want{
			probe("sleep.legacy", "httpbin.foo", 9000): {WirePlaintext, false},
			probe("sleep.bar", "httpbin.foo", 9000):    {WireTLS, true},
		}},
		{"DestinationRule ISTIO_MUTUAL to a workload without sidecar", dr("foo", "legacy", "  host: httpbin.legacy.svc.cluster.local\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"), map[scenarios.Probe]want{
			probe("sleep.foo", "httpbin.legacy", 9000): {WireTLS, false},
		}},
		{"workload DISABLE on the TCP port: mTLS matches no raw_buffer chain", pa("foo", "tcp-disable", httpbinSelector+mode("STRICT")+"  portLevelMtls: {9000: {mode: DISABLE}}"), map[scenarios.Probe]want{
			// Auto mTLS reads the endpoint's mode on the target port: DISABLE, so plaintext.
			probe("sleep.bar", "httpbin.foo", 9000):    {WirePlaintext, true},
			probe("sleep.legacy", "httpbin.foo", 9000): {WirePlaintext, true},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := PredictTCP(Input{Topology: topo, Objects: policytest.Objects(t, c.yaml)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(topo.Clients)*len(topo.Services) {
				t.Fatalf("%d TCP probes, want one per client and Service", len(got))
			}
			for _, o := range got {
				if w, ok := c.want[o.Probe]; ok && (o.Wire != w.wire || o.Echo != w.echo) {
					t.Errorf("%s: wire %s echo %v, want %s %v", o.Probe, o.Wire, o.Echo, w.wire, w.echo)
				}
			}
		})
	}
}
