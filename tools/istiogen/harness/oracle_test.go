package harness

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/test"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy/policytest"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

func init() {
	if err := Quiet(); err != nil {
		panic(err)
	}
}

// TestCatalogAgainstIstio is the oracle's independent check: for every step of every catalog
// scenario, the outcome the authcheck engine derives from the config Istio's own generator
// produces must equal the oracle's prediction, probe by probe, and every sidecar server's
// inbound mode per workload port must equal oracle.EffectiveModes. Istio's traffic simulator
// (pilot/pkg/simulation) independently confirms what the engine reads from each inbound port.
func TestCatalogAgainstIstio(t *testing.T) {
	topo := catalogtest.Topology(t)
	catalog := catalogtest.Catalog(t)
	if len(catalog) == 0 {
		t.Fatal("empty catalog")
	}
	for _, sc := range catalog {
		for i, step := range sc.Steps {
			t.Run(sc.Name+"/"+step.Name, func(t *testing.T) {
				st := sc.StateAt(topo, i)
				in := oracle.Input{Topology: topo, Objects: st.Objects, Injected: st.Injected}
				checkAgainstOracle(t, in)
			})
		}
	}
}

func checkAgainstOracle(t *testing.T, in oracle.Input) {
	t.Helper()
	gen, diffs, err := compareWithIstio(t, in, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	checkEngineAgainstSimulation(t, gen)
}

// compareWithIstio runs Istio's generator on in and returns every disagreement with the oracle:
// each probe whose outcome differs, and each sidecar server port whose inbound mode differs.
// t owns the fake discovery server (its Cleanup stops it); readBack as for generate.
func compareWithIstio(t test.Failer, in oracle.Input, readBack bool) (*Generated, []string, error) {
	want, err := oracle.Predict(in)
	if err != nil {
		return nil, nil, fmt.Errorf("oracle: %w", err)
	}
	wantModes, err := oracle.EffectiveModes(in)
	if err != nil {
		return nil, nil, fmt.Errorf("oracle: %w", err)
	}
	gen, err := generate(t, in, readBack)
	if err != nil {
		return nil, nil, err
	}
	got, err := gen.Predict()
	if err != nil {
		return nil, nil, err
	}
	if len(got) != len(want) {
		return nil, nil, fmt.Errorf("Istio derivation has %d probes, oracle %d", len(got), len(want))
	}
	var diffs []string
	for i := range want {
		g, w := got[i], want[i]
		if g.Probe != w.Probe {
			return nil, nil, fmt.Errorf("probe %d: Istio derivation is for %s, oracle for %s", i, g.Probe, w.Probe)
		}
		if !sameOutcome(g.Outcome, w.Outcome) {
			diffs = append(diffs, fmt.Sprintf("DISAGREEMENT %s: oracle %s (%s); Istio's config gives %s (%s): client sends %s, server chain %q: %s",
				w.Probe, w.Outcome, w.Class(), g.Outcome, g.Derivation.Class, g.Sends, g.Chain, g.Reason))
		}
	}

	gotModes, err := gen.EffectiveModes()
	if err != nil {
		return nil, nil, err
	}
	for _, ref := range slices.SortedFunc(maps.Keys(gotModes), compareRefs) {
		if _, ok := wantModes[ref]; !ok {
			diffs = append(diffs, fmt.Sprintf("DISAGREEMENT %s: Istio generated a sidecar inbound listener, oracle says no sidecar", ref))
		}
	}
	for _, ref := range slices.SortedFunc(maps.Keys(wantModes), compareRefs) {
		gp, ok := gotModes[ref]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("DISAGREEMENT %s: oracle has a sidecar, Istio generated none", ref))
			continue
		}
		for _, port := range slices.Sorted(maps.Keys(wantModes[ref])) {
			mode := wantModes[ref][port]
			if g := gp[port]; string(g.Mode) != string(mode) {
				diffs = append(diffs, fmt.Sprintf("DISAGREEMENT %s port %d: oracle %s, Istio's listener %s (mTLS chain %q, plaintext chain %q)",
					ref, port, mode, g.Mode, g.MTLSChain, g.PlaintextChain))
			}
		}
	}
	return gen, diffs, nil
}

// sameOutcome compares everything a probe asserts.
func sameOutcome(a, b scenarios.Outcome) bool {
	if a.ExitCode != b.ExitCode || a.HTTPCode != b.HTTPCode || a.MTLS != b.MTLS || (a.XFCC == nil) != (b.XFCC == nil) {
		return false
	}
	return a.XFCC == nil || *a.XFCC == *b.XFCC
}

// checkEngineAgainstSimulation runs Istio's simulator on each server's inbound listener with
// the same two connections the engine judges a port by — HTTP over Istio mTLS and plaintext
// HTTP (pilot/pkg/networking/core/sidecar_simulation_test.go TestInboundSidecarTLSModes) — and
// requires it to accept exactly what the engine says the port accepts.
func checkEngineAgainstSimulation(t *testing.T, gen *Generated) {
	t.Helper()
	modes, err := gen.EffectiveModes()
	if err != nil {
		t.Fatal(err)
	}
	for ref, ports := range modes {
		sim := simulation.NewSimulation(t, gen.Server, gen.Proxies[ref])
		for port, ip := range ports {
			for _, c := range []struct {
				tls  simulation.TLSMode
				want bool
			}{{simulation.MTLS, ip.AcceptsMTLS}, {simulation.Plaintext, ip.AcceptsPlaintext}} {
				res := sim.Run(simulation.Call{
					Address:  gen.World.PodIPs[ref].String(),
					Port:     port,
					Protocol: simulation.HTTP,
					TLS:      c.tls,
					CallMode: simulation.CallModeInbound,
				})
				if accepted := res.Error == nil; accepted != c.want {
					t.Errorf("%s port %d %s: engine says accepted=%v, Istio's simulator: chain %q, error %v",
						ref, port, c.tls, c.want, res.FilterChainMatched, res.Error)
				}
			}
		}
	}
}

// TestEngineSeesEachMode pins the engine's reading of Istio's generated listener for each
// PeerAuthentication mode on one workload, including port-level overrides, independent of the
// catalog: a change in Istio's listener layout that the engine misreads fails here first.
func TestEngineSeesEachMode(t *testing.T) {
	topo := catalogtest.Topology(t)
	cases := []struct {
		name string
		yaml string
		// want: httpbin.foo's mode on workload ports 8000 and 8080.
		want8000, want8080 authcheck.Mode
	}{
		{"no policy", "", authcheck.ModePermissive, authcheck.ModePermissive},
		{"namespace strict", paYAML("foo", "", "STRICT", ""), authcheck.ModeStrict, authcheck.ModeStrict},
		{"namespace disable", paYAML("foo", "", "DISABLE", ""), authcheck.ModeDisable, authcheck.ModeDisable},
		{"workload strict, 8080 disable", paYAML("foo", "httpbin", "STRICT", "8080: {mode: DISABLE}"), authcheck.ModeStrict, authcheck.ModeDisable},
		{"workload disable, 8080 strict", paYAML("foo", "httpbin", "DISABLE", "8080: {mode: STRICT}"), authcheck.ModeDisable, authcheck.ModeStrict},
		{"workload strict, 8080 permissive", paYAML("foo", "httpbin", "STRICT", "8080: {mode: PERMISSIVE}"), authcheck.ModeStrict, authcheck.ModePermissive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := policytest.Objects(t, tc.yaml)
			gen, err := Generate(t, oracle.Input{Topology: topo, Objects: objs})
			if err != nil {
				t.Fatal(err)
			}
			d := gen.Dumps[fixtures.Ref{Name: "httpbin", Namespace: "foo"}]
			for port, want := range map[int]authcheck.Mode{8000: tc.want8000, 8080: tc.want8080} {
				got, err := d.Inbound(port)
				if err != nil {
					t.Fatal(err)
				}
				if got.Mode != want {
					t.Errorf("port %d: %s, want %s (%+v)", port, got.Mode, want, got)
				}
				if want == authcheck.ModeStrict && !got.RequiresClientCert {
					t.Errorf("port %d: STRICT without a required client certificate", port)
				}
				if got.AcceptsMTLS && got.Certificate != "default" {
					t.Errorf("port %d: mTLS chain presents %q, want the workload certificate \"default\"", port, got.Certificate)
				}
			}
			checkEngineAgainstSimulation(t, gen)
		})
	}
}

func paYAML(ns, app, mode, portLevel string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa, namespace: %s}\nspec:\n", ns)
	if app != "" {
		fmt.Fprintf(&b, "  selector: {matchLabels: {app: %s}}\n", app)
	}
	fmt.Fprintf(&b, "  mtls: {mode: %s}\n", mode)
	if portLevel != "" {
		fmt.Fprintf(&b, "  portLevelMtls: {%s}\n", portLevel)
	}
	return b.String()
}

// drYAML is a DestinationRule in ns named name that sets one TLS mode for host, the
// DestinationRule counterpart of paYAML.
func drYAML(ns, name, host, mode string) string {
	return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: %s, namespace: %s}\nspec:\n  host: %s\n  trafficPolicy: {tls: {mode: %s}}\n", name, ns, host, mode)
}

func compareRefs(a, b fixtures.Ref) int { return strings.Compare(a.String(), b.String()) }
